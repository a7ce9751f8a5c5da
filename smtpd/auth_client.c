/*
 * auth_client: the AUTH command (RFC 4954), PLAIN (RFC 4616) and LOGIN,
 * with or without an initial response.  smtpd only decodes what the
 * client sends; the password is checked by the auth service over
 * private/auth (one connection per smtpd process, requests tagged so
 * answers find their session), and smtpd wipes it from its buffers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base64.h"
#include "log.h"
#include "proto.h"
#include "smtpd.h"
#include "sock.h"

#define AUTH_TIMEOUT_S	30
#define AUTH_MAX	(SMTPD_AUTH_LINE / 4 * 3)	/* decoded response */

static void	 auth_submit(struct session *, const char *user,
		    const char *pass);
static void	 auth_plain(struct session *, unsigned char *, size_t);
static int	 auth_connect(struct smtpd *);
static void	 auth_io(int, int, void *);
static void	 auth_lost(struct smtpd *);
static void	 auth_answer(struct smtpd *, const struct record *);
static void	 auth_done(struct session *, const char *why, const char *);
static int	 auth_name_ok(const char *, size_t);

int
auth_available(struct session *s)
{
	struct conf	*c = s->sd->conf;

	if (!c->smtpd_auth_enable ||
	    (c->auth_password_map[0] == '\0' && !c->auth_system_accounts))
		return 0;
	return s->tls_state == TLS_ON || !c->smtpd_tls_auth_only;
}

