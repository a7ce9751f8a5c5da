/*
 * resolver: libresolv set up as posthorn.conf says.  With dns_resolver
 * ("address[:port]", IPv4), that server alone is asked, without the
 * search list; without it, the servers of /etc/resolv.conf.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/nameser.h>

#include <resolv.h>
#include <stdio.h>
#include <string.h>

#include "resolver.h"
#include "sock.h"

int
resolver_setup(const char *dns_resolver, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t	 len;
	char		 spec[300], why[256];

	if (res_init() != 0) {
		snprintf(err, errlen, "res_init failed");
		return -1;
	}
	if (dns_resolver[0] == '\0')
		return 0;
	snprintf(spec, sizeof(spec), "%s%s", dns_resolver,
	    strchr(dns_resolver, ':') ? "" : ":53");
	if (sock_inet_parse(spec, &ss, &len, why, sizeof(why)) == -1 ||
	    ss.ss_family != AF_INET) {
		snprintf(err, errlen, "dns_resolver: expected an IPv4 "
		    "address[:port], got '%s'", dns_resolver);
		return -1;
	}
	memcpy(&_res.nsaddr_list[0], &ss, sizeof(struct sockaddr_in));
	_res.nscount = 1;
	_res.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
	return 0;
}

void
resolver_txt(const unsigned char *p, size_t rdlen, char *out, size_t len)
{
	const unsigned char *end = p + rdlen;
	size_t		 tl = 0;

	while (p < end && p + 1 + *p <= end) {
		if (tl + *p < len) {
			memcpy(out + tl, p + 1, *p);
			tl += *p;
		}
		p += 1 + *p;
	}
	out[tl] = '\0';
}
