/*
 * policy: the access maps, asked by qmgr at MAIL (client address and
 * sender) and RCPT (recipient), so smtpd never opens a map.  A value is
 *
 *	OK		nothing to object to
 *	REJECT [text]	554 5.7.1 (or the text's own code)
 *	DEFER [text]	450 4.7.1
 *	NNN X.Y.Z text	exactly this reply (4xx or 5xx)
 *
 * Client keys: the address, then its shorter prefixes (1.2.3, 1.2, 1 or
 * the IPv6 groups); sender and recipient keys: the address, user@ (any
 * domain), the domain and each parent domain.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <bsd/string.h>

#include "addr.h"
#include "log.h"
#include "qmgr.h"

static int	 policy_value(const char *, const char *, const char *,
		    struct buf *);
static int	 policy_lookup(struct map *, const char **, size_t,
		    const char **);

int
policy_mail(struct qmgr *q, const char *client, const char *sender,
    struct buf *reply)
{
	const char	*keys[16], *val;
	char		 k[16][ADDR_MAX + 2], *p;
	size_t		 n = 0;

	recipient_refresh_maps(q);
	if (q->client_access && client[0]) {
		/* 192.0.2.7, 192.0.2, 192.0, 192 (and likewise for ':'). */
		strlcpy(k[0], client, sizeof(k[0]));
		keys[n++] = k[0];
		while (n < 8) {
			strlcpy(k[n], k[n - 1], sizeof(k[n]));
			if ((p = strrchr(k[n], strchr(client, ':') ? ':' : '.'))
			    == NULL || p == k[n])
				break;
			*p = '\0';
			keys[n] = k[n];
			n++;
		}
		if (policy_lookup(q->client_access, keys, n, &val) == 1 &&
		    policy_value(val, "Client host rejected", client, reply) ==
		    -1)
			return -1;
	}
	if (q->sender_access && sender[0])
		return policy_rcpt_like(q->sender_access, sender,
		    "Sender address rejected", reply);
	return 0;
}

/*
 * smtpd_sender_login_map: sender address -> the logins that may use it
 * (Postfix's reject_sender_login_mismatch).  An authenticated client may
 * only use an address the map gives its login; a client that did not
 * authenticate may not use an address the map gives to anyone.  The
 * null sender is not checked.
 */
int
policy_sender_login(struct qmgr *q, const char *login, const char *sender,
    struct buf *reply)
{
	const char	*owners;
	char		 err[512];
	int		 r;

	if (q->sender_logins == NULL || sender[0] == '\0')
		return 0;
	recipient_refresh_maps(q);
	r = map_get_addr(q->sender_logins, sender, "", 0, &owners, err,
	    sizeof(err));
	if (r == -1) {
		log_warnx("%s", err);
		buf_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure",
		    sender);
		return -1;
	}
	if (login[0] == '\0') {
		if (r == 0)
			return 0;
		buf_printf(reply, "553 5.7.1 <%s>: Sender address rejected: "
		    "not logged in", sender);
		return -1;
	}
	if (r == 1 && conf_list_has(owners, login))
		return 0;
	buf_printf(reply, "553 5.7.1 <%s>: Sender address rejected: not "
	    "owned by user %s", sender, login);
	return -1;
}

int
policy_rcpt(struct qmgr *q, const char *rcpt, struct buf *reply)
{
	if (q->recipient_access == NULL)
		return 0;
	recipient_refresh_maps(q);
	return policy_rcpt_like(q->recipient_access, rcpt,
	    "Recipient address rejected", reply);
}

/* An address: a@b.c, a@, b.c, c (parents of the domain). */
int
policy_rcpt_like(struct map *m, const char *addr, const char *what,
    struct buf *reply)
{
	const char	*keys[16], *val, *at, *d;
	char		 user[ADDR_MAX + 2];
	size_t		 n = 0;

	keys[n++] = addr;
	if ((at = strrchr(addr, '@')) != NULL) {
		snprintf(user, sizeof(user), "%.*s@", (int)(at - addr), addr);
		keys[n++] = user;
		for (d = at + 1; d && *d && n < 16; d = strchr(d, '.')) {
			if (*d == '.')
				d++;
			keys[n++] = d;
		}
	}
	if (policy_lookup(m, keys, n, &val) == 1)
		return policy_value(val, what, addr, reply);
	return 0;
}

/* First key found; a map read error counts as DEFER (never as OK). */
static int
policy_lookup(struct map *m, const char **keys, size_t n, const char **val)
{
	char	 err[512];
	size_t	 i;
	int	 r;

	for (i = 0; i < n; i++) {
		if ((r = map_get(m, keys[i], val, err, sizeof(err))) == 1)
			return 1;
		if (r == -1) {
			log_warnx("%s", err);
			*val = "451 4.3.0 Temporary lookup failure";
			return 1;
		}
	}
	return 0;
}

static int
policy_value(const char *val, const char *what, const char *who,
    struct buf *reply)
{
	const char	*text;

	if (strcasecmp(val, "OK") == 0)
		return 0;
	if (strncasecmp(val, "REJECT", 6) == 0 &&
	    (val[6] == '\0' || val[6] == ' ')) {
		text = val[6] ? val + 7 : "Access denied";
		buf_printf(reply, "554 5.7.1 <%s>: %s: %s", who, what, text);
		return -1;
	}
	if (strncasecmp(val, "DEFER", 5) == 0 &&
	    (val[5] == '\0' || val[5] == ' ')) {
		text = val[5] ? val + 6 : "Try again later";
		buf_printf(reply, "450 4.7.1 <%s>: %s: %s", who, what, text);
		return -1;
	}
	if ((val[0] == '4' || val[0] == '5') && isdigit((unsigned char)val[1])
	    && isdigit((unsigned char)val[2]) && val[3] == ' ') {
		buf_printf(reply, "%s", val);
		return -1;
	}
	log_warnx("access map value '%s' for %s is not OK, REJECT, DEFER or "
	    "a reply code; ignored", val, who);
	return 0;
}
