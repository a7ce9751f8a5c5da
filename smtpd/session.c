/*
 * session: one SMTP connection: non-blocking reads into a bounded input
 * buffer, commands taken one line at a time (PIPELINING: replies are
 * buffered and flushed only when no complete command is left, or when we
 * must wait for qmgr), DATA bytes streamed through data.c.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "proto.h"
#include "smtpd.h"
#include "sock.h"
#include "tls.h"

static void	 session_io(int, int, void *);
static int	 session_read(struct session *);
static void	 session_extend_deadline(struct session *, size_t);
static void	 session_peer(struct session *, struct sockaddr_storage *);
static void	 session_begin(struct session *);
static void	 session_begin_filtered(struct session *);
static void	 session_open(struct session *);
static void	 session_proxy(struct session *);
static long	 session_count_from(struct smtpd *, struct session *);
static void	 session_log_disconnect(struct session *);
static void	 session_greet(void *);
static void	 session_tls_step(struct session *);
static void	 session_tls_begin(struct session *);
static long	 session_line_limit(struct session *);

void
session_accept(int lfd, int events, void *arg)
{
	struct smtpd	*sd = arg;
	struct session	*s;
	struct sockaddr_storage ss;
	socklen_t	 sslen = sizeof(ss);
	int		 fd;

	(void)events;
	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &sslen,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno == EMFILE || errno == ENFILE)
			overload_no_fd(sd);
		else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	sd->fd_starved = 0;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warn("session: out of memory");
		close(fd);
		return;
	}
	s->sd = sd;
	s->fd = fd;
	s->qfd = -1;
	s->atrn_fd = -1;
	buf_init(&s->in, SMTPD_IN_MAX);
	buf_init(&s->out, 0);
	buf_init(&s->chunk, 0);
	buf_init(&s->qin, RECORD_MAX + RECORD_HDR);
	buf_init(&s->qout, 0);
	session_peer(s, &ss);
	if (event_add(sd->loop, fd, EV_READ, session_io, s) == -1) {
		log_warn("event_add");
		close(fd);
		free(s);
		return;
	}
	s->next = sd->sessions;
	if (sd->sessions)
		sd->sessions->prev = s;
	sd->sessions = s;
	sd->nsessions++;
	if (sd->nsessions >= sd->conf->smtpd_client_limit)
		overload_pause(sd);
	if (strcmp(sd->conf->smtpd_upstream_proxy_protocol, "haproxy") == 0) {
		/* Nothing is said before the header names the client. */
		s->data_mode = DM_PROXY;
		s->deadline = event_now_ms() +
		    (uint64_t)sd->conf->smtpd_upstream_proxy_timeout * 1000;
		return;
	}
	session_begin(s);
}

/* The client is known: policy on its address, then the greeting. */
static void
session_begin(struct session *s)
{
	struct smtpd	*sd = s->sd;

	s->deadline = event_now_ms() + (uint64_t)sd->conf->smtpd_timeout * 1000;
	log_info("connect from unknown[%s]", s->addr);
	if (!s->trusted && sd->conf->smtpd_client_connection_limit > 0 &&
	    session_count_from(sd, s) > sd->conf->smtpd_client_connection_limit) {
		log_info("too many connections from unknown[%s]", s->addr);
		if (sd->conf->smtpd_tls_wrappermode) {
			/* No plaintext reply to a client expecting TLS. */
			session_close(s);
			return;
		}
		session_reply(s, "421 4.7.0 %s Error: too many connections "
		    "from %s", sd->conf->myhostname, s->addr);
		session_process(s);
		return;
	}
	if (mc_active(s)) {
		mc_run(s, MC_CONNECT, session_begin_filtered);
		return;
	}
	session_open(s);
}

/* A filter's refusal of the connection is the answer to every command. */
static void
session_begin_filtered(struct session *s)
{
	if (s->mc_verdict == MC_REJECT) {
		strlcpy(s->mc_refuse, s->mc_text, sizeof(s->mc_refuse));
		s->mc_verdict = MC_CONTINUE;
	}
	session_open(s);
}

