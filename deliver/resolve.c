/*
 * resolve: from one envelope recipient to the places a copy goes.
 *
 * The local part (less its recipient_delimiter extension) is looked up
 * in the alias map, recursively: a target is another name, "\name" (that
 * user's mailbox, no more aliasing), "|command", "/file", ":include:/file"
 * or an address in a local domain.  A name that is not an alias is a
 * virtual mailbox (virtual_mailbox_map) or a system account, whose
 * ~/.forward is honoured the same way.  Loops are cut, duplicates
 * removed; commands and files run as default_privs for aliases, as the
 * include file's owner, or as the user for .forward.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "local.h"
#include "log.h"

#define SRC_ALIAS	"alias"
#define SRC_INCLUDE	"include"
#define SRC_FORWARD	"forward"

struct resolve {
	const struct conf	*conf;
	struct local_maps	*maps;
	const struct local_msg	*msg;
	struct dest_list	*out;
	struct local_result	*res;
	char			 domain[ADDR_DOMAIN_MAX + 1];
	char			 extension[ADDR_LOCAL_MAX * 2 + 3];
	char			 delim;		/* the one that split it */
	char			 recipient[ADDR_MAX + 1];
	const char		*stack[LOCAL_ALIAS_DEPTH + 2];
	int			 depth;
	int			 ntemp, nperm;
};

/* Whose rights commands and files found on the way run with. */
struct privs {
	uid_t		 uid;
	gid_t		 gid;
	char		 user[64];
	char		 home[PATH_MAX];
	const char	*source;	/* SRC_* */
	char		 sender[ADDR_MAX + 1];
};

static void	 resolve_name(struct resolve *, const char *, struct privs *,
		    int noalias);
static void	 resolve_targets(struct resolve *, const char *,
		    const char *, struct privs *);
static void	 resolve_include(struct resolve *, const char *,
		    struct privs *);
static void	 resolve_user(struct resolve *, const char *, struct privs *,
		    int noforward);
static void	 resolve_virtual(struct resolve *, const char *, const char *);
static int	 resolve_virtual_dir(struct resolve *, const char *,
		    const char *, char *, size_t);
static void	 resolve_virtual_add(struct resolve *, const char *,
		    const char *, const char *);
static int	 resolve_forward(struct resolve *, const struct passwd *,
		    struct privs *);
static void	 resolve_special(struct resolve *, const char *,
		    struct privs *);
static struct dest *resolve_add(struct resolve *, enum dest_kind,
		    const char *, uid_t, gid_t, const char *, const char *);
static int	 resolve_allowed(const char *, const char *);
static int	 resolve_default_privs(const struct conf *, struct privs *);
static int	 resolve_config_user(const char *, uid_t *, gid_t *);
static int	 resolve_get(struct resolve *, struct map *, const char *,
		    const char **);
static void	 resolve_fail(struct resolve *, int temp, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));

void
resolve_rcpt(const struct conf *conf, struct local_maps *maps,
    const struct local_msg *msg, const char *rcpt, struct dest_list *out,
    struct local_result *res)
{
	struct resolve	 r;
	struct privs	 p;
	char		 local[ADDR_LOCAL_MAX * 2 + 3], raw[sizeof(local)];
	const char	*at;
	size_t		 n, i;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	r.conf = conf;
	r.maps = maps;
	r.msg = msg;
	r.out = out;
	r.res = res;
	strlcpy(r.recipient, rcpt, sizeof(r.recipient));
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
	strlcpy(r.domain, at ? at + 1 : "localhost", sizeof(r.domain));
	for (i = 0; r.domain[i]; i++)
		r.domain[i] = (char)tolower((unsigned char)r.domain[i]);
	/* user+ext: the extension is kept for commands and Delivered-To. */
	if (conf->recipient_delimiter[0] && local[0] &&
	    (n = strcspn(local + 1, conf->recipient_delimiter) + 1) <
	    strlen(local) && strcasecmp(local, "postmaster") != 0) {
		if (maps->aliases == NULL ||
		    map_lookup(maps->aliases, local) == NULL) {
			strlcpy(r.extension, local + n + 1,
			    sizeof(r.extension));
			r.delim = local[n];
			local[n] = '\0';
		}
	}
	if (conf_list_has(conf->virtual_mailbox_domains, r.domain)) {
		resolve_virtual(&r, rcpt, msg->sender);
	} else if (resolve_default_privs(conf, &p) == -1) {
		resolve_fail(&r, 1, "4.3.5", "default_privs user %s does not "
		    "exist or is root", conf->default_privs);
	} else {
		p.source = SRC_ALIAS;
		strlcpy(p.sender, msg->sender, sizeof(p.sender));
		resolve_name(&r, local, &p, 0);
	}
	if (r.ntemp)
		res->code = 'T';
	else if (r.nperm)
		res->code = 'P';	/* the destinations found still get it */
	else if (out->n == 0) {
		resolve_fail(&r, 0, "5.1.1", "alias expands to nothing");
		res->code = 'P';
	}
}

