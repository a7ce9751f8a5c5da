/*
 * pickup: takes the messages that sendmail(1) left in the maildrop and
 * submits each to qmgr over private/qmgr, like any client: qmgr writes
 * and commits it, and only then is the maildrop file removed (a crash in
 * between means a duplicate, never a loss).  The submitter is the file's
 * owner; the sender it asked for is honoured for submit_trusted_users,
 * and otherwise replaced by its own address.  A Received: header names
 * the user; From:, Date: and Message-ID: are added when missing.
 *
 * It wakes on inotify when postdrop renames a file into place, and
 * scans every minute in case an event was missed.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "buf.h"
#include "log.h"
#include "maildrop.h"
#include "proto.h"
#include "queuefile.h"
#include "queueid.h"
#include "record.h"
#include "service.h"
#include "sock.h"

#define PICKUP_SCAN	60		/* seconds between scans */
#define PICKUP_STALE	86400		/* a .tmp file this old is junk */

/* What the first pass learns of a file. */
struct drop {
	char		 name[64];
	uid_t		 uid;
	char		 sender[1100];	/* asked for with -f ("" = none) */
	int		 has_sender;
	char		 fullname[1100];
	size_t		 nrcpt;
	long long	 size;
	int		 eightbit;
	int		 has_from, has_date, has_msgid;
};

static struct service svc;
static char	 origin[256];

static void	 pickup_scan(void);
static int	 drop_size_matches(const struct record *, long long);
static int	 pickup_one(const char *);
static int	 drop_read(int, struct drop *, char *, size_t);
static int	 drop_next(int, struct buf *, struct record *, size_t *);
static int	 drop_submit(int, const struct drop *, char *id, char *why,
		    size_t);
static int	 qm_ask(int, struct buf *, struct buf *, struct record *);
static void	 drop_aside(const char *, const char *);
static void	 header_scan(struct drop *, const char *, size_t, int *);

int
main(int argc, char **argv)
{
	struct pollfd	 pfd[3];
	char		 ev[4096];
	int		 ino, n, lfd;

	service_init(&svc, argc, argv, "pickup");
	service_drop(&svc);
	conf_origin(&svc.conf, origin, sizeof(origin));
	if ((ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    inotify_add_watch(ino, MD_DIR, IN_MOVED_TO | IN_CLOSE_WRITE) == -1)
		log_fatal("inotify %s", MD_DIR);
	lfd = svc.listen_fd;
	pickup_scan();
	for (;;) {
		pfd[0].fd = ino;
		pfd[1].fd = lfd;
		pfd[2].fd = svc.master_fd;
		pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
		n = poll(pfd, 3, PICKUP_SCAN * 1000);
		if (n == -1 && errno != EINTR)
			log_fatal("poll");
		if (n > 0 && (pfd[2].revents & (POLLIN | POLLHUP)))
			break;	/* master is gone */
		if (n > 0 && (pfd[0].revents & POLLIN))
			while (read(ino, ev, sizeof(ev)) > 0)
				;
		if (n > 0 && (pfd[1].revents & POLLIN)) {
			/* A nudge on private/pickup: scan now. */
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd != -1)
				close(fd);
		}
		pickup_scan();
	}
	return 0;
}

static void
pickup_scan(void)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;

	if ((d = opendir(MD_DIR)) == NULL) {
		log_warn("opendir %s", MD_DIR);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.') {
			/* postdrop died half-way: nobody will finish it. */
			if (strncmp(de->d_name, ".tmp.", 5) == 0 &&
			    fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    time(NULL) - st.st_mtime > PICKUP_STALE &&
			    unlinkat(dirfd(d), de->d_name, 0) == 0)
				log_info("maildrop: removed the unfinished "
				    "%s", de->d_name);
			continue;
		}
		if (pickup_one(de->d_name) == -1)
			break;	/* qmgr is away: the next scan tries again */
	}
	closedir(d);
}

