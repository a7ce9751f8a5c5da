/*
 * dns: where a relay job goes.  A next hop "[host]:port" is that host's
 * addresses; "host" (or the recipients' domain) is an MX lookup: MX
 * hosts in preference order, equal ones shuffled, the domain itself when
 * it has no MX (RFC 5321 5.1), and a null MX (RFC 7505) refuses mail for
 * good.  The system resolver (libresolv) is used, pointed at
 * dns_resolver when that is set.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <ctype.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "log.h"
#include "resolver.h"
#include "sock.h"
#include "smtp.h"

static int	 dns_addrs(const struct conf *, const char *, int, int,
		    struct smtp_host *, char *, size_t);
static int	 dns_is_me(const struct conf *, const char *);

static int	 resolver_local;	/* dns_resolver_is_local(), at start */
static int	 dns_host_is_me(const struct conf *, const struct smtp_host *);

int
dns_init(const struct conf *c, char *err, size_t errlen)
{
	if (resolver_setup(c->dns_resolver, err, errlen) == -1)
		return -1;
	resolver_local = dns_resolver_is_local();
	return 0;
}

/* Are the resolvers all on this host (to be trusted with the AD bit)? */
int
dns_resolver_is_local(void)
{
	int	 i;

	for (i = 0; i < _res.nscount; i++)
		if (_res.nsaddr_list[i].sin_family != AF_INET ||
		    (ntohl(_res.nsaddr_list[i].sin_addr.s_addr) >> 24) != 127)
			return 0;
	return _res.nscount > 0;
}

/*
 * One query, as res_query would make it, but through res_send so that a
 * denial (NXDOMAIN, NODATA) comes with its header too: the answer length,
 * or -1 with *herr set as res_query sets h_errno.  With dnssec, the query
 * asks for DNSSEC (EDNS0 with DO, and AD) and *secure says whether the
 * resolver vouched for the answer or the denial (the AD bit, RFC 4035
 * 3.2.3).  Only a validating resolver on this host may be trusted with
 * that: smtp(8) says so.
 */
int
dns_lookup(const char *name, int type, unsigned char *ans, size_t len,
    int *herr, int dnssec, int *secure)
{
	unsigned char	 q[NS_PACKETSZ + 16], *opt;
	HEADER		*hp;
	int		 n, ql;

	*herr = NETDB_INTERNAL;
	if (secure)
		*secure = 0;
	if ((ql = res_mkquery(ns_o_query, name, ns_c_in, type, NULL, 0, NULL,
	    q, NS_PACKETSZ)) < 0)
		return -1;
	if (dnssec) {
		/* An OPT record (RFC 6891): root, type 41, 1232 bytes, DO. */
		static const unsigned char rr[11] = { 0, 0, 41, 0x04, 0xd0,
		    0, 0, 0x80, 0, 0, 0 };

		opt = q + ql;
		memcpy(opt, rr, sizeof(rr));
		ql += (int)sizeof(rr);
		hp = (HEADER *)q;
		hp->arcount = htons((uint16_t)(ntohs(hp->arcount) + 1));
		hp->ad = 1;
#ifdef RES_TRUSTAD
		_res.options |= RES_TRUSTAD;
#endif
	}
	n = res_send(q, ql, ans, (int)len);
	/* glibc may have read a new /etc/resolv.conf for this very query. */
	resolver_local = dns_resolver_is_local();
#ifdef RES_TRUSTAD
	_res.options &= ~(unsigned long)RES_TRUSTAD;
#endif
	if (n < 0) {
		*herr = TRY_AGAIN;
		return -1;
	}
	if ((size_t)n < HFIXEDSZ || n > (int)len) {
		*herr = NO_RECOVERY;
		return -1;
	}
	hp = (HEADER *)ans;
	/* The AD bit of a resolver elsewhere could be anybody's. */
	if (secure)
		*secure = dnssec && hp->ad && resolver_local;
	switch (hp->rcode) {
	case ns_r_noerror:
		if (ntohs(hp->ancount) == 0) {
			*herr = NO_DATA;
			return -1;
		}
		*herr = 0;
		return n;
	case ns_r_nxdomain:
		*herr = HOST_NOT_FOUND;
		return -1;
	case ns_r_servfail:
		*herr = TRY_AGAIN;
		return -1;
	default:
		*herr = NO_RECOVERY;
		return -1;
	}
}

