/*
 * proxy: the PROXY protocol header (HAProxy's, versions 1 and 2) that a
 * load balancer sends ahead of the SMTP session, naming the client it
 * took the connection from.  A service turns it on with
 * smtpd_upstream_proxy_protocol = haproxy; then every connection must
 * begin with a header, whole within smtpd_upstream_proxy_timeout, or it
 * is closed.  Nothing here trusts a length or an address it has not
 * checked: the header comes from the network.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

#define PROXY_V1_MAX	107	/* the longest version 1 line, CRLF included */
#define PROXY_V2_HDR	16
#define PROXY_V2_MAX	4096	/* addresses and TLVs: HAProxy sends < 1 KiB */

static const char proxy_v2_sig[12] = {
	'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'
};

static int	 proxy_v1(const char *, size_t, size_t *,
		    struct sockaddr_storage *, char *, size_t);
static int	 proxy_v2(const unsigned char *, size_t, size_t *,
		    struct sockaddr_storage *, char *, size_t);
static int	 proxy_port(const char *, in_port_t *);

/*
 * The header at the start of p: 1 when it is whole (*used bytes long;
 * ss is the client's address, or of family AF_UNSPEC when the proxy
 * speaks for itself: a health check), 0 when more bytes are needed, -1
 * when it is not a valid header (why says what is wrong).
 */
int
proxy_header(const char *p, size_t len, size_t *used,
    struct sockaddr_storage *ss, char *why, size_t whylen)
{
	size_t	 n;

	memset(ss, 0, sizeof(*ss));
	ss->ss_family = AF_UNSPEC;
	*used = 0;
	if (len == 0)
		return 0;
	if (p[0] == 'P') {
		n = len < 6 ? len : 6;
		if (memcmp(p, "PROXY ", n) != 0)
			goto bad;
		return len < 6 ? 0 : proxy_v1(p, len, used, ss, why, whylen);
	}
	if (p[0] == '\r') {
		n = len < sizeof(proxy_v2_sig) ? len : sizeof(proxy_v2_sig);
		if (memcmp(p, proxy_v2_sig, n) != 0)
			goto bad;
		return proxy_v2((const unsigned char *)p, len, used, ss, why,
		    whylen);
	}
bad:
	snprintf(why, whylen, "no PROXY protocol header");
	return -1;
}

/* "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN ...\r\n" */
static int
proxy_v1(const char *p, size_t len, size_t *used, struct sockaddr_storage *ss,
    char *why, size_t whylen)
{
	char		 line[PROXY_V1_MAX + 1], *f[5], *save;
	const char	*crlf;
	size_t		 n, i;
	in_port_t	 sport, dport;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct in6_addr	 dst6;
	struct in_addr	 dst4;

	n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	if ((crlf = memmem(p, n, "\r\n", 2)) == NULL) {
		if (len < PROXY_V1_MAX)
			return 0;
		snprintf(why, whylen, "PROXY v1 line longer than %d bytes",
		    PROXY_V1_MAX);
		return -1;
	}
	n = (size_t)(crlf - p);
	memcpy(line, p, n);
	line[n] = '\0';
	if (memchr(line, '\0', n) != NULL || strchr(line, '\n') != NULL ||
	    strchr(line, '\r') != NULL) {
		snprintf(why, whylen, "PROXY v1 line with control characters");
		return -1;
	}
	*used = n + 2;
	/* Protocol, addresses and ports, one space apart, nothing more. */
	save = line + 6;
	for (i = 0; i < 5; i++) {
		f[i] = save;
		if (save != NULL && (save = strchr(save, ' ')) != NULL)
			*save++ = '\0';
	}
	if (strcmp(f[0], "UNKNOWN") == 0)
		return 1;	/* the proxy's own connection */
	if (f[4] == NULL || save != NULL ||
	    proxy_port(f[3], &sport) == -1 || proxy_port(f[4], &dport) == -1)
		goto bad;
	if (strcmp(f[0], "TCP4") == 0) {
		if (inet_pton(AF_INET, f[1], &sin->sin_addr) != 1 ||
		    inet_pton(AF_INET, f[2], &dst4) != 1)
			goto bad;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(sport);
		return 1;
	}
	if (strcmp(f[0], "TCP6") == 0) {
		if (inet_pton(AF_INET6, f[1], &sin6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, f[2], &dst6) != 1)
			goto bad;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(sport);
		return 1;
	}
bad:
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = AF_UNSPEC;
	snprintf(why, whylen, "malformed PROXY v1 line");
	return -1;
}

/* Decimal, no sign, no leading zero, at most 65535. */
static int
proxy_port(const char *s, in_port_t *port)
{
	unsigned long	 v = 0;
	size_t		 i, n;

	if (s == NULL || (n = strlen(s)) == 0 || n > 5 ||
	    (s[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (in_port_t)v;
	return 0;
}

/* The binary header: signature, version and command, family, length. */
static int
proxy_v2(const unsigned char *p, size_t len, size_t *used,
    struct sockaddr_storage *ss, char *why, size_t whylen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	size_t		 body;
	unsigned	 cmd, fam, proto;

	if (len < PROXY_V2_HDR)
		return 0;
	if ((p[12] >> 4) != 2) {
		snprintf(why, whylen, "PROXY v2 header of version %u",
		    p[12] >> 4);
		return -1;
	}
	cmd = p[12] & 0x0f;
	fam = p[13] >> 4;
	proto = p[13] & 0x0f;
	body = (size_t)p[14] << 8 | p[15];
	if (cmd > 1 || body > PROXY_V2_MAX) {
		snprintf(why, whylen, "PROXY v2 header with command %u and "
		    "length %zu", cmd, body);
		return -1;
	}
	if (len < PROXY_V2_HDR + body)
		return 0;
	*used = PROXY_V2_HDR + body;
	/* LOCAL, and families other than TCP over IP: the proxy's own. */
	if (cmd == 0 || proto != 1 || (fam != 1 && fam != 2))
		return 1;
	if (fam == 1) {
		if (body < 12)
			goto short_body;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, p + PROXY_V2_HDR, 4);
		memcpy(&sin->sin_port, p + PROXY_V2_HDR + 8, 2);
		return 1;
	}
	if (body < 36)
		goto short_body;
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, p + PROXY_V2_HDR, 16);
	memcpy(&sin6->sin6_port, p + PROXY_V2_HDR + 32, 2);
	return 1;
short_body:
	snprintf(why, whylen, "PROXY v2 header too short for its addresses");
	return -1;
}