/* The greeting, or (smtps) the TLS handshake before it. */
static void
session_open(struct session *s)
{
	struct smtpd	*sd = s->sd;

	if (sd->conf->smtpd_tls_wrappermode) {
		/* Implicit TLS (RFC 8314): the greeting comes after the handshake. */
		if (tls_start(s) == -1) {
			session_close(s);
			return;
		}
		session_tls_step(s);
		return;
	}
	session_greeting(s);
}

void
session_greeting(struct session *s)
{
	struct smtpd	*sd = s->sd;

	if (sd->conf->smtpd_greet_pause > 0) {
		/*
		 * First line of a multi-line greeting now, the last one after
		 * the pause: a client that speaks in between has not waited
		 * for the reply, as RFC 5321 4.3.1 asks (pipelining spammers).
		 */
		session_reply(s, "220-%s %s", sd->conf->myhostname,
		    sd->conf->smtpd_banner);
		s->greeting = 1;
		s->greet_timer = event_timer_add(sd->loop,
		    sd->conf->smtpd_greet_pause * 1000, session_greet, s);
		session_process(s);
		return;
	}
	session_reply(s, "220 %s %s", sd->conf->myhostname,
	    sd->conf->smtpd_banner);
	session_process(s);
}

/* Drive the handshake; once done, go on where TLS started. */
static void
session_tls_step(struct session *s)
{
	char	 desc[256];
	int	 rc;

	if ((rc = tls_handshake(s)) == -1) {
		session_close(s);
		return;
	}
	if (rc == 0) {
		session_update_events(s);
		return;
	}
	tls_describe(s, desc, sizeof(desc));
	log_info("%s from unknown[%s]: %s", s->sd->conf->smtpd_tls_wrappermode ?
	    "TLS connection" : "STARTTLS", s->addr, desc);
	s->deadline = event_now_ms() +
	    (uint64_t)s->sd->conf->smtpd_timeout * 1000;
	if (s->sd->conf->smtpd_tls_wrappermode) {
		session_greeting(s);
		return;
	}
	session_process(s);
}

/*
 * The 220 for STARTTLS is on the wire: from here on only TLS.  What the
 * client sent after STARTTLS in the clear is thrown away, and everything
 * learnt before TLS is forgotten (RFC 3207 4.2); so a command injected
 * into the plaintext stream (CVE-2011-0411) is never run.
 */
static void
session_tls_begin(struct session *s)
{
	if (s->in.len > 0)
		log_info("discarded %zu bytes sent after STARTTLS by "
		    "unknown[%s]", s->in.len, s->addr);
	if (s->in.data)
		explicit_bzero(s->in.data, s->in.cap);
	buf_reset(&s->in);
	s->skipping = 0;
	s->tls_pending = 0;
	session_reset_tx(s);
	s->helo_seen = 0;
	s->esmtp = 0;
	s->helo[0] = '\0';
	s->auth_state = AUTH_NONE;
	s->auth_user[0] = '\0';
	if (tls_start(s) == -1) {
		session_close(s);
		return;
	}
	session_tls_step(s);
}

/* "disconnect from unknown[ip] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6" */
static void
session_log_disconnect(struct session *s)
{
	const struct command *t;
	struct buf	 b;
	unsigned	 total = s->nunknown;
	size_t		 n, i;
	const char	*v;

	buf_init(&b, 1024);
	t = command_table(&n);
	for (i = 0; i < n && i < sizeof(s->ncmd) / sizeof(s->ncmd[0]); i++) {
		if (s->ncmd[i] == 0)
			continue;
		total += s->ncmd[i];
		buf_appendc(&b, ' ');
		for (v = t[i].verb; *v; v++)
			buf_appendc(&b, (char)tolower((unsigned char)*v));
		buf_printf(&b, "=%u", s->ncmd[i]);
	}
	if (s->nunknown)
		buf_printf(&b, " unknown=%u", s->nunknown);
	log_info("disconnect from unknown[%s]%s commands=%u", s->addr,
	    buf_cstr(&b), total);
	buf_free(&b);
}

