/*
 * keyd: the only process that holds the TLS private keys.  It reads the
 * keys named in posthorn.conf while it still may (as root), then becomes
 * its own unprivileged user in a chroot and performs private-key
 * operations for smtpd over private/keyd: RSA and ECDSA signatures,
 * nothing else (no decryption: smtpd never offers RSA key exchange).  A compromised smtpd can ask for
 * signatures while it runs, but can never read or copy a key.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* RSA/EC_KEY: see smtpd/tls_key.c */

#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "event.h"
#include "keyd.h"
#include "log.h"
#include "proto.h"
#include "record.h"
#include "service.h"
#include "sock.h"
#include "tlscert.h"

struct key {
	char		 id[TLS_KEY_ID_LEN + 1];
	EVP_PKEY	*pkey;
	RSA		*rsa;	/* one of these two */
	EC_KEY		*ec;
	char		*file;
};

struct client {
	int		 fd;
	struct buf	 in, out;
	struct keyd	*kd;
};

struct keyd {
	struct service	 svc;
	struct event_loop *loop;
	struct key	 keys[TLS_MAX_CERTS];
	size_t		 nkeys;
};

static void	 keyd_load(struct keyd *);
static void	 keyd_accept(int, int, void *);
static void	 keyd_io(int, int, void *);
static void	 keyd_close(struct client *);
static void	 keyd_request(struct client *, const struct record *);
static void	 keyd_gone(int, int, void *);
static void	 keyd_signal(int, void *);
static int	 keyd_no_passphrase(char *, int, int, void *);
static int	 keyd_pss_shaped(const unsigned char *, size_t, RSA *);
static void	 keyd_fail(struct client *, const char *);

int
main(int argc, char **argv)
{
	/* Static: reachable to the end, so that valgrind tells leaks apart. */
	static struct keyd	 kd;
	struct rlimit	 rl = { 0, 0 };

	memset(&kd, 0, sizeof(kd));
	service_init(&kd.svc, argc, argv, "keyd");
	keyd_load(&kd);
	(void)dkim_load(&kd.svc.conf);
	service_drop(&kd.svc);
	/* No core dumps, no ptrace by another process of the same user. */
	if (setrlimit(RLIMIT_CORE, &rl) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_fatal("keyd: cannot make the process undumpable");
	service_sandbox(&kd.svc, SANDBOX_NO_FILES);

	kd.loop = event_loop_new();
	sock_nonblock(kd.svc.listen_fd);
	if (event_add(kd.loop, kd.svc.listen_fd, EV_READ, keyd_accept,
	    &kd) == -1)
		log_fatal("event_add");
	if (kd.svc.master_fd != -1 && event_add(kd.loop, kd.svc.master_fd,
	    EV_READ, keyd_gone, &kd) == -1)
		log_fatal("event_add");
	if (event_signal(kd.loop, SIGTERM, keyd_signal, &kd) == -1)
		log_fatal("event_signal");
	log_info("key server started with %zu key%s", kd.nkeys,
	    kd.nkeys == 1 ? "" : "s");
	event_loop_run(kd.loop);
	return 0;
}

/*
 * Every key of posthorn.conf, checked against its certificate.  A key
 * that cannot be used is logged and skipped: smtpd then cannot finish a
 * handshake with that certificate, and says so, but mail still flows.
 */
static void
keyd_load(struct keyd *kd)
{
	struct tls_pair	 pairs[TLS_MAX_CERTS];
	size_t		 n, i;
	char		 err[256];
	FILE		*fp;
	X509		*x;
	EVP_PKEY	*pk;
	struct key	*k;

	if (tls_pairs(&kd->svc.conf, pairs, &n, err, sizeof(err)) == -1)
		log_fatalx("%s", err);
	for (i = 0; i < n; i++) {
		x = NULL;
		pk = NULL;
		if ((fp = fopen(pairs[i].key, "r")) == NULL) {
			log_warn("keyd: %s", pairs[i].key);
			continue;
		}
		/* Nobody is there to type a passphrase: never ask. */
		pk = PEM_read_PrivateKey(fp, NULL, keyd_no_passphrase, NULL);
		fclose(fp);
		if (pk == NULL) {
			log_warnx("keyd: %s: no private key (an encrypted key "
			    "is not supported): %s", pairs[i].key, tls_error());
			continue;
		}
		if (EVP_PKEY_base_id(pk) != EVP_PKEY_RSA &&
		    EVP_PKEY_base_id(pk) != EVP_PKEY_EC) {
			log_warnx("keyd: %s: only RSA and ECDSA keys are "
			    "supported", pairs[i].key);
			EVP_PKEY_free(pk);
			continue;
		}
		if ((fp = fopen(pairs[i].cert, "r")) != NULL) {
			x = PEM_read_X509(fp, NULL, NULL, NULL);
			fclose(fp);
		}
		if (x == NULL || X509_check_private_key(x, pk) != 1) {
			log_warnx("keyd: %s does not belong to certificate %s",
			    pairs[i].key, pairs[i].cert);
			X509_free(x);
			EVP_PKEY_free(pk);
			ERR_clear_error();
			continue;
		}
		X509_free(x);
		k = &kd->keys[kd->nkeys];
		if (tls_key_id(pk, k->id) == -1) {
			log_warnx("keyd: %s: %s", pairs[i].key, tls_error());
			EVP_PKEY_free(pk);
			continue;
		}
		k->pkey = pk;
		if (EVP_PKEY_base_id(pk) == EVP_PKEY_RSA)
			k->rsa = EVP_PKEY_get1_RSA(pk);
		else
			k->ec = EVP_PKEY_get1_EC_KEY(pk);
		if ((k->file = strdup(pairs[i].key)) == NULL)
			log_fatal("keyd");
		kd->nkeys++;
	}
	tls_pairs_free(pairs, n);
}

static int
keyd_no_passphrase(char *buf, int size, int rw, void *arg)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)arg;
	return -1;
}