/* Is an MX name this host (myhostname; a trailing dot and case aside)? */
static int
dns_is_me(const struct conf *c, const char *name)
{
	size_t	 n = strlen(name), m = strlen(c->myhostname);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (m > 0 && c->myhostname[m - 1] == '.')
		m--;
	return n == m && n > 0 && strncasecmp(name, c->myhostname, n) == 0;
}

/* By name (myhostname), or by an address of our own SMTP service. */
static int
dns_host_is_me(const struct conf *c, const struct smtp_host *h)
{
	size_t	 i;

	if (dns_is_me(c, h->name))
		return 1;
	for (i = 0; i < h->naddr; i++)
		if (self_is_me(&h->addr[i]))
			return 1;
	return 0;
}

static int
dns_cmp(const void *a, const void *b)
{
	return ((const struct smtp_host *)a)->pref -
	    ((const struct smtp_host *)b)->pref;
}

int
dns_dest(const struct conf *c, const char *transport, const char *nexthop,
    int dnssec, struct smtp_dest *d, char *why, size_t whylen, char *dsn)
{
	unsigned char	 ans[NS_PACKETSZ * 8];
	char		 host[256], name[NS_MAXDNAME];
	const char	*p, *end;
	ns_msg		 msg;
	ns_rr		 rr;
	int		 port, n, herr, i, count, nomx = 0, found, secure;
	size_t		 k, j;
	struct smtp_host tmp;

	memset(d, 0, sizeof(*d));
	d->lmtp = strcmp(transport, "lmtp") == 0;
	port = d->lmtp ? 24 : (int)c->smtp_port;
	if (d->lmtp && strncmp(nexthop, "unix:", 5) == 0) {
		if (strlcpy(d->path, nexthop + 5, sizeof(d->path)) >=
		    sizeof(d->path)) {
			snprintf(why, whylen, "LMTP socket path too long");
			strlcpy(dsn, "4.3.5", 8);
			return -1;
		}
		d->unix_path = 1;
		return 0;
	}
	if (d->lmtp && strncmp(nexthop, "inet:", 5) == 0)
		nexthop += 5;
	/* "[host]:port", "[host]", "host:port", "host" */
	p = nexthop;
	if (*p == '[') {
		nomx = 1;
		if ((end = strchr(p, ']')) == NULL)
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(end - p - 1), p + 1);
		p = end + 1;
	} else {
		end = strchr(p, ':');
		snprintf(host, sizeof(host), "%.*s", end ? (int)(end - p) :
		    (int)strlen(p), p);
		p = end ? end : p + strlen(p);
	}
	if (*p == ':') {
		port = atoi(p + 1);
		if (port <= 0 || port > 65535 ||
		    p[1 + strspn(p + 1, "0123456789")] != '\0')
			goto bad;
	} else if (*p)
		goto bad;
	if (host[0] == '\0')
		goto bad;
	strlcpy(d->domain, host, sizeof(d->domain));
	/* LMTP hosts are never MX targets (RFC 2033 is for local use). */
	if (nomx || d->lmtp) {
		/* A name from the configuration, not from the DNS. */
		d->mx_secure = 1;
		d->configured = 1;
		strlcpy(d->host[0].name, host, sizeof(d->host[0].name));
		if (dns_addrs(c, host, port, dnssec, &d->host[0], why,
		    whylen) == -1) {
			strlcpy(dsn, "4.4.3", 8);
			return -1;
		}
		if (!d->lmtp && dns_host_is_me(c, &d->host[0])) {
			snprintf(why, whylen, "mail for %s loops back to "
			    "myself (the next hop is this host's own SMTP "
			    "service)", nexthop);
			strlcpy(dsn, "5.4.6", 8);
			return -2;
		}
		d->nhost = 1;
		return 0;
	}
	n = dns_lookup(host, ns_t_mx, ans, sizeof(ans), &herr, dnssec,
	    &secure);
	/* RFC 7672 2.2.1: an MX answer, or its denial, may be secure. */
	d->mx_secure = secure;
	if (n < 0 && herr == HOST_NOT_FOUND) {
		snprintf(why, whylen, "Host or domain name not found. Name "
		    "service error for name=%s type=MX: Host not found", host);
		strlcpy(dsn, "5.1.2", 8);
		return -2;
	}
	if (n < 0 && herr != NO_DATA) {
		snprintf(why, whylen, "Host or domain name not found. Name "
		    "service error for name=%s type=MX: Host not found, try "
		    "again", host);
		strlcpy(dsn, "4.4.3", 8);
		return -1;
	}
	if (n >= 0 && ns_initparse(ans, n, &msg) == 0) {
		struct smtp_host *all;
		size_t		 nall = 0;

		count = ns_msg_count(msg, ns_s_an);
		if ((all = calloc((size_t)count + 1, sizeof(*all))) == NULL) {
			snprintf(why, whylen, "out of memory");
			strlcpy(dsn, "4.3.0", 8);
			return -1;
		}
		for (i = 0; i < count; i++) {
			if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 ||
			    ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3)
				continue;
			if (ns_name_uncompress(ns_msg_base(msg),
			    ns_msg_end(msg), ns_rr_rdata(rr) + 2, name,
			    sizeof(name)) < 0)
				continue;
			all[nall].pref = ns_get16(ns_rr_rdata(rr));
			strlcpy(all[nall].name, name, sizeof(all[nall].name));
			nall++;
		}
		/* The best SMTP_MAX_HOSTS, whatever the answer's order. */
		qsort(all, nall, sizeof(*all), dns_cmp);
		for (k = 0; k < nall && d->nhost < SMTP_MAX_HOSTS; k++)
			d->host[d->nhost++] = all[k];
		free(all);
	}
	/* RFC 7505: one MX, preference 0, "." - this domain takes no mail. */
	for (k = 0; k < d->nhost; k++)
		if (d->host[k].name[0] == '\0' || strcmp(d->host[k].name, ".") ==
		    0) {
			snprintf(why, whylen, "Domain %s does not accept mail "
			    "(null MX, RFC 7505)", host);
			strlcpy(dsn, "5.1.10", 8);
			return -2;
		}
	if (d->nhost == 0) {
		/* No MX: the domain itself (RFC 5321 5.1). */
		strlcpy(d->host[0].name, host, sizeof(d->host[0].name));
		d->nhost = 1;
	} else
		qsort(d->host, d->nhost, sizeof(d->host[0]), dns_cmp);
	for (k = 0; k < d->nhost; k++)
		(void)dns_addrs(c, d->host[k].name, port, dnssec, &d->host[k],
		    why, whylen);
	/*
	 * RFC 5321 5.1: when we are one of the MX hosts (by name or by
	 * address), only the more preferred ones are candidates; none left
	 * means the mail would come back to us.
	 */
	for (k = 0; k < d->nhost; k++)
		if (dns_host_is_me(c, &d->host[k]))
			break;
	if (k < d->nhost) {
		int mine = d->host[k].pref;

		for (j = 0; j < d->nhost && d->host[j].pref < mine; j++)
			;
		d->nhost = j;
		if (d->nhost == 0) {
			snprintf(why, whylen, "mail for %s loops back to "
			    "myself (%s is its best MX host)", host,
			    d->host[k].name);
			strlcpy(dsn, "5.4.6", 8);
			return -2;
		}
	}
	/* Spread the load over MX hosts of equal preference. */
	for (k = 0; k < d->nhost; k = j) {
		for (j = k + 1; j < d->nhost &&
		    d->host[j].pref == d->host[k].pref; j++)
			;
		for (i = (int)(j - k) - 1; i > 0; i--) {
			size_t r = k + arc4random_uniform((uint32_t)i + 1);

			tmp = d->host[k + (size_t)i];
			d->host[k + (size_t)i] = d->host[r];
			d->host[r] = tmp;
		}
	}
	found = 0;
	for (k = 0; k < d->nhost; k++)
		if (d->host[k].naddr > 0)
			found = 1;
	if (!found) {
		strlcpy(dsn, "4.4.3", 8);
		return -1;
	}
	return 0;
