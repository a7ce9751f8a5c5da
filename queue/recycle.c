/*
 * recycle: queue files used again instead of unlinked and created anew.
 *
 * A message file that qmgr would unlink after its last delivery is
 * renamed into free/ instead, and the next message takes it from there
 * (renamed into incoming/ and written over from the start), up to
 * queue_file_recycle_limit files of at most queue_file_recycle_size
 * bytes.  Creating and unlinking a file costs an inode allocation and a
 * free each time; on ext4 without a journal each allocation also skips
 * every inode freed in the last half minute, which at a thousand
 * messages a second took a third of the machine's CPU time.  A file
 * written over in place also keeps its blocks: no block allocation, and
 * its fsync writes no bitmap.
 *
 * The one danger is a process that still holds a descriptor of the old
 * message when the file carries a new one: it would read another
 * message.  So sched.c offers a file only when qmgr knows every holder
 * let go: the message came in through this qmgr process, went out in
 * one attempt in which every agent said it was done (agents close their
 * copy before they say so; local kills a delivery child that did not
 * answer before it answers for it), and no recipient was deferred.
 * Anything else is unlinked, as before.
 *
 * A power loss can bring an old message back, as it can today an
 * unlinked file whose unlink never reached the disk: the new name may
 * survive with the old bytes under it.  Its recipients were delivered,
 * so they may get it twice; no client was told 250 for the new one.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "qmgr.h"
#include "queueid.h"

#define RECYCLE_DIR	"free"

static struct qid	*pool;		/* names in free/ */
static size_t		 npool, maxpool;
static long long	 maxsize;

/* The pool from what free/ holds; files over the limit are unlinked. */
void
recycle_init(struct qmgr *q)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[320];

	maxpool = (size_t)q->conf->queue_file_recycle_limit;
	maxsize = q->conf->queue_file_recycle_size;
	if (maxpool > 0 && (pool = calloc(maxpool, sizeof(*pool))) == NULL)
		log_fatal("recycle_init");
	if ((d = opendir(RECYCLE_DIR)) == NULL) {
		if (errno != ENOENT)
			log_warn("opendir %s", RECYCLE_DIR);
		maxpool = 0;	/* master makes it; without it, no pool */
		free(pool);
		pool = NULL;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!queueid_valid(de->d_name)) {
			log_warnx("%s: not a queue file: %s", RECYCLE_DIR,
			    de->d_name);
			continue;
		}
		if (npool < maxpool) {
			strlcpy(pool[npool++].id, de->d_name,
			    sizeof(pool[0].id));
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", RECYCLE_DIR, de->d_name);
		if (unlink(path) == -1)
			log_warn("unlink %s", path);
	}
	closedir(d);
}

/*
 * A pooled file renamed to path (in incoming/) and opened for writing
 * from its start, or -1: then the caller creates one.  The caller must
 * cut it to its new length (recycle_trim) before it commits it.
 */
int
recycle_take(const char *path)
{
	struct stat	 st;
	char		 from[64];
	int		 fd;

	while (npool > 0) {
		snprintf(from, sizeof(from), "%s/%s", RECYCLE_DIR,
		    pool[--npool].id);
		if (renameat2(AT_FDCWD, from, AT_FDCWD, path,
		    RENAME_NOREPLACE) == -1) {
			if (errno != ENOENT) {
				log_warn("rename %s %s", from, path);
				(void)unlink(from);
			}
			continue;
		}
		/*
		 * One name only: a crash on a file system without a journal
		 * can leave an old name (in free/ or active/) besides the one
		 * the file got next; such a file is never written over.
		 */
		if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    st.st_nlink != 1) {
			log_warnx("recycled queue file %s: not a plain file "
			    "with one name; not used", path);
			if (fd != -1)
				close(fd);
			(void)unlink(path);
			continue;
		}
		return fd;
	}
	return -1;
}

/* A recycled file cut where its new content ends (fd's offset). */
int
recycle_trim(int fd)
{
	off_t	 end;

	if ((end = lseek(fd, 0, SEEK_CUR)) == -1)
		return -1;
	return ftruncate(fd, end);
}

/*
 * Instead of unlinking path (whose descriptor is fd): into the pool, if
 * there is room and it is small enough.  0 if it went there; -1 if the
 * caller must unlink it.
 */
int
recycle_put(const char *path, int fd)
{
	struct stat	 st;
	const char	*name;
	char		 to[64];

	if (npool >= maxpool || fstat(fd, &st) == -1 || st.st_nlink != 1 ||
	    st.st_size > maxsize || (name = strrchr(path, '/')) == NULL)
		return -1;
	snprintf(to, sizeof(to), "%s/%s", RECYCLE_DIR, name + 1);
	if (renameat2(AT_FDCWD, path, AT_FDCWD, to, RENAME_NOREPLACE) == -1) {
		log_warn("rename %s %s", path, to);
		return -1;
	}
	strlcpy(pool[npool++].id, name + 1, sizeof(pool[0].id));
	return 0;
}
