/* smtp: the relay agent's parts (SMTP and LMTP client). */
#ifndef POSTHORN_SMTP_H
#define POSTHORN_SMTP_H

#include <sys/socket.h>

#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include <netinet/in.h>

#include "agent.h"
#include "buf.h"
#include "conf.h"
#include "mtasts.h"

#define SMTP_MAX_HOSTS	16	/* MX hosts tried per delivery */
#define SMTP_MAX_ADDRS	8	/* addresses per host */
#define SMTP_LINE_MAX	4096	/* reply line we read at most */
/*
 * A reply longer than this many lines, or slower than the command's
 * timeout as a whole, is a hostile or broken server (compare OpenSMTPD's
 * CVE-2020-8794): the session is given up, not followed forever.
 */
#define SMTP_REPLY_LINES_MAX	1000

/* One host to try, with its addresses in the order to try them. */
struct smtp_host {
	char		 name[256];
	int		 pref;
	int		 secure;	/* its addresses DNSSEC-validated */
	size_t		 naddr;
	struct sockaddr_storage addr[SMTP_MAX_ADDRS];
};

struct smtp_dest {
	int		 lmtp;
	int		 unix_path;	/* LMTP over a UNIX socket */
	int		 configured;	/* a host named by the next hop, no MX */
	char		 domain[256];	/* the name looked up (MX or host) */
	int		 mx_secure;	/* the MX answer (or none) validated */
	char		 path[108];
	size_t		 nhost;
	struct smtp_host host[SMTP_MAX_HOSTS];
};

/* A result for every recipient: D, T or P, status, text. */
struct smtp_result {
	char	 code;		/* 0: no final word yet */
	char	 status[8];
	char	 text[1200];
	char	 relay[300];
};

struct smtp_conn {
	int		 fd;
	SSL		*ssl;
	struct buf	 in;
	char		 name[300];	/* host[addr]:port, for logs */
	char		 host[256];	/* the name we asked for (TLS checks) */
	long		 timeout;	/* seconds, for the next read */
	int		 closing;	/* the server said 421 */
	char		 verified[16];	/* "DANE-EE(3)", "DANE-TA(2)", "PKIX" */
	char		 ip[INET6_ADDRSTRLEN];	/* the server's address */
	long		 verify_error;	/* X509_V_* of a failed check */
	int		 dane_used;
};

struct smtp_reply {
	int	 code;
	char	 dsn[8];	/* the enhanced code, or one made from code */
	char	 text[1024];	/* all lines joined (for reports) */
	char	 lines[4096];	/* the texts, one per line (EHLO keywords) */
};

struct smtp_ext {
	int	 esmtp, pipelining, eightbit, smtputf8, dsn, chunking;
	int	 binarymime, starttls, enhanced, has_size, requiretls;
	int	 auth_plain, auth_login;
	long	 size;		/* 0: no limit */
};

/* dns.c */
int	 dns_init(const struct conf *, char *, size_t);
/*
 * 0 ok, -1 temporary (why, dsn set), -2 permanent (why, dsn set).  With
 * dnssec, mx_secure and each host's secure say what the resolver vouched
 * for (RFC 7672 2.2).
 */
int	 dns_dest(const struct conf *, const char *transport,
	    const char *nexthop, int dnssec, struct smtp_dest *, char *why,
	    size_t, char *dsn);
int	 dns_resolver_is_local(void);
int	 dns_host(const struct conf *, const char *name, int port,
	    struct smtp_host *, char *why, size_t);
int	 dns_lookup(const char *name, int type, unsigned char *, size_t,
	    int *herr, int dnssec, int *secure);

/* dane.c: RFC 7672 for one host. */
struct smtp_tlsa {
	uint8_t		 usage, selector, mtype;
	size_t		 len;
	unsigned char	 data[4096];
};
struct smtp_dane {
	char		 base[256];	/* TLSA base domain: the host name */
	size_t		 n;		/* usable records in rr */
	size_t		 nrecords;	/* all TLSA records found */
	struct smtp_tlsa *rr;
};
#define DANE_NONE	0	/* none, or not validated: as no DANE */
#define DANE_USABLE	1
#define DANE_UNUSABLE	2	/* only records DANE for SMTP cannot use */
#define DANE_FAIL	3	/* the lookup failed: not this host */
int	 dane_level(int policy, const struct smtp_dest *,
	    const struct smtp_host *, int port, struct smtp_dane *,
	    char *why, size_t);
int	 dane_apply(SSL *, const struct smtp_dane *);
const char *dane_matched(SSL *);
void	 dane_clear(struct smtp_dane *);

/* sts.c: MTA-STS (RFC 8461) */
struct smtp_sts {
	int			 active;	/* testing or enforce */
	struct mtasts_policy	 pol;
	char			 id[33];
	char			*text;		/* for the TLS reports */
	char			 domain[256];
};
struct smtp_job;
void	 sts_lookup(struct smtp_job *, SSL_CTX *, const char *domain);
void	 sts_clear(struct smtp_sts *);