/* Sessions from the same address as s, s included. */
static long
session_count_from(struct smtpd *sd, struct session *s)
{
	struct session	*t;
	long		 n = 0;

	for (t = sd->sessions; t; t = t->next)
		if (strcmp(t->addr, s->addr) == 0)
			n++;
	return n;
}

static void
session_greet(void *arg)
{
	struct session	*s = arg;

	s->greet_timer = NULL;
	s->greeting = 0;
	session_reply(s, "220 %s %s", s->sd->conf->myhostname,
	    s->sd->conf->smtpd_banner);
	session_process(s);
}

/* Queue one reply line (CRLF added); counts errors toward the limit. */
void
session_reply(struct session *s, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 start = s->out.len, i;
	const char *r;
	char	*c;

	va_start(ap, fmt);
	if (buf_vprintf(&s->out, fmt, ap) == -1)
		log_fatal("session_reply");
	va_end(ap);
	/*
	 * A client's bytes come back in some replies (an unknown parameter,
	 * HELP's or VRFY's argument): never a bare CR, an LF or an escape,
	 * which RFC 5321 4.2 reply text may not hold.
	 */
	for (i = start; i < s->out.len; i++) {
		c = s->out.data + i;
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			*c = '?';
	}
	buf_append(&s->out, "\r\n", 2);
	r = s->out.data + start;
	if (strncmp(r, "421", 3) == 0 || strncmp(r, "221", 3) == 0) {
		s->closing = 1;
	} else if ((r[0] == '4' || r[0] == '5') &&
	    ++s->nerrors >= s->sd->conf->smtpd_error_limit) {
		log_info("too many errors from unknown[%s]", s->addr);
		buf_printf(&s->out, "421 4.7.0 %s Error: too many errors\r\n",
		    s->sd->conf->myhostname);
		s->closing = 1;
	}
}

/*
 * RFC 4954 4: an AUTH command or response line may be 12288 octets, more
 * than smtpd_command_line_limit allows other commands.
 */
static long
session_line_limit(struct session *s)
{
	long	 limit = s->sd->conf->smtpd_command_line_limit;

	if (limit < SMTPD_AUTH_LINE && (s->auth_state != AUTH_NONE ||
	    (s->in.len >= 5 && strncasecmp(s->in.data, "AUTH ", 5) == 0)))
		return SMTPD_AUTH_LINE;
	return limit;
}

