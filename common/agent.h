/*
 * agent: what the delivery agents (local, smtp) share: taking a job from
 * qmgr on a private/ socket, checking who sent it, and reporting a
 * result per recipient.  See proto.h for the records.
 */
#ifndef POSTHORN_AGENT_H
#define POSTHORN_AGENT_H

#include <sys/types.h>

#define AGENT_MAX_RCPT	100000

struct agent_job {
	char	 id[32];
	char	*sender;
	char	*params;	/* MAIL parameters as queued */
	char	*transport;	/* "local", "smtp", "lmtp" */
	char	*nexthop;	/* "" = the recipients' domain */
	off_t	 content_off;
	int	 qfd;		/* read-only queue file */
	int	 conn_fd;	/* odmr: the customer's connection, or -1 */
	size_t	 n;
	char	**rcpt;
	char	**index;	/* qmgr's numbers, sent back as they came */
	char	**rparams;	/* RCPT parameters as queued */
};

struct service;
/*
 * The agents' main loop: one connection at a time from svc's listening
 * socket, taken only from the queue's owner (queue_uid) or root, handed to
 * serve(fd, arg), closed after; returns on SIGTERM or when master is gone.
 */
void	 agent_loop(struct service *, uid_t queue_uid,
	    void (*serve)(int fd, void *), void *arg);

/* While waiting for jobs, call fn(arg) every so many seconds. */
void	 agent_set_tick(int seconds, void (*fn)(void *), void *arg);

/* 0 with job filled (qfd attached), -1 on a bad or lost job. */
int	 agent_read_job(int fd, struct agent_job *);
void	 agent_free_job(struct agent_job *);
/* Only the queue's owner (qmgr) or root may hand out jobs. */
int	 agent_peer_trusted(int fd, uid_t queue_uid);
/* Is qmgr still there to hear the results? */
int	 agent_peer_alive(int fd, const char *id);
/* One recipient's result: code D, T or P; relay names who took it. */
int	 agent_status(int fd, const char *index, char code, const char *status,
	    const char *text, const char *relay);
/* reuse: the agent would take another job to the same place on fd. */
int	 agent_done(int fd, int reuse);
/* local: a copy of the message is due to addr (another domain). */
int	 agent_forward(int fd, const char *index, const char *addr);

#endif
