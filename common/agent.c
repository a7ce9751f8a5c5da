/* agent: the job side of the delivery agents' channel to qmgr. */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "agent.h"
#include "log.h"
#include "proto.h"
#include "record.h"
#include "service.h"
#include "sock.h"

static volatile sig_atomic_t agent_stop;

static void
agent_on_term(int signo)
{
	(void)signo;
	agent_stop = 1;
}

static void	(*agent_tick_fn)(void *);
static void	*agent_tick_arg;
static int	 agent_tick_ms = -1;

void
agent_set_tick(int seconds, void (*fn)(void *), void *arg)
{
	agent_tick_fn = fn;
	agent_tick_arg = arg;
	agent_tick_ms = seconds * 1000;
}

void
agent_loop(struct service *svc, uid_t queue_uid,
    void (*serve)(int, void *), void *arg)
{
	struct sigaction	 sa;
	struct epoll_event	 ev, evs[2];
	char			 c;
	int			 ep, fd, i, r, master_gone = 0, job;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = agent_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);	/* no SA_RESTART: epoll returns */
	/*
	 * A new connection wakes one waiting process of the service
	 * (EPOLLEXCLUSIVE), not all of them: with poll, every job woke the
	 * four local and twenty relay processes, and all but one lost the
	 * accept.  The socket stays non-blocking all the same: a process
	 * that lost a race must not wait in accept, where it would miss its
	 * ticks (idle delivery children not reaped) until the next job.
	 */
	if (sock_nonblock(svc->listen_fd) == -1)
		log_fatal("listen socket");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		log_fatal("epoll_create1");
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.fd = svc->listen_fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, svc->listen_fd, &ev) == -1) {
		/* Linux before 4.5: every process wakes, as with poll. */
		ev.events = EPOLLIN;
		if (errno != EINVAL ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, svc->listen_fd, &ev) == -1)
			log_fatal("epoll_ctl");
	}
	if (svc->master_fd != -1) {
		ev.events = EPOLLIN;
		ev.data.fd = svc->master_fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, svc->master_fd, &ev) == -1)
			log_fatal("epoll_ctl");
	}
	while (!agent_stop && !master_gone) {
		if ((r = epoll_wait(ep, evs, 2, agent_tick_ms)) == -1) {
			if (errno == EINTR)
				continue;
			log_fatal("epoll_wait");
		}
		if (r == 0) {
			agent_tick_fn(agent_tick_arg);
			continue;
		}
		job = 0;
		for (i = 0; i < r; i++) {
			if (evs[i].data.fd == svc->listen_fd)
				job = 1;
			else if (read(svc->master_fd, &c, 1) <= 0)
				master_gone = 1;
		}
		if (!job || master_gone)
			continue;
		/*
		 * Every job already waiting, not only one: a wake-up may
		 * stand for several connections while the other processes
		 * sleep on.
		 */
		while (!agent_stop) {
			if ((fd = accept4(svc->listen_fd, NULL, NULL,
			    SOCK_CLOEXEC)) == -1) {
				if (errno != EINTR && errno != EAGAIN &&
				    errno != ECONNABORTED)
					log_warn("accept");
				break;
			}
			if (agent_peer_trusted(fd, queue_uid))
				serve(fd, arg);
			close(fd);
		}
	}
	close(ep);
}

static int
agent_add_rcpt(struct agent_job *job, const char *idx, const char *addr,
    const char *params)
{
	char	**r, **x, **p;

	if (job->n >= AGENT_MAX_RCPT)
		return -1;
	if ((r = reallocarray(job->rcpt, job->n + 1, sizeof(*r))) != NULL)
		job->rcpt = r;
	if ((x = reallocarray(job->index, job->n + 1, sizeof(*x))) != NULL)
		job->index = x;
	if ((p = reallocarray(job->rparams, job->n + 1, sizeof(*p))) != NULL)
		job->rparams = p;
	if (r == NULL || x == NULL || p == NULL)
		return -1;
	job->rcpt[job->n] = strdup(addr);
	job->index[job->n] = strdup(idx);
	job->rparams[job->n] = strdup(params);
	if (!job->rcpt[job->n] || !job->index[job->n] ||
	    !job->rparams[job->n]) {
		free(job->rcpt[job->n]);
		free(job->index[job->n]);
		free(job->rparams[job->n]);
		return -1;
	}
	job->n++;
	return 0;
}

