/*
 * tlspol: the relay agents' memory of outbound TLS policy.  The smtp
 * agents are sandboxed read-only; they read the MTA-STS policies cached
 * in tlspol/sts/ themselves, and send this service (over private/tlspol)
 * what is to be written: a policy they fetched, to keep until its
 * max_age, and the outcome of each TLS session held under a policy, for
 * the TLS reports (RFC 8460) that posthorn-tlsrpt makes of
 * tlspol/results/.  Nothing is answered: an agent never waits here.
 * Every policy is parsed again before it is written, and every name
 * checked, so that an agent cannot write anything else.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "event.h"
#include "log.h"
#include "mtasts.h"
#include "proto.h"
#include "record.h"
#include "service.h"
#include "sock.h"
#include "tlsrpt.h"

#define TLSPOL_CLEANUP_MS	(3600 * 1000)	/* the cleanup's round */

struct tlspold {
	struct service	 svc;
	struct event_loop *loop;
	struct client	*clients;
};

struct client {
	int		 fd;
	struct buf	 in;
	struct tlspold	*td;
	struct client	*next;
};

static void	 tlspol_accept(int, int, void *);
static void	 tlspol_io(int, int, void *);
static void	 tlspol_close(struct client *);
static void	 tlspol_request(const struct record *);
static void	 tlspol_put(const struct record *);
static void	 tlspol_result(const struct record *);
static void	 tlspol_cleanup(const struct conf *);
static void	 tlspol_hourly(void *);
static void	 tlspol_gone(int, int, void *);
static void	 tlspol_signal(int, void *);

int
main(int argc, char **argv)
{
	static struct tlspold td;

	service_init(&td.svc, argc, argv, "tlspol");
	service_drop(&td.svc);
	/* master makes them (qdirs.c); this is for a start by other means. */
	if ((mkdir(TLSPOL_STS_DIR, 0700) == -1 && errno != EEXIST) ||
	    (mkdir(TLSPOL_RESULTS_DIR, 0700) == -1 && errno != EEXIST))
		log_fatal("mkdir %s", TLSPOL_DIR);
	td.loop = event_loop_new();
	sock_nonblock(td.svc.listen_fd);
	if (event_add(td.loop, td.svc.listen_fd, EV_READ, tlspol_accept,
	    &td) == -1)
		log_fatal("event_add");
	if (td.svc.master_fd != -1 && event_add(td.loop, td.svc.master_fd,
	    EV_READ, tlspol_gone, &td) == -1)
		log_fatal("event_add");
	if (event_signal(td.loop, SIGTERM, tlspol_signal, &td) == -1)
		log_fatal("event_signal");
	tlspol_cleanup(&td.svc.conf);
	if (event_timer_add(td.loop, TLSPOL_CLEANUP_MS, tlspol_hourly, &td) ==
	    NULL)
		log_fatal("event_timer_add");
	log_info("TLS policy service started");
	event_loop_run(td.loop);
	return 0;
}

static void
tlspol_accept(int lfd, int events, void *arg)
{
	struct tlspold	*td = arg;
	struct client	*c;
	int		 fd;

	(void)events;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("tlspol: accept");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->td = td;
	buf_init(&c->in, TLSPOL_RECORD_MAX + RECORD_HDR);
	c->next = td->clients;
	td->clients = c;
	if (event_add(td->loop, fd, EV_READ, tlspol_io, c) == -1) {
		log_warn("tlspol: event_add");
		tlspol_close(c);
	}
}

static void
tlspol_io(int fd, int events, void *arg)
{
	struct client	*c = arg;
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 rc;

	(void)fd;
	(void)events;
	n = sock_read_buf(c->fd, &c->in);
	if (n == 0 || (n == -1 && errno != EAGAIN)) {
		tlspol_close(c);
		return;
	}
	while ((rc = record_peek(&c->in, &r, &total)) == 1) {
		tlspol_request(&r);
		buf_consume(&c->in, total);
	}
	if (rc == -1 || c->in.len > TLSPOL_RECORD_MAX + RECORD_HDR) {
		log_warnx("tlspol: malformed request; closing");
		tlspol_close(c);
	}
}

