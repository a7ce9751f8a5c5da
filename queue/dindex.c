/*
 * dindex: the per-destination index of deferred/: which messages wait
 * with a pending recipient in which domain (and under "#host", which
 * next hop: the named queues of ETRN #host), so that a flush of one
 * domain (flush.c: the operator, ETRN, ATRN) opens only that domain's
 * files.  It lives in memory: built at start from the envelopes in
 * deferred/, kept up to date as messages enter and leave deferred/.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "qmgr.h"

#define DINDEX_BUCKETS	4096

struct dlink {
	struct dmsg	*m;
	struct ddom	*d;
	struct dlink	*prev, *next;	/* in the domain */
};

struct dmsg {
	char		 id[QUEUEID_LEN + 1];
	struct dmsg	*hnext;
	unsigned	 gen;		/* dindex_find's last visit */
	size_t		 n;
	struct dlink	*link;
};

struct ddom {
	struct ddom	*hnext;
	struct dlink	*head;
	size_t		 count;
	char		 name[];
};

struct dindex {
	struct dmsg	*msgs[DINDEX_BUCKETS];
	struct ddom	*doms[DINDEX_BUCKETS];
	size_t		 nmsgs;
	unsigned	 gen;
};

static int	 dindex_build_one(struct qmgr *, const char *, const char *,
		    int, void *);
static unsigned	 dindex_hash(const char *);
static void	 dindex_link(struct dindex *, struct dmsg *, const char *);
static struct ddom *dindex_dom(struct dindex *, const char *, int create);
static void	 dindex_collect(struct dindex *, struct ddom *, struct qid **,
		    size_t *, size_t *);

void
dindex_init(struct qmgr *q)
{
	if ((q->dindex = calloc(1, sizeof(*q->dindex))) == NULL)
		log_fatal("dindex_init");
}

/* At start: every message in deferred/, from its envelope. */
void
dindex_build(struct qmgr *q)
{
	(void)qdir_each(q, Q_DEFERRED, dindex_build_one, NULL);
	if (q->dindex->nmsgs > 0)
		log_info("deferred queue: %zu message%s indexed by domain",
		    q->dindex->nmsgs, q->dindex->nmsgs == 1 ? "" : "s");
}

static int
dindex_build_one(struct qmgr *q, const char *dir, const char *name,
    int sub, void *arg)
{
	char		 path[320], err[256];
	struct qf_env	 env;
	int		 fd;

	(void)sub;
	(void)arg;
	if (!queueid_valid(name))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("%s: open %s", name, path);
		return 0;
	}
	if (qf_read_env(fd, &env, err, sizeof(err)) == 0) {
		dindex_add(q, name, &env);
		qf_env_free(&env);
	} else
		log_warnx("%s: %s (left for the retry to handle)", name, err);
	close(fd);
	return 0;
}

/* id waits in deferred/ for these pending recipients' domains. */
void
dindex_add(struct qmgr *q, const char *id, const struct qf_env *env)
{
	struct dindex	*x = q->dindex;
	struct dmsg	*m;
	const char	*at, *dom;
	char		 queue[258];
	size_t		 i;
	unsigned	 h;

	dindex_remove(q, id);
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->link = calloc(env->nrcpt * 2 + 1, sizeof(*m->link))) == NULL)
		log_fatal("dindex_add");
	strlcpy(m->id, id, sizeof(m->id));
	for (i = 0; i < env->nrcpt; i++) {
		if (!QF_IS_PENDING(env->rcpt[i].state))
			continue;
		at = strrchr(env->rcpt[i].addr, '@');
		dom = at ? at + 1 : "";
		dindex_link(x, m, dom);
		/* Its named queue too (ETRN #name): "#" and the next hop. */
		queue[0] = '#';
		route_queue_name(q, env->rcpt[i].addr, queue + 1,
		    sizeof(queue) - 1);
		if (queue[1])
			dindex_link(x, m, queue);
	}
	h = dindex_hash(id);
	m->hnext = x->msgs[h];
	x->msgs[h] = m;
	x->nmsgs++;
}