static void
resolve_name(struct resolve *r, const char *name, struct privs *p,
    int noalias)
{
	const char	*val = NULL;
	char		 owner[ADDR_MAX + 8], key[ADDR_MAX + 1], *copy;
	int		 got = 0;
	struct privs	 np;
	int		 i;

	for (i = 0; i < r->depth; i++)
		if (strcmp(r->stack[i], name) == 0) {
			/* "alice: alice, bob" means alice's own mailbox. */
			if (i == r->depth - 1) {
				resolve_user(r, name, p, 1);
				return;
			}
			resolve_fail(r, 0, "5.4.6", "alias loop: %s expands "
			    "to itself", name);
			return;
		}
	if (r->depth >= LOCAL_ALIAS_DEPTH) {
		resolve_fail(r, 0, "5.4.6", "aliases nested deeper than %d at "
		    "%s", LOCAL_ALIAS_DEPTH, name);
		return;
	}
	if (!noalias && r->maps->aliases) {
		if (r->depth == 0 && r->extension[0] &&
		    (size_t)snprintf(key, sizeof(key), "%s%c%s", name,
		    r->delim, r->extension) < sizeof(key))
			got = resolve_get(r, r->maps->aliases, key, &val);
		if (got == 0)
			got = resolve_get(r, r->maps->aliases, name, &val);
		if (got == -1)
			return;
		if (got == 0)
			val = NULL;
	}
	if (val == NULL) {
		resolve_user(r, name, p, noalias);
		return;
	}
	/* A map's value lives only until its next lookup. */
	if ((copy = strdup(val)) == NULL) {
		resolve_fail(r, 1, "4.3.0", "out of memory");
		return;
	}
	np = *p;
	np.source = strcmp(p->source, SRC_FORWARD) == 0 ? SRC_FORWARD :
	    SRC_ALIAS;
	/* Errors about a list go to its owner, if it has one. */
	if ((size_t)snprintf(owner, sizeof(owner), "owner-%s", name) <
	    sizeof(owner) && map_lookup(r->maps->aliases, owner) != NULL &&
	    (size_t)snprintf(np.sender, sizeof(np.sender), "%s@%s", owner,
	    r->domain) >= sizeof(np.sender))
		strlcpy(np.sender, p->sender, sizeof(np.sender));
	r->stack[r->depth++] = name;
	resolve_targets(r, name, copy, &np);
	r->depth--;
	free(copy);
}

/* "a, b@localhost, \c, |cmd, /file, :include:/f" */
static void
resolve_targets(struct resolve *r, const char *name, const char *val,
    struct privs *p)
{
	char		*copy, *t, *next, *at, *e;
	size_t		 i;

