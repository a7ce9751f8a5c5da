/*
 * admin: the administrator's channel to qmgr, public/qmgr.  master makes
 * public/ (group queue_admin_group, setgid) and qmgr binds the socket in
 * it, mode 0660: only root and that group reach it.  One request per
 * connection (see proto.h): LIST and SHOW stream what qmgr reads from
 * its own files; ADMIN deletes, holds, releases or requeues; FLUSH is
 * posthorn-queue flush.  The tools never open a queue file.
 *
 * A list is made in steps: the names first (a walk of the folders),
 * then a batch of envelopes each time the client has read the previous
 * ones, so that a long queue neither blocks delivery nor fills memory.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "proto.h"
#include "qmgr.h"
#include "record.h"
#include "sock.h"

#define ADMIN_BATCH	64		/* envelopes per turn of the loop */
#define ADMIN_OUT_HIGH	(256 * 1024)	/* unread output before we wait */

struct admin_item {
	char		 id[QUEUEID_LEN + 1];
	char		 queue;		/* 'A'ctive, 'D'eferred, 'H'old */
};

struct admin {
	struct qmgr	*q;
	int		 fd;
	struct buf	 in, out;
	uid_t		 uid;
	struct admin_item *items;	/* LIST: still to send */
	size_t		 nitems, next, cap;
	long		 nlisted;
	long long	 bytes;
	int		 done;		/* close once out is written */
};

static void	 admin_accept(int, int, void *);
static void	 admin_io(int, int, void *);
static void	 admin_close(struct admin *);
static int	 admin_request(struct admin *, const struct record *);
static void	 admin_list_step(struct admin *);
static int	 admin_collect(struct qmgr *, const char *, const char *, int,
		    void *);
static int	 admin_item(struct admin *, const char *id, char queue,
		    int content);
static int	 admin_find(const char *id, char *path, size_t, char *queue);
static long	 admin_op(struct admin *, const char *op, const char *arg,
		    const char *flags, struct buf *why);
static int	 admin_one(struct qmgr *, const char *op, const char *id,
		    char queue, struct buf *why);
static int	 admin_op_each(struct qmgr *, const char *, const char *, int,
		    void *);

/* Bind public/qmgr (once the queue lock is ours) and take connections. */
void
admin_init(struct qmgr *q)
{
	int	 fd;

	if ((fd = sock_unix_listen(QMGR_ADMIN_SOCKET, 16)) == -1) {
		log_warn("listen %s (the queue tools will not work)",
		    QMGR_ADMIN_SOCKET);
		return;
	}
	if (chmod(QMGR_ADMIN_SOCKET, geteuid() == 0 || getuid() == 0 ? 0660 :
	    0600) == -1)
		log_warn("chmod %s", QMGR_ADMIN_SOCKET);
	sock_nonblock(fd);
	if (event_add(q->loop, fd, EV_READ, admin_accept, q) == -1)
		log_fatal("event_add");
	q->admin_fd = fd;
}

void
admin_stop(struct qmgr *q)
{
	if (q->admin_fd > 0) {
		event_del(q->loop, q->admin_fd);
		close(q->admin_fd);
		q->admin_fd = -1;
	}
}

static void
admin_accept(int lfd, int events, void *arg)
{
	struct qmgr	*q = arg;
	struct admin	*a;
	struct ucred	 cr;
	socklen_t	 len = sizeof(cr);
	int		 fd;

	(void)events;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1)
		return;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		close(fd);
		return;
	}
	a->q = q;
	a->fd = fd;
	a->uid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 ?
	    cr.uid : (uid_t)-1;
	buf_init(&a->in, RECORD_MAX + RECORD_HDR);
	buf_init(&a->out, 0);
	if (event_add(q->loop, fd, EV_READ, admin_io, a) == -1) {
		close(fd);
		free(a);
	}
}

static void
admin_io(int fd, int events, void *arg)
{
	struct admin	*a = arg;
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 rc;

	if (events & EV_READ) {
		if ((n = sock_read_buf(fd, &a->in)) == 0 ||
		    (n == -1 && errno != EAGAIN)) {
			admin_close(a);
			return;
		}
		if ((rc = record_peek(&a->in, &r, &total)) == -1 ||
		    (rc == 1 && admin_request(a, &r) == -1)) {
			admin_close(a);
			return;
		}
		if (rc == 1) {
			buf_consume(&a->in, total);
			/* One request per connection: no more reading. */
			event_mod(a->q->loop, fd, EV_WRITE);
		}
	}
	if (a->items && a->out.len < ADMIN_OUT_HIGH)
		admin_list_step(a);
	switch (sock_write_buf(fd, &a->out)) {
	case -1:
		admin_close(a);
		return;
	case 1:
		return;
	}
	if (a->done && a->items == NULL)
		admin_close(a);
}

