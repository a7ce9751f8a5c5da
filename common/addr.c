/*
 * addr: the RFC 5321 section 4.1.2 grammar for paths, written out as a
 * recursive-descent reader.  Source routes (@a,@b:) are accepted and
 * dropped (RFC 5321 C); the limits of 4.5.3.1 are enforced.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <string.h>

#include <bsd/string.h>

#include "addr.h"

static int	 addr_atext(int c, int utf8);
static const char *addr_domain(const char *p, int utf8);
static const char *addr_literal(const char *p);
static const char *addr_dotstring(const char *p, int utf8);
static const char *addr_quoted(const char *p, int utf8);

int
addr_parse_path(const char *s, int flags, struct mailbox *mb,
    const char **rest, const char **why)
{
	const char	*p, *lstart, *lend, *dstart, *dend;
	int		 utf8 = (flags & ADDR_ALLOW_UTF8) != 0;
	size_t		 llen, dlen;

	memset(mb, 0, sizeof(*mb));
	p = s;
	while (*p == ' ')
		p++;
	if (*p != '<') {
		*why = "address must be enclosed in <>";
		return -1;
	}
	p++;
	if (*p == '>') {
		if (!(flags & ADDR_ALLOW_NULL)) {
			*why = "null address not allowed here";
			return -1;
		}
		*rest = p + 1;
		return 0;
	}
	/* A-d-l: "@dom,@dom:" */
	if (*p == '@') {
		for (;;) {
			if (*p != '@' || (p = addr_domain(p + 1, utf8)) == NULL) {
				*why = "bad source route";
				return -1;
			}
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p != ':') {
				*why = "bad source route";
				return -1;
			}
			p++;
			break;
		}
	}
	lstart = p;
	lend = *p == '"' ? addr_quoted(p, utf8) : addr_dotstring(p, utf8);
	if (lend == NULL || lend == lstart) {
		*why = "bad local part";
		return -1;
	}
	llen = (size_t)(lend - lstart);
	if (llen > ADDR_LOCAL_MAX + 2 || (lstart[0] != '"' &&
	    llen > ADDR_LOCAL_MAX)) {
		*why = "local part too long";
		return -1;
	}
	p = lend;
	dstart = dend = NULL;
	if (*p == '@') {
		dstart = p + 1;
		dend = *dstart == '[' ? addr_literal(dstart) :
		    addr_domain(dstart, utf8);
		if (dend == NULL) {
			*why = "bad domain";
			return -1;
		}
		p = dend;
	} else if (!(flags & ADDR_ALLOW_NODOMAIN) ||
	    llen != 10 || strncasecmp(lstart, "postmaster", 10) != 0) {
		*why = "address needs a domain";
		return -1;
	}
	if (*p != '>') {
		*why = "junk in address";
		return -1;
	}
	dlen = dstart ? (size_t)(dend - dstart) : 0;
	if (dlen > ADDR_DOMAIN_MAX || llen + 1 + dlen > ADDR_MAX - 2) {
		*why = "address too long";
		return -1;
	}
	memcpy(mb->local, lstart, llen);
	mb->local[llen] = '\0';
	if (dstart) {
		memcpy(mb->domain, dstart, dlen);
		mb->domain[dlen] = '\0';
	}
	memcpy(mb->addr, lstart, llen);
	if (dstart) {
		mb->addr[llen] = '@';
		memcpy(mb->addr + llen + 1, dstart, dlen);
		mb->addr[llen + 1 + dlen] = '\0';
	} else
		mb->addr[llen] = '\0';
	for (p = mb->addr; *p; p++)
		if ((unsigned char)*p >= 0x80)
			mb->utf8 = 1;
	if (mb->utf8 && !addr_utf8_valid(mb->addr)) {
		*why = "invalid UTF-8";
		return -1;
	}
	*rest = dend ? dend + 1 : lend + 1;
	return 0;
}

void
addr_unquote_local(const char *local, char *out, size_t outlen)
{
	size_t	 o = 0;
	const char *p;

	if (outlen == 0)
		return;
	if (local[0] != '"') {
		strlcpy(out, local, outlen);
		return;
	}
	for (p = local + 1; *p && *p != '"' && o + 1 < outlen; p++) {
		if (*p == '\\' && p[1])
			p++;
		out[o++] = *p;
	}
	out[o] = '\0';
}

static int
addr_atext(int c, int utf8)
{
	if (c >= 0x80)
		return utf8;
	return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static const char *
addr_dotstring(const char *p, int utf8)
{
	for (;;) {
		if (!addr_atext((unsigned char)*p, utf8))
			return NULL;
		while (addr_atext((unsigned char)*p, utf8))
			p++;
		if (*p != '.')
			return p;
		p++;
	}
}

static const char *
addr_quoted(const char *p, int utf8)
{
	unsigned char	 c;

	p++;
	for (;;) {
		c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c == '\\') {
			c = (unsigned char)p[1];
			if (c < 32 || c > 126)
				return NULL;
			p += 2;
		} else if ((c >= 32 && c <= 126) || (c >= 0x80 && utf8)) {
			p++;
		} else
			return NULL;
	}
}

/* sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] */
static const char *
addr_domain(const char *p, int utf8)
{
	const char	*start;

	for (;;) {
		start = p;
		while (isalnum((unsigned char)*p) || *p == '-' ||
		    ((unsigned char)*p >= 0x80 && utf8))
			p++;
		if (p == start || *start == '-' || p[-1] == '-' ||
		    p - start > 63)
			return NULL;
		if (*p != '.')
			return p;
		p++;
	}
}

static const char *
addr_literal(const char *p)
{
	const char	*end;
	char		 lit[ADDR_DOMAIN_MAX + 1];
	unsigned char	 bin[16];
	size_t		 n;

	if ((end = strchr(p, ']')) == NULL)
		return NULL;
	n = (size_t)(end - p - 1);
	if (n == 0 || n >= sizeof(lit))
		return NULL;
	memcpy(lit, p + 1, n);
	lit[n] = '\0';
	if (strncasecmp(lit, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, lit + 5, bin) != 1)
			return NULL;
	} else if (inet_pton(AF_INET, lit, bin) != 1)
		return NULL;
	return end + 1;
}

/* Well-formed UTF-8 (RFC 3629): no overlongs, surrogates or > U+10FFFF. */
int
addr_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned int	 cp;
	int		 n, i;

	while (*p) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			n = 1;
			cp = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			n = 2;
			cp = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 3;
			cp = *p & 0x07;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		p += n + 1;
	}
	return 1;
}
