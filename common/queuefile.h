/*
 * queuefile: the on-disk message format.  A queue file is a sequence of
 * records (see record.h):
 *
 *	V  "posthorn-queue 1"			format version, first
 *	T  arrival time, decimal seconds
 *	S  sender address ("" for <>) NUL, MAIL parameters NUL, normalised:
 *	   "BODY=7BIT|8BITMIME|BINARYMIME [SMTPUTF8] [RET=..] [ENVID=..]"
 *	I  client info, one field "helo=H addr=A proto=P" (bounces: empty)
 *	R  state octet, recipient address NUL, parameters NUL:
 *	   "[NOTIFY=..] [ORCPT=type;xtext]"
 *	D  a chunk of message content (LF line endings)
 *	E  total content size, decimal: the commit mark
 *	X  after E, appended by qmgr when a recipient is deferred for a new
 *	   reason: index NUL, DSN status NUL, text NUL, attempt time NUL;
 *	   the last X of a recipient is its current reason.  A torn X at
 *	   the end (a crash while appending) is ignored.
 *
 * A file without E was never committed.  The state octet of an R record
 * is rewritten in place (pwrite) as deliveries finish: 'P' pending,
 * 'W' pending after a delay notice, 'D' delivered, 'B' failed (bounced
 * or dropped).  Only qmgr writes.
 */
#ifndef POSTHORN_QUEUEFILE_H
#define POSTHORN_QUEUEFILE_H

#include <sys/types.h>
#include <stddef.h>
#include <time.h>

#include "queueid.h"

#define QF_VERSION	"posthorn-queue 1"
#define QF_CHUNK	65536

#define QF_PENDING	'P'
#define QF_WARNED	'W'	/* pending; a delay notice was sent */
#define QF_DELIVERED	'D'
#define QF_FAILED	'B'
#define QF_IS_PENDING(s)	((s) == QF_PENDING || (s) == QF_WARNED)

struct qf_rcpt {
	char	*addr;
	char	*params;
	off_t	 state_off;
	char	 state;
	char	 defer_dsn[8];		/* the last deferral: "" if none */
	char	*defer_text;
	time_t	 defer_time;
};

struct qf_env {
	time_t		 arrival;
	char		*sender;
	char		*sender_params;	/* "BODY=8BITMIME RET=HDRS ..." */
	char		*client;	/* "name [addr]" or "" */
	struct qf_rcpt	*rcpt;
	size_t		 nrcpt;
	off_t		 content_off;	/* first D record */
	off_t		 content_size;
};

/* Append one record with a single write. */
int	 qf_write(int fd, int type, const void *, size_t);
/* Read and check the envelope; content is skipped, E must be there. */
int	 qf_read_env(int fd, struct qf_env *, char *err, size_t errlen);
void	 qf_env_free(struct qf_env *);
/* Write a recipient's new state in place (and into r). */
int	 qf_set_state(int fd, struct qf_rcpt *, char state);
/* Append an X record for recipient index (not durable until fdatasync). */
int	 qf_add_defer(int fd, size_t index, const char *dsn, const char *text,
	    time_t when);
/*
 * Read content: call with *off = env.content_off; each call fills up to
 * QF_CHUNK bytes into out and returns the count, 0 at the end, -1 on a
 * malformed file or read error.
 */
ssize_t	 qf_read_content(int fd, off_t *off, char *out, size_t outlen);
int	 qf_param(const char *params, const char *name, char *out,
	    size_t outlen);
/* "active/7/ID" etc. */
int	 qf_path(char *out, size_t, const char *dir, const char *id);

#endif