/* Run every complete command (or DATA bytes) we have, then flush. */
void
session_process(struct session *s)
{
	char	*lf;
	size_t	 len, used;
	int	 done;
	long	 limit;

	if (s->greeting && s->in.len > 0) {
		log_info("reject: client unknown[%s] talked before the greeting",
		    s->addr);
		if (s->greet_timer) {
			event_timer_cancel(s->sd->loop, s->greet_timer);
			s->greet_timer = NULL;
		}
		s->greeting = 0;
		buf_reset(&s->in);
		session_reply(s, "554 5.5.1 Error: talked before the greeting "
		    "(RFC 5321 4.3.1)");
		s->closing = 1;
	}
	if (s->tls_state == TLS_HANDSHAKE) {
		session_update_events(s);
		return;
	}
	if (s->data_mode == DM_PROXY) {
		session_proxy(s);
		return;
	}
	if (s->data_mode == DM_PUMP) {
		/* Bytes OpenSSL already decrypted raise no event. */
		while (s->tls_state == TLS_ON && !s->closing &&
		    s->qout.len <= SMTPD_QOUT_HIGH && SSL_pending(s->ssl) > 0)
			if (session_read(s) == -1)
				return;
		atrn_pump(s);
		return;
	}
again:
	/* A client that does not read its replies gets no more of them. */
	while (!s->closing && s->waiting == W_NONE && !s->tls_pending &&
	    s->out.len <= SMTPD_OUT_HIGH) {
		if (s->data_mode == DM_BDAT) {
			if (s->qout.len > SMTPD_QOUT_HIGH)
				break;
			if (s->bdat_left > 0) {
				if (s->in.len == 0)
					break;
				used = s->in.len < (size_t)s->bdat_left ?
				    s->in.len : (size_t)s->bdat_left;
				if (s->bdat_error == NULL)
					(void)data_feed(s, s->in.data, used,
					    &done);
				buf_consume(&s->in, used);
				s->bdat_left -= (long long)used;
				continue;
			}
			command_bdat_done(s);
			continue;
		}
		if (s->data_mode == DM_DATA) {
			if (s->qout.len > SMTPD_QOUT_HIGH || s->in.len == 0)
				break;
			done = 0;
			used = data_feed(s, s->in.data, s->in.len, &done);
			buf_consume(&s->in, used);
			if (done)
				data_end(s);
			continue;
		}
		limit = session_line_limit(s);
		lf = s->in.len ? memchr(s->in.data, '\n', s->in.len) : NULL;
		if (lf == NULL) {
			if (s->in.len > (size_t)limit) {
				if (!s->skipping)
					session_reply(s, "500 5.5.2 Error: "
					    "line too long");
				s->skipping = 1;
				buf_reset(&s->in);
			}
			break;
		}
		len = (size_t)(lf - s->in.data) + 1;
		if (s->skipping) {
			s->skipping = 0;
		} else if (len > (size_t)limit) {
			session_reply(s, "500 5.5.2 Error: line too long");
		} else {
			*lf = '\0';
			if (lf > s->in.data && lf[-1] == '\r')
				*--lf = '\0';
			if (memchr(s->in.data, '\0', (size_t)(lf - s->in.data)))
				session_reply(s, "500 5.5.2 Error: NUL byte "
				    "in command");
			else if (s->auth_state != AUTH_NONE)
				auth_continue(s, s->in.data,
				    (size_t)(lf - s->in.data));
			else
				command_run(s, s->in.data,
				    (size_t)(lf - s->in.data));
		}
		buf_consume(&s->in, len);
	}
	if (session_write(s) == -1)
		return;
	if (s->tls_pending && s->out.len == 0 && !s->closing) {
		session_tls_begin(s);
		return;
	}
	/* Bytes OpenSSL already decrypted raise no event: take them now. */
	if (s->tls_state == TLS_ON && !s->closing && s->waiting == W_NONE &&
	    s->in.len < SMTPD_IN_MAX && s->out.len <= SMTPD_OUT_HIGH &&
	    s->qout.len <= SMTPD_QOUT_HIGH && SSL_pending(s->ssl) > 0) {
		if (session_read(s) == -1)
			return;
		goto again;
	}
	if (s->eof && !s->closing && s->waiting == W_NONE && !s->tls_pending &&
	    s->out.len <= SMTPD_OUT_HIGH && s->qout.len <= SMTPD_QOUT_HIGH) {
		/* Run dry after the client's EOF: nothing more will come. */
		if (s->in_tx)
			log_info("lost connection after %s from unknown[%s]",
			    s->data_mode ? "DATA" : "RCPT", s->addr);
		s->closing = 1;
		if (session_write(s) == -1)
			return;
	}
	session_update_events(s);
}

void
session_reset_tx(struct session *s)
{
	if (s->in_tx || s->qtx)
		mc_end_message(s, 1);
	dkim_end(s);
	if (s->qfd != -1)
		qc_release(s);
	if (s->atrn_fd != -1) {
		close(s->atrn_fd);
		s->atrn_fd = -1;
	}
	s->in_tx = 0;
	s->nrcpt = 0;
	s->id[0] = '\0';
	s->first_rcpt[0] = '\0';
	s->waiting = W_NONE;
	s->data_mode = DM_NONE;
	s->bdat = 0;
	s->bdat_error = NULL;
	buf_reset(&s->chunk);
	memset(&s->sender, 0, sizeof(s->sender));
}

