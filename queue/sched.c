/*
 * sched: the delivery side of qmgr.  Committed messages wait in a FIFO;
 * up to local_concurrency_limit jobs run at once, one per message.  A
 * job asks one delivery agent per destination (local, or the relay agent
 * per transport and next hop), each on its own connection; an agent gets
 * the queue file descriptor read-only and reports a result per recipient.  Results
 * are written into the queue file (one fdatasync per job) before the file
 * is removed, deferred, or a bounce is made.
 *
 * Queue states: incoming/ (being received) -> active/ (committed, being
 * delivered) -> deferred/ (waiting, mtime = next attempt) -> active/ ...
 * -> removed.  Each move is one rename.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "addr.h"
#include "log.h"
#include "proto.h"
#include "qmgr.h"
#include "record.h"
#include "sock.h"

/* One message being delivered: its recipients' results so far. */
struct job {
	struct qmgr	*q;
	int		 qfd;
	char		 id[QUEUEID_LEN + 1];
	char		 path[64];
	struct qf_env	 env;
	char		*result;	/* per recipient: 0 = no answer yet */
	char		**status;
	char		**text;
	char		**relay;	/* who took it or said no */
	struct conn	**owner;	/* the agent asked about it */
	struct conn	*conns;		/* agents still working on it */
	int		 hold;		/* a recipient routed to hold */
	char		**fwd;		/* copies due to other domains ... */
	size_t		*fwd_idx;	/* ... for these recipients */
	size_t		 nfwd;
	int		 flush;		/* started by a flush */
	time_t		 next_try;	/* keep this retry time (flush.c) */
	long		 odmr;		/* started for this ODMR session */
	size_t		 odmr_waits;	/* recipients waiting for an ATRN */
	size_t		 remaining;	/* recipients still pending after it */
	int		 mark;		/* SCHED_MARK_*: the administrator's */
	/*
	 * The file may go to free/ (recycle.c) when the job ends: fresh from
	 * intake, and no agent may still hold it (tainted: one stopped
	 * without saying it was done, or a recipient was deferred).
	 */
	int		 fresh;
	int		 tainted;
	struct job	*next;
};

/* A pending recipient left out of this attempt (a flush of another domain). */
#define RESULT_SKIPPED	's'

/* One delivery agent's share of a job: waiting for a slot, or running. */
#define SCHED_RATE_HOLD	10	/* seconds a share may wait for its rate */
#define SCHED_JOB_WHOLE	65536	/* a job this long goes in one write */

struct conn {
	struct job	*j;
	int		 fd;		/* -1 until started */
	char		 agent[8];	/* "local" or "relay" */
	char		 transport[8];
	char		 nexthop[256];
	struct dest	*dest;		/* relay only */
	size_t		*idx;		/* the recipients it takes */
	size_t		 nidx;
	struct buf	 in, out;
	struct event_timer *timer;
	int		 reuse;		/* the agent would take another job */
	int		 done;		/* the agent said so (and let go) */
	struct conn	*next;		/* in the job */
	struct conn	*wnext;		/* in a wait queue */
};

static void	 sched_dispatch(void *);
static void	 sched_scan(void *);
static void	 sched_scan_timer(void *);
static int	 sched_scan_one(struct qmgr *, const char *, const char *, int,
		    void *);
static int	 sched_recover_incoming(struct qmgr *, const char *,
		    const char *, int, void *);
static int	 sched_recover_active(struct qmgr *, const char *,
		    const char *, int, void *);
static void	 sched_start(struct qmgr *, const struct qmsg *);
static void	 conn_io(int, int, void *);
static void	 conn_timeout(void *);
static void	 conn_done(struct conn *);
static void	 conn_free(struct conn *);
static struct conn *conn_new(struct job *, const struct route *);
static int	 conn_start(struct conn *);
static void	 sched_pump(struct qmgr *);
static void	 sched_rate_timer(void *);
static void	 conn_fail(struct conn *, const char *, const char *);
static void	 job_result(struct job *, size_t, char, const char *,
		    const char *, const char *);
static void	 job_finish(struct job *);
static void	 job_free(struct job *);
static void	 sched_kick(struct qmgr *, long);
static int	 sched_status(struct conn *, const struct record *);
static int	 sched_forward(struct conn *, const struct record *);
static void	 sched_corrupt(const char *, const char *, const char *);
static void	 sched_defer(struct job *, time_t);
static void	 sched_forwards(struct job *);

void
sched_init(struct qmgr *q)
{
	q->scan_timer = NULL;	/* sched_recover's first scan arms it */
	dindex_init(q);
}

static void
sched_enqueue_id(struct qmgr *q, const char *id, int fresh)
{
	struct qmsg	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		log_fatal("sched_enqueue");
	strlcpy(m->id, id, sizeof(m->id));
	m->fresh = fresh;
	sched_enqueue_msg(q, m);
}

void
sched_enqueue(struct qmgr *q, const char *id)
{
	sched_enqueue_id(q, id, 0);
}

/* A message intake has just committed: its file may be recycled. */
void
sched_enqueue_fresh(struct qmgr *q, const char *id)
{
	sched_enqueue_id(q, id, 1);
}

void
sched_enqueue_msg(struct qmgr *q, struct qmsg *m)
{
	if (q->ready_tail)
		q->ready_tail->next = m;
	else
		q->ready_head = m;
	q->ready_tail = m;
	q->nready++;
	sched_kick(q, 0);
}

int
sched_mark(struct qmgr *q, const char *id, int mark)
{
	struct job	*j;

	for (j = q->jobs; j; j = j->next)
		if (strcmp(j->id, id) == 0) {
			j->mark = mark;
			return 0;
		}
	return -1;
}

