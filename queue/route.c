/*
 * route: the transport for one recipient.  transport_map is asked first,
 * by the whole address, then the domain, then each parent domain written
 * ".parent" (as in Postfix); its value is "transport[:nexthop]":
 *
 *	local		the local delivery agent
 *	error:text	bounce, with text (and a 5.x.x code if it starts so)
 *	retry:text	defer, with text (e.g. while a host is moved)
 *	smtp, lmtp, relay	remote delivery, which this version lacks
 *
 * Without an entry, local and virtual mailbox domains go to local; other
 * domains have no transport yet.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <bsd/string.h>

#include "log.h"
#include "qmgr.h"

static void	 route_reason(const char *, const char *, char *, size_t,
		    char *);

int
route_recipient(struct qmgr *q, const char *addr, char *why, size_t whylen,
    char *dsn)
{
	const char	*val = NULL, *at, *d;
	char		 err[512], key[300];
	int		 r = 0;

	if (q->transports) {
		r = map_get(q->transports, addr, &val, err, sizeof(err));
		at = strrchr(addr, '@');
		if (r == 0 && at)
			r = map_get(q->transports, at + 1, &val, err,
			    sizeof(err));
		for (d = at ? strchr(at + 1, '.') : NULL; r == 0 && d;
		    d = strchr(d + 1, '.')) {
			snprintf(key, sizeof(key), "%s", d);
			r = map_get(q->transports, key, &val, err, sizeof(err));
		}
		if (r == -1) {
			log_warnx("%s", err);
			strlcpy(dsn, "4.3.0", 8);
			snprintf(why, whylen, "transport_map lookup failed");
			return ROUTE_DEFER;
		}
	}
	if (r == 0)
		val = recipient_is_local(q, addr) ? "local" : "smtp";
	if (strcasecmp(val, "local") == 0 || strncasecmp(val, "local:", 6) ==
	    0)
		return ROUTE_LOCAL;
	if (strncasecmp(val, "error", 5) == 0 && (val[5] == '\0' ||
	    val[5] == ':')) {
		route_reason(val[5] ? val + 6 : "", "5.0.0", why, whylen, dsn);
		if (why[0] == '\0')
			snprintf(why, whylen, "mail for this address is refused "
			    "(transport_map)");
		return ROUTE_ERROR;
	}
	if (strncasecmp(val, "retry", 5) == 0 && (val[5] == '\0' ||
	    val[5] == ':')) {
		route_reason(val[5] ? val + 6 : "", "4.0.0", why, whylen, dsn);
		if (why[0] == '\0')
			snprintf(why, whylen, "delivery deferred by "
			    "transport_map");
		return ROUTE_DEFER;
	}
	strlcpy(dsn, "5.4.4", 8);
	snprintf(why, whylen, "delivery to other domains (transport %.32s) is "
	    "not available in this version", val);
	return ROUTE_ERROR;
}

/* "5.1.1 gone away" -> dsn 5.1.1, text "gone away"; else the default. */
static void
route_reason(const char *text, const char *def, char *why, size_t whylen,
    char *dsn)
{
	strlcpy(dsn, def, 8);
	if (text[0] == def[0] && text[1] == '.' && isdigit((unsigned char)text[2])) {
		size_t n = strcspn(text, " ");

		if (n < 8) {
			memcpy(dsn, text, n);
			dsn[n] = '\0';
			text += n;
			text += strspn(text, " ");
		}
	}
	strlcpy(why, text, whylen);
}
