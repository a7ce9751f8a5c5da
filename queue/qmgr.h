/* qmgr: the queue manager's shared state and the entry points of its parts. */
#ifndef POSTHORN_QMGR_H
#define POSTHORN_QMGR_H

#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "event.h"
#include "map.h"
#include "queuefile.h"
#include "queueid.h"
#include "service.h"

/* The queue's folders, relative to queue_directory (our cwd). */
#define Q_INCOMING	"incoming"
#define Q_ACTIVE	"active"
#define Q_DEFERRED	"deferred"
#define Q_HOLD		"hold"
#define Q_CORRUPT	"corrupt"

struct intake;
struct job;
struct conn;
struct dest;
struct idle;
struct dindex;

struct qid {
	char		 id[QUEUEID_LEN + 1];
};

/* A committed message waiting for a delivery attempt. */
struct qmsg {
	char		 id[QUEUEID_LEN + 1];
	/* A flush of one domain: only its recipients are tried now. */
	char		 only[256];
	int		 only_sub;	/* ... and its subdomains' */
	int		 flush;		/* a flush: dead markers are reset */
	time_t		 next_try;	/* the file's retry time before it */
	long		 odmr;		/* for this ODMR session (odmr.c) */
	int		 fresh;		/* just taken in by this process */
	struct qmsg	*next;
};

struct qmgr {
	struct service	 svc;
	struct conf	*conf;
	struct event_loop *loop;
	struct map	*aliases;
	struct map	*mailboxes;
	struct map	*virtual_aliases;
	struct map	*relay_recipients;
	struct map	*transports;
	struct map	*client_access;
	struct map	*sender_access;
	struct map	*sender_logins;
	struct map	*recipient_access;
	struct map	*rates;
	struct map	*odmr_domains;
	/* Intake: connections from smtpd (and later pickup). */
	struct intake	*intakes;
	struct intake	*commit_first;	/* waiting for the group commit */
	struct event_timer *commit_timer;
	/* Scheduler. */
	struct qmsg	*ready_head, *ready_tail;
	size_t		 nready;
	struct job	*jobs;
	int		 njobs;
	/* Agent connections: running, and waiting for a free slot. */
	int		 nlocal, nrelay;
	int		 nidle;		/* relay channels parked (idle.c) */
	struct conn	*local_wait, *local_wait_tail;
	struct dest	*dests;
	struct dindex	*dindex;	/* deferred/ by domain */
	struct event_timer *rate_timer;
	struct event_timer *dispatch_timer;
	struct event_timer *scan_timer;
	int		 admin_fd;	/* public/qmgr (admin.c) */
	int		 stopping;
};

/* intake.c */
void	 intake_accept(int fd, int events, void *arg);
void	 intake_stop(struct qmgr *);
int	 intake_busy(struct qmgr *);
void	 intake_committed(struct intake *, int ok);
struct intake *intake_commit_next(struct intake *);
void	 intake_set_commit_next(struct intake *, struct intake *);
int	 intake_qfd(struct intake *);
const char *intake_id(struct intake *);
int	 intake_hold(struct intake *);
void	 intake_orcpt(struct buf *params, const char *addr);

/* admin.c: the queue tools' channel. */
void	 admin_init(struct qmgr *);
void	 admin_stop(struct qmgr *);

/* change.c */
int	 change_apply(const char *id, const char *path, int *fdp,
	    char **sender, const struct buf *changes, const struct buf *newbody,
	    int has_body, char *why, size_t whylen);

/* commit.c */
void	 commit_init(struct qmgr *);
void	 commit_schedule(struct qmgr *, struct intake *);
int	 commit_file(int fd, const char *incoming, const char *active);

/* recycle.c */
void	 recycle_init(struct qmgr *);
int	 recycle_take(const char *path);
int	 recycle_trim(int fd);
int	 recycle_put(const char *path, int fd);

