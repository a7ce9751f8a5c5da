/* smtpd: the SMTP server's state and the entry points of its parts. */
#ifndef POSTHORN_SMTPD_H
#define POSTHORN_SMTPD_H

#include <sys/socket.h>

#include <stdint.h>

#include "addr.h"
#include "buf.h"
#include "cidr.h"
#include "event.h"
#include "milter.h"
#include "queueid.h"
#include "record.h"
#include "service.h"

#define SMTPD_IN_MAX	65536		/* pipelined input held at most */
#define SMTPD_QOUT_HIGH	(1024 * 1024)	/* stop reading DATA above this */
#define SMTPD_OUT_HIGH	65536		/* replies a client has not read */
#define SMTPD_AUTH_LINE	12288		/* RFC 4954 4: AUTH lines */

enum mc_stage { MC_CONNECT, MC_HELO, MC_MAIL, MC_RCPT, MC_EOM };
enum smtpd_wait { W_NONE, W_MAIL, W_RCPT, W_END, W_QUERY, W_AUTH, W_ETRN,
		  W_ATRN, W_MILTER };
enum tls_state { TLS_NONE, TLS_HANDSHAKE, TLS_ON };
enum auth_state { AUTH_NONE, AUTH_PLAIN, AUTH_LOGIN_USER, AUTH_LOGIN_PASS };

struct ssl_st;
enum data_state { D_BOL, D_MID, D_CR, D_DOT, D_DOTCR };

#define DATA_BARE_LF	0x1
#define DATA_BARE_CR	0x2
#define DATA_NUL	0x4
#define DATA_TOO_BIG	0x8
#define DATA_LOST	0x10	/* qmgr went away during DATA */
#define DATA_LOOP	0x20	/* too many Received: headers */
#define DATA_LONG_LINE	0x40	/* a line over smtpd_text_line_limit */

#define DM_NONE		0	/* commands */
#define DM_DATA		1	/* after DATA's 354, up to CRLF.CRLF */
#define DM_BDAT		2	/* inside a BDAT chunk */
#define DM_PUMP		3	/* ODMR: relaying the reversed session */
#define DM_PROXY	4	/* waiting for the PROXY protocol header */

#define BODY_7BIT	0
#define BODY_8BITMIME	1
#define BODY_BINARYMIME	2
#define RET_FULL	1
#define RET_HDRS	2
#define NOTIFY_NEVER	0x1
#define NOTIFY_SUCCESS	0x2
#define NOTIFY_FAILURE	0x4
#define NOTIFY_DELAY	0x8

struct mail_params {
	long	 size;
	int	 body;
	int	 smtputf8;
	int	 ret;
	int	 requiretls;	/* RFC 8689 */
	char	 envid[101];
};

struct rcpt_params {
	int	 notify;
	char	 orcpt[512];
};

struct smtpd {
	struct service	 svc;
	struct conf	*conf;
	struct event_loop *loop;
	struct cidr_list mynetworks;
	struct session	*sessions;
	long		 nsessions;
	int		 accepting;
	int		 spare_fd;	/* freed to refuse a client at EMFILE */
	int		 fd_starved;	/* accept(2) has met EMFILE */
	long		 nrefused;	/* with 421, since the last tick */
	int		 stopping;
	int		 tls_broken;	/* configured, but could not load */
	int		 auth_fd;	/* channel to the auth service */
	struct buf	 auth_in, auth_out;
	uint32_t	 auth_tag;
	int		*qpool;		/* idle channels to qmgr */
	size_t		 nqpool;
	/* smtpd_milters, with their addresses resolved before the chroot. */
	struct milter_spec milters[CONF_MILTERS_MAX];
	struct sockaddr_storage milter_addr[CONF_MILTERS_MAX];
	socklen_t	 milter_addrlen[CONF_MILTERS_MAX];
	int		 nmilters;
	struct buf	 dkim_domains;	/* with a DKIM key, NUL after each */
};

struct mc_conn;
struct dkim_state;

