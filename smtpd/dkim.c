/*
 * dkim: DKIM signatures (RFC 6376, relaxed/relaxed) for mail from trusted
 * and authenticated clients whose From: domain has a key in
 * dkim_signing_keys.  smtpd sees the message as it streams to qmgr: it
 * hashes the body and keeps the header fields; at the end it sends the
 * canonical fields and the body hash to keyd, which holds the key and
 * returns the DKIM-Signature field, inserted first through qmgr's
 * CHANGE record.  smtpd never holds a key.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <bsd/string.h>
#include <openssl/evp.h>

#include "dkimkeys.h"
#include "log.h"
#include "proto.h"
#include "smtpd.h"
#include "tls.h"

#define DKIM_HDR_MAX	(256 * 1024)	/* header section kept at most */

struct dkim_state {
	int		 in_hdr;
	int		 off;		/* too big, or nothing to sign */
	struct buf	 field;		/* the field being read */
	struct buf	 hdrs;		/* whole fields, each ending in LF, NUL */
	EVP_MD_CTX	*bh;
	unsigned char	 out[4096];	/* canonical body bytes not hashed */
	size_t		 nout;
	int		 hsimple;	/* c=simple/... */
	int		 bsimple;	/* c=.../simple */
	int		 any;		/* body bytes hashed at all */
	int		 sp;		/* blanks seen since the last text */
	int		 text;		/* the line has text */
	long		 empty;		/* empty lines not yet written */
};

static void	 dkim_field_end(struct dkim_state *);
static void	 dkim_emit(struct dkim_state *, const char *, size_t);
static void	 dkim_body(struct dkim_state *, const char *, size_t);
static int	 dkim_from_domain(const struct dkim_state *, char *, size_t);
static const char *dkim_last_field(const struct dkim_state *, const char *);
static void	 dkim_canon_field(struct buf *, const char *, int);
static int	 dkim_have_key(const struct smtpd *, const char *);

/* A new message: sign it if the client may have its mail signed. */
void
dkim_begin(struct session *s)
{
	struct dkim_state *d;

	dkim_end(s);
	if (s->sd->dkim_domains.len == 0 ||
	    (!s->trusted && s->auth_user[0] == '\0') ||
	    s->mparams.body == BODY_BINARYMIME)
		return;
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->bh = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(d->bh, EVP_sha256(), NULL) != 1)
		log_fatal("dkim: out of memory");
	d->in_hdr = 1;
	d->hsimple = strncmp(s->sd->conf->dkim_canonicalization, "simple/",
	    7) == 0;
	d->bsimple = strcmp(strchr(s->sd->conf->dkim_canonicalization, '/') +
	    1, "simple") == 0;
	buf_init(&d->field, 0);
	buf_init(&d->hdrs, 0);
	s->dkim = d;
}

void
dkim_end(struct session *s)
{
	struct dkim_state *d = s->dkim;

	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->bh);
	buf_free(&d->field);
	buf_free(&d->hdrs);
	free(d);
	s->dkim = NULL;
}

/* Message content as queued (LF line ends). */
void
dkim_content(struct session *s, const char *p, size_t len)
{
	struct dkim_state *d = s->dkim;
	const char	*nl;
	size_t		 n;

	if (d == NULL || d->off)
		return;
	while (len > 0 && d->in_hdr) {
		nl = memchr(p, '\n', len);
		n = nl ? (size_t)(nl - p) + 1 : len;
		if (d->field.len > 0 && d->field.data[d->field.len - 1] ==
		    '\n' && p[0] != ' ' && p[0] != '\t')
			dkim_field_end(d);
		if (d->field.len == 0 && p[0] == '\n') {
			d->in_hdr = 0;	/* the empty line is not body */
			p++;
			len--;
			break;
		}
		buf_append(&d->field, p, n);
		p += n;
		len -= n;
		if (d->hdrs.len + d->field.len > DKIM_HDR_MAX) {
			d->off = 1;
			return;
		}
	}
	if (len > 0)
		dkim_body(d, p, len);
}