int
agent_read_job(int fd, struct agent_job *job)
{
	struct buf	 in;
	struct record	 r;
	const char	*f[6];
	char		*end;
	size_t		 total;
	ssize_t		 n;
	int		 rc, passed[SOCK_MAX_FDS], npassed, k;

	memset(job, 0, sizeof(*job));
	job->qfd = -1;
	job->conn_fd = -1;
	buf_init(&in, RECORD_MAX + RECORD_HDR);
	for (;;) {
		while ((rc = record_peek(&in, &r, &total)) == 1) {
			switch (r.type) {
			case PROTO_JOB:
				if (job->sender || record_fields(&r, f, 6) ==
				    -1 || job->qfd == -1)
					goto bad;
				strlcpy(job->id, f[0], sizeof(job->id));
				job->sender = strdup(f[1]);
				job->params = strdup(f[3]);
				job->transport = strdup(f[4]);
				job->nexthop = strdup(f[5]);
				if (!job->sender || !job->params ||
				    !job->transport || !job->nexthop)
					goto bad;
				job->content_off = strtoll(f[2], &end, 10);
				if (*end || job->content_off < 0)
					goto bad;
				break;
			case PROTO_RCPT:
				if (!job->sender || record_fields(&r, f, 3) ==
				    -1 || agent_add_rcpt(job, f[0], f[1], f[2])
				    == -1)
					goto bad;
				break;
			case PROTO_GO:
				buf_free(&in);
				return job->sender ? 0 : -1;
			default:
				goto bad;
			}
			buf_consume(&in, total);
		}
		if (rc == -1 || buf_reserve(&in, 4096) == -1)
			goto bad;
		n = sock_recv_fds(fd, in.data + in.len, in.cap - in.len - 1,
		    passed, &npassed);
		if (npassed > 0) {
			if (job->qfd != -1) {
				for (k = 0; k < npassed; k++)
					close(passed[k]);
				goto bad;
			}
			job->qfd = passed[0];
			if (npassed > 1)
				job->conn_fd = passed[1];
		}
		if (n <= 0) {
			if (n == -1)
				log_warn("read job");
			buf_free(&in);
			return -1;
		}
		in.len += (size_t)n;
	}
bad:
	log_warnx("malformed job from qmgr");
	buf_free(&in);
	return -1;
}

void
agent_free_job(struct agent_job *job)
{
	size_t	 i;

	for (i = 0; i < job->n; i++) {
		free(job->rcpt[i]);
		free(job->index[i]);
		free(job->rparams[i]);
	}
	free(job->rcpt);
	free(job->index);
	free(job->rparams);
	free(job->sender);
	free(job->params);
	free(job->transport);
	free(job->nexthop);
	if (job->qfd != -1)
		close(job->qfd);
	if (job->conn_fd != -1)
		close(job->conn_fd);
	memset(job, 0, sizeof(*job));
	job->qfd = -1;
	job->conn_fd = -1;
}

/*
 * private/ sockets are reachable by every posthorn daemon; only qmgr may
 * hand out jobs, so that a subverted smtpd cannot forge deliveries.
 */
int
agent_peer_trusted(int fd, uid_t queue_uid)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("SO_PEERCRED");
		return 0;
	}
	if (cred.uid == queue_uid || cred.uid == 0)
		return 1;
	log_warnx("refusing a job from uid %ld pid %ld: only the queue "
	    "manager (uid %ld) may send jobs", (long)cred.uid, (long)cred.pid,
	    (long)queue_uid);
	return 0;
}

/*
 * A job whose qmgr has gone away could not have its result recorded, and
 * the next qmgr will send it again: delivering it now would only make a
 * duplicate.
 */
int
agent_peer_alive(int fd, const char *id)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = POLLRDHUP;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP))) {
		log_warnx("%s: queue manager went away before delivery; "
		    "job dropped, it will be retried", id);
		return 0;
	}
	return 1;
}

int
agent_status(int fd, const char *index, char code, const char *status,
    const char *text, const char *relay)
{
	struct buf	 out;
	char		 c[2] = { code, '\0' };
	int		 rc;

	buf_init(&out, 0);
	record_putf(&out, PROTO_STATUS, index, c, status, text, relay, NULL);
	rc = io_write_all(fd, out.data, out.len);
	buf_free(&out);
	return rc;
}

int
agent_forward(int fd, const char *index, const char *addr)
{
	struct buf	 out;
	int		 rc;

	buf_init(&out, 0);
	record_putf(&out, PROTO_FORWARD, index, addr, NULL);
	rc = io_write_all(fd, out.data, out.len);
	buf_free(&out);
	return rc;
}

int
agent_done(int fd, int reuse)
{
	unsigned char	 hdr[RECORD_HDR + 1];

	record_hdr(hdr, PROTO_DONE, reuse ? 1 : 0);
	hdr[RECORD_HDR] = '1';
	return io_write_all(fd, hdr, RECORD_HDR + (reuse ? 1 : 0));
}
