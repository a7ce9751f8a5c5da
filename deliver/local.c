/*
 * local: the local delivery agent.  master keeps a few of these waiting on
 * private/local; qmgr connects once per message and sends the job with
 * the queue file's descriptor attached, so this process never opens the
 * queue.  Running as root it forks per job and the child becomes the
 * mailbox owner before it touches any mailbox.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "log.h"
#include "privsep.h"
#include "proto.h"
#include "record.h"
#include "service.h"
#include "sock.h"
#include "local.h"
#include "queuefile.h"

#define LOCAL_MAX_RCPT	100000
#define Q_OWNER_DIR	"active"	/* owned by the qmgr user */

struct local_job {
	struct local_msg msg;
	char		**rcpt;
	char		**index;
	size_t		 n;
};

static volatile sig_atomic_t local_stop;

static void	 local_on_term(int);
static void	 local_serve(struct service *, struct local_maps *, int);
static int	 local_read_job(int, struct local_job *);
static void	 local_run_job(struct service *, struct local_maps *, int,
		    struct local_job *);
static void	 local_deliver_all(struct service *, struct local_maps *, int,
		    struct local_job *);
static int	 local_peer_alive(int, struct local_job *);
static int	 local_peer_trusted(int, uid_t);
static void	 local_free_job(struct local_job *);
static void	 local_refresh(struct service *, struct local_maps *);

int
main(int argc, char **argv)
{
	struct service	 svc;
	struct local_maps maps;
	struct sigaction sa;
	struct pollfd	 pfd[2];
	char		 err[512], c;
	int		 fd;
	struct stat	 st;
	uid_t		 queue_uid;

	service_init(&svc, argc, argv, "local");
	memset(&maps, 0, sizeof(maps));
	if (svc.conf.alias_map[0] && (maps.aliases =
	    map_open(svc.conf.alias_map, err, sizeof(err))) == NULL)
		log_fatalx("alias_map: %s", err);
	if (svc.conf.virtual_mailbox_map[0] && (maps.mailboxes =
	    map_open(svc.conf.virtual_mailbox_map, err, sizeof(err))) == NULL)
		log_fatalx("virtual_mailbox_map: %s", err);
	/* Jobs are taken only from the queue's owner (qmgr) or root. */
	if (stat(Q_OWNER_DIR, &st) == -1)
		log_fatal("stat %s", Q_OWNER_DIR);
	queue_uid = st.st_uid;
	service_drop(&svc);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = local_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);	/* no SA_RESTART: poll returns */

	while (!local_stop) {
		pfd[0].fd = svc.listen_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = svc.master_fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, svc.master_fd == -1 ? 1 : 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_fatal("poll");
		}
		if (svc.master_fd != -1 && (pfd[1].revents & (POLLIN | POLLHUP))
		    && read(svc.master_fd, &c, 1) <= 0)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		if ((fd = accept4(svc.listen_fd, NULL, NULL, SOCK_CLOEXEC)) ==
		    -1) {
			if (errno != EINTR && errno != EAGAIN &&
			    errno != ECONNABORTED)
				log_warn("accept");
			continue;
		}
		if (!local_peer_trusted(fd, queue_uid)) {
			close(fd);
			continue;
		}
		local_refresh(&svc, &maps);
		local_serve(&svc, &maps, fd);
		close(fd);
	}
	return 0;
}

static void
local_on_term(int signo)
{
	(void)signo;
	local_stop = 1;
}

static void
local_refresh(struct service *svc, struct local_maps *maps)
{
	char	 err[512];

	(void)svc;
	if (maps->aliases && map_refresh(maps->aliases, err, sizeof(err)) == -1)
		log_warnx("alias map: %s (keeping the old contents)", err);
	if (maps->mailboxes &&
	    map_refresh(maps->mailboxes, err, sizeof(err)) == -1)
		log_warnx("mailbox map: %s (keeping the old contents)", err);
}

static void
local_serve(struct service *svc, struct local_maps *maps, int fd)
{
	struct local_job job;
	struct timeval	 tv = { 60, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&job, 0, sizeof(job));
	job.msg.qfd = -1;
	if (local_read_job(fd, &job) == 0 && local_peer_alive(fd, &job))
		local_run_job(svc, maps, fd, &job);
	local_free_job(&job);
}

