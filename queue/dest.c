/*
 * dest: what qmgr knows of each relay destination (transport and next
 * hop).  Its concurrency window starts at smtp_initial_destination_
 * concurrency and grows by one with every connection on which a server
 * answered, up to smtp_destination_concurrency_limit; a connection that
 * reached no server halves it, and one that fails at a window of one
 * marks the destination dead for minimal_backoff_time: its mail is then
 * deferred without a connection attempt, so that a dead site costs
 * nothing and never holds up the others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <bsd/string.h>

#include "log.h"
#include "qmgr.h"

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
	d->next = q->dests;
	q->dests = d;
	return d;
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
		if (d->active == 0 && d->wait == NULL && now - d->used > 3600 &&
		    !dest_dead(q, d)) {
			*pp = d->next;
			free(d);
		} else
			pp = &d->next;
	}
}
