/*
 * smtp: the relay agent.  master keeps a few waiting on private/relay;
 * qmgr connects once per job (one message, one transport and next hop)
 * and passes the queue file read-only.  The agent finds the servers
 * (dns.c), tries them in order until one gives a final word on every
 * recipient (client.c), and reports a result per recipient.  It needs no
 * privileges and holds no secrets.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <bsd/string.h>

#include "agent.h"
#include "log.h"
#include "map.h"
#include "proto.h"
#include "queuefile.h"
#include "service.h"
#include "sock.h"
#include "smtp.h"
#include "tlscert.h"

#define Q_OWNER_DIR	"active"	/* owned by the qmgr user */
#define SMTP_RSET_TIMEOUT 20	/* seconds for a kept session's RSET */

struct smtp_ctx {
	struct service	*svc;
	SSL_CTX		*tls;
};

static struct map *tls_policy, *sasl_passwords;

static void	 smtp_conn(int, void *);
static int	 smtp_policy(struct smtp_job *, const char *nexthop, char *,
		    size_t);
static int	 smtp_host_policy(struct smtp_job *, const struct smtp_dest *,
		    const struct smtp_host *, int *, char *, size_t, char *);
static int	 smtp_serve(struct service *, SSL_CTX *, int,
		    struct smtp_session *);
static void	 smtp_run(struct smtp_job *, struct smtp_session *, char *,
		    size_t, char *);
static int	 smtp_session_usable(const struct smtp_session *,
		    const struct conf *);
static void	 smtp_session_end(struct smtp_session *);
static void	 smtp_session_drop(struct smtp_session *);
static void	 smtp_session_keep(struct smtp_session *, struct smtp_job *,
		    struct smtp_conn *, const struct smtp_ext *, const char *);
static int	 smtp_session_use(struct smtp_session *, struct smtp_job *,
		    const char *);
static void	 smtp_odmr(struct smtp_job *, struct smtp_session *, char *,
		    size_t, char *);
static void	 smtp_finish(struct smtp_session *, struct smtp_job *,
		    struct smtp_conn *, const struct smtp_ext *, const char *,
		    int);
static long	 smtp_size(int, off_t, int);

int
main(int argc, char **argv)
{
	/* Static: reachable to the end, so that valgrind tells leaks apart. */
	static struct service	 svc;
	static struct smtp_ctx	 sctx;
	struct stat	 st;
	SSL_CTX		*tls;
	uid_t		 queue_uid;
	char		 err[512];

	service_init(&svc, argc, argv, "smtp");
	if (dns_init(&svc.conf, err, sizeof(err)) == -1 ||
	    self_init(&svc.conf, err, sizeof(err)) == -1)
		log_fatalx("%s", err);
	if (conf_tls_level(svc.conf.smtp_tls_security_level) >=
	    TLS_LEVEL_DANE && !dns_resolver_is_local())
		log_warnx("DNSSEC is trusted only from a resolver on this host, "
		    "and %s is not: no answer counts as validated, so DANE "
		    "never applies", svc.conf.dns_resolver[0] ?
		    svc.conf.dns_resolver : "one of /etc/resolv.conf's");
	if (stat(Q_OWNER_DIR, &st) == -1)
		log_fatal("stat %s", Q_OWNER_DIR);
	queue_uid = st.st_uid;
	/* Opportunistic TLS: encrypt, never verify (that is for later). */
	if ((tls = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION) != 1)
		log_fatalx("TLS: %s", tls_error());
	/* Verification is judged after the handshake (io.c), per policy. */
	SSL_CTX_set_verify(tls, SSL_VERIFY_NONE, NULL);
	/*
	 * smtp_tls_CAfile may be root's alone: read it now.  The system's
	 * CAs are public and cost tens of milliseconds of CPU per process;
	 * io.c loads them at the first handshake that verifies.
	 */
	if (svc.conf.smtp_tls_CAfile[0] && SSL_CTX_load_verify_locations(tls,
	    svc.conf.smtp_tls_CAfile, NULL) != 1)
		log_warnx("TLS: no trusted CA certificates (%s): %s",
		    svc.conf.smtp_tls_CAfile, tls_error());
	tls_system_cas_pending = svc.conf.smtp_tls_CAfile[0] == '\0';
	if (svc.conf.smtp_tls_policy_map[0] && (tls_policy = map_open(
	    svc.conf.smtp_tls_policy_map, err, sizeof(err))) == NULL)
		log_fatalx("smtp_tls_policy_map: %s", err);
	if (svc.conf.smtp_sasl_password_map[0] && (sasl_passwords = map_open(
	    svc.conf.smtp_sasl_password_map, err, sizeof(err))) == NULL)
		log_fatalx("smtp_sasl_password_map: %s", err);
	SSL_CTX_set_mode(tls, SSL_MODE_AUTO_RETRY);
	/* DANE (RFC 7672) is per session; the context only allows it. */
	if (SSL_CTX_dane_enable(tls) <= 0)
		log_fatalx("TLS: DANE: %s", tls_error());
	service_drop(&svc);
	service_sandbox(&svc, SANDBOX_READ_ONLY);

	sctx.svc = &svc;
	sctx.tls = tls;
	agent_loop(&svc, queue_uid, smtp_conn, &sctx);
	return 0;
}