/* 0 done (submitted or set aside), -1 try again later. */
static int
pickup_one(const char *name)
{
	struct drop	 dr;
	struct stat	 st;
	char		 path[128], why[1024], id[QUEUEID_LEN + 1];
	int		 fd, rc;

	snprintf(path, sizeof(path), "%s/%s", MD_DIR, name);
	/*
	 * Only postdrop writes here, and only plain files; anything else
	 * (a symbolic link, a FIFO that would block the open, a device) is
	 * set aside unread.
	 */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP || errno == ENXIO) {
			drop_aside(name, "not a plain file");
			return 0;
		}
		log_warn("open %s", path);
		return 0;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		drop_aside(name, "not a plain file");
		return 0;
	}
	memset(&dr, 0, sizeof(dr));
	strlcpy(dr.name, name, sizeof(dr.name));
	dr.uid = st.st_uid;
	if (drop_read(fd, &dr, why, sizeof(why)) == -1) {
		close(fd);
		drop_aside(name, why);
		return 0;
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return 0;
	}
	rc = drop_submit(fd, &dr, id, why, sizeof(why));
	close(fd);
	if (rc == 1) {
		if (unlink(path) == -1)
			log_warn("%s: unlink %s", id, path);
		return 0;
	}
	if (rc == 0) {
		drop_aside(name, why);
		return 0;
	}
	log_warnx("maildrop %s: %s; will try again", name, why);
	return -1;
}

/* Pass one: the whole file is well formed; note what pass two needs. */
static int
drop_read(int fd, struct drop *dr, char *why, size_t whylen)
{
	struct buf	 in;
	struct record	 r;
	size_t		 total;
	long long	 bytes = 0;
	int		 rc, in_hdr = 1, first = 1, ended = 0;

	buf_init(&in, RECORD_MAX + RECORD_HDR);
	while ((rc = drop_next(fd, &in, &r, &total)) == 1) {
		if (ended) {
			rc = -1;
			break;
		}
		if (first && (r.type != 'V' || r.len != sizeof(MD_VERSION) ||
		    memcmp(r.data, MD_VERSION, r.len) != 0)) {
			rc = -1;
			break;
		}
		first = 0;
		if ((r.type == 'S' || r.type == 'N' || r.type == 'R') &&
		    (r.len == 0 || r.len > 1024 || r.data[r.len - 1] != '\0')) {
			rc = -1;
			break;
		}
		switch (r.type) {
		case 'S':
			strlcpy(dr->sender, r.data, sizeof(dr->sender));
			dr->has_sender = 1;
			break;
		case 'N':
			strlcpy(dr->fullname, r.data, sizeof(dr->fullname));
			break;
		case 'R':
			dr->nrcpt++;
			break;
		case 'D':
			bytes += (long long)r.len;
			header_scan(dr, r.data, r.len, &in_hdr);
			break;
		case 'E':
			ended = drop_size_matches(&r, bytes);
			if (!ended)
				rc = -1;
			break;
		}
		buf_consume(&in, total);
		if (rc == -1)
			break;
	}
	buf_free(&in);
	if (rc == -1 || !ended || dr->nrcpt == 0) {
		snprintf(why, whylen, "malformed or incomplete maildrop file");
		return -1;
	}
	dr->size = bytes;
	if (svc.conf.message_size_limit > 0 && bytes >
	    svc.conf.message_size_limit) {
		snprintf(why, whylen, "larger than message_size_limit");
		return -1;
	}
	return 0;
}

/* Which headers the message has, and whether it is 8-bit. */
static void
header_scan(struct drop *dr, const char *p, size_t len, int *in_hdr)
{
	size_t	 i;
	int	 bol = 1;

	for (i = 0; i < len; i++) {
		if ((unsigned char)p[i] >= 0x80)
			dr->eightbit = 1;
		if (!*in_hdr || !bol) {
			bol = p[i] == '\n';
			continue;
		}
		if (p[i] == '\n') {
			*in_hdr = 0;	/* the empty line */
			continue;
		}
		if (len - i >= 5 && strncasecmp(p + i, "from:", 5) == 0)
			dr->has_from = 1;
		else if (len - i >= 5 && strncasecmp(p + i, "date:", 5) == 0)
			dr->has_date = 1;
		else if (len - i >= 11 && strncasecmp(p + i, "message-id:",
		    11) == 0)
			dr->has_msgid = 1;
		else if (p[i] != ' ' && p[i] != '\t' && memchr(p + i, ':',
		    strcspn(p + i, "\n")) == NULL)
			*in_hdr = 0;	/* no header at all: body */
		bol = p[i] == '\n';
	}
}

