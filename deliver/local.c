/*
 * local: the local delivery agent.  master keeps a few of these waiting on
 * private/local; qmgr connects once per message and sends the job with
 * the queue file's descriptor attached, so this process never opens the
 * queue.  Each copy is written by a child that has become the mailbox
 * owner (worker.c), kept for that owner's next copies.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "agent.h"
#include "log.h"
#include "privsep.h"
#include "proto.h"
#include "record.h"
#include "service.h"
#include "sock.h"
#include "local.h"
#include "queuefile.h"

#define Q_OWNER_DIR	"active"	/* owned by the qmgr user */

struct local_job {
	struct local_msg msg;
	struct agent_job a;
};

struct local_ctx {
	struct service	*svc;
	struct local_maps *maps;
};

static void	 local_conn(int, void *);
static void	 local_serve(struct service *, struct local_maps *, int);
static void	 local_run_job(struct service *, struct local_maps *, int,
		    struct local_job *);
static void	 local_deliver_all(struct service *, struct local_maps *, int,
		    struct local_job *);
static void	 local_refresh(struct service *, struct local_maps *);
static void	 local_tick(void *);

int
main(int argc, char **argv)
{
	/* Static: reachable to the end, so that valgrind tells leaks apart. */
	static struct service	 svc;
	static struct local_maps maps;
	static struct local_ctx lctx;
	char		 err[512];
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

	lctx.svc = &svc;
	lctx.maps = &maps;
	/* Idle delivery children go before they would go by themselves. */
	agent_set_tick(svc.conf.local_worker_idle_time > 2 ?
	    (int)svc.conf.local_worker_idle_time / 2 : 1, local_tick, &svc);
	agent_loop(&svc, queue_uid, local_conn, &lctx);
	worker_expire(NULL);
	return 0;
}

/* One job from qmgr (agent_loop). */
static void
local_conn(int fd, void *arg)
{
	struct local_ctx *l = arg;

	local_refresh(l->svc, l->maps);
	local_serve(l->svc, l->maps, fd);
}

static void
local_tick(void *arg)
{
	struct service	*svc = arg;

	worker_expire(&svc->conf);
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
	char		 body[32];

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&job, 0, sizeof(job));
	if (agent_read_job(fd, &job.a) == 0 &&
	    agent_peer_alive(fd, job.a.id)) {
		strlcpy(job.msg.id, job.a.id, sizeof(job.msg.id));
		job.msg.sender = job.a.sender;
		job.msg.qfd = job.a.qfd;
		job.msg.content_off = job.a.content_off;
		/* BINARYMIME content keeps its CRLF. */
		job.msg.eol = qf_param(job.a.params, "BODY", body,
		    sizeof(body)) && strcasecmp(body, "BINARYMIME") == 0 ?
		    "\r\n" : "\n";
		local_run_job(svc, maps, fd, &job);
	}
	agent_free_job(&job.a);
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
	local_deliver_all(svc, maps, fd, job);
	/*
	 * The queue file is let go before "done": qmgr may then use it for
	 * another message (queue/recycle.c).  The delivery children have
	 * closed their copies, or were killed, by now.
	 */
	if (job->a.qfd != -1)
		close(job->a.qfd);
	job->a.qfd = job->msg.qfd = -1;
	if (agent_done(fd, 0) == -1)
		log_warn("%s: write done", job->msg.id);
}

static void
local_deliver_all(struct service *svc, struct local_maps *maps, int fd,
    struct local_job *job)
{
	struct local_result res;
	struct dest_list fwd;
	size_t		 i, k;

	for (i = 0; i < job->a.n; i++) {
		memset(&fwd, 0, sizeof(fwd));
		local_deliver_rcpt(&svc->conf, maps, &job->msg, job->a.rcpt[i],
		    &res, &fwd);
		/* The copies for other domains go first: qmgr queues them. */
		for (k = 0; k < fwd.n && res.code == 'D'; k++)
			if (agent_forward(fd, job->a.index[i],
			    fwd.d[k].target) == -1)
				break;
		free(fwd.d);
		if (agent_status(fd, job->a.index[i], res.code, res.status,
		    res.text, "local") == -1) {
			log_warn("%s: write result", job->msg.id);
			break;
		}
	}
}