/*
 * After a crash or a restart: incoming/ files were never acknowledged and
 * go; active/ files are delivered; deferred/ ones wait for their time.
 */
void
sched_recover(struct qmgr *q)
{
	(void)qdir_each(q, Q_INCOMING, sched_recover_incoming, NULL);
	(void)qdir_each(q, Q_ACTIVE, sched_recover_active, NULL);
	dindex_build(q);
	sched_scan(q);
}

/* Never acknowledged: the client was not told 250, so it goes. */
static int
sched_recover_incoming(struct qmgr *q, const char *dir, const char *name,
    int sub, void *arg)
{
	char	 path[320];

	char	 id[QUEUEID_LEN + 1];
	size_t	 n = strlen(name);

	(void)q;
	(void)sub;
	(void)arg;
	/* A filter's changed copy (change.c) that a crash left half made. */
	if (n == QUEUEID_LEN + 8 && strcmp(name + QUEUEID_LEN, ".changed") ==
	    0) {
		snprintf(id, sizeof(id), "%.*s", QUEUEID_LEN, name);
		name = queueid_valid(id) ? id : name;
		snprintf(path, sizeof(path), "%s/%s.changed", dir, id);
	} else
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!queueid_valid(name)) {
		log_warnx("%s: not a queue file: %s", dir, name);
		return 0;
	}
	log_info("%s: discarding unfinished incoming file (never "
	    "acknowledged)", name);
	if (unlink(path) == -1)
		log_warn("unlink %s", path);
	return 0;
}

static int
sched_recover_active(struct qmgr *q, const char *dir, const char *name,
    int sub, void *arg)
{
	const char	*hex = "0123456789ABCDEF";
	char		 path[320], to[64];

	(void)arg;
	if (!queueid_valid(name)) {
		log_warnx("%s: not a queue file: %s", dir, name);
		return 0;
	}
	if (queueid_hash(name) != hex[sub]) {
		/* Put back where it belongs (restore). */
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		qf_path(to, sizeof(to), Q_ACTIVE, name);
		log_warnx("%s: found in %s, moving to %s", name, dir, to);
		if (rename(path, to) == -1) {
			log_warn("rename %s", path);
			return 0;
		}
		/* A folder still to come finds it. */
		if (strchr(hex, queueid_hash(name)) - hex > sub)
			return 0;
	}
	sched_enqueue(q, name);
	return 0;
}

int
sched_busy(struct qmgr *q)
{
	return q->njobs > 0;
}

static void
sched_kick(struct qmgr *q, long ms)
{
	if (q->dispatch_timer == NULL)
		q->dispatch_timer = event_timer_add(q->loop, ms,
		    sched_dispatch, q);
}

static void
sched_dispatch(void *arg)
{
	struct qmgr	*q = arg;
	struct qmsg	*m;

	q->dispatch_timer = NULL;
	sched_pump(q);
	while (!q->stopping && q->ready_head &&
	    q->njobs < q->conf->qmgr_message_active_limit) {
		m = q->ready_head;
		q->ready_head = m->next;
		if (q->ready_head == NULL)
			q->ready_tail = NULL;
		q->nready--;
		sched_start(q, m);
		free(m);
		if (q->dispatch_timer)
			break;	/* sched_start asked for a pause */
	}
}

/* Move messages whose retry time has come from deferred/ to active/. */
static void
sched_scan(void *arg)
{
	struct qmgr	*q = arg;
	time_t		 now = time(NULL);

	if (q->scan_timer) {
		event_timer_cancel(q->loop, q->scan_timer);
		q->scan_timer = NULL;
	}
	(void)qdir_each(q, Q_DEFERRED, sched_scan_one, &now);
	dest_expire(q);
	if (!q->stopping)
		q->scan_timer = event_timer_add(q->loop,
		    q->conf->queue_run_delay * 1000, sched_scan_timer, q);
}

/* A deferred message whose time has come goes to active/. */
static int
sched_scan_one(struct qmgr *q, const char *dir, const char *name, int sub,
    void *arg)
{
	const time_t	*now = arg;
	char		 from[320], to[64];
	struct stat	 st;

	(void)sub;
	if (q->stopping)
		return -1;
	if (!queueid_valid(name))
		return 0;
	snprintf(from, sizeof(from), "%s/%s", dir, name);
	if (stat(from, &st) == -1 || st.st_mtime > *now)
		return 0;
	qf_path(to, sizeof(to), Q_ACTIVE, name);
	if (rename(from, to) == -1) {
		log_warn("%s: rename %s %s", name, from, to);
		return 0;
	}
	dindex_remove(q, name);
	sched_enqueue(q, name);
	return 0;
}

static void
sched_scan_timer(void *arg)
{
	struct qmgr	*q = arg;

	q->scan_timer = NULL;	/* the loop frees the timer that fired */
	sched_scan(q);
}

/*
 * Route every pending recipient; those for the same agent, transport and
 * next hop form one share of the job (one agent connection each): local
 * gets the local ones, the relay agent one share per destination.  The
 * shares wait for a free slot (sched_pump): local_concurrency_limit for
 * local, the destination's window and smtp_concurrency_limit for relay.
 */
