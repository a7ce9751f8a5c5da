/*
 * posthorn-queue: the operator's queue tool, and mailq.  It asks the
 * queue manager over public/qmgr (root and queue_admin_group only) and
 * never opens a queue file itself.
 *
 *	posthorn-queue [-c confdir] list [-j]	the queue (mailq; -j: JSON)
 *	posthorn-queue [-c confdir] show ID	envelope and message
 *	posthorn-queue [-c confdir] delete ID|ALL [deferred]
 *	posthorn-queue [-c confdir] hold ID|ALL
 *	posthorn-queue [-c confdir] release ID|ALL
 *	posthorn-queue [-c confdir] requeue ID|ALL
 *	posthorn-queue [-c confdir] flush [domain|@domain]
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "proto.h"
#include "queueid.h"
#include "record.h"
#include "sock.h"

#ifndef CONFIG_DIR
#define CONFIG_DIR	"/usr/local/etc/posthorn"
#endif

#define EX_USAGE_	64
#define EX_NOINPUT_	66
#define EX_TEMPFAIL_	75

/* One reply stream from qmgr, record by record. */
struct pq_conn {
	int		 fd;
	struct buf	 in;
	size_t		 pending;	/* bytes of the last record to drop */
};

static int	 pq_open(const struct conf *, struct pq_conn *,
		    const struct buf *);
static int	 pq_next(struct pq_conn *, struct record *);
static int	 pq_flush(const struct conf *, const char *);
static int	 pq_list(const struct conf *, int json);
static int	 pq_show(const struct conf *, const char *);
static int	 pq_admin(const struct conf *, const char *, const char *,
		    const char *);
static void	 json_str(const char *);
static void	 usage(void) __attribute__((noreturn));

int
main(int argc, char **argv)
{
	struct conf	 c;
	const char	*confdir = CONFIG_DIR;
	char		 err[1024];
	int		 ch, mailq;

	mailq = strcmp(basename(argv[0]), "mailq") == 0;
	/* "+": options end at the command (list -j is the command's). */
	while ((ch = getopt(argc, argv, mailq ? "+c:j" : "+c:")) != -1) {
		if (ch == 'c')
			confdir = optarg;
		else if (ch != 'j')
			usage();
	}
	if (conf_load(&c, confdir, err, sizeof(err)) == -1) {
		fprintf(stderr, "posthorn-queue: %s\n", err);
		return EX_TEMPFAIL_;
	}
	if (mailq) {
		optind = 1;
		while ((ch = getopt(argc, argv, "+c:j")) != -1)
			if (ch == 'j')
				return pq_list(&c, 1);
		return pq_list(&c, 0);
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "flush") == 0 && argc <= 2)
		return pq_flush(&c, argc == 2 ? argv[1] : NULL);
	if (strcmp(argv[0], "list") == 0 && argc == 1)
		return pq_list(&c, 0);
	if (strcmp(argv[0], "list") == 0 && argc == 2 &&
	    (strcmp(argv[1], "-j") == 0 || strcmp(argv[1], "--json") == 0))
		return pq_list(&c, 1);
	if (strcmp(argv[0], "show") == 0 && argc == 2)
		return pq_show(&c, argv[1]);
	/* "deferred" or "--deferred": only the deferred queue's mail. */
	if (strcmp(argv[0], "delete") == 0 && (argc == 2 || (argc == 3 &&
	    (strcmp(argv[2], "deferred") == 0 ||
	    strcmp(argv[2], "--deferred") == 0) && strcmp(argv[1], "ALL") == 0)))
		return pq_admin(&c, "delete", argv[1], argc == 3 ? "deferred" :
		    "");
	if ((strcmp(argv[0], "hold") == 0 || strcmp(argv[0], "release") == 0 ||
	    strcmp(argv[0], "requeue") == 0) && argc == 2)
		return pq_admin(&c, argv[0], argv[1], "");
	usage();
}

