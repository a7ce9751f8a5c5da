/* milter: packets of the mail filter protocol, and the smtpd_milters list. */
#include <sys/socket.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "conf.h"
#include "milter.h"
#include "record.h"

static void	 milter_hdr(unsigned char *, int, size_t);
static int	 milter_put_strings(struct buf *, int, const char *, size_t,
		    va_list);
static int	 milter_parse_one(const char *, size_t, const struct milter_spec *,
		    struct milter_spec *, char *, size_t);
static int	 milter_parse_socket(struct milter_spec *, char *, size_t);
static int	 milter_set(struct milter_spec *, const char *, const char *,
		    char *, size_t);

static void
milter_hdr(unsigned char *h, int cmd, size_t len)
{
	uint32_t	 n = (uint32_t)len + 1;

	h[0] = (unsigned char)(n >> 24);
	h[1] = (unsigned char)(n >> 16);
	h[2] = (unsigned char)(n >> 8);
	h[3] = (unsigned char)n;
	h[4] = (unsigned char)cmd;
}

int
milter_put(struct buf *b, int cmd, const void *p, size_t len)
{
	unsigned char	 h[5];

	if (len >= MILTER_REPLY_MAX)
		return -1;
	milter_hdr(h, cmd, len);
	if (buf_append(b, h, sizeof(h)) == -1 ||
	    (len > 0 && buf_append(b, p, len) == -1))
		return -1;
	return 0;
}

/* A packet of prefix (its bytes as they are), then strings with NULs. */
static int
milter_put_strings(struct buf *b, int cmd, const char *prefix, size_t plen,
    va_list ap)
{
	const char	*s;
	struct buf	 d;
	int		 rc = 0;

	buf_init(&d, 0);
	if (plen > 0 && buf_append(&d, prefix, plen) == -1)
		rc = -1;
	while ((s = va_arg(ap, const char *)) != NULL)
		if (buf_append(&d, s, strlen(s) + 1) == -1)
			rc = -1;
	if (rc == 0)
		rc = milter_put(b, cmd, d.data, d.len);
	buf_free(&d);
	return rc;
}

int
milter_putf(struct buf *b, int cmd, ...)
{
	va_list		 ap;
	int		 rc;

	va_start(ap, cmd);
	rc = milter_put_strings(b, cmd, NULL, 0, ap);
	va_end(ap);
	return rc;
}

int
milter_put_optneg(struct buf *b, uint32_t version, uint32_t actions,
    uint32_t protocol)
{
	unsigned char	 d[12];
	uint32_t	 v[3] = { version, actions, protocol };
	int		 i;

	for (i = 0; i < 3; i++) {
		d[i * 4] = (unsigned char)(v[i] >> 24);
		d[i * 4 + 1] = (unsigned char)(v[i] >> 16);
		d[i * 4 + 2] = (unsigned char)(v[i] >> 8);
		d[i * 4 + 3] = (unsigned char)v[i];
	}
	return milter_put(b, MILTER_C_OPTNEG, d, sizeof(d));
}

int
milter_put_macros(struct buf *b, int cmd, ...)
{
	va_list		 ap;
	char		 c = (char)cmd;
	int		 rc;

	va_start(ap, cmd);
	rc = milter_put_strings(b, MILTER_C_MACRO, &c, 1, ap);
	va_end(ap);
	return rc;
}

int
milter_put_connect(struct buf *b, const char *host, int family, uint16_t port,
    const char *addr)
{
	struct buf	 d;
	unsigned char	 p[2] = { (unsigned char)(port >> 8),
			    (unsigned char)port };
	char		 f = (char)family;
	int		 rc = 0;

	buf_init(&d, 0);
	if (buf_append(&d, host, strlen(host) + 1) == -1 ||
	    buf_append(&d, &f, 1) == -1)
		rc = -1;
	/* An unknown family has neither port nor address. */
	if (rc == 0 && family != 'U' && (buf_append(&d, p, 2) == -1 ||
	    buf_append(&d, addr, strlen(addr) + 1) == -1))
		rc = -1;
	if (rc == 0)
		rc = milter_put(b, MILTER_C_CONNECT, d.data, d.len);
	buf_free(&d);
	return rc;
}

