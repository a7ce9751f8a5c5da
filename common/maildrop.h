/*
 * maildrop: the files of local submission.  sendmail(1) hands a message
 * to posthorn-postdrop as a stream of records (record.h framing);
 * postdrop checks it and writes it into queue_directory/maildrop/, where
 * pickup finds it and submits it to qmgr like any other client.
 *
 *	V  "posthorn-maildrop 1"	first
 *	S  the sender asked for with -f (absent: the user's own address;
 *	   pickup honours it only for submit_trusted_users)
 *	N  full name (-F), for a From: header that pickup adds
 *	R  a recipient address, one record each (at least one)
 *	D  a chunk of the message, LF line endings
 *	E  the content size, decimal: written by postdrop, last
 *
 * The submitter is the file's owner: postdrop is setgid, never setuid,
 * so the owner is the real user, and nobody can write a file for
 * another.  A file is written under a dot name and renamed when whole.
 */
#ifndef POSTHORN_MAILDROP_H
#define POSTHORN_MAILDROP_H

#define MD_VERSION	"posthorn-maildrop 1"
#define MD_DIR		"maildrop"
#define MD_MAX_RCPT	10000

#endif
