/*
 * posthorn-atrn: the customer's side of On-Demand Mail Relay (RFC 2645).
 * It connects to the provider's ODMR service, starts TLS and checks the
 * certificate, logs in, and asks with ATRN for the mail of its domains.
 * When the provider reverses the connection, the provider is an SMTP
 * client and we hand it to our own smtpd: from then on the bytes are
 * relayed both ways, so every message goes through the usual checks and
 * the queue.  Run it from cron or by hand, e.g. whenever the link is up.
 *
 *	posthorn-atrn [-v] [-T verify|encrypt|none] [-C cafile] [-H name]
 *	    -u login -p passfile [-l host:port] server[:port] [domain,...]
 *
 * With -e it asks with ETRN (RFC 1985) instead, for a site with a fixed
 * address: the provider then sends the mail over new connections to the
 * site's own MX.
 *
 * Exit: 0 mail relayed or none waiting, 75 try again later, 77 refused
 * (login or domains), 69 the server cannot be used, 64 usage.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netdb.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <bsd/string.h>

#include "base64.h"

#define EX_OK_		0
#define EX_USAGE_	64
#define EX_UNAVAIL_	69
#define EX_TEMPFAIL_	75
#define EX_NOPERM_	77

#define ATRN_PORT	"366"
#define ATRN_TIMEOUT	300	/* seconds for each reply */
#define ATRN_LINE	4096

struct peer {
	int		 fd;
	SSL		*ssl;
	char		 in[ATRN_LINE * 4];
	size_t		 inlen;
};

static int	 verbose;

static void	 usage(void) __attribute__((noreturn));
static void	 die(int, const char *, ...)
		    __attribute__((format(printf, 2, 3), noreturn));
