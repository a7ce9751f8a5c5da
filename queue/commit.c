/*
 * commit: the single commit point of a message.  Files whose END arrived
 * in the same turn of the event loop are committed together: each file
 * is renamed from incoming/ to active/ and then fsync'ed, and only then
 * does smtpd hear OK.  On Linux an fsync of a file also makes its
 * directory entry durable after a rename (ext4 with or without a journal,
 * XFS, btrfs): one flush per message instead of one for the data and one
 * for each active/ folder.  queue_directory_sync = yes adds the folder
 * fsyncs back, for file systems that do not.
 *
 * The fsyncs run in queue_commit_threads threads, so that the event loop
 * goes on reading other sessions' data meanwhile, and so that the disk
 * cache flushes of concurrent fsyncs are merged by the block layer (one
 * thread issuing one fsync after the other gets one flush each).  A
 * thread only calls fsync(2); everything else stays in the loop, which
 * hears of each finished file through a pipe and answers its client.
 *
 * A crash before the fsync has returned leaves a file that no client was
 * told about: in incoming/, recovery discards it; in active/ it is whole
 * (END is written before the rename) and is delivered, or, torn by a
 * power loss, it has no END and goes to corrupt/.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "qmgr.h"
#include "sock.h"

/* One file on its way to disk. */
struct commit_item {
	struct intake		*it;
	int			 fd;
	int			 ok;
	char			 active[64];
	struct commit_item	*next;
};

static void	 commit_run(void *);
static int	 commit_sync_dir(const char *path);
static void	*commit_thread(void *);
static void	 commit_done(int, int, void *);
static void	 commit_answer(struct commit_item *);
static int	 commit_sync(const struct commit_item *);

static pthread_mutex_t	 commit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 commit_cond = PTHREAD_COND_INITIALIZER;
static struct commit_item *commit_todo;		/* under commit_lock */
static int		 commit_pipe[2] = { -1, -1 };
static size_t		 commit_inflight;	/* the loop's count */

void
commit_schedule(struct qmgr *q, struct intake *it)
{
	intake_set_commit_next(it, q->commit_first);
	q->commit_first = it;
	if (q->commit_timer == NULL)
		q->commit_timer = event_timer_add(q->loop, 0, commit_run, q);
}

static int	 commit_dir_sync;	/* queue_directory_sync */

void
commit_init(struct qmgr *q)
{
	pthread_t	 t;
	long		 i;

	commit_dir_sync = q->conf->queue_directory_sync;
	/* The threads may block on a full pipe; the loop may not. */
	if (pipe2(commit_pipe, O_CLOEXEC) == -1 ||
	    fcntl(commit_pipe[0], F_SETFL, O_NONBLOCK) == -1)
		log_fatal("commit: pipe");
	if (event_add(q->loop, commit_pipe[0], EV_READ, commit_done, q) == -1)
		log_fatal("commit: event_add");
	for (i = 0; i < q->conf->queue_commit_threads; i++) {
		if ((errno = pthread_create(&t, NULL, commit_thread, NULL)) !=
		    0)
			log_fatal("commit: pthread_create");
		(void)pthread_detach(t);
	}
}

/* 1, or minus the errno (minus 1000 more for the folder's fsync). */
static int
commit_sync(const struct commit_item *ci)
{
	if (fsync(ci->fd) == -1)
		return -errno;
	if (commit_sync_dir(ci->active) == -1)
		return -errno - 1000;
	return 1;
}

/* A commit thread: fsync what comes, and say so through the pipe. */
static void *
commit_thread(void *arg)
{
	struct commit_item	*ci;
	ssize_t			 n;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&commit_lock);
		while (commit_todo == NULL)
			pthread_cond_wait(&commit_cond, &commit_lock);
		ci = commit_todo;
		commit_todo = ci->next;
		pthread_mutex_unlock(&commit_lock);

		ci->ok = commit_sync(ci);
		/* A pointer is less than PIPE_BUF: written whole, or not. */
		do
			n = write(commit_pipe[1], &ci, sizeof(ci));
		while (n == -1 && errno == EINTR);
		if (n != (ssize_t)sizeof(ci))
			abort();	/* the loop cannot be told: no 250 */
	}
	return NULL;
}