/*
 * A channel from qmgr (agent_loop): a job, and while the server session
 * stays open, the next jobs qmgr sends for the same destination.
 */
static void
smtp_conn(int fd, void *arg)
{
	struct smtp_ctx	*x = arg;
	struct smtp_session sess;
	struct pollfd	 pfd;
	long		 wait = x->svc->conf.smtp_connection_cache_time_limit;

	memset(&sess, 0, sizeof(sess));
	while (smtp_serve(x->svc, x->tls, fd, &sess) == 0 && sess.open) {
		/* qmgr closes an idle channel first; this is a safety net. */
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (strcmp(sess.transport, "odmr") == 0)
			wait = ODMR_IDLE_TIME;
		if (poll(&pfd, 1, (int)(wait + 5) * 1000) <= 0)
			break;
	}
	smtp_session_end(&sess);
}

/* One job: -1 when there was none to read. */
static int
smtp_serve(struct service *svc, SSL_CTX *tls, int fd,
    struct smtp_session *sess)
{
	struct agent_job a;
	struct smtp_job	 sj;
	struct timeval	 tv = { 60, 0 };
	char		 why[1024], dsn[8], body[32];
	size_t		 i;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (agent_read_job(fd, &a) == -1 || !agent_peer_alive(fd, a.id)) {
		agent_free_job(&a);
		return -1;
	}
	memset(&sj, 0, sizeof(sj));
	sj.a = &a;
	sj.conf = &svc->conf;
	sj.tls = tls;
	sj.lmtp = strcmp(a.transport, "lmtp") == 0;
	body[0] = '\0';
	(void)qf_param(a.params, "BODY", body, sizeof(body));
	sj.requiretls = qf_param(a.params, "REQUIRETLS", NULL, 0);
	/* REQUIRETLS wins over the header (RFC 8689 4.1). */
	sj.tls_optional = !sj.requiretls && !sj.lmtp &&
	    requiretls_tls_optional(a.qfd, a.content_off);
	sj.size = smtp_size(a.qfd, a.content_off,
	    strcasecmp(body, "BINARYMIME") == 0);
	if ((sj.res = calloc(a.n + 1, sizeof(*sj.res))) == NULL) {
		log_warn("%s: out of memory", a.id);
		agent_free_job(&a);
		return -1;
	}
	why[0] = '\0';
	strlcpy(dsn, "4.4.1", sizeof(dsn));
	smtp_run(&sj, sess, why, sizeof(why), dsn);
	for (i = 0; i < a.n; i++) {
		struct smtp_result *r = &sj.res[i];

		if (r->code == 0) {
			/* No server gave a final word: try again later. */
			r->code = dsn[0] == '5' ? 'P' : 'T';
			strlcpy(r->status, dsn, sizeof(r->status));
			strlcpy(r->text, why[0] ? why : "no server to try",
			    sizeof(r->text));
			strlcpy(r->relay, "none", sizeof(r->relay));
		}
		if (agent_status(fd, a.index[i], r->code, r->status, r->text,
		    r->relay) == -1) {
			log_warn("%s: write result", a.id);
			break;
		}
	}
	if (sess->open && !smtp_session_usable(sess, &svc->conf))
		smtp_session_end(sess);
	/* Let go of the queue file before "done" (queue/recycle.c). */
	if (a.qfd != -1)
		close(a.qfd);
	a.qfd = -1;
	if (agent_done(fd, sess->open) == -1) {
		log_warn("%s: write done", a.id);
		smtp_session_end(sess);
	}
	free(sj.res);
	dane_clear(&sj.dane);
	sts_clear(&sj.sts);
	if (sj.sasl_pass)
		explicit_bzero(sj.sasl_pass, strlen(sj.sasl_pass));
	free(sj.sasl_user);
	free(sj.sasl_pass);
	agent_free_job(&a);
	return 0;
}