static void
keyd_accept(int lfd, int events, void *arg)
{
	struct keyd	*kd = arg;
	struct client	*c;
	int		 fd;

	(void)events;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("keyd: accept");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->kd = kd;
	buf_init(&c->in, RECORD_MAX + RECORD_HDR);
	buf_init(&c->out, 0);
	if (event_add(kd->loop, fd, EV_READ, keyd_io, c) == -1) {
		log_warn("keyd: event_add");
		keyd_close(c);
	}
}

static void
keyd_io(int fd, int events, void *arg)
{
	struct client	*c = arg;
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 rc;

	(void)fd;
	if (events & EV_WRITE) {
		if (sock_write_buf(c->fd, &c->out) == -1) {
			keyd_close(c);
			return;
		}
	}
	if (events & EV_READ) {
		n = sock_read_buf(c->fd, &c->in);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			keyd_close(c);
			return;
		}
		while ((rc = record_peek(&c->in, &r, &total)) == 1) {
			keyd_request(c, &r);
			buf_consume(&c->in, total);
		}
		if (rc == -1) {
			log_warnx("keyd: malformed request; closing");
			keyd_close(c);
			return;
		}
		if (sock_write_buf(c->fd, &c->out) == -1) {
			keyd_close(c);
			return;
		}
	}
	event_mod(c->kd->loop, c->fd, EV_READ | (c->out.len ? EV_WRITE : 0));
}