int
milter_peek(const struct buf *b, struct milter_reply *r, size_t *total)
{
	const unsigned char *p = (const unsigned char *)b->data;
	uint32_t	 n;

	if (b->len < 5)
		return 0;
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	if (n == 0 || n > MILTER_REPLY_MAX)
		return -1;
	if (b->len - 4 < n)
		return 0;
	r->cmd = p[4];
	r->data = b->data + 5;
	r->len = n - 1;
	*total = 4 + (size_t)n;
	return 1;
}

int
milter_parse_optneg(const struct milter_reply *r, uint32_t *version,
    uint32_t *actions, uint32_t *protocol)
{
	const unsigned char *d = (const unsigned char *)r->data;
	uint32_t	*v[3] = { version, actions, protocol };
	int		 i;

	/* Version 6 filters may add the macros they want after these. */
	if (r->cmd != MILTER_C_OPTNEG || r->len < 12)
		return -1;
	for (i = 0; i < 3; i++)
		*v[i] = (uint32_t)d[i * 4] << 24 | (uint32_t)d[i * 4 + 1] << 16 |
		    (uint32_t)d[i * 4 + 2] << 8 | d[i * 4 + 3];
	return 0;
}

int
milter_parse_strings(const struct milter_reply *r, const char **f, int nf)
{
	struct record	 rec = { r->cmd, r->data, r->len };

	return record_fields(&rec, f, nf);
}

/*
 * "550 5.7.1 text", or several lines "550-5.7.1 a\r\n550 5.7.1 b": the
 * code must be 4xx or 5xx, the same on every line, and no line may hold
 * a bare CR or LF, which would let a filter inject SMTP replies.
 */