static int
local_read_job(int fd, struct local_job *job)
{
	struct buf	 in;
	struct record	 r;
	const char	*f[4];
	char		 body[32];
	char		**p, **q, *end;
	size_t		 total;
	ssize_t		 n;
	int		 rc, passed;

	buf_init(&in, RECORD_MAX + RECORD_HDR);
	for (;;) {
		while ((rc = record_peek(&in, &r, &total)) == 1) {
			switch (r.type) {
			case PROTO_JOB:
				if (job->msg.sender || record_fields(&r, f, 4)
				    == -1 || job->msg.qfd == -1)
					goto bad;
				/* BINARYMIME content keeps its CRLF. */
				job->msg.eol = qf_param(f[3], "BODY", body,
				    sizeof(body)) && strcasecmp(body,
				    "BINARYMIME") == 0 ? "\r\n" : "\n";
				strlcpy(job->msg.id, f[0], sizeof(job->msg.id));
				if ((job->msg.sender = strdup(f[1])) == NULL)
					goto bad;
				job->msg.content_off = strtoll(f[2], &end, 10);
				if (*end || job->msg.content_off < 0)
					goto bad;
				break;
			case PROTO_RCPT:
				if (!job->msg.sender || job->n >= LOCAL_MAX_RCPT ||
				    record_fields(&r, f, 2) == -1)
					goto bad;
				p = reallocarray(job->rcpt, job->n + 1,
				    sizeof(*p));
				if (p)
					job->rcpt = p;
				q = reallocarray(job->index, job->n + 1,
				    sizeof(*q));
				if (q)
					job->index = q;
				if (!p || !q ||
				    (job->rcpt[job->n] = strdup(f[1])) == NULL)
					goto bad;
				if ((job->index[job->n] = strdup(f[0])) ==
				    NULL) {
					free(job->rcpt[job->n]);
					goto bad;
				}
				job->n++;
				break;
			case PROTO_GO:
				buf_free(&in);
				return job->msg.sender ? 0 : -1;
			default:
				goto bad;
			}
			buf_consume(&in, total);
		}
		if (rc == -1 || buf_reserve(&in, 4096) == -1)
			goto bad;
		n = sock_recv_fd(fd, in.data + in.len, in.cap - in.len - 1,
		    &passed);
		if (passed != -1) {
			if (job->msg.qfd != -1) {
				close(passed);
				goto bad;
			}
			job->msg.qfd = passed;
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

/*
 * The recipients are resolved here (maps, .forward and :include: files
 * are read as root, with their ownership checked); every delivery then
 * runs in its own child with the rights of its destination (deliver.c).
 */
static void
local_run_job(struct service *svc, struct local_maps *maps, int fd,
    struct local_job *job)
{
	struct buf	 out;

	local_deliver_all(svc, maps, fd, job);
	buf_init(&out, 0);
	record_put(&out, PROTO_DONE, NULL, 0);
	if (io_write_all(fd, out.data, out.len) == -1)
		log_warn("%s: write done", job->msg.id);
	buf_free(&out);
}

static void
local_deliver_all(struct service *svc, struct local_maps *maps, int fd,
    struct local_job *job)
{
	struct local_result res;
	struct buf	 out;
	char		 code[2];
	size_t		 i;

	buf_init(&out, 0);
	for (i = 0; i < job->n; i++) {
		local_deliver_rcpt(&svc->conf, maps, &job->msg, job->rcpt[i],
		    &res);
		code[0] = res.code;
		code[1] = '\0';
		buf_reset(&out);
		record_putf(&out, PROTO_STATUS, job->index[i], code,
		    res.status, res.text, NULL);
		if (io_write_all(fd, out.data, out.len) == -1) {
			log_warn("%s: write result", job->msg.id);
			break;
		}
	}
	buf_free(&out);
}

/*
 * private/local is reachable by every posthorn daemon; only qmgr may hand
 * out jobs, so that a subverted smtpd cannot forge deliveries.
 */
static int
local_peer_trusted(int fd, uid_t queue_uid)
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
static int
local_peer_alive(int fd, struct local_job *job)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = POLLRDHUP;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP))) {
		log_warnx("%s: queue manager went away before delivery; "
		    "job dropped, it will be retried", job->msg.id);
		return 0;
	}
	return 1;
}

static void
local_free_job(struct local_job *job)
{
	size_t	 i;

	for (i = 0; i < job->n; i++) {
		free(job->rcpt[i]);
		free(job->index[i]);
	}
	free(job->rcpt);
	free(job->index);
	free(job->msg.sender);
	if (job->msg.qfd != -1)
		close(job->msg.qfd);
}
