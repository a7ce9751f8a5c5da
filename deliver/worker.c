/*
 * worker: the children that deliver with a destination's rights.  A
 * child becomes one owner (uid, gid and, for a spool mbox, the spool's
 * group) and then serves deliveries for that owner only, one request at
 * a time over a SOCK_SEQPACKET pair, until it has served
 * local_worker_max_use of them or has waited local_worker_idle_time for
 * the next.  The fork and the change of rights are paid once per owner,
 * not once per copy; what a child can reach is exactly what a child per
 * copy could: its owner's files, and the queue files of its owner's mail.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/unistd.h>
#include <bsd/string.h>

#include "local.h"
#include "log.h"
#include "sock.h"

#define WORKER_FD	3	/* the child's end of its pair */

struct worker {
	pid_t	 pid;
	int	 fd;
	uid_t	 uid;
	gid_t	 gid;
	int	 spool;
	long	 uses;
	time_t	 idle_since;
};

/* One request: the destination and the message, the queue file attached. */
struct worker_req {
	struct dest	 d;
	char		 id[32];
	char		 sender[ADDR_MAX + 1];
	off_t		 content_off;
	int		 crlf;
};

static struct worker	*workers;
static size_t		 nworkers;

static struct worker	*worker_find(const struct conf *, const struct dest *);
static struct worker	*worker_spawn(const struct conf *, const struct dest *,
			    char *, size_t);
static void		 worker_drop(struct worker *);
static int		 worker_usable(struct worker *);
static void		 worker_main(const struct conf *, const struct dest *)
			    __attribute__((noreturn));
static int		 worker_send(struct worker *, const struct worker_req *,
			    int qfd);

/*
 * Send one delivery to the owner's child and return its reply, "C status
 * text", in reply (NUL-terminated; empty if the child said nothing in
 * time, and then it is gone).  -1 with err set if no child could take it.
 */