/* The next record of the file: 1, 0 at its end, -1 on a bad one. */
static int
drop_next(int fd, struct buf *in, struct record *r, size_t *total)
{
	ssize_t	 n;
	int	 rc;

	while ((rc = record_peek(in, r, total)) == 0) {
		if ((n = sock_read_buf(fd, in)) == -1)
			return -1;
		if (n == 0)
			return in->len ? -1 : 0;
	}
	return rc;
}

/*
 * Pass two: MAIL, RCPT, the headers we add and the content, END.
 * 1 queued (id set), 0 refused for good (why), -1 try again (why).
 */
static int
drop_submit(int fd, const struct drop *dr, char *id, char *why,
    size_t whylen)
{
	struct passwd	*pw;
	struct buf	 in, out, qin;
	struct record	 r, q;
	size_t		 total, accepted = 0;
	char		 login[64], sender[1400], client[128], date[64];
	char		 first_refusal[512] = "";
	time_t		 now = time(NULL);
	int		 qfd, rc, trusted;

	if ((pw = getpwuid(dr->uid)) != NULL)
		strlcpy(login, pw->pw_name, sizeof(login));
	else
		snprintf(login, sizeof(login), "uid%ld", (long)dr->uid);
	trusted = conf_list_has(svc.conf.submit_trusted_users, login);
	snprintf(sender, sizeof(sender), "%s@%s", login, origin);
	if (dr->has_sender) {
		char	 asked[1400];

		snprintf(asked, sizeof(asked), "%s%s%s", dr->sender,
		    dr->sender[0] && !strchr(dr->sender, '@') ? "@" : "",
		    dr->sender[0] && !strchr(dr->sender, '@') ? origin : "");
		if (trusted || strcasecmp(asked, sender) == 0)
			strlcpy(sender, asked, sizeof(sender));
		else
			log_warnx("maildrop %s: uid=%ld (%s) may not send as "
			    "<%s> (submit_trusted_users): sender <%s> used",
			    dr->name, (long)dr->uid, login, asked, sender);
	}
	if ((qfd = sock_unix_connect(QMGR_SOCKET)) == -1) {
		snprintf(why, whylen, "queue manager unavailable");
		return -1;
	}
	buf_init(&in, RECORD_MAX + RECORD_HDR);
	buf_init(&out, 0);
	buf_init(&qin, RECORD_MAX + RECORD_HDR);
	snprintf(client, sizeof(client), "helo=localhost addr= proto=local "
	    "uid=%ld", (long)dr->uid);
	record_putf(&out, PROTO_MAIL, sender, client, dr->eightbit ?
	    "BODY=8BITMIME" : "BODY=7BIT", NULL);
	rc = qm_ask(qfd, &out, &qin, &q);
	if (rc == -1 || q.type != PROTO_OK || q.len == 0 ||
	    q.data[q.len - 1] != '\0' || !queueid_valid(q.data)) {
		snprintf(why, whylen, "MAIL: %s", rc == -1 ? "queue manager "
		    "went away" : q.len && q.data[q.len - 1] == '\0' ? q.data :
		    "refused");
		rc = rc == -1 || q.type != PROTO_FAIL || q.data[0] != '5' ? -1 :
		    0;
		goto done;
	}
	strlcpy(id, q.data, QUEUEID_LEN + 1);
	buf_consume(&qin, RECORD_HDR + q.len);
	/* The recipients, one answer each. */
	while ((rc = drop_next(fd, &in, &r, &total)) == 1 && r.type != 'D' &&
	    r.type != 'E') {
		if (r.type == 'R') {
			record_putf(&out, PROTO_RCPT, r.data, "", NULL);
			if (qm_ask(qfd, &out, &qin, &q) == -1) {
				snprintf(why, whylen, "queue manager went away");
				rc = -1;
				goto done;
			}
			if (q.type == PROTO_OK)
				accepted++;
			else {
				log_info("%s: reject: RCPT to=<%s>: %.*s", id,
				    r.data, (int)q.len, q.data);
				if (first_refusal[0] == '\0')
					snprintf(first_refusal,
					    sizeof(first_refusal), "%.*s",
					    (int)q.len, q.data);
				if (q.len && q.data[0] == '4') {
					snprintf(why, whylen, "RCPT: %s",
					    first_refusal);
					rc = -1;
					goto done;
				}
			}
			buf_consume(&qin, RECORD_HDR + q.len);
		}
		buf_consume(&in, total);
	}
	if (accepted == 0) {
		snprintf(why, whylen, "no recipient accepted: %s",
		    first_refusal);
		rc = 0;
		goto done;
	}
	/* What a submission from a program lacks, Postfix's cleanup adds. */
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z",
	    localtime(&now));
	buf_printf(&out, "Received: by %s (posthorn, from userid %ld)\n\tid "
	    "%s; %s\n", svc.conf.myhostname, (long)dr->uid, id, date);
	if (!dr->has_from)
		buf_printf(&out, "From: %s%s<%s>\n", dr->fullname,
		    dr->fullname[0] ? " " : "", sender);
	if (!dr->has_date)
		buf_printf(&out, "Date: %s\n", date);
	if (!dr->has_msgid)
		buf_printf(&out, "Message-ID: <%s.%08x@%s>\n", id,
		    arc4random(), svc.conf.myhostname);
	{
		struct buf	 hdr;

		hdr = out;
		buf_init(&out, 0);
		record_put(&out, PROTO_DATA, hdr.data, hdr.len);
		buf_free(&hdr);
	}
	/* The first D record is in hand (or the E if the body is empty). */
	while (rc == 1 && r.type == 'D') {
		record_put(&out, PROTO_DATA, r.data, r.len);
		if (io_write_all(qfd, out.data, out.len) == -1) {
			snprintf(why, whylen, "queue manager went away");
			rc = -1;
			goto done;
		}
		buf_reset(&out);
		buf_consume(&in, total);
		rc = drop_next(fd, &in, &r, &total);
	}
	record_put(&out, PROTO_END, NULL, 0);
	if (qm_ask(qfd, &out, &qin, &q) == -1 || q.type != PROTO_OK) {
		snprintf(why, whylen, "END: %.*s", q.type == PROTO_FAIL ?
		    (int)q.len : 22, q.type == PROTO_FAIL ? q.data :
		    "queue manager went away");
		rc = -1;
		goto done;
	}
	log_info("%s: uid=%ld from=<%s>", id, (long)dr->uid, sender);
	rc = 1;
