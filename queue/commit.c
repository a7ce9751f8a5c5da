/*
 * commit: the single commit point of a message.  Files whose END arrived
 * in the same turn of the event loop are committed together: each file is
 * fdatasync'ed, renamed from incoming/ to active/, and each active/ folder
 * touched is fsync'ed once for the whole group; only then does smtpd hear
 * OK.  A crash before the rename leaves the file in incoming/, where
 * recovery discards it: its sender never got a 250.
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

void
commit_schedule(struct qmgr *q, struct intake *it)
{
	intake_set_commit_next(it, q->commit_first);
	q->commit_first = it;
	if (q->commit_timer == NULL)
		q->commit_timer = event_timer_add(q->loop, 0, commit_run, q);
}

/* Commit one file outside the group (bounces made by qmgr itself). */
int
commit_file(int fd, const char *incoming, const char *active)
{
	char	 dir[64];
	char	*slash;

	if (fdatasync(fd) == -1 || rename(incoming, active) == -1)
		return -1;
	strlcpy(dir, active, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	return io_fsync_dir(dir);
}

static void
commit_run(void *arg)
{
	struct qmgr	*q = arg;
	struct intake	*it, *next, *batch;
	char		 from[64], to[64], dir[16], dirs[16][16];
	int		 ndirs = 0, i, ok, dir_ok[16];
	const char	*id;
	unsigned char	*moved;
	size_t		 n = 0, k;

	q->commit_timer = NULL;
	batch = q->commit_first;
	q->commit_first = NULL;
	for (it = batch; it; it = intake_commit_next(it))
		n++;
	/* Which files this commit itself moved: only those may get 250. */
	if ((moved = calloc(n ? n : 1, 1)) == NULL)
		log_fatal("commit_run");
	k = 0;

	/* 1: data to disk, then into active/ (not yet durable). */
	for (it = batch; it; it = intake_commit_next(it), k++) {
		id = intake_id(it);
		if (fdatasync(intake_qfd(it)) == -1) {
			log_warn("%s: fdatasync", id);
			continue;	/* stays in incoming/: answered 4xx */
		}
		qf_path(from, sizeof(from), Q_INCOMING, id);
		qf_path(to, sizeof(to), Q_ACTIVE, id);
		/* Never over an existing message (a clock stepped back). */
		if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) ==
		    -1) {
			log_warn("%s: rename %s %s", id, from, to);
			continue;
		}
		moved[k] = 1;
		/* Not into dirs[ndirs]: with all 16 folders seen, that is past
		 * the end (a batch of 50 clients reaches it). */
		snprintf(dir, sizeof(dir), "%s/%c", Q_ACTIVE, queueid_hash(id));
		for (i = 0; i < ndirs; i++)
			if (strcmp(dirs[i], dir) == 0)
				break;
		if (i == ndirs && ndirs < 16)
			strlcpy(dirs[ndirs++], dir, sizeof(dirs[0]));
	}
	/* 2: make the renames durable, one fsync per folder. */
	for (i = 0; i < ndirs; i++) {
		dir_ok[i] = io_fsync_dir(dirs[i]) == 0;
		if (!dir_ok[i])
			log_warn("fsync %s", dirs[i]);
	}
	/* 3: answer. */
	for (it = batch, k = 0; it; it = next, k++) {
		next = intake_commit_next(it);
		id = intake_id(it);
		qf_path(to, sizeof(to), Q_ACTIVE, id);
		/* Moved, and its folder made durable: nothing less. */
		ok = 0;
		for (i = 0; moved[k] && i < ndirs; i++)
			if (dirs[i][strlen(Q_ACTIVE) + 1] == queueid_hash(id))
				ok = dir_ok[i];
		if (moved[k] && !ok) {
			/* Not durably committed: take it back out of active/. */
			qf_path(from, sizeof(from), Q_INCOMING, id);
			(void)rename(to, from);
		}
		intake_set_commit_next(it, NULL);
		intake_committed(it, ok);
	}
	free(moved);
}
