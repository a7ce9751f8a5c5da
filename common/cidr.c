/* cidr: parse and match address/prefix lists. */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/stdlib.h>

#include "cidr.h"

static int	 cidr_parse(const char *, size_t, struct cidr *);

int
cidr_parse_list(const char *s, struct cidr_list *l, char *err, size_t errlen)
{
	struct cidr	 c, *n;
	size_t		 len;

	memset(l, 0, sizeof(*l));
	while (*s) {
		s += strspn(s, ", \t");
		if ((len = strcspn(s, ", \t")) == 0)
			break;
		if (cidr_parse(s, len, &c) == -1) {
			snprintf(err, errlen, "'%.*s' is not an address or "
			    "address/prefix", (int)len, s);
			cidr_free(l);
			return -1;
		}
		if ((n = reallocarray(l->nets, l->n + 1, sizeof(*n))) == NULL) {
			snprintf(err, errlen, "out of memory");
			cidr_free(l);
			return -1;
		}
		l->nets = n;
		l->nets[l->n++] = c;
		s += len;
	}
	return 0;
}

void
cidr_free(struct cidr_list *l)
{
	free(l->nets);
	memset(l, 0, sizeof(*l));
}

int
cidr_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	const unsigned char *a;
	unsigned char	 mapped[4];
	int		 family, full, rest;
	size_t		 i;

	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		family = AF_INET6;
		a = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			/* ::ffff:a.b.c.d matches IPv4 entries. */
			memcpy(mapped, a6->s6_addr + 12, 4);
			a = mapped;
			family = AF_INET;
		}
	} else
		return 0;
	for (i = 0; i < l->n; i++) {
		if (l->nets[i].family != family)
			continue;
		full = l->nets[i].bits / 8;
		rest = l->nets[i].bits % 8;
		if (memcmp(a, l->nets[i].addr, (size_t)full) != 0)
			continue;
		if (rest && ((a[full] ^ l->nets[i].addr[full]) &
		    (0xff << (8 - rest))) != 0)
			continue;
		return 1;
	}
	return 0;
}

static int
cidr_parse(const char *s, size_t len, struct cidr *c)
{
	char	 buf[80], *slash, *end, *host;
	long	 bits;
	int	 max, i;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(c, 0, sizeof(*c));
	host = buf;
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (host[0] == '[') {
		size_t hl = strlen(host);

		if (hl < 3 || host[hl - 1] != ']')
			return -1;
		host[hl - 1] = '\0';
		host++;
	}
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else
		return -1;
	bits = max;
	if (slash) {
		bits = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || bits < 0 || bits > max)
			return -1;
	}
	c->bits = (int)bits;
	/* Clear host bits, so 10.1.2.3/8 means 10.0.0.0/8. */
	for (i = c->bits; i < max; i++)
		c->addr[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
	return 0;
}
