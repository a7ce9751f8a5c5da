/*
 * mbox: append to a Unix mailbox (spool mbox, a ~/mbox, or a /file from
 * an alias or .forward), already running as its owner.  Locking is both
 * a dot-lock (FILE.lock, created exclusively; stale ones removed after
 * five minutes) and fcntl, as mail readers on Linux expect.  The message
 * gets a "From " line, ">From " quoting of body lines (mboxrd) and a
 * blank line after it; a failed write truncates the file back, so a
 * mailbox never holds half a message.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "local.h"
#include "queuefile.h"
#include "sock.h"

#define MBOX_LOCK_TRIES		60	/* one a second */
#define MBOX_LOCK_STALE		300

static int	 mbox_dotlock(const char *, char *, size_t, char *, size_t);
static int	 mbox_fcntl(int);
static int	 mbox_copy(int, const struct local_msg *, const struct dest *);
static void	 mbox_quote(struct buf *, struct buf *, int *, int);

int
mbox_deliver(const char *path, const struct local_msg *m,
    const struct dest *d, const struct conf *c, char *status, char *err,
    size_t errlen)
{
	char		 lock[PATH_MAX];
	struct stat	 st;
	off_t		 size;
	int		 fd, e, locked, rc = -1;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC | O_NONBLOCK, 0600)) == -1) {
		e = errno;
		snprintf(err, errlen, "open %s: %s", path, strerror(e));
		return e == ELOOP ? -2 : -1;
	}
	/* Only a plain file of ours: never a link, a device or a FIFO. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (d->kind == DEST_MBOX && st.st_uid != geteuid())) {
		snprintf(err, errlen, "%s: not a regular file owned by the "
		    "recipient", path);
		close(fd);
		strlcpy(status, "5.2.0", 8);
		return -2;
	}
	locked = mbox_dotlock(path, lock, sizeof(lock), err, errlen);
	if (locked == -1) {
		close(fd);
		strlcpy(status, "4.2.0", 8);
		return -1;
	}
	if (mbox_fcntl(fd) == -1) {
		snprintf(err, errlen, "%s: mailbox is locked by another process",
		    path);
		goto out;
	}
	size = lseek(fd, 0, SEEK_END);
	if (c->mailbox_size_limit > 0 && size > c->mailbox_size_limit) {
		snprintf(err, errlen, "%s: mailbox is full (mailbox_size_limit "
		    "%ld)", path, c->mailbox_size_limit);
		strlcpy(status, "5.2.2", 8);
		rc = -2;
		goto out;
	}
	if (mbox_copy(fd, m, d) == -1 || fsync(fd) == -1) {
		e = errno;
		/* Take back the partial message. */
		if (ftruncate(fd, size) == -1)
			e = errno;
		snprintf(err, errlen, "write %s: %s", path, strerror(e));
		strlcpy(status, e == ENOSPC || e == EDQUOT ? "4.2.2" : "4.2.0",
		    8);
		goto out;
	}
	snprintf(err, errlen, "delivered to mailbox %s", path);
	rc = 0;
out:
	close(fd);	/* releases the fcntl lock */
	if (locked == 1)
		(void)unlink(lock);
	return rc;
}

/* 1 locked, 0 no dot-lock possible here (fcntl only), -1 failed. */
static int
mbox_dotlock(const char *path, char *lock, size_t locklen, char *err,
    size_t errlen)
{
	struct stat	 st;
	int		 fd, i;

	if ((size_t)snprintf(lock, locklen, "%s.lock", path) >= locklen) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	for (i = 0; i < MBOX_LOCK_TRIES; i++) {
		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd != -1) {
			close(fd);
			return 1;
		}
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return 0;	/* not our folder to write: fcntl only */
		if (errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", lock, strerror(errno));
			return -1;
		}
		if (lstat(lock, &st) == 0 &&
		    time(NULL) - st.st_mtime > MBOX_LOCK_STALE)
			(void)unlink(lock);
		else
			sleep(1);
	}
	snprintf(err, errlen, "%s: mailbox stays locked", lock);
	return -1;
}

static int
mbox_fcntl(int fd)
{
	struct flock	 fl;
	int		 i;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	for (i = 0; i < MBOX_LOCK_TRIES; i++) {
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EACCES && errno != EAGAIN)
			return -1;
		sleep(1);
	}
	return -1;
}

/* "From " line, our headers, the message with ">From " quoting, "\n". */
static int
mbox_copy(int fd, const struct local_msg *m, const struct dest *d)
{
	struct buf	 b, w;
	char		 chunk[QF_CHUNK], date[64];
	off_t		 off = m->content_off;
	ssize_t		 n;
	time_t		 now = time(NULL);
	int		 bol = 1, rc = -1, last = '\n';

	buf_init(&b, 0);
	buf_init(&w, 0);
	ctime_r(&now, date);
	date[strcspn(date, "\n")] = '\0';
	buf_printf(&b, "From %s %s\n", d->sender[0] ? d->sender :
	    "MAILER-DAEMON", date);
	local_headers(m, d, &b);
	if (io_write_all(fd, b.data, b.len) == -1)
		goto out;
	do {
		n = qf_read_content(m->qfd, &off, chunk, sizeof(chunk));
		if (n == -1)
			goto out;
		/* w holds what the last chunk could not decide yet. */
		buf_append(&w, chunk, (size_t)n);
		buf_reset(&b);
		mbox_quote(&w, &b, &bol, n == 0);
		if (b.len)
			last = b.data[b.len - 1];
		if (io_write_all(fd, b.data, b.len) == -1)
			goto out;
	} while (n > 0);
	/* End with an empty line, so the next "From " starts a message. */
	if (io_write_all(fd, last == '\n' ? "\n" : "\n\n", last == '\n' ?
	    1 : 2) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&b);
	buf_free(&w);
	return rc;
}

/*
 * mboxrd: a line matching ">*From " gets one more '>'.  A line start
 * whose first bytes are still to come stays in w (a "From " cut across
 * two queue records must not slip through); at the end all is decided.
 */
static void
mbox_quote(struct buf *w, struct buf *out, int *bol, int end)
{
	size_t	 i = 0, j, k, n = w->len;
	const char *p = w->data;

	while (i < n) {
		if (*bol) {
			for (k = i; k < n && p[k] == '>'; k++)
				;
			if (n - k < 5 && !end && memchr(p + i, '\n', n - i) ==
			    NULL)
				break;		/* undecided: wait for more */
			if (n - k >= 5 && memcmp(p + k, "From ", 5) == 0)
				buf_appendc(out, '>');
		}
		for (j = i; j < n && p[j] != '\n'; j++)
			;
		if (j < n)
			j++;
		buf_append(out, p + i, j - i);
		*bol = p[j - 1] == '\n';
		i = j;
	}
	buf_consume(w, i);
}