static void
sched_start(struct qmgr *q, const struct qmsg *m)
{
	struct job	*j;
	struct conn	*c, **groups = NULL;
	struct route	 rt;
	char		 err[256], why[600], qname[256], label[320];
	const char	*id = m->id, *rd;
	size_t		 i, k, ngroups = 0;

	/*
	 * Queued twice (held and released while it waited, say): one
	 * attempt at a time, or two jobs would write its states, and one
	 * could recycle the file under the other (recycle.c).
	 */
	for (j = q->jobs; j; j = j->next)
		if (strcmp(j->id, id) == 0) {
			log_info("%s: already being delivered", id);
			if (m->odmr)
				odmr_job_gone(q, m->odmr);
			return;
		}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		log_fatal("sched_start");
	j->q = q;
	j->flush = m->flush;
	j->next_try = m->next_try;
	j->fresh = m->fresh;
	strlcpy(j->id, id, sizeof(j->id));
	qf_path(j->path, sizeof(j->path), Q_ACTIVE, id);
	if ((j->qfd = open(j->path, O_RDWR | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			log_info("%s: gone before its attempt (deleted)", id);
		else
			log_warn("%s: open %s", id, j->path);
		free(j);
		if (m->odmr)
			odmr_job_gone(q, m->odmr);
		return;
	}
	if (qf_read_env(j->qfd, &j->env, err, sizeof(err)) == -1) {
		close(j->qfd);
		sched_corrupt(id, j->path, err);
		free(j);
		if (m->odmr)
			odmr_job_gone(q, m->odmr);
		return;
	}
	j->odmr = m->odmr;
	j->result = calloc(j->env.nrcpt + 1, 1);
	j->status = calloc(j->env.nrcpt + 1, sizeof(char *));
	j->text = calloc(j->env.nrcpt + 1, sizeof(char *));
	j->relay = calloc(j->env.nrcpt + 1, sizeof(char *));
	j->owner = calloc(j->env.nrcpt + 1, sizeof(struct conn *));
	groups = calloc(j->env.nrcpt + 1, sizeof(*groups));
	if (!j->result || !j->status || !j->text || !j->relay || !j->owner ||
	    !groups)
		log_fatal("sched_start");
	j->next = q->jobs;
	q->jobs = j;
	q->njobs++;

	for (i = 0; i < j->env.nrcpt; i++) {
		if (!QF_IS_PENDING(j->env.rcpt[i].state))
			continue;
		/* A flush of one domain leaves the others for their time. */
		if (m->only[0] == '#') {
			route_queue_name(q, j->env.rcpt[i].addr, qname,
			    sizeof(qname));
			if (strcasecmp(qname, m->only + 1) != 0) {
				j->result[i] = RESULT_SKIPPED;
				continue;
			}
		} else if (m->odmr) {
			/* An ATRN session takes only its domains' ODMR mail. */
			if (!odmr_takes(q, m->odmr, j->env.rcpt[i].addr, label,
			    sizeof(label)) || route_recipient(q,
			    j->env.rcpt[i].addr, &rt) != ROUTE_ODMR) {
				j->result[i] = RESULT_SKIPPED;
				continue;
			}
		} else if (m->only[0]) {
			rd = strrchr(j->env.rcpt[i].addr, '@');
			rd = rd ? rd + 1 : "";
			if (m->only_sub ? !dindex_match(rd, m->only) :
			    strcasecmp(rd, m->only) != 0) {
				j->result[i] = RESULT_SKIPPED;
				continue;
			}
		}
		switch (route_recipient(q, j->env.rcpt[i].addr, &rt)) {
		case ROUTE_ODMR:
			if (!m->odmr) {
				job_result(j, i, RESULT_TEMPFAIL, rt.dsn, rt.why,
				    "none");
				j->odmr_waits++;
				continue;
			}
			strlcpy(rt.nexthop, label, sizeof(rt.nexthop));
			break;
		case ROUTE_ERROR:
			job_result(j, i, RESULT_PERMFAIL, rt.dsn, rt.why,
			    "none");
			continue;
		case ROUTE_DEFER:
			job_result(j, i, RESULT_TEMPFAIL, rt.dsn, rt.why,
			    "none");
			continue;
		case ROUTE_HOLD:
			job_result(j, i, RESULT_TEMPFAIL, rt.dsn, rt.why,
			    "none");
			j->hold = 1;
			continue;
		case ROUTE_LOCAL:
			strlcpy(rt.transport, "local", sizeof(rt.transport));
			break;
		}
		/* The domain is the next hop of a plain "smtp" route. */
		if (strcmp(rt.transport, "smtp") == 0 && rt.nexthop[0] ==
		    '\0') {
			const char *at = strrchr(j->env.rcpt[i].addr, '@');

			strlcpy(rt.nexthop, at ? at + 1 : "",
			    sizeof(rt.nexthop));
		}
		for (k = 0; k < ngroups; k++)
			if (strcmp(groups[k]->transport, rt.transport) == 0 &&
			    strcasecmp(groups[k]->nexthop, rt.nexthop) == 0)
				break;
		if (k == ngroups)
			groups[ngroups++] = conn_new(j, &rt);
		c = groups[k];
		c->idx[c->nidx++] = i;
		j->owner[i] = c;
	}
	/* A dead destination's share is deferred without an attempt. */
	for (k = 0; k < ngroups; k++) {
		c = groups[k];
		if (c->dest && j->flush && dest_dead(q, c->dest)) {
			log_info("%s: flush: destination %s tried again before "
			    "its time", j->id, c->dest->key);
			c->dest->dead_until = 0;
		}
		if (c->dest && dest_dead(q, c->dest)) {
			struct conn **pp;

			snprintf(why, sizeof(why), "delivery temporarily "
			    "suspended: %s", c->dest->reason);
			for (i = 0; i < c->nidx; i++)
				job_result(j, c->idx[i], RESULT_TEMPFAIL,
				    "4.4.1", why, "none");
			for (pp = &j->conns; *pp; pp = &(*pp)->next)
				if (*pp == c) {
					*pp = c->next;
					break;
				}
			conn_free(c);
			groups[k] = NULL;
		}
	}
	for (k = 0; k < ngroups; k++) {
		if ((c = groups[k]) == NULL)
			continue;
		if (c->dest) {
			if (c->dest->wait_tail)
				c->dest->wait_tail->wnext = c;
			else
				c->dest->wait = c;
			c->dest->wait_tail = c;
		} else {
			if (q->local_wait_tail)
				q->local_wait_tail->wnext = c;
			else
				q->local_wait = c;
			q->local_wait_tail = c;
		}
	}
	free(groups);
	if (j->conns == NULL) {
		job_finish(j);
		return;
	}
	sched_pump(q);
}

static struct conn *
conn_new(struct job *j, const struct route *rt)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->idx = calloc(j->env.nrcpt + 1, sizeof(size_t))) == NULL)
		log_fatal("conn_new");
	c->j = j;
	c->fd = -1;
	strlcpy(c->transport, rt->transport, sizeof(c->transport));
	strlcpy(c->nexthop, rt->nexthop, sizeof(c->nexthop));
	if (strcmp(rt->transport, "local") == 0)
		strlcpy(c->agent, "local", sizeof(c->agent));
	else {
		strlcpy(c->agent, "relay", sizeof(c->agent));
		c->dest = dest_get(j->q, rt->transport, rt->nexthop);
	}
	buf_init(&c->in, RECORD_MAX + RECORD_HDR);
	buf_init(&c->out, 0);
	c->next = j->conns;
	j->conns = c;
	return c;
}