void
cmd_auth(struct session *s, char *arg)
{
	struct conf	*c = s->sd->conf;
	unsigned char	 dec[AUTH_MAX];
	char		*mech = arg, *init;
	size_t		 n;

	if (!c->smtpd_auth_enable ||
	    (c->auth_password_map[0] == '\0' && !c->auth_system_accounts)) {
		session_reply(s, "503 5.5.1 Error: authentication not "
		    "enabled");
		return;
	}
	if (!s->esmtp) {
		session_reply(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if (s->auth_user[0]) {
		session_reply(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: MAIL transaction in "
		    "progress");
		return;
	}
	if (s->tls_state != TLS_ON && c->smtpd_tls_auth_only) {
		session_reply(s, "538 5.7.11 Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	init = mech + strcspn(mech, " ");
	if (*init)
		*init++ = '\0';
	while (*init == ' ')
		init++;
	if (*mech == '\0' || strchr(init, ' ')) {
		session_reply(s, "501 5.5.4 Syntax: AUTH mechanism "
		    "[initial-response]");
		return;
	}
	if (strcasecmp(mech, "PLAIN") == 0)
		s->auth_state = AUTH_PLAIN;
	else if (strcasecmp(mech, "LOGIN") == 0)
		s->auth_state = AUTH_LOGIN_USER;
	else {
		session_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	strlcpy(s->auth_mech, s->auth_state == AUTH_PLAIN ? "PLAIN" : "LOGIN",
	    sizeof(s->auth_mech));
	if (*init == '\0') {
		session_reply(s, s->auth_state == AUTH_PLAIN ? "334 " :
		    "334 VXNlcm5hbWU6");	/* "Username:" */
		return;
	}
	/* RFC 4954 4: "=" is an initial response of zero length. */
	if (strcmp(init, "=") == 0)
		n = 0;
	else if (base64_decode(init, strlen(init), dec, sizeof(dec) - 1,
	    &n) == -1) {
		explicit_bzero(init, strlen(init));
		s->auth_state = AUTH_NONE;
		session_reply(s, "501 5.5.2 Error: invalid base64 data");
		return;
	}
	explicit_bzero(init, strlen(init));
	if (s->auth_state == AUTH_PLAIN) {
		auth_plain(s, dec, n);
	} else {
		dec[n] = '\0';
		if (!auth_name_ok((char *)dec, n)) {
			s->auth_state = AUTH_NONE;
			session_reply(s, "535 5.7.8 Error: authentication "
			    "failed: bad user name");
		} else {
			strlcpy(s->auth_login, (char *)dec,
			    sizeof(s->auth_login));
			s->auth_state = AUTH_LOGIN_PASS;
			session_reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
		}
	}
	explicit_bzero(dec, sizeof(dec));
}

/* A line answering our 334. */
void
auth_continue(struct session *s, char *line, size_t len)
{
	unsigned char	 dec[AUTH_MAX];
	size_t		 n;
	enum auth_state	 st = s->auth_state;

	s->auth_state = AUTH_NONE;
	if (len == 1 && line[0] == '*') {
		session_reply(s, "501 5.7.0 Authentication aborted");
		return;
	}
	if (base64_decode(line, len, dec, sizeof(dec) - 1, &n) == -1) {
		explicit_bzero(line, len);
		session_reply(s, "501 5.5.2 Error: invalid base64 data");
		return;
	}
	explicit_bzero(line, len);
	dec[n] = '\0';
	switch (st) {
	case AUTH_PLAIN:
		auth_plain(s, dec, n);
		break;
	case AUTH_LOGIN_USER:
		if (!auth_name_ok((char *)dec, n)) {
			session_reply(s, "535 5.7.8 Error: authentication "
			    "failed: bad user name");
			break;
		}
		strlcpy(s->auth_login, (char *)dec, sizeof(s->auth_login));
		s->auth_state = AUTH_LOGIN_PASS;
		session_reply(s, "334 UGFzc3dvcmQ6");
		break;
	case AUTH_LOGIN_PASS:
		if (memchr(dec, '\0', n)) {
			session_reply(s, "535 5.7.8 Error: authentication "
			    "failed");
			break;
		}
		auth_submit(s, s->auth_login, (char *)dec);
		break;
	case AUTH_NONE:
		break;
	}
	explicit_bzero(dec, sizeof(dec));
}

/*
 * A login name as it may appear in logs, Received: and the client
 * record for qmgr: printable, no white space, not too long.
 */
static int
auth_name_ok(const char *p, size_t n)
{
	size_t	 i;

	if (n == 0 || n >= sizeof(((struct session *)0)->auth_user))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. */
static void
auth_plain(struct session *s, unsigned char *p, size_t n)
{
	const char	*authz = (char *)p, *user, *pass;
	unsigned char	*z1, *z2;

	s->auth_state = AUTH_NONE;
	p[n] = '\0';
	if ((z1 = memchr(p, '\0', n)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - p))) == NULL ||
	    memchr(z2 + 1, '\0', n - (size_t)(z2 + 1 - p)) != NULL) {
		session_reply(s, "535 5.7.8 Error: authentication failed: "
		    "malformed PLAIN response");
		return;
	}
	user = (char *)z1 + 1;
	pass = (char *)z2 + 1;
	if (!auth_name_ok(user, strlen(user))) {
		session_reply(s, "535 5.7.8 Error: authentication failed: "
		    "bad user name");
		return;
	}
	/* Acting for someone else (an authorization identity) is not offered. */
	if (*authz && strcmp(authz, user) != 0) {
		session_reply(s, "535 5.7.8 Error: authentication failed: "
		    "authorization identity not allowed");
		return;
	}
	auth_submit(s, user, pass);
}

static void
auth_submit(struct session *s, const char *user, const char *pass)
{
	struct smtpd	*sd = s->sd;
	char		 tag[16];

	if (sd->auth_fd == -1 && auth_connect(sd) == -1) {
		session_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	s->auth_tag = ++sd->auth_tag;
	snprintf(tag, sizeof(tag), "%u", s->auth_tag);
	if (user != s->auth_login)
		strlcpy(s->auth_login, user, sizeof(s->auth_login));
	if (record_putf(&sd->auth_out, PROTO_AUTH, tag, s->addr,
	    sd->svc.name, s->auth_mech, user, pass, NULL) == -1)
		log_fatal("auth request");
	s->waiting = W_AUTH;
	s->deadline = event_now_ms() + AUTH_TIMEOUT_S * 1000;
	/* Written from the event loop, never from inside a command. */
	event_mod(sd->loop, sd->auth_fd, EV_READ | EV_WRITE);
}

static int
auth_connect(struct smtpd *sd)
{
	int	 fd;

	if ((fd = sock_unix_connect(AUTH_SOCKET)) == -1) {
		log_warn("AUTH: cannot reach the auth service %s", AUTH_SOCKET);
		return -1;
	}
	if (sock_nonblock(fd) == -1 ||
	    event_add(sd->loop, fd, EV_READ, auth_io, sd) == -1) {
		log_warn("AUTH: auth channel");
		close(fd);
		return -1;
	}
	sd->auth_fd = fd;
	buf_reset(&sd->auth_in);
	buf_reset(&sd->auth_out);
	return 0;
}

static void
auth_io(int fd, int events, void *arg)
{
	struct smtpd	*sd = arg;
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 rc;

	(void)fd;
	if (sd->auth_fd == -1)
		return;
	if (events & EV_WRITE) {
		if (sock_write_buf(sd->auth_fd, &sd->auth_out) == -1) {
			auth_lost(sd);
			return;
		}
		/* The requests held passwords. */
		if (sd->auth_out.len == 0 && sd->auth_out.data)
			explicit_bzero(sd->auth_out.data, sd->auth_out.cap);
	}
	if (events & EV_READ) {
		n = sock_read_buf(sd->auth_fd, &sd->auth_in);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			auth_lost(sd);
			return;
		}
		while ((rc = record_peek(&sd->auth_in, &r, &total)) == 1) {
			auth_answer(sd, &r);
			buf_consume(&sd->auth_in, total);
		}
		if (rc == -1) {
			log_warnx("AUTH: malformed answer from the auth service");
			auth_lost(sd);
			return;
		}
	}
	event_mod(sd->loop, sd->auth_fd,
	    EV_READ | (sd->auth_out.len ? EV_WRITE : 0));
}

/* The auth service went away: nobody waiting gets an answer from it. */
static void
auth_lost(struct smtpd *sd)
{
	struct session	*s, *next;

	event_del(sd->loop, sd->auth_fd);
	close(sd->auth_fd);
	sd->auth_fd = -1;
	if (sd->auth_out.data)
		explicit_bzero(sd->auth_out.data, sd->auth_out.cap);
	buf_reset(&sd->auth_out);
	buf_reset(&sd->auth_in);
	for (s = sd->sessions; s; s = next) {
		next = s->next;
		if (s->waiting == W_AUTH)
			auth_done(s, AUTH_TEMP, NULL);
	}
}

static void
auth_answer(struct smtpd *sd, const struct record *r)
{
	const char	*f[2];
	struct session	*s;
	unsigned long	 tag;

	if ((r->type != PROTO_OK && r->type != PROTO_FAIL) ||
	    record_fields(r, f, 2) == -1) {
		log_warnx("AUTH: bad answer from the auth service");
		return;
	}
	tag = strtoul(f[0], NULL, 10);
	for (s = sd->sessions; s; s = s->next)
		if (s->waiting == W_AUTH && s->auth_tag == tag)
			break;
	if (s == NULL)
		return;		/* the client left meanwhile */
	if (r->type == PROTO_OK)
		auth_done(s, NULL, f[1]);
	else
		auth_done(s, f[1], NULL);
}

/* why NULL: success, as login (the auth service's spelling of it). */
static void
auth_done(struct session *s, const char *why, const char *login)
{
	s->waiting = W_NONE;
	s->deadline = event_now_ms() +
	    (uint64_t)s->sd->conf->smtpd_timeout * 1000;
	if (why == NULL && !auth_name_ok(login, strlen(login))) {
		log_warnx("AUTH: bad login name from the auth service");
		why = AUTH_TEMP;
	}
	if (why == NULL) {
		strlcpy(s->auth_user, login, sizeof(s->auth_user));
		log_info("AUTH from unknown[%s]: method=%s, username=%s",
		    s->addr, s->auth_mech, s->auth_user);
		session_reply(s, "235 2.7.0 Authentication successful");
	} else if (strcmp(why, AUTH_BAD) == 0) {
		log_info("AUTH failed from unknown[%s]: method=%s",
		    s->addr, s->auth_mech);
		session_reply(s, "535 5.7.8 Error: authentication failed");
	} else if (strcmp(why, AUTH_RATE) == 0) {
		session_reply(s, "454 4.7.0 Error: too many failed "
		    "authentication attempts, try again later");
	} else {
		session_reply(s, "454 4.7.0 Temporary authentication failure");
	}
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
	session_process(s);
}

/* A session waiting too long for the auth service (session_sweep). */
void
auth_timeout(struct session *s)
{
	log_warnx("AUTH: no answer from the auth service for unknown[%s]",
	    s->addr);
	auth_done(s, AUTH_TEMP, NULL);
}

void
auth_session_gone(struct session *s)
{
	s->auth_tag = 0;
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
}
