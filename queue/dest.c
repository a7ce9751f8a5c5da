/*
 * dest: what qmgr knows of each relay destination (transport and next
 * hop).  Its concurrency window starts at smtp_initial_destination_
 * concurrency and grows by one with every connection on which a server
 * answered, up to smtp_destination_concurrency_limit; a connection that
 * reached no server halves it, and one that fails at a window of one
 * marks the destination dead for minimal_backoff_time: its mail is then
 * deferred without a connection attempt, so that a dead site costs
 * nothing and never holds up the others.  A rate limit (smtp_destination_
 * rate_limit, or the destination's entry in smtp_destination_rate_map)
 * caps the connections started per interval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <bsd/string.h>

#include "log.h"
#include "qmgr.h"

static void	 dest_rate_set(struct qmgr *, struct dest *, const char *);

struct dest *
dest_get(struct qmgr *q, const char *transport, const char *nexthop)
{
	struct dest	*d;
	char		 key[300];

	snprintf(key, sizeof(key), "%s:%s", transport, nexthop);
	for (d = q->dests; d; d = d->next)
		if (strcasecmp(d->key, key) == 0) {
			d->used = time(NULL);
			return d;
		}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		log_fatal("dest_get");
	strlcpy(d->key, key, sizeof(d->key));
	d->window = q->conf->smtp_initial_destination_concurrency;
	if (d->window > q->conf->smtp_destination_concurrency_limit)
		d->window = q->conf->smtp_destination_concurrency_limit;
	d->used = time(NULL);
	/* An ODMR session has one connection, the customer's. */
	if (strcmp(transport, "odmr") == 0)
		d->window = 1;
	else
		dest_rate_set(q, d, nexthop);
	d->next = q->dests;
	q->dests = d;
	return d;
}

/*
 * smtp_destination_rate_map by the next hop's host (the domain for MX
 * routing; "[host]:port" is looked up as host), else the default.
 */
static void
dest_rate_set(struct qmgr *q, struct dest *d, const char *nexthop)
{
	const char	*val = NULL;
	char		 err[512], host[256];

	if (q->rates) {
		if (nexthop[0] == '[')
			snprintf(host, sizeof(host), "%.*s",
			    (int)strcspn(nexthop + 1, "]"), nexthop + 1);
		else
			snprintf(host, sizeof(host), "%.*s",
			    (int)strcspn(nexthop, ":"), nexthop);
		if (map_refresh(q->rates, err, sizeof(err)) == -1)
			log_warnx("%s", err);
		if (map_get(q->rates, host, &val, err, sizeof(err)) == -1)
			log_warnx("%s", err);
	}
	if (val == NULL && q->conf->smtp_destination_rate_limit[0])
		val = q->conf->smtp_destination_rate_limit;
	if (val && conf_parse_rate(val, &d->rate_n, &d->rate_interval) == -1) {
		log_warnx("rate limit '%s' for %s is not N/time; ignored", val,
		    nexthop);
		d->rate_n = d->rate_interval = 0;
	}
}

long
dest_rate_wait(struct qmgr *q, struct dest *d)
{
	time_t	 now = time(NULL);

	(void)q;
	if (d->rate_interval == 0)
		return 0;
	if (now - d->rate_start >= d->rate_interval) {
		d->rate_start = now;
		d->rate_count = 0;
	}
	if (d->rate_count < d->rate_n)
		return 0;
	return (long)(d->rate_start + d->rate_interval - now);
}

void
dest_rate_count(struct dest *d)
{
	if (d->rate_interval)
		d->rate_count++;
}

int
dest_dead(struct qmgr *q, struct dest *d)
{
	(void)q;
	return d->dead_until > time(NULL);
}

void
dest_feedback(struct qmgr *q, struct dest *d, int ok, const char *reason)
{
	long	 limit = q->conf->smtp_destination_concurrency_limit;

	if (d->odmr)
		return;
	if (ok) {
		if (d->dead_until)
			log_info("destination %s is reachable again", d->key);
		d->dead_until = 0;
		if (d->window < limit)
			d->window++;
		return;
	}
	if (d->window > 1) {
		d->window /= 2;
		return;
	}
	if (!dest_dead(q, d)) {
		d->dead_until = time(NULL) + q->conf->minimal_backoff_time;
		strlcpy(d->reason, reason, sizeof(d->reason));
		log_info("destination %s marked dead for %lds: %s", d->key,
		    q->conf->minimal_backoff_time, reason);
	}
}

/* Forget idle destinations (an hour without mail and nothing pending). */
void
dest_expire(struct qmgr *q)
{
	struct dest	**pp, *d;
	time_t		 now = time(NULL);

	for (pp = &q->dests; (d = *pp) != NULL;) {
		if (d->active == 0 && d->wait == NULL && d->idle == NULL &&
		    now - d->used > 3600 &&
		    !dest_dead(q, d) && (d->rate_interval == 0 ||
		    now - d->rate_start >= d->rate_interval)) {
			*pp = d->next;
			free(d);
		} else
			pp = &d->next;
	}
}
