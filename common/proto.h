/*
 * proto: record types on the internal channels (record.h framing).
 *
 * smtpd -> qmgr, one connection per mail transaction:
 *	PROTO_MAIL	sender, client info		reply OK(queue id) | FAIL
 *	PROTO_RCPT	address, params			reply OK | FAIL(reply)
 *	PROTO_DATA	content bytes (LF endings)	no reply
 *	PROTO_END	-				reply OK(queue id) | FAIL
 *	PROTO_ABORT	-				no reply; file discarded
 *	PROTO_CHANGE	op, index, name or address, value or	no reply; after
 *			parameters (a filter's change: hadd,	the content, before
 *			hins, hchg, from, radd, rdel, hold)	END
 *	PROTO_NEWBODY	a chunk of a filter's new body		no reply
 *	PROTO_VRFY	address				reply OK(SMTP reply text)
 *	PROTO_EXPN	name				reply OK(SMTP reply lines)
 *	PROTO_FLUSH	domain ("" = all, "#host" = a named queue),
 *			"1" = with subdomains | "", client address (ETRN)
 *			or "" (the operator's posthorn-queue flush)
 *			reply OK(messages started, decimal) | FAIL
 *	PROTO_ATRN	login, domains (comma-separated; "" = all the
 *			login's), client address; one end of a socket
 *			pair attached: the customer's reversed connection
 *			(RFC 2645), which smtpd relays from then on
 *			reply OK(messages started) | FAIL
 * FAIL carries a complete SMTP reply line, e.g. "550 5.1.1 ...".
 *
 * qmgr -> local or relay (the smtp agent), one connection per job:
 *	PROTO_JOB	queue id, sender, content offset, MAIL parameters,
 *			transport (local|smtp|lmtp), next hop
 *			(a read-only queue file descriptor attached; for
 *			transport odmr, the first job of a session also
 *			carries the customer's connection)
 *	PROTO_RCPT	index, address, RCPT parameters
 *	PROTO_GO	-
 * agent -> qmgr:
 *	PROTO_FORWARD	index, address	(local: a copy is due to another
 *			domain; sent before that recipient's STATUS)
 *	PROTO_STATUS	index, result (D|R|A|T|P), DSN status, text, relay
 *	PROTO_DONE	- | "1": the agent keeps its server connection
 *			open and waits on this channel for another job
 *			to the same destination (qmgr sends one, or
 *			closes the channel)
 *
 * posthorn-queue -> qmgr (public/qmgr, root and queue_admin_group only),
 * one request per connection:
 *	PROTO_LIST	-		reply ITEM (+ RCPT...) per message,
 *					then OK(messages, bytes)
 *	PROTO_SHOW	queue id	reply ITEM, RCPT..., DATA... (the
 *					content), OK | FAIL(why)
 *	PROTO_ADMIN	operation (delete|hold|release|requeue), queue id
 *			or "ALL", flags ("deferred": delete only there)
 *					reply OK(messages) | FAIL(why)
 *	PROTO_FLUSH	as from smtpd, with an empty client address
 *	ITEM: queue id, queue (A active, D deferred, H hold), arrival
 *	time, content size, sender, client; RCPT: address, state (P, W,
 *	D, B as in queuefile.h), DSN status and text of the last
 *	deferral, its time.
 *
 * smtpd -> keyd (private/keyd), one connection per smtpd process; smtpd
 * waits for each answer (the TLS handshake needs it to go on):
 *	PROTO_KEYOP	key id, op, padding (decimal), NUL each, then the
 *			raw input bytes		reply OK(raw output) | FAIL
 *	ops: KEYOP_RSA_ENC (RSA private encrypt = sign, the padding done
 *	by smtpd's OpenSSL or asked for), KEYOP_ECDSA (ECDSA over a
 *	digest, DER out).  No decryption is offered.
 *
 * smtpd -> auth (private/auth), one connection per smtpd process:
 *	PROTO_AUTH	tag, client address, service, mechanism, login,
 *			password	reply OK(tag, login) | FAIL(tag, why)
 *	why: AUTH_BAD (wrong credentials), AUTH_RATE (too many failures
 *	from this client), AUTH_TEMP (cannot check now).
 *
 * smtp -> tlspol (private/tlspol), one connection per agent process;
 * nothing is answered:
 *	PROTO_STS_PUT	domain, TXT id, policy text (a fetched MTA-STS
 *			policy, to keep in tlspol/sts/domain)
 *	PROTO_TLSRESULT	the TLSRPT_NFIELDS fields of tlsrpt.h (one TLS
 *			session's outcome under a policy)
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
#define PROTO_KEYOP	'O'
#define PROTO_AUTH	'U'
#define PROTO_FORWARD	'W'
#define PROTO_FLUSH	'Q'
#define PROTO_ATRN	'T'
#define PROTO_LIST	'L'
#define PROTO_SHOW	'H'
#define PROTO_ITEM	'I'
#define PROTO_ADMIN	'Y'
#define PROTO_CHANGE	'C'
#define PROTO_NEWBODY	'B'
#define PROTO_STS_PUT	'P'
#define PROTO_TLSRESULT	'N'

#define KEYOP_RSA_ENC	'e'
#define KEYOP_ECDSA	's'
#define KEYOP_DKIM	'd'	/* key id "dkim:domain"; see keyd/dkim.c */

#define AUTH_BAD	"bad"
#define AUTH_RATE	"rate"
#define AUTH_TEMP	"temp"


#define RESULT_DELIVERED 'D'	/* final delivery (local, LMTP) */
#define RESULT_RELAYED	'R'	/* to a next hop without DSN */
#define RESULT_PASSED	'A'	/* to a next hop that does DSN itself */
#define RESULT_IS_SENT(c) ((c) == RESULT_DELIVERED || (c) == RESULT_RELAYED || \
			    (c) == RESULT_PASSED)
#define RESULT_TEMPFAIL	'T'
#define RESULT_PERMFAIL	'P'

/* Seconds an ODMR session may wait for its next job (qmgr, smtp). */
#define ODMR_IDLE_TIME	30

#define QMGR_SOCKET	"private/qmgr"
#define QMGR_ADMIN_SOCKET "public/qmgr"
#define LOCAL_SOCKET	"private/local"
#define RELAY_SOCKET	"private/relay"
#define KEYD_SOCKET	"private/keyd"
#define AUTH_SOCKET	"private/auth"

#endif