	if ((copy = strdup(val)) == NULL) {
		resolve_fail(r, 1, "4.3.0", "out of memory");
		return;
	}
	for (t = copy; t; t = next) {
		/* A quoted "|command, with commas" stays whole. */
		t += strspn(t, " \t,");
		if (*t == '"') {
			t++;
			if ((e = strchr(t, '"')) == NULL) {
				resolve_fail(r, 0, "5.3.5", "%s: unbalanced quote",
				    name);
				break;
			}
			*e = '\0';
			if ((next = strchr(e + 1, ',')) != NULL)
				next++;
		} else {
			if ((next = strchr(t, ',')) != NULL)
				*next++ = '\0';
			for (e = t + strlen(t); e > t && isspace((unsigned char)
			    e[-1]); e--)
				e[-1] = '\0';
		}
		if (*t == '\0')
			continue;
		if (*t == '|' || *t == '/' || strncasecmp(t, ":include:", 9) ==
		    0) {
			resolve_special(r, t, p);
			continue;
		}
		if (*t == '\\') {
			resolve_user(r, t + 1, p, 1);
			continue;
		}
		for (i = 0; t[i]; i++)
			t[i] = (char)tolower((unsigned char)t[i]);
		if ((at = strrchr(t, '@')) != NULL) {
			if (conf_list_has(r->conf->virtual_mailbox_domains,
			    at + 1)) {
				resolve_virtual(r, t, p->sender);
				continue;
			}
			if (!conf_list_has(r->conf->local_domains, at + 1)) {
				/* Another domain: qmgr queues a copy for it. */
				(void)resolve_add(r, DEST_FORWARD, t, 0, 0, NULL,
				    p->sender);
				continue;
			}
			*at = '\0';
		}
		resolve_name(r, t, p, 0);
	}
	free(copy);
}

static void
resolve_special(struct resolve *r, const char *t, struct privs *p)
{
	const char	*allow;
	struct dest	*d;
	int		 cmd = *t == '|';

	if (strncasecmp(t, ":include:", 9) == 0) {
		resolve_include(r, t + 9, p);
		return;
	}
	allow = cmd ? r->conf->allow_mail_to_commands :
	    r->conf->allow_mail_to_files;
	if (!resolve_allowed(allow, p->source)) {
		resolve_fail(r, 0, "5.7.1", "mail to %s is not allowed from "
		    "%s entries (allow_mail_to_%s)", cmd ? "commands" : "files",
		    p->source, cmd ? "commands" : "files");
		return;
	}
	if ((d = resolve_add(r, cmd ? DEST_PIPE : DEST_FILE, cmd ? t + 1 : t,
	    p->uid, p->gid, NULL, p->sender)) != NULL) {
		strlcpy(d->user, p->user, sizeof(d->user));
		strlcpy(d->home, p->home, sizeof(d->home));
	}
}

/* :include:/path -- read as root, trusted only if safely owned. */
static void
resolve_include(struct resolve *r, const char *path, struct privs *p)
{
	struct privs	 np;
	struct buf	 b;
	char		 err[512];
	uid_t		 fuid;
	gid_t		 fgid;
	int		 i, rc;

	for (i = 0; i < r->depth; i++)
		if (strcmp(r->stack[i], path) == 0) {
			resolve_fail(r, 0, "5.4.6", ":include:%s includes "
			    "itself", path);
			return;
		}
	if (r->depth >= LOCAL_ALIAS_DEPTH) {
		resolve_fail(r, 0, "5.4.6", ":include: nested deeper than %d",
		    LOCAL_ALIAS_DEPTH);
		return;
	}
	if (path[0] != '/') {
		resolve_fail(r, 0, "5.3.5", ":include:%s: not an absolute path",
		    path);
		return;
	}
	/* Read with the rights of whoever named it, not root's. */
	buf_init(&b, 1024 * 1024);
	rc = readas_file(path, p->uid, p->gid, (uid_t)-1, 1024 * 1024, &b,
	    &fuid, &fgid, err, sizeof(err));
	if (rc != READAS_OK) {
		resolve_fail(r, rc == READAS_TEMP, rc == READAS_TEMP ? "4.3.0" :
		    rc == READAS_UNSAFE ? "5.7.1" : "5.3.5", ":include:%s",
		    err);
		buf_free(&b);
		return;
	}
	/* One target per line or comma; '#' lines are comments. */
	np = *p;
	np.source = SRC_INCLUDE;
	if (fuid != 0) {
		struct passwd *pw = getpwuid(fuid);

		np.uid = fuid;
		np.gid = fgid;
		strlcpy(np.user, pw ? pw->pw_name : "", sizeof(np.user));
		strlcpy(np.home, pw ? pw->pw_dir : "/", sizeof(np.home));
	}
	if (b.data) {
		char	*line, *save;

		r->stack[r->depth++] = path;
		for (line = strtok_r(b.data, "\n", &save); line;
		    line = strtok_r(NULL, "\n", &save))
			if (line[strspn(line, " \t")] != '#')
				resolve_targets(r, path, line, &np);
		r->depth--;
	}
	buf_free(&b);
}

