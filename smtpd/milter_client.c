/*
 * milter_client: smtpd's side of the mail filters in smtpd_milters
 * (Sendmail's and Postfix's milter protocol, version 6).
 *
 * Each session has its own connection to each filter, opened when the
 * client connects.  At the steps that can be refused on the spot
 * (connect, HELO, MAIL, RCPT, end of message) the filters are asked in
 * the order of the list, one after the other, and the session waits
 * (W_MILTER) until they are through; the first refusal wins.  The
 * message itself (DATA, headers, body) streams to the filters as it
 * streams to qmgr, and their answers are read as they come; a refusal
 * among them is given at the end of the message.  There, each filter's
 * changes go to qmgr as CHANGE records before END (queue/change.c).
 *
 * A filter that cannot be reached, breaks the protocol or does not
 * answer within its timeout is handled by its default_action: tempfail
 * (451 4.7.1 for this command and every later one of the session, as
 * Postfix), accept (left out for the rest of the session) or reject
 * (550 5.7.1 likewise).
 *
 * MAIL and RCPT go to the filters after qmgr has accepted them, so that
 * a filter sees only what the policy lets through and the message has
 * its queue ID (macro i); a recipient a filter refuses is taken back
 * with a CHANGE record.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <openssl/ssl.h>

#include "log.h"
#include "proto.h"
#include "queuefile.h"
#include "smtpd.h"
#include "sock.h"
#include "tls.h"

#define MC_OUT_HIGH	(1024 * 1024)	/* stop reading DATA above this */
#define MC_FIELD_MAX	65536		/* a header field longer goes as is */

enum mc_state { MCS_CLOSED, MCS_CONNECTING, MCS_OPTNEG, MCS_OPEN, MCS_GONE };

struct mc_conn {
	struct session	*s;
	int		 idx;
	int		 fd;
	enum mc_state	 state;
	uint32_t	 actions, pflags;
	struct buf	 in, out;
	int		 owed;		/* replies to streamed steps not read */
	int		 stale;		/* those are of a message now over */
	int		 eom_done;	/* answered this message's end */
	int		 waiting;	/* the stage waits for this one */
	int		 off_session;	/* accepted (or failed open): no more */
	int		 off_message;	/* accepted or refused this message */
	int		 in_message;	/* told of a message (MAIL sent) */
	int		 skip_body;
	struct event_timer *timer;
};