/* A share that gets no attempt: its recipients are told why. */
static void
conn_fail(struct conn *c, const char *dsn, const char *why)
{
	size_t	 i;

	for (i = 0; i < c->nidx; i++)
		if (c->j->result[c->idx[i]] == 0)
			job_result(c->j, c->idx[i], RESULT_TEMPFAIL, dsn, why,
			    "none");
	conn_done(c);
}

/*
 * Start waiting shares while there are slots: local first, then one
 * share per relay destination in turn, so that a destination with a long
 * queue never holds up the others.
 */
static void
sched_pump(struct qmgr *q)
{
	struct conn	*c;
	struct dest	*d;
	long		 wait;
	int		 progress;

	while ((c = q->local_wait) != NULL && (q->stopping ||
	    q->nlocal < q->conf->local_concurrency_limit)) {
		if ((q->local_wait = c->wnext) == NULL)
			q->local_wait_tail = NULL;
		if (q->stopping)
			conn_fail(c, "4.3.2", "queue manager shutting down");
		else
			(void)conn_start(c);
	}
	do {
		progress = 0;
		for (d = q->dests; d; d = d->next) {
			if ((c = d->wait) == NULL)
				continue;
			if (!q->stopping && !dest_dead(q, d) &&
			    (d->active >= d->window ||
			    q->nrelay >= q->conf->smtp_concurrency_limit))
				continue;
			if (!q->stopping && !dest_dead(q, d) &&
			    (wait = dest_rate_wait(q, d)) > 0) {
				/*
				 * A short wait is waited out in memory; a long
				 * one defers the share, so that held-back mail
				 * never fills qmgr_message_active_limit.
				 */
				if (wait > SCHED_RATE_HOLD) {
					char why[400];

					if ((d->wait = c->wnext) == NULL)
						d->wait_tail = NULL;
					snprintf(why, sizeof(why), "delivery "
					    "rate limit of %ld per %lds for "
					    "%s reached", d->rate_n,
					    d->rate_interval, d->key);
					conn_fail(c, "4.4.5", why);
					progress = 1;
					continue;
				}
				if (q->rate_timer == NULL)
					q->rate_timer = event_timer_add(q->loop,
					    wait * 1000, sched_rate_timer, q);
				continue;
			}
			if ((d->wait = c->wnext) == NULL)
				d->wait_tail = NULL;
			progress = 1;
			if (q->stopping)
				conn_fail(c, "4.3.2", "queue manager shutting "
				    "down");
			else if (dest_dead(q, d)) {
				char why[600];

				snprintf(why, sizeof(why), "delivery "
				    "temporarily suspended: %s", d->reason);
				conn_fail(c, "4.4.1", why);
			} else {
				dest_rate_count(d);
				(void)conn_start(c);
			}
			/* One share each, in turn (dests are not freed here). */
		}
	} while (progress);
}

static void
sched_rate_timer(void *arg)
{
	struct qmgr	*q = arg;

	q->rate_timer = NULL;
	sched_pump(q);
}