static void
dkim_field_end(struct dkim_state *d)
{
	buf_append(&d->hdrs, d->field.data, d->field.len);
	buf_appendc(&d->hdrs, '\0');
	buf_reset(&d->field);
}

static void
dkim_emit(struct dkim_state *d, const char *p, size_t n)
{
	if (d->nout + n > sizeof(d->out)) {
		EVP_DigestUpdate(d->bh, d->out, d->nout);
		d->nout = 0;
	}
	memcpy(d->out + d->nout, p, n);
	d->nout += n;
	d->any = 1;
}

/*
 * Relaxed body (RFC 6376 3.4.4): blanks as one space, none at line ends,
 * no empty lines at the end.  Simple (3.4.3): the lines as they are, no
 * empty lines at the end.
 */
static void
dkim_body(struct dkim_state *d, const char *p, size_t len)
{
	for (; d->bsimple && len > 0; p++, len--) {
		if (*p == '\n') {
			if (d->text)
				dkim_emit(d, "\r\n", 2);
			else
				d->empty++;
			d->text = 0;
			continue;
		}
		for (; !d->text && d->empty > 0; d->empty--)
			dkim_emit(d, "\r\n", 2);
		d->text = 1;
		dkim_emit(d, p, 1);
	}
	for (; len > 0; p++, len--) {
		if (*p == '\n') {
			if (d->text)
				dkim_emit(d, "\r\n", 2);
			else
				d->empty++;
			d->text = d->sp = 0;
		} else if (*p == ' ' || *p == '\t')
			d->sp = 1;
		else {
			for (; !d->text && d->empty > 0; d->empty--)
				dkim_emit(d, "\r\n", 2);
			if (d->sp)
				dkim_emit(d, " ", 1);
			d->sp = 0;
			d->text = 1;
			dkim_emit(d, p, 1);
		}
	}
}

/*
 * At the end of the message (after the filters, which changed nothing):
 * the signature goes to qmgr as the first header field.
 */
void
dkim_finish(struct session *s)
{
	struct dkim_state *d = s->dkim;
	unsigned char	 md[32];
	char		 bh[64], domain[256], sig[2048];
	const char	*names = s->sd->conf->dkim_sign_headers, *f;
	char		*list, *name, *save = NULL, *f2;
	struct buf	 req, h;
	int		 n;

	if (d == NULL)
		return;
	if (d->off || s->mc_changed) {
		log_info("%s: not DKIM-signed: %s", s->id, d->off ?
		    "header section too big" : "a filter changed the message");
		dkim_end(s);
		return;
	}
	if (d->in_hdr && d->field.len > 0)
		dkim_field_end(d);
	if (d->text)
		dkim_emit(d, "\r\n", 2);	/* a last line without LF */
	if (d->bsimple && !d->any)
		dkim_emit(d, "\r\n", 2);	/* an empty body is one CRLF */
	EVP_DigestUpdate(d->bh, d->out, d->nout);
	EVP_DigestFinal_ex(d->bh, md, NULL);
	EVP_EncodeBlock((unsigned char *)bh, md, sizeof(md));
	if (dkim_from_domain(d, domain, sizeof(domain)) == -1 ||
	    !dkim_have_key(s->sd, domain)) {
		dkim_end(s);
		return;
	}
	/* The listed fields present, each its last instance, in order. */
	buf_init(&req, 0);
	buf_init(&h, 0);
	if ((list = strdup(names)) == NULL)
		log_fatal("dkim: out of memory");
	buf_printf(&req, "c=%s; t=%lld; h=", s->sd->conf->dkim_canonicalization,
	    (long long)time(NULL));
	n = 0;
	for (name = strtok_r(list, ", \t", &save); name != NULL;
	    name = strtok_r(NULL, ", \t", &save)) {
		if ((f = dkim_last_field(d, name)) == NULL)
			continue;
		for (f2 = name; *f2; f2++)
			*f2 = (char)tolower((unsigned char)*f2);
		buf_printf(&req, "%s%s", n++ ? ":" : "", name);
		dkim_canon_field(&h, f, d->hsimple);
	}
	free(list);
	buf_printf(&req, "; bh=%s", bh);
	buf_appendc(&req, '\0');
	buf_append(&req, h.data, h.len);
	if (n == 0 || (n = keyd_dkim(domain, req.data, req.len, sig,
	    sizeof(sig) - 1)) < 0)
		log_warnx("%s: not DKIM-signed for %s: the key server did "
		    "not sign", s->id, domain);
	else {
		sig[n] = '\0';
		qc_sendf(s, PROTO_CHANGE, "hins", "0", "DKIM-Signature", sig,
		    NULL);
		log_info("%s: DKIM-signed for %s", s->id, domain);
	}
	buf_free(&req);
	buf_free(&h);
	dkim_end(s);
}