void
session_close(struct session *s)
{
	struct smtpd	*sd = s->sd;

	session_log_disconnect(s);
	auth_session_gone(s);
	mc_session_end(s);
	dkim_end(s);
	tls_free(s);
	if (s->greet_timer)
		event_timer_cancel(sd->loop, s->greet_timer);
	if (s->qfd != -1)
		qc_release(s);	/* an unfinished file is discarded */
	if (s->atrn_fd != -1)
		close(s->atrn_fd);
	event_del(sd->loop, s->fd);
	close(s->fd);
	if (s->prev)
		s->prev->next = s->next;
	else
		sd->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	sd->nsessions--;
	buf_free(&s->in);
	buf_free(&s->out);
	buf_free(&s->chunk);
	buf_free(&s->qin);
	buf_free(&s->qout);
	free(s);
	smtpd_session_gone(sd);
}

/* Called once a second: end sessions that were silent too long. */
void
session_sweep(struct smtpd *sd)
{
	struct session	*s, *next;
	uint64_t	 now = event_now_ms();

	for (s = sd->sessions; s; s = next) {
		next = s->next;
		if (s->waiting == W_AUTH && s->deadline <= now) {
			auth_timeout(s);
			continue;
		}
		if (s->deadline > now || s->waiting != W_NONE)
			continue;
		if (s->data_mode == DM_PUMP) {
			log_info("timeout in the reversed ODMR session with "
			    "unknown[%s]", s->addr);
			session_close(s);
			continue;
		}
		if (s->tls_state == TLS_HANDSHAKE) {
			log_info("timeout in the TLS handshake from "
			    "unknown[%s]", s->addr);
			session_close(s);
			continue;
		}
		if (s->data_mode == DM_PROXY) {
			log_info("PROXY protocol from unknown[%s]: no header "
			    "within %lds; connection closed", s->addr,
			    sd->conf->smtpd_upstream_proxy_timeout);
			session_close(s);
			continue;
		}
		log_info("timeout after %s from unknown[%s]",
		    s->data_mode ? "DATA" : "command", s->addr);
		session_reset_tx(s);
		session_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    sd->conf->myhostname);
		if (session_write(s) == 0)
			session_close(s);
	}
}

static void
session_io(int fd, int events, void *arg)
{
	struct session	*s = arg;

	(void)fd;
	if (s->tls_state == TLS_HANDSHAKE) {
		session_tls_step(s);
		return;
	}
	if (s->tls_read_ww && (events & EV_WRITE)) {
		s->tls_read_ww = 0;
		events |= EV_READ;
	}
	if (s->tls_write_wr && (events & EV_READ)) {
		s->tls_write_wr = 0;
		events |= EV_WRITE;
	}
	if (events & EV_WRITE) {
		if (session_write(s) == -1)
			return;
		if (!(events & EV_READ)) {
			session_process(s);	/* output drained: go on */
			return;
		}
	}
	if (events & EV_READ) {
		if (session_read(s) == -1)
			return;
		session_process(s);
		return;
	}
	session_update_events(s);
}

static int
session_read(struct session *s)
{
	ssize_t	 n;

	n = s->tls_state == TLS_ON ? tls_read(s, &s->in) :
	    sock_read_buf(s->fd, &s->in);
	if (n == -1) {
		/* Full of pipelined commands: processing will make room. */
		if (errno == EAGAIN || errno == EMSGSIZE)
			return 0;
		if (errno != ECONNRESET)
			log_warn("read from unknown[%s]", s->addr);
		session_close(s);
		return -1;
	}
	if (n == 0) {
		/*
		 * Half-closed after pipelining: what was sent is answered
		 * first (session_process closes when it runs dry), as a
		 * client of "printf ... | nc -N" expects; that includes a
		 * reply still owed, such as the 250 after the final dot.
		 */
		if ((s->in.len > 0 || s->waiting != W_NONE || s->out.len > 0) &&
		    s->data_mode != DM_PUMP && !s->closing) {
			s->eof = 1;
			return 0;
		}
		if (s->in_tx)
			log_info("lost connection after %s from unknown[%s]",
			    s->data_mode ? "DATA" : "RCPT", s->addr);
		session_close(s);
		return -1;
	}
	session_extend_deadline(s, (size_t)n);
	return 0;
}