int
worker_deliver(const struct conf *conf, const struct local_msg *msg,
    const struct dest *d, char *reply, size_t replylen, char *err,
    size_t errlen)
{
	static struct worker_req req;	/* about 14 KiB: not on the stack */
	struct worker	*w;
	struct pollfd	 pfd;
	time_t		 deadline, left;
	ssize_t		 n;
	int		 r;

	reply[0] = '\0';
	memset(&req, 0, sizeof(req));
	req.d = *d;
	strlcpy(req.id, msg->id, sizeof(req.id));
	if (strlcpy(req.sender, msg->sender, sizeof(req.sender)) >=
	    sizeof(req.sender)) {
		snprintf(err, errlen, "sender address too long");
		return -1;
	}
	req.content_off = msg->content_off;
	req.crlf = strcmp(msg->eol, "\r\n") == 0;

	worker_expire(conf);
	if ((w = worker_find(conf, d)) != NULL && (!worker_usable(w) ||
	    worker_send(w, &req, msg->qfd) == -1)) {
		/* Gone or stopped (by its owner, say): a fresh one, once. */
		worker_drop(w);
		w = NULL;
	}
	if (w == NULL) {
		if ((w = worker_spawn(conf, d, err, errlen)) == NULL)
			return -1;
		if (worker_send(w, &req, msg->qfd) == -1) {
			snprintf(err, errlen, "cannot reach the delivery "
			    "process: %s", strerror(errno));
			worker_drop(w);
			return -1;
		}
	}
	/*
	 * The child runs as the recipient, who may signal it (SIGSTOP): the
	 * root process never waits on it without a deadline.
	 */
	deadline = time(NULL) + 2 * conf->command_time_limit + 10;
	pfd.fd = w->fd;
	pfd.events = POLLIN;
	for (;;) {
		left = deadline - time(NULL);
		r = left <= 0 ? 0 : poll(&pfd, 1, (int)left * 1000);
		if (r == -1 && errno == EINTR)
			continue;	/* SIGTERM: finish this job first */
		if (r <= 0) {
			n = 0;
			break;
		}
		n = recv(w->fd, reply, replylen - 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		break;
	}
	if (n <= 0) {
		reply[0] = '\0';
		worker_drop(w);
		return 0;
	}
	reply[n] = '\0';
	w->idle_since = time(NULL);
	if (++w->uses >= conf->local_worker_max_use)
		worker_drop(w);
	return 0;
}

/* Let go of the children that have waited too long (or all: limit 0). */
void
worker_expire(const struct conf *conf)
{
	time_t	 now = time(NULL);
	size_t	 i;

	/* Half the child's own limit: it never quits under a request. */
	for (i = 0; i < nworkers; i++)
		if (workers[i].pid > 0 && (conf == NULL ||
		    (now - workers[i].idle_since) * 2 >=
		    conf->local_worker_idle_time))
			worker_drop(&workers[i]);
}

static struct worker *
worker_find(const struct conf *conf, const struct dest *d)
{
	size_t	 i;

	(void)conf;
	for (i = 0; i < nworkers; i++)
		if (workers[i].pid > 0 && workers[i].uid == d->uid &&
		    workers[i].gid == d->gid && workers[i].spool == d->spool)
			return &workers[i];
	return NULL;
}

static struct worker *
worker_spawn(const struct conf *conf, const struct dest *d, char *err,
    size_t errlen)
{
	struct worker	*w = NULL, *oldest = NULL;
	size_t		 i;
	int		 sv[2];
	pid_t		 pid;

	if (workers == NULL) {
		nworkers = (size_t)conf->local_worker_limit;
		if ((workers = calloc(nworkers, sizeof(*workers))) == NULL) {
			nworkers = 0;
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
	}
	for (i = 0; i < nworkers && w == NULL; i++) {
		if (workers[i].pid <= 0)
			w = &workers[i];
		else if (oldest == NULL ||
		    workers[i].idle_since < oldest->idle_since)
			oldest = &workers[i];
	}
	if (w == NULL) {
		worker_drop(oldest);
		w = oldest;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return NULL;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0) {
		close(sv[0]);
		if (dup2(sv[1], WORKER_FD) == -1)
			_exit(1);
		closefrom(WORKER_FD + 1);
		worker_main(conf, d);
	}
	close(sv[1]);
	memset(w, 0, sizeof(*w));
	w->pid = pid;
	w->fd = sv[0];
	w->uid = d->uid;
	w->gid = d->gid;
	w->spool = d->spool;
	w->idle_since = time(NULL);
	return w;
}

/* Neither exited nor stopped since its last reply? */
static int
worker_usable(struct worker *w)
{
	int	 st;
	pid_t	 r;

	r = waitpid(w->pid, &st, WNOHANG | WUNTRACED);
	if (r == 0)
		return 1;
	if (r == w->pid && !WIFSTOPPED(st)) {
		/* Already reaped: nothing left to kill. */
		close(w->fd);
		w->pid = 0;
		w->fd = -1;
	}
	return 0;
}

/* It may be stopped by its owner: kill, never just wait. */
static void
worker_drop(struct worker *w)
{
	if (w->pid <= 0)
		return;
	close(w->fd);
	(void)kill(w->pid, SIGKILL);
	while (waitpid(w->pid, NULL, 0) == -1 && errno == EINTR)
		;
	w->pid = 0;
	w->fd = -1;
}

static int
worker_send(struct worker *w, const struct worker_req *req, int qfd)
{
	ssize_t	 n;

	do
		n = sock_send_fd(w->fd, req, sizeof(*req), qfd);
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)sizeof(*req) ? 0 : -1;
}

/* The child: become the owner, then deliver what comes, as it comes. */
static void
worker_main(const struct conf *conf, const struct dest *owner)
{
	static struct worker_req req;
	struct local_msg msg;
	struct pollfd	 pfd;
	char		 out[600], berr[512];
	ssize_t		 n;
	int		 qfd, r, ok;

	signal(SIGTERM, SIG_DFL);	/* the parent finishes; we just go */
	ok = deliver_become(conf, owner, berr, sizeof(berr)) == 0;
	pfd.fd = WORKER_FD;
	pfd.events = POLLIN;
	for (;;) {
		r = poll(&pfd, 1, (int)conf->local_worker_idle_time * 1000);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(0);
		n = sock_recv_fd(WORKER_FD, &req, sizeof(req), &qfd);
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(req) || qfd == -1) {
			if (qfd != -1)
				close(qfd);
			_exit(n == 0 ? 0 : 1);
		}
		/* Only the owner this child became. */
		if (req.d.uid != owner->uid || req.d.gid != owner->gid ||
		    req.d.spool != owner->spool)
			_exit(1);
		req.id[sizeof(req.id) - 1] = '\0';
		req.sender[sizeof(req.sender) - 1] = '\0';
		memset(&msg, 0, sizeof(msg));
		strlcpy(msg.id, req.id, sizeof(msg.id));
		msg.sender = req.sender;
		msg.qfd = qfd;
		msg.content_off = req.content_off;
		msg.eol = req.crlf ? "\r\n" : "\n";
		if (ok)
			deliver_as_owner(conf, &msg, &req.d, out, sizeof(out));
		else
			snprintf(out, sizeof(out), "T 4.3.0 %s", berr);
		close(qfd);
		if (send(WORKER_FD, out, strlen(out), MSG_NOSIGNAL) == -1)
			_exit(1);
	}
}