struct session {
	struct smtpd	*sd;
	int		 fd;
	char		 addr[64];
	struct sockaddr_storage peer;
	int		 trusted;	/* mynetworks (later: authenticated) */
	struct buf	 in, out;
	int		 data_mode;
	int		 skipping;	/* discarding an overlong line */
	int		 closing;	/* close once out is written */
	int		 eof;		/* half-closed: answer what came, then close */
	int		 helo_seen;
	int		 esmtp;
	char		 helo[256];
	/* Transaction. */
	int		 in_tx;
	struct mailbox	 sender;
	struct mail_params mparams;
	char		 id[QUEUEID_LEN + 1];
	size_t		 nrcpt;
	char		 first_rcpt[ADDR_MAX + 1];
	enum smtpd_wait	 waiting;
	char		 pending[ADDR_MAX + 1];
	/* DATA and BDAT. */
	int		 bdat;		/* this transaction uses BDAT */
	long long	 bdat_left;	/* octets of the current chunk */
	long long	 bdat_size;
	int		 bdat_last;
	const char	*bdat_error;	/* reply once the chunk is read */
	enum data_state	 dstate;
	int		 hdr_in;	/* still in the header section */
	size_t		 line_len;
	char		 line_start[16];	/* lower-cased */
	int		 nreceived;
	int		 has_date, has_msgid;
	int		 dflags;
	long long	 dsize;
	struct buf	 chunk;
	/* Channel to qmgr for the current transaction. */
	int		 qfd;
	struct buf	 qin, qout;
	int		 qtx;		/* qmgr holds an open transaction */
	/* Mail filters (milter_client.c). */
	struct mc_conn	*mc;		/* one per smtpd_milters entry */
	int		 mc_cur;	/* the one we wait for */
	enum mc_stage	 mc_stage;
	int		 mc_verdict;	/* MC_* of the stage or the message */
	char		 mc_text[512];
	char		 mc_refuse[512];	/* refused at connect: every reply */
	void		(*mc_next)(struct session *);
	struct event_timer *mc_timer;	/* runs mc_next */
	int		 mc_hdr;	/* in the header section */
	struct buf	 mc_field;	/* the header field being read */
	struct buf	 mc_body;	/* body bytes not yet sent */
	int		 mc_changed;	/* a filter changed this message */
	struct dkim_state *dkim;	/* signing this message (dkim.c) */
	int		 atrn_fd;	/* ODMR: our end, until qmgr says OK */
	uint64_t	 deadline;
	long		 nerrors;
	int		 greeting;	/* greeting not finished yet */
	struct event_timer *greet_timer;
	const struct command *cmd;	/* the one being run */
	unsigned	 ncmd[32];	/* per verb, for the disconnect log */
	unsigned	 nunknown;
	/* TLS. */
	struct ssl_st	*ssl;
	enum tls_state	 tls_state;
	int		 tls_want;	/* event the handshake waits for */
	int		 tls_read_ww;	/* SSL_read must write first */
	int		 tls_write_wr;	/* SSL_write must read first */
	int		 tls_pending;	/* 220 for STARTTLS sent, no TLS yet */
	/* AUTH. */
	enum auth_state	 auth_state;
	char		 auth_mech[16];
	char		 auth_login[256];	/* LOGIN: the user name so far */
	char		 auth_user[256];	/* authenticated as */
	uint32_t	 auth_tag;	/* our request to the auth service */
	struct session	*next, *prev;
};

/* session.c */
void	 session_accept(int fd, int events, void *arg);

