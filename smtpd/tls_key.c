/*
 * tls_key: private keys that live in keyd.  smtpd loads only the
 * certificates; for each it builds a key object that holds the public
 * half and whose private operations (RSA_METHOD priv_enc, EC_KEY_METHOD
 * sign_sig) are sent to keyd over private/keyd, as OpenSMTPD's ca process
 * does.  Only signatures: RSA key exchange is never offered (tls.c), so
 * keyd needs no decryption, and offers none to a compromised smtpd.
 *
 * OpenSSL 3 marks RSA_METHOD and EC_KEY_METHOD deprecated, but keys with
 * a non-default method still take the legacy code path that calls them
 * (for RSA-PSS too: OpenSSL pads, then asks for a raw private encrypt);
 * the alternative, a provider, would be far more code for the same effect.
 *
 * The call is synchronous: the handshake cannot go on without the answer,
 * and keyd answers in about the time the operation itself takes, which
 * smtpd would have spent anyway had it held the key.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "log.h"
#include "proto.h"
#include "record.h"
#include "sock.h"
#include "tls.h"

#define KEYD_TIMEOUT_MS	5000

static int		 keyd_fd = -1;
static int		 rsa_idx = -1, ec_idx = -1;
static RSA_METHOD	*rsa_meth;
static EC_KEY_METHOD	*ec_meth;

static int	 keyd_call(const char *id, int op, int padding,
		    const unsigned char *in, size_t inlen, unsigned char *out,
		    size_t outmax);
static int	 rsa_priv_enc(int, const unsigned char *, unsigned char *,
		    RSA *, int);
static ECDSA_SIG *ec_sign_sig(const unsigned char *, int, const BIGNUM *,
		    const BIGNUM *, EC_KEY *);

static int
tls_key_methods(void)
{
	int	(*sign)(int, const unsigned char *, int, unsigned char *,
		    unsigned int *, const BIGNUM *, const BIGNUM *, EC_KEY *);
	int	(*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **);

	if (rsa_meth)
		return 0;
	rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if ((rsa_meth = RSA_meth_dup(RSA_get_default_method())) == NULL ||
	    RSA_meth_set1_name(rsa_meth, "posthorn keyd") != 1 ||
	    RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc) != 1)
		return -1;
	if ((ec_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method())) == NULL)
		return -1;
	EC_KEY_METHOD_get_sign(ec_meth, &sign, &setup, NULL);
	EC_KEY_METHOD_set_sign(ec_meth, sign, NULL, ec_sign_sig);
	return 0;
}

/* A key object for cert whose private half is keyd's. */
EVP_PKEY *
tls_key_proxy(X509 *cert, char *err, size_t errlen)
{
	EVP_PKEY	*pub = X509_get0_pubkey(cert), *pk = NULL;
	const BIGNUM	*n, *e;
	RSA		*rsa = NULL;
	EC_KEY		*ec = NULL;
	const EC_KEY	*ecpub;
	char		*id = NULL;

	if (pub == NULL || tls_key_methods() == -1) {
		snprintf(err, errlen, "%s", tls_error());
		return NULL;
	}
	if ((id = malloc(TLS_KEY_ID_LEN + 1)) == NULL ||
	    tls_key_id(pub, id) == -1 || (pk = EVP_PKEY_new()) == NULL)
		goto fail;
	switch (EVP_PKEY_base_id(pub)) {
	case EVP_PKEY_RSA:
		RSA_get0_key(EVP_PKEY_get0_RSA(pub), &n, &e, NULL);
		if ((rsa = RSA_new()) == NULL ||
		    RSA_set0_key(rsa, BN_dup(n), BN_dup(e), NULL) != 1 ||
		    RSA_set_method(rsa, rsa_meth) != 1 ||
		    RSA_set_ex_data(rsa, rsa_idx, id) != 1 ||
		    EVP_PKEY_assign_RSA(pk, rsa) != 1)
			goto fail;
		return pk;
	case EVP_PKEY_EC:
		ecpub = EVP_PKEY_get0_EC_KEY(pub);
		if ((ec = EC_KEY_new()) == NULL ||
		    EC_KEY_set_method(ec, ec_meth) != 1 ||
		    EC_KEY_set_group(ec, EC_KEY_get0_group(ecpub)) != 1 ||
		    EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(ecpub)) !=
		    1 || EC_KEY_set_ex_data(ec, ec_idx, id) != 1 ||
		    EVP_PKEY_assign_EC_KEY(pk, ec) != 1)
			goto fail;
		return pk;
	default:
		snprintf(err, errlen, "only RSA and ECDSA certificates are "
		    "supported");
		EVP_PKEY_free(pk);
		free(id);
		return NULL;
	}
