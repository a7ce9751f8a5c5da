/*
 * readas: read a small file that a user controls (~/.forward, an
 * :include: list) with that user's rights, never root's.  A child drops
 * to the user, opens without following links and without blocking (a
 * FIFO cannot stall us), checks the file, and sends the contents back;
 * the parent gives it ten seconds.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "local.h"
#include "sock.h"

#define READAS_TIMEOUT_MS	10000

struct readas_head {
	int	 rc;
	int	 err;
	uid_t	 uid;
	gid_t	 gid;
};

static void	 readas_child(int, const char *, uid_t, gid_t, uid_t, size_t)
		    __attribute__((noreturn));

int
readas_file(const char *path, uid_t uid, gid_t gid, uid_t owner, size_t max,
    struct buf *out, uid_t *fuid, gid_t *fgid, char *err, size_t errlen)
{
	struct readas_head h;
	struct pollfd	 pfd;
	char		 chunk[4096];
	size_t		 got = 0;
	ssize_t		 n;
	pid_t		 pid;
	uint64_t	 deadline, now;
	int		 p[2], status, r;

	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return READAS_TEMP;
	}
	if (pid == 0) {
		close(p[0]);
		readas_child(p[1], path, uid, gid, owner, max);
	}
	close(p[1]);
	memset(&h, 0, sizeof(h));
	h.rc = READAS_TEMP;
	h.err = ETIMEDOUT;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	deadline = event_now_ms() + READAS_TIMEOUT_MS;
	for (;;) {
		now = event_now_ms();
		r = now >= deadline ? 0 : poll(&pfd, 1, (int)(deadline - now));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* Too slow: nothing of it is used. */
			kill(pid, SIGKILL);
			got = 0;
			break;
		}
		n = read(p[0], chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (got < sizeof(h)) {
			size_t	 take = sizeof(h) - got < (size_t)n ?
			    sizeof(h) - got : (size_t)n;

			memcpy((char *)&h + got, chunk, take);
			got += take;
			if (take < (size_t)n)
				buf_append(out, chunk + take, (size_t)n - take);
		} else
			buf_append(out, chunk, (size_t)n);
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (got < sizeof(h)) {
		h.rc = READAS_TEMP;
		h.err = got ? EIO : ETIMEDOUT;
	}
	*fuid = h.uid;
	*fgid = h.gid;
	switch (h.rc) {
	case READAS_OK:
		return READAS_OK;
	case READAS_UNSAFE:
		snprintf(err, errlen, "%s: not a regular file with one link "
		    "owned by its user, or writable by group or others", path);
		return READAS_UNSAFE;
	default:
		snprintf(err, errlen, "%s: %s", path, strerror(h.err));
		return h.rc;
	}
}

static void
readas_child(int fd, const char *path, uid_t uid, gid_t gid, uid_t owner,
    size_t max)
{
	struct readas_head h;
	struct stat	 st;
	char		 chunk[4096];
	size_t		 total = 0;
	ssize_t		 n;
	int		 in;

	memset(&h, 0, sizeof(h));
	if (geteuid() == 0 && (setgroups(1, &gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 || setresuid(uid, uid, uid) == -1)) {
		h.rc = READAS_TEMP;
		h.err = errno;
		goto out;
	}
	if ((in = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		h.err = errno;
		h.rc = errno == ENOENT ? READAS_MISSING : errno == ELOOP ?
		    READAS_UNSAFE : READAS_TEMP;
		goto out;
	}
	if (fstat(in, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (owner != (uid_t)-1 && st.st_uid != owner && st.st_uid != 0)) {
		h.rc = READAS_UNSAFE;
		goto out;
	}
	h.uid = st.st_uid;
	h.gid = st.st_gid;
	h.rc = READAS_OK;
	(void)io_write_all(fd, &h, sizeof(h));
	while (total < max && (n = read(in, chunk, sizeof(chunk))) > 0) {
		if ((size_t)n > max - total)
			n = (ssize_t)(max - total);
		if (io_write_all(fd, chunk, (size_t)n) == -1)
			break;
		total += (size_t)n;
	}
	_exit(0);
out:
	(void)io_write_all(fd, &h, sizeof(h));
	_exit(0);
}
