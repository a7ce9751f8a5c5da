/*
 * io: the relay agent's connection: blocking I/O with a deadline on every
 * read and write (SO_RCVTIMEO/SO_SNDTIMEO, set per stage by the caller),
 * in the clear or through TLS, and the parsing of replies.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include <bsd/string.h>

#include "log.h"
#include "smtp.h"
#include "tlscert.h"

static void
conn_timeouts(struct smtp_conn *c)
{
	struct timeval	 tv = { c->timeout, 0 };

	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void
conn_init(struct smtp_conn *c, int fd, long timeout)
{
	c->fd = fd;
	c->ssl = NULL;
	c->timeout = timeout;
	buf_init(&c->in, SMTP_LINE_MAX * 4);
	conn_timeouts(c);
}

/* A connection made elsewhere (ODMR: the customer's, relayed by smtpd). */
void
conn_adopt(struct smtp_conn *c, int fd, const char *name, long timeout)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	conn_init(c, fd, timeout);
}

int
conn_open(struct smtp_conn *c, const struct sockaddr_storage *ss,
    const char *name, int port, long timeout, char *why, size_t whylen)
{
	char		 ip[INET6_ADDRSTRLEN];
	struct pollfd	 pfd;
	socklen_t	 len, elen;
	int		 fd, err = 0, flags;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    ip, sizeof(ip));
	else
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)ss)->sin6_addr, ip,
		    sizeof(ip));
	snprintf(c->name, sizeof(c->name), "%s[%s]:%d", name, ip, port);
	strlcpy(c->host, name, sizeof(c->host));
	strlcpy(c->ip, ip, sizeof(c->ip));
	len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)ss, len) == -1) {
		if (errno != EINPROGRESS) {
			err = errno;
		} else {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, (int)timeout * 1000) != 1)
				err = ETIMEDOUT;
			else {
				elen = sizeof(err);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
				    &elen) == -1)
					err = errno;
			}
		}
	}
	if (err) {
		snprintf(why, whylen, "connect to %s: %s", c->name,
		    strerror(err));
		close(fd);
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	conn_init(c, fd, timeout);
	return 0;
}

