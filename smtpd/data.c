/*
 * data: the DATA phase as a byte-at-a-time state machine.  Only
 * CR LF "." CR LF ends the message (RFC 5321 4.1.1.4); a bare CR or LF
 * never starts a line, so "\n.\n", "\r.\r" and the like cannot end the
 * data early (SMTP smuggling).  Such bytes, and NUL, make the message
 * rejected at the end instead.  Content goes to qmgr in chunks with LF
 * line endings; nothing is held whole in memory.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "proto.h"
#include "queuefile.h"
#include "smtpd.h"

static void	 data_emit(struct session *, char);
static void	 data_flush(struct session *);

void
data_begin(struct session *s)
{
	char		 date[64];
	time_t		 now = time(NULL);
	struct tm	 tm;

	s->data_mode = 1;
	s->deadline = event_now_ms() +
	    (uint64_t)s->sd->conf->smtpd_data_timeout * 1000;
	s->dstate = D_BOL;
	s->dflags = 0;
	s->dsize = 0;
	buf_reset(&s->chunk);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	/* RFC 5321 4.4 trace header; "for" only when it reveals no Bcc. */
	buf_printf(&s->chunk, "Received: from %s (unknown [%s])\n"
	    "\tby %s (posthorn) with %s id %s",
	    s->helo, s->addr, s->sd->conf->myhostname,
	    s->esmtp ? "ESMTP" : "SMTP", s->id);
	if (s->nrcpt == 1)
		buf_printf(&s->chunk, "\n\tfor <%s>", s->first_rcpt);
	buf_printf(&s->chunk, "; %s\n", date);
}

size_t
data_feed(struct session *s, const char *p, size_t n, int *done)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
again:
		switch (s->dstate) {
		case D_BOL:
			if (c == '.') {
				s->dstate = D_DOT;
				break;
			}
			s->dstate = D_MID;
			goto again;
		case D_DOT:
			if (c == '\r') {
				s->dstate = D_DOTCR;
				break;
			}
			/* A leading dot is removed (dot-stuffing). */
			s->dstate = D_MID;
			goto again;
		case D_DOTCR:
			if (c == '\n') {
				*done = 1;
				data_flush(s);
				return i + 1;
			}
			s->dstate = D_CR;
			goto again;
		case D_MID:
			if (c == '\r') {
				s->dstate = D_CR;
			} else if (c == '\n') {
				s->dflags |= DATA_BARE_LF;
				data_emit(s, '\n');	/* stays mid-line */
			} else {
				if (c == '\0')
					s->dflags |= DATA_NUL;
				data_emit(s, (char)c);
			}
			break;
		case D_CR:
			if (c == '\n') {
				data_emit(s, '\n');
				s->dstate = D_BOL;
				break;
			}
			s->dflags |= DATA_BARE_CR;
			data_emit(s, '\r');
			s->dstate = D_MID;
			goto again;
		}
	}
	if (s->chunk.len >= QF_CHUNK)
		data_flush(s);
	return n;
}

/* CRLF.CRLF seen: commit, or refuse what we must not accept. */
void
data_end(struct session *s)
{
	struct conf	*c = s->sd->conf;

	s->data_mode = 0;
	if (s->dflags) {
		qc_send(s, PROTO_ABORT, NULL, 0);
		if (s->dflags & DATA_LOST)
			session_reply(s, "451 4.3.0 Error: queue manager "
			    "unavailable, try again later");
		else if (s->dflags & DATA_TOO_BIG)
			session_reply(s, "552 5.3.4 Error: message file too big "
			    "(limit %ld bytes)", c->message_size_limit);
		else if (s->dflags & DATA_NUL)
			session_reply(s, "554 5.6.0 Error: message contains NUL "
			    "bytes");
		else
			session_reply(s, "554 5.6.0 Error: bare CR or LF in "
			    "message text; lines must end with CRLF");
		log_info("%s: reject: DATA from unknown[%s]: flags=0x%x, "
		    "size=%lld", s->id, s->addr, s->dflags, s->dsize);
		session_reset_tx(s);
		return;
	}
	qc_send(s, PROTO_END, NULL, 0);
	s->waiting = W_END;
}

static void
data_emit(struct session *s, char c)
{
	if (++s->dsize > s->sd->conf->message_size_limit)
		s->dflags |= DATA_TOO_BIG;
	if (s->dflags & DATA_TOO_BIG)
		return;		/* keep reading to the end, keep nothing */
	buf_appendc(&s->chunk, c);
	if (s->chunk.len >= QF_CHUNK)
		data_flush(s);
}

static void
data_flush(struct session *s)
{
	if (s->chunk.len == 0 || (s->dflags & DATA_TOO_BIG))
		return;
	qc_send(s, PROTO_DATA, s->chunk.data, s->chunk.len);
	buf_reset(&s->chunk);
}