/*
 * A virtual mailbox domain: only virtual_mailbox_map, by whole address
 * (with the user+ext and @domain fall-backs); no aliases, no accounts.
 */
static void
resolve_virtual(struct resolve *r, const char *rcpt, const char *sender)
{
	const char	*rel;
	char		 err[512], dir[PATH_MAX], addr[ADDR_MAX + 1];
	size_t		 i;
	int		 n;

	strlcpy(addr, rcpt, sizeof(addr));
	for (i = 0; addr[i]; i++)
		addr[i] = (char)tolower((unsigned char)addr[i]);
	n = r->maps->mailboxes ? map_get_addr(r->maps->mailboxes, addr,
	    r->conf->recipient_delimiter, 0, &rel, err, sizeof(err)) : 0;
	if (n == -1) {
		resolve_fail(r, 1, "4.3.0", "%s", err);
		return;
	}
	if (n == 0 && strncmp(addr, "postmaster@", 11) == 0) {
		/* RFC 5321 4.5.1: every domain has one; ours is local. */
		struct privs	 p;

		if (resolve_default_privs(r->conf, &p) == -1) {
			resolve_fail(r, 1, "4.3.5", "default_privs user %s does "
			    "not exist or is root", r->conf->default_privs);
			return;
		}
		p.source = SRC_ALIAS;
		strlcpy(p.sender, sender, sizeof(p.sender));
		resolve_name(r, "postmaster", &p, 0);
		return;
	}
	if (n == 0) {
		resolve_fail(r, 0, "5.1.1", "unknown user: %s", addr);
		return;
	}
	if (resolve_virtual_dir(r, rel, addr, dir, sizeof(dir)) == 0)
		resolve_virtual_add(r, dir, addr, sender);
}

static int
resolve_virtual_dir(struct resolve *r, const char *rel, const char *who,
    char *dir, size_t dirlen)
{
	if (rel[0] == '\0' || rel[0] == '/' || strstr(rel, "..") ||
	    rel[strlen(rel) - 1] != '/') {
		resolve_fail(r, 0, "5.3.5", "mailbox map entry for %s must be "
		    "a relative Maildir path ending in /", who);
		return -1;
	}
	snprintf(dir, dirlen, "%s/%s", r->conf->virtual_mailbox_base, rel);
	dir[strlen(dir) - 1] = '\0';
	return 0;
}

static void
resolve_virtual_add(struct resolve *r, const char *dir, const char *addr,
    const char *sender)
{
	uid_t		 vuid = getuid();
	gid_t		 vgid = getgid();

	if (getuid() == 0 &&
	    resolve_config_user(r->conf->virtual_user, &vuid, &vgid) == -1) {
		resolve_fail(r, 1, "4.3.5", "virtual_user %s: missing or root",
		    r->conf->virtual_user);
		return;
	}
	resolve_add(r, DEST_MAILDIR, dir, vuid, vgid, addr, sender);
}