int
milter_parse_replycode(const struct milter_reply *r, const char **text)
{
	const char	*f[1], *p, *line;
	size_t		 n;

	if (milter_parse_strings(r, f, 1) == -1)
		return -1;
	p = f[0];
	if (strlen(p) < 3 || (p[0] != '4' && p[0] != '5') ||
	    !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
		return -1;
	for (line = p;;) {
		n = strcspn(line, "\r\n");
		if (n < 3 || strncmp(line, p, 3) != 0 ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\0'))
			return -1;
		if (line[n] == '\0')
			break;
		if (line[n] != '\r' || line[n + 1] != '\n' || line[3] != '-')
			return -1;
		line += n + 2;
	}
	if (line[3] == '-')
		return -1;	/* the last line is not a continuation */
	*text = p;
	return 0;
}

int
milter_parse_header(const struct milter_reply *r, uint32_t *index,
    const char **name, const char **value)
{
	struct milter_reply rest = *r;
	const unsigned char *d = (const unsigned char *)r->data;
	const char	*f[2];

	*index = 0;
	if (r->cmd == MILTER_R_INSHEADER || r->cmd == MILTER_R_CHGHEADER) {
		if (r->len < 4)
			return -1;
		*index = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
		    (uint32_t)d[2] << 8 | d[3];
		rest.data += 4;
		rest.len -= 4;
	}
	if (milter_parse_strings(&rest, f, 2) == -1 || f[0][0] == '\0' ||
	    strpbrk(f[0], ": \t\r\n") != NULL)
		return -1;
	*name = f[0];
	*value = f[1];
	return 0;
}

int
milter_parse_default_action(const char *s)
{
	if (strcmp(s, "tempfail") == 0)
		return MILTER_DEFAULT_TEMPFAIL;
	if (strcmp(s, "accept") == 0)
		return MILTER_DEFAULT_ACCEPT;
	if (strcmp(s, "reject") == 0)
		return MILTER_DEFAULT_REJECT;
	return -1;
}

int
milter_parse_list(const char *list, const struct milter_spec *def,
    struct milter_spec *out, int max, char *err, size_t errlen)
{
	const char	*p = list, *end;
	int		 n = 0;

	for (;;) {
		p += strspn(p, ", \t\n");
		if (*p == '\0')
			return n;
		if (n == max) {
			snprintf(err, errlen, "more than %d milters", max);
			return -1;
		}
		if (*p == '{') {
			if ((end = strchr(p, '}')) == NULL) {
				snprintf(err, errlen, "'{' without '}'");
				return -1;
			}
			if (milter_parse_one(p + 1, (size_t)(end - p - 1), def,
			    &out[n], err, errlen) == -1)
				return -1;
			p = end + 1;
		} else {
			end = p + strcspn(p, ", \t\n");
			if (milter_parse_one(p, (size_t)(end - p), def, &out[n],
			    err, errlen) == -1)
				return -1;
			p = end;
		}
		n++;
	}
}

/* "socket" or "socket, name = value, ..." (the inside of the braces). */
static int
milter_parse_one(const char *p, size_t len, const struct milter_spec *def,
    struct milter_spec *m, char *err, size_t errlen)
{
	char	 item[512], *s, *next, *eq, *k, *v;
	int	 first = 1;

	if (len >= sizeof(item)) {
		snprintf(err, errlen, "milter entry too long");
		return -1;
	}
	memcpy(item, p, len);
	item[len] = '\0';
	*m = *def;
	for (s = item; s != NULL; s = next, first = 0) {
		if ((next = strchr(s, ',')) != NULL)
			*next++ = '\0';
		s += strspn(s, " \t\n");
		k = s + strlen(s);
		while (k > s && strchr(" \t\n", k[-1]) != NULL)
			*--k = '\0';
		if (first) {
			if (strlcpy(m->socket, s, sizeof(m->socket)) >=
			    sizeof(m->socket) ||
			    milter_parse_socket(m, err, errlen) == -1)
				return -1;
			continue;
		}
		if (*s == '\0')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, errlen, "%s: expected name = value, "
			    "not \"%s\"", m->socket, s);
			return -1;
		}
		*eq = '\0';
		k = s;
		v = eq + 1;
		for (eq = k + strlen(k); eq > k && (eq[-1] == ' ' ||
		    eq[-1] == '\t'); )
			*--eq = '\0';
		v += strspn(v, " \t");
		if (milter_set(m, k, v, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* inet:host:port, inet:[v6addr]:port, inet6:..., unix:/path, local:/path */
static int
milter_parse_socket(struct milter_spec *m, char *err, size_t errlen)
{
	const char	*s = m->socket, *colon;
	size_t		 hl;

	if (strncmp(s, "unix:", 5) == 0 || strncmp(s, "local:", 6) == 0) {
		s = strchr(s, ':') + 1;
		if (s[0] != '/' || strlcpy(m->host, s, sizeof(m->host)) >=
		    sizeof(m->host) || strlen(s) >= 108) {
			snprintf(err, errlen, "%s: expected an absolute "
			    "path of at most 107 bytes", m->socket);
			return -1;
		}
		m->family = AF_UNIX;
		m->port[0] = '\0';
		return 0;
	}
	if (strncmp(s, "inet:", 5) == 0)
		s += 5;
	else if (strncmp(s, "inet6:", 6) == 0)
		s += 6;
	else {
		snprintf(err, errlen, "%s: expected inet:host:port or "
		    "unix:/path", m->socket);
		return -1;
	}
	if (*s == '[') {
		if ((colon = strstr(s, "]:")) == NULL)
			goto bad;
		hl = (size_t)(colon - s - 1);
		s++;
		colon++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(m->host) || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= sizeof(m->port) ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		goto bad;
	memcpy(m->host, s, hl);
	m->host[hl] = '\0';
	strlcpy(m->port, colon + 1, sizeof(m->port));
	m->family = AF_INET;
	return 0;
bad:
	snprintf(err, errlen, "%s: expected inet:host:port with a port "
	    "from 1 to 65535", m->socket);
	return -1;
}

static int
milter_set(struct milter_spec *m, const char *k, const char *v, char *err,
    size_t errlen)
{
	long	*t = NULL;
	int	 a;

	if (strcmp(k, "connect_timeout") == 0)
		t = &m->connect_timeout;
	else if (strcmp(k, "command_timeout") == 0)
		t = &m->command_timeout;
	else if (strcmp(k, "content_timeout") == 0)
		t = &m->content_timeout;
	else if (strcmp(k, "default_action") == 0) {
		if ((a = milter_parse_default_action(v)) == -1) {
			snprintf(err, errlen, "%s: default_action: expected "
			    "tempfail, accept or reject", m->socket);
			return -1;
		}
		m->default_action = a;
		return 0;
	} else {
		snprintf(err, errlen, "%s: unknown setting \"%s\"", m->socket,
		    k);
		return -1;
	}
	if (conf_parse_time(v, t) == -1 || *t < 1) {
		snprintf(err, errlen, "%s: %s: expected a time of at least 1s",
		    m->socket, k);
		return -1;
	}
	return 0;
}
