/* tls: smtpd's side of TLS (STARTTLS, implicit TLS); see tls.c. */
#ifndef POSTHORN_SMTPD_TLS_H
#define POSTHORN_SMTPD_TLS_H

#include <openssl/ssl.h>

#include "buf.h"
#include "conf.h"
#include "tlscert.h"

struct session;

/* Load certificates and build the contexts; 0 with TLS off, -1 fatal. */
int	 tls_init(const struct conf *, char *err, size_t errlen);
int	 tls_available(void);
int	 tls_start(struct session *);
/* 1 handshake done, 0 in progress (s->tls_want says on what), -1 failed. */
int	 tls_handshake(struct session *);
/* Like sock_read_buf/sock_write_buf, over s->ssl. */
ssize_t	 tls_read(struct session *, struct buf *);
int	 tls_write(struct session *, struct buf *);
void	 tls_free(struct session *);
/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" */
void	 tls_describe(struct session *, char *, size_t);

/* tls_key.c */
EVP_PKEY *tls_key_proxy(X509 *, char *err, size_t errlen);
int	 keyd_dkim(const char *domain, const void *, size_t, char *out,
	    size_t outmax);

#endif
