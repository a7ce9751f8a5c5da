/*
 * resolve: from one envelope recipient to the mailboxes it stands for.
 * The alias map is applied recursively (a name that aliases to itself
 * means its own mailbox), then each name must be in the virtual mailbox
 * map; every mailbox found gets one delivery.  The recipient's result is
 * the worst of its deliveries.
 */
#include <ctype.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <bsd/string.h>

#include "addr.h"
#include "local.h"

struct resolve {
	const struct conf	*conf;
	struct local_maps	*maps;
	const struct local_msg	*msg;
	const char		*domain;
	struct local_result	*res;
	int			 ndeliv;
	int			 ntemp, nperm;
};

static void	 resolve_name(struct resolve *, const char *, int);
static void	 resolve_mailbox(struct resolve *, const char *);
static void	 resolve_fail(struct resolve *, int temp, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));

void
local_deliver_rcpt(const struct conf *conf, struct local_maps *maps,
    const struct local_msg *msg, const char *rcpt, struct local_result *res)
{
	struct resolve	 r;
	char		 local[ADDR_LOCAL_MAX * 2 + 3], raw[sizeof(local)];
	char		 domain[ADDR_DOMAIN_MAX + 1];
	const char	*at;
	size_t		 n, i;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	r.conf = conf;
	r.maps = maps;
	r.msg = msg;
	r.res = res;
	at = strrchr(rcpt, '@');
	n = at ? (size_t)(at - rcpt) : strlen(rcpt);
	if (n >= sizeof(raw))
		n = sizeof(raw) - 1;
	memcpy(raw, rcpt, n);
	raw[n] = '\0';
	addr_unquote_local(raw, local, sizeof(local));
	for (i = 0; local[i]; i++)
		local[i] = (char)tolower((unsigned char)local[i]);
	/* Domains are case-insensitive: Delivered-To uses lower case. */
	strlcpy(domain, at ? at + 1 : "localhost", sizeof(domain));
	for (i = 0; domain[i]; i++)
		domain[i] = (char)tolower((unsigned char)domain[i]);
	r.domain = domain;
	resolve_name(&r, local, 0);
	if (r.ntemp) {
		res->code = 'T';
	} else if (r.nperm) {
		res->code = 'P';
	} else if (r.ndeliv) {
		res->code = 'D';
		strlcpy(res->status, "2.0.0", sizeof(res->status));
		if (res->text[0] == '\0')
			strlcpy(res->text, "delivered", sizeof(res->text));
	} else {
		resolve_fail(&r, 0, "5.1.1", "alias expands to nothing");
		res->code = 'P';
	}
}

static void
resolve_name(struct resolve *r, const char *name, int depth)
{
	const char	*val, *p;
	char		 target[ADDR_MAX + 1], *at;
	size_t		 n, i;

	if (depth > LOCAL_ALIAS_DEPTH) {
		resolve_fail(r, 0, "5.4.6", "alias loop or nesting deeper "
		    "than %d at %s", LOCAL_ALIAS_DEPTH, name);
		return;
	}
	val = r->maps->aliases ? map_lookup(r->maps->aliases, name) : NULL;
	if (val == NULL) {
		resolve_mailbox(r, name);
		return;
	}
	for (p = val; *p; ) {
		p += strspn(p, ", \t");
		n = strcspn(p, ",");
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		if (n == 0)
			break;
		if (n >= sizeof(target)) {
			resolve_fail(r, 0, "5.3.5", "alias target too long in "
			    "%s", name);
			return;
		}
		memcpy(target, p, n);
		target[n] = '\0';
		p += n;
		for (i = 0; target[i]; i++)
			target[i] = (char)tolower((unsigned char)target[i]);
		if ((at = strrchr(target, '@')) != NULL) {
			if (!conf_list_has(r->conf->local_domains, at + 1)) {
				resolve_fail(r, 0, "5.4.4", "alias %s: "
				    "target %s is not local (relaying is not "
				    "available)", name, target);
				continue;
			}
			*at = '\0';
		}
		if (target[0] == '|' || target[0] == '/' || target[0] == ':') {
			resolve_fail(r, 0, "5.3.5", "alias %s: %s deliveries "
			    "are not supported by this version", name,
			    target[0] == '|' ? "command" : "file or include");
			continue;
		}
		if (strcmp(target, name) == 0)
			resolve_mailbox(r, target);
		else
			resolve_name(r, target, depth + 1);
	}
}

static void
resolve_mailbox(struct resolve *r, const char *name)
{
	const char	*rel;
	char		 dir[PATH_MAX], err[512], to[ADDR_MAX + 1];
	int		 rc;

	rel = r->maps->mailboxes ? map_lookup(r->maps->mailboxes, name) : NULL;
	if (rel == NULL) {
		resolve_fail(r, 0, "5.1.1", "unknown user: %s", name);
		return;
	}
	if (++r->ndeliv > LOCAL_MAX_TARGETS) {
		resolve_fail(r, 0, "5.3.5", "too many mailboxes after alias "
		    "expansion");
		return;
	}
	if (rel[0] == '\0' || rel[0] == '/' || strstr(rel, "..") != NULL ||
	    rel[strlen(rel) - 1] != '/') {
		resolve_fail(r, 0, "5.3.5", "mailbox map entry for %s must be "
		    "a relative Maildir path ending in /", name);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/%s", r->conf->virtual_mailbox_base, rel);
	dir[strlen(dir) - 1] = '\0';	/* no trailing slash */
	snprintf(to, sizeof(to), "%s@%s", name, r->domain);
	rc = maildir_deliver(dir, r->msg, to, r->conf->myhostname, err,
	    sizeof(err));
	if (rc == 0) {
		strlcpy(r->res->text, "delivered to maildir ",
		    sizeof(r->res->text));
		strlcat(r->res->text, dir, sizeof(r->res->text));
		return;
	}
	resolve_fail(r, rc == -1, rc == -1 ? "4.2.0" : "5.2.0", "%s", err);
}

static void
resolve_fail(struct resolve *r, int temp, const char *status,
    const char *fmt, ...)
{
	va_list	 ap;

	if (temp)
		r->ntemp++;
	else
		r->nperm++;
	/* Keep the first temporary reason, else the first permanent one. */
	if (r->res->status[0] && !(temp && r->ntemp == 1))
		return;
	strlcpy(r->res->status, status, sizeof(r->res->status));
	va_start(ap, fmt);
	vsnprintf(r->res->text, sizeof(r->res->text), fmt, ap);
	va_end(ap);
}
