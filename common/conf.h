/* conf: posthorn.conf, the main configuration (key = value). */
#ifndef POSTHORN_CONF_H
#define POSTHORN_CONF_H

#include <stddef.h>

#define CONF_FILE	"posthorn.conf"
#define MASTER_FILE	"master.conf"

struct conf {
	char	*config_directory;	/* not a key: where we were loaded from */
	char	*queue_directory;
	char	*daemon_directory;
	char	*daemon_wrapper;
	char	*myhostname;
	char	*myorigin;
	char	*submit_trusted_users;
	char	*mail_group;
	char	*queue_admin_group;
	char	*setgid_group;
	char	*local_domains;		/* comma/space separated list */
	char	*alias_map;
	char	*virtual_mailbox_map;
	char	*virtual_mailbox_base;
	char	*virtual_mailbox_domains;
	char	*virtual_alias_map;
	char	*virtual_alias_domains;
	char	*relay_recipient_map;
	char	*transport_map;
	char	*smtpd_client_access;
	char	*smtpd_sender_access;
	char	*smtpd_recipient_access;
	char	*virtual_user;
	char	*recipient_delimiter;
	char	*home_mailbox;
	char	*mail_spool_directory;
	char	*default_privs;
	char	*allow_mail_to_commands;
	char	*allow_mail_to_files;
	long	 deliver_to_system_accounts;
	long	 command_time_limit;
	long	 mailbox_size_limit;
	long	 maildir_directory_sync;	/* fsync new/ (the author's order) */
	char	*smtpd_banner;
	char	*mynetworks;
	char	*relay_domains;
	char	*smtpd_etrn_clients;
	char	*etrn_domains;
	char	*smtpd_etrn_rate_limit;
	long	 odmr_service;
	long	 seccomp_filter;
	char	*odmr_domain_map;
	long	 smtpd_enable_vrfy;
	long	 smtpd_enable_expn;
	long	 smtpd_add_missing_headers;
	long	 smtputf8_enable;
	long	 smtpd_greet_pause;
	long	 smtpd_client_connection_limit;
	long	 smtpd_text_line_limit;
	long	 hopcount_limit;
	long	 queue_minfree;
	long	 message_size_limit;
	long	 smtpd_recipient_limit;
	long	 smtpd_command_line_limit;
	long	 smtpd_client_limit;
	long	 smtpd_error_limit;
	long	 smtpd_timeout;
	long	 smtpd_data_timeout;
	long	 smtpd_min_data_rate;
	long	 smtpd_qmgr_idle_channels;
	char	*smtpd_upstream_proxy_protocol;
	char	*smtpd_milters;
	char	*dkim_signing_keys;
	char	*dkim_canonicalization;
	char	*dkim_sign_headers;
	char	*milter_default_action;
	long	 milter_connect_timeout;
	long	 milter_command_timeout;
	long	 milter_content_timeout;
	long	 smtpd_upstream_proxy_timeout;
	long	 local_concurrency_limit;
	long	 queue_directory_sync;	/* fsync active/ folders at commit */
	long	 queue_commit_threads;
	long	 queue_file_recycle_limit;	/* files kept in free/ */
	long	 queue_file_recycle_size;	/* ... of at most this size */
	long	 local_worker_limit;	/* delivery children kept per agent */
	long	 local_worker_max_use;	/* deliveries per child */
	long	 local_worker_idle_time;
	long	 bounce_size_limit;
	long	 notify_double_bounce;
	long	 delay_warning_time;
	long	 minimal_backoff_time;
	long	 maximal_backoff_time;
	long	 maximal_queue_lifetime;
	long	 queue_run_delay;
	long	 drain_timeout;
	long	 local_timeout;
	/* TLS (smtpd, keyd). */
	char	*smtpd_tls_cert_file;
	char	*smtpd_tls_key_file;
	char	*smtpd_tls_sni_certs;
	char	*smtpd_tls_security_level;
	char	*smtpd_tls_protocols;
	char	*smtpd_tls_ciphers;
	char	*smtpd_tls_ciphersuites;
	long	 smtpd_tls_wrappermode;
	/* AUTH (smtpd, auth). */
	long	 smtpd_auth_enable;
	long	 smtpd_auth_required;
	long	 smtpd_tls_auth_only;
	long	 smtpd_auth_received_header;
	long	 smtpd_requiretls;
	char	*smtpd_sender_login_map;
	char	*auth_password_map;
	long	 auth_system_accounts;
	long	 auth_failure_delay;
	long	 auth_failure_limit;
	long	 auth_failure_window;
	/* Relay (the smtp agent). */
	char	*relayhost;
	char	*dns_resolver;
	char	*proxy_interfaces;
	char	*smtp_helo_name;
	char	*smtp_tls_security_level;
	long	 smtp_port;
	char	*smtp_tls_policy_map;
	char	*smtp_tls_CAfile;
	char	*smtp_sasl_password_map;
	long	 smtp_destination_concurrency_limit;
	long	 smtp_initial_destination_concurrency;
	long	 smtp_concurrency_limit;
	char	*smtp_destination_rate_limit;
	char	*smtp_destination_rate_map;
	long	 qmgr_message_active_limit;
	long	 smtp_connect_timeout;
	long	 smtp_mta_sts;
	long	 smtp_mta_sts_https_port;
	long	 smtp_mta_sts_timeout;
	long	 smtp_mta_sts_max_size;
	long	 smtp_mta_sts_refresh_time;
	long	 smtp_tls_report;
	char	*tlsrpt_organization_name;
	long	 tlsrpt_results_lifetime;
	char	*tlsrpt_contact_info;
	long	 smtp_command_timeout;
	long	 smtp_data_timeout;
	long	 smtp_data_done_timeout;
	long	 smtp_connection_cache_time_limit;
	long	 smtp_connection_reuse_time_limit;
	long	 smtp_connection_reuse_count_limit;
};