/* May the session carry one more message (the reuse limits)? */
static int
smtp_session_usable(const struct smtp_session *s, const struct conf *cf)
{
	/* An ODMR session lasts as long as qmgr has mail for it. */
	if (strcmp(s->transport, "odmr") == 0)
		return s->open && !s->c.closing;
	return s->open && !s->c.closing &&
	    cf->smtp_connection_cache_time_limit > 0 &&
	    time(NULL) - s->since < cf->smtp_connection_reuse_time_limit &&
	    (cf->smtp_connection_reuse_count_limit == 0 ||
	    s->uses < cf->smtp_connection_reuse_count_limit);
}

static void
smtp_session_end(struct smtp_session *s)
{
	if (!s->open)
		return;
	client_quit(&s->c);
	smtp_session_drop(s);
}

/* Close without a word (the session is lost). */
static void
smtp_session_drop(struct smtp_session *s)
{
	conn_close(&s->c);
	explicit_bzero(s->password, sizeof(s->password));
	s->open = 0;
}

/* Keep a session that just carried its first message. */
static void
smtp_session_keep(struct smtp_session *s, struct smtp_job *sj,
    struct smtp_conn *c, const struct smtp_ext *ext, const char *nexthop)
{
	s->c = *c;
	s->ext = *ext;
	strlcpy(s->transport, sj->a->transport, sizeof(s->transport));
	strlcpy(s->nexthop, nexthop, sizeof(s->nexthop));
	s->tls_level = sj->tls_level;
	s->secure_mx = sj->mx_secure;
	s->tls_optional = sj->tls_optional;
	strlcpy(s->login, sj->sasl_user ? sj->sasl_user : "",
	    sizeof(s->login));
	strlcpy(s->password, sj->sasl_pass ? sj->sasl_pass : "",
	    sizeof(s->password));
	s->since = time(NULL);
	s->uses = 1;
	s->open = 1;
}

/*
 * The kept session, when it goes where this job goes under the same
 * policy and answers RSET: 0 with every recipient's result, else -1
 * (the session is gone; the job takes the usual way).
 */
static int
smtp_session_use(struct smtp_session *s, struct smtp_job *sj,
    const char *nexthop)
{
	const char	*login = sj->sasl_user ? sj->sasl_user : "";
	const char	*password = sj->sasl_pass ? sj->sasl_pass : "";
	long		 t = sj->conf->smtp_command_timeout;

	if (!s->open)
		return -1;
	if (strcmp(s->transport, sj->a->transport) != 0 ||
	    strcasecmp(s->nexthop, nexthop) != 0 ||
	    s->tls_level != sj->tls_level || strcmp(s->login, login) != 0 ||
	    strcmp(s->password, password) != 0 ||
	    s->tls_optional != sj->tls_optional || (sj->requiretls &&
	    strcmp(s->transport, "odmr") != 0 && (!s->secure_mx ||
	    !s->c.verified[0] || !s->ext.requiretls))) {
		smtp_session_end(s);
		return -1;
	}
	if (client_reset(&s->c, t < SMTP_RSET_TIMEOUT ? t :
	    SMTP_RSET_TIMEOUT) == -1) {
		log_info("%s: cached connection to %s is gone; connecting "
		    "again", sj->a->id, s->c.name);
		smtp_session_drop(s);
		return -1;
	}
	s->uses++;
	log_info("%s: reusing the connection to %s (message %ld on it)",
	    sj->a->id, s->c.name, s->uses);
	if (client_send(sj, &s->c, &s->ext) == 0)
		smtp_session_drop(s);
	return 0;
}