static void
tlspol_close(struct client *c)
{
	struct client	**pp;

	for (pp = &c->td->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	event_del(c->td->loop, c->fd);
	close(c->fd);
	buf_free(&c->in);
	free(c);
}

static void
tlspol_request(const struct record *r)
{
	if (r->type == PROTO_STS_PUT)
		tlspol_put(r);
	else if (r->type == PROTO_TLSRESULT)
		tlspol_result(r);
	else
		log_warnx("tlspol: unknown request type %d", r->type);
}

/* domain, id, policy: kept as tlspol/sts/domain, replaced atomically. */
static void
tlspol_put(const struct record *r)
{
	const char	*f[3];
	struct mtasts_policy pol;
	char		 key[256], path[512], tmp[520], err[128], head[128];
	int		 fd, n;

	if (record_fields(r, f, 3) == -1 ||
	    mtasts_domain_key(f[0], key, sizeof(key)) == -1 ||
	    mtasts_txt_id_valid(f[1]) == 0) {
		log_warnx("tlspol: bad policy record");
		return;
	}
	if (mtasts_parse(f[2], strlen(f[2]), &pol, err, sizeof(err)) == -1) {
		log_warnx("tlspol: MTA-STS policy of %s not kept: %s", key,
		    err);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", TLSPOL_STS_DIR, key);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((n = mtasts_kept_head(head, sizeof(head), f[1], time(NULL))) ==
	    -1) {
		log_warnx("tlspol: bad policy record");
		return;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		log_warn("tlspol: %s", tmp);
		return;
	}
	if (io_write_all(fd, head, (size_t)n) == -1 ||
	    io_write_all(fd, f[2], strlen(f[2])) == -1 || close(fd) == -1 ||
	    rename(tmp, path) == -1) {
		log_warn("tlspol: %s", path);
		(void)unlink(tmp);
		return;
	}
	log_info("tlspol: MTA-STS policy of %s kept (id %s, mode %s, max_age "
	    "%ld)", key, f[1], mtasts_mode_name(pol.mode), pol.max_age);
}

/* One TLS session's outcome, a line of today's (UTC) results file. */
static void
tlspol_result(const struct record *r)
{
	const char	*f[TLSRPT_NFIELDS];
	static char	*line;
	size_t		 len = 3 * TLSPOL_RECORD_MAX + 64;
	char		 path[256], day[16];
	time_t		 now = time(NULL);
	struct tm	 tm;
	int		 fd;

	/* Escaping may triple a field: room for the worst record. */
	if (line == NULL && (line = malloc(len)) == NULL) {
		log_warn("tlspol: result");
		return;
	}
	if (record_fields(r, f, TLSRPT_NFIELDS) == -1 ||
	    tlsrpt_format(now, f, line, len) == -1) {
		log_warnx("tlspol: bad result record");
		return;
	}
	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	snprintf(path, sizeof(path), "%s/%s", TLSPOL_RESULTS_DIR, day);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) == -1) {
		log_warn("tlspol: %s", path);
		return;
	}
	if (io_write_all(fd, line, strlen(line)) == -1)
		log_warn("tlspol: %s", path);
	close(fd);
}

/*
 * Results older than tlsrpt_results_lifetime, and policies past their
 * max_age (no agent uses them any more), are removed.
 */
static void
tlspol_cleanup(const struct conf *c)
{
	DIR		*d;
	struct dirent	*e;
	struct tm	 tm;
	struct mtasts_policy pol;
	char		 path[512], err[128], id[64], *p;
	static char	*buf;
	size_t		 len = MTASTS_POLICY_MAX + 1024, got;
	time_t		 now = time(NULL), fetched;
	long		 off;
	ssize_t		 n;
	int		 fd;

	if ((d = opendir(TLSPOL_RESULTS_DIR)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			memset(&tm, 0, sizeof(tm));
			if (strlen(e->d_name) != 10 || (p = strptime(e->d_name,
			    "%Y-%m-%d", &tm)) == NULL || *p != '\0' ||
			    timegm(&tm) + 86400 + c->tlsrpt_results_lifetime >=
			    now)
				continue;
			snprintf(path, sizeof(path), "%s/%s",
			    TLSPOL_RESULTS_DIR, e->d_name);
			if (unlink(path) == 0)
				log_info("tlspol: %s removed (older than "
				    "tlsrpt_results_lifetime)", path);
		}
		closedir(d);
	}
	if ((d = opendir(TLSPOL_STS_DIR)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", TLSPOL_STS_DIR,
		    e->d_name);
		if (buf == NULL && (buf = malloc(len + 1)) == NULL)
			break;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
			continue;
		for (got = 0; got < len && (n = read(fd, buf + got, len -
		    got)) > 0; got += (size_t)n)
			;
		close(fd);
		if (got == 0)
			continue;
		buf[got] = '\0';
		if ((off = mtasts_kept_parse(buf, id, sizeof(id),
		    &fetched)) == -1 || mtasts_parse(buf + off,
		    got - (size_t)off, &pol, err, sizeof(err)) == -1 ||
		    fetched + pol.max_age >= now)
			continue;
		if (unlink(path) == 0)
			log_info("tlspol: %s removed (past its max_age)", path);
	}
	closedir(d);
}

static void
tlspol_hourly(void *arg)
{
	struct tlspold	*td = arg;

	tlspol_cleanup(&td->svc.conf);
	if (event_timer_add(td->loop, TLSPOL_CLEANUP_MS, tlspol_hourly, td) ==
	    NULL)
		log_warn("event_timer_add");
}

static void
tlspol_gone(int fd, int events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	exit(0);
}

static void
tlspol_signal(int sig, void *arg)
{
	(void)sig;
	(void)arg;
	exit(0);
}