/* Connect to the agent and hand the share over. */
static int
conn_start(struct conn *c)
{
	struct job	*j = c->j;
	struct qmgr	*q = j->q;
	const char	*sock = c->dest ? RELAY_SOCKET : LOCAL_SOCKET;
	char		 idx[32], off[32];
	size_t		 i, first;
	int		 fd = -1, rofd, fds[2], cust = -1;

	/* A relay agent still connected to this destination's server first. */
	if (c->dest && (fd = idle_take(q, c->dest)) != -1)
		sock_blocking(fd);
	else if (c->dest && c->dest->odmr &&
	    (cust = odmr_take_conn(q, c->dest->odmr)) == -1) {
		/* The session's channel is gone: wait for the next ATRN. */
		conn_fail(c, "4.4.2", "the ODMR connection was lost");
		return -1;
	} else if (c->dest && q->nrelay + q->nidle >=
	    q->conf->smtp_concurrency_limit)
		idle_close_oldest(q);
	if (fd == -1 && (fd = sock_unix_connect(sock)) == -1) {
		log_warn("%s: connect to %s", j->id, sock);
		if (cust != -1)
			close(cust);
		conn_fail(c, "4.3.0", "delivery agent unavailable");
		return -1;
	}
	c->fd = fd;
	if (c->dest) {
		c->dest->active++;
		q->nrelay++;
	} else
		q->nlocal++;
	snprintf(off, sizeof(off), "%lld", (long long)j->env.content_off);
	record_putf(&c->out, PROTO_JOB, j->id, j->env.sender, off,
	    j->env.sender_params, c->transport, c->dest ? c->nexthop : "",
	    NULL);
	first = c->out.len;
	for (i = 0; i < c->nidx; i++) {
		snprintf(idx, sizeof(idx), "%zu", c->idx[i]);
		record_putf(&c->out, PROTO_RCPT, idx,
		    j->env.rcpt[c->idx[i]].addr, j->env.rcpt[c->idx[i]].params,
		    NULL);
	}
	record_put(&c->out, PROTO_GO, NULL, 0);
	/*
	 * The whole job in one message, so that the agent wakes once for
	 * it; only a long recipient list (which could block on a socket
	 * still blocking here) follows through the loop.
	 */
	if (c->out.len <= SCHED_JOB_WHOLE)
		first = c->out.len;
	/* The agent gets its own read-only descriptor (and the customer's). */
	fds[0] = rofd = open(j->path, O_RDONLY | O_CLOEXEC);
	fds[1] = cust;
	if (rofd == -1 || sock_send_fds(fd, c->out.data, first, fds,
	    cust == -1 ? 1 : 2) != (ssize_t)first) {
		log_warn("%s: send job to %s", j->id, c->agent);
		if (rofd != -1)
			close(rofd);
		if (cust != -1)
			close(cust);
		buf_reset(&c->out);
		conn_done(c);	/* no results: deferred */
		return -1;
	}
	close(rofd);
	if (cust != -1)
		close(cust);
	buf_consume(&c->out, first);
	sock_nonblock(fd);
	if (event_add(q->loop, fd, EV_READ | (c->out.len ? EV_WRITE : 0),
	    conn_io, c) == -1)
		log_fatal("event_add");
	c->timer = event_timer_add(q->loop, q->conf->local_timeout * 1000,
	    conn_timeout, c);
	return 0;
}

static void
conn_io(int fd, int events, void *arg)
{
	struct conn	*c = arg;
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 rc;

	if (events & EV_WRITE) {
		if ((rc = sock_write_buf(fd, &c->out)) == -1) {
			log_warn("%s: write to %s", c->j->id, c->agent);
			conn_done(c);
			return;
		}
		if (rc == 0)
			event_mod(c->j->q->loop, fd, EV_READ);
	}
	if (!(events & EV_READ))
		return;
	if ((n = sock_read_buf(fd, &c->in)) <= 0) {
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1)
			log_warn("%s: read from %s", c->j->id, c->agent);
		else
			log_warnx("%s: %s delivery agent closed the "
			    "connection before finishing", c->j->id, c->agent);
		conn_done(c);
		return;
	}
	while ((rc = record_peek(&c->in, &r, &total)) == 1) {
		if (r.type == PROTO_DONE) {
			c->done = 1;
			c->reuse = c->dest && r.len == 1 && r.data[0] == '1';
			conn_done(c);
			return;
		}
		if (r.type == PROTO_FORWARD && strcmp(c->agent, "local") == 0) {
			if (sched_forward(c, &r) == -1) {
				log_warnx("%s: bad forward record from %s",
				    c->j->id, c->agent);
				conn_done(c);
				return;
			}
			buf_consume(&c->in, total);
			continue;
		}
		if (r.type != PROTO_STATUS || sched_status(c, &r) == -1) {
			log_warnx("%s: bad record from %s", c->j->id, c->agent);
			conn_done(c);
			return;
		}
		buf_consume(&c->in, total);
	}
	if (rc == -1) {
		log_warnx("%s: malformed record from %s", c->j->id, c->agent);
		conn_done(c);
	}
}

/* index, address: a copy of the message is due to address. */
static int
sched_forward(struct conn *c, const struct record *r)
{
	struct job	*j = c->j;
	const char	*f[2];
	char		*end, **a;
	size_t		*x;
	unsigned long	 i;

	if (record_fields(r, f, 2) == -1)
		return -1;
	i = strtoul(f[0], &end, 10);
	if (*end || end == f[0] || i >= j->env.nrcpt || j->owner[i] != c ||
	    j->result[i] || strlen(f[1]) > ADDR_MAX || f[1][0] == '\0' ||
	    j->nfwd >= 10000)
		return -1;
	if ((a = reallocarray(j->fwd, j->nfwd + 1, sizeof(*a))) == NULL ||
	    (j->fwd = a, x = reallocarray(j->fwd_idx, j->nfwd + 1,
	    sizeof(*x))) == NULL)
		log_fatal("sched_forward");
	j->fwd_idx = x;
	if ((j->fwd[j->nfwd] = strdup(f[1])) == NULL)
		log_fatal("sched_forward");
	j->fwd_idx[j->nfwd++] = i;
	return 0;
}

/* index, result (D|T|P), DSN status, text, relay */
static int
sched_status(struct conn *c, const struct record *r)
{
	struct job	*j = c->j;
	const char	*f[5];
	char		*end;
	unsigned long	 i;

	if (record_fields(r, f, 5) == -1)
		return -1;
	i = strtoul(f[0], &end, 10);
	if (*end || end == f[0] || i >= j->env.nrcpt || j->owner[i] != c ||
	    !QF_IS_PENDING(j->env.rcpt[i].state) || j->result[i] ||
	    strlen(f[1]) != 1 || (f[1][0] != RESULT_DELIVERED &&
	    f[1][0] != RESULT_RELAYED && f[1][0] != RESULT_PASSED &&
	    f[1][0] != RESULT_TEMPFAIL && f[1][0] != RESULT_PERMFAIL))
		return -1;
	job_result(j, i, f[1][0], f[2], f[3], f[4]);
	/* local_timeout counts from the last sign of progress. */
	if (c->timer)
		event_timer_cancel(j->q->loop, c->timer);
	c->timer = event_timer_add(j->q->loop, j->q->conf->local_timeout * 1000,
	    conn_timeout, c);
	return 0;
}