/*
 * This next hop's TLS level (smtp_tls_policy_map, else
 * smtp_tls_security_level) and AUTH credentials (smtp_sasl_password_map:
 * "user:password"), both looked up by the next hop as written.
 */
static int
smtp_policy(struct smtp_job *sj, const char *nexthop, char *why,
    size_t whylen)
{
	const char	*val;
	char		 err[512], *colon;
	int		 lvl, r;

	sj->tls_level = conf_tls_level(sj->conf->smtp_tls_security_level);
	/* A map that cannot be read defers: never a silent "may". */
	if (tls_policy) {
		if (map_refresh(tls_policy, err, sizeof(err)) == -1)
			log_warnx("%s (keeping the old contents)", err);
		if ((r = map_get(tls_policy, nexthop, &val, err,
		    sizeof(err))) == -1) {
			log_warnx("%s", err);
			snprintf(why, whylen, "smtp_tls_policy_map lookup "
			    "failed");
			return -1;
		}
		if (r == 1) {
			if ((lvl = conf_tls_level(val)) == -1)
				log_warnx("smtp_tls_policy_map: '%s' for %s is "
				    "not none, may, encrypt, verify, dane or "
				    "dane-only; using "
				    "encrypt", val, nexthop);
			sj->tls_level = lvl == -1 ? TLS_LEVEL_ENCRYPT : lvl;
		}
	}
	if (sasl_passwords) {
		if (map_refresh(sasl_passwords, err, sizeof(err)) == -1)
			log_warnx("%s (keeping the old contents)", err);
		if ((r = map_get(sasl_passwords, nexthop, &val, err,
		    sizeof(err))) == -1) {
			log_warnx("%s", err);
			snprintf(why, whylen, "smtp_sasl_password_map lookup "
			    "failed");
			return -1;
		}
		if (r == 1 && (colon = strchr(val, ':')) != NULL) {
			sj->sasl_user = strndup(val, (size_t)(colon - val));
			sj->sasl_pass = strdup(colon + 1);
		} else if (r == 1)
			log_warnx("smtp_sasl_password_map: the entry for %s is "
			    "not user:password; ignored", nexthop);
	}
	return 0;
}

/*
 * Which policy this host is held to, for the TLS reports, and what
 * MTA-STS asks where DANE does not apply (DANE wins, RFC 8461 2): under
 * enforce, a host outside the policy's mx patterns is not tried, and the
 * others need verified TLS; under testing, the certificate is checked
 * and the outcome reported, and nothing is refused.  -1: skip the host.
 */
static int
smtp_host_policy(struct smtp_job *sj, const struct smtp_dest *d,
    const struct smtp_host *h, int *level, char *why, size_t whylen,
    char *dsn)
{
	sj->report = REPORT_NONE;
	sj->sts_check = 0;
	if (mtasts_domain_key(d->domain, sj->report_domain,
	    sizeof(sj->report_domain)) == -1)
		sj->report_domain[0] = '\0';
	if (sj->dane.n > 0 && *level == TLS_LEVEL_VERIFY) {
		sj->report = sj->report_domain[0] ? REPORT_TLSA : REPORT_NONE;
		return 0;
	}
	if (!sj->sts.active)
		return 0;
	sj->report = REPORT_STS;
	strlcpy(sj->report_domain, sj->sts.domain, sizeof(sj->report_domain));
	if (!mtasts_mx_match(&sj->sts.pol, h->name)) {
		report_session(sj, NULL, h->name, "validation-failure",
		    "the MX host is not in the policy");
		if (sj->sts.pol.mode != MTASTS_ENFORCE) {
			log_info("%s: MX host %s is not in the MTA-STS policy "
			    "of %s (mode testing: tried all the same)",
			    sj->a->id, h->name, sj->sts.domain);
			return 0;
		}
		snprintf(why, whylen, "MX host %s is not in the MTA-STS policy "
		    "of %s (mode enforce)", h->name, sj->sts.domain);
		log_info("%s: %s", sj->a->id, why);
		strlcpy(dsn, "4.7.5", 8);
		sj->other_fail = 1;
		return -1;
	}
	if (sj->sts.pol.mode == MTASTS_ENFORCE) {
		dane_clear(&sj->dane);
		*level = TLS_LEVEL_VERIFY;
	} else if (*level != TLS_LEVEL_VERIFY)
		sj->sts_check = 1;
	return 0;
}

