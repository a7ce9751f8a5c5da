/*
 * dkim: keyd's half of DKIM signing (RFC 6376; Ed25519 as RFC 8463).
 * The keys of dkim_signing_keys ("domain:selector:/path/key.pem", RSA or
 * Ed25519) are read at start, like the TLS keys, and never leave this
 * process.  smtpd hashes the body and canonicalises the header fields
 * to sign; keyd completes the DKIM-Signature field, which is signed
 * too, and signs.  What smtpd may choose is checked: the tags it sends
 * are plain text of a fixed shape, and the signature always names the
 * key's own domain and selector.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "buf.h"
#include "conf.h"
#include "dkimkeys.h"
#include "keyd.h"
#include "log.h"

struct dkim_key {
	char		 domain[256];
	char		 selector[64];
	EVP_PKEY	*pk;
	int		 ed25519;
};

static struct dkim_key	*keys;
static size_t		 nkeys;

static void	 dkim_relaxed_value(struct buf *, const char *);
static int	 dkim_tags_ok(const char *);

/* One entry of dkim_signing_keys: its key, read now (as root). */
static int
dkim_load_one(const char *domain, const char *selector, const char *path,
    void *arg)
{
	FILE		*fp;
	EVP_PKEY	*pk;
	struct dkim_key	*k;
	char		*p;

	(void)arg;
	if ((fp = fopen(path, "r")) == NULL) {
		log_warn("keyd: DKIM key %s", path);
		return 0;
	}
	pk = PEM_read_PrivateKey(fp, NULL, NULL, (void *)"");
	fclose(fp);
	if (pk == NULL || (EVP_PKEY_base_id(pk) != EVP_PKEY_RSA &&
	    EVP_PKEY_base_id(pk) != EVP_PKEY_ED25519)) {
		log_warnx("keyd: DKIM key %s: not an RSA or Ed25519 private "
		    "key", path);
		EVP_PKEY_free(pk);
		ERR_clear_error();
		return 0;
	}
	if ((k = reallocarray(keys, nkeys + 1, sizeof(*keys))) == NULL)
		log_fatal("keyd");
	keys = k;
	k = &keys[nkeys++];
	memset(k, 0, sizeof(*k));
	strlcpy(k->domain, domain, sizeof(k->domain));
	strlcpy(k->selector, selector, sizeof(k->selector));
	for (p = k->domain; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	k->pk = pk;
	k->ed25519 = EVP_PKEY_base_id(pk) == EVP_PKEY_ED25519;
	log_info("keyd: DKIM key for %s, selector %s (%s)", k->domain,
	    k->selector, k->ed25519 ? "ed25519-sha256" : "rsa-sha256");
	return 0;
}

/* The keys of dkim_signing_keys; one that cannot be read is logged. */
size_t
dkim_load(const struct conf *c)
{
	char	 err[512];

	if (dkimkeys_each(c->dkim_signing_keys, 1, dkim_load_one, NULL, err,
	    sizeof(err)) == -1)
		log_warnx("keyd: dkim_signing_keys: %s", err);
	return nkeys;
}

/* t=, h= and bh= only: digits, header names, base64; nothing else. */
static int
dkim_tags_ok(const char *t)
{
	for (; *t; t++)
		if (!isalnum((unsigned char)*t) && strchr("=;: +/-_", *t) ==
		    NULL)
			return 0;
	return 1;
}

/* RFC 6376 3.4.2 for a value: runs of blanks as one space, no ends. */
static void
dkim_relaxed_value(struct buf *b, const char *v)
{
	int	 sp = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
			sp = 1;
			continue;
		}
		if (sp)
			buf_appendc(b, ' ');
		sp = 0;
		buf_appendc(b, *v);
	}
}

/*
 * in: the tags NUL, then the canonical header fields to sign.  out: the
 * whole DKIM-Signature value.  0, or -1 with why set.
 */
int
dkim_sign(const char *domain, const unsigned char *in, size_t inlen,
    struct buf *out, const char **why)
{
	struct dkim_key	*k = NULL;
	struct buf	 data, value;
	const char	*tags = (const char *)in;
	const unsigned char *nul;
	unsigned char	 md[32], sig[1024];
	char		 b64[2048];
	size_t		 i, siglen = sizeof(sig);
	EVP_MD_CTX	*ctx = NULL;
	int		 rc = -1, simple;

	for (i = 0; i < nkeys; i++)
		if (strcasecmp(keys[i].domain, domain) == 0)
			k = &keys[i];
	if (k == NULL) {
		*why = "no DKIM key for this domain";
		return -1;
	}
	if ((nul = memchr(in, '\0', inlen)) == NULL || !dkim_tags_ok(tags) ||
	    strlen(tags) > 1024) {
		*why = "malformed DKIM request";
		return -1;
	}
	buf_init(&value, 0);
	buf_init(&data, 0);
	/* c= comes first: its header half says how this field is signed. */
	if (strncmp(tags, "c=relaxed/", 10) == 0)
		simple = 0;
	else if (strncmp(tags, "c=simple/", 9) == 0)
		simple = 1;
	else {
		*why = "malformed DKIM request";
		return -1;
	}
	buf_printf(&value, "v=1; a=%s; d=%s; s=%s; %s; b=",
	    k->ed25519 ? "ed25519-sha256" : "rsa-sha256", k->domain,
	    k->selector, tags);
	/*
	 * The fields, then this one with an empty b= and no CRLF, as qmgr
	 * writes it ("DKIM-Signature: value").
	 */
	buf_append(&data, nul + 1, inlen - (size_t)(nul + 1 - in));
	if (simple)
		buf_printf(&data, "DKIM-Signature: %s", buf_cstr(&value));
	else {
		buf_appends(&data, "dkim-signature:");
		dkim_relaxed_value(&data, buf_cstr(&value));
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto done;
	if (k->ed25519) {
		/* RFC 8463: Ed25519 over the SHA-256 of the data. */
		if (EVP_Digest(data.data, data.len, md, NULL, EVP_sha256(),
		    NULL) != 1 ||
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pk) != 1 ||
		    EVP_DigestSign(ctx, sig, &siglen, md, sizeof(md)) != 1)
			goto done;
	} else if (EVP_PKEY_get_size(k->pk) > (int)sizeof(sig) ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pk) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)data.data,
	    data.len) != 1)
		goto done;
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
	buf_appends(&value, b64);
	buf_append(out, value.data, value.len);
	rc = 0;
done:
	if (rc == -1) {
		log_warnx("keyd: DKIM signature for %s failed: %s", domain,
		    ERR_error_string(ERR_get_error(), NULL));
		*why = "signing failed";
	}
	EVP_MD_CTX_free(ctx);
	buf_free(&value);
	buf_free(&data);
	OPENSSL_cleanse(sig, sizeof(sig));
	return rc;
}
