/*
 * posthorn-postdrop: writes one message from sendmail(1) into the
 * maildrop.  Installed setgid to setgid_group, the one group that may
 * write into queue_directory/maildrop/ (mode 1730: nobody can list it or
 * touch another's file); never setuid, so the file's owner is the real
 * user, which is what pickup believes.  The stream on stdin is checked
 * record by record (maildrop.h) before a byte is kept; the file is
 * written under a dot name, flushed, and renamed into place.
 *
 *	posthorn-postdrop [-c confdir]		(-c: root only when setgid)
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "buf.h"
#include "conf.h"
#include "maildrop.h"
#include "queuefile.h"
#include "record.h"
#include "sock.h"

#ifndef CONFIG_DIR
#define CONFIG_DIR	"/usr/local/etc/posthorn"
#endif

#define EX_USAGE_	64
#define EX_DATAERR_	65
#define EX_CANTCREAT_	73
#define EX_TEMPFAIL_	75

static char	 tmp[64];

static int	 pd_root_owned(const char *);
static void	 pd_fail(int, const char *, ...)
		    __attribute__((format(printf, 2, 3), noreturn));

int
main(int argc, char **argv)
{
	struct conf	 c;
	struct buf	 in;
	struct record	 r;
	const char	*confdir = CONFIG_DIR;
	char		 err[1024], final[64], size[32];
	size_t		 total, nrcpt = 0;
	long long	 bytes = 0;
	ssize_t		 n;
	int		 ch, fd, rc, seen_v = 0, seen_d = 0;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: posthorn-postdrop [-c confdir]"
			    "\n");
			return EX_USAGE_;
		}
		confdir = optarg;
	}
	/*
	 * With the group's power, another configuration would be another
	 * directory to write into: only one that root wrote counts.
	 */
	if (getgid() != getegid() && getuid() != 0 &&
	    strcmp(confdir, CONFIG_DIR) != 0 && !pd_root_owned(confdir))
		pd_fail(EX_USAGE_, "%s: a configuration not owned by root "
		    "(and closed to others) is refused", confdir);
	if (conf_load(&c, confdir, err, sizeof(err)) == -1)
		pd_fail(EX_TEMPFAIL_, "%s", err);
	if (chdir(c.queue_directory) == -1 || chdir(MD_DIR) == -1)
		pd_fail(EX_TEMPFAIL_, "%s/%s: %s", c.queue_directory, MD_DIR,
		    strerror(errno));
	snprintf(tmp, sizeof(tmp), ".tmp.%ld.%08x", (long)getpid(),
	    arc4random());
	umask(022);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) ==
	    -1) {
		tmp[0] = '\0';
		pd_fail(EX_CANTCREAT_, "%s/%s: %s", c.queue_directory, MD_DIR,
		    strerror(errno));
	}
	buf_init(&in, RECORD_MAX + RECORD_HDR);
	for (;;) {
		while ((rc = record_peek(&in, &r, &total)) == 1) {
			switch (r.type) {
			case 'V':
				if (seen_v || r.len != sizeof(MD_VERSION) ||
				    memcmp(r.data, MD_VERSION, r.len) != 0)
					pd_fail(EX_DATAERR_, "bad version");
				seen_v = 1;
				break;
			case 'S':
			case 'N':
			case 'R':
				if (!seen_v || seen_d || r.len == 0 || r.len >
				    1024 || r.data[r.len - 1] != '\0' ||
				    memchr(r.data, '\0', r.len - 1) ||
				    memchr(r.data, '\n', r.len))
					pd_fail(EX_DATAERR_, "bad envelope "
					    "record");
				if (r.type == 'R' && ++nrcpt > MD_MAX_RCPT)
					pd_fail(EX_DATAERR_, "too many "
					    "recipients");
				break;
			case 'D':
				if (!seen_v || r.len > QF_CHUNK)
					pd_fail(EX_DATAERR_, "bad content "
					    "record");
				seen_d = 1;
				bytes += (long long)r.len;
				if (c.message_size_limit > 0 && bytes >
				    c.message_size_limit)
					pd_fail(EX_DATAERR_, "message larger "
					    "than message_size_limit (%ld bytes)",
					    c.message_size_limit);
				break;
			default:
				pd_fail(EX_DATAERR_, "unexpected record 0x%02x",
				    r.type);
			}
			if (qf_write(fd, r.type, r.data, r.len) == -1)
				pd_fail(EX_TEMPFAIL_, "write: %s",
				    strerror(errno));
			buf_consume(&in, total);
		}
		if (rc == -1)
			pd_fail(EX_DATAERR_, "malformed input");
		if ((n = sock_read_buf(STDIN_FILENO, &in)) == -1) {
			if (errno == EINTR)
				continue;
			pd_fail(EX_TEMPFAIL_, "read: %s", strerror(errno));
		}
		if (n == 0)
			break;
	}
	if (in.len != 0 || !seen_v || nrcpt == 0)
		pd_fail(EX_DATAERR_, "incomplete message");
	snprintf(size, sizeof(size), "%lld", bytes);
	if (qf_write(fd, 'E', size, strlen(size)) == -1 || fsync(fd) == -1 ||
	    close(fd) == -1)
		pd_fail(EX_TEMPFAIL_, "write: %s", strerror(errno));
	/* Sorts by arrival, unique by pid and chance. */
	snprintf(final, sizeof(final), "%08llX%08X%05lX",
	    (unsigned long long)time(NULL), arc4random(),
	    (unsigned long)getpid() & 0xfffff);
	if (rename(tmp, final) == -1)
		pd_fail(EX_TEMPFAIL_, "rename: %s", strerror(errno));
	/* The rename is the commit; make it durable before we say so. */
	if ((fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	return 0;
}

static int
pd_root_owned(const char *dir)
{
	char		 path[PATH_MAX];
	struct stat	 st;

	snprintf(path, sizeof(path), "%s/posthorn.conf", dir);
	return stat(dir, &st) == 0 && st.st_uid == 0 && !(st.st_mode & 022) &&
	    stat(path, &st) == 0 && st.st_uid == 0 && !(st.st_mode & 022);
}

static void
pd_fail(int status, const char *fmt, ...)
{
	va_list	 ap;

	if (tmp[0])
		(void)unlink(tmp);
	fprintf(stderr, "posthorn-postdrop: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(status);
}