static void
job_result(struct job *j, size_t i, char res, const char *status,
    const char *text, const char *relay)
{
	char	*st, *tx, *rl;

	/* Copies first: the arguments may be the old values. */
	if ((st = strdup(status)) == NULL || (tx = strdup(text)) == NULL ||
	    (rl = strdup(relay)) == NULL)
		log_fatal("job_result");
	j->result[i] = res;
	if (res == RESULT_TEMPFAIL)
		j->tainted = 1;	/* a timed-out agent, perhaps */
	free(j->status[i]);
	free(j->text[i]);
	free(j->relay[i]);
	j->status[i] = st;
	j->text[i] = tx;
	j->relay[i] = rl;
}

static void
conn_timeout(void *arg)
{
	struct conn	*c = arg;

	c->timer = NULL;
	log_warnx("%s: %s delivery timed out after %lds", c->j->id, c->agent,
	    c->j->q->conf->local_timeout);
	conn_done(c);
}

/*
 * An agent is through (or gone, or never started): the destination
 * learns how it went, the slot goes to the next share, and the job ends
 * with its last share.
 */
static void
conn_done(struct conn *c)
{
	struct job	*j = c->j;
	struct qmgr	*q = j->q;
	struct conn	**pp;
	const char	*reason = NULL;
	size_t		 i;
	int		 answered = 0;

	if (c->fd != -1 && !c->done)
		j->tainted = 1;	/* it may still hold the file */
	if (c->fd != -1) {
		if (c->dest) {
			c->dest->active--;
			q->nrelay--;
			/* Did any server speak?  "none" means none did. */
			for (i = 0; i < c->nidx; i++) {
				const char *r = j->relay[c->idx[i]];

				if (j->result[c->idx[i]] && r &&
				    strcmp(r, "none") != 0)
					answered = 1;
				else if (j->result[c->idx[i]] == RESULT_TEMPFAIL &&
				    reason == NULL)
					reason = j->text[c->idx[i]];
			}
			if ((answered || reason) && !c->dest->odmr)
				dest_feedback(q, c->dest, answered,
				    reason ? reason : "");
			if (c->dest->odmr) {
				long sent = 0;

				for (i = 0; i < c->nidx; i++)
					if (RESULT_IS_SENT(j->result[c->idx[i]]))
						sent++;
				odmr_sent(q, c->dest->odmr, sent);
			}
			if (c->reuse) {
				event_del(q->loop, c->fd);
				idle_park(q, c->dest, c->fd);
				c->fd = -1;
			}
		} else
			q->nlocal--;
	}
	for (pp = &j->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	conn_free(c);
	if (j->conns == NULL)
		job_finish(j);
	sched_kick(q, 0);
}

static void
conn_free(struct conn *c)
{
	if (c->timer)
		event_timer_cancel(c->j->q->loop, c->timer);
	if (c->fd != -1) {
		event_del(c->j->q->loop, c->fd);
		close(c->fd);
	}
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->idx);
	free(c);
}