/*
 * Slow clients (slowloris).  A command line must be complete within
 * smtpd_timeout of the previous one, however it is dribbled.  Message
 * text buys time at smtpd_min_data_rate: each read moves the deadline on
 * by its size over the rate, never past smtpd_data_timeout from now.
 */
static void
session_extend_deadline(struct session *s, size_t n)
{
	const struct conf *c = s->sd->conf;
	uint64_t	 now = event_now_ms(), cap, ext;

	if (s->data_mode == DM_PROXY)
		return;	/* smtpd_upstream_proxy_timeout holds, whatever comes */
	if (s->data_mode == DM_DATA || s->data_mode == DM_BDAT) {
		cap = now + (uint64_t)c->smtpd_data_timeout * 1000;
		if (c->smtpd_min_data_rate <= 0) {
			s->deadline = cap;
			return;
		}
		ext = s->deadline + (uint64_t)n * 1000 /
		    (uint64_t)c->smtpd_min_data_rate;
		s->deadline = ext < cap ? ext : cap;
		return;
	}
	if (n <= s->in.len && memchr(s->in.data + s->in.len - n, '\n', n))
		s->deadline = now + (uint64_t)c->smtpd_timeout * 1000;
}

/* Write what we can; -1 if the session is gone. */
int
session_write(struct session *s)
{
	switch (s->tls_state == TLS_ON ? tls_write(s, &s->out) :
	    sock_write_buf(s->fd, &s->out)) {
	case 1:
		return 0;
	case -1:
		session_close(s);
		return -1;
	}
	if (s->closing) {
		session_close(s);
		return -1;
	}
	return 0;
}

/*
 * Read only while there is room and nothing blocks us; write interest
 * only while output is pending.  This is what bounds a client's memory.
 */
void
session_update_events(struct session *s)
{
	int	 ev = 0;

	if (s->tls_state == TLS_HANDSHAKE) {
		event_mod(s->sd->loop, s->fd, s->tls_want);
		return;
	}
	if (s->tls_pending) {
		/* Not a byte more in the clear: the next is the ClientHello. */
		event_mod(s->sd->loop, s->fd, s->out.len ? EV_WRITE : 0);
		return;
	}
	if (s->tls_read_ww)
		ev |= EV_WRITE;
	if (s->tls_write_wr && s->in.len < SMTPD_IN_MAX)
		ev |= EV_READ;
	if (s->out.len > 0)
		ev |= EV_WRITE;
	if (!s->closing && !s->eof && s->in.len < SMTPD_IN_MAX &&
	    s->qout.len <= SMTPD_QOUT_HIGH && s->out.len <= SMTPD_OUT_HIGH &&
	    !mc_blocked(s))
		ev |= EV_READ;
	event_mod(s->sd->loop, s->fd, ev);
}

/* The PROXY header, read before anything else: the real client. */
static void
session_proxy(struct session *s)
{
	struct sockaddr_storage ss;
	char		 why[128], proxy[sizeof(s->addr)];
	size_t		 used;
	int		 r;

	r = proxy_header(s->in.data, s->in.len, &used, &ss, why, sizeof(why));
	if (r == 0 && !s->eof) {
		session_update_events(s);
		return;
	}
	if (r != 1) {
		log_info("PROXY protocol from unknown[%s]: %s; connection "
		    "closed", s->addr, r == 0 ? "the proxy closed the "
		    "connection within the header" : why);
		session_close(s);
		return;
	}
	buf_consume(&s->in, used);
	s->data_mode = DM_NONE;
	if (ss.ss_family != AF_UNSPEC) {
		strlcpy(proxy, s->addr, sizeof(proxy));
		session_peer(s, &ss);
		log_info("PROXY protocol: unknown[%s] by way of [%s]", s->addr,
		    proxy);
	}
	session_begin(s);
}

static void
session_peer(struct session *s, struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)ss)->sin_addr,
		    s->addr, sizeof(s->addr));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr,
		    s->addr, sizeof(s->addr));
	else
		snprintf(s->addr, sizeof(s->addr), "local");
	s->peer = *ss;
	s->trusted = cidr_match(&s->sd->mynetworks, (struct sockaddr *)ss);
}