static const struct milter_spec *mc_spec(const struct mc_conn *);
static void	 mc_advance(struct session *);
static void	 mc_finish(struct session *);
static void	 mc_finish_run(void *);
static int	 mc_start(struct mc_conn *);
static void	 mc_io(int, int, void *);
static void	 mc_flush(struct mc_conn *);
static void	 mc_timeout(void *);
static void	 mc_arm(struct mc_conn *, long);
static void	 mc_fail(struct mc_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 mc_close(struct mc_conn *);
static int	 mc_send_stage(struct mc_conn *);
static int	 mc_reply(struct mc_conn *, const struct milter_reply *);
static int	 mc_change(struct mc_conn *, const struct milter_reply *);
static void	 mc_verdict(struct session *, int, const char *);
static void	 mc_header(struct session *);
static void	 mc_field_add(struct session *, const char *, size_t);
static void	 mc_eoh(struct session *);
static void	 mc_body_flush(struct session *, int);
static void	 mc_send_all(struct session *, uint32_t, uint32_t, int,
		    const void *, size_t);
static int	 mc_skip(const struct mc_conn *);
static int	 mc_takes_content(const struct mc_conn *);

/* Before the chroot and the sandbox: parse the list, resolve the hosts. */
int
mc_init(struct smtpd *sd, char *err, size_t errlen)
{
	struct milter_spec def;
	struct addrinfo	 hints, *res;
	int		 i, n, rc;

	conf_milter_defaults(sd->conf, &def);
	if ((n = milter_parse_list(sd->conf->smtpd_milters, &def, sd->milters,
	    CONF_MILTERS_MAX, err, errlen)) == -1)
		return -1;
	sd->nmilters = n;
	for (i = 0; i < n; i++) {
		struct milter_spec *m = &sd->milters[i];

		if (m->family == AF_UNIX) {
			struct sockaddr_un *sun = (struct sockaddr_un *)
			    &sd->milter_addr[i];

			memset(sun, 0, sizeof(*sun));
			sun->sun_family = AF_UNIX;
			strlcpy(sun->sun_path, m->host, sizeof(sun->sun_path));
			sd->milter_addrlen[i] = sizeof(*sun);
			continue;
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		if ((rc = getaddrinfo(m->host, m->port, &hints, &res)) != 0) {
			/* Each session meets it as a filter that is down. */
			log_warnx("milter %s: %s: %s", m->socket, m->host,
			    gai_strerror(rc));
			sd->milter_addrlen[i] = 0;
			continue;
		}
		memcpy(&sd->milter_addr[i], res->ai_addr, res->ai_addrlen);
		sd->milter_addrlen[i] = res->ai_addrlen;
		freeaddrinfo(res);
	}
	return 0;
}

int
mc_active(const struct session *s)
{
	return s->sd->nmilters > 0;
}

static const struct milter_spec *
mc_spec(const struct mc_conn *m)
{
	return &m->s->sd->milters[m->idx];
}

/* Still in the message: open, and no final word on it yet. */
static int
mc_takes_content(const struct mc_conn *m)
{
	return m->state == MCS_OPEN && !m->off_session && !m->off_message;
}

/* A filter that is done for now: off, failed open, or not asked. */
static int
mc_skip(const struct mc_conn *m)
{
	return m->state == MCS_GONE || m->off_session;
}

void
mc_run(struct session *s, enum mc_stage stage, void (*next)(struct session *))
{
	int	 i;

	if (s->mc == NULL) {
		if ((s->mc = calloc((size_t)s->sd->nmilters,
		    sizeof(*s->mc))) == NULL)
			log_fatal("milter: out of memory");
		for (i = 0; i < s->sd->nmilters; i++) {
			s->mc[i].s = s;
			s->mc[i].idx = i;
			s->mc[i].fd = -1;
			buf_init(&s->mc[i].in, MILTER_REPLY_MAX + 5);
			buf_init(&s->mc[i].out, 0);
		}
		buf_init(&s->mc_field, 0);
		buf_init(&s->mc_body, 0);
	}
	s->mc_stage = stage;
	s->mc_next = next;
	s->mc_cur = -1;
	if (stage <= MC_MAIL)
		for (i = 0; i < s->sd->nmilters; i++)
			s->mc[i].off_message = 0;	/* a new message */
	if (stage != MC_EOM && stage != MC_RCPT)
		s->mc_verdict = MC_CONTINUE;
	else if (stage == MC_RCPT && s->mc_verdict == MC_REJECT)
		s->mc_verdict = MC_CONTINUE;	/* the last RCPT's refusal */
	s->mc_text[0] = '\0';
	s->waiting = W_MILTER;
	if (stage == MC_EOM)
		mc_body_flush(s, 1);
	mc_advance(s);
}

/* The next filter to ask at this stage, or the end of the stage. */
static void
mc_advance(struct session *s)
{
	struct mc_conn	*m;
	int		 r;

	while (s->waiting == W_MILTER && s->mc_verdict != MC_REJECT &&
	    ++s->mc_cur < s->sd->nmilters) {
		m = &s->mc[s->mc_cur];
		if (mc_skip(m) || (s->mc_stage >= MC_MAIL && m->off_message))
			continue;
		if (s->mc_stage > MC_MAIL && s->mc_verdict == MC_DISCARD)
			break;	/* discarded: nobody needs to see more */
		if (m->state == MCS_CLOSED) {
			/* Opened at the first step it meets. */
			if (mc_start(m) == -1)
				continue;	/* failed: its default action */
			m->waiting = 1;
			return;
		}
		if ((r = mc_send_stage(m)) == -1)
			continue;
		if (r == 1) {
			m->waiting = 1;
			mc_arm(m, s->mc_stage == MC_EOM ?
			    mc_spec(m)->content_timeout :
			    mc_spec(m)->command_timeout);
			return;
		}
	}
	if (s->waiting == W_MILTER)
		mc_finish(s);
}

/*
 * The stage is over.  Its continuation runs from the event loop, not
 * from deep inside a filter's reply, so that it may end the session;
 * it calls session_process itself, last.
 */
static void
mc_finish(struct session *s)
{
	s->mc_cur = s->sd->nmilters;
	if (s->mc_timer == NULL)
		s->mc_timer = event_timer_add(s->sd->loop, 0, mc_finish_run, s);
}

static void
mc_finish_run(void *arg)
{
	struct session	*s = arg;
	void		(*next)(struct session *) = s->mc_next;

	s->mc_timer = NULL;
	s->waiting = W_NONE;
	s->mc_next = NULL;
	if (next)
		next(s);
	else
		session_process(s);
}

/* Connect without blocking; OPTNEG goes out once connected. */
static int
mc_start(struct mc_conn *m)
{
	struct smtpd	*sd = m->s->sd;
	int		 fd;

	if (sd->milter_addrlen[m->idx] == 0) {
		mc_fail(m, "no address");
		return -1;
	}
	if ((fd = socket(sd->milter_addr[m->idx].ss_family, SOCK_STREAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		mc_fail(m, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sd->milter_addr[m->idx],
	    sd->milter_addrlen[m->idx]) == -1 && errno != EINPROGRESS) {
		close(fd);
		mc_fail(m, "connect: %s", strerror(errno));
		return -1;
	}
	if (event_add(sd->loop, fd, EV_WRITE, mc_io, m) == -1) {
		close(fd);
		mc_fail(m, "event_add: %s", strerror(errno));
		return -1;
	}
	m->fd = fd;
	m->state = MCS_CONNECTING;
	mc_arm(m, mc_spec(m)->connect_timeout);
	return 0;
}

static void
mc_arm(struct mc_conn *m, long seconds)
{
	if (m->timer)
		event_timer_cancel(m->s->sd->loop, m->timer);
	m->timer = event_timer_add(m->s->sd->loop, seconds * 1000, mc_timeout,
	    m);
}

static void
mc_timeout(void *arg)
{
	struct mc_conn	*m = arg;

	m->timer = NULL;
	mc_fail(m, "timeout %s", m->state == MCS_CONNECTING ? "connecting" :
	    m->state == MCS_OPTNEG ? "negotiating" : "waiting for a reply");
}

/*
 * The filter is gone for this session: its default action decides.
 * Accept leaves it out; tempfail and reject hold for the session.
 */
static void
mc_fail(struct mc_conn *m, const char *fmt, ...)
{
	struct session	*s = m->s;
	const struct milter_spec *sp = mc_spec(m);
	char		 why[256];
	va_list		 ap;
	int		 was_waiting = m->waiting;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warnx("%s: milter %s: %s; default action %s",
	    s->id[0] ? s->id : "NOQUEUE", sp->socket, why,
	    sp->default_action == MILTER_DEFAULT_ACCEPT ? "accept" :
	    sp->default_action == MILTER_DEFAULT_REJECT ? "reject" :
	    "tempfail");
	mc_close(m);
	m->state = MCS_GONE;
	/* As Postfix: the rest of the session is refused the same way. */
	if (sp->default_action == MILTER_DEFAULT_TEMPFAIL)
		strlcpy(s->mc_refuse, "451 4.7.1 Service unavailable - try "
		    "again later", sizeof(s->mc_refuse));
	else if (sp->default_action == MILTER_DEFAULT_REJECT)
		strlcpy(s->mc_refuse, "550 5.7.1 Command rejected",
		    sizeof(s->mc_refuse));
	if (sp->default_action != MILTER_DEFAULT_ACCEPT)
		mc_verdict(s, MC_REJECT, s->mc_refuse);
	if (was_waiting && s->waiting == W_MILTER) {
		if (s->mc_verdict == MC_REJECT)
			mc_finish(s);
		else
			mc_advance(s);
	}
}

static void
mc_close(struct mc_conn *m)
{
	if (m->timer) {
		event_timer_cancel(m->s->sd->loop, m->timer);
		m->timer = NULL;
	}
	if (m->fd != -1) {
		event_del(m->s->sd->loop, m->fd);
		close(m->fd);
		m->fd = -1;
	}
	buf_reset(&m->in);
	buf_reset(&m->out);
	m->waiting = 0;
	m->owed = 0;
}

/* The first refusal of a stage (or of a message) is the one given. */
static void
mc_verdict(struct session *s, int v, const char *text)
{
	if (s->mc_verdict != MC_CONTINUE)
		return;
	s->mc_verdict = v;
	strlcpy(s->mc_text, text ? text : "", sizeof(s->mc_text));
}

/* Macros, then the step itself: 1 when a reply is awaited, 0 if not. */
static int
mc_send_stage(struct mc_conn *m)
{
	struct session	*s = m->s;
	struct smtpd	*sd = s->sd;
	struct buf	*o = &m->out;
	char		 port[8], host[300];
	const char	*addr = s->addr;
	uint32_t	 no = 0, nr = 0;
	int		 fam;
	uint16_t	 p = 0;

	switch (s->mc_stage) {
	case MC_CONNECT:
		no = MILTER_P_NOCONNECT;
		nr = MILTER_P_NR_CONN;
		break;
	case MC_HELO:
		no = MILTER_P_NOHELO;
		nr = MILTER_P_NR_HELO;
		break;
	case MC_MAIL:
		no = MILTER_P_NOMAIL;
		nr = MILTER_P_NR_MAIL;
		break;
	case MC_RCPT:
		no = MILTER_P_NORCPT;
		nr = MILTER_P_NR_RCPT;
		break;
	case MC_EOM:
		break;
	}
	if (s->mc_stage >= MC_MAIL)
		m->in_message = 1;
	if (m->pflags & no)
		return 0;
	switch (s->mc_stage) {
	case MC_CONNECT:
		if (s->peer.ss_family == AF_INET) {
			fam = '4';
			p = ntohs(((struct sockaddr_in *)&s->peer)->sin_port);
		} else if (s->peer.ss_family == AF_INET6) {
			fam = '6';
			p = ntohs(((struct sockaddr_in6 *)&s->peer)->sin6_port);
		} else
			fam = 'U';
		snprintf(port, sizeof(port), "%u", p);
		snprintf(host, sizeof(host), "[%s]", addr);
		milter_put_macros(o, MILTER_C_CONNECT, "j", sd->conf->myhostname,
		    "{daemon_name}", sd->svc.name, "v", "posthorn",
		    "_", host, "{client_addr}", addr, "{client_port}", port,
		    "{client_name}", host, "{client_ptr}", "unknown", NULL);
		milter_put_connect(o, host, fam, p, addr);
		break;
	case MC_HELO:
		if (s->tls_state == TLS_ON)
			milter_put_macros(o, MILTER_C_HELO, "{tls_version}",
			    SSL_get_version(s->ssl), "{cipher}",
			    SSL_get_cipher_name(s->ssl), NULL);
		milter_putf(o, MILTER_C_HELO, s->helo, NULL);
		break;
	case MC_MAIL:
		snprintf(host, sizeof(host), "<%s>", s->sender.addr);
		milter_put_macros(o, MILTER_C_MAIL, "i", s->id,
		    "{mail_addr}", s->sender.addr, "{auth_authen}",
		    s->auth_user, "{auth_type}", s->auth_user[0] ?
		    s->auth_mech : "", NULL);
		milter_putf(o, MILTER_C_MAIL, host, NULL);
		break;
	case MC_RCPT:
		snprintf(host, sizeof(host), "<%s>", s->pending);
		milter_put_macros(o, MILTER_C_RCPT, "i", s->id,
		    "{rcpt_addr}", s->pending, NULL);
		milter_putf(o, MILTER_C_RCPT, host, NULL);
		break;
	case MC_EOM:
		milter_put_macros(o, MILTER_C_BODYEOB, "i", s->id, NULL);
		milter_put(o, MILTER_C_BODYEOB, NULL, 0);
		break;
	}
	mc_flush(m);
	if (m->state == MCS_GONE)
		return -1;
	return (m->pflags & nr) ? 0 : 1;
}

static void
mc_flush(struct mc_conn *m)
{
	if (m->fd == -1)
		return;
	if (sock_write_buf(m->fd, &m->out) == -1) {
		mc_fail(m, "write: %s", strerror(errno));
		return;
	}
	event_mod(m->s->sd->loop, m->fd, EV_READ |
	    (m->out.len > 0 ? EV_WRITE : 0));
}

static void
mc_io(int fd, int events, void *arg)
{
	struct mc_conn	*m = arg;
	struct session	*s = m->s;
	struct milter_reply r;
	size_t		 total;
	ssize_t		 n;
	int		 err = 0, rc = 0;
	socklen_t	 len = sizeof(err);

	if (m->state == MCS_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
		    err != 0) {
			mc_fail(m, "connect: %s", strerror(err ? err : errno));
			return;
		}
		m->state = MCS_OPTNEG;
		milter_put_optneg(&m->out, MILTER_VERSION, MILTER_A_ALL,
		    MILTER_P_OFFER);
		mc_flush(m);
		return;
	}
	if (events & EV_WRITE) {
		mc_flush(m);
		if (m->state == MCS_GONE)
			return;
		if (m->out.len <= MC_OUT_HIGH)
			session_update_events(s);
	}
	if (!(events & EV_READ))
		return;
	if ((n = sock_read_buf(fd, &m->in)) == 0 || (n == -1 &&
	    errno != EAGAIN)) {
		mc_fail(m, n == 0 ? "connection closed" : "read: %s",
		    strerror(errno));
		return;
	}
	while (m->state != MCS_GONE &&
	    (rc = milter_peek(&m->in, &r, &total)) == 1) {
		if (mc_reply(m, &r) == -1)
			return;		/* failed or finished: m may be reset */
		if (m->state == MCS_GONE)
			return;
		buf_consume(&m->in, total);
	}
	if (m->state != MCS_GONE && rc == -1)
		mc_fail(m, "malformed reply");
}

/*
 * One reply.  Returns -1 when the filter failed (m is reset) or the
 * stage ended on it, so that the caller stops reading from it now.
 */
static int
mc_reply(struct mc_conn *m, const struct milter_reply *r)
{
	struct session	*s = m->s;
	const char	*text = NULL;
	uint32_t	 v, a, p;
	int		 streamed = !m->waiting || m->owed > 0, terminal;

	if (m->state == MCS_OPTNEG) {
		if (milter_parse_optneg(r, &v, &a, &p) == -1 || v < 2) {
			mc_fail(m, "bad option negotiation");
			return -1;
		}
		m->actions = a & MILTER_A_ALL;
		m->pflags = p & MILTER_P_OFFER;
		m->state = MCS_OPEN;
		if (m->timer) {
			event_timer_cancel(s->sd->loop, m->timer);
			m->timer = NULL;
		}
		/* Opened for this stage: the stage goes on with it. */
		buf_consume(&m->in, r->len + 5);
		switch (mc_send_stage(m)) {
		case 1:
			mc_arm(m, s->mc_stage == MC_EOM ?
			    mc_spec(m)->content_timeout :
			    mc_spec(m)->command_timeout);
			return -1;
		case 0:
			m->waiting = 0;
			mc_advance(s);
			return -1;
		}
		return -1;
	}
	if (r->cmd == MILTER_R_PROGRESS) {
		if (m->waiting)
			mc_arm(m, mc_spec(m)->content_timeout);
		return 0;
	}
	/* Changes come before the final answer to the end of the message. */
	if (strchr("+-2behimq", r->cmd) != NULL) {
		if (!m->waiting || s->mc_stage != MC_EOM || m->owed > 0) {
			mc_fail(m, "a change ('%c') outside the end of the "
			    "message", r->cmd);
			return -1;
		}
		return mc_change(m, r);
	}
	switch (r->cmd) {
	case MILTER_R_CONTINUE:
		break;
	case MILTER_R_SKIP:
		/* Not offered (we cannot tell how many chunks it skips). */
		break;
	case MILTER_R_ACCEPT:
		if (s->mc_stage <= MC_HELO && !m->in_message)
			m->off_session = 1;
		else
			m->off_message = 1;
		break;
	case MILTER_R_DISCARD:
		m->off_message = 1;
		if (s->mc_verdict == MC_CONTINUE && (m->in_message ||
		    s->mc_stage >= MC_MAIL))
			s->mc_verdict = MC_DISCARD;
		break;
	case MILTER_R_REJECT:
		text = "550 5.7.1 Command rejected";
		break;
	case MILTER_R_TEMPFAIL:
	case MILTER_R_CONN_FAIL:
		text = "451 4.7.1 Service unavailable - try again later";
		break;
	case MILTER_R_REPLYCODE:
		if (milter_parse_replycode(r, &text) == -1) {
			mc_fail(m, "a malformed reply code");
			return -1;
		}
		/* Too long to keep whole: the plain reply of its class. */
		if (strlen(text) >= sizeof(s->mc_text))
			text = text[0] == '4' ? "451 4.7.1 Service unavailable "
			    "- try again later" : "550 5.7.1 Command rejected";
		break;
	case MILTER_R_SHUTDOWN:
		mc_fail(m, "filter shutting down");
		return -1;
	default:
		mc_fail(m, "unexpected reply '%c'", r->cmd);
		return -1;
	}
	/*
	 * After a final word on the message (accept, discard, a refusal),
	 * libmilter answers nothing more of it, not even its end.
	 */
	terminal = text != NULL || r->cmd == MILTER_R_ACCEPT ||
	    r->cmd == MILTER_R_DISCARD;
	if (m->stale) {
		/* Late answers about a message already over: not this one. */
		if (terminal || --m->owed <= 0)
			m->owed = m->stale = 0;
		return 0;
	}
	if (text) {
		mc_verdict(s, MC_REJECT, text);
		/*
		 * A refused HELO or recipient is that command's answer only:
		 * the filter goes on seeing the session and the message.
		 */
		if (streamed || s->mc_stage == MC_MAIL ||
		    s->mc_stage == MC_EOM)
			m->off_message = 1;
	}
	if (streamed) {
		/* An answer to a header or body chunk, or to DATA. */
		if (m->owed > 0)
			m->owed--;
		if (!terminal)
			return 0;
		m->owed = 0;
		if (!m->waiting)
			return 0;
		/* It was the end of the message we waited for: done. */
	}
	if (s->mc_stage == MC_EOM)
		m->eom_done = 1;
	if (m->timer) {
		event_timer_cancel(s->sd->loop, m->timer);
		m->timer = NULL;
	}
	m->waiting = 0;
	buf_consume(&m->in, r->len + 5);
	if (text && s->waiting == W_MILTER)
		mc_finish(s);
	else if (s->waiting == W_MILTER)
		mc_advance(s);
	return -1;
}

/* A change at the end of the message: on to qmgr, if it was agreed. */
static int
mc_change(struct mc_conn *m, const struct milter_reply *r)
{
	struct session	*s = m->s;
	const char	*f[2], *name, *value, *op;
	uint32_t	 need, idx;
	char		 num[16];

	need = r->cmd == MILTER_R_ADDHEADER || r->cmd == MILTER_R_INSHEADER ?
	    MILTER_A_ADDHDRS : r->cmd == MILTER_R_CHGHEADER ?
	    MILTER_A_CHGHDRS : r->cmd == MILTER_R_REPLBODY ? MILTER_A_CHGBODY :
	    r->cmd == MILTER_R_ADDRCPT ? MILTER_A_ADDRCPT :
	    r->cmd == MILTER_R_ADDRCPT_PAR ? MILTER_A_ADDRCPT_PAR :
	    r->cmd == MILTER_R_DELRCPT ? MILTER_A_DELRCPT :
	    r->cmd == MILTER_R_CHGFROM ? MILTER_A_CHGFROM :
	    MILTER_A_QUARANTINE;
	if (!(m->actions & need)) {
		mc_fail(m, "a change ('%c') it did not ask for", r->cmd);
		return -1;
	}
	/* A record to qmgr holds at most RECORD_MAX: leave room for the rest. */
	if (r->cmd != MILTER_R_REPLBODY && r->len > RECORD_MAX - 64) {
		mc_fail(m, "a change ('%c') of %zu bytes", r->cmd, r->len);
		return -1;
	}
	s->mc_changed = 1;
	switch (r->cmd) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER:
		if (milter_parse_header(r, &idx, &name, &value) == -1) {
			mc_fail(m, "a malformed header change");
			return -1;
		}
		op = r->cmd == MILTER_R_ADDHEADER ? "hadd" :
		    r->cmd == MILTER_R_INSHEADER ? "hins" : "hchg";
		snprintf(num, sizeof(num), "%u", idx);
		qc_sendf(s, PROTO_CHANGE, op, num, name, value, NULL);
		return 0;
	case MILTER_R_REPLBODY: {
		size_t	 off, n;

		/* qmgr takes content in chunks of at most QF_CHUNK. */
		for (off = 0; off < r->len; off += n) {
			n = r->len - off < QF_CHUNK ? r->len - off : QF_CHUNK;
			qc_send(s, PROTO_NEWBODY, r->data + off, n);
		}
		return 0;
	}
	case MILTER_R_QUARANTINE:
		if (milter_parse_strings(r, f, 1) == -1) {
			mc_fail(m, "a malformed quarantine");
			return -1;
		}
		qc_sendf(s, PROTO_CHANGE, "hold", "", f[0], "", NULL);
		return 0;
	case MILTER_R_ADDRCPT_PAR:
	case MILTER_R_CHGFROM:
		if (milter_parse_strings(r, f, 2) == -1 &&
		    milter_parse_strings(r, f, 1) == -1) {
			mc_fail(m, "a malformed envelope change");
			return -1;
		}
		if (milter_parse_strings(r, f, 2) == -1)
			f[1] = "";
		qc_sendf(s, PROTO_CHANGE, r->cmd == MILTER_R_CHGFROM ? "from" :
		    "radd", "", f[0], f[1], NULL);
		return 0;
	default:	/* ADDRCPT, DELRCPT */
		if (milter_parse_strings(r, f, 1) == -1) {
			mc_fail(m, "a malformed recipient change");
			return -1;
		}
		qc_sendf(s, PROTO_CHANGE, r->cmd == MILTER_R_ADDRCPT ? "radd" :
		    "rdel", "", f[0], "", NULL);
		return 0;
	}
}

/* DATA: told without waiting; an answer other than continue counts. */
void
mc_data(struct session *s)
{
	int	 i;

	if (s->mc == NULL)
		return;
	s->mc_hdr = 1;
	buf_reset(&s->mc_field);
	buf_reset(&s->mc_body);
	for (i = 0; i < s->sd->nmilters; i++) {
		struct mc_conn *m = &s->mc[i];

		m->skip_body = 0;
		if (!mc_takes_content(m) ||
		    (m->pflags & MILTER_P_NODATA))
			continue;
		milter_put_macros(&m->out, MILTER_C_DATA, "i", s->id, NULL);
		milter_put(&m->out, MILTER_C_DATA, NULL, 0);
		if (!(m->pflags & MILTER_P_NR_DATA))
			m->owed++;
		mc_flush(m);
	}
}

/* Message content as queued (LF line ends): headers, then the body. */
void
mc_content(struct session *s, const char *p, size_t len)
{
	const char	*nl;
	size_t		 n;

	if (s->mc == NULL)
		return;
	while (len > 0 && s->mc_hdr) {
		nl = memchr(p, '\n', len);
		n = nl ? (size_t)(nl - p) + 1 : len;
		/* A line that is a continuation belongs to the field. */
		if (s->mc_field.len > 0 && s->mc_field.data[s->mc_field.len -
		    1] == '\n') {
			if (p[0] == ' ' || p[0] == '\t') {
				mc_field_add(s, p, n);
				p += n;
				len -= n;
				continue;
			}
			mc_header(s);
		}
		if (s->mc_field.len == 0 && p[0] == '\n') {
			mc_eoh(s);	/* the empty line is not body */
			p++;
			len--;
			break;
		}
		mc_field_add(s, p, n);
		p += n;
		len -= n;
		if (s->mc_field.len > 0 && s->mc_field.data[s->mc_field.len -
		    1] == '\n' && memchr(s->mc_field.data, ':',
		    s->mc_field.len) == NULL) {
			/* Not a header field: the body starts with it. */
			struct buf line = s->mc_field;

			buf_init(&s->mc_field, 0);
			mc_eoh(s);
			mc_content(s, line.data, line.len);
			buf_free(&line);
		}
	}
	for (; len > 0; p++, len--) {
		if (*p == '\n')
			buf_append(&s->mc_body, "\r\n", 2);
		else
			buf_appendc(&s->mc_body, *p);
		if (s->mc_body.len >= MILTER_CHUNK - 1)
			mc_body_flush(s, 0);
	}
}

/*
 * Part of a header line.  Past MC_FIELD_MAX the field is cut, but a
 * line's end is always kept: it says where the next field starts.
 */
static void
mc_field_add(struct session *s, const char *p, size_t n)
{
	if (s->mc_field.len < MC_FIELD_MAX)
		buf_append(&s->mc_field, p, n);
	else if (n > 0 && p[n - 1] == '\n' &&
	    s->mc_field.data[s->mc_field.len - 1] != '\n')
		buf_appendc(&s->mc_field, '\n');
}

/* The field in mc_field (LF line ends) to every filter as name, value. */
static void
mc_header(struct session *s)
{
	struct buf	 v, pkt;
	char		*f = s->mc_field.data, *colon, *val;
	size_t		 flen = s->mc_field.len, nlen, i;
	int		 j;

	if (flen > 0 && f[flen - 1] == '\n')
		flen--;
	if ((colon = memchr(f, ':', flen)) == NULL) {
		buf_reset(&s->mc_field);
		return;
	}
	nlen = (size_t)(colon - f);
	while (nlen > 0 && (f[nlen - 1] == ' ' || f[nlen - 1] == '\t'))
		nlen--;
	val = colon + 1;
	for (j = 0; j < s->sd->nmilters; j++) {
		struct mc_conn *m = &s->mc[j];

		if (!mc_takes_content(m) ||
		    (m->pflags & MILTER_P_NOHDRS))
			continue;
		buf_init(&v, 0);
		i = (size_t)(val - f);
		if (!(m->pflags & MILTER_P_HDR_LEADSPC) && i < flen &&
		    (f[i] == ' ' || f[i] == '\t'))
			i++;
		for (; i < flen; i++) {
			if (f[i] == '\n')
				buf_appendc(&v, '\r');
			buf_appendc(&v, f[i]);
		}
		buf_init(&pkt, 0);
		buf_append(&pkt, f, nlen);
		buf_appendc(&pkt, '\0');
		buf_append(&pkt, v.data, v.len);
		buf_appendc(&pkt, '\0');
		milter_put(&m->out, MILTER_C_HEADER, pkt.data, pkt.len);
		if (!(m->pflags & MILTER_P_NR_HDR))
			m->owed++;
		mc_flush(m);
		buf_free(&pkt);
		buf_free(&v);
	}
	buf_reset(&s->mc_field);
}

static void
mc_eoh(struct session *s)
{
	if (s->mc_field.len > 0)
		mc_header(s);
	s->mc_hdr = 0;
	mc_send_all(s, MILTER_P_NOEOH, MILTER_P_NR_EOH, MILTER_C_EOH, NULL, 0);
}

/* Body bytes so far (CRLF line ends) to the filters that want them. */
static void
mc_body_flush(struct session *s, int last)
{
	if (last && s->mc_hdr)
		mc_eoh(s);	/* a message with no body at all */
	if (s->mc_body.len == 0)
		return;
	mc_send_all(s, MILTER_P_NOBODY, MILTER_P_NR_BODY, MILTER_C_BODY,
	    s->mc_body.data, s->mc_body.len);
	buf_reset(&s->mc_body);
}

static void
mc_send_all(struct session *s, uint32_t no, uint32_t nr, int cmd,
    const void *p, size_t len)
{
	int	 i;

	for (i = 0; i < s->sd->nmilters; i++) {
		struct mc_conn *m = &s->mc[i];

		if (!mc_takes_content(m) ||
		    (m->pflags & no) || (cmd == MILTER_C_BODY && m->skip_body))
			continue;
		milter_put(&m->out, cmd, p, len);
		if (!(m->pflags & nr))
			m->owed++;
		mc_flush(m);
	}
}

/* Stop reading the client while a filter has this much unsent. */
int
mc_blocked(const struct session *s)
{
	int	 i;

	for (i = 0; s->mc && i < s->sd->nmilters; i++)
		if (s->mc[i].out.len > MC_OUT_HIGH)
			return 1;
	return 0;
}

/*
 * The stage is abandoned (qmgr went away under it): no continuation, and
 * the filter asked is closed, since its answer can no longer be heard.
 */
void
mc_cancel(struct session *s)
{
	if (s->mc_timer) {
		event_timer_cancel(s->sd->loop, s->mc_timer);
		s->mc_timer = NULL;
	}
	s->mc_next = NULL;
	if (s->mc && s->mc_cur >= 0 && s->mc_cur < s->sd->nmilters &&
	    s->mc[s->mc_cur].waiting) {
		s->mc[s->mc_cur].waiting = 0;
		mc_fail(&s->mc[s->mc_cur], "its answer was abandoned");
	}
	s->mc_verdict = MC_CONTINUE;
	s->waiting = W_NONE;
}

/*
 * The message is over: after its end (the filters know), or without it
 * (RSET, a refusal, a new MAIL): then they hear ABORT.
 */
void
mc_end_message(struct session *s, int abort)
{
	int	 i;

	for (i = 0; s->mc && i < s->sd->nmilters; i++) {
		struct mc_conn *m = &s->mc[i];

		if (abort && m->in_message && m->state == MCS_OPEN &&
		    !m->off_session && !m->eom_done) {
			milter_put(&m->out, MILTER_C_ABORT, NULL, 0);
			mc_flush(m);
		}
		if (m->state == MCS_GONE || m->state == MCS_CLOSED)
			continue;
		m->in_message = 0;
		m->off_message = 0;
		m->skip_body = 0;
		m->eom_done = 0;
		/* Answers still owed for its content arrive later: ignored. */
		m->stale = m->owed > 0;
	}
	if (s->mc) {
		buf_reset(&s->mc_field);
		buf_reset(&s->mc_body);
	}
	if (s->mc_verdict == MC_DISCARD)
		s->mc_verdict = MC_CONTINUE;
}

void
mc_session_end(struct session *s)
{
	int	 i;

	if (s->mc_timer) {
		event_timer_cancel(s->sd->loop, s->mc_timer);
		s->mc_timer = NULL;
	}
	if (s->mc == NULL)
		return;
	for (i = 0; i < s->sd->nmilters; i++) {
		struct mc_conn *m = &s->mc[i];

		if (m->state == MCS_OPEN && m->fd != -1) {
			milter_put(&m->out, MILTER_C_QUIT, NULL, 0);
			(void)sock_write_buf(m->fd, &m->out);
		}
		mc_close(m);
		buf_free(&m->in);
		buf_free(&m->out);
	}
	free(s->mc);
	s->mc = NULL;
	buf_free(&s->mc_field);
	buf_free(&s->mc_body);
}

/*
 * A filter's refusal as the reply: a multi-line one (smfi_setmlreply)
 * line by line, the last one logged as the refusal.
 */
void
mc_reject(struct session *s, const char *stage, const char *rcpt,
    const char *text)
{
	const char	*crlf;

	while ((crlf = strstr(text, "\r\n")) != NULL) {
		session_reply(s, "%.*s", (int)(crlf - text), text);
		text = crlf + 2;
	}
	session_reject(s, stage, rcpt, "%s", text);
}
