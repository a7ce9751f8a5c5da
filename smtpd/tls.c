/*
 * tls: TLS for smtpd sessions.  One SSL_CTX per configured certificate;
 * the first is the default, the others are chosen by SNI: the first
 * certificate whose names (X509_check_host: SAN, wildcards) match the
 * name the client asked for.  The private keys stay in keyd
 * (tls_key.c).  Sockets are non-blocking; SSL_ERROR_WANT_READ/WRITE
 * become the events session.c waits for.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "smtpd.h"
#include "tls.h"

struct tls_cert {
	SSL_CTX		*ctx;
	X509		*x509;
	char		*file;
};

static struct tls_cert	 certs[TLS_MAX_CERTS];
static size_t		 ncerts;

static SSL_CTX	*tls_ctx_new(const struct conf *, const struct tls_pair *,
		    struct tls_cert *, char *, size_t);
static int	 tls_sni(SSL *, int *, void *);
static int	 tls_fail(struct session *, int *, int, const char *);

int
tls_init(const struct conf *c, char *err, size_t errlen)
{
	struct tls_pair	 pairs[TLS_MAX_CERTS];
	size_t		 n, i;
	char		 why[256];

	if (strcmp(c->smtpd_tls_security_level, "none") == 0 &&
	    !c->smtpd_tls_wrappermode)
		return 0;
	if (tls_pairs(c, pairs, &n, err, errlen) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (tls_ctx_new(c, &pairs[i], &certs[ncerts], why,
		    sizeof(why)) == NULL) {
			snprintf(err, errlen, "%s: %s", pairs[i].cert, why);
			tls_pairs_free(pairs, n);
			return -1;
		}
		ncerts++;
	}
	tls_pairs_free(pairs, n);
	if (ncerts > 1)
		SSL_CTX_set_tlsext_servername_callback(certs[0].ctx, tls_sni);
	return 0;
}

int
tls_available(void)
{
	return ncerts > 0;
}

static SSL_CTX *
tls_ctx_new(const struct conf *c, const struct tls_pair *p,
    struct tls_cert *tc, char *err, size_t errlen)
{
	SSL_CTX		*ctx;
	EVP_PKEY	*pk;
	char		 ciphers[1024];
	int		 min, max;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto ssl_err;
	(void)conf_tls_versions(c->smtpd_tls_protocols, &min, &max);
	if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, max) != 1)
		goto ssl_err;
	/* TLSv1/1.1 need security level 0 in OpenSSL 3 if asked for. */
	if (min < TLS1_2_VERSION)
		SSL_CTX_set_security_level(ctx, 0);
	/* CLEANSE_PLAINTEXT: AUTH passwords do not linger in its buffers. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/*
	 * Stateless TLS 1.3 tickets (no server cache): a returning client
	 * resumes without a signature from keyd, and the ticket sent at
	 * once after the handshake acknowledges the client's Finished, so
	 * a client's first command is not held back by Nagle waiting for a
	 * delayed ACK (40 ms per session on Linux).  Resumption keeps the
	 * (EC)DHE exchange (psk_dhe_ke), so forward secrecy stays.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_set_num_tickets(ctx, 1);
	/*
	 * Never RSA key exchange, whatever smtpd_tls_ciphers says: it has no
	 * forward secrecy, and it would need keyd to decrypt for us.
	 */
	if (snprintf(ciphers, sizeof(ciphers), "%s:!kRSA",
	    c->smtpd_tls_ciphers) >= (int)sizeof(ciphers) ||
	    SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		snprintf(err, errlen, "smtpd_tls_ciphers: no usable cipher");
		goto fail;
	}
	if (c->smtpd_tls_ciphersuites[0] &&
	    SSL_CTX_set_ciphersuites(ctx, c->smtpd_tls_ciphersuites) != 1) {
		snprintf(err, errlen, "smtpd_tls_ciphersuites: no usable "
		    "cipher suite");
		goto fail;
	}
	/* The chain (leaf first) is public: smtpd reads it before chroot. */
	if (SSL_CTX_use_certificate_chain_file(ctx, p->cert) != 1)
		goto ssl_err;
	if ((tc->x509 = SSL_CTX_get0_certificate(ctx)) == NULL)
		goto ssl_err;
	if ((pk = tls_key_proxy(tc->x509, err, errlen)) == NULL)
		goto fail;
	if (SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
		EVP_PKEY_free(pk);
		goto ssl_err;
	}
	EVP_PKEY_free(pk);
	tc->ctx = ctx;
	tc->file = strdup(p->cert);
	return ctx;
