/*
 * route: the transport for one recipient.  transport_map is asked first,
 * by the whole address, then the domain, then each parent domain written
 * ".parent" (as in Postfix); its value is "transport[:nexthop]":
 *
 *	local		the local delivery agent
 *	error:text	bounce, with text (and a 5.x.x code if it starts so)
 *	retry:text	defer, with text (e.g. while a host is moved)
 *	smtp		MX lookup of the recipient's domain
 *	smtp:host	MX lookup of host
 *	smtp:[host]:port	that host (A/AAAA), no MX lookup; port 25 default
 *	lmtp:unix:/path, lmtp:[host]:port	LMTP (RFC 2033)
 *	hold		put the message on hold (hold/) until released
 *	odmr		keep it until the customer asks with ATRN (odmr.c)
 *
 * Without an entry, local and virtual mailbox domains go to local; other
 * domains to relayhost when it is set, else to smtp (MX lookup).
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

/*
 * The named queue of a relay recipient (ETRN #name): the host of its next
 * hop without brackets or port ("[10.0.0.1]:2525" is 10.0.0.1), or its
 * domain under plain MX routing; "" for other routes and LMTP sockets.
 */
void
route_queue_name(struct qmgr *q, const char *addr, char *out, size_t len)
{
	struct route	 rt;
	const char	*h, *at;

	out[0] = '\0';
	if (route_recipient(q, addr, &rt) != ROUTE_RELAY ||
	    strncmp(rt.nexthop, "unix:", 5) == 0)
		return;
	if (rt.nexthop[0] == '\0') {
		at = strrchr(addr, '@');
		strlcpy(out, at ? at + 1 : "", len);
		return;
	}
	h = strncmp(rt.nexthop, "inet:", 5) == 0 ? rt.nexthop + 5 : rt.nexthop;
	if (*h == '[')
		snprintf(out, len, "%.*s", (int)strcspn(h + 1, "]"), h + 1);
	else
		snprintf(out, len, "%.*s", (int)strcspn(h, ":"), h);
}

int
route_recipient(struct qmgr *q, const char *addr, struct route *rt)
{
	const char	*val = NULL, *at, *d, *colon;
	char		 err[512], key[300];
	int		 r = 0;
	size_t		 n;

	memset(rt, 0, sizeof(*rt));
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
			strlcpy(rt->dsn, "4.3.0", sizeof(rt->dsn));
			snprintf(rt->why, sizeof(rt->why),
			    "transport_map lookup failed");
			return ROUTE_DEFER;
		}
	}
	if (r == 0) {
		if (recipient_is_local(q, addr))
			val = "local";
		else if (q->conf->relayhost[0]) {
			strlcpy(rt->transport, "smtp", sizeof(rt->transport));
			strlcpy(rt->nexthop, q->conf->relayhost,
			    sizeof(rt->nexthop));
			return ROUTE_RELAY;
		} else
			val = "smtp";
	}
	if (strcasecmp(val, "local") == 0 || strncasecmp(val, "local:", 6) ==
	    0)
		return ROUTE_LOCAL;
	if (strncasecmp(val, "error", 5) == 0 && (val[5] == '\0' ||
	    val[5] == ':')) {
		route_reason(val[5] ? val + 6 : "", "5.0.0", rt->why,
		    sizeof(rt->why), rt->dsn);
		if (rt->why[0] == '\0')
			snprintf(rt->why, sizeof(rt->why), "mail for this "
			    "address is refused (transport_map)");
		return ROUTE_ERROR;
	}
	if (strncasecmp(val, "retry", 5) == 0 && (val[5] == '\0' ||
	    val[5] == ':')) {
		route_reason(val[5] ? val + 6 : "", "4.0.0", rt->why,
		    sizeof(rt->why), rt->dsn);
		if (rt->why[0] == '\0')
			snprintf(rt->why, sizeof(rt->why), "delivery deferred "
			    "by transport_map");
		return ROUTE_DEFER;
	}
	if (strcasecmp(val, "hold") == 0 || strncasecmp(val, "hold:", 5) == 0) {
		strlcpy(rt->dsn, "4.3.2", sizeof(rt->dsn));
		snprintf(rt->why, sizeof(rt->why), "on hold (transport_map)");
		return ROUTE_HOLD;
	}
	if (strcasecmp(val, "odmr") == 0 || strncasecmp(val, "odmr:", 5) ==
	    0) {
		strlcpy(rt->transport, "odmr", sizeof(rt->transport));
		strlcpy(rt->dsn, "4.4.1", sizeof(rt->dsn));
		snprintf(rt->why, sizeof(rt->why), "waiting for the customer "
		    "to connect and ask for it (ODMR, RFC 2645)");
		return ROUTE_ODMR;
	}
	n = (colon = strchr(val, ':')) ? (size_t)(colon - val) : strlen(val);
	if ((n == 4 && strncasecmp(val, "smtp", 4) == 0) ||
	    (n == 4 && strncasecmp(val, "lmtp", 4) == 0)) {
		strlcpy(rt->transport, n == 4 && tolower((unsigned char)
		    val[0]) == 'l' ? "lmtp" : "smtp", sizeof(rt->transport));
		if (colon && strlcpy(rt->nexthop, colon + 1,
		    sizeof(rt->nexthop)) >= sizeof(rt->nexthop)) {
			strlcpy(rt->dsn, "4.3.5", sizeof(rt->dsn));
			snprintf(rt->why, sizeof(rt->why), "transport_map: "
			    "next hop too long");
			return ROUTE_DEFER;
		}
		if (strcmp(rt->transport, "lmtp") == 0 && rt->nexthop[0] ==
		    '\0') {
			strlcpy(rt->dsn, "4.3.5", sizeof(rt->dsn));
			snprintf(rt->why, sizeof(rt->why), "transport_map: lmtp "
			    "needs a next hop (unix:/path or [host]:port)");
			return ROUTE_DEFER;
		}
		return ROUTE_RELAY;
	}
	strlcpy(rt->dsn, "4.3.5", sizeof(rt->dsn));
	snprintf(rt->why, sizeof(rt->why), "transport_map: unknown transport "
	    "'%.*s'", (int)(n > 32 ? 32 : n), val);
	return ROUTE_DEFER;
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