/* A name that is not an alias: a virtual mailbox or a system account. */
static void
resolve_user(struct resolve *r, const char *name, struct privs *p,
    int noforward)
{
	struct passwd	*pw;
	struct privs	 np;
	struct dest	*d;
	const char	*rel;
	char		 dir[PATH_MAX], addr[ADDR_MAX + 1];
	int		 got = 0;

	snprintf(addr, sizeof(addr), "%s@%s", name, r->domain);
	if (r->maps->mailboxes) {
		if (r->depth == 0 && r->extension[0] &&
		    (size_t)snprintf(dir, sizeof(dir), "%s%c%s", name,
		    r->delim, r->extension) < sizeof(dir))
			got = resolve_get(r, r->maps->mailboxes, dir, &rel);
		if (got == 0)
			got = resolve_get(r, r->maps->mailboxes, name, &rel);
		if (got == -1)
			return;
		if (got == 1) {
			if (resolve_virtual_dir(r, rel, name, dir,
			    sizeof(dir)) == 0)
				resolve_virtual_add(r, dir, addr, p->sender);
			return;
		}
	}
	if (!r->conf->deliver_to_system_accounts ||
	    (pw = getpwnam(name)) == NULL) {
		resolve_fail(r, 0, "5.1.1", "unknown user: %s", name);
		return;
	}
	if (pw->pw_uid == 0) {
		resolve_fail(r, 0, "5.7.1", "mail for %s is not delivered as "
		    "root: alias %s to a person", name, name);
		return;
	}
	np = *p;
	np.uid = pw->pw_uid;
	np.gid = pw->pw_gid;
	strlcpy(np.user, pw->pw_name, sizeof(np.user));
	strlcpy(np.home, pw->pw_dir, sizeof(np.home));
	np.source = SRC_FORWARD;
	if (!noforward && resolve_forward(r, pw, &np))
		return;
	if (r->conf->home_mailbox[0]) {
		snprintf(dir, sizeof(dir), "%s/%s", pw->pw_dir,
		    r->conf->home_mailbox);
		if (dir[strlen(dir) - 1] == '/') {
			dir[strlen(dir) - 1] = '\0';
			d = resolve_add(r, DEST_MAILDIR, dir, pw->pw_uid,
			    pw->pw_gid, addr, p->sender);
		} else
			d = resolve_add(r, DEST_MBOX, dir, pw->pw_uid,
			    pw->pw_gid, addr, p->sender);
	} else {
		snprintf(dir, sizeof(dir), "%s/%s",
		    r->conf->mail_spool_directory, pw->pw_name);
		d = resolve_add(r, DEST_MBOX, dir, pw->pw_uid, pw->pw_gid, addr,
		    p->sender);
		if (d)
			d->spool = 1;
	}
	if (d) {
		strlcpy(d->user, pw->pw_name, sizeof(d->user));
		strlcpy(d->home, pw->pw_dir, sizeof(d->home));
		strlcpy(d->shell, pw->pw_shell, sizeof(d->shell));
	}
}

/*
 * ~/.forward: honoured only when owned by the user (or root) and not
 * writable by group or others, as sendmail and Postfix do.  1 if it
 * decided where the mail goes.
 */
static int
resolve_forward(struct resolve *r, const struct passwd *pw, struct privs *p)
{
	char		 path[PATH_MAX], buf[8192], err[512], name[64];
	struct buf	 b;
	uid_t		 fuid;
	gid_t		 fgid;
	int		 rc, before;

	snprintf(path, sizeof(path), "%s/.forward", pw->pw_dir);
	/* pw points into getpwnam's buffer: keep what we need. */
	strlcpy(name, pw->pw_name, sizeof(name));
	buf_init(&b, sizeof(buf) - 1);
	rc = readas_file(path, pw->pw_uid, pw->pw_gid, pw->pw_uid,
	    sizeof(buf) - 1, &b, &fuid, &fgid, err, sizeof(err));
	if (rc == READAS_MISSING || (rc == READAS_OK && b.len == 0)) {
		buf_free(&b);
		return 0;
	}
	if (rc == READAS_UNSAFE) {
		log_warnx("%s: %s ignored: not a regular file with one link "
		    "owned by %s, or writable by others", r->msg->id, path,
		    name);
		buf_free(&b);
		return 0;
	}
	if (rc != READAS_OK) {
		resolve_fail(r, 1, "4.3.0", ".forward: %s", err);
		buf_free(&b);
		return 1;
	}
	memcpy(buf, b.data, b.len);
	buf[b.len] = '\0';
	buf_free(&b);
	before = 0;
	{
		char	*line, *save;

		r->stack[r->depth++] = name;
		for (line = strtok_r(buf, "\n", &save); line;
		    line = strtok_r(NULL, "\n", &save))
			if (line[strspn(line, " \t,")] != '#' &&
			    line[strspn(line, " \t,")] != '\0') {
				resolve_targets(r, path, line, p);
				before = 1;
			}
		r->depth--;
	}
	/* Any target at all: the .forward decides, even if all were dups. */
	return before;
}

