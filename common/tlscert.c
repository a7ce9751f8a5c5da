/* tlscert: certificate/key pairs from the configuration, and key ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "tlscert.h"

static int	 tls_pair_add(struct tls_pair *, size_t *, const char *,
		    size_t, const char *, size_t, char *, size_t);

int
tls_pairs(const struct conf *c, struct tls_pair *p, size_t *n, char *err,
    size_t errlen)
{
	const char	*s = c->smtpd_tls_sni_certs, *item, *cert, *key;
	size_t		 ilen, clen, klen;

	*n = 0;
	if (c->smtpd_tls_cert_file[0] == '\0')
		return 0;
	key = c->smtpd_tls_key_file[0] ? c->smtpd_tls_key_file :
	    c->smtpd_tls_cert_file;
	if (tls_pair_add(p, n, c->smtpd_tls_cert_file,
	    strlen(c->smtpd_tls_cert_file), key, strlen(key), err, errlen) == -1)
		return -1;
	/* "cert [key], cert [key]": a missing key means both in one file. */
	while (*s) {
		s += strspn(s, ", \t");
		if ((ilen = strcspn(s, ",")) == 0)
			break;
		item = s;
		s += ilen;
		cert = item;
		clen = strcspn(cert, " \t,");
		key = cert + clen;
		key += strspn(key, " \t");
		klen = (size_t)(item + ilen - key);
		while (klen > 0 && (key[klen - 1] == ' ' ||
		    key[klen - 1] == '\t'))
			klen--;
		if (klen == 0) {
			key = cert;
			klen = clen;
		} else if (memchr(key, ' ', klen) || memchr(key, '\t', klen)) {
			snprintf(err, errlen, "smtpd_tls_sni_certs: expected "
			    "\"certfile [keyfile]\" between commas");
			tls_pairs_free(p, *n);
			return -1;
		}
		if (tls_pair_add(p, n, cert, clen, key, klen, err, errlen) == -1)
			return -1;
	}
	return 0;
}

static int
tls_pair_add(struct tls_pair *p, size_t *n, const char *cert, size_t clen,
    const char *key, size_t klen, char *err, size_t errlen)
{
	if (*n == TLS_MAX_CERTS) {
		snprintf(err, errlen, "more than %d certificates",
		    TLS_MAX_CERTS);
		tls_pairs_free(p, *n);
		return -1;
	}
	if (cert[0] != '/' || key[0] != '/') {
		snprintf(err, errlen, "TLS certificate and key files must be "
		    "absolute paths");
		tls_pairs_free(p, *n);
		return -1;
	}
	if ((p[*n].cert = strndup(cert, clen)) == NULL ||
	    (p[*n].key = strndup(key, klen)) == NULL) {
		free(p[*n].cert);
		snprintf(err, errlen, "out of memory");
		tls_pairs_free(p, *n);
		return -1;
	}
	(*n)++;
	return 0;
}

void
tls_pairs_free(struct tls_pair *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(p[i].cert);
		free(p[i].key);
	}
}

int
tls_key_id(EVP_PKEY *pk, char id[TLS_KEY_ID_LEN + 1])
{
	unsigned char	*der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	int		 len;

	if ((len = i2d_PUBKEY(pk, &der)) <= 0)
		return -1;
	if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != TLS_KEY_ID_LEN / 2) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	for (i = 0; i < mdlen; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
	return 0;
}

const char *
tls_error(void)
{
	static char	 buf[256];
	unsigned long	 e;

	if ((e = ERR_get_error()) == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}