done:
	close(qfd);
	buf_free(&in);
	buf_free(&out);
	buf_free(&qin);
	return rc;
}

/* Send out, then read one answer into q (it stays in qin). */
static int
qm_ask(int fd, struct buf *out, struct buf *qin, struct record *q)
{
	size_t	 total;
	ssize_t	 n;
	int	 rc;

	if (io_write_all(fd, out->data, out->len) == -1)
		return -1;
	buf_reset(out);
	while ((rc = record_peek(qin, q, &total)) == 0) {
		if ((n = sock_read_buf(fd, qin)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return -1;
		}
	}
	return rc == 1 ? 0 : -1;
}

/* A file that will never go: out of the way, with the reason. */
static void
drop_aside(const char *name, const char *why)
{
	char	 from[128], to[128];

	snprintf(from, sizeof(from), "%s/%s", MD_DIR, name);
	snprintf(to, sizeof(to), "corrupt/maildrop-%s", name);
	if (rename(from, to) == -1) {
		log_warn("maildrop %s: %s; rename to %s", name, why, to);
		(void)unlink(from);
		return;
	}
	log_warnx("maildrop %s: %s: moved to %s", name, why, to);
}

/* The E record: decimal, not NUL-terminated, equal to what was counted. */
static int
drop_size_matches(const struct record *r, long long bytes)
{
	char		 num[24];
	const char	*errstr;

	if (r->len == 0 || r->len >= sizeof(num))
		return 0;
	memcpy(num, r->data, r->len);
	num[r->len] = '\0';
	return strtonum(num, 0, LLONG_MAX, &errstr) == bytes && errstr == NULL;
}