static int
smtp_port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ?
	    ((const struct sockaddr_in *)ss)->sin_port :
	    ((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Every server in turn until one has the last word on every recipient. */
static void
smtp_run(struct smtp_job *sj, struct smtp_session *sess, char *why,
    size_t whylen, char *dsn)
{
	struct smtp_dest *d;
	struct smtp_conn c;
	struct smtp_ext	 ext;
	const char	*nexthop = sj->a->nexthop;
	char		 domain[256];
	const char	*at;
	size_t		 h, k;
	int		 rc, port, tries, dnssec, level;
	time_t		 start = time(NULL);

	if (strcmp(sj->a->transport, "odmr") == 0) {
		smtp_odmr(sj, sess, why, whylen, dsn);
		return;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return;
	}
	if (nexthop[0] == '\0' && sj->a->n > 0) {
		at = strrchr(sj->a->rcpt[0], '@');
		strlcpy(domain, at ? at + 1 : "", sizeof(domain));
		nexthop = domain;
	}
	if (smtp_policy(sj, nexthop, why, whylen) == -1) {
		strlcpy(dsn, "4.3.0", 8);
		free(d);
		smtp_session_end(sess);
		return;
	}
	if (smtp_session_use(sess, sj, nexthop) == 0) {
		free(d);
		return;
	}
	/* "TLS-Required: No" sets the recipient's DANE aside (RFC 8689 4.3). */
	if (sj->tls_optional && sj->tls_level >= TLS_LEVEL_DANE) {
		log_info("%s: TLS-Required: No; policy %s taken as may",
		    sj->a->id, conf_tls_level_name(sj->tls_level));
		sj->tls_level = TLS_LEVEL_MAY;
	}
	dnssec = sj->tls_level >= TLS_LEVEL_DANE || sj->requiretls;
	rc = dns_dest(sj->conf, sj->a->transport, nexthop, dnssec, d, why,
	    whylen, dsn);
	if (rc < 0) {
		free(d);
		return;
	}
	sj->mx_secure = d->mx_secure;
	if (d->unix_path) {
		/* A local socket: TLS levels do not apply. */
		sj->tls_level = sj->host_level = TLS_LEVEL_NONE;
		if (conn_open_unix(&c, d->path, sj->conf->smtp_connect_timeout,
		    why, whylen) == 0)
			smtp_finish(sess, sj, &c, &ext, nexthop,
			    client_deliver(sj, &c, &ext, why, whylen, dsn));
		free(d);
		return;
	}
	/* MTA-STS for a domain's MX hosts, where a level leaves room for it. */
	if (!d->configured && sj->conf->smtp_mta_sts && !sj->tls_optional &&
	    sj->tls_level != TLS_LEVEL_NONE &&
	    sj->tls_level != TLS_LEVEL_DANE_ONLY)
		sts_lookup(sj, sj->tls, d->domain);
	strlcpy(dsn, "4.4.1", 8);
	for (h = 0; h < d->nhost; h++) {
		level = sj->tls_level;
		/* REQUIRETLS takes DANE where there is DANE, whatever the level. */
		if (dnssec && d->host[h].naddr > 0 && (level = dane_level(
		    sj->tls_level >= TLS_LEVEL_DANE ? sj->tls_level :
		    TLS_LEVEL_DANE, d, &d->host[h], smtp_port_of(&d->host[h].
		    addr[0]), &sj->dane, why, whylen)) == -1) {
			log_info("%s: %s", sj->a->id, why);
			strlcpy(dsn, "4.7.5", 8);
			sj->other_fail = 1;
			continue;
		}
		if (dnssec && sj->tls_level < TLS_LEVEL_DANE && level !=
		    TLS_LEVEL_VERIFY)
			level = sj->tls_level;	/* no DANE: the level itself */
		if (smtp_host_policy(sj, d, &d->host[h], &level, why, whylen,
		    dsn) == -1)
			continue;
		sj->host_level = level;
		if (sj->requiretls && requiretls_host(sj, d, &d->host[h], why,
		    whylen, dsn) == -1) {
			log_info("%s: %s", sj->a->id, why);
			continue;
		}
		for (k = 0; k < d->host[h].naddr; k++) {
			port = smtp_port_of(&d->host[h].addr[k]);
			sj->no_tls = 0;
			/*
			 * qmgr gives up on a job after local_timeout and would
			 * retry it: no new attempt that could outlast that.
			 */
			if (time(NULL) - start > sj->conf->local_timeout -
			    sj->conf->smtp_data_done_timeout -
			    sj->conf->smtp_connect_timeout) {
				snprintf(why, whylen, "no time left for more "
				    "servers in this attempt (local_timeout)");
				strlcpy(dsn, "4.4.1", 8);
				free(d);
				return;
			}
			for (tries = 0; tries < 2; tries++) {
				if (conn_open(&c, &d->host[h].addr[k],
				    d->host[h].name, port,
				    sj->conf->smtp_connect_timeout, why,
				    whylen) == -1) {
					strlcpy(dsn, "4.4.1", 8);
					sj->other_fail = 1;
					break;
				}
				sj->tls_failed = 0;
				sj->rtls_fail = 0;
				rc = client_deliver(sj, &c, &ext, why, whylen,
				    dsn);
				smtp_finish(sess, sj, &c, &ext, nexthop, rc);
				if (rc >= 0) {
					free(d);
					return;
				}
				if (!sj->rtls_fail)
					sj->other_fail = 1;
				/* Opportunistic TLS that fails: once more, in the
				 * clear, as a server without STARTTLS would be. */
				if (!sj->tls_failed)
					break;
				log_info("%s: %s; trying %s again without TLS",
				    sj->a->id, why, c.name);
				sj->no_tls = 1;
			}
		}
	}
	requiretls_result(sj, why, whylen, dsn);
	free(d);
}

/*
 * ODMR (RFC 2645): the customer's connection comes with the session's
 * first job, already protected by the TLS that smtpd speaks with the
 * customer; its next jobs go down the same connection.  There is no other
 * server to try: a session that is gone leaves the mail for the next ATRN.
 */
static void
smtp_odmr(struct smtp_job *sj, struct smtp_session *sess, char *why,
    size_t whylen, char *dsn)
{
	struct smtp_conn c;
	struct smtp_ext	 ext;
	char		 name[300];

	sj->tls_level = sj->host_level = TLS_LEVEL_NONE;
	if (smtp_session_use(sess, sj, sj->a->nexthop) == 0)
		return;
	strlcpy(dsn, "4.4.2", 8);
	if (sj->a->conn_fd == -1) {
		snprintf(why, whylen, "the ODMR connection of %s is gone",
		    sj->a->nexthop);
		return;
	}
	snprintf(name, sizeof(name), "odmr:%s", sj->a->nexthop);
	conn_adopt(&c, sj->a->conn_fd, name, sj->conf->smtp_command_timeout);
	sj->a->conn_fd = -1;
	(void)sock_blocking(c.fd);
	smtp_finish(sess, sj, &c, &ext, sj->a->nexthop,
	    client_deliver(sj, &c, &ext, why, whylen, dsn));
}

/* After a fresh session's job: keep it for the next job, or close it. */
static void
smtp_finish(struct smtp_session *sess, struct smtp_job *sj,
    struct smtp_conn *c, const struct smtp_ext *ext, const char *nexthop,
    int rc)
{
	if (rc == 1 && (sj->conf->smtp_connection_cache_time_limit > 0 ||
	    strcmp(sj->a->transport, "odmr") == 0)) {
		smtp_session_keep(sess, sj, c, ext, nexthop);
		return;
	}
	if (rc >= 0)
		client_quit(c);
	conn_close(c);
}

/* The message as sent: every LF becomes CRLF (binary is sent as is). */
static long
smtp_size(int qfd, off_t off, int binary)
{
	char	 chunk[QF_CHUNK];
	ssize_t	 n, k;
	long	 size = 0;

	while ((n = qf_read_content(qfd, &off, chunk, sizeof(chunk))) > 0) {
		size += n;
		for (k = 0; k < n && !binary; k++)
			if (chunk[k] == '\n')
				size++;
	}
	return size;
}