/* m is waiting for key (once). */
static void
dindex_link(struct dindex *x, struct dmsg *m, const char *key)
{
	struct ddom	*d;
	size_t		 k;

	for (k = 0; k < m->n; k++)
		if (strcasecmp(m->link[k].d->name, key) == 0)
			return;
	d = dindex_dom(x, key, 1);
	m->link[m->n].m = m;
	m->link[m->n].d = d;
	m->link[m->n].next = d->head;
	if (d->head)
		d->head->prev = &m->link[m->n];
	d->head = &m->link[m->n];
	d->count++;
	m->n++;
}

/* id left deferred/ (or never was there). */
void
dindex_remove(struct qmgr *q, const char *id)
{
	struct dindex	*x = q->dindex;
	struct dmsg	**pp, *m;
	struct dlink	*l;
	size_t		 k;

	for (pp = &x->msgs[dindex_hash(id)]; (m = *pp) != NULL;
	    pp = &m->hnext)
		if (strcmp(m->id, id) == 0)
			break;
	if (m == NULL)
		return;
	*pp = m->hnext;
	for (k = 0; k < m->n; k++) {
		l = &m->link[k];
		if (l->prev)
			l->prev->next = l->next;
		else
			l->d->head = l->next;
		if (l->next)
			l->next->prev = l->prev;
		l->d->count--;
		/* Empty domains stay: few, small, and likely to come back. */
	}
	free(m->link);
	free(m);
	x->nmsgs--;
}

/*
 * The messages waiting for domain (with sub: also for its subdomains),
 * each once, in a new array of *n entries (the caller frees it).
 */
struct qid *
dindex_find(struct qmgr *q, const char *domain, int sub, size_t *n)
{
	struct dindex	*x = q->dindex;
	struct qid	*ids = NULL;
	struct ddom	*d;
	size_t		 cap = 0, b;

	*n = 0;
	x->gen++;
	if (!sub) {
		if ((d = dindex_dom(x, domain, 0)) != NULL)
			dindex_collect(x, d, &ids, n, &cap);
		return ids;
	}
	for (b = 0; b < DINDEX_BUCKETS; b++)
		for (d = x->doms[b]; d; d = d->hnext)
			if (d->count > 0 && d->name[0] != '#' &&
			    dindex_match(d->name, domain))
				dindex_collect(x, d, &ids, n, &cap);
	return ids;
}

/* A domain's messages onto ids, skipping those already there. */
static void
dindex_collect(struct dindex *x, struct ddom *d, struct qid **ids, size_t *n,
    size_t *cap)
{
	struct dlink	*l;

	for (l = d->head; l; l = l->next) {
		if (l->m->gen == x->gen)
			continue;
		l->m->gen = x->gen;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			if ((*ids = reallocarray(*ids, *cap, sizeof(**ids))) ==
			    NULL)
				log_fatal("dindex_find");
		}
		strlcpy((*ids)[(*n)++].id, l->m->id, sizeof((*ids)->id));
	}
}

size_t
dindex_count(struct qmgr *q)
{
	return q->dindex->nmsgs;
}

/* dom is want or one of its subdomains. */
int
dindex_match(const char *dom, const char *want)
{
	size_t	 dl = strlen(dom), wl = strlen(want);

	if (strcasecmp(dom, want) == 0)
		return 1;
	return dl > wl && dom[dl - wl - 1] == '.' &&
	    strcasecmp(dom + dl - wl, want) == 0;
}

static struct ddom *
dindex_dom(struct dindex *x, const char *name, int create)
{
	struct ddom	*d;
	unsigned	 h = dindex_hash(name);
	size_t		 len = strlen(name);

	for (d = x->doms[h]; d; d = d->hnext)
		if (strcasecmp(d->name, name) == 0)
			return d;
	if (!create)
		return NULL;
	if ((d = calloc(1, sizeof(*d) + len + 1)) == NULL)
		log_fatal("dindex_dom");
	memcpy(d->name, name, len + 1);
	d->hnext = x->doms[h];
	x->doms[h] = d;
	return d;
}

/* FNV-1a over the lower-cased name. */
static unsigned
dindex_hash(const char *s)
{
	unsigned	 h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 16777619u;
	return h % DINDEX_BUCKETS;
}