/* recipient.c */
int	 recipient_check(struct qmgr *, const char *addr, struct buf *reply);
int	 recipient_is_local(struct qmgr *, const char *addr);
void	 recipient_refresh_maps(struct qmgr *);
void	 recipient_vrfy(struct qmgr *, const char *, struct buf *);
void	 recipient_expn(struct qmgr *, const char *, struct buf *);

/* policy.c: access maps (client, sender, recipient). */
int	 policy_mail(struct qmgr *, const char *client_addr, const char *sender,
	    struct buf *reply);
int	 policy_sender_login(struct qmgr *, const char *login,
	    const char *sender, struct buf *);
int	 policy_rcpt(struct qmgr *, const char *rcpt, struct buf *reply);
int	 policy_rcpt_like(struct map *, const char *, const char *,
	    struct buf *);

/* rewrite.c: virtual_alias_map. */
struct rewrite_list {
	char	**addr;
	size_t	 n;
};
int	 rewrite_recipient(struct qmgr *, const char *, struct rewrite_list *,
	    struct buf *reply);
void	 rewrite_free(struct rewrite_list *);

/* route.c: which transport takes a recipient (transport_map). */
#define ROUTE_LOCAL	0
#define ROUTE_ERROR	1	/* bounce with the given reason */
#define ROUTE_DEFER	2	/* keep it, try later */
#define ROUTE_RELAY	3	/* the smtp agent: transport, nexthop set */
#define ROUTE_HOLD	4	/* keep the message in hold/ */
#define ROUTE_ODMR	5	/* keep it for the customer's ATRN (odmr.c) */
struct route {
	char	 transport[8];	/* "local", "smtp", "lmtp" */
	char	 nexthop[256];	/* "" = the recipient's domain */
	char	 why[512];
	char	 dsn[8];
};
int	 route_recipient(struct qmgr *, const char *, struct route *);
void	 route_queue_name(struct qmgr *, const char *, char *, size_t);

/* sched.c */
void	 sched_init(struct qmgr *);
void	 sched_enqueue(struct qmgr *, const char *id);
void	 sched_enqueue_fresh(struct qmgr *, const char *id);
void	 sched_enqueue_msg(struct qmgr *, struct qmsg *);
void	 sched_recover(struct qmgr *);
/* An administrator's word on a message being delivered: 0, or -1. */
#define SCHED_MARK_DELETE	1
#define SCHED_MARK_HOLD		2
int	 sched_mark(struct qmgr *, const char *id, int mark);
int	 sched_busy(struct qmgr *);

/*
 * qdir.c: fn for every entry but dot files in top's sixteen subfolders
 * (sub: the subfolder's number); -1 from fn stops the walk.
 */
int	 qdir_each(struct qmgr *, const char *top,
	    int (*fn)(struct qmgr *, const char *dir, const char *name,
	    int sub, void *), void *arg);

/* dindex.c: the per-domain index of deferred/. */
void	 dindex_init(struct qmgr *);
void	 dindex_build(struct qmgr *);
/* dom is want, or (sub) one of its subdomains; case-insensitive. */
int	 dindex_match(const char *dom, const char *want);
void	 dindex_add(struct qmgr *, const char *id, const struct qf_env *);
void	 dindex_remove(struct qmgr *, const char *id);
struct qid *dindex_find(struct qmgr *, const char *domain, int sub,
	    size_t *n);
size_t	 dindex_count(struct qmgr *);

/* flush.c: deferred mail tried now (operator, ETRN, ATRN). */
/*
 * domain NULL: all of deferred/; "#name": the named queue (route_queue_
 * name); returns the messages started.
 */
long	 flush_queue(struct qmgr *, const char *domain, int sub);
int	 flush_odmr(struct qmgr *, const char *id, long session);
/* ETRN from client: -1 over smtpd_etrn_rate_limit, else 0 (counted). */
int	 flush_rate_check(struct qmgr *, const char *client);

