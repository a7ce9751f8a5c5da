/*
 * data: message content, from DATA or BDAT, to qmgr.
 *
 * DATA is a byte-at-a-time state machine.  Only CR LF "." CR LF ends the
 * message (RFC 5321 4.1.1.4); a bare CR or LF never starts a line, so
 * "\n.\n", "\r.\r" and the like cannot end the data early (SMTP
 * smuggling).  Such bytes, and NUL, make the message rejected at the end
 * instead.  BDAT (RFC 3030) chunks go through the same machine without
 * the dot rules; BINARYMIME chunks are kept byte for byte.
 *
 * On the way, the header section is watched: Received: headers are
 * counted against hopcount_limit (mail loops), and Date: and Message-ID:
 * are added where missing if smtpd_add_missing_headers is set.  Content
 * goes to qmgr in chunks with LF line endings; nothing is held whole.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "proto.h"
#include "queuefile.h"
#include "smtpd.h"
#include "tls.h"

static void	 data_emit(struct session *, char);
static void	 data_put(struct session *, const char *, size_t);
static void	 data_line_end(struct session *);
static void	 data_add_headers(struct session *);
static void	 data_flush(struct session *, int);
static void	 data_end_filtered(struct session *);
static const char *data_eol(struct session *);

void
data_begin(struct session *s, int bdat)
{
	char		 date[64];
	time_t		 now = time(NULL);
	struct tm	 tm;
	const char	*eol, *proto;
	char		 with[32], tls[256];

	s->data_mode = bdat ? DM_BDAT : DM_DATA;
	s->bdat = bdat;
	s->mc_changed = 0;
	mc_data(s);
	dkim_begin(s);
	s->deadline = event_now_ms() +
	    (uint64_t)s->sd->conf->smtpd_data_timeout * 1000;
	s->dstate = D_BOL;
	s->dflags = 0;
	s->dsize = 0;
	s->hdr_in = 1;
	s->line_len = 0;
	s->nreceived = 0;
	s->has_date = s->has_msgid = 0;
	buf_reset(&s->chunk);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	eol = data_eol(s);
	/* RFC 6531 3.7.3 and RFC 3848 protocol names. */
	proto = s->mparams.smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP";
	snprintf(with, sizeof(with), "%s%s%s", proto,
	    s->esmtp && s->tls_state == TLS_ON ? "S" : "",
	    s->esmtp && s->auth_user[0] ? "A" : "");
	/* RFC 5321 4.4 trace header; "for" only when it reveals no Bcc. */
	buf_printf(&s->chunk, "Received: from %s (unknown [%s])%s",
	    s->helo, s->addr, eol);
	if (s->tls_state == TLS_ON) {
		tls_describe(s, tls, sizeof(tls));
		buf_printf(&s->chunk, "\t(using %s%s)%s", tls,
		    s->mparams.requiretls ? "; REQUIRETLS" : "", eol);
	}
	if (s->auth_user[0] && s->sd->conf->smtpd_auth_received_header)
		buf_printf(&s->chunk, "\t(Authenticated sender: %s)%s",
		    s->auth_user, eol);
	buf_printf(&s->chunk, "\tby %s (posthorn) with %s id %s",
	    s->sd->conf->myhostname, with, s->id);
	if (s->nrcpt == 1)
		buf_printf(&s->chunk, "%s\tfor <%s>", eol, s->first_rcpt);
	buf_printf(&s->chunk, "; %s%s", date, eol);
}

