/*
 * self: is an address this instance's own SMTP service?  RFC 5321 5.1
 * asks an MTA to recognise itself among a domain's MX hosts.  Names are
 * compared with myhostname (dns.c); addresses here, with their port: an
 * address and port where one of our smtpd services listens (master.conf;
 * a wildcard listener stands for every local interface address), or any
 * address in proxy_interfaces (a NAT or proxy in front of this host).
 * Ports count, so that two instances on one host can relay to each other.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ifaddrs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "log.h"
#include "sock.h"
#include "smtp.h"

#define SELF_MAX	32

static struct sockaddr_storage self_listen[SELF_MAX];
static size_t	 self_nlisten;
static struct sockaddr_storage self_proxy[SELF_MAX];
static size_t	 self_nproxy;

static int	 self_same_addr(const struct sockaddr_storage *,
		    const struct sockaddr_storage *);
static int	 self_any(const struct sockaddr_storage *);
static int	 self_local(const struct sockaddr_storage *);
static int	 self_port(const struct sockaddr_storage *);

/* Our smtpd listeners (master.conf) and proxy_interfaces. */
int
self_init(const struct conf *c, char *err, size_t errlen)
{
	char		 path[PATH_MAX], *line = NULL, *f[3], *p, *save, why[256];
	char		 spec[300];
	size_t		 cap = 0;
	socklen_t	 len;
	FILE		*fp;
	int		 n;

	snprintf(path, sizeof(path), "%s/%s", c->config_directory, MASTER_FILE);
	if ((fp = fopen(path, "r")) == NULL)
		log_warn("%s (own addresses not known: MX loops are found "
		    "by name only)", path);
	while (fp && getline(&line, &cap, fp) != -1) {
		line[strcspn(line, "#\r\n")] = '\0';
		for (n = 0, p = strtok_r(line, " \t", &save); p && n < 3;
		    p = strtok_r(NULL, " \t", &save))
			f[n++] = p;
		if (n < 3 || strcmp(f[2], "smtpd") != 0 ||
		    strncmp(f[1], "unix:", 5) == 0 || self_nlisten == SELF_MAX)
			continue;
		if (sock_inet_parse(f[1], &self_listen[self_nlisten], &len,
		    why, sizeof(why)) == 0)
			self_nlisten++;
	}
	free(line);
	if (fp)
		fclose(fp);
	/* proxy_interfaces: addresses, separated by commas or blanks. */
	strlcpy(spec, c->proxy_interfaces, sizeof(spec));
	for (p = strtok_r(spec, ", \t", &save); p; p = strtok_r(NULL, ", \t",
	    &save)) {
		char	 ap[300];

		if (self_nproxy == SELF_MAX)
			break;
		snprintf(ap, sizeof(ap), "%s%s%s:25", strchr(p, ':') ? "[" :
		    "", p, strchr(p, ':') ? "]" : "");
		if (sock_inet_parse(ap, &self_proxy[self_nproxy], &len, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "proxy_interfaces: '%s' is not "
			    "an IP address", p);
			return -1;
		}
		self_nproxy++;
	}
	return 0;
}

int
self_is_me(const struct sockaddr_storage *ss)
{
	size_t	 i;

	for (i = 0; i < self_nproxy; i++)
		if (self_same_addr(ss, &self_proxy[i]))
			return 1;
	for (i = 0; i < self_nlisten; i++) {
		if (self_port(&self_listen[i]) != self_port(ss))
			continue;
		if (self_any(&self_listen[i]) ? self_local(ss) :
		    self_same_addr(ss, &self_listen[i]))
			return 1;
	}
	return 0;
}

static int
self_port(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ?
	    ((const struct sockaddr_in *)ss)->sin_port :
	    ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static int
self_same_addr(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((const struct sockaddr_in6 *)b)->sin6_addr,
	    sizeof(struct in6_addr)) == 0;
}

/* A wildcard listener ("*:25", 0.0.0.0 or ::). */
static int
self_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(
	    &((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* An address of one of this host's interfaces (asked each time). */
static int
self_local(const struct sockaddr_storage *ss)
{
	struct ifaddrs	*ifa, *i;
	struct sockaddr_storage a;
	int		 found = 0;

	if (getifaddrs(&ifa) == -1) {
		log_warn("getifaddrs");
		return 0;
	}
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(&a, i->ifa_addr, i->ifa_addr->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		found = self_same_addr(ss, &a);
	}
	freeifaddrs(ifa);
	return found;
}