/* Load CONFDIR/posthorn.conf; on error write "file:line: why" into err. */
int	 conf_load(struct conf *, const char *confdir, char *err, size_t errlen);
int	 conf_defaults(struct conf *, char *err, size_t errlen);
/* Apply "name=value" (a -o option); checked like a file line. */
int	 conf_override(struct conf *, const char *kv, char *err, size_t errlen);
void	 conf_free(struct conf *);
/*
 * The parameter table, for posthorn-conf: the i-th name (NULL past the
 * end), its default as written, and its value in c as it would be
 * written (times in their largest exact unit).  -1: no such parameter.
 */
const char *conf_key_name(size_t);
const char *conf_key_default(size_t);
int	 conf_key_index(const char *name, size_t *);
void	 conf_format(const struct conf *, size_t, char *out, size_t);
int	 conf_list_has(const char *list, const char *word);
/* The domain of local submissions: myorigin, else the first local domain. */
void	 conf_origin(const struct conf *, char *out, size_t);
/* smtpd_tls_protocols -> lowest/highest version number; -1 if bad. */
int	 conf_tls_versions(const char *list, int *min, int *max);

/* smtpd_milters: at most this many; the milter_* defaults for each. */
#define CONF_MILTERS_MAX	8
struct milter_spec;
void	 conf_milter_defaults(const struct conf *, struct milter_spec *);

/* Parse helpers shared with master.conf. */
int	 conf_parse_time(const char *, long *);
int	 conf_parse_size(const char *, long *);
int	 conf_parse_rate(const char *, long *n, long *interval);
#define TLS_LEVEL_NONE		0
#define TLS_LEVEL_MAY		1
#define TLS_LEVEL_ENCRYPT	2
#define TLS_LEVEL_VERIFY	3
#define TLS_LEVEL_DANE		4	/* DANE where DNSSEC says so, else may */
#define TLS_LEVEL_DANE_ONLY	5	/* DANE or nothing */
int	 conf_tls_level(const char *);
const char *conf_tls_level_name(int);

#endif
