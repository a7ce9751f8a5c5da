/*
 * idle: relay agent channels kept open between jobs.  An agent that ends
 * a job with its server session still open says so (PROTO_DONE "1");
 * qmgr parks the channel with the destination for smtp_connection_cache_
 * time_limit, and the destination's next share goes down that channel
 * instead of a new connection to a new server.  An idle channel holds an
 * agent process, so a new relay connection that would exceed smtp_
 * concurrency_limit closes the oldest idle one first.
 */
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "qmgr.h"

struct idle {
	int		 fd;
	struct dest	*dest;
	struct qmgr	*q;
	time_t		 since;
	struct event_timer *timer;
	struct idle	*next;		/* in the destination */
};

static void	 idle_close(struct idle *);
static void	 idle_io(int, int, void *);
static void	 idle_expire(void *);

void
idle_park(struct qmgr *q, struct dest *d, int fd)
{
	struct idle	*i;
	long		 ms = q->conf->smtp_connection_cache_time_limit * 1000;

	if (d->odmr)
		ms = ODMR_IDLE_TIME * 1000;
	if (q->stopping || ms == 0 || (i = calloc(1, sizeof(*i))) == NULL) {
		close(fd);
		return;
	}
	i->fd = fd;
	i->dest = d;
	i->q = q;
	i->since = time(NULL);
	/* Readable while idle: the agent went away (or misbehaves). */
	if (event_add(q->loop, fd, EV_READ, idle_io, i) == -1) {
		close(fd);
		free(i);
		return;
	}
	i->timer = event_timer_add(q->loop, ms, idle_expire, i);
	i->next = d->idle;
	d->idle = i;
	q->nidle++;
}

/* A parked channel to d (the newest), or -1. */
int
idle_take(struct qmgr *q, struct dest *d)
{
	struct idle	*i;
	int		 fd;

	if ((i = d->idle) == NULL)
		return -1;
	d->idle = i->next;
	q->nidle--;
	event_del(q->loop, i->fd);
	event_timer_cancel(q->loop, i->timer);
	fd = i->fd;
	free(i);
	return fd;
}

/* Free an agent process: close the channel idle the longest. */
void
idle_close_oldest(struct qmgr *q)
{
	struct dest	*d;
	struct idle	*i, *old = NULL;

	/* Not an ODMR session's: there is no other way to its customer. */
	for (d = q->dests; d; d = d->next)
		for (i = d->idle; i && !d->odmr; i = i->next)
			if (old == NULL || i->since < old->since)
				old = i;
	if (old) {
		event_timer_cancel(q->loop, old->timer);
		idle_close(old);
	}
}

void
idle_close_all(struct qmgr *q)
{
	struct dest	*d;

	for (d = q->dests; d; d = d->next)
		while (d->idle) {
			event_timer_cancel(q->loop, d->idle->timer);
			idle_close(d->idle);
		}
}

void
idle_close_dest(struct qmgr *q, struct dest *d)
{
	while (d->idle) {
		event_timer_cancel(q->loop, d->idle->timer);
		idle_close(d->idle);
	}
}

/* Unlink, close (the agent then ends its session with QUIT), free. */
static void
idle_close(struct idle *i)
{
	struct idle	**pp;

	for (pp = &i->dest->idle; *pp; pp = &(*pp)->next)
		if (*pp == i) {
			*pp = i->next;
			break;
		}
	i->q->nidle--;
	event_del(i->q->loop, i->fd);
	close(i->fd);
	free(i);
}

static void
idle_io(int fd, int events, void *arg)
{
	struct idle	*i = arg;

	(void)fd;
	(void)events;
	event_timer_cancel(i->q->loop, i->timer);
	idle_close(i);
}

static void
idle_expire(void *arg)
{
	struct idle	*i = arg;

	/* The loop frees the timer that fired. */
	idle_close(i);
}