int
conn_open_unix(struct smtp_conn *c, const char *path, long timeout,
    char *why, size_t whylen)
{
	struct sockaddr_un sun;
	int		 fd;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(c->name, sizeof(c->name), "%s", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		snprintf(why, whylen, "socket path too long");
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(why, whylen, "connect to %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	conn_init(c, fd, timeout);
	return 0;
}

/*
 * TLS on the connection; with verify, the server's certificate must
 * chain to a trusted CA (smtp_tls_CAfile, or the system's) and name the
 * host we asked for (RFC 6125; an address literal must match an IP SAN).
 */
int	 tls_system_cas_pending;

int
conn_starttls(struct smtp_conn *c, SSL_CTX *ctx, const char *sni, int verify,
    const struct smtp_dane *dane, char *why, size_t whylen)
{
	X509_VERIFY_PARAM *vp;
	unsigned char	 a[16];
	const char	*m = NULL;
	long		 vr = X509_V_OK;
	int		 ip, use_dane = 0;

	ERR_clear_error();
	c->verified[0] = '\0';
	c->verify_error = X509_V_OK;
	c->dane_used = 0;
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(why, whylen, "TLS: %s", tls_error());
		return -1;
	}
	if (verify && dane && dane->n > 0) {
		/* RFC 7672 8.1: SNI is the TLSA base domain. */
		(void)SSL_set_tlsext_host_name(c->ssl, dane->base);
		switch (dane_apply(c->ssl, dane)) {
		case -1:
			snprintf(why, whylen, "TLS: DANE: %s", tls_error());
			return -1;
		case 0:
			/* dane.c keeps only what OpenSSL takes: not expected. */
			snprintf(why, whylen, "TLS: DANE: no TLSA record of %s "
			    "is usable", dane->base);
			return -1;
		default:
			use_dane = c->dane_used = 1;
		}
		goto handshake;
	}
	if (verify && tls_system_cas_pending) {
		tls_system_cas_pending = 0;
		if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			log_warnx("TLS: no trusted CA certificates (system "
			    "default): %s", tls_error());
		ERR_clear_error();
	}
	ip = inet_pton(AF_INET, c->host, a) == 1 ||
	    inet_pton(AF_INET6, c->host, a) == 1;
	if (sni && *sni && !ip && strchr(sni, '.'))
		(void)SSL_set_tlsext_host_name(c->ssl, sni);
	if (verify) {
		vp = SSL_get0_param(c->ssl);
		if ((ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, c->host) :
		    X509_VERIFY_PARAM_set1_host(vp, c->host, 0)) != 1) {
			snprintf(why, whylen, "TLS: %s", tls_error());
			return -1;
		}
	}
handshake:
	conn_timeouts(c);
	if (SSL_connect(c->ssl) != 1) {
		snprintf(why, whylen, "TLS handshake with %s failed: %s",
		    c->name, ERR_peek_error() ? tls_error() :
		    "connection lost");
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	if (use_dane && ((vr = SSL_get_verify_result(c->ssl)) != X509_V_OK ||
	    (m = dane_matched(c->ssl)) == NULL)) {
		c->verify_error = vr;
		snprintf(why, whylen, "server certificate of %s not verified: "
		    "no TLSA record of %s matches (%s)", c->name, dane->base,
		    vr != X509_V_OK ? X509_verify_cert_error_string(vr) :
		    "no DANE match");
		return -1;
	}
	if (use_dane) {
		strlcpy(c->verified, m, sizeof(c->verified));
		return 0;
	}
	if (verify && (SSL_get0_peer_certificate(c->ssl) == NULL ||
	    (vr = SSL_get_verify_result(c->ssl)) != X509_V_OK)) {
		c->verify_error = SSL_get0_peer_certificate(c->ssl) ? vr :
		    X509_V_ERR_UNSPECIFIED;
		snprintf(why, whylen, "server certificate of %s not verified: "
		    "%s", c->name, SSL_get0_peer_certificate(c->ssl) ?
		    X509_verify_cert_error_string(vr) : "no certificate");
		/* MTA-STS testing: the check is reported, the session goes on. */
		return verify == VERIFY_CHECK ? 0 : -1;
	}
	if (verify)
		strlcpy(c->verified, "PKIX", sizeof(c->verified));
	return 0;
}

int
conn_write(struct smtp_conn *c, const void *p, size_t len)
{
	const char	*s = p;
	size_t		 done;
	ssize_t		 n;

	conn_timeouts(c);
	while (len > 0) {
		if (c->ssl) {
			if (SSL_write_ex(c->ssl, s, len, &done) != 1)
				return -1;
			n = (ssize_t)done;
		} else if ((n = send(c->fd, s, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

int
conn_printf(struct smtp_conn *c, const char *fmt, ...)
{
	char	 line[2048];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return conn_write(c, line, (size_t)n);
}

/* Raw bytes (the HTTPS fetch): n, 0 at the end, -1 on error or timeout. */
ssize_t
conn_read(struct smtp_conn *c, void *p, size_t len)
{
	size_t	 got;
	ssize_t	 r;

	if (c->ssl) {
		if (SSL_read_ex(c->ssl, p, len, &got) == 1)
			return (ssize_t)got;
		return SSL_get_error(c->ssl, 0) == SSL_ERROR_ZERO_RETURN ? 0 :
		    -1;
	}
	while ((r = read(c->fd, p, len)) == -1 && errno == EINTR)
		;
	return r;
}

/* One line (without CRLF) into line; -1 on EOF, error or timeout. */
static int
conn_line(struct smtp_conn *c, char *line, size_t len)
{
	char	*lf;
	size_t	 n, got;
	ssize_t	 r;

	for (;;) {
		if (c->in.len > 0 && (lf = memchr(c->in.data, '\n',
		    c->in.len)) != NULL) {
			n = (size_t)(lf - c->in.data);
			if (n > 0 && lf[-1] == '\r')
				n--;
			snprintf(line, len, "%.*s", (int)n, c->in.data);
			buf_consume(&c->in, (size_t)(lf - c->in.data) + 1);
			return 0;
		}
		if (c->in.len >= SMTP_LINE_MAX || buf_reserve(&c->in, 4096) ==
		    -1)
			return -1;
		if (c->ssl) {
			if (SSL_read_ex(c->ssl, c->in.data + c->in.len, 4096,
			    &got) != 1)
				return -1;
			r = (ssize_t)got;
		} else {
			r = read(c->fd, c->in.data + c->in.len, 4096);
			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
		}
		c->in.len += (size_t)r;
	}
}

/* A whole (multi-line) reply; -1 when the server is gone or silent. */
int
conn_reply(struct smtp_conn *c, struct smtp_reply *r)
{
	char	 line[SMTP_LINE_MAX + 1];
	const char *t;
	size_t	 n, nlines = 0;
	time_t	 deadline = time(NULL) + c->timeout;

	memset(r, 0, sizeof(*r));
	conn_timeouts(c);
	for (;;) {
		if (conn_line(c, line, sizeof(line)) == -1)
			return -1;
		if (++nlines > SMTP_REPLY_LINES_MAX || time(NULL) > deadline) {
			if (nlines > SMTP_REPLY_LINES_MAX)
				log_warnx("%s: a reply of more than %d lines; "
				    "session given up", c->name,
				    SMTP_REPLY_LINES_MAX);
			else
				log_warnx("%s: a reply of more than the "
				    "command's time limit; session given up",
				    c->name);
			return -1;
		}
		if (strlen(line) < 3 || !isdigit((unsigned char)line[0]) ||
		    !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-'))
			return -1;
		r->code = atoi(line);
		t = line[3] ? line + 4 : "";
		/* RFC 3463: "X.Y.Z " of the same class as the reply code. */
		n = strspn(t, "0123456789.");
		if (r->dsn[0] == '\0' && n >= 5 && n < sizeof(r->dsn) &&
		    t[0] == line[0] && t[1] == '.' && (t[n] == ' ' ||
		    t[n] == '\0')) {
			memcpy(r->dsn, t, n);
			r->dsn[n] = '\0';
		}
		strlcat(r->lines, t, sizeof(r->lines));
		strlcat(r->lines, "\n", sizeof(r->lines));
		if (r->text[0])
			strlcat(r->text, " ", sizeof(r->text));
		snprintf(r->text + strlen(r->text), sizeof(r->text) -
		    strlen(r->text), "%.3s %s", line, t);
		if (line[3] != '-')
			break;
	}
	if (r->dsn[0] == '\0')
		snprintf(r->dsn, sizeof(r->dsn), "%c.0.0", '0' + r->code / 100);
	if (r->code == 421)
		c->closing = 1;	/* RFC 5321 3.8: the server is going away */
	return 0;
}

void
conn_close(struct smtp_conn *c)
{
	if (c->ssl) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
	ERR_clear_error();
}
