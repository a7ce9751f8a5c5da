/*
 * maildir: delivery into a Maildir.  The file is written as tmp/UNIQUE
 * and moved to new/UNIQUE; the copy is reported delivered only once both
 * its data and its name in new/ are durable, so that the 250 the client
 * got and the "delivered" we report hold after a crash.
 *
 * By default the file is renamed into new/ first and fsync'ed after: on
 * Linux that one flush also makes the new name durable (ext4 with or
 * without a journal, XFS, btrfs; the same argument as the queue's commit
 * in queue/commit.c), where the Maildir author's order (fsync, link,
 * fsync new/) costs two.  A crash between the rename and the end of the
 * fsync can leave a short file in new/ next to the copy delivered again
 * at the retry: never a lost message.  maildir_directory_sync = yes keeps
 * the author's order, for file systems that need it.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "local.h"
#include "queuefile.h"
#include "sock.h"

static int	 maildir_mkdirs(const char *, char *, size_t);
static int	 maildir_link(const char *, const char *, const char *);
static int	 maildir_rename(const char *, const char *, const char *);
static void	 maildir_status(int, char *);

int
maildir_deliver(const char *dir, const struct local_msg *m,
    const struct dest *d, const struct conf *conf, char *status, char *err,
    size_t errlen)
{
	const char	*myhostname = conf->myhostname;
	static unsigned	 seq;
	struct timeval	 tv;
	struct buf	 hdr;
	char		 host[256], name[512], tmp[PATH_MAX], new[PATH_MAX];
	char		 newdir[PATH_MAX], chunk[QF_CHUNK];
	off_t		 off = m->content_off;
	ssize_t		 n;
	size_t		 i;
	int		 fd, e;

	/* The host part may not hold '/' or ':' (Maildir's separators). */
	snprintf(host, sizeof(host), "%s", myhostname);
	for (i = 0; host[i]; i++)
		if (host[i] == '/' || host[i] == ':')
			host[i] = '_';
	gettimeofday(&tv, NULL);
	snprintf(name, sizeof(name), "%lld.M%ldP%ldQ%u.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(), ++seq, host);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name) >=
	    sizeof(tmp) ||
	    (size_t)snprintf(new, sizeof(new), "%s/new/%s", dir, name) >=
	    sizeof(new) ||
	    (size_t)snprintf(newdir, sizeof(newdir), "%s/new", dir) >=
	    sizeof(newdir)) {
		snprintf(err, errlen, "mailbox path too long");
		return -2;
	}
	/* The folders are made only when they are missing (the first copy). */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1 && errno == ENOENT) {
		if (maildir_mkdirs(dir, err, errlen) == -1) {
			maildir_status(errno, status);
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd == -1) {
		e = errno;
		snprintf(err, errlen, "create %s: %s", tmp, strerror(e));
		maildir_status(e, status);
		return -1;	/* full disk, quota, permissions: worth a retry */
	}
	buf_init(&hdr, 0);
	local_headers(m, d, &hdr);
	if (io_write_all(fd, hdr.data, hdr.len) == -1)
		goto fail;
	while ((n = qf_read_content(m->qfd, &off, chunk, sizeof(chunk))) > 0)
		if (io_write_all(fd, chunk, (size_t)n) == -1)
			goto fail;
	if (n == -1) {
		e = errno;
		snprintf(err, errlen, "read queue file: %s", strerror(e));
		close(fd);
		unlink(tmp);
		buf_free(&hdr);
		return -1;
	}
	if (!conf->maildir_directory_sync) {
		if (maildir_rename(dir, tmp, new) == -1)
			goto fail;
		e = fsync(fd) == -1 ? errno : 0;
		if (close(fd) == -1 && e == 0)
			e = errno;
		fd = -1;
		if (e != 0) {
			/* Not durable: a retry comes (unless a reader
			 * already took it to cur/: then a duplicate). */
			(void)unlink(new);
			errno = e;
			goto fail;
		}
		buf_free(&hdr);
		snprintf(err, errlen, "delivered to maildir %s", dir);
		return 0;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (maildir_link(dir, tmp, new) == -1)
		goto fail;
	(void)unlink(tmp);
	if (io_fsync_dir(newdir) == -1)
		goto fail;
	buf_free(&hdr);
	snprintf(err, errlen, "delivered to maildir %s", dir);
	return 0;
fail:
	e = errno;
	snprintf(err, errlen, "write %s: %s", tmp, strerror(e));
	maildir_status(e, status);
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	buf_free(&hdr);
	return -1;	/* full disk, quota, permissions: worth a retry */
}

static int
maildir_mkdirs(const char *dir, char *err, size_t errlen)
{
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	char		 path[PATH_MAX], *p;
	size_t		 i;

	/* Parents first (mkdir -p), then the three Maildir folders. */
	snprintf(path, sizeof(path), "%s", dir);
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			int e = errno;

			snprintf(err, errlen, "mkdir %s: %s", path,
			    strerror(e));
			errno = e;	/* for the caller's status */
			return -1;
		}
		*p = '/';
	}
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, sub[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			int e = errno;

			snprintf(err, errlen, "mkdir %s: %s", path,
			    strerror(e));
			errno = e;	/* for the caller's status */
			return -1;
		}
	}
	return 0;
}

/*
 * tmp/NAME to new/NAME: a link (rename where the file system has no hard
 * links), new/ and cur/ made first if new/ is missing.
 */
static int
maildir_link(const char *dir, const char *tmp, const char *new)
{
	char	 err[512];

	if (link(tmp, new) == 0)
		return 0;
	if (errno == ENOENT) {
		if (maildir_mkdirs(dir, err, sizeof(err)) == -1)
			return -1;
		if (link(tmp, new) == 0)
			return 0;
	}
	if (errno == EEXIST)
		return -1;	/* never over another message */
	return rename(tmp, new);
}

/*
 * tmp/NAME to new/NAME by rename, never over an existing file; new/ and
 * cur/ made first if new/ is missing.  Where the file system has no
 * renameat2 flags: link and unlink, so that the file has one name when
 * it is fsync'ed (ext4 makes durable the folder of the name it finds).
 */
static int
maildir_rename(const char *dir, const char *tmp, const char *new)
{
	char	 err[512];
	int	 tried = 0;

	for (;;) {
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, new,
		    RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS) {
			if (maildir_link(dir, tmp, new) == -1)
				return -1;
			(void)unlink(tmp);
			return 0;
		}
		if (errno != ENOENT || tried++)
			return -1;
		if (maildir_mkdirs(dir, err, sizeof(err)) == -1)
			return -1;
	}
}

/* RFC 3463: 4.2.2 "mailbox full" for a full disk or quota. */
static void
maildir_status(int e, char *status)
{
	if (e == ENOSPC || e == EDQUOT)
		strlcpy(status, "4.2.2", sizeof("4.2.2"));
}