static void
admin_close(struct admin *a)
{
	event_del(a->q->loop, a->fd);
	close(a->fd);
	buf_free(&a->in);
	buf_free(&a->out);
	free(a->items);
	free(a);
}

static int
admin_request(struct admin *a, const struct record *r)
{
	const char	*f[3];
	char		 n[32];
	struct buf	 why;
	long		 count;
	int		 qu;

	switch (r->type) {
	case PROTO_LIST:
		for (qu = 0; qu < 3; qu++)
			(void)qdir_each(a->q, qu == 0 ? Q_ACTIVE : qu == 1 ?
			    Q_DEFERRED : Q_HOLD, admin_collect, a);
		if (a->items == NULL)	/* empty: the summary at once */
			record_putf(&a->out, PROTO_OK, "0", "0", NULL);
		a->done = 1;
		return 0;
	case PROTO_SHOW: {
		char	 path[64], queue;

		if (record_fields(r, f, 1) == -1 || !queueid_valid(f[0]))
			return -1;
		if (admin_find(f[0], path, sizeof(path), &queue) == -1 ||
		    admin_item(a, f[0], queue, 1) == -1)
			record_putf(&a->out, PROTO_FAIL, "no such message in "
			    "the queue", NULL);
		else
			record_putf(&a->out, PROTO_OK, "1", "0", NULL);
		a->done = 1;
		return 0;
	}
	case PROTO_ADMIN:
		if (record_fields(r, f, 3) == -1)
			return -1;
		buf_init(&why, 256);
		count = admin_op(a, f[0], f[1], f[2], &why);
		if (count < 0)
			record_putf(&a->out, PROTO_FAIL, buf_cstr(&why), NULL);
		else {
			snprintf(n, sizeof(n), "%ld", count);
			record_putf(&a->out, PROTO_OK, n, NULL);
		}
		buf_free(&why);
		a->done = 1;
		return 0;
	case PROTO_FLUSH:
		if (record_fields(r, f, 3) == -1 || strlen(f[0]) > 255 ||
		    strspn(f[0], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
		    "QRSTUVWXYZ0123456789.-_") != strlen(f[0]))
			return -1;
		count = flush_queue(a->q, f[0][0] ? f[0] : NULL,
		    strcmp(f[1], "1") == 0);
		log_info("flush of %s%s requested (uid %ld): %ld message%s "
		    "started", f[0][0] ? f[0] : "the whole deferred queue",
		    f[0][0] && strcmp(f[1], "1") == 0 ? " and its subdomains" :
		    "", (long)a->uid, count, count == 1 ? "" : "s");
		snprintf(n, sizeof(n), "%ld", count);
		record_putf(&a->out, PROTO_OK, n, NULL);
		a->done = 1;
		return 0;
	default:
		log_warnx("admin: unknown request 0x%02x", r->type);
		return -1;
	}
}

static int
admin_collect(struct qmgr *q, const char *dir, const char *name, int sub,
    void *arg)
{
	struct admin	*a = arg;
	struct admin_item *n;

	(void)q;
	(void)sub;
	if (!queueid_valid(name))
		return 0;
	if (a->nitems == a->cap) {
		if ((n = reallocarray(a->items, a->cap ? a->cap * 2 : 256,
		    sizeof(*n))) == NULL)
			return -1;
		a->items = n;
		a->cap = a->cap ? a->cap * 2 : 256;
	}
	strlcpy(a->items[a->nitems].id, name, sizeof(a->items[0].id));
	a->items[a->nitems].queue = strncmp(dir, Q_ACTIVE, strlen(Q_ACTIVE)) ==
	    0 ? 'A' : strncmp(dir, Q_HOLD, strlen(Q_HOLD)) == 0 ? 'H' : 'D';
	a->nitems++;
	return 0;
}