/* dest.c: relay destinations, their concurrency window and dead marker. */
struct dest {
	char		 key[300];	/* "smtp:nexthop" */
	int		 active;	/* connections now */
	int		 window;	/* allowed now: slow start, back-off */
	time_t		 dead_until;	/* no attempts before this */
	char		 reason[512];	/* why it is dead */
	struct conn	*wait, *wait_tail;
	struct idle	*idle;		/* agent channels with a session open */
	time_t		 used;		/* last activity, for clean-up */
	long		 odmr;		/* an ODMR session's: one connection */
	long		 rate_n;	/* at most rate_n starts ... */
	long		 rate_interval;	/* ... per this many seconds; 0: any */
	time_t		 rate_start;	/* the current interval */
	long		 rate_count;
	struct dest	*next;
};
struct dest	*dest_get(struct qmgr *, const char *transport,
		    const char *nexthop);
int		 dest_dead(struct qmgr *, struct dest *);
/* May a connection start now (rate limit)?  If not, when (seconds). */
long		 dest_rate_wait(struct qmgr *, struct dest *);
void		 dest_rate_count(struct dest *);
/* After a connection: ok = a server answered; else the reason. */
void		 dest_feedback(struct qmgr *, struct dest *, int ok,
		    const char *reason);
void		 dest_expire(struct qmgr *);

/* idle.c: relay agent channels kept for the next job (connection reuse). */
void	 idle_park(struct qmgr *, struct dest *, int fd);
int	 idle_take(struct qmgr *, struct dest *);
void	 idle_close_oldest(struct qmgr *);
void	 idle_close_all(struct qmgr *);
void	 idle_close_dest(struct qmgr *, struct dest *);

/* odmr.c: ATRN sessions (RFC 2645). */
/* Messages started (fd then belongs to the session), or -1 with reply. */
long	 odmr_request(struct qmgr *, const char *login, const char *domains,
	    const char *client, int fd, struct buf *reply);
/* Is rcpt for session id?  Its label (the next hop) in label. */
int	 odmr_takes(struct qmgr *, long id, const char *rcpt, char *label,
	    size_t);
/* The customer's connection, once (the session's first job). */
int	 odmr_take_conn(struct qmgr *, long id);
void	 odmr_sent(struct qmgr *, long id, long n);
void	 odmr_job_gone(struct qmgr *, long id);
void	 odmr_stop(struct qmgr *);

/* bounce.c */
struct bounce_item {
	const char	*rcpt;
	const char	*params;	/* NOTIFY, ORCPT */
	const char	*status;	/* "5.1.1" */
	const char	*text;
	const char	*relay;		/* host[ip]:port, local, none */
	const char	*action;	/* NULL: the kind's (RFC 3464 Action) */
};
#define BOUNCE_FAILURE	0
#define BOUNCE_SUCCESS	1
#define BOUNCE_DELAY	2
#define BOUNCE_DOUBLE	3	/* a bounce that failed, to postmaster */
/* The MAIL parameter that marks a double bounce (never bounced again). */
#define BOUNCE_DOUBLE_PARAM	"X-POSTHORN-DOUBLE-BOUNCE"
int	 bounce_create(struct qmgr *, const char *id, int qfd,
	    const struct qf_env *, const struct bounce_item *, size_t n,
	    int kind, char *newid);

/* dsn.c: what a notice quotes; 0 or the end of the header section. */
ssize_t	 dsn_header_end(const char *, ssize_t, int *bol);
/* xtext decoded for people; an encoded control octet becomes '?'. */
void	 dsn_xtext_decode(const char *, char *, size_t);

/* forward.c: a copy for addresses in other domains (aliases, .forward). */
int	 forward_create(struct qmgr *, const char *id, int qfd,
	    const struct qf_env *, char *const *addrs, size_t n, char *newid);

/* qmgr.c */
void	 qmgr_maybe_exit(struct qmgr *);

#endif