static int
pq_flush(const struct conf *c, const char *arg)
{
	struct pq_conn	 p;
	struct record	 r;
	struct buf	 out;
	int		 sub = 0;

	if (arg && arg[0] == '@') {
		sub = 1;
		arg++;
	}
	if (arg && (arg[0] == '\0' || strlen(arg) > 255 || strspn(arg,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
	    != strlen(arg))) {
		fprintf(stderr, "posthorn-queue: flush: not a domain: %s\n",
		    arg);
		return EX_USAGE_;
	}
	buf_init(&out, 0);
	record_putf(&out, PROTO_FLUSH, arg ? arg : "", sub ? "1" : "", "",
	    NULL);
	if (pq_open(c, &p, &out) == -1 || pq_next(&p, &r) != 1)
		return EX_TEMPFAIL_;
	if (r.type != PROTO_OK || r.len == 0 || r.data[r.len - 1] != '\0') {
		fprintf(stderr, "posthorn-queue: flush refused\n");
		return EX_TEMPFAIL_;
	}
	printf("%s message%s of %s%s queued for delivery\n", r.data,
	    strcmp(r.data, "1") == 0 ? "" : "s",
	    arg ? arg : "the deferred queue", sub ? " and its subdomains" :
	    "");
	return 0;
}

/*
 * The queue as mailq shows it: ID (with * when being delivered, ! when
 * held), size, arrival, sender; then each pending recipient, under the
 * reason of its last deferral.
 */
static int
pq_list(const struct conf *c, int json)
{
	struct pq_conn	 p;
	struct record	 r;
	struct buf	 out;
	const char	*f[6], *last = NULL;
	char		 when[64], lastbuf[1200];
	time_t		 t;
	int		 rc, n = 0, first = 1;

	buf_init(&out, 0);
	record_put(&out, PROTO_LIST, NULL, 0);
	if (pq_open(c, &p, &out) == -1)
		return EX_TEMPFAIL_;
	while ((rc = pq_next(&p, &r)) == 1) {
		if (r.type == PROTO_OK)
			break;
		if (r.type == PROTO_ITEM && record_fields(&r, f, 6) == 0) {
			t = (time_t)strtoll(f[2], NULL, 10);
			if (json) {
				if (!first)
					printf("]}\n");
				printf("{\"queue_name\": \"%s\", \"queue_id\": ",
				    f[1][0] == 'A' ? "active" : f[1][0] == 'H' ?
				    "hold" : "deferred");
				json_str(f[0]);
				printf(", \"arrival_time\": %s, "
				    "\"message_size\": %s, \"sender\": ", f[2],
				    f[3]);
				json_str(f[4]);
				printf(", \"recipients\": [");
				first = 0;
				n = 0;
			} else {
				if (!first)
					printf("\n");
				if (first)
					printf("-Queue ID-        --Size-- "
					    "----Arrival Time---- "
					    "-Sender/Recipient-------\n");
				strftime(when, sizeof(when),
				    "%a %b %e %H:%M:%S", localtime(&t));
				printf("%s%c %8s %s  %s\n", f[0],
				    f[1][0] == 'A' ? '*' : f[1][0] == 'H' ?
				    '!' : ' ', f[3], when, f[4][0] ? f[4] :
				    "MAILER-DAEMON");
				first = 0;
				last = NULL;
			}
			continue;
		}
		if (r.type == PROTO_RCPT && record_fields(&r, f, 5) == 0) {
			/* Only the pending ones: the rest are done. */
			if (f[1][0] != 'P' && f[1][0] != 'W')
				continue;
			if (json) {
				printf("%s{\"address\": ", n++ ? ", " : "");
				json_str(f[0]);
				if (f[3][0]) {
					printf(", \"delay_reason\": ");
					json_str(f[3]);
				}
				printf("}");
				continue;
			}
			if (f[3][0] && (last == NULL || strcmp(last, f[3]) !=
			    0)) {
				printf("%*s(%s)\n", 8, "", f[3]);
				snprintf(lastbuf, sizeof(lastbuf), "%s", f[3]);
				last = lastbuf;
			}
			printf("%*s%s\n", 42, "", f[0]);
		}
	}
	if (rc != 1 || r.type != PROTO_OK || record_fields(&r, f, 2) == -1) {
		fprintf(stderr, "posthorn-queue: the list was cut short\n");
		return EX_TEMPFAIL_;
	}
	if (json) {
		if (!first)
			printf("]}\n");
		return 0;
	}
	if (first)
		printf("Mail queue is empty\n");
	else
		printf("\n-- %lld Kbytes in %s Request%s.\n",
		    (strtoll(f[1], NULL, 10) + 1023) / 1024, f[0],
		    strcmp(f[0], "1") == 0 ? "" : "s");
	return 0;
}

static int
pq_show(const struct conf *c, const char *id)
{
	struct pq_conn	 p;
	struct record	 r;
	struct buf	 out;
	const char	*f[6];
	char		 when[64];
	time_t		 t;
	int		 rc;

	if (!queueid_valid(id)) {
		fprintf(stderr, "posthorn-queue: %s: not a queue ID\n", id);
		return EX_USAGE_;
	}
	buf_init(&out, 0);
	record_putf(&out, PROTO_SHOW, id, NULL);
	if (pq_open(c, &p, &out) == -1)
		return EX_TEMPFAIL_;
	while ((rc = pq_next(&p, &r)) == 1) {
		switch (r.type) {
		case PROTO_ITEM:
			if (record_fields(&r, f, 6) == -1)
				break;
			t = (time_t)strtoll(f[2], NULL, 10);
			strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S %z",
			    localtime(&t));
			printf("*** ENVELOPE RECORDS %s ***\n", f[0]);
			printf("queue: %s\n", f[1][0] == 'A' ? "active" :
			    f[1][0] == 'H' ? "hold" : "deferred");
			printf("message_size: %s\narrival_time: %s\n", f[3],
			    when);
			printf("sender: %s\n", f[4]);
			if (f[5][0])
				printf("client: %s\n", f[5]);
			break;
		case PROTO_RCPT:
			if (record_fields(&r, f, 5) == -1)
				break;
			printf("recipient: %s (%s)%s%s%s%s\n", f[0],
			    f[1][0] == 'D' ? "delivered" : f[1][0] == 'B' ?
			    "failed" : "pending", f[2][0] ? ": " : "", f[2],
			    f[3][0] ? " " : "", f[3]);
			break;
		case PROTO_DATA:
			printf("*** MESSAGE CONTENTS ***\n");
			fwrite(r.data, 1, r.len, stdout);
			/* The next chunks follow without a header. */
			while ((rc = pq_next(&p, &r)) == 1 &&
			    r.type == PROTO_DATA)
				fwrite(r.data, 1, r.len, stdout);
			if (rc != 1)
				goto cut;
			/* FALLTHROUGH */
		default:
			if (r.type == PROTO_OK)
				return 0;
			if (r.type == PROTO_FAIL) {
				fprintf(stderr, "posthorn-queue: %s: %.*s\n",
				    id, (int)r.len, r.data);
				return EX_NOINPUT_;
			}
		}
	}
cut:
	fprintf(stderr, "posthorn-queue: the message was cut short\n");
	return EX_TEMPFAIL_;
}