/* In the loop: files that have reached the disk (or failed to). */
static void
commit_done(int fd, int events, void *arg)
{
	struct commit_item	*ci[64];
	ssize_t			 n;
	size_t			 i;

	(void)events;
	(void)arg;
	while ((n = read(fd, ci, sizeof(ci))) > 0)
		for (i = 0; i < (size_t)n / sizeof(ci[0]); i++) {
			commit_inflight--;
			commit_answer(ci[i]);
		}
}

static void
commit_answer(struct commit_item *ci)
{
	char		 from[64];
	const char	*id = intake_id(ci->it);

	if (ci->ok != 1) {
		errno = ci->ok <= -1000 ? -(ci->ok + 1000) : -ci->ok;
		log_warn("%s: fsync%s", id, ci->ok <= -1000 ?
		    " of its folder" : "");
		/* Not durably committed: back out of active/. */
		qf_path(from, sizeof(from), Q_INCOMING, id);
		(void)rename(ci->active, from);
	}
	intake_set_commit_next(ci->it, NULL);
	intake_committed(ci->it, ci->ok == 1);
	free(ci);
}

/* The folder of path, made durable (queue_directory_sync only). */
static int
commit_sync_dir(const char *path)
{
	char	 dir[64];
	char	*slash;

	if (!commit_dir_sync)
		return 0;
	strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	return io_fsync_dir(dir);
}

/* Commit one file outside the group (bounces made by qmgr itself). */
int
commit_file(int fd, const char *incoming, const char *active)
{
	if (renameat2(AT_FDCWD, incoming, AT_FDCWD, active,
	    RENAME_NOREPLACE) == -1)
		return -1;
	if (fsync(fd) == -1 || commit_sync_dir(active) == -1) {
		(void)rename(active, incoming);
		return -1;
	}
	return 0;
}

static void
commit_run(void *arg)
{
	struct qmgr		*q = arg;
	struct intake		*it, *next;
	struct commit_item	*ci, *first = NULL, **tail = &first;
	char			 from[64];
	const char		*id;

	q->commit_timer = NULL;
	it = q->commit_first;
	q->commit_first = NULL;
	/* Into active/ (not yet durable); the fsyncs go to the threads. */
	for (; it; it = next) {
		next = intake_commit_next(it);
		id = intake_id(it);
		if ((ci = calloc(1, sizeof(*ci))) == NULL)
			log_fatal("commit_run");
		ci->it = it;
		ci->fd = intake_qfd(it);
		qf_path(from, sizeof(from), Q_INCOMING, id);
		/* Quarantined by a filter: on hold until released. */
		qf_path(ci->active, sizeof(ci->active), intake_hold(it) ?
		    Q_HOLD : Q_ACTIVE, id);
		/* Never over an existing message (a clock stepped back). */
		if (renameat2(AT_FDCWD, from, AT_FDCWD, ci->active,
		    RENAME_NOREPLACE) == -1) {
			/* Stays in incoming/: answered 4xx. */
			log_warn("%s: rename %s %s", id, from, ci->active);
			intake_set_commit_next(it, NULL);
			intake_committed(it, 0);
			free(ci);
			continue;
		}
		*tail = ci;
		tail = &ci->next;
	}
	if (first == NULL)
		return;
	/*
	 * One file and nothing else on its way: the loop has nothing better
	 * to do than wait, and a thread would only add two switches to the
	 * client's wait (one session is about 15% faster so).
	 */
	if (first->next == NULL && commit_inflight == 0) {
		first->ok = commit_sync(first);
		commit_answer(first);
		return;
	}
	for (ci = first; ci; ci = ci->next)
		commit_inflight++;
	pthread_mutex_lock(&commit_lock);
	*tail = commit_todo;
	commit_todo = first;
	pthread_cond_broadcast(&commit_cond);
	pthread_mutex_unlock(&commit_lock);
}