static int	 tcp_connect(const char *, const char *, const char *);
static ssize_t	 peer_read(struct peer *, void *, size_t);
static int	 peer_write(struct peer *, const void *, size_t);
static void	 peer_printf(struct peer *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	 peer_reply(struct peer *, char *, size_t, char *, size_t);
static void	 session_open(struct peer *, const char *, const char *,
		    const char *, const char *, const char *, char *, size_t);
static void	 session_auth(struct peer *, const char *, const char *,
		    const char *);
static int	 atrn_run(struct peer *, const char *, const char *, char *);
static int	 etrn_run(struct peer *, const char *, const char *);
static void	 relay(struct peer *, int);
static int	 write_all(int, const char *, size_t);
static void	 split_hostport(char *, const char **, const char **,
		    const char *);

int
main(int argc, char **argv)
{
	struct peer	 p;
	const char	*tls = NULL, *cafile = NULL, *tlsname = NULL;
	const char	*login = NULL, *passfile = NULL, *host, *port;
	const char	*domains;
	char		 local[300] = "127.0.0.1:25", server[300];
	char		 pass[512], ext[ATRN_LINE];
	FILE		*f;
	int		 ch, etrn = 0;

	while ((ch = getopt(argc, argv, "C:eH:l:p:T:u:v")) != -1) {
		switch (ch) {
		case 'C':
			cafile = optarg;
			break;
		case 'e':
			etrn = 1;
			break;
		case 'H':
			tlsname = optarg;
			break;
		case 'l':
			strlcpy(local, optarg, sizeof(local));
			break;
		case 'p':
			passfile = optarg;
			break;
		case 'T':
			tls = optarg;
			break;
		case 'u':
			login = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	/* ETRN may go without a login, and then takes TLS when offered. */
	if (tls == NULL)
		tls = etrn ? "may" : "verify";
	if (argc < 1 || argc > 2 || (!etrn && login == NULL) ||
	    (login == NULL) != (passfile == NULL) || (etrn && argc != 2) ||
	    (strcmp(tls, "verify") != 0 && strcmp(tls, "encrypt") != 0 &&
	    strcmp(tls, "may") != 0 && strcmp(tls, "none") != 0))
		usage();
	domains = argc == 2 ? argv[1] : "";
	if (strpbrk(domains, "\r\n") || (login && strlen(login) > 255))
		usage();
	pass[0] = '\0';
	if (passfile) {
		if ((f = fopen(passfile, "r")) == NULL)
			die(EX_USAGE_, "%s: %s", passfile, strerror(errno));
		if (fgets(pass, sizeof(pass), f) == NULL)
			pass[0] = '\0';
		fclose(f);
		pass[strcspn(pass, "\r\n")] = '\0';
		if (pass[0] == '\0')
			die(EX_USAGE_, "%s: no password in its first line",
			    passfile);
	}

	strlcpy(server, argv[0], sizeof(server));
	split_hostport(server, &host, &port, etrn ? "25" : ATRN_PORT);
	if (tlsname == NULL)
		tlsname = host;
	memset(&p, 0, sizeof(p));
	session_open(&p, host, port, tls, cafile, tlsname, ext, sizeof(ext));
	if (strstr(ext, etrn ? "\nETRN\n" : "\nATRN\n") == NULL)
		die(EX_UNAVAIL_, "%s: %s is not offered", host,
		    etrn ? "ETRN" : "ATRN");
	if (login)
		session_auth(&p, host, login, pass);
	explicit_bzero(pass, sizeof(pass));
	if (etrn)
		return etrn_run(&p, host, domains);
	return atrn_run(&p, host, domains, local);
}

/* Connect, greeting, EHLO, STARTTLS as tls says, EHLO again. */
static void
session_open(struct peer *p, const char *host, const char *port,
    const char *tls, const char *cafile, const char *tlsname, char *ext,
    size_t extlen)
{
	SSL_CTX		*ctx;
	char		 text[ATRN_LINE];
	int		 verify = strcmp(tls, "verify") == 0;

	if ((p->fd = tcp_connect(host, port, "server")) == -1)
		exit(EX_TEMPFAIL_);
	if (peer_reply(p, text, sizeof(text), NULL, 0) != 220)
		die(EX_TEMPFAIL_, "%s: greeting: %s", host, text);
	peer_printf(p, "EHLO %s\r\n", tlsname);
	if (peer_reply(p, text, sizeof(text), ext, extlen) != 250)
		die(EX_UNAVAIL_, "%s: EHLO: %s", host, text);
	if (strcmp(tls, "none") == 0 || (strcmp(tls, "may") == 0 &&
	    strstr(ext, "\nSTARTTLS\n") == NULL))
		return;
	if (strstr(ext, "\nSTARTTLS\n") == NULL)
		die(EX_UNAVAIL_, "%s: no STARTTLS offered", host);
	peer_printf(p, "STARTTLS\r\n");
	if (peer_reply(p, text, sizeof(text), NULL, 0) != 220)
		die(EX_TEMPFAIL_, "%s: STARTTLS: %s", host, text);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		die(EX_TEMPFAIL_, "TLS: cannot set up");
	if (verify) {
		if ((cafile ? SSL_CTX_load_verify_locations(ctx, cafile,
		    NULL) : SSL_CTX_set_default_verify_paths(ctx)) != 1)
			die(EX_USAGE_, "TLS: cannot load CA certificates %s",
			    cafile ? cafile : "(system)");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if ((p->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(p->ssl, p->fd) != 1 ||
	    SSL_set_tlsext_host_name(p->ssl, tlsname) != 1 ||
	    (verify && SSL_set1_host(p->ssl, tlsname) != 1))
		die(EX_TEMPFAIL_, "TLS: cannot set up");
	if (SSL_connect(p->ssl) != 1) {
		long v = SSL_get_verify_result(p->ssl);

		die(EX_TEMPFAIL_, "%s: TLS handshake failed: %s", host,
		    v != X509_V_OK ? X509_verify_cert_error_string(v) :
		    ERR_reason_error_string(ERR_get_error()));
	}
	if (verbose)
		fprintf(stderr, "posthorn-atrn: TLS %s with %s%s\n",
		    SSL_get_version(p->ssl), host, verify ?
		    ", certificate verified" : "");
	/* Nothing read in the clear counts after the handshake. */
	p->inlen = 0;
	peer_printf(p, "EHLO %s\r\n", tlsname);
	if (peer_reply(p, text, sizeof(text), ext, extlen) != 250)
		die(EX_UNAVAIL_, "%s: EHLO: %s", host, text);
}

/* AUTH PLAIN: authzid NUL login NUL password (RFC 4616). */
static void
session_auth(struct peer *p, const char *host, const char *login,
    const char *pass)
{
	char	 plain[1100], b64[1500], text[ATRN_LINE];
	size_t	 ulen = strlen(login), plen = strlen(pass);
	int	 code;

	if (2 + ulen + plen > sizeof(plain))
		die(EX_USAGE_, "login or password too long");
	plain[0] = '\0';
	memcpy(plain + 1, login, ulen);
	plain[1 + ulen] = '\0';
	memcpy(plain + 2 + ulen, pass, plen);
	if (base64_encode((unsigned char *)plain, 2 + ulen + plen, b64,
	    sizeof(b64)) == -1)
		die(EX_USAGE_, "login or password too long");
	explicit_bzero(plain, sizeof(plain));
	peer_printf(p, "AUTH PLAIN %s\r\n", b64);
	explicit_bzero(b64, sizeof(b64));
	if ((code = peer_reply(p, text, sizeof(text), NULL, 0)) != 235)
		die(code >= 500 ? EX_NOPERM_ : EX_TEMPFAIL_, "%s: AUTH: %s",
		    host, text);
}

static int
atrn_run(struct peer *p, const char *host, const char *domains,
    char *local)
{
	const char	*lhost, *lport;
	char		 text[ATRN_LINE];
	int		 code, lfd;

	peer_printf(p, "ATRN%s%s\r\n", domains[0] ? " " : "", domains);
	code = peer_reply(p, text, sizeof(text), NULL, 0);
	if (code == 453) {
		if (verbose)
			fprintf(stderr, "posthorn-atrn: %s: %s\n", host, text);
		peer_printf(p, "QUIT\r\n");
		return EX_OK_;
	}
	if (code != 250)
		die(code >= 500 || code == 450 ? EX_NOPERM_ : EX_TEMPFAIL_,
		    "%s: ATRN: %s", host, text);
	if (verbose)
		fprintf(stderr, "posthorn-atrn: %s: %s\n", host, text);
	/*
	 * Reversed: the provider now waits for a greeting, which our smtpd
	 * gives.  Should our smtpd be down, the provider keeps the mail.
	 */
	split_hostport(local, &lhost, &lport, "25");
	if ((lfd = tcp_connect(lhost, lport, "local smtpd")) == -1)
		return EX_TEMPFAIL_;
	relay(p, lfd);
	if (p->ssl)
		(void)SSL_shutdown(p->ssl);
	close(p->fd);
	close(lfd);
	if (verbose)
		fprintf(stderr, "posthorn-atrn: session with %s ended\n", host);
	return EX_OK_;
}

/* ETRN (RFC 1985) for each domain; the first refusal decides the exit. */
static int
etrn_run(struct peer *p, const char *host, const char *domains)
{
	char		 text[ATRN_LINE], d[300];
	const char	*s = domains;
	size_t		 n;
	int		 code, status = EX_OK_;

	for (;;) {
		s += strspn(s, ", ");
		if (*s == '\0')
			break;
		n = strcspn(s, ", ");
		snprintf(d, sizeof(d), "%.*s", (int)n, s);
		s += n;
		peer_printf(p, "ETRN %s\r\n", d);
		code = peer_reply(p, text, sizeof(text), NULL, 0);
		/* 250, 251, 252, 253: started, or nothing waits. */
		printf("%s: %s: %s\n", host, d, text);
		if (code / 10 != 25 && status == EX_OK_)
			status = code == 459 || code >= 500 ? EX_NOPERM_ :
			    EX_TEMPFAIL_;
	}
	peer_printf(p, "QUIT\r\n");
	(void)peer_reply(p, text, sizeof(text), NULL, 0);
	return status;
}

static void
usage(void)
{
	fprintf(stderr, "usage: posthorn-atrn [-v] [-T verify|encrypt|none] "
	    "[-C cafile] [-H tls-name]\n\t-u login -p password-file "
	    "[-l local-host:port] server[:port] [domain[,domain...]]\n"
	    "       posthorn-atrn -e [-v] [-T verify|encrypt|may|none] "
	    "[-C cafile] [-H tls-name]\n\t[-u login -p password-file] "
	    "server[:port] domain|@domain|#queue[,...]\n");
	exit(EX_USAGE_);
}

static void
die(int status, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "posthorn-atrn: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(status);
}

/* "host:port", "[v6]:port", "host" (default port). */
static void
split_hostport(char *s, const char **host, const char **port,
    const char *def)
{
	char	*c;

	*port = def;
	if (s[0] == '[' && (c = strchr(s, ']')) != NULL) {
		*c = '\0';
		*host = s + 1;
		if (c[1] == ':')
			*port = c + 2;
		return;
	}
	*host = s;
	if ((c = strrchr(s, ':')) != NULL && strchr(s, ':') == c) {
		*c = '\0';
		*port = c + 1;
	}
}

static int
tcp_connect(const char *host, const char *port, const char *what)
{
	struct addrinfo	 hints, *res, *ai;
	struct timeval	 tv = { ATRN_TIMEOUT, 0 };
	int		 fd = -1, e, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "posthorn-atrn: %s %s: %s\n", what, host,
		    gai_strerror(e));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		fprintf(stderr, "posthorn-atrn: %s %s port %s: %s\n", what,
		    host, port, strerror(err));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static ssize_t
peer_read(struct peer *p, void *buf, size_t len)
{
	int	 n;

	if (p->ssl == NULL)
		return read(p->fd, buf, len);
	n = SSL_read(p->ssl, buf, (int)len);
	if (n > 0)
		return n;
	return SSL_get_error(p->ssl, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static int
peer_write(struct peer *p, const void *buf, size_t len)
{
	const char	*b = buf;
	ssize_t		 n;

	while (len > 0) {
		if (p->ssl)
			n = SSL_write(p->ssl, b, (int)len);
		else
			n = write(p->fd, b, len);
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
peer_printf(struct peer *p, const char *fmt, ...)
{
	char	 line[ATRN_LINE];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		die(EX_USAGE_, "command too long");
	if (verbose && strncmp(line, "AUTH ", 5) != 0)
		fprintf(stderr, ">>> %s", line);
	if (peer_write(p, line, (size_t)n) == -1)
		die(EX_TEMPFAIL_, "lost the server connection");
}

/*
 * One reply: its code, the last line's text; ext gets the lines' texts
 * each between newlines (EHLO keywords).  Bytes after it stay in p->in.
 */
static int
peer_reply(struct peer *p, char *text, size_t tlen, char *ext, size_t elen)
{
	char	*nl, line[ATRN_LINE];
	size_t	 len;
	ssize_t	 n;
	int	 code = 0;

	if (ext) {
		strlcpy(ext, "\n", elen);
	}
	for (;;) {
		while ((nl = memchr(p->in, '\n', p->inlen)) == NULL) {
			if (p->inlen == sizeof(p->in))
				die(EX_UNAVAIL_, "reply line too long");
			if ((n = peer_read(p, p->in + p->inlen,
			    sizeof(p->in) - p->inlen)) <= 0)
				die(EX_TEMPFAIL_, "lost the server connection");
			p->inlen += (size_t)n;
		}
		len = (size_t)(nl - p->in) + 1;
		snprintf(line, sizeof(line), "%.*s", (int)(len - 1), p->in);
		memmove(p->in, p->in + len, p->inlen - len);
		p->inlen -= len;
		line[strcspn(line, "\r")] = '\0';
		if (verbose)
			fprintf(stderr, "<<< %s\n", line);
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5')
			die(EX_UNAVAIL_, "bad reply: %s", line);
		code = atoi(line);
		strlcpy(text, line, tlen);
		if (ext && strlen(line) > 4) {
			/* Keywords in capitals, for matching. */
			char	*k = line + 4;

			for (; *k; k++)
				if (*k >= 'a' && *k <= 'z')
					*k -= 32;
			strlcat(ext, line + 4, elen);
			strlcat(ext, "\n", elen);
		}
		if (line[3] != '-')
			return code;
	}
}

static int
write_all(int fd, const char *b, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, b, len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Both ways until either side is through. */
static void
relay(struct peer *p, int lfd)
{
	struct pollfd	 pfd[2];
	char		 buf[16384];
	ssize_t		 n;

	/* Whatever came after the 250 is the provider's already. */
	if (p->inlen > 0 && write_all(lfd, p->in, p->inlen) == -1)
		return;
	p->inlen = 0;
	pfd[0].fd = p->fd;
	pfd[1].fd = lfd;
	pfd[0].events = pfd[1].events = POLLIN;
	for (;;) {
		if (!(p->ssl && SSL_pending(p->ssl) > 0) &&
		    poll(pfd, 2, ATRN_TIMEOUT * 1000) <= 0)
			return;
		if ((p->ssl && SSL_pending(p->ssl) > 0) ||
		    (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			if ((n = peer_read(p, buf, sizeof(buf))) <= 0)
				return;
			if (write_all(lfd, buf, (size_t)n) == -1)
				return;
			pfd[0].revents = 0;
			continue;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((n = read(lfd, buf, sizeof(buf))) <= 0 ||
			    peer_write(p, buf, (size_t)n) == -1)
				return;
		}
	}
}
