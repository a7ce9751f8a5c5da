/*
 * qmgr: the queue manager, the only process that writes the queue.  It
 * takes messages from smtpd (intake.c), commits them (commit.c), delivers
 * them through the local agent (sched.c) and bounces failures (bounce.c).
 * One process per instance, guaranteed by a lock, so that a reload's new
 * qmgr waits for the old one to finish instead of delivering twice.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "log.h"
#include "qmgr.h"
#include "sock.h"

static void	 qmgr_dirs(void);
static void	 qmgr_maps(struct qmgr *);
static void	 qmgr_map(const char *, const char *, struct map **);
static void	 qmgr_signal(int, void *);
static void	 qmgr_master_gone(int, int, void *);
static void	 qmgr_stop(struct qmgr *);

int
main(int argc, char **argv)
{
	/* Static: reachable to the end, so that valgrind tells leaks apart. */
	static struct qmgr	 q;
	int		 lock;

	memset(&q, 0, sizeof(q));
	service_init(&q.svc, argc, argv, "qmgr");
	q.conf = &q.svc.conf;
	qmgr_maps(&q);
	service_drop(&q.svc);

	if ((lock = open("active/.lock", O_RDWR | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		log_fatal("open active/.lock");
	if (flock(lock, LOCK_EX | LOCK_NB) == -1) {
		log_info("waiting for the previous queue manager to finish");
		if (flock(lock, LOCK_EX) == -1)
			log_fatal("flock active/.lock");
	}
	qmgr_dirs();

	q.loop = event_loop_new();
	q.admin_fd = -1;
	admin_init(&q);
	sock_nonblock(q.svc.listen_fd);
	if (event_add(q.loop, q.svc.listen_fd, EV_READ, intake_accept, &q) ==
	    -1)
		log_fatal("event_add");
	if (q.svc.master_fd != -1 && event_add(q.loop, q.svc.master_fd,
	    EV_READ, qmgr_master_gone, &q) == -1)
		log_fatal("event_add");
	if (event_signal(q.loop, SIGTERM, qmgr_signal, &q) == -1 ||
	    event_signal(q.loop, SIGHUP, qmgr_signal, &q) == -1)
		log_fatal("event_signal");
	commit_init(&q);
	recycle_init(&q);
	sched_init(&q);
	sched_recover(&q);
	log_info("queue manager started");
	event_loop_run(q.loop);
	log_info("queue manager stopped");
	return 0;
}

/* Leave when asked to stop and nothing is in flight. */
void
qmgr_maybe_exit(struct qmgr *q)
{
	if (q->stopping && !intake_busy(q) && !sched_busy(q) &&
	    q->commit_first == NULL)
		event_loop_exit(q->loop);
}

static void
qmgr_maps(struct qmgr *q)
{
	char	 err[512];

	/* Opened before the drop: they may be readable only by root. */
	if (q->conf->alias_map[0] &&
	    (q->aliases = map_open(q->conf->alias_map, err, sizeof(err))) ==
	    NULL)
		log_fatalx("alias_map: %s", err);
	if (q->conf->virtual_mailbox_map[0] &&
	    (q->mailboxes = map_open(q->conf->virtual_mailbox_map, err,
	    sizeof(err))) == NULL)
		log_fatalx("virtual_mailbox_map: %s", err);
	qmgr_map(q->conf->virtual_alias_map, "virtual_alias_map",
	    &q->virtual_aliases);
	qmgr_map(q->conf->relay_recipient_map, "relay_recipient_map",
	    &q->relay_recipients);
	qmgr_map(q->conf->transport_map, "transport_map", &q->transports);
	qmgr_map(q->conf->smtpd_client_access, "smtpd_client_access",
	    &q->client_access);
	qmgr_map(q->conf->smtpd_sender_access, "smtpd_sender_access",
	    &q->sender_access);
	qmgr_map(q->conf->smtpd_sender_login_map, "smtpd_sender_login_map",
	    &q->sender_logins);
	qmgr_map(q->conf->smtp_destination_rate_map,
	    "smtp_destination_rate_map", &q->rates);
	qmgr_map(q->conf->smtpd_recipient_access, "smtpd_recipient_access",
	    &q->recipient_access);
	qmgr_map(q->conf->odmr_domain_map, "odmr_domain_map",
	    &q->odmr_domains);
}

static void
qmgr_map(const char *spec, const char *name, struct map **m)
{
	char	 err[512];

	if (spec[0] && (*m = map_open(spec, err, sizeof(err))) == NULL)
		log_fatalx("%s: %s", name, err);
}

/* The hashed subfolders; master made the top-level ones for us. */
static void
qmgr_dirs(void)
{
	static const char *const top[] = { Q_INCOMING, Q_ACTIVE, Q_DEFERRED,
	    Q_HOLD };
	const char	*hex = "0123456789ABCDEF";
	char		 dir[32];
	size_t		 t;
	int		 i;

	for (t = 0; t < sizeof(top) / sizeof(top[0]); t++)
		for (i = 0; i < 16; i++) {
			snprintf(dir, sizeof(dir), "%s/%c", top[t], hex[i]);
			if (mkdir(dir, 0700) == -1 && errno != EEXIST)
				log_fatal("mkdir %s", dir);
		}
}

static void
qmgr_signal(int signo, void *arg)
{
	struct qmgr	*q = arg;

	if (signo == SIGHUP) {
		recipient_refresh_maps(q);
		return;
	}
	qmgr_stop(q);
}

static void
qmgr_master_gone(int fd, int events, void *arg)
{
	struct qmgr	*q = arg;
	char		 c;

	(void)events;
	if (read(fd, &c, 1) > 0)
		return;
	event_del(q->loop, fd);
	log_info("master went away: stopping");
	qmgr_stop(q);
}

static void
qmgr_stop(struct qmgr *q)
{
	if (q->stopping)
		return;
	q->stopping = 1;
	event_del(q->loop, q->svc.listen_fd);
	if (q->scan_timer) {
		event_timer_cancel(q->loop, q->scan_timer);
		q->scan_timer = NULL;
	}
	intake_stop(q);
	admin_stop(q);
	idle_close_all(q);
	odmr_stop(q);
	qmgr_maybe_exit(q);
}