bad:
	snprintf(why, whylen, "bad next hop '%s' (expected host, host:port "
	    "or [host]:port)", nexthop);
	strlcpy(dsn, "4.3.5", 8);
	return -1;
}

/* The addresses of one host, without DNSSEC (the MTA-STS web server). */
int
dns_host(const struct conf *c, const char *name, int port,
    struct smtp_host *h, char *why, size_t whylen)
{
	return dns_addrs(c, name, port, 0, h, why, whylen);
}

/*
 * A and AAAA of name (or name itself if it is an address literal).  With
 * dnssec the DNS is asked even without dns_resolver (getaddrinfo does
 * not tell what is validated), and h->secure says that every answer was.
 */
static int
dns_addrs(const struct conf *c, const char *name, int port, int dnssec,
    struct smtp_host *h, char *why, size_t whylen)
{
	struct addrinfo	 hints, *res, *ai;
	unsigned char	 ans[NS_PACKETSZ * 4];
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	ns_msg		 msg;
	ns_rr		 rr;
	int		 types[2] = { ns_t_a, ns_t_aaaa }, t, n, i, herr, rc;
	int		 literal, secure, all_secure = 1;

	h->naddr = 0;
	h->secure = 0;
	literal = inet_pton(AF_INET, name, ans) == 1 ||
	    inet_pton(AF_INET6, name, ans) == 1;
	if (literal || (c->dns_resolver[0] == '\0' && !dnssec)) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		if ((rc = getaddrinfo(name, NULL, &hints, &res)) != 0) {
			snprintf(why, whylen, "Host or domain name not found. "
			    "Name service error for name=%s type=A: %s", name,
			    gai_strerror(rc));
			return -1;
		}
		for (ai = res; ai && h->naddr < SMTP_MAX_ADDRS; ai = ai->ai_next) {
			memcpy(&h->addr[h->naddr], ai->ai_addr, ai->ai_addrlen);
			h->naddr++;
		}
		freeaddrinfo(res);
	} else {
		for (t = 0; t < 2; t++) {
			n = dns_lookup(name, types[t], ans, sizeof(ans), &herr,
			    dnssec, &secure);
			/* A denial counts too: AAAA may be securely absent. */
			if (n >= 0 || herr == NO_DATA || herr == HOST_NOT_FOUND)
				all_secure &= secure;
			else
				all_secure = 0;
			if (n < 0 || ns_initparse(ans, n, &msg) != 0)
				continue;
			for (i = 0; i < ns_msg_count(msg, ns_s_an) &&
			    h->naddr < SMTP_MAX_ADDRS; i++) {
				if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 ||
				    (int)ns_rr_type(rr) != types[t])
					continue;
				memset(&h->addr[h->naddr], 0,
				    sizeof(h->addr[0]));
				if (types[t] == ns_t_a && ns_rr_rdlen(rr) == 4) {
					sin = (struct sockaddr_in *)
					    &h->addr[h->naddr];
					sin->sin_family = AF_INET;
					memcpy(&sin->sin_addr, ns_rr_rdata(rr),
					    4);
					h->naddr++;
				} else if (types[t] == ns_t_aaaa &&
				    ns_rr_rdlen(rr) == 16) {
					sin6 = (struct sockaddr_in6 *)
					    &h->addr[h->naddr];
					sin6->sin6_family = AF_INET6;
					memcpy(&sin6->sin6_addr,
					    ns_rr_rdata(rr), 16);
					h->naddr++;
				}
			}
		}
		if (h->naddr == 0) {
			snprintf(why, whylen, "Host or domain name not found. "
			    "Name service error for name=%s type=A: Host not "
			    "found", name);
			return -1;
		}
		h->secure = dnssec && all_secure;
	}
	for (i = 0; i < (int)h->naddr; i++) {
		if (h->addr[i].ss_family == AF_INET)
			((struct sockaddr_in *)&h->addr[i])->sin_port =
			    htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)&h->addr[i])->sin6_port =
			    htons((uint16_t)port);
	}
	return 0;
}