size_t
data_feed(struct session *s, const char *p, size_t n, int *done)
{
	size_t		 i;
	unsigned char	 c;

	if (s->mparams.body == BODY_BINARYMIME && s->bdat) {
		for (i = 0; i < n; i++)
			data_emit(s, p[i]);
		return n;
	}
	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
again:
		switch (s->dstate) {
		case D_BOL:
			if (c == '.' && !s->bdat) {
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
	return n;
}

/* The end of the content (CRLF.CRLF or BDAT LAST): commit or refuse. */
void
data_end(struct session *s)
{
	struct conf	*c = s->sd->conf;

	s->data_mode = DM_NONE;
	if (s->bdat && s->mparams.body != BODY_BINARYMIME) {
		if (s->dstate == D_CR)
			s->dflags |= DATA_BARE_CR;
		else if (s->line_len > 0)
			data_emit(s, '\n');	/* a last line without CRLF */
	}
	if (s->hdr_in)
		data_add_headers(s);	/* headers only, no body */
	data_flush(s, 0);	/* goes with END (or ABORT): one write */
	if (s->nreceived >= c->hopcount_limit)
		s->dflags |= DATA_LOOP;
	if (s->dflags) {
		const char *stage = s->bdat ? "BDAT" : "END-OF-MESSAGE";

		qc_send(s, PROTO_ABORT, NULL, 0);
		s->qtx = 0;
		if (s->dflags & DATA_LOST)
			session_reject(s, stage, NULL, "451 4.3.0 Error: queue "
			    "manager unavailable, try again later");
		else if (s->dflags & DATA_TOO_BIG)
			session_reject(s, stage, NULL, "552 5.3.4 Error: message "
			    "file too big (limit %ld bytes)",
			    c->message_size_limit);
		else if (s->dflags & DATA_LOOP)
			session_reject(s, stage, NULL, "554 5.4.6 Error: too many "
			    "hops (%d Received: headers; mail loop?)",
			    s->nreceived);
		else if (s->dflags & DATA_NUL)
			session_reject(s, stage, NULL, "554 5.6.0 Error: message "
			    "contains NUL bytes");
		else if (s->dflags & (DATA_BARE_LF | DATA_BARE_CR))
			session_reject(s, stage, NULL, "554 5.6.0 Error: bare CR "
			    "or LF in message text; lines must end with CRLF");
		else
			session_reject(s, stage, NULL, "554 5.6.0 Error: a text "
			    "line is longer than %ld octets",
			    c->smtpd_text_line_limit);
		session_reset_tx(s);
		return;
	}
	if (mc_active(s) && s->mc != NULL) {
		mc_run(s, MC_EOM, data_end_filtered);
		return;
	}
	dkim_finish(s);
	qc_send(s, PROTO_END, NULL, 0);
	s->waiting = W_END;
}

/* The filters have seen the whole message: queue it, or not. */
static void
data_end_filtered(struct session *s)
{
	const char	*stage = s->bdat ? "BDAT" : "END-OF-MESSAGE";
	int		 verdict = s->mc_verdict;

	if (verdict == MC_CONTINUE) {
		mc_end_message(s, 0);
		dkim_finish(s);
		qc_send(s, PROTO_END, NULL, 0);
		s->waiting = W_END;
		session_process(s);
		return;
	}
	qc_send(s, PROTO_ABORT, NULL, 0);
	s->qtx = 0;
	mc_end_message(s, 1);	/* those not asked yet hear ABORT */
	if (verdict == MC_DISCARD) {
		log_info("%s: discard: %s from unknown[%s]: discarded by a "
		    "filter; from=<%s>", s->id, stage, s->addr,
		    s->sender.addr);
		session_reply(s, "250 2.0.0 Ok: discarded as %s", s->id);
	} else
		mc_reject(s, stage, NULL, s->mc_text);
	s->mc_verdict = MC_CONTINUE;
	session_reset_tx(s);
	session_process(s);
}

/* One byte of content, after dot and line-ending handling. */
static void
data_emit(struct session *s, char c)
{
	if (c == '\n')
		data_line_end(s);
	else {
		if (s->line_len < sizeof(s->line_start))
			s->line_start[s->line_len] =
			    (char)tolower((unsigned char)c);
		s->line_len++;
		if (s->line_len + 2 > (size_t)s->sd->conf->smtpd_text_line_limit
		    && s->mparams.body != BODY_BINARYMIME)
			s->dflags |= DATA_LONG_LINE;
	}
	if (++s->dsize > s->sd->conf->message_size_limit)
		s->dflags |= DATA_TOO_BIG;
	data_put(s, &c, 1);
}

static void
data_line_end(struct session *s)
{
	size_t	 len = s->line_len;

	if (len > 0 && len <= sizeof(s->line_start) &&
	    s->line_start[len - 1] == '\r')
		len--;		/* BINARYMIME keeps its CR */
	if (s->hdr_in) {
		if (len == 0) {
			data_add_headers(s);	/* before the empty line */
			s->hdr_in = 0;
		} else if (s->line_len >= 9 &&
		    memcmp(s->line_start, "received:", 9) == 0)
			s->nreceived++;
		else if (s->line_len >= 5 &&
		    memcmp(s->line_start, "date:", 5) == 0)
			s->has_date = 1;
		else if (s->line_len >= 11 &&
		    memcmp(s->line_start, "message-id:", 11) == 0)
			s->has_msgid = 1;
	}
	s->line_len = 0;
}

/* Date: and Message-ID: for submissions that lack them (RFC 6409 8). */
static void
data_add_headers(struct session *s)
{
	char		 date[64], stamp[32];
	time_t		 now = time(NULL);
	struct tm	 tm;
	struct buf	 b;

	if (!s->sd->conf->smtpd_add_missing_headers ||
	    s->mparams.body == BODY_BINARYMIME || (s->has_date && s->has_msgid))
		return;
	buf_init(&b, 0);
	localtime_r(&now, &tm);
	if (!s->has_date) {
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		buf_printf(&b, "Date: %s\n", date);
	}
	if (!s->has_msgid) {
		strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
		buf_printf(&b, "Message-ID: <%s.%s@%s>\n", stamp, s->id,
		    s->sd->conf->myhostname);
	}
	s->has_date = s->has_msgid = 1;
	data_put(s, b.data, b.len);
	buf_free(&b);
}

static void
data_put(struct session *s, const char *p, size_t n)
{
	size_t	 take;

	if (s->dflags & (DATA_TOO_BIG | DATA_LOST))
		return;		/* keep reading to the end, keep nothing */
	/* A chunk never exceeds QF_CHUNK: readers rely on it. */
	while (n > 0) {
		take = QF_CHUNK - s->chunk.len < n ? QF_CHUNK - s->chunk.len : n;
		buf_append(&s->chunk, p, take);
		p += take;
		n -= take;
		if (s->chunk.len >= QF_CHUNK)
			data_flush(s, 1);
	}
}

/* The content so far to qmgr: written now, or with the next record. */
static void
data_flush(struct session *s, int now)
{
	if (s->chunk.len == 0 || (s->dflags & DATA_TOO_BIG))
		return;
	mc_content(s, s->chunk.data, s->chunk.len);
	dkim_content(s, s->chunk.data, s->chunk.len);
	if (now)
		qc_send(s, PROTO_DATA, s->chunk.data, s->chunk.len);
	else
		qc_put(s, PROTO_DATA, s->chunk.data, s->chunk.len);
	buf_reset(&s->chunk);
}

/* BINARYMIME content keeps CRLF; our own headers must match it. */
static const char *
data_eol(struct session *s)
{
	return s->mparams.body == BODY_BINARYMIME ? "\r\n" : "\n";
}