/* The domain of the (last) address of From:, lower-cased. */
static int
dkim_from_domain(const struct dkim_state *d, char *out, size_t outlen)
{
	const char	*f, *at, *p;
	size_t		 n = 0;

	if ((f = dkim_last_field(d, "From")) == NULL ||
	    (at = strrchr(f, '@')) == NULL)
		return -1;
	for (p = at + 1; *p && (isalnum((unsigned char)*p) || *p == '.' ||
	    *p == '-') && n + 1 < outlen; p++)
		out[n++] = (char)tolower((unsigned char)*p);
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

static const char *
dkim_last_field(const struct dkim_state *d, const char *name)
{
	const char	*p = d->hdrs.data, *end = p + d->hdrs.len, *last = NULL;
	size_t		 nl = strlen(name);

	for (; p < end; p += strlen(p) + 1) {
		const char *q = p + nl;

		if (strncasecmp(p, name, nl) != 0)
			continue;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == ':')
			last = p;
	}
	return last;
}

/*
 * Relaxed header (RFC 6376 3.4.2): "name:value\r\n", blanks squeezed;
 * simple (3.4.1): the field as it is, in CRLF.
 */
static void
dkim_canon_field(struct buf *b, const char *f, int simple)
{
	const char	*colon = strchr(f, ':'), *p;
	size_t		 nl = (size_t)(colon - f), i;
	int		 sp = 0, text = 0;

	if (simple) {
		for (p = f; *p; p++) {
			if (*p == '\n')
				buf_appendc(b, '\r');
			buf_appendc(b, *p);
		}
		return;
	}
	while (nl > 0 && (f[nl - 1] == ' ' || f[nl - 1] == '\t'))
		nl--;
	for (i = 0; i < nl; i++)
		buf_appendc(b, (char)tolower((unsigned char)f[i]));
	buf_appendc(b, ':');
	for (p = colon + 1; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			sp = 1;
			continue;
		}
		if (sp && text)
			buf_appendc(b, ' ');
		sp = 0;
		text = 1;
		buf_appendc(b, *p);
	}
	buf_append(b, "\r\n", 2);
}

/* Is domain one of dkim_signing_keys'?  keyd has the keys themselves. */
static int
dkim_have_key(const struct smtpd *sd, const char *domain)
{
	const char	*p = sd->dkim_domains.data;
	const char	*end = p + sd->dkim_domains.len;

	for (; p < end; p += strlen(p) + 1)
		if (strcasecmp(p, domain) == 0)
			return 1;
	return 0;
}

static int
dkim_add_domain(const char *domain, const char *selector, const char *path,
    void *arg)
{
	struct smtpd	*sd = arg;

	(void)selector;
	(void)path;
	return buf_append(&sd->dkim_domains, domain, strlen(domain) + 1);
}

/* At start, before the chroot: the domains that have a key. */
void
dkim_init(struct smtpd *sd)
{
	char	 err[512];

	buf_init(&sd->dkim_domains, 0);
	if (dkimkeys_each(sd->conf->dkim_signing_keys, 1, dkim_add_domain, sd,
	    err, sizeof(err)) == -1)
		log_warnx("dkim_signing_keys: %s", err);
}