static void
job_finish(struct job *j)
{
	struct qmgr	*q = j->q;
	struct bounce_item *items;
	struct job	**pp;
	time_t		 now = time(NULL);
	size_t		 i, nb = 0, nfail = 0, remaining = 0, ns = 0, nd = 0;
	struct bounce_item *sitems, *ditems;
	size_t		*dix;
	char		 notify[64];
	int		 expired, changed = 0;
	char		 delay[32], newid[QUEUEID_LEN + 1];
	const char	*st;

	expired = now - j->env.arrival > q->conf->maximal_queue_lifetime;
	/* As in Postfix: from arrival to this attempt's end. */
	snprintf(delay, sizeof(delay), "%lld", (long long)(now - j->env.arrival));
	items = calloc(j->env.nrcpt + 1, sizeof(*items));
	sitems = calloc(j->env.nrcpt + 1, sizeof(*sitems));
	ditems = calloc(j->env.nrcpt + 1, sizeof(*ditems));
	dix = calloc(j->env.nrcpt + 1, sizeof(*dix));
	if (items == NULL || sitems == NULL || ditems == NULL || dix == NULL)
		log_fatal("job_finish");
	sched_forwards(j);
	for (i = 0; i < j->env.nrcpt; i++) {
		if (!QF_IS_PENDING(j->env.rcpt[i].state))
			continue;
		if (j->result[i] == RESULT_SKIPPED) {
			remaining++;
			continue;
		}
		if (j->result[i] == 0)
			job_result(j, i, RESULT_TEMPFAIL, "4.3.0",
			    "delivery agent gave no result",
			    j->relay[i] ? j->relay[i] : "none");
		if (RESULT_IS_SENT(j->result[i])) {
			log_info("%s: to=<%s>, relay=%s, delay=%s, "
			    "dsn=%s, status=sent (%s)", j->id,
			    j->env.rcpt[i].addr, j->relay[i], delay,
			    j->status[i], j->text[i]);
			if (qf_set_state(j->qfd, &j->env.rcpt[i],
			    QF_DELIVERED) == -1)
				log_warn("%s: mark delivered", j->id);
			changed = 1;
			/*
			 * RFC 3461 4.2: a next hop that speaks DSN takes the
			 * duty over; one that does not gets "relayed" from us.
			 */
			if (j->result[i] == RESULT_PASSED &&
			    qf_param(j->env.rcpt[i].params, "NOTIFY", notify,
			    sizeof(notify)) && strstr(notify, "SUCCESS"))
				log_info("%s: to=<%s>: success notice left to "
				    "the next hop (it offers DSN)", j->id,
				    j->env.rcpt[i].addr);
			else if (qf_param(j->env.rcpt[i].params, "NOTIFY",
			    notify, sizeof(notify)) && strstr(notify,
			    "SUCCESS")) {
				sitems[ns].action = j->result[i] ==
				    RESULT_RELAYED ? "relayed" : NULL;
				sitems[ns].rcpt = j->env.rcpt[i].addr;
				sitems[ns].params = j->env.rcpt[i].params;
				sitems[ns].status = j->status[i];
				sitems[ns].text = j->text[i];
				sitems[ns].relay = j->relay[i];
				ns++;
			}
		} else if (j->result[i] == RESULT_PERMFAIL || expired) {
			st = j->result[i] == RESULT_PERMFAIL ? "bounced" :
			    "expired";
			log_info("%s: to=<%s>, relay=%s, delay=%s, "
			    "dsn=%s, status=%s (%s)", j->id,
			    j->env.rcpt[i].addr, j->relay[i], delay,
			    j->status[i], st, j->text[i]);
			nfail++;
			/* RFC 3461: NOTIFY without FAILURE wants no bounce. */
			if (qf_param(j->env.rcpt[i].params, "NOTIFY", notify,
			    sizeof(notify)) && strstr(notify, "FAILURE") == NULL) {
				log_info("%s: to=<%s>: no bounce (NOTIFY=%s)",
				    j->id, j->env.rcpt[i].addr, notify);
				continue;
			}
			items[nb].rcpt = j->env.rcpt[i].addr;
			items[nb].params = j->env.rcpt[i].params;
			items[nb].status = j->result[i] == RESULT_PERMFAIL ?
			    j->status[i] : "4.4.7";
			items[nb].text = j->text[i];
			items[nb].relay = j->relay[i];
			nb++;
		} else {
			log_info("%s: to=<%s>, relay=%s, delay=%s, "
			    "dsn=%s, status=deferred (%s)", j->id,
			    j->env.rcpt[i].addr, j->relay[i], delay,
			    j->status[i], j->text[i]);
			remaining++;
			/* The reason is kept with the recipient when it changes. */
			if (strcmp(j->env.rcpt[i].defer_dsn, j->status[i]) != 0 ||
			    j->env.rcpt[i].defer_text == NULL ||
			    strcmp(j->env.rcpt[i].defer_text, j->text[i]) != 0) {
				if (qf_add_defer(j->qfd, i, j->status[i],
				    j->text[i], now) == -1)
					log_warn("%s: record the deferral", j->id);
				changed = 1;
			}
			/*
			 * One delay notice per recipient: at the first
			 * deferral with NOTIFY=DELAY; without NOTIFY, once the
			 * message is delay_warning_time old (0: never).
			 */
			if (j->env.rcpt[i].state == QF_PENDING &&
			    (qf_param(j->env.rcpt[i].params, "NOTIFY", notify,
			    sizeof(notify)) ? strstr(notify, "DELAY") != NULL :
			    q->conf->delay_warning_time > 0 &&
			    now - j->env.arrival >= q->conf->delay_warning_time)) {
				ditems[nd].rcpt = j->env.rcpt[i].addr;
				ditems[nd].params = j->env.rcpt[i].params;
				ditems[nd].relay = j->relay[i];
				ditems[nd].status = j->status[i];
				ditems[nd].text = j->text[i];
				dix[nd++] = i;
			}
		}
	}
	if (nfail > 0) {
		if (nb == 0) {
			/* Nobody to tell. */
		} else if (j->env.sender[0] == '\0' &&
		    (!q->conf->notify_double_bounce ||
		    qf_param(j->env.sender_params, BOUNCE_DOUBLE_PARAM, NULL,
		    0))) {
			log_info("%s: undeliverable mail from <> discarded "
			    "(no bounce of a bounce)", j->id);
		} else if (j->env.sender[0] == '\0') {
			/* A bounce that failed: postmaster hears, once. */
			if (bounce_create(q, j->id, j->qfd, &j->env, items, nb,
			    BOUNCE_DOUBLE, newid) == -1) {
				log_warnx("%s: could not create a double "
				    "bounce; will try again later", j->id);
				remaining += nfail;
				nfail = 0;
			} else
				log_info("%s: postmaster non-delivery "
				    "notification: %s", j->id, newid);
		} else if (bounce_create(q, j->id, j->qfd, &j->env, items, nb,
		    BOUNCE_FAILURE, newid) == -1) {
			log_warnx("%s: could not create a bounce; will try "
			    "again later", j->id);
			remaining += nfail;
			nfail = 0;
		} else
			log_info("%s: sender non-delivery notification: %s",
			    j->id, newid);
		for (i = 0; i < j->env.nrcpt && nfail > 0; i++)
			if (QF_IS_PENDING(j->env.rcpt[i].state) &&
			    (j->result[i] == RESULT_PERMFAIL ||
			    (expired && !RESULT_IS_SENT(j->result[i]) &&
			    j->result[i] != RESULT_SKIPPED))) {
				if (qf_set_state(j->qfd, &j->env.rcpt[i],
				    QF_FAILED) == -1)
					log_warn("%s: mark failed", j->id);
				changed = 1;
			}
	}
	/* Success and delay notices (RFC 3461), to a sender who can get them. */
	if (ns > 0 && j->env.sender[0]) {
		if (bounce_create(q, j->id, j->qfd, &j->env, sitems, ns,
		    BOUNCE_SUCCESS, newid) == 0)
			log_info("%s: sender delivery status notification: %s",
			    j->id, newid);
	}
	if (nd > 0 && j->env.sender[0] && bounce_create(q, j->id, j->qfd,
	    &j->env, ditems, nd, BOUNCE_DELAY, newid) == 0) {
		log_info("%s: sender delay notification: %s", j->id, newid);
		for (i = 0; i < nd; i++) {
			if (qf_set_state(j->qfd, &j->env.rcpt[dix[i]],
			    QF_WARNED) == -1)
				log_warn("%s: mark warned", j->id);
			changed = 1;
		}
	}
	free(items);
	free(sitems);
	free(ditems);
	free(dix);
	if (j->mark == SCHED_MARK_HOLD)
		j->hold = 1;
	if (remaining == 0 || j->mark == SCHED_MARK_DELETE) {
		/* Into free/ when no agent can hold it, else unlinked. */
		if ((remaining == 0 && j->fresh && !j->tainted &&
		    j->mark == 0 && recycle_put(j->path, j->qfd) == 0) ||
		    unlink(j->path) == 0)
			log_info("%s: removed%s", j->id, remaining ?
			    " (deleted by the administrator)" : "");
		else
			log_warn("%s: unlink %s", j->id, j->path);
	} else {
		if (changed && fdatasync(j->qfd) == -1)
			log_warn("%s: fdatasync", j->id);
		if (j->hold) {
			char to[64];

			qf_path(to, sizeof(to), Q_HOLD, j->id);
			if (rename(j->path, to) == -1)
				log_warn("%s: rename %s %s", j->id, j->path, to);
			else
				log_info("%s: held (%s); it waits in %s until "
				    "released", j->id, j->mark ==
				    SCHED_MARK_HOLD ? "by the administrator" :
				    "transport_map hold", to);
		} else {
			j->remaining = remaining;
			sched_defer(j, now);
		}
	}
	for (pp = &q->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	q->njobs--;
	job_free(j);
	sched_kick(q, 0);
	qmgr_maybe_exit(q);
}

/*
 * The copies for other domains of the recipients local delivered: one
 * new queue file, committed before those recipients count as delivered;
 * if it cannot be written, they are deferred instead (and their local
 * copies may then be delivered again: at least once, never lost).
 */
static void
sched_forwards(struct job *j)
{
	char	 newid[QUEUEID_LEN + 1], **addrs;
	size_t	 i, k, n = 0;

	if (j->nfwd == 0)
		return;
	if ((addrs = calloc(j->nfwd, sizeof(*addrs))) == NULL)
		log_fatal("sched_forwards");
	for (i = 0; i < j->nfwd; i++) {
		if (j->result[j->fwd_idx[i]] != RESULT_DELIVERED)
			continue;
		for (k = 0; k < n && strcasecmp(addrs[k], j->fwd[i]) != 0; k++)
			;
		if (k == n)
			addrs[n++] = j->fwd[i];
	}
	if (n > 0 && forward_create(j->q, j->id, j->qfd, &j->env, addrs, n,
	    newid) == 0)
		log_info("%s: forwarded to %zu address%s in other domains: %s",
		    j->id, n, n == 1 ? "" : "es", newid);
	else if (n > 0)
		for (i = 0; i < j->nfwd; i++)
			if (j->result[j->fwd_idx[i]] == RESULT_DELIVERED)
				job_result(j, j->fwd_idx[i], RESULT_TEMPFAIL,
				    "4.3.0", "could not queue the forwarded "
				    "copy", "local");
	free(addrs);
}

/* Back-off grows with the message's age, as in Postfix. */
static void
sched_defer(struct job *j, time_t now)
{
	struct conf	*c = j->q->conf;
	struct timespec	 ts[2];
	char		 to[64];
	long		 delay;

	delay = (long)(now - j->env.arrival);
	if (delay < c->minimal_backoff_time)
		delay = c->minimal_backoff_time;
	if (delay > c->maximal_backoff_time)
		delay = c->maximal_backoff_time;
	/*
	 * Mail that only waits for its customer's ATRN is not retried: the
	 * next look is when a delay notice is due, or at expiry.
	 */
	if (j->odmr_waits > 0 && j->odmr_waits == j->remaining) {
		time_t wake = j->env.arrival + c->maximal_queue_lifetime + 1;

		if (c->delay_warning_time > 0 && j->env.arrival +
		    c->delay_warning_time > now && j->env.arrival +
		    c->delay_warning_time < wake)
			wake = j->env.arrival + c->delay_warning_time;
		if (wake - now > delay)
			delay = (long)(wake - now);
	}
	/* After a flush of one domain: the time the message had. */
	ts[0].tv_sec = ts[1].tv_sec = j->next_try > now ? j->next_try :
	    now + delay;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (futimens(j->qfd, ts) == -1)
		log_warn("%s: futimens", j->id);
	qf_path(to, sizeof(to), Q_DEFERRED, j->id);
	if (rename(j->path, to) == -1)
		log_warn("%s: rename %s %s", j->id, j->path, to);
	else
		dindex_add(j->q, j->id, &j->env);
}

static void
job_free(struct job *j)
{
	size_t	 i;

	if (j->odmr)
		odmr_job_gone(j->q, j->odmr);
	if (j->qfd != -1)
		close(j->qfd);
	for (i = 0; i < j->env.nrcpt; i++) {
		free(j->status ? j->status[i] : NULL);
		free(j->text ? j->text[i] : NULL);
		free(j->relay ? j->relay[i] : NULL);
	}
	free(j->status);
	free(j->text);
	free(j->relay);
	free(j->owner);
	free(j->result);
	for (i = 0; i < j->nfwd; i++)
		free(j->fwd[i]);
	free(j->fwd);
	free(j->fwd_idx);
	qf_env_free(&j->env);
	free(j);
}

static void
sched_corrupt(const char *id, const char *path, const char *why)
{
	char	 to[64];

	snprintf(to, sizeof(to), "%s/%s", Q_CORRUPT, id);
	log_warnx("%s: corrupt queue file (%s): moved to %s", id, why, to);
	if (rename(path, to) == -1)
		log_warn("%s: rename %s %s", id, path, to);
}
