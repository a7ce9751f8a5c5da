/*
 * odmr: On-Demand Mail Relay sessions (RFC 2645), the provider's side.
 * Mail for a customer's domain is routed to the "odmr" transport and
 * waits in deferred/.  When the customer, logged in on the ODMR service,
 * sends ATRN, smtpd passes us its reversed connection; we check that the
 * login owns the domains (odmr_domain_map) and that no other session has
 * them, then flush their messages.  Their ODMR recipients go to a
 * destination of their own with room for one connection: the first job
 * takes the customer's connection to a relay agent, the next ones go down
 * the same channel (idle.c), and when the last message is through the
 * channel is closed and the agent says QUIT.  A session that breaks
 * leaves the rest for the next ATRN; a message is never in two sessions
 * at once, since a flush moves each file once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "qmgr.h"

#define ODMR_MAX_DOMAINS	32

struct odmr {
	long		 id;
	char		 label[256];	/* login[client]#id: the next hop */
	char		 domains[ODMR_MAX_DOMAINS][256];
	size_t		 ndom;
	int		 fd;		/* the customer, until a job takes it */
	long		 left;		/* messages started, not yet through */
	long		 sent;
	struct odmr	*next;
};

static struct odmr *odmrs;
static long	 odmr_last_id;

static int	 odmr_lookup(struct qmgr *, const char *, const char **,
		    struct buf *);
static int	 odmr_owned(struct qmgr *, const char *login, const char *dom,
		    struct buf *reply);
static void	 odmr_end(struct qmgr *, struct odmr *);
static int	 odmr_split(const char *, char (*)[256], size_t *);

/* "a.example, b.example" into domains; -1 on a bad name or too many. */
static int
odmr_split(const char *list, char (*out)[256], size_t *n)
{
	const char	*p = list;
	size_t		 len, i;

	*n = 0;
	for (;;) {
		p += strspn(p, " ,\t");
		if (*p == '\0')
			return 0;
		len = strcspn(p, " ,\t");
		if (len > 255 || *n == ODMR_MAX_DOMAINS)
			return -1;
		for (i = 0; i < len; i++)
			if (!isalnum((unsigned char)p[i]) && p[i] != '-' &&
			    p[i] != '.' && p[i] != '_')
				return -1;
		memcpy(out[*n], p, len);
		out[*n][len] = '\0';
		(*n)++;
		p += len;
	}
}

/* The login's entry in odmr_domain_map: 1, 0 none, -1 with a reply. */
static int
odmr_lookup(struct qmgr *q, const char *login, const char **val,
    struct buf *reply)
{
	char	 err[512];
	int	 r;

	if (map_refresh(q->odmr_domains, err, sizeof(err)) == -1)
		log_warnx("%s (keeping the old contents)", err);
	if ((r = map_get(q->odmr_domains, login, val, err, sizeof(err))) ==
	    -1) {
		log_warnx("%s", err);
		buf_printf(reply, "451 4.3.0 Error: cannot check the domains "
		    "of %s now, try again later", login);
	}
	return r;
}

/* Does login own dom (and is dom routed to odmr)?  -1 with a reply if not. */
static int
odmr_owned(struct qmgr *q, const char *login, const char *dom,
    struct buf *reply)
{
	char		 owned[ODMR_MAX_DOMAINS][256], pm[300];
	const char	*val;
	struct route	 rt;
	size_t		 n, i;
	int		 r;

	if ((r = odmr_lookup(q, login, &val, reply)) == -1)
		return -1;
	if (r == 0 || odmr_split(val, owned, &n) == -1)
		n = 0;
	for (i = 0; i < n; i++)
		if (strcasecmp(owned[i], dom) == 0)
			break;
	if (i == n) {
		buf_printf(reply, "450 4.7.1 Access denied to you: %s is not "
		    "a domain of %s", dom, login);
		return -1;
	}
	snprintf(pm, sizeof(pm), "postmaster@%s", dom);
	if (route_recipient(q, pm, &rt) != ROUTE_ODMR) {
		buf_printf(reply, "450 4.7.1 Access denied to you: mail for %s "
		    "is not kept for ODMR here", dom);
		return -1;
	}
	return 0;
}

/* The login's domains from the map, for an ATRN without arguments. */
static int
odmr_all(struct qmgr *q, const char *login, struct odmr *o,
    struct buf *reply)
{
	const char	*val;
	int		 r;

	if ((r = odmr_lookup(q, login, &val, reply)) == -1)
		return -1;
	if (r == 0 || odmr_split(val, o->domains, &o->ndom) == -1 ||
	    o->ndom == 0) {
		buf_printf(reply, "450 4.7.1 Access denied to you: no ODMR "
		    "domains for %s", login);
		return -1;
	}
	return 0;
}

