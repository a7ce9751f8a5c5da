/*
 * flush: deferred mail tried now, at the operator's word or a client's
 * ETRN.  A flush of everything moves all of deferred/ to active/ and
 * forgets every dead destination.  A flush of one domain (and, asked,
 * its subdomains) opens only the messages the domain index names, tries
 * only that domain's recipients, and puts each message back with the
 * retry time it had: the back-off of the other recipients is untouched.
 * A named queue ("#host", ETRN) is the same for the recipients whose
 * next hop is that host.  ETRN requests are limited per client address
 * (smtpd_etrn_rate_limit), counted here where every smtpd's requests
 * meet.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/string.h>

#include "log.h"
#include "qmgr.h"

#define FLUSH_CLIENTS	256	/* client addresses remembered */

struct flush_client {
	char	 addr[64];
	time_t	 start;
	long	 count;
};

static struct flush_client flush_clients[FLUSH_CLIENTS];

static int	 flush_one(struct qmgr *, const char *, const char *, int,
		    long);
static int	 flush_all_one(struct qmgr *, const char *, const char *, int,
		    void *);

int
flush_rate_check(struct qmgr *q, const char *client)
{
	struct flush_client *c, *old = &flush_clients[0];
	time_t		 now = time(NULL);
	long		 n, interval;
	size_t		 i;

	if (conf_parse_rate(q->conf->smtpd_etrn_rate_limit, &n, &interval) ==
	    -1 || interval == 0)
		return 0;
	for (i = 0; i < FLUSH_CLIENTS; i++) {
		c = &flush_clients[i];
		if (strcmp(c->addr, client) == 0)
			break;
		if (c->start < old->start)
			old = c;
	}
	if (i == FLUSH_CLIENTS) {
		c = old;
		strlcpy(c->addr, client, sizeof(c->addr));
		c->start = now;
		c->count = 0;
	}
	if (now - c->start >= interval) {
		c->start = now;
		c->count = 0;
	}
	if (c->count >= n)
		return -1;
	c->count++;
	return 0;
}

long
flush_queue(struct qmgr *q, const char *domain, int sub)
{
	struct qid	*ids;
	struct dest	*d;
	size_t		 i, n;
	long		 started = 0;

	if (q->stopping)
		return 0;
	if (domain) {
		ids = dindex_find(q, domain, sub && domain[0] != '#', &n);
		for (i = 0; i < n; i++)
			started += flush_one(q, ids[i].id, domain, sub, 0);
		free(ids);
		return started;
	}
	for (d = q->dests; d; d = d->next)
		d->dead_until = 0;
	(void)qdir_each(q, Q_DEFERRED, flush_all_one, &started);
	return started;
}

static int
flush_all_one(struct qmgr *q, const char *dir, const char *name, int sub,
    void *arg)
{
	long	*started = arg;

	(void)dir;
	(void)sub;
	if (queueid_valid(name))
		*started += flush_one(q, name, NULL, 0, 0);
	return 0;
}

/* A message for an ODMR session (odmr.c): 1 if it started, else 0. */
int
flush_odmr(struct qmgr *q, const char *id, long session)
{
	return flush_one(q, id, NULL, 0, session);
}

/* One message from deferred/ to active/ and the ready queue: 1, else 0. */
static int
flush_one(struct qmgr *q, const char *id, const char *only, int sub,
    long odmr)
{
	char		 from[64], to[64];
	struct stat	 st;
	struct qmsg	*m;

	qf_path(from, sizeof(from), Q_DEFERRED, id);
	qf_path(to, sizeof(to), Q_ACTIVE, id);
	if (stat(from, &st) == -1 || rename(from, to) == -1) {
		if (errno != ENOENT)
			log_warn("%s: flush: rename %s %s", id, from, to);
		else
			dindex_remove(q, id);
		return 0;
	}
	dindex_remove(q, id);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		log_fatal("flush_one");
	strlcpy(m->id, id, sizeof(m->id));
	if (only) {
		strlcpy(m->only, only, sizeof(m->only));
		m->only_sub = sub;
		m->next_try = st.st_mtime;
	}
	if (odmr) {
		/* Only the session's recipients; the others keep their time. */
		m->odmr = odmr;
		m->next_try = st.st_mtime;
	} else
		m->flush = 1;
	sched_enqueue_msg(q, m);
	return 1;
}
