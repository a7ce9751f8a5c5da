/*
 * recipient: is an address one we accept mail for?  The local domains
 * are ours; a local part must be an alias or a mailbox, except postmaster,
 * which RFC 5321 4.5.1 says we must always accept.  Whether mail for
 * other domains may be relayed is smtpd's decision (it knows the client).
 */
#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "addr.h"
#include "log.h"
#include "qmgr.h"

static void	 recipient_split(const char *, char *, size_t, char *, size_t);
static int	 recipient_known(struct qmgr *, const char *);
static int	 recipient_in_map(struct qmgr *, struct map *, const char *,
		    const char *, struct buf *);
static void	 recipient_normalize(struct qmgr *, const char *, char *,
		    size_t);

int
recipient_check(struct qmgr *q, const char *addr, struct buf *reply)
{
	char	 local[ADDR_LOCAL_MAX * 2 + 3], domain[ADDR_DOMAIN_MAX + 1];

	recipient_split(addr, local, sizeof(local), domain, sizeof(domain));
	recipient_refresh_maps(q);
	/* Still in an alias-only domain after rewriting: nobody there. */
	if (domain[0] && conf_list_has(q->conf->virtual_alias_domains,
	    domain)) {
		buf_printf(reply, "550 5.1.1 <%s>: Recipient address rejected: "
		    "User unknown in virtual alias table", addr);
		return -1;
	}
	if (domain[0] && conf_list_has(q->conf->virtual_mailbox_domains,
	    domain))
		return strcasecmp(local, "postmaster") == 0 ? 0 :
		    recipient_in_map(q, q->mailboxes, addr, "virtual mailbox",
		    reply);
	if (domain[0] && q->relay_recipients &&
	    conf_list_has(q->conf->relay_domains, domain))
		return recipient_in_map(q, q->relay_recipients, addr,
		    "relay recipient", reply);
	/* Other domains: smtpd already applied the relay policy. */
	if (domain[0] && !conf_list_has(q->conf->local_domains, domain))
		return 0;
	if (strcasecmp(local, "postmaster") == 0)
		return 0;
	switch (recipient_known(q, local)) {
	case 1:
		return 0;
	case -1:
		buf_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure",
		    addr);
		return -1;
	}
	buf_printf(reply, "550 5.1.1 <%s>: Recipient address rejected: "
	    "User unknown in local recipient table", addr);
	return -1;
}

/*
 * Is a local part (maybe user+ext) ours: an alias, a virtual mailbox or
 * a system account other than root (root's mail goes through an alias)?
 * -1 when a map cannot be read: the client should try again, not be
 * told the user does not exist.
 */
static int
recipient_known(struct qmgr *q, const char *local)
{
	struct map	*maps[2] = { q->aliases, q->mailboxes };
	struct passwd	*pw;
	const char	*val, *d = q->conf->recipient_delimiter;
	char		 base[ADDR_LOCAL_MAX * 2 + 3], err[512];
	size_t		 n;
	int		 i, r;

	strlcpy(base, local, sizeof(base));
	if (d[0] && base[0] && (n = strcspn(base + 1, d) + 1) < strlen(base))
		base[n] = '\0';
	for (n = 0; base[n]; n++)
		base[n] = (char)tolower((unsigned char)base[n]);
	for (i = 0; i < 2; i++) {
		if (maps[i] == NULL)
			continue;
		if ((r = map_get(maps[i], local, &val, err, sizeof(err))) == 0 &&
		    strcmp(base, local) != 0)
			r = map_get(maps[i], base, &val, err, sizeof(err));
		if (r == -1)
			log_warnx("%s", err);
		if (r != 0)
			return r;
	}
	if (q->conf->deliver_to_system_accounts &&
	    (pw = getpwnam(base)) != NULL && pw->pw_uid != 0)
		return 1;
	return 0;
}

int
recipient_is_local(struct qmgr *q, const char *addr)
{
	char	 local[ADDR_LOCAL_MAX * 2 + 3], domain[ADDR_DOMAIN_MAX + 1];

	recipient_split(addr, local, sizeof(local), domain, sizeof(domain));
	return domain[0] == '\0' ||
	    conf_list_has(q->conf->local_domains, domain) ||
	    conf_list_has(q->conf->virtual_mailbox_domains, domain);
}

/* A whole address in a table (user@domain, user@domain less +ext, @domain). */
static int
recipient_in_map(struct qmgr *q, struct map *m, const char *addr,
    const char *what, struct buf *reply)
{
	const char	*val;
	char		 err[512];
	int		 r = 0;

	if (m != NULL)
		r = map_get_addr(m, addr, q->conf->recipient_delimiter, 0, &val,
		    err, sizeof(err));
	if (r == 1)
		return 0;
	if (r == -1) {
		log_warnx("%s", err);
		buf_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure",
		    addr);
		return -1;
	}
	buf_printf(reply, "550 5.1.1 <%s>: Recipient address rejected: User "
	    "unknown in %s table", addr, what);
	return -1;
}