long
odmr_request(struct qmgr *q, const char *login, const char *domains,
    const char *client, int fd, struct buf *reply)
{
	struct odmr	*o, *x;
	struct dest	*d;
	struct qid	*ids;
	size_t		 i, k, n;
	long		 started = 0;

	if (q->stopping) {
		buf_printf(reply, "421 4.3.2 Error: queue manager shutting "
		    "down");
		return -1;
	}
	if (login[0] == '\0') {
		buf_printf(reply, "530 5.7.0 Authentication required");
		return -1;
	}
	if (q->odmr_domains == NULL) {
		buf_printf(reply, "450 4.7.1 Access denied to you: no "
		    "odmr_domain_map here");
		return -1;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		buf_printf(reply, "451 4.3.0 Error: out of memory");
		return -1;
	}
	if (domains[0] == '\0') {
		if (odmr_all(q, login, o, reply) == -1)
			goto refused;
	} else if (odmr_split(domains, o->domains, &o->ndom) == -1 ||
	    o->ndom == 0) {
		buf_printf(reply, "501 5.5.4 Syntax: ATRN [domain[,domain]...]"
		    " (at most %d)", ODMR_MAX_DOMAINS);
		goto refused;
	}
	for (i = 0; i < o->ndom; i++) {
		if (odmr_owned(q, login, o->domains[i], reply) == -1)
			goto refused;
		for (x = odmrs; x; x = x->next)
			for (k = 0; k < x->ndom; k++)
				if (strcasecmp(x->domains[k], o->domains[i]) ==
				    0) {
					buf_printf(reply, "451 4.4.0 Mail for "
					    "%s is being delivered over another "
					    "ODMR connection, try again later",
					    o->domains[i]);
					goto refused;
				}
	}
	for (i = 0, n = 0; i < o->ndom; i++) {
		size_t m;

		free(dindex_find(q, o->domains[i], 0, &m));
		n += m;
	}
	if (n == 0) {
		buf_printf(reply, "453 4.3.0 You have no mail");
		goto refused;
	}
	o->id = ++odmr_last_id;
	o->fd = fd;
	snprintf(o->label, sizeof(o->label), "%.180s[%.50s]#%ld", login,
	    client, o->id);
	d = dest_get(q, "odmr", o->label);
	d->odmr = o->id;
	o->next = odmrs;
	odmrs = o;
	/* Counted before they start: a quick failure must not end us. */
	o->left = 1;
	for (i = 0; i < o->ndom; i++) {
		ids = dindex_find(q, o->domains[i], 0, &n);
		for (k = 0; k < n; k++)
			if (flush_odmr(q, ids[k].id, o->id) == 1) {
				o->left++;
				started++;
			}
		free(ids);
	}
	if (started == 0) {
		/* The index was ahead of the files: nothing to send after all. */
		o->fd = -1;	/* the caller's to close */
		odmr_job_gone(q, o->id);
		buf_printf(reply, "453 4.3.0 You have no mail");
		return -1;
	}
	log_info("ATRN from %s for %s%s: %ld message%s started", o->label,
	    o->domains[0], o->ndom > 1 ? " and more" : "", started,
	    started == 1 ? "" : "s");
	odmr_job_gone(q, o->id);
	return started;
refused:
	free(o);
	return -1;
}

int
odmr_takes(struct qmgr *q, long id, const char *rcpt, char *label,
    size_t len)
{
	struct odmr	*o;
	const char	*at = strrchr(rcpt, '@');
	size_t		 i;

	(void)q;
	for (o = odmrs; o && o->id != id; o = o->next)
		;
	if (o == NULL || at == NULL)
		return 0;
	for (i = 0; i < o->ndom; i++)
		if (strcasecmp(at + 1, o->domains[i]) == 0) {
			strlcpy(label, o->label, len);
			return 1;
		}
	return 0;
}

int
odmr_take_conn(struct qmgr *q, long id)
{
	struct odmr	*o;
	int		 fd;

	(void)q;
	for (o = odmrs; o && o->id != id; o = o->next)
		;
	if (o == NULL || o->fd == -1)
		return -1;
	fd = o->fd;
	o->fd = -1;
	return fd;
}

void
odmr_sent(struct qmgr *q, long id, long n)
{
	struct odmr	*o;

	(void)q;
	for (o = odmrs; o && o->id != id; o = o->next)
		;
	if (o)
		o->sent += n;
}

/* A message of the session is through (or never started). */
void
odmr_job_gone(struct qmgr *q, long id)
{
	struct odmr	*o;

	for (o = odmrs; o && o->id != id; o = o->next)
		;
	if (o && --o->left <= 0)
		odmr_end(q, o);
}

static void
odmr_end(struct qmgr *q, struct odmr *o)
{
	struct odmr	**pp;
	struct dest	*d;

	for (pp = &odmrs; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	for (d = q->dests; d; d = d->next)
		if (d->odmr == o->id) {
			/* The agent says QUIT when its channel closes. */
			idle_close_dest(q, d);
			d->used = 0;	/* forgotten at the next scan */
		}
	/* No job ever took the connection: smtpd sees it close. */
	if (o->fd != -1)
		close(o->fd);
	log_info("ODMR session %s ended: %ld recipient%s delivered", o->label,
	    o->sent, o->sent == 1 ? "" : "s");
	free(o);
}

void
odmr_stop(struct qmgr *q)
{
	while (odmrs)
		odmr_end(q, odmrs);
}
