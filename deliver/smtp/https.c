/*
 * https: the one HTTPS request the relay client makes, for an MTA-STS
 * policy (RFC 8461 3.3): GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt
 * over TLS whose certificate must chain to a trusted CA and name that
 * host, HTTP/1.0 so that no chunked answer comes back, no redirect
 * followed, 200 and text/plain only, within smtp_mta_sts_timeout as a
 * whole and smtp_mta_sts_max_size bytes of body.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <bsd/string.h>

#include "log.h"
#include "smtp.h"

#define HTTPS_HEAD_MAX	8192	/* status line and header fields */

/* The value of header field name in head (NUL-terminated), or NULL. */
static const char *
https_field(const char *head, const char *name, char *out, size_t len)
{
	const char	*p = head, *nl, *v;
	size_t		 n = strlen(name), vl;

	while ((nl = strstr(p, "\r\n")) != NULL && nl != p) {
		if ((size_t)(nl - p) > n && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
			for (v = p + n + 1; v < nl && (*v == ' ' || *v == '\t');
			    v++)
				;
			vl = (size_t)(nl - v);
			snprintf(out, len, "%.*s", (int)vl, v);
			return out;
		}
		p = nl + 2;
	}
	return NULL;
}

int
https_get(const struct conf *cf, SSL_CTX *ctx, const char *host,
    const char *path, struct buf *body, char *why, size_t whylen,
    int *webpki)
{
	struct smtp_host h;
	struct smtp_conn c;
	char		*head, val[256], *end;
	size_t		 k, hl = 0, limit;
	ssize_t		 n;
	long		 clen = -1;
	time_t		 deadline = time(NULL) + cf->smtp_mta_sts_timeout;
	int		 status, ok = -1;

	*webpki = 0;
	buf_reset(body);
	memset(&h, 0, sizeof(h));
	strlcpy(h.name, host, sizeof(h.name));
	if (dns_host(cf, host, (int)cf->smtp_mta_sts_https_port, &h, why,
	    whylen) == -1)
		return -1;
	for (k = 0; k < h.naddr; k++) {
		if (conn_open(&c, &h.addr[k], host,
		    (int)cf->smtp_mta_sts_https_port,
		    cf->smtp_mta_sts_timeout, why, whylen) == 0)
			break;
	}
	if (k == h.naddr)
		return -1;
	if (conn_starttls(&c, ctx, host, 1, NULL, why, whylen) == -1) {
		*webpki = c.ssl != NULL;	/* handshake made, not trusted */
		conn_close(&c);
		return -1;
	}
	if (conn_printf(&c, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: "
	    "posthorn\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
	    path, host) == -1) {
		snprintf(why, whylen, "HTTPS request to %s: write failed",
		    host);
		conn_close(&c);
		return -1;
	}
	limit = (size_t)cf->smtp_mta_sts_max_size + HTTPS_HEAD_MAX;
	for (;;) {
		if (time(NULL) > deadline) {
			snprintf(why, whylen, "HTTPS fetch from %s: timed out",
			    host);
			goto out;
		}
		if (buf_reserve(body, 4097) == -1) {
			snprintf(why, whylen, "out of memory");
			goto out;
		}
		if ((n = conn_read(&c, body->data + body->len, 4096)) == 0)
			break;
		if (n < 0) {
			/* An unclean end is an end only with Content-Length. */
			if (clen >= 0)
				break;
			snprintf(why, whylen, "HTTPS fetch from %s: connection "
			    "lost", host);
			goto out;
		}
		body->len += (size_t)n;
		body->data[body->len] = '\0';
		if (body->len > limit) {
			snprintf(why, whylen, "HTTPS fetch from %s: the policy "
			    "is larger than %ld bytes", host,
			    cf->smtp_mta_sts_max_size);
			goto out;
		}
		/* -1: no head yet; -2: a head without Content-Length. */
		if (clen == -1 && (end = strstr(body->data, "\r\n\r\n")) !=
		    NULL) {
			hl = (size_t)(end - body->data) + 4;
			clen = https_field(body->data, "Content-Length", val,
			    sizeof(val)) ? strtol(val, NULL, 10) : -2;
			if (clen < -2)
				clen = -2;
		}
		if (clen >= 0 && body->len >= hl + (size_t)clen)
			break;
	}
	if (buf_reserve(body, 1) == -1) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	body->data[body->len] = '\0';
	if ((end = strstr(body->data, "\r\n\r\n")) == NULL ||
	    (size_t)(end - body->data) > HTTPS_HEAD_MAX) {
		snprintf(why, whylen, "HTTPS fetch from %s: no HTTP header",
		    host);
		goto out;
	}
	end[2] = '\0';	/* the head ends with its last CRLF */
	head = body->data;
	if (strncmp(head, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)
	    head[7]) || head[8] != ' ' || (status = atoi(head + 9)) < 100) {
		snprintf(why, whylen, "HTTPS fetch from %s: not an HTTP answer",
		    host);
		goto out;
	}
	/* RFC 8461 3.3: no redirect is followed; only 200 is a policy. */
	if (status != 200) {
		snprintf(why, whylen, "HTTPS fetch from %s: HTTP status %d",
		    host, status);
		goto out;
	}
	if (https_field(head, "Transfer-Encoding", val, sizeof(val))) {
		snprintf(why, whylen, "HTTPS fetch from %s: Transfer-Encoding "
		    "%s in an HTTP/1.0 answer", host, val);
		goto out;
	}
	if (https_field(head, "Content-Type", val, sizeof(val)) == NULL ||
	    strncasecmp(val, "text/plain", 10) != 0 || (val[10] != '\0' &&
	    val[10] != ';' && val[10] != ' ')) {
		snprintf(why, whylen, "HTTPS fetch from %s: Content-Type is "
		    "not text/plain", host);
		goto out;
	}
	hl = (size_t)(end - body->data) + 4;
	if (clen >= 0 && body->len - hl < (size_t)clen) {
		snprintf(why, whylen, "HTTPS fetch from %s: the body is "
		    "shorter than its Content-Length", host);
		goto out;
	}
	if (clen >= 0)
		body->len = hl + (size_t)clen;
	if (body->len - hl > (size_t)cf->smtp_mta_sts_max_size) {
		snprintf(why, whylen, "HTTPS fetch from %s: the policy is larger "
		    "than %ld bytes", host, cf->smtp_mta_sts_max_size);
		goto out;
	}
	buf_consume(body, hl);
	if (buf_reserve(body, 1) == -1) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	body->data[body->len] = '\0';
	ok = 0;
out:
	conn_close(&c);
	return ok;
}