/* report.c: to tlspol (MTA-STS cache, TLS reports of RFC 8460) */
#define REPORT_NONE	0
#define REPORT_TLSA	1
#define REPORT_STS	2
void	 report_policy(const char *domain, const char *id, const char *text);
struct smtp_conn;
void	 report_session(const struct smtp_job *, const struct smtp_conn *,
	    const char *mx, const char *result, const char *info);
const char *report_verify_result(const struct smtp_conn *);

/* requiretls.c: RFC 8689 */
struct smtp_job;
int	 requiretls_tls_optional(int qfd, off_t content_off);
int	 requiretls_host(struct smtp_job *, const struct smtp_dest *,
	    const struct smtp_host *, char *why, size_t, char *dsn);
void	 requiretls_fail(struct smtp_job *, const char *why, const char *dsn);
void	 requiretls_result(struct smtp_job *, char *why, size_t, char *dsn);

/* https.c: the MTA-STS policy fetch; webpki set when the certificate
 * was the trouble. */
int	 https_get(const struct conf *, SSL_CTX *, const char *host,
	    const char *path, struct buf *body, char *why, size_t,
	    int *webpki);

/* self.c: our own SMTP service's addresses (MX loop detection). */
int	 self_init(const struct conf *, char *, size_t);
int	 self_is_me(const struct sockaddr_storage *);

/* io.c */
int	 conn_open(struct smtp_conn *, const struct sockaddr_storage *,
	    const char *name, int port, long timeout, char *why, size_t);
void	 conn_adopt(struct smtp_conn *, int fd, const char *name, long);
int	 conn_open_unix(struct smtp_conn *, const char *path, long timeout,
	    char *why, size_t);
/* The system's CAs are still to be loaded into the context (io.c). */
extern int	 tls_system_cas_pending;
/*
 * verify: the certificate must check out (against dane when it has usable
 * records, else against the CAs and the host name); VERIFY_CHECK: it is
 * checked, and c->verified or c->verify_error say how it went, but the
 * session goes on either way (MTA-STS testing).
 */
#define VERIFY_CHECK	2
int	 conn_starttls(struct smtp_conn *, SSL_CTX *, const char *sni,
	    int verify, const struct smtp_dane *dane, char *why, size_t);
int	 conn_write(struct smtp_conn *, const void *, size_t);
ssize_t	 conn_read(struct smtp_conn *, void *, size_t);
int	 conn_printf(struct smtp_conn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 conn_reply(struct smtp_conn *, struct smtp_reply *);
void	 conn_close(struct smtp_conn *);

/* client.c: one conversation, results for every recipient of the job. */
struct smtp_job {
	struct agent_job *a;
	const struct conf *conf;
	SSL_CTX		*tls;
	struct smtp_result *res;	/* one per recipient */
	long		 size;		/* of the content, as sent */
	int		 lmtp;
	int		 no_tls;	/* STARTTLS failed here once: not again */
	int		 tls_failed;
	int		 dsn;		/* the server offers DSN */
	int		 tls_level;	/* TLS_LEVEL_* for this destination */
	int		 host_level;	/* what tls_level means for this host */
	struct smtp_dane dane;		/* its TLSA records, under dane */
	int		 requiretls;	/* REQUIRETLS (RFC 8689) */
	int		 mx_secure;	/* the server came from a secure MX */
	struct smtp_sts	 sts;		/* the domain's MTA-STS policy */
	int		 sts_check;	/* testing: check, report, go on */
	int		 report;	/* REPORT_*: this host's policy */
	char		 report_domain[256];
	int		 tls_optional;	/* "TLS-Required: No" */
	int		 rtls_fail;	/* this attempt failed REQUIRETLS */
	int		 other_fail;	/* an attempt failed for another reason */
	char		 rtls_why[512];	/* the last REQUIRETLS failure */
	char		 rtls_dsn[8];
	char		*sasl_user;	/* client AUTH, when the map says so */
	char		*sasl_pass;
};
/*
 * -1: no final word here, try the next server (why, dsn set); else every
 * recipient has one, and 1 says the session may carry another message.
 */
int	 client_deliver(struct smtp_job *, struct smtp_conn *,
	    struct smtp_ext *, char *why, size_t, char *dsn);
int	 client_open(struct smtp_job *, struct smtp_conn *, struct smtp_ext *,
	    char *why, size_t, char *dsn);
int	 client_send(struct smtp_job *, struct smtp_conn *,
	    const struct smtp_ext *);
int	 client_reset(struct smtp_conn *, long timeout);
void	 client_quit(struct smtp_conn *);

/*
 * A session kept open after a job, for the next job qmgr sends on the
 * same channel to the same transport and next hop (with the same TLS
 * level and login), within smtp_connection_reuse_time_limit.
 */
struct smtp_session {
	int		 open;
	struct smtp_conn c;
	struct smtp_ext	 ext;
	char		 transport[8];
	char		 nexthop[256];
	int		 tls_level;
	int		 secure_mx;	/* found through a validated MX answer */
	int		 tls_optional;	/* opened for a "TLS-Required: No" job */
	char		 login[256];
	char		 password[256];	/* a new password: a new session */
	time_t		 since;
	long		 uses;		/* messages it carried */
};

#endif