void
recipient_refresh_maps(struct qmgr *q)
{
	char	 err[512];

	struct map	*all[] = { q->transports, q->aliases, q->mailboxes,
	    q->virtual_aliases,
	    q->relay_recipients, q->client_access, q->sender_access,
	    q->recipient_access, q->sender_logins };
	size_t		 i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i] && map_refresh(all[i], err, sizeof(err)) == -1)
			log_warnx("%s (keeping the old contents)", err);
}

/* Split at the last '@' outside quotes; unquote the local part. */
static void
recipient_split(const char *addr, char *local, size_t llen, char *domain,
    size_t dlen)
{
	const char	*at = NULL, *p;
	char		 raw[ADDR_LOCAL_MAX * 2 + 3];
	int		 inq = 0;
	size_t		 n;

	for (p = addr; *p; p++) {
		if (*p == '\\' && inq && p[1])
			p++;
		else if (*p == '"')
			inq = !inq;
		else if (*p == '@' && !inq)
			at = p;
	}
	n = at ? (size_t)(at - addr) : strlen(addr);
	if (n >= sizeof(raw))
		n = sizeof(raw) - 1;
	memcpy(raw, addr, n);
	raw[n] = '\0';
	addr_unquote_local(raw, local, llen);
	snprintf(domain, dlen, "%s", at ? at + 1 : "");
}

/*
 * VRFY and EXPN (only when smtpd has them enabled).  The answer is one or
 * more SMTP reply lines separated by LF; smtpd adds the continuation dashes.
 */
void
recipient_vrfy(struct qmgr *q, const char *arg, struct buf *reply)
{
	char	 addr[ADDR_MAX + 1];

	recipient_normalize(q, arg, addr, sizeof(addr));
	if (!recipient_is_local(q, addr)) {
		buf_printf(reply, "252 2.1.5 <%s>: not a local address; will "
		    "accept message and attempt delivery", addr);
		return;
	}
	if (recipient_check(q, addr, reply) == 0)
		buf_printf(reply, "250 2.1.5 <%s>", addr);
}

/*
 * EXPN shows a list's members (one level, addresses only: commands and
 * files stay private); for anything else it answers as RCPT would.
 */
void
recipient_expn(struct qmgr *q, const char *arg, struct buf *reply)
{
	char		 addr[ADDR_MAX + 1], local[ADDR_LOCAL_MAX * 2 + 3];
	char		 domain[ADDR_DOMAIN_MAX + 1], target[ADDR_MAX + 1];
	char		*copy, *t, *next;
	const char	*val;
	size_t		 len;
	int		 lines = 0, cut = 0;

	recipient_normalize(q, arg, addr, sizeof(addr));
	recipient_split(addr, local, sizeof(local), domain, sizeof(domain));
	if (!recipient_is_local(q, addr)) {
		buf_printf(reply, "550 5.1.2 <%s>: not a local list", addr);
		return;
	}
	recipient_refresh_maps(q);
	val = q->aliases ? map_lookup(q->aliases, local) : NULL;
	if (val == NULL || (copy = strdup(val)) == NULL) {
		if (recipient_check(q, addr, reply) == 0)
			buf_printf(reply, "250 2.1.5 <%s>", addr);
		return;
	}
	for (t = copy; t && *t; t = next) {
		if ((next = strchr(t, ',')) != NULL)
			*next++ = '\0';
		t += strspn(t, " \t\"\\");
		len = strlen(t);
		while (len > 0 && strchr(" \t\"", t[len - 1]))
			t[--len] = '\0';
		if (len == 0 || *t == '|' || *t == '/' || *t == ':')
			continue;
		if (strchr(t, '@'))
			snprintf(target, sizeof(target), "%s", t);
		else
			snprintf(target, sizeof(target), "%s@%s", t, domain);
		if ((lines && buf_appendc(reply, '\n') == -1) ||
		    buf_printf(reply, "250 2.1.5 <%s>", target) == -1) {
			cut = 1;
			break;
		}
		lines++;
	}
	free(copy);
	if (cut) {
		buf_reset(reply);
		buf_printf(reply, "550 5.3.4 <%s>: list too long to show", addr);
	} else if (lines == 0)
		buf_printf(reply, "250 2.1.5 <%s>", addr);
}

/* "<a@b>", "a@b" or "a" to "a@b", "a" taking the first local domain. */
static void
recipient_normalize(struct qmgr *q, const char *arg, char *out, size_t outlen)
{
	const char	*dom = q->conf->local_domains;
	size_t		 n, dl;

	arg += strspn(arg, " ");
	if (*arg == '<')
		arg++;
	n = strcspn(arg, "> ");
	if (memchr(arg, '@', n)) {
		snprintf(out, outlen, "%.*s", (int)n, arg);
		return;
	}
	dom += strspn(dom, ", \t");
	dl = strcspn(dom, ", \t");
	snprintf(out, outlen, "%.*s@%.*s", (int)n, arg, (int)(dl ? dl : 9),
	    dl ? dom : "localhost");
}
