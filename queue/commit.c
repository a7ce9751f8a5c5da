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
 * A crash before the fsync has returned leaves a file that no client was
 * told about: in incoming/, recovery discards it; in active/ it is whole
 * (END is written before the rename) and is delivered, or, torn by a
 * power loss, it has no END and goes to corrupt/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "qmgr.h"
#include "sock.h"

static void	 commit_run(void *);
static int	 commit_sync_dir(const char *path);

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
commit_init(const struct conf *conf)
{
	commit_dir_sync = conf->queue_directory_sync;
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
	struct qmgr	*q = arg;
	struct intake	*it, *next, *batch;
	char		 from[64], to[64];
	const char	*id;
	unsigned char	*moved;
	size_t		 n = 0, k;
	int		 ok;

	q->commit_timer = NULL;
	batch = q->commit_first;
	q->commit_first = NULL;
	for (it = batch; it; it = intake_commit_next(it))
		n++;
	/* Which files this commit itself moved: only those may get 250. */
	if ((moved = calloc(n ? n : 1, 1)) == NULL)
		log_fatal("commit_run");

	/* 1: into active/ (not yet durable), all of them first. */
	for (it = batch, k = 0; it; it = intake_commit_next(it), k++) {
		id = intake_id(it);
		qf_path(from, sizeof(from), Q_INCOMING, id);
		qf_path(to, sizeof(to), Q_ACTIVE, id);
		/* Never over an existing message (a clock stepped back). */
		if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) ==
		    -1) {
			log_warn("%s: rename %s %s", id, from, to);
			continue;	/* stays in incoming/: answered 4xx */
		}
		moved[k] = 1;
	}
	/* 2: data, inode and name to disk; 3: answer. */
	for (it = batch, k = 0; it; it = next, k++) {
		next = intake_commit_next(it);
		id = intake_id(it);
		qf_path(to, sizeof(to), Q_ACTIVE, id);
		ok = 0;
		if (moved[k]) {
			if (fsync(intake_qfd(it)) == -1)
				log_warn("%s: fsync", id);
			else if (commit_sync_dir(to) == -1)
				log_warn("%s: fsync of its folder", id);
			else
				ok = 1;
			if (!ok) {
				/* Not durably committed: back out of active/. */
				qf_path(from, sizeof(from), Q_INCOMING, id);
				(void)rename(to, from);
			}
		}
		intake_set_commit_next(it, NULL);
		intake_committed(it, ok);
	}
	free(moved);
}