static struct dest *
resolve_add(struct resolve *r, enum dest_kind kind, const char *target,
    uid_t uid, gid_t gid, const char *delivered_to, const char *sender)
{
	struct dest	*d;
	size_t		 i;

	/* The same place with the same rights gets one copy. */
	for (i = 0; i < r->out->n; i++)
		if (r->out->d[i].kind == kind && r->out->d[i].uid == uid &&
		    strcmp(r->out->d[i].target, target) == 0)
			return NULL;
	if (r->out->n >= LOCAL_MAX_TARGETS) {
		resolve_fail(r, 0, "5.3.5", "more than %d destinations after "
		    "alias expansion", LOCAL_MAX_TARGETS);
		return NULL;
	}
	if ((d = reallocarray(r->out->d, r->out->n + 1, sizeof(*d))) == NULL) {
		resolve_fail(r, 1, "4.3.0", "out of memory");
		return NULL;
	}
	r->out->d = d;
	d = &r->out->d[r->out->n++];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	strlcpy(d->target, target, sizeof(d->target));
	d->uid = uid;
	d->gid = gid;
	strlcpy(d->sender, sender, sizeof(d->sender));
	strlcpy(d->recipient, r->recipient, sizeof(d->recipient));
	strlcpy(d->domain, r->domain, sizeof(d->domain));
	strlcpy(d->extension, r->extension, sizeof(d->extension));
	if (delivered_to)
		strlcpy(d->delivered_to, delivered_to, sizeof(d->delivered_to));
	else
		snprintf(d->delivered_to, sizeof(d->delivered_to), "%s",
		    r->recipient);
	{
		const char *at = strrchr(d->delivered_to, '@');

		snprintf(d->local, sizeof(d->local), "%.*s", at ?
		    (int)(at - d->delivered_to) : (int)strlen(d->delivered_to),
		    d->delivered_to);
	}
	return d;
}

/* Is source ("alias", "include", "forward") in the allow list? */
static int
resolve_allowed(const char *list, const char *source)
{
	return conf_list_has(list, source);
}

static int
resolve_default_privs(const struct conf *conf, struct privs *p)
{
	struct passwd	*pw;

	memset(p, 0, sizeof(*p));
	if (getuid() != 0) {
		p->uid = getuid();
		p->gid = getgid();
		pw = getpwuid(p->uid);
		strlcpy(p->user, pw ? pw->pw_name : "", sizeof(p->user));
	} else {
		if (resolve_config_user(conf->default_privs, &p->uid,
		    &p->gid) == -1)
			return -1;
		strlcpy(p->user, conf->default_privs, sizeof(p->user));
	}
	strlcpy(p->home, "/", sizeof(p->home));
	return 0;
}

/* map_get whose read errors defer the recipient (never "unknown"). */
static int
resolve_get(struct resolve *r, struct map *m, const char *key,
    const char **val)
{
	char	 err[512];
	int	 got;

	if ((got = map_get(m, key, val, err, sizeof(err))) == -1) {
		log_warnx("%s: %s", r->msg->id, err);
		resolve_fail(r, 1, "4.3.0", "map lookup failed: %s",
		    map_spec(m));
	}
	return got;
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

/*
 * The account of virtual_user or default_privs: looked up at most once a
 * second, not once per copy (each getpwnam reads the whole of
 * /etc/passwd).  -1 if it is missing or root.
 */
static int
resolve_config_user(const char *name, uid_t *uid, gid_t *gid)
{
	static struct {
		char	 name[64];
		uid_t	 uid;
		gid_t	 gid;
		time_t	 at;
	}		 cache[2];
	static size_t	 next;
	struct passwd	*pw;
	time_t		 now = time(NULL);
	size_t		 i;

	for (i = 0; i < 2; i++)
		if (cache[i].at == now && strcmp(cache[i].name, name) == 0) {
			*uid = cache[i].uid;
			*gid = cache[i].gid;
			return 0;
		}
	if ((pw = getpwnam(name)) == NULL || pw->pw_uid == 0)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (strlen(name) < sizeof(cache[0].name)) {
		i = next++ % 2;
		strlcpy(cache[i].name, name, sizeof(cache[i].name));
		cache[i].uid = pw->pw_uid;
		cache[i].gid = pw->pw_gid;
		cache[i].at = now;
	}
	return 0;
}
