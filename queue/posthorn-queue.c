/*
 * posthorn-queue: the operator's queue tool.  It asks the queue manager
 * over its socket and never opens a queue file itself.
 *
 *	posthorn-queue [-c confdir] flush		all deferred mail now
 *	posthorn-queue [-c confdir] flush domain	that domain's mail
 *	posthorn-queue [-c confdir] flush @domain	... and its subdomains'
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "proto.h"
#include "record.h"
#include "sock.h"

#ifndef CONFIG_DIR
#define CONFIG_DIR	"/usr/local/etc/posthorn"
#endif

static int	 pq_flush(const struct conf *, const char *);
static int	 pq_ask(const struct conf *, struct buf *, struct buf *);
static void	 usage(void) __attribute__((noreturn));

int
main(int argc, char **argv)
{
	struct conf	 c;
	const char	*confdir = CONFIG_DIR;
	char		 err[1024];
	int		 ch;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			usage();
		confdir = optarg;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (conf_load(&c, confdir, err, sizeof(err)) == -1) {
		fprintf(stderr, "posthorn-queue: %s\n", err);
		return 75;	/* EX_TEMPFAIL */
	}
	if (strcmp(argv[0], "flush") == 0 && argc <= 2)
		return pq_flush(&c, argc == 2 ? argv[1] : NULL);
	usage();
}

static int
pq_flush(const struct conf *c, const char *arg)
{
	struct buf	 out, in;
	struct record	 r;
	size_t		 total;
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
		return 64;	/* EX_USAGE */
	}
	buf_init(&out, 0);
	buf_init(&in, RECORD_MAX + RECORD_HDR);
	record_putf(&out, PROTO_FLUSH, arg ? arg : "", sub ? "1" : "", "",
	    NULL);
	if (pq_ask(c, &out, &in) == -1)
		return 75;
	(void)record_peek(&in, &r, &total);
	if (r.type != PROTO_OK || r.len == 0 || r.data[r.len - 1] != '\0') {
		fprintf(stderr, "posthorn-queue: flush refused\n");
		return 75;
	}
	printf("%s message%s of %s%s queued for delivery\n", r.data,
	    strcmp(r.data, "1") == 0 ? "" : "s",
	    arg ? arg : "the deferred queue", sub ? " and its subdomains" :
	    "");
	buf_free(&out);
	buf_free(&in);
	return 0;
}

/* Send out to qmgr, read one record into in. */
static int
pq_ask(const struct conf *c, struct buf *out, struct buf *in)
{
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 fd, rc;

	if (chdir(c->queue_directory) == -1) {
		fprintf(stderr, "posthorn-queue: %s: %s\n", c->queue_directory,
		    strerror(errno));
		return -1;
	}
	if ((fd = sock_unix_connect(QMGR_SOCKET)) == -1) {
		fprintf(stderr, "posthorn-queue: cannot reach the queue manager "
		    "at %s/%s: %s (is posthorn running?)\n",
		    c->queue_directory, QMGR_SOCKET, strerror(errno));
		return -1;
	}
	if (io_write_all(fd, out->data, out->len) == -1) {
		fprintf(stderr, "posthorn-queue: write to the queue manager: "
		    "%s\n", strerror(errno));
		close(fd);
		return -1;
	}
	while ((rc = record_peek(in, &r, &total)) == 0) {
		if ((n = sock_read_buf(fd, in)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			fprintf(stderr, "posthorn-queue: the queue manager "
			    "closed the connection\n");
			close(fd);
			return -1;
		}
	}
	close(fd);
	if (rc == -1) {
		fprintf(stderr, "posthorn-queue: malformed reply\n");
		return -1;
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: posthorn-queue [-c confdir] flush "
	    "[domain | @domain]\n");
	exit(64);
}