fail:
	snprintf(err, errlen, "%s", tls_error());
	RSA_free(rsa);
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	free(id);
	return NULL;
}

static int
rsa_op(int op, int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	const char	*id = RSA_get_ex_data(rsa, rsa_idx);

	if (id == NULL || flen < 0)
		return -1;
	return keyd_call(id, op, padding, from, (size_t)flen, to,
	    (size_t)RSA_size(rsa));
}

static int
rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	return rsa_op(KEYOP_RSA_ENC, flen, from, to, rsa, padding);
}

static ECDSA_SIG *
ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *ec)
{
	const char	*id = EC_KEY_get_ex_data(ec, ec_idx);
	unsigned char	 der[512];
	const unsigned char *p = der;
	int		 n;

	(void)kinv;
	(void)r;
	if (id == NULL || dlen < 0)
		return NULL;
	if ((n = keyd_call(id, KEYOP_ECDSA, 0, dgst, (size_t)dlen, der,
	    sizeof(der))) <= 0)
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, n);
}

static void
keyd_disconnect(void)
{
	if (keyd_fd != -1)
		close(keyd_fd);
	keyd_fd = -1;
}

/* Read exactly len bytes within the deadline. */
static int
keyd_read(unsigned char *p, size_t len)
{
	struct pollfd	 pfd = { .fd = keyd_fd, .events = POLLIN };
	ssize_t		 n;

	while (len > 0) {
		if (poll(&pfd, 1, KEYD_TIMEOUT_MS) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if ((n = read(keyd_fd, p, len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One request, one answer; the number of output bytes, or -1. */
static int
keyd_call(const char *id, int op, int padding, const unsigned char *in,
    size_t inlen, unsigned char *out, size_t outmax)
{
	struct buf	 b;
	unsigned char	 hdr[RECORD_HDR];
	char		 why[128];
	char		 head[300];
	size_t		 hlen, len;
	int		 attempt, n;

	n = snprintf(head, sizeof(head), "%s%c%c%c%d", id, '\0', op, '\0',
	    padding);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	hlen = (size_t)n + 1;
	buf_init(&b, 0);
	if (buf_append(&b, head, hlen) == -1 ||
	    buf_append(&b, in, inlen) == -1) {
		buf_free(&b);
		return -1;
	}
	/* A restarted keyd means a stale connection: try a new one once. */
	for (attempt = 0; attempt < 2; attempt++) {
		if (keyd_fd == -1) {
			struct timeval tv = { KEYD_TIMEOUT_MS / 1000, 0 };

			if ((keyd_fd = sock_unix_connect(KEYD_SOCKET)) == -1) {
				log_warn("TLS: cannot reach the key server %s",
				    KEYD_SOCKET);
				break;
			}
			(void)setsockopt(keyd_fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
			    sizeof(tv));
		}
		record_hdr(hdr, PROTO_KEYOP, b.len);
		if (io_write_all(keyd_fd, hdr, sizeof(hdr)) == -1 ||
		    io_write_all(keyd_fd, b.data, b.len) == -1 ||
		    keyd_read(hdr, sizeof(hdr)) == -1) {
			keyd_disconnect();
			/* A slow keyd is not tried twice: all sessions wait. */
			if (errno == ETIMEDOUT) {
				log_warnx("TLS: the key server did not answer "
				    "within %d ms", KEYD_TIMEOUT_MS);
				break;
			}
			continue;
		}
		len = record_len(hdr);
		if (hdr[0] == PROTO_OK && len <= outmax &&
		    keyd_read(out, len) == 0) {
			buf_free(&b);
			return (int)len;
		}
		if (hdr[0] == PROTO_FAIL && len < sizeof(why) &&
		    keyd_read((unsigned char *)why, len) == 0) {
			why[len] = '\0';
			why[strcspn(why, "\n")] = '\0';
			log_warnx("TLS: key server: %s", why);
			break;
		}
		log_warnx("TLS: bad answer from the key server");
		keyd_disconnect();
		break;
	}
	buf_free(&b);
	return -1;
}

/* A DKIM-Signature value from keyd (keyd/dkim.c); its length, or -1. */
int
keyd_dkim(const char *domain, const void *in, size_t inlen, char *out,
    size_t outmax)
{
	char	 id[270];

	if (snprintf(id, sizeof(id), "dkim:%s", domain) >= (int)sizeof(id))
		return -1;
	return keyd_call(id, KEYOP_DKIM, 0, in, inlen, (unsigned char *)out,
	    outmax);
}
