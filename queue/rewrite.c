/*
 * rewrite: virtual_alias_map, applied to each recipient as it arrives,
 * before it is validated and queued.  A value is a list of addresses;
 * "@domain" keeps the local part and changes the domain.  Results are
 * rewritten again (ten levels at most); an address that maps to itself
 * stops there.  Duplicates are dropped.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "addr.h"
#include "log.h"
#include "qmgr.h"

#define REWRITE_DEPTH	10
#define REWRITE_MAX	1000

static int	 rewrite_one(struct qmgr *, const char *, int,
		    struct rewrite_list *, struct buf *);
static int	 rewrite_add(struct rewrite_list *, const char *);

int
rewrite_recipient(struct qmgr *q, const char *addr, struct rewrite_list *out,
    struct buf *reply)
{
	memset(out, 0, sizeof(*out));
	if (q->virtual_aliases == NULL)
		return rewrite_add(out, addr);
	recipient_refresh_maps(q);
	if (rewrite_one(q, addr, 0, out, reply) == -1) {
		rewrite_free(out);
		return -1;
	}
	return 0;
}

void
rewrite_free(struct rewrite_list *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		free(l->addr[i]);
	free(l->addr);
	memset(l, 0, sizeof(*l));
}

static int
rewrite_one(struct qmgr *q, const char *addr, int depth,
    struct rewrite_list *out, struct buf *reply)
{
	const char	*val, *at;
	char		 err[512], *copy, *t, *next, target[ADDR_MAX + 1];
	size_t		 len;
	int		 r;

	if (depth > REWRITE_DEPTH) {
		buf_printf(reply, "554 5.4.6 <%s>: virtual alias loop or "
		    "nesting deeper than %d", addr, REWRITE_DEPTH);
		return -1;
	}
	r = map_get_addr(q->virtual_aliases, addr,
	    q->conf->recipient_delimiter, 0, &val, err, sizeof(err));
	if (r == -1) {
		log_warnx("%s", err);
		buf_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure",
		    addr);
		return -1;
	}
	if (r == 0)
		return rewrite_add(out, addr);
	if ((copy = strdup(val)) == NULL)
		return -1;
	for (t = copy; t && *t; t = next) {
		if ((next = strchr(t, ',')) != NULL)
			*next++ = '\0';
		t += strspn(t, " \t");
		len = strlen(t);
		while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
			t[--len] = '\0';
		if (len == 0)
			continue;
		if (t[0] == '@') {
			/* Domain rewrite: the same local part elsewhere. */
			at = strrchr(addr, '@');
			snprintf(target, sizeof(target), "%.*s%s", at ?
			    (int)(at - addr) : (int)strlen(addr), addr, t);
		} else
			strlcpy(target, t, sizeof(target));
		if (strcasecmp(target, addr) == 0)
			r = rewrite_add(out, target);
		else
			r = rewrite_one(q, target, depth + 1, out, reply);
		if (r == -1) {
			free(copy);
			return -1;
		}
	}
	free(copy);
	if (out->n == 0) {
		buf_printf(reply, "550 5.1.1 <%s>: virtual alias expands to "
		    "nothing", addr);
		return -1;
	}
	return 0;
}

static int
rewrite_add(struct rewrite_list *l, const char *addr)
{
	char	**n;
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (strcasecmp(l->addr[i], addr) == 0)
			return 0;
	if (l->n >= REWRITE_MAX)
		return 0;
	if ((n = reallocarray(l->addr, l->n + 1, sizeof(*n))) == NULL)
		return -1;
	l->addr = n;
	if ((l->addr[l->n] = strdup(addr)) == NULL)
		return -1;
	l->n++;
	return 0;
}