/* overload.c */
void	 overload_init(struct smtpd *);
void	 overload_pause(struct smtpd *);
void	 overload_no_fd(struct smtpd *);
void	 overload_tick(struct smtpd *);
void	 session_process(struct session *);
void	 session_reply(struct session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 session_close(struct session *);
void	 session_sweep(struct smtpd *);
void	 session_reset_tx(struct session *);
void	 session_greeting(struct session *);
/* Reply with a refusal and log it as Postfix does (reject.c). */
void	 session_reject(struct session *, const char *stage, const char *rcpt,
	    const char *, ...) __attribute__((format(printf, 4, 5)));
void	 cmd_starttls(struct session *, char *);
/* Write what we can; -1 if the session is gone. */
int	 session_write(struct session *);
/* Read and write interest from the session's state. */
void	 session_update_events(struct session *);

/* command.c */
struct command {
	const char	*verb;
	void		(*run)(struct session *, char *arg);
	const char	*usage;
	const char	*what;
};
void	 command_run(struct session *, char *line, size_t len);
void	 command_bdat_done(struct session *);
void	 command_qmgr_reply(struct session *, const struct record *);
const struct command *command_find(const char *, size_t);
const struct command *command_table(size_t *);

/* command_info.c: HELP, VRFY, EXPN and the verbs kept for old clients. */
void	 cmd_help(struct session *, char *);
void	 cmd_vrfy(struct session *, char *);
void	 cmd_expn(struct session *, char *);
void	 cmd_sendmail_noop(struct session *, char *);
void	 cmd_legacy(struct session *, char *);

/* command_etrn.c */
int	 etrn_offered(const struct conf *);
void	 cmd_etrn(struct session *, char *);
void	 command_etrn_reply(struct session *, const struct record *);
void	 command_query_reply(struct session *, const struct record *);

/* command_atrn.c: ODMR (RFC 2645). */
int	 atrn_verb_allowed(const struct command *);
void	 cmd_atrn(struct session *, char *);
void	 command_atrn_reply(struct session *, const struct record *);
void	 atrn_pump(struct session *);

/* params.c */
int	 params_mail(struct session *, char *, struct mail_params *);
int	 params_rcpt(struct session *, char *, struct rcpt_params *);
void	 params_mail_str(const struct mail_params *, struct buf *);
void	 params_rcpt_str(const struct rcpt_params *, struct buf *);

/* data.c */
void	 data_begin(struct session *, int bdat);
/* Feed client bytes; returns how many were used, sets *done at CRLF.CRLF. */
size_t	 data_feed(struct session *, const char *, size_t, int *done);
void	 data_end(struct session *);

/* qmgr_client.c */
int	 qc_open(struct session *);
void	 qc_close(struct session *);
void	 qc_release(struct session *);
void	 qc_put(struct session *, int type, const void *, size_t);
void	 qc_send(struct session *, int type, const void *, size_t);
void	 qc_sendf(struct session *, int type, ...) __attribute__((sentinel));

/* dkim.c */
void	 dkim_init(struct smtpd *);
void	 dkim_begin(struct session *);
void	 dkim_content(struct session *, const char *, size_t);
void	 dkim_finish(struct session *);
void	 dkim_end(struct session *);

/* proxy.c */
int	 proxy_header(const char *, size_t, size_t *, struct sockaddr_storage *,
	    char *, size_t);

/* milter_client.c: the mail filters of smtpd_milters. */
#define MC_CONTINUE	0
#define MC_REJECT	1	/* mc_text holds the reply */
#define MC_DISCARD	2
int	 mc_init(struct smtpd *, char *, size_t);
int	 mc_active(const struct session *);
/* Ask every filter in turn; next runs when they are through. */
void	 mc_run(struct session *, enum mc_stage, void (*next)(struct session *));
void	 mc_content(struct session *, const char *, size_t);
void	 mc_data(struct session *);
void	 mc_end_message(struct session *, int abort);
void	 mc_cancel(struct session *);
void	 mc_reject(struct session *, const char *stage, const char *rcpt,
	    const char *text);
void	 mc_session_end(struct session *);
int	 mc_blocked(const struct session *);

/* auth_client.c: AUTH, with the password checked by the auth service. */
int	 auth_available(struct session *);
void	 cmd_auth(struct session *, char *);
void	 auth_continue(struct session *, char *line, size_t len);
void	 auth_session_gone(struct session *);
void	 auth_timeout(struct session *);

/* smtpd.c */
void	 smtpd_session_gone(struct smtpd *);

#endif
