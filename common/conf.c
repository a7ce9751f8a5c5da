/*
 * conf: parser for posthorn.conf.  Every key is declared in one table with
 * its type and default; an unknown key or a bad value is an error that
 * names file and line, so a typo never silently falls back to a default.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "cidr.h"
#include "conf.h"
#include "dkimkeys.h"
#include "milter.h"
#include "mtasts.h"
#include "sock.h"

static int
conf_dkim_nop(const char *d, const char *s, const char *p, void *a)
{
	(void)d;
	(void)s;
	(void)p;
	(void)a;
	return 0;
}

#ifndef DAEMON_DIR
#define DAEMON_DIR	"/usr/local/libexec/posthorn"
#endif

enum conf_type { CT_STR, CT_INT, CT_SIZE, CT_TIME, CT_BOOL };

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;
	const char	*def;
	long		 min;
};

#define S(f, d)		{ #f, CT_STR, offsetof(struct conf, f), d, 0 }
#define N(f, d, m)	{ #f, CT_INT, offsetof(struct conf, f), d, m }
#define Z(f, d, m)	{ #f, CT_SIZE, offsetof(struct conf, f), d, m }
#define T(f, d, m)	{ #f, CT_TIME, offsetof(struct conf, f), d, m }
#define B(f, d)		{ #f, CT_BOOL, offsetof(struct conf, f), d, 0 }

static const struct conf_key conf_keys[] = {
	S(queue_directory, "/var/spool/posthorn"),
	S(daemon_directory, DAEMON_DIR),
	S(daemon_wrapper, ""),
	S(myhostname, ""),
	S(myorigin, ""),
	S(submit_trusted_users, "root"),
	S(mail_group, "posthorn"),
	S(queue_admin_group, "root"),
	S(setgid_group, "posthorn-drop"),
	S(local_domains, "localhost"),
	S(alias_map, ""),
	S(virtual_mailbox_map, ""),
	S(virtual_mailbox_base, ""),
	S(virtual_mailbox_domains, ""),
	S(virtual_alias_map, ""),
	S(virtual_alias_domains, ""),
	S(relay_recipient_map, ""),
	S(transport_map, ""),
	S(smtpd_client_access, ""),
	S(smtpd_sender_access, ""),
	S(smtpd_recipient_access, ""),
	S(virtual_user, "posthorn-vmail"),
	S(recipient_delimiter, "+"),
	S(home_mailbox, ""),
	S(mail_spool_directory, "/var/mail"),
	S(default_privs, "nobody"),
	S(allow_mail_to_commands, "alias, forward"),
	S(allow_mail_to_files, "alias, forward"),
	B(deliver_to_system_accounts, "yes"),
	T(command_time_limit, "1000s", 1),
	Z(mailbox_size_limit, "51200000", 0),
	B(maildir_directory_sync, "no"),
	S(smtpd_banner, "ESMTP posthorn"),
	S(mynetworks, "127.0.0.0/8, [::1]/128"),
	S(relay_domains, ""),
	S(smtpd_etrn_clients, "mynetworks, authenticated"),
	S(etrn_domains, ""),
	S(smtpd_etrn_rate_limit, "10/1m"),
	B(odmr_service, "no"),
	B(seccomp_filter, "yes"),
	S(odmr_domain_map, ""),
	B(smtpd_enable_vrfy, "no"),
	B(smtpd_enable_expn, "no"),
	B(smtpd_add_missing_headers, "no"),
	B(smtputf8_enable, "yes"),
	T(smtpd_greet_pause, "0s", 0),
	N(smtpd_client_connection_limit, "50", 0),
	N(smtpd_text_line_limit, "1000", 100),
	N(hopcount_limit, "50", 1),
	Z(queue_minfree, "0", 0),
	B(queue_directory_sync, "no"),
	N(queue_commit_threads, "8", 1),
	N(queue_file_recycle_limit, "1000", 0),
	Z(queue_file_recycle_size, "262144", 0),
	Z(message_size_limit, "10240000", 1024),
	N(smtpd_recipient_limit, "1000", 1),
	N(smtpd_command_line_limit, "512", 512),
	N(smtpd_client_limit, "1000", 1),
	N(smtpd_error_limit, "20", 1),
	T(smtpd_timeout, "300s", 1),
	T(smtpd_data_timeout, "600s", 1),
	N(smtpd_min_data_rate, "500", 0),
	N(smtpd_qmgr_idle_channels, "64", 0),
	S(smtpd_upstream_proxy_protocol, ""),
	S(smtpd_milters, ""),
	S(dkim_signing_keys, ""),
	S(dkim_canonicalization, "relaxed/relaxed"),
	S(dkim_sign_headers, "From, Reply-To, Subject, Date, To, Cc, "
	    "Message-ID, In-Reply-To, References, MIME-Version, "
	    "Content-Type, Content-Transfer-Encoding"),
	S(milter_default_action, "tempfail"),
	T(milter_connect_timeout, "30s", 1),
	T(milter_command_timeout, "30s", 1),
	T(milter_content_timeout, "300s", 1),
	T(smtpd_upstream_proxy_timeout, "5s", 1),
	N(local_concurrency_limit, "10", 1),
	N(local_worker_limit, "8", 1),
	N(local_worker_max_use, "100", 1),
	T(local_worker_idle_time, "10s", 1),
	Z(bounce_size_limit, "50000", 0),
	B(notify_double_bounce, "yes"),
	T(delay_warning_time, "4h", 0),
	T(minimal_backoff_time, "300s", 1),
	T(maximal_backoff_time, "4000s", 1),
	T(maximal_queue_lifetime, "5d", 0),
	T(queue_run_delay, "300s", 1),
	T(drain_timeout, "30s", 0),
	T(local_timeout, "3600s", 1),
	S(smtpd_tls_cert_file, ""),
	S(smtpd_tls_key_file, ""),
	S(smtpd_tls_sni_certs, ""),
	S(smtpd_tls_security_level, "may"),
	S(smtpd_tls_protocols, "TLSv1.2, TLSv1.3"),
	S(smtpd_tls_ciphers, "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!SEED:!IDEA:!kRSA"),
	S(smtpd_tls_ciphersuites, ""),
	B(smtpd_tls_wrappermode, "no"),
	B(smtpd_auth_enable, "yes"),
	B(smtpd_requiretls, "yes"),
	B(smtpd_auth_required, "no"),
	B(smtpd_tls_auth_only, "yes"),
	B(smtpd_auth_received_header, "yes"),
	S(smtpd_sender_login_map, ""),
	S(auth_password_map, ""),
	B(auth_system_accounts, "no"),
	T(auth_failure_delay, "1s", 0),
	N(auth_failure_limit, "10", 1),
	T(auth_failure_window, "600s", 1),
	S(relayhost, ""),
	S(dns_resolver, ""),
	S(proxy_interfaces, ""),
	S(smtp_helo_name, ""),
	S(smtp_tls_security_level, "may"),
	N(smtp_port, "25", 1),
	B(smtp_mta_sts, "yes"),
	N(smtp_mta_sts_https_port, "443", 1),
	T(smtp_mta_sts_timeout, "30s", 1),
	Z(smtp_mta_sts_max_size, "65536", 1024),
	T(smtp_mta_sts_refresh_time, "1d", 60),
	B(smtp_tls_report, "yes"),
	S(tlsrpt_organization_name, ""),
	T(tlsrpt_results_lifetime, "7d", 86400),
	S(tlsrpt_contact_info, ""),
	S(smtp_tls_policy_map, ""),
	S(smtp_tls_CAfile, ""),
	S(smtp_sasl_password_map, ""),
	N(smtp_destination_concurrency_limit, "20", 1),
	N(smtp_initial_destination_concurrency, "5", 1),
	N(smtp_concurrency_limit, "20", 1),
	S(smtp_destination_rate_limit, ""),
	S(smtp_destination_rate_map, ""),
	N(qmgr_message_active_limit, "500", 1),
	T(smtp_connect_timeout, "30s", 1),
	T(smtp_command_timeout, "300s", 1),
	T(smtp_data_timeout, "180s", 1),
	T(smtp_data_done_timeout, "600s", 1),
	T(smtp_connection_cache_time_limit, "2s", 0),
	T(smtp_connection_reuse_time_limit, "300s", 1),
	N(smtp_connection_reuse_count_limit, "0", 0),
};
#define NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))

static int	 conf_set(struct conf *, const struct conf_key *, const char *,
		    char *, size_t);
static const struct conf_key *conf_find(const char *);
static int	 conf_check(const struct conf *, char *, size_t);
struct conf_unit;
static int	 conf_parse_number(const char *, const struct conf_unit *,
		    long *);
static char	*conf_trim(char *);

int
conf_load(struct conf *c, const char *confdir, char *err, size_t errlen)
{
	char		 path[PATH_MAX], host[256], *line = NULL, *logical = NULL;
	char		*key, *val, *eq, why[256];
	size_t		 cap = 0;
	ssize_t		 n;
	FILE		*fp;
	int		 lineno = 0, startline = 0, rc = -1;
	unsigned char	 seen[NKEYS];
	const struct conf_key *k;

	memset(seen, 0, sizeof(seen));
	if (conf_defaults(c, err, errlen) == -1)
		return -1;
	if ((c->config_directory = strdup(confdir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", confdir, CONF_FILE) >=
	    sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", confdir);
		return -1;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/*
	 * A line that starts with white space continues the previous one, as
	 * in main.cf; so read ahead one line before acting on the last.
	 */
	for (;;) {
		n = getline(&line, &cap, fp);
		if (n >= 0) {
			lineno++;
			if (memchr(line, '\0', (size_t)n) != NULL) {
				snprintf(err, errlen, "%s:%d: NUL byte in line",
				    path, lineno);
				goto out;
			}
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] == '#' || *conf_trim(line) == '\0')
				continue;
			if (isspace((unsigned char)line[0]) && logical) {
				char *joined;

				if (asprintf(&joined, "%s %s", logical,
				    conf_trim(line)) == -1) {
					snprintf(err, errlen, "out of memory");
					goto out;
				}
				free(logical);
				logical = joined;
				continue;
			}
			if (isspace((unsigned char)line[0])) {
				snprintf(err, errlen, "%s:%d: continuation line "
				    "without a parameter before it", path, lineno);
				goto out;
			}
		}
		if (logical) {
			if ((eq = strchr(logical, '=')) == NULL) {
				snprintf(err, errlen, "%s:%d: expected "
				    "'name = value'", path, startline);
				goto out;
			}
			*eq = '\0';
			key = conf_trim(logical);
			val = conf_trim(eq + 1);
			if ((k = conf_find(key)) == NULL) {
				snprintf(err, errlen, "%s:%d: unknown parameter "
				    "'%s'", path, startline, key);
				goto out;
			}
			if (seen[k - conf_keys]) {
				snprintf(err, errlen, "%s:%d: parameter '%s' "
				    "set twice", path, startline, key);
				goto out;
			}
			seen[k - conf_keys] = 1;
			if (conf_set(c, k, val, why, sizeof(why)) == -1) {
				snprintf(err, errlen, "%s:%d: %s: %s", path,
				    startline, key, why);
				goto out;
			}
			free(logical);
			logical = NULL;
		}
		if (n < 0)
			break;
		if ((logical = strdup(line)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		startline = lineno;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	if (c->myhostname[0] == '\0') {
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		free(c->myhostname);
		if ((c->myhostname = strdup(host)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	if (conf_check(c, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto out;
	}
	rc = 0;
out:
	free(line);
	free(logical);
	fclose(fp);
	return rc;
}

int
conf_defaults(struct conf *c, char *err, size_t errlen)
{
	char	 why[256];
	size_t	 i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++)
		if (conf_set(c, &conf_keys[i], conf_keys[i].def, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "bad built-in default for %s",
			    conf_keys[i].name);
			return -1;
		}
	return 0;
}

/* "name=value" from a -o option (master.conf per-service settings). */
int
conf_override(struct conf *c, const char *kv, char *err, size_t errlen)
{
	char		 name[64], why[256];
	const char	*eq;
	const struct conf_key *k;

	if ((eq = strchr(kv, '=')) == NULL || eq == kv ||
	    (size_t)(eq - kv) >= sizeof(name)) {
		snprintf(err, errlen, "'%s': expected name=value", kv);
		return -1;
	}
	memcpy(name, kv, (size_t)(eq - kv));
	name[eq - kv] = '\0';
	if ((k = conf_find(name)) == NULL) {
		snprintf(err, errlen, "unknown parameter '%s'", name);
		return -1;
	}
	if (conf_set(c, k, eq + 1, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", name, why);
		return -1;
	}
	return conf_check(c, err, errlen);
}

void
conf_free(struct conf *c)
{
	size_t	 i;

	for (i = 0; i < NKEYS; i++)
		if (conf_keys[i].type == CT_STR)
			free(*(char **)((char *)c + conf_keys[i].off));
	free(c->config_directory);
	memset(c, 0, sizeof(*c));
}

const char *
conf_key_name(size_t i)
{
	return i < NKEYS ? conf_keys[i].name : NULL;
}

const char *
conf_key_default(size_t i)
{
	return i < NKEYS ? conf_keys[i].def : NULL;
}

int
conf_key_index(const char *name, size_t *i)
{
	const struct conf_key *k;

	if ((k = conf_find(name)) == NULL)
		return -1;
	*i = (size_t)(k - conf_keys);
	return 0;
}


/* Is word in a comma/space separated list?  Case-insensitive (domains). */
int
conf_list_has(const char *list, const char *word)
{
	size_t	 wl = strlen(word), n;
	const char *p = list;

	while (*p) {
		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == wl && n > 0 && strncasecmp(p, word, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

struct conf_unit {
	char	 suffix;
	long	 mul;
};

static const struct conf_unit time_units[] = {
	{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	{ 'w', 7 * 86400 }, { 0, 0 }
};
static const struct conf_unit size_units[] = {
	{ 'k', 1024 }, { 'm', 1024 * 1024 }, { 'g', 1024L * 1024 * 1024 },
	{ 0, 0 }
};

/* "30", "30s", "5m", "2h", "5d", "1w": seconds. */
int
conf_parse_time(const char *s, long *out)
{
	return conf_parse_number(s, time_units, out);
}

/* "1024", "10k", "10m", "1g": bytes. */
int
conf_parse_size(const char *s, long *out)
{
	return conf_parse_number(s, size_units, out);
}

/* A non-negative number with at most one unit letter after it. */
static int
conf_parse_number(const char *s, const struct conf_unit *units, long *out)
{
	char	*end;
	long	 v, mul = 1;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || errno || v < 0)
		return -1;
	if (*end) {
		for (; units->suffix; units++)
			if (tolower((unsigned char)*end) == units->suffix)
				break;
		if (units->suffix == 0 || end[1] != '\0')
			return -1;
		mul = units->mul;
	}
	if (v > LONG_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int
conf_set(struct conf *c, const struct conf_key *k, const char *val,
    char *why, size_t whylen)
{
	char	*end, *dup, **sp;
	long	 v = 0, *lp;

	switch (k->type) {
	case CT_STR:
		if ((dup = strdup(val)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		sp = (char **)((char *)c + k->off);
		free(*sp);
		*sp = dup;
		return 0;
	case CT_INT:
		errno = 0;
		v = strtol(val, &end, 10);
		if (end == val || *end || errno) {
			snprintf(why, whylen, "'%s' is not a number", val);
			return -1;
		}
		break;
	case CT_SIZE:
		if (conf_parse_size(val, &v) == -1) {
			snprintf(why, whylen, "'%s' is not a size "
			    "(bytes, or with k, m, g)", val);
			return -1;
		}
		break;
	case CT_BOOL:
		if (strcmp(val, "yes") == 0)
			v = 1;
		else if (strcmp(val, "no") == 0)
			v = 0;
		else {
			snprintf(why, whylen, "'%s' is not yes or no", val);
			return -1;
		}
		break;
	case CT_TIME:
		if (conf_parse_time(val, &v) == -1) {
			snprintf(why, whylen, "'%s' is not a time "
			    "(seconds, or with s, m, h, d, w)", val);
			return -1;
		}
		break;
	}
	if (v < k->min) {
		snprintf(why, whylen, "%ld is below the minimum %ld", v, k->min);
		return -1;
	}
	lp = (long *)((char *)c + k->off);
	*lp = v;
	return 0;
}

/* Rules that tie parameters together. */
static int
conf_check(const struct conf *c, char *err, size_t errlen)
{
	if (c->minimal_backoff_time > c->maximal_backoff_time) {
		snprintf(err, errlen, "minimal_backoff_time is larger than "
		    "maximal_backoff_time");
		return -1;
	}
	if (c->command_time_limit >= c->local_timeout) {
		snprintf(err, errlen, "command_time_limit must be shorter than "
		    "local_timeout (a job's commands run within it)");
		return -1;
	}
	if (c->smtpd_greet_pause >= c->smtpd_timeout) {
		snprintf(err, errlen, "smtpd_greet_pause must be shorter than "
		    "smtpd_timeout");
		return -1;
	}
	if (c->virtual_mailbox_map[0] && c->virtual_mailbox_base[0] != '/') {
		snprintf(err, errlen, "virtual_mailbox_map is set, so "
		    "virtual_mailbox_base must be an absolute path");
		return -1;
	}
	{
		struct cidr_list l;
		char		 e[256];

		if (cidr_parse_list(c->mynetworks, &l, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "mynetworks: %s", e);
			return -1;
		}
		cidr_free(&l);
	}
	if (strcmp(c->smtpd_tls_security_level, "none") != 0 &&
	    strcmp(c->smtpd_tls_security_level, "may") != 0 &&
	    strcmp(c->smtpd_tls_security_level, "encrypt") != 0) {
		snprintf(err, errlen, "smtpd_tls_security_level: expected none, "
		    "may or encrypt");
		return -1;
	}
	{
		char	 e[512];

		if (dkimkeys_each(c->dkim_signing_keys, 0, conf_dkim_nop, NULL,
		    e, sizeof(e)) == -1) {
			snprintf(err, errlen, "dkim_signing_keys: %s", e);
			return -1;
		}
	}
	if (strcmp(c->dkim_canonicalization, "relaxed/relaxed") != 0 &&
	    strcmp(c->dkim_canonicalization, "relaxed/simple") != 0 &&
	    strcmp(c->dkim_canonicalization, "simple/relaxed") != 0 &&
	    strcmp(c->dkim_canonicalization, "simple/simple") != 0) {
		snprintf(err, errlen, "dkim_canonicalization: expected "
		    "relaxed/relaxed, relaxed/simple, simple/relaxed or "
		    "simple/simple");
		return -1;
	}
	if (milter_parse_default_action(c->milter_default_action) == -1) {
		snprintf(err, errlen, "milter_default_action: expected "
		    "tempfail, accept or reject");
		return -1;
	}
	{
		struct milter_spec def, m[CONF_MILTERS_MAX];
		char		 e[256];

		conf_milter_defaults(c, &def);
		if (milter_parse_list(c->smtpd_milters, &def, m,
		    CONF_MILTERS_MAX, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "smtpd_milters: %s", e);
			return -1;
		}
	}
	if (c->smtpd_upstream_proxy_protocol[0] &&
	    strcmp(c->smtpd_upstream_proxy_protocol, "haproxy") != 0) {
		snprintf(err, errlen, "smtpd_upstream_proxy_protocol: expected "
		    "haproxy or nothing, not \"%s\"",
		    c->smtpd_upstream_proxy_protocol);
		return -1;
	}
	if ((strcmp(c->smtpd_tls_security_level, "encrypt") == 0 ||
	    c->smtpd_tls_wrappermode) && c->smtpd_tls_cert_file[0] == '\0') {
		snprintf(err, errlen, "%s needs smtpd_tls_cert_file",
		    c->smtpd_tls_wrappermode ? "smtpd_tls_wrappermode" :
		    "smtpd_tls_security_level = encrypt");
		return -1;
	}
	if (conf_tls_level(c->smtp_tls_security_level) == -1) {
		snprintf(err, errlen, "smtp_tls_security_level: expected none, "
		    "may, encrypt, verify, dane or dane-only");
		return -1;
	}
	if (c->smtp_destination_rate_limit[0] &&
	    conf_parse_rate(c->smtp_destination_rate_limit, NULL, NULL) == -1) {
		snprintf(err, errlen, "smtp_destination_rate_limit: expected "
		    "N/time, e.g. 100/1h");
		return -1;
	}
	if (c->dns_resolver[0]) {
		struct sockaddr_storage ss;
		socklen_t	 sl;
		char		 spec[300], e[256];

		snprintf(spec, sizeof(spec), "%s%s", c->dns_resolver,
		    strchr(c->dns_resolver, ':') ? "" : ":53");
		if (sock_inet_parse(spec, &ss, &sl, e, sizeof(e)) == -1 ||
		    ss.ss_family != AF_INET) {
			snprintf(err, errlen, "dns_resolver: expected an IPv4 "
			    "address[:port]");
			return -1;
		}
	}
	if (c->smtpd_etrn_rate_limit[0] &&
	    conf_parse_rate(c->smtpd_etrn_rate_limit, NULL, NULL) == -1) {
		snprintf(err, errlen, "smtpd_etrn_rate_limit: expected N/time, "
		    "e.g. 10/1m");
		return -1;
	}
	{
		char	 list[512], *p, *save;

		strlcpy(list, c->smtpd_etrn_clients, sizeof(list));
		for (p = strtok_r(list, ", \t", &save); p;
		    p = strtok_r(NULL, ", \t", &save))
			if (strcmp(p, "mynetworks") != 0 &&
			    strcmp(p, "authenticated") != 0 &&
			    strcmp(p, "any") != 0 && strcmp(p, "none") != 0) {
				snprintf(err, errlen, "smtpd_etrn_clients: "
				    "'%s' is not mynetworks, authenticated, any "
				    "or none", p);
				return -1;
			}
	}
	if (c->proxy_interfaces[0]) {
		char		 list[1024], *p, *save;
		unsigned char	 a[16];

		strlcpy(list, c->proxy_interfaces, sizeof(list));
		for (p = strtok_r(list, ", \t", &save); p;
		    p = strtok_r(NULL, ", \t", &save))
			if (inet_pton(AF_INET, p, a) != 1 &&
			    inet_pton(AF_INET6, p, a) != 1) {
				snprintf(err, errlen, "proxy_interfaces: '%s' "
				    "is not an IP address", p);
				return -1;
			}
	}
	if (c->local_timeout <= c->smtp_data_done_timeout +
	    c->smtp_connect_timeout) {
		snprintf(err, errlen, "local_timeout must be longer than "
		    "smtp_data_done_timeout + smtp_connect_timeout (a relay "
		    "attempt runs within it)");
		return -1;
	}
	if (c->smtp_port > 65535) {
		snprintf(err, errlen, "smtp_port: expected 1 to 65535");
		return -1;
	}
	if (c->smtp_mta_sts_max_size > MTASTS_POLICY_MAX) {
		snprintf(err, errlen, "smtp_mta_sts_max_size: at most 512k");
		return -1;
	}
	if (c->smtp_mta_sts_https_port > 65535) {
		snprintf(err, errlen, "smtp_mta_sts_https_port: expected 1 to "
		    "65535");
		return -1;
	}
	/* smtpd waits 30 seconds for an answer from the auth service. */
	if (c->auth_failure_delay > 20) {
		snprintf(err, errlen, "auth_failure_delay may be at most 20s");
		return -1;
	}
	if (conf_tls_versions(c->smtpd_tls_protocols, NULL, NULL) == -1) {
		snprintf(err, errlen, "smtpd_tls_protocols: expected a list of "
		    "TLSv1, TLSv1.1, TLSv1.2, TLSv1.3");
		return -1;
	}
	if (c->queue_directory[0] != '/' || c->daemon_directory[0] != '/') {
		snprintf(err, errlen, "queue_directory and daemon_directory "
		    "must be absolute paths");
		return -1;
	}
	return 0;
}

static const struct conf_key *
conf_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

static char *
conf_trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * "TLSv1.2, TLSv1.3" -> the lowest and highest listed version as
 * 0x0301..0x0304 (TLS1_VERSION..TLS1_3_VERSION); gaps are not possible
 * in OpenSSL, so the range between them is what is used.
 */
int
conf_tls_versions(const char *list, int *min, int *max)
{
	static const struct { const char *name; int v; } tab[] = {
		{ "TLSv1", 0x0301 }, { "TLSv1.1", 0x0302 },
		{ "TLSv1.2", 0x0303 }, { "TLSv1.3", 0x0304 },
	};
	const char	*p = list;
	size_t		 n, i;
	int		 lo = 0, hi = 0, found;

	while (*p) {
		p += strspn(p, ", \t");
		if ((n = strcspn(p, ", \t")) == 0)
			break;
		found = 0;
		for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
			if (strlen(tab[i].name) == n &&
			    strncasecmp(tab[i].name, p, n) == 0) {
				found = 1;
				if (lo == 0 || tab[i].v < lo)
					lo = tab[i].v;
				if (tab[i].v > hi)
					hi = tab[i].v;
			}
		if (!found)
			return -1;
		p += n;
	}
	if (lo == 0)
		return -1;
	if (min)
		*min = lo;
	if (max)
		*max = hi;
	return 0;
}

/* "N/time" (e.g. "100/1h"): at most N in that time. */
int
conf_parse_rate(const char *s, long *n, long *interval)
{
	char		 num[32];
	const char	*slash = strchr(s, '/');
	char		*end;
	long		 v, t;

	if (slash == NULL || slash == s || (size_t)(slash - s) >= sizeof(num))
		return -1;
	memcpy(num, s, (size_t)(slash - s));
	num[slash - s] = '\0';
	errno = 0;
	v = strtol(num, &end, 10);
	if (*end || errno || v < 1 || conf_parse_time(slash + 1, &t) == -1 ||
	    t < 1)
		return -1;
	if (n)
		*n = v;
	if (interval)
		*interval = t;
	return 0;
}

/* smtp_tls_security_level and policy map values: 0 none .. 3 verify. */
static const char *const tls_levels[] = { "none", "may", "encrypt",
    "verify", "dane", "dane-only" };

const char *
conf_tls_level_name(int level)
{
	return level >= 0 && level < 6 ? tls_levels[level] : "?";
}

int
conf_tls_level(const char *s)
{
	const char *const *levels = tls_levels;
	int	 i;

	for (i = 0; i < 6; i++)
		if (strcasecmp(s, levels[i]) == 0)
			return i;
	return -1;
}

void
conf_format(const struct conf *c, size_t i, char *out, size_t len)
{
	const struct conf_key *k = &conf_keys[i];
	const struct conf_unit *u;
	long	 v;

	if (k->type == CT_STR) {
		snprintf(out, len, "%s", *(char *const *)((const char *)c +
		    k->off));
		return;
	}
	v = *(const long *)((const char *)c + k->off);
	if (k->type == CT_BOOL) {
		snprintf(out, len, "%s", v ? "yes" : "no");
		return;
	}
	if (k->type != CT_TIME) {
		snprintf(out, len, "%ld", v);
		return;
	}
	/* The largest unit that divides it: 5d, not 432000s. */
	for (u = time_units; u[1].suffix && v != 0 && v % u[1].mul == 0; u++)
		;
	snprintf(out, len, "%ld%c", v / u->mul, u->suffix);
}

void
conf_origin(const struct conf *c, char *out, size_t len)
{
	const char	*l = c->local_domains + strspn(c->local_domains, ", \t");

	if (c->myorigin[0])
		snprintf(out, len, "%s", c->myorigin);
	else if (*l)
		snprintf(out, len, "%.*s", (int)strcspn(l, ", \t"), l);
	else
		snprintf(out, len, "%s", c->myhostname);
}

void
conf_milter_defaults(const struct conf *c, struct milter_spec *m)
{
	memset(m, 0, sizeof(*m));
	m->connect_timeout = c->milter_connect_timeout;
	m->command_timeout = c->milter_command_timeout;
	m->content_timeout = c->milter_content_timeout;
	m->default_action = milter_parse_default_action(
	    c->milter_default_action);
	if (m->default_action == -1)
		m->default_action = MILTER_DEFAULT_TEMPFAIL;
}
