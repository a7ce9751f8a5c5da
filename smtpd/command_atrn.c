/*
 * command_atrn: the ODMR service (RFC 2645), provider side.  A listener
 * with odmr_service = yes speaks only EHLO, STARTTLS, AUTH, ATRN and the
 * harmless verbs.  "ATRN [domain[,domain...]]" from a logged-in customer
 * goes to qmgr with one end of a socket pair; qmgr checks the login's
 * domains and starts their mail.  On its OK we answer 250 and the
 * connection is reversed: from then on smtpd only relays bytes between
 * the customer (in TLS, when it was started) and the socket pair, whose
 * other end a relay agent uses as an SMTP client.  When the agent closes
 * its end (after QUIT) we close the customer's connection.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <bsd/string.h>

#include "log.h"
#include "proto.h"
#include "smtpd.h"
#include "sock.h"

static void	 atrn_pump_io(int, int, void *);

/* In the ODMR service, may this verb run? */
int
atrn_verb_allowed(const struct command *c)
{
	static const char *const ok[] = { "EHLO", "HELO", "STARTTLS", "AUTH",
	    "ATRN", "RSET", "NOOP", "HELP", "QUIT" };
	size_t	 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(c->verb, ok[i]) == 0)
			return 1;
	return 0;
}

void
cmd_atrn(struct session *s, char *arg)
{
	struct buf	 rec;
	int		 sp[2];
	ssize_t		 n;

	if (!s->sd->conf->odmr_service) {
		session_reply(s, "502 5.5.1 Error: ATRN is offered on the ODMR "
		    "service only (RFC 2645)");
		return;
	}
	if (!s->helo_seen || !s->esmtp) {
		session_reply(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: MAIL transaction in "
		    "progress");
		return;
	}
	if (s->auth_user[0] == '\0') {
		session_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	if (strlen(arg) > 1000 || strspn(arg, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_, ") != strlen(arg)) {
		session_reply(s, "501 5.5.4 Syntax: ATRN [domain[,domain]...]");
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("ATRN: socketpair");
		session_reply(s, "451 4.3.0 Error: local error, try again "
		    "later");
		return;
	}
	if (s->qfd == -1 && qc_open(s) == -1) {
		close(sp[0]);
		close(sp[1]);
		session_reply(s, "451 4.3.0 Error: queue manager unavailable, "
		    "try again later");
		return;
	}
	/* The first record on a fresh channel: it fits, no need to queue. */
	buf_init(&rec, 0);
	if (record_putf(&rec, PROTO_ATRN, s->auth_user, arg, s->addr, NULL) ==
	    -1 || (n = sock_send_fd(s->qfd, rec.data, rec.len, sp[1])) !=
	    (ssize_t)rec.len) {
		log_warn("ATRN: send to qmgr");
		buf_free(&rec);
		close(sp[0]);
		close(sp[1]);
		qc_close(s);
		session_reply(s, "451 4.3.0 Error: queue manager unavailable, "
		    "try again later");
		return;
	}
	buf_free(&rec);
	close(sp[1]);
	s->atrn_fd = sp[0];
	strlcpy(s->pending, arg[0] ? arg : "(all)", sizeof(s->pending));
	s->waiting = W_ATRN;
}

/* qmgr's answer: OK(messages started), then reverse; or the refusal. */
void
command_atrn_reply(struct session *s, const struct record *r)
{
	const char	*text;
	int		 fd = s->atrn_fd;

	s->atrn_fd = -1;
	qc_close(s);
	text = r->len > 0 && r->data[r->len - 1] == '\0' ? r->data : "";
	if (r->type == PROTO_FAIL) {
		if (strlen(text) < 4 || (text[0] != '4' && text[0] != '5'))
			text = "451 4.3.0 Error: internal error";
		session_reply(s, "%s", text);
		close(fd);
		return;
	}
	log_info("ATRN %s from unknown[%s], sasl_username=%s: %s message%s; "
	    "reversing the connection", s->pending, s->addr, s->auth_user,
	    text, strcmp(text, "1") == 0 ? "" : "s");
	session_reply(s, "250 2.0.0 OK now reversing the connection");
	if (sock_nonblock(fd) == -1 ||
	    event_add(s->sd->loop, fd, EV_READ, atrn_pump_io, s) == -1) {
		log_warn("ATRN: relay channel");
		close(fd);
		s->closing = 1;
		return;
	}
	s->qfd = fd;
	s->data_mode = DM_PUMP;
}

/*
 * The reversed session: client bytes (already out of TLS in s->in) go
 * to the agent through qout; the agent's bytes arrive in s->out.  Both
 * directions are bounded like the rest of the session.
 */
void
atrn_pump(struct session *s)
{
	if (s->in.len > 0) {
		if (buf_append(&s->qout, s->in.data, s->in.len) == -1)
			log_fatal("atrn_pump");
		buf_reset(&s->in);
	}
	if (s->qout.len > 0 && sock_write_buf(s->qfd, &s->qout) == -1) {
		/* The agent is gone: nothing more to say to the customer. */
		buf_reset(&s->qout);
		s->closing = 1;
	}
	if (session_write(s) == -1)
		return;
	event_mod(s->sd->loop, s->qfd, (s->out.len <= SMTPD_OUT_HIGH &&
	    !s->closing ? EV_READ : 0) | (s->qout.len ? EV_WRITE : 0));
	session_update_events(s);
}

static void
atrn_pump_io(int fd, int events, void *arg)
{
	struct session	*s = arg;
	ssize_t		 n;

	if (events & EV_READ) {
		n = sock_read_buf(fd, &s->out);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			/* The agent said QUIT and hung up (or died). */
			s->closing = 1;
			event_mod(s->sd->loop, fd, 0);
		} else if (n > 0)
			s->deadline = event_now_ms() +
			    (uint64_t)s->sd->conf->smtpd_timeout * 1000;
	}
	session_process(s);
}
