/*
 * recipient: is an address one we accept mail for?  The local domains
 * are ours; a local part must be an alias or a mailbox, except postmaster,
 * which RFC 5321 4.5.1 says we must always accept.  Whether mail for
 * other domains may be relayed is smtpd's decision (it knows the client).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "qmgr.h"

static void	 recipient_split(const char *, char *, size_t, char *, size_t);

int
recipient_check(struct qmgr *q, const char *addr, struct buf *reply)
{
	char	 local[ADDR_LOCAL_MAX * 2 + 3], domain[ADDR_DOMAIN_MAX + 1];

	recipient_split(addr, local, sizeof(local), domain, sizeof(domain));
	/* Other domains: smtpd already applied the relay policy. */
	if (domain[0] && !conf_list_has(q->conf->local_domains, domain))
		return 0;
	if (strcasecmp(local, "postmaster") == 0)
		return 0;
	recipient_refresh_maps(q);
	if ((q->aliases && map_lookup(q->aliases, local)) ||
	    (q->mailboxes && map_lookup(q->mailboxes, local)))
		return 0;
	buf_printf(reply, "550 5.1.1 <%s>: Recipient address rejected: "
	    "User unknown in local recipient table", addr);
	return -1;
}

int
recipient_is_local(struct qmgr *q, const char *addr)
{
	char	 local[ADDR_LOCAL_MAX * 2 + 3], domain[ADDR_DOMAIN_MAX + 1];

	recipient_split(addr, local, sizeof(local), domain, sizeof(domain));
	return domain[0] == '\0' ||
	    conf_list_has(q->conf->local_domains, domain);
}

void
recipient_refresh_maps(struct qmgr *q)
{
	char	 err[512];

	if (q->aliases && map_refresh(q->aliases, err, sizeof(err)) == -1)
		log_warnx("alias map: %s (keeping the old contents)", err);
	if (q->mailboxes && map_refresh(q->mailboxes, err, sizeof(err)) == -1)
		log_warnx("mailbox map: %s (keeping the old contents)", err);
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