/* The next batch of a LIST; the summary after the last. */
static void
admin_list_step(struct admin *a)
{
	char	 n[32], b[32];
	size_t	 k;

	for (k = 0; k < ADMIN_BATCH && a->next < a->nitems; k++, a->next++)
		if (admin_item(a, a->items[a->next].id,
		    a->items[a->next].queue, 0) == 0)
			a->nlisted++;
	if (a->next < a->nitems)
		return;
	snprintf(n, sizeof(n), "%ld", a->nlisted);
	snprintf(b, sizeof(b), "%lld", a->bytes);
	record_putf(&a->out, PROTO_OK, n, b, NULL);
	free(a->items);
	a->items = NULL;
}

/*
 * One message: ITEM (id, queue, arrival, size, sender, client), a RCPT
 * per recipient (address, state, DSN status, last reason, its time),
 * and for SHOW its content in DATA records.  -1 if it is gone.
 */
static int
admin_item(struct admin *a, const char *id, char queue, int content)
{
	struct qf_env	 env;
	char		 path[64], err[256], t[32], sz[32], dt[32], st[2];
	char		 chunk[QF_CHUNK];
	const char	*dir = queue == 'A' ? Q_ACTIVE : queue == 'H' ? Q_HOLD :
			    Q_DEFERRED;
	off_t		 off;
	ssize_t		 n;
	size_t		 i;
	int		 fd;

	qf_path(path, sizeof(path), dir, id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;	/* delivered or moved meanwhile */
	if (qf_read_env(fd, &env, err, sizeof(err)) == -1) {
		close(fd);
		return -1;
	}
	snprintf(t, sizeof(t), "%lld", (long long)env.arrival);
	snprintf(sz, sizeof(sz), "%lld", (long long)env.content_size);
	st[0] = queue;
	st[1] = '\0';
	record_putf(&a->out, PROTO_ITEM, id, st, t, sz, env.sender,
	    env.client ? env.client : "", NULL);
	a->bytes += env.content_size;
	for (i = 0; i < env.nrcpt; i++) {
		st[0] = env.rcpt[i].state;
		snprintf(dt, sizeof(dt), "%lld",
		    (long long)env.rcpt[i].defer_time);
		record_putf(&a->out, PROTO_RCPT, env.rcpt[i].addr, st,
		    env.rcpt[i].defer_dsn, env.rcpt[i].defer_text ?
		    env.rcpt[i].defer_text : "", dt, NULL);
	}
	if (content) {
		off = env.content_off;
		while ((n = qf_read_content(fd, &off, chunk, sizeof(chunk))) >
		    0)
			record_put(&a->out, PROTO_DATA, chunk, (size_t)n);
	}
	qf_env_free(&env);
	close(fd);
	return 0;
}

/* Where a message is now: 0 with its path and queue letter, or -1. */
static int
admin_find(const char *id, char *path, size_t len, char *queue)
{
	static const struct { const char *dir; char q; } where[] = {
		{ Q_ACTIVE, 'A' }, { Q_DEFERRED, 'D' }, { Q_HOLD, 'H' } };
	struct stat	 st;
	size_t		 i;

	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		qf_path(path, len, where[i].dir, id);
		if (stat(path, &st) == 0) {
			*queue = where[i].q;
			return 0;
		}
	}
	return -1;
}

struct admin_all {
	const char	*op;
	long		 count;
	struct buf	*why;
};

/*
 * delete, hold, release or requeue one ID or ALL: the number of
 * messages it applied to, or -1 with why.
 */
