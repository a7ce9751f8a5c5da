/*
 * qmgr_client: smtpd's channel to the queue manager, opened per mail
 * transaction on private/qmgr.  Writes are buffered and non-blocking; a
 * full buffer pauses the client (session.c), so a fast client cannot make
 * smtpd hold more than SMTPD_QOUT_HIGH bytes for it.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "smtpd.h"
#include "sock.h"

static void	 qc_io(int, int, void *);
static void	 qc_flush(struct session *);
static void	 qc_lost(struct session *);

int
qc_open(struct session *s)
{
	int	 fd;

	if ((fd = sock_unix_connect(QMGR_SOCKET)) == -1) {
		log_warn("connect to %s", QMGR_SOCKET);
		return -1;
	}
	if (sock_nonblock(fd) == -1 ||
	    event_add(s->sd->loop, fd, EV_READ, qc_io, s) == -1) {
		log_warn("qmgr channel");
		close(fd);
		return -1;
	}
	s->qfd = fd;
	buf_reset(&s->qin);
	buf_reset(&s->qout);
	return 0;
}

void
qc_close(struct session *s)
{
	if (s->qfd == -1)
		return;
	event_del(s->sd->loop, s->qfd);
	close(s->qfd);
	s->qfd = -1;
	buf_reset(&s->qin);
	buf_reset(&s->qout);
}

void
qc_send(struct session *s, int type, const void *p, size_t len)
{
	if (s->qfd == -1)
		return;
	if (record_put(&s->qout, type, p, len) == -1)
		log_fatal("qc_send");
	qc_flush(s);
}

void
qc_sendf(struct session *s, int type, ...)
{
	va_list		 ap;
	const char	*f;
	struct buf	 b;

	buf_init(&b, 0);
	va_start(ap, type);
	while ((f = va_arg(ap, const char *)) != NULL)
		if (buf_append(&b, f, strlen(f) + 1) == -1)
			log_fatal("qc_sendf");
	va_end(ap);
	qc_send(s, type, b.data, b.len);
	buf_free(&b);
}

static void
qc_io(int fd, int events, void *arg)
{
	struct session	*s = arg;
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 rc = 0;

	if (events & EV_WRITE)
		qc_flush(s);
	if (!(events & EV_READ)) {
		session_process(s);	/* resume a client paused on us */
		return;
	}
	if ((n = sock_read_buf(fd, &s->qin)) <= 0) {
		if (n == -1 && errno == EAGAIN)
			return;
		qc_lost(s);
		return;
	}
	while (s->qfd != -1 && (rc = record_peek(&s->qin, &r, &total)) == 1) {
		if (s->waiting == W_NONE ||
		    (r.type != PROTO_OK && r.type != PROTO_FAIL)) {
			log_warnx("unexpected record from qmgr");
			qc_lost(s);
			return;
		}
		command_qmgr_reply(s, &r);
		if (s->qfd != -1)
			buf_consume(&s->qin, total);
	}
	if (s->qfd != -1 && rc == -1) {
		qc_lost(s);
		return;
	}
	session_process(s);
}

/*
 * A write error is left for the read side to notice (EOF follows), so
 * that the session is never torn down from inside a command handler.
 */
static void
qc_flush(struct session *s)
{
	switch (sock_write_buf(s->qfd, &s->qout)) {
	case 1:
		event_mod(s->sd->loop, s->qfd, EV_READ | EV_WRITE);
		return;
	case -1:
		buf_reset(&s->qout);
		break;
	}
	event_mod(s->sd->loop, s->qfd, EV_READ);
}

/*
 * qmgr went away mid-transaction: nothing was queued.  In DATA we go on
 * reading (and dropping) the message to its end, so that its lines are
 * never taken for commands, and answer 451 there.
 */
static void
qc_lost(struct session *s)
{
	enum smtpd_wait	 w = s->waiting;

	log_warnx("%s: lost connection to the queue manager",
	    s->id[0] ? s->id : "NOQUEUE");
	if (w == W_NONE && (s->data_mode || s->bdat)) {
		qc_close(s);
		s->dflags |= DATA_LOST;
	} else {
		session_reset_tx(s);
		if (w != W_NONE)
			session_reply(s, "451 4.3.0 Error: queue manager "
			    "unavailable, try again later");
	}
	session_process(s);
}