static int
pq_admin(const struct conf *c, const char *op, const char *arg,
    const char *flags)
{
	struct pq_conn	 p;
	struct record	 r;
	struct buf	 out;

	if (strcmp(arg, "ALL") != 0 && !queueid_valid(arg)) {
		fprintf(stderr, "posthorn-queue: %s: not a queue ID\n", arg);
		return EX_USAGE_;
	}
	buf_init(&out, 0);
	record_putf(&out, PROTO_ADMIN, op, arg, flags, NULL);
	if (pq_open(c, &p, &out) == -1 || pq_next(&p, &r) != 1)
		return EX_TEMPFAIL_;
	if (r.len == 0 || r.data[r.len - 1] != '\0')
		return EX_TEMPFAIL_;
	if (r.type == PROTO_FAIL) {
		fprintf(stderr, "posthorn-queue: %s\n", r.data);
		return EX_NOINPUT_;
	}
	printf("posthorn-queue: %s: %s message%s\n", op, r.data,
	    strcmp(r.data, "1") == 0 ? "" : "s");
	return 0;
}

/* Connect to public/qmgr and send the request. */
static int
pq_open(const struct conf *c, struct pq_conn *p, const struct buf *out)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->in, RECORD_MAX + RECORD_HDR);
	if (chdir(c->queue_directory) == -1) {
		fprintf(stderr, "posthorn-queue: %s: %s\n", c->queue_directory,
		    strerror(errno));
		return -1;
	}
	if ((p->fd = sock_unix_connect(QMGR_ADMIN_SOCKET)) == -1) {
		fprintf(stderr, "posthorn-queue: cannot reach the queue manager "
		    "at %s/%s: %s%s\n", c->queue_directory, QMGR_ADMIN_SOCKET,
		    strerror(errno), errno == EACCES ? " (root and "
		    "queue_admin_group only)" : " (is posthorn running?)");
		return -1;
	}
	if (io_write_all(p->fd, out->data, out->len) == -1) {
		fprintf(stderr, "posthorn-queue: write to the queue manager: "
		    "%s\n", strerror(errno));
		close(p->fd);
		return -1;
	}
	return 0;
}

/* The next record: 1, or -1 when the stream ends early or is bad. */
static int
pq_next(struct pq_conn *p, struct record *r)
{
	size_t	 total;
	ssize_t	 n;
	int	 rc;

	buf_consume(&p->in, p->pending);
	p->pending = 0;
	while ((rc = record_peek(&p->in, r, &total)) == 0) {
		if ((n = sock_read_buf(p->fd, &p->in)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			fprintf(stderr, "posthorn-queue: the queue manager "
			    "closed the connection\n");
			return -1;
		}
	}
	if (rc == -1) {
		fprintf(stderr, "posthorn-queue: malformed reply\n");
		return -1;
	}
	p->pending = total;
	return 1;
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void
usage(void)
{
	fprintf(stderr, "usage: posthorn-queue [-c confdir] list [-j]\n"
	    "       posthorn-queue [-c confdir] show ID\n"
	    "       posthorn-queue [-c confdir] delete ID | ALL [deferred]\n"
	    "       posthorn-queue [-c confdir] hold | release | requeue "
	    "ID | ALL\n"
	    "       posthorn-queue [-c confdir] flush [domain | @domain]\n"
	    "       mailq [-c confdir] [-j]\n");
	exit(EX_USAGE_);
}