static long
admin_op(struct admin *a, const char *op, const char *arg,
    const char *flags, struct buf *why)
{
	struct admin_all all;
	char		 path[64], queue;
	int		 rc;

	if (strcmp(op, "delete") != 0 && strcmp(op, "hold") != 0 &&
	    strcmp(op, "release") != 0 && strcmp(op, "requeue") != 0) {
		buf_printf(why, "unknown operation %s", op);
		return -1;
	}
	if (a->q->stopping) {
		buf_printf(why, "the queue manager is stopping");
		return -1;
	}
	if (strcmp(arg, "ALL") == 0) {
		all.op = op;
		all.count = 0;
		all.why = why;
		/* Each operation applies to the queues it makes sense for. */
		if (strcmp(op, "release") == 0)
			(void)qdir_each(a->q, Q_HOLD, admin_op_each, &all);
		else {
			(void)qdir_each(a->q, Q_DEFERRED, admin_op_each, &all);
			if (strcmp(op, "delete") == 0 && strcmp(flags,
			    "deferred") != 0) {
				(void)qdir_each(a->q, Q_HOLD, admin_op_each,
				    &all);
				(void)qdir_each(a->q, Q_ACTIVE, admin_op_each,
				    &all);
			} else if (strcmp(op, "hold") == 0)
				(void)qdir_each(a->q, Q_ACTIVE, admin_op_each,
				    &all);
		}
		log_info("%s ALL%s (uid %ld): %ld message%s", op,
		    strcmp(flags, "deferred") == 0 ? " deferred" : "",
		    (long)a->uid, all.count, all.count == 1 ? "" : "s");
		return all.count;
	}
	if (!queueid_valid(arg) || admin_find(arg, path, sizeof(path),
	    &queue) == -1) {
		buf_printf(why, "%s: no such message in the queue", arg);
		return -1;
	}
	/* For one message, "not applicable" is an error (why says so). */
	if ((rc = admin_one(a->q, op, arg, queue, why)) == 0)
		return -1;
	if (rc == 1)
		log_info("%s: %s by the administrator (uid %ld)", arg,
		    strcmp(op, "delete") == 0 ? "deleted" : strcmp(op, "hold") ==
		    0 ? "put on hold" : strcmp(op, "release") == 0 ? "released" :
		    "requeued", (long)a->uid);
	return rc < 0 ? -1 : rc;
}

static int
admin_op_each(struct qmgr *q, const char *dir, const char *name, int sub,
    void *arg)
{
	struct admin_all *all = arg;
	char		 queue;

	(void)sub;
	if (!queueid_valid(name))
		return 0;
	queue = strncmp(dir, Q_ACTIVE, strlen(Q_ACTIVE)) == 0 ? 'A' :
	    strncmp(dir, Q_HOLD, strlen(Q_HOLD)) == 0 ? 'H' : 'D';
	if (admin_one(q, all->op, name, queue, all->why) == 1)
		all->count++;
	return 0;
}

/* 1 done, 0 not applicable (e.g. release of a message not held), -1. */
static int
admin_one(struct qmgr *q, const char *op, const char *id, char queue,
    struct buf *why)
{
	char	 from[64], to[64];

	qf_path(from, sizeof(from), queue == 'A' ? Q_ACTIVE : queue == 'H' ?
	    Q_HOLD : Q_DEFERRED, id);
	if (queue == 'A') {
		/* Being delivered: it is done when its attempt ends. */
		if (strcmp(op, "delete") == 0 || strcmp(op, "hold") == 0) {
			if (sched_mark(q, id, op[0] == 'd' ? SCHED_MARK_DELETE :
			    SCHED_MARK_HOLD) == 0)
				return 1;
			/* Waiting to start: no job holds it yet. */
			if (op[0] == 'd') {
				if (unlink(from) == -1)
					goto fail;
				return 1;
			}
			qf_path(to, sizeof(to), Q_HOLD, id);
			if (rename(from, to) == -1)
				goto fail;
			return 1;
		}
		buf_printf(why, "%s: being delivered now", id);
		return strcmp(op, "requeue") == 0 ? 0 : -1;
	}
	if (strcmp(op, "delete") == 0) {
		if (unlink(from) == -1)
			goto fail;
		if (queue == 'D')
			dindex_remove(q, id);
		return 1;
	}
	if (strcmp(op, "hold") == 0) {
		if (queue == 'H')
			return 0;
		qf_path(to, sizeof(to), Q_HOLD, id);
		if (rename(from, to) == -1)
			goto fail;
		dindex_remove(q, id);
		return 1;
	}
	if (strcmp(op, "release") == 0 && queue != 'H') {
		buf_printf(why, "%s: not on hold", id);
		return 0;
	}
	if (strcmp(op, "requeue") == 0 && queue == 'H') {
		buf_printf(why, "%s: on hold (release it)", id);
		return 0;
	}
	/* release and requeue: an attempt now, routed with today's maps. */
	qf_path(to, sizeof(to), Q_ACTIVE, id);
	if (rename(from, to) == -1)
		goto fail;
	if (queue == 'D')
		dindex_remove(q, id);
	sched_enqueue(q, id);
	return 1;
fail:
	if (errno == ENOENT) {
		buf_printf(why, "%s: no longer in the queue", id);
		return 0;
	}
	log_warn("%s: %s", id, op);
	buf_printf(why, "%s: %s failed: %s", id, op, strerror(errno));
	return -1;
}
