/*
 * proto: record types on the internal channels (record.h framing).
 *
 * smtpd -> qmgr, one connection per mail transaction:
 *	PROTO_MAIL	sender, client info		reply OK(queue id) | FAIL
 *	PROTO_RCPT	address, params			reply OK | FAIL(reply)
 *	PROTO_DATA	content bytes (LF endings)	no reply
 *	PROTO_END	-				reply OK(queue id) | FAIL
 *	PROTO_ABORT	-				no reply; file discarded
 *	PROTO_VRFY	address				reply OK(SMTP reply text)
 *	PROTO_EXPN	name				reply OK(SMTP reply lines)
 * FAIL carries a complete SMTP reply line, e.g. "550 5.1.1 ...".
 *
 * qmgr -> local, one connection per job:
 *	PROTO_JOB	queue id, sender, content offset, MAIL parameters
 *			(a read-only queue file descriptor attached)
 *	PROTO_RCPT	index, address
 *	PROTO_GO	-
 * local -> qmgr:
 *	PROTO_STATUS	index, result (D|T|P), DSN status, text
 *	PROTO_DONE	-
 */
#ifndef POSTHORN_PROTO_H
#define POSTHORN_PROTO_H

#define PROTO_MAIL	'M'
#define PROTO_RCPT	'R'
#define PROTO_DATA	'D'
#define PROTO_END	'E'
#define PROTO_ABORT	'A'
#define PROTO_VRFY	'V'
#define PROTO_EXPN	'X'
#define PROTO_OK	'K'
#define PROTO_FAIL	'F'
#define PROTO_JOB	'J'
#define PROTO_GO	'G'
#define PROTO_STATUS	'S'
#define PROTO_DONE	'Z'

#define RESULT_DELIVERED 'D'
#define RESULT_TEMPFAIL	'T'
#define RESULT_PERMFAIL	'P'

#define QMGR_SOCKET	"private/qmgr"
#define LOCAL_SOCKET	"private/local"

#endif
