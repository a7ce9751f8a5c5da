/*
 * tlscert: the certificate/key pairs of posthorn.conf, as smtpd (which
 * loads only the certificates) and keyd (which loads only the keys) both
 * see them, and the key id that ties a certificate to its private key
 * across the keyd channel: the hex SHA-256 of the DER public key.
 */
#ifndef POSTHORN_TLSCERT_H
#define POSTHORN_TLSCERT_H

#include <stddef.h>

#include <openssl/evp.h>

#include "conf.h"

#define TLS_MAX_CERTS	32
#define TLS_KEY_ID_LEN	64

struct tls_pair {
	char	*cert;
	char	*key;
};

/* smtpd_tls_cert_file/key_file first, then smtpd_tls_sni_certs. */
int	 tls_pairs(const struct conf *, struct tls_pair *, size_t *n,
	    char *err, size_t errlen);
void	 tls_pairs_free(struct tls_pair *, size_t);
int	 tls_key_id(EVP_PKEY *, char id[TLS_KEY_ID_LEN + 1]);
/* The last OpenSSL error as text (for logs), or "unknown error". */
const char *tls_error(void);

#endif