ssl_err:
	snprintf(err, errlen, "%s", tls_error());
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int
tls_sni(SSL *ssl, int *alert, void *arg)
{
	const char	*name;
	size_t		 i;

	(void)alert;
	(void)arg;
	if ((name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) ==
	    NULL)
		return SSL_TLSEXT_ERR_NOACK;
	for (i = 0; i < ncerts; i++)
		if (X509_check_host(certs[i].x509, name, 0, 0, NULL) == 1) {
			if (i > 0)
				SSL_set_SSL_CTX(ssl, certs[i].ctx);
			return SSL_TLSEXT_ERR_OK;
		}
	return SSL_TLSEXT_ERR_NOACK;	/* the default certificate */
}

int
tls_start(struct session *s)
{
	if (ncerts == 0 || (s->ssl = SSL_new(certs[0].ctx)) == NULL ||
	    SSL_set_fd(s->ssl, s->fd) != 1) {
		log_warnx("TLS: cannot start for unknown[%s]: %s", s->addr,
		    tls_error());
		tls_free(s);
		return -1;
	}
	SSL_set_accept_state(s->ssl);
	s->tls_state = TLS_HANDSHAKE;
	return 0;
}

int
tls_handshake(struct session *s)
{
	int	 rc;

	ERR_clear_error();
	if ((rc = SSL_do_handshake(s->ssl)) == 1) {
		s->tls_state = TLS_ON;
		s->tls_want = 0;
		return 1;
	}
	switch (SSL_get_error(s->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		s->tls_want = EV_READ;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		s->tls_want = EV_WRITE;
		return 0;
	}
	log_info("TLS handshake failed for unknown[%s]: %s", s->addr,
	    ERR_peek_error() ? tls_error() : rc == 0 ?
	    "connection closed" : strerror(errno));
	return -1;
}

/*
 * Map an SSL error to sock_*_buf semantics.  A read that must first write
 * (or a write that must first read) sets the flag session.c turns into
 * the matching event.
 */
static int
tls_fail(struct session *s, int *other, int other_want, const char *what)
{
	int	 e = SSL_get_error(s->ssl, 0);

	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		*other = (e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE) ==
		    other_want;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			if (errno == 0)
				return 0;	/* EOF without close_notify */
			return -1;
		}
		/* FALLTHROUGH */
	default:
		log_info("TLS %s error from unknown[%s]: %s", what, s->addr,
		    tls_error());
		errno = ECONNRESET;
		return -1;
	}
}

ssize_t
tls_read(struct session *s, struct buf *b)
{
	size_t	 room, got;
	int	 rc;

	if (b->max && b->len >= b->max) {
		errno = EMSGSIZE;
		return -1;
	}
	room = b->max ? b->max - b->len : 16384;
	if (room > 16384)
		room = 16384;
	if (buf_reserve(b, room) == -1)
		return -1;
	ERR_clear_error();
	errno = 0;
	rc = SSL_read_ex(s->ssl, b->data + b->len, room, &got);
	if (rc == 1) {
		b->len += got;
		return (ssize_t)got;
	}
	return tls_fail(s, &s->tls_read_ww, EV_WRITE, "read");
}

/* 0 all written, 1 some left, -1 error (as sock_write_buf). */
int
tls_write(struct session *s, struct buf *b)
{
	size_t	 done;
	int	 rc;

	while (b->len > 0) {
		ERR_clear_error();
		errno = 0;
		rc = SSL_write_ex(s->ssl, b->data, b->len, &done);
		if (rc != 1) {
			if (tls_fail(s, &s->tls_write_wr, EV_READ, "write") ==
			    -1 &&
			    errno == EAGAIN)
				return 1;
			return -1;
		}
		buf_consume(b, done);
	}
	return 0;
}

void
tls_free(struct session *s)
{
	if (s->ssl == NULL)
		return;
	if (s->tls_state == TLS_ON)
		(void)SSL_shutdown(s->ssl);	/* close_notify, best effort */
	SSL_free(s->ssl);
	s->ssl = NULL;
	s->tls_state = TLS_NONE;
	ERR_clear_error();
}

void
tls_describe(struct session *s, char *out, size_t len)
{
	const SSL_CIPHER *c;
	int		 alg = 0, bits;

	if (s->ssl == NULL || s->tls_state != TLS_ON) {
		snprintf(out, len, "none");
		return;
	}
	c = SSL_get_current_cipher(s->ssl);
	bits = SSL_CIPHER_get_bits(c, &alg);
	snprintf(out, len, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(s->ssl), SSL_CIPHER_get_name(c), bits, alg);
}
