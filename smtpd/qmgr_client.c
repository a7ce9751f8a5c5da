/*
 * qmgr_client: smtpd's channel to the queue manager on private/qmgr, one
 * per mail transaction.  Writes are buffered and non-blocking; a full
 * buffer pauses the client (session.c), so a fast client cannot make
 * smtpd hold more than SMTPD_QOUT_HIGH bytes for it.
 *
 * A channel whose transaction is over is kept for the next one, up to
 * smtpd_qmgr_idle_channels of them: a connect, an accept and their
 * bookkeeping saved per message on both sides.  qmgr serves transactions
 * one after another on a connection; one left open is ended with ABORT
 * first, which has no reply.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "log.h"
#include "proto.h"
#include "smtpd.h"
#include "sock.h"

static void	 qc_io(int, int, void *);
static void	 qc_flush(struct session *);
static void	 qc_lost(struct session *);
static void	 qc_idle_io(int, int, void *);
static int	 qc_idle_take(struct smtpd *);

int
qc_open(struct session *s)
{
	int	 fd;

	if ((fd = qc_idle_take(s->sd)) != -1) {
		event_set_handler(s->sd->loop, fd, qc_io, s);
		s->qfd = fd;
		s->qtx = 0;
		buf_reset(&s->qin);
		buf_reset(&s->qout);
		return 0;
	}
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
	s->qtx = 0;
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
	s->qtx = 0;
	buf_reset(&s->qin);
	buf_reset(&s->qout);
}

/*
 * Done with the channel: kept for another transaction if nothing is owed
 * on it in either direction, closed otherwise (qmgr then discards an
 * unfinished file, as it would for a vanished smtpd).
 */
void
qc_release(struct session *s)
{
	struct smtpd	*sd = s->sd;
	size_t		 max = (size_t)sd->conf->smtpd_qmgr_idle_channels;
	int		*n;

	if (s->qfd == -1)
		return;
	if (s->waiting != W_NONE || s->data_mode == DM_PUMP ||
	    s->atrn_fd != -1 || sd->stopping || sd->nqpool >= max) {
		qc_close(s);
		return;
	}
	if (s->qtx) {
		qc_send(s, PROTO_ABORT, NULL, 0);
		s->qtx = 0;
	}
	if (s->qout.len > 0) {
		qc_close(s);
		return;
	}
	if ((n = reallocarray(sd->qpool, sd->nqpool + 1, sizeof(*n))) == NULL) {
		qc_close(s);
		return;
	}
	sd->qpool = n;
	sd->qpool[sd->nqpool++] = s->qfd;
	event_set_handler(sd->loop, s->qfd, qc_idle_io, sd);
	(void)event_mod(sd->loop, s->qfd, EV_READ);
	s->qfd = -1;
	buf_reset(&s->qin);
	buf_reset(&s->qout);
}

/* An idle channel has nothing to say: EOF or data means it is done. */
static void
qc_idle_io(int fd, int events, void *arg)
{
	struct smtpd	*sd = arg;
	size_t		 i;

	(void)events;
	for (i = 0; i < sd->nqpool; i++)
		if (sd->qpool[i] == fd) {
			sd->qpool[i] = sd->qpool[--sd->nqpool];
			break;
		}
	event_del(sd->loop, fd);
	close(fd);
}

/*
 * The most recently idled channel that qmgr has not closed meanwhile
 * (a restarted qmgr closes them all; its EOF may not have been read yet).
 */
static int
qc_idle_take(struct smtpd *sd)
{
	char	 c;
	int	 fd;

	while (sd->nqpool > 0) {
		fd = sd->qpool[--sd->nqpool];
		if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
		    errno == EAGAIN)
			return fd;
		event_del(sd->loop, fd);
		close(fd);
	}
	return -1;
}

/* A record for qmgr, held until the next qc_send. */
void
qc_put(struct session *s, int type, const void *p, size_t len)
{
	if (s->qfd == -1)
		return;
	if (record_put(&s->qout, type, p, len) == -1)
		log_fatal("qc_put");
}

void
qc_send(struct session *s, int type, const void *p, size_t len)
{
	if (s->qfd == -1)
		return;
	qc_put(s, type, p, len);
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
	if (w == W_MILTER) {
		/* qmgr's answer is what the filters' continuation needs. */
		mc_cancel(s);
		w = W_NONE;
		session_reply(s, "451 4.3.0 Error: queue manager unavailable, "
		    "try again later");
	}
	qc_close(s);
	if (w == W_NONE && (s->data_mode || s->bdat))
		s->dflags |= DATA_LOST;
	else {
		session_reset_tx(s);
		if (w != W_NONE)
			session_reply(s, "451 4.3.0 Error: queue manager "
			    "unavailable, try again later");
	}
	session_process(s);
}