static void
keyd_close(struct client *c)
{
	event_del(c->kd->loop, c->fd);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/*
 * Is em (RSA_size bytes) an EMSA-PSS encoding with MGF1 and a salt as
 * long as the hash, for SHA-256, -384 or -512 (the TLS RSA-PSS schemes)?
 * Unmasking needs no message: random input passes with probability about
 * 2^-(8 * (emLen - 2 * hLen - 2)), i.e. never.
 */
static int
keyd_pss_shaped(const unsigned char *em, size_t len, RSA *rsa)
{
	const EVP_MD	*mds[3] = { EVP_sha256(), EVP_sha384(), EVP_sha512() };
	unsigned char	 db[1024];
	int		 modbits = RSA_bits(rsa), msbits = (modbits - 1) & 7;
	size_t		 emlen = len, hlen, dblen, i, j;

	if (len != (size_t)RSA_size(rsa))
		return 0;
	if (msbits == 0) {	/* the first octet is all padding */
		if (*em++ != 0)
			return 0;
		emlen--;
	}
	if (emlen == 0 || em[emlen - 1] != 0xbc ||
	    (msbits && (em[0] & (0xff << msbits))))
		return 0;
	for (i = 0; i < 3; i++) {
		hlen = (size_t)EVP_MD_get_size(mds[i]);
		if (emlen < 2 * hlen + 2 || (dblen = emlen - hlen - 1) >
		    sizeof(db))
			continue;
		if (PKCS1_MGF1(db, (long)dblen, em + dblen, (long)hlen,
		    mds[i]) != 0)
			continue;
		for (j = 0; j < dblen; j++)
			db[j] ^= em[j];
		if (msbits)
			db[0] &= 0xff >> (8 - msbits);
		for (j = 0; j < dblen - hlen - 1 && db[j] == 0; j++)
			;
		if (j == dblen - hlen - 1 && db[j] == 0x01)
			return 1;
	}
	return 0;
}

static void
keyd_fail(struct client *c, const char *why)
{
	log_warnx("keyd: refused: %s", why);
	if (record_put(&c->out, PROTO_FAIL, why, strlen(why) + 1) == -1)
		log_fatal("keyd");
}

/* "id\0op\0padding\0" then the input bytes. */
static void
keyd_request(struct client *c, const struct record *r)
{
	const char	*p = r->data, *end = r->data + r->len, *id, *op, *pad;
	const unsigned char *in;
	unsigned char	 out[2048];
	size_t		 inlen, i;
	struct key	*k = NULL;
	RSA		*rsa;
	EC_KEY		*ec;
	unsigned int	 siglen;
	int		 n = -1, padding;

	if (r->type != PROTO_KEYOP) {
		keyd_fail(c, "unknown request");
		return;
	}
	id = p;
	if ((p = memchr(p, '\0', (size_t)(end - p))) == NULL ||
	    (op = ++p, p = memchr(p, '\0', (size_t)(end - p))) == NULL ||
	    (pad = ++p, p = memchr(p, '\0', (size_t)(end - p))) == NULL) {
		keyd_fail(c, "malformed request");
		return;
	}
	in = (const unsigned char *)++p;
	inlen = (size_t)(end - p);
	padding = atoi(pad);
	if (op[0] == KEYOP_DKIM && op[1] == '\0' &&
	    strncmp(id, "dkim:", 5) == 0) {
		struct buf	 sig;
		const char	*why;

		buf_init(&sig, 0);
		if (dkim_sign(id + 5, in, inlen, &sig, &why) == -1)
			keyd_fail(c, why);
		else if (record_put(&c->out, PROTO_OK, sig.data, sig.len) ==
		    -1)
			log_fatal("keyd");
		buf_free(&sig);
		return;
	}
	for (i = 0; i < c->kd->nkeys; i++)
		if (strcmp(c->kd->keys[i].id, id) == 0)
			k = &c->kd->keys[i];
	if (k == NULL) {
		keyd_fail(c, "no such key");
		return;
	}
	if (inlen > sizeof(out) || op[0] == '\0' || op[1] != '\0') {
		keyd_fail(c, "bad operation");
		return;
	}
	switch (op[0]) {
	case KEYOP_RSA_ENC:
		if ((rsa = k->rsa) == NULL ||
		    (size_t)RSA_size(rsa) > sizeof(out))
			break;
		/*
		 * A raw RSA operation on any input would be a decryption
		 * oracle for a compromised smtpd.  So: PKCS#1 v1.5 type 1
		 * padding (always a signature), or no padding only for a
		 * block that is a well-formed PSS encoding (RFC 8017 9.1.1),
		 * which is what OpenSSL hands over for RSA-PSS.
		 */
		if (padding != RSA_PKCS1_PADDING && (padding != RSA_NO_PADDING ||
		    !keyd_pss_shaped(in, inlen, rsa))) {
			keyd_fail(c, "not a signature");
			return;
		}
		n = RSA_private_encrypt((int)inlen, in, out, rsa, padding);
		break;
	case KEYOP_ECDSA:
		if ((ec = k->ec) == NULL ||
		    (size_t)ECDSA_size(ec) > sizeof(out))
			break;
		siglen = 0;
		if (ECDSA_sign(0, in, (int)inlen, out, &siglen, ec) == 1)
			n = (int)siglen;
		break;
	}
	if (n < 0) {
		log_warnx("keyd: %s: operation failed: %s", k->file,
		    tls_error());
		if (record_put(&c->out, PROTO_FAIL, "failed", 7) == -1)
			log_fatal("keyd");
		return;
	}
	if (record_put(&c->out, PROTO_OK, out, (size_t)n) == -1)
		log_fatal("keyd");
	OPENSSL_cleanse(out, sizeof(out));
}

static void
keyd_gone(int fd, int events, void *arg)
{
	struct keyd	*kd = arg;
	char		 ch;

	(void)events;
	if (read(fd, &ch, 1) > 0)
		return;
	event_loop_exit(kd->loop);
}

static void
keyd_signal(int signo, void *arg)
{
	struct keyd	*kd = arg;

	(void)signo;
	event_loop_exit(kd->loop);
}
