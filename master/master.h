/* master: the supervisor's state and the entry points of its parts. */
#ifndef POSTHORN_MASTER_H
#define POSTHORN_MASTER_H

#include <sys/types.h>
#include <stdint.h>

#include "conf.h"
#include "event.h"

#define MASTER_MAX_PROCS	1000	/* per service */
#define MASTER_BACKOFF_MIN_MS	250
#define MASTER_BACKOFF_MAX_MS	30000
#define MASTER_STABLE_MS	10000	/* a child that lived this long is ok */

/* One line of master.conf. */
struct svc_def {
	char	*name;
	char	*listen;	/* "host:port" or "unix:relative/path" */
	char	*program;
	char	*user;
	int	 procs;
	int	 chroot;
	char	**args;
	int	 nargs;
	int	 line;
};

struct service_set {
	struct svc_def	*defs;
	int		 n;
};

struct svc {
	struct svc_def	 def;
	int		 fd;		/* listening socket, kept across reloads */
	pid_t		*pids;		/* one slot per process; 0 = empty */
	uint64_t	*started;
	long		 backoff_ms;
	struct event_timer *restart;
	struct master	*m;
};

struct master {
	struct conf	 conf;
	char		*confdir;
	int		 foreground;
	struct event_loop *loop;
	struct svc	*svcs;
	int		 nsvcs;
	pid_t		*retired;	/* old generation, being stopped */
	int		 nretired;
	int		 alive[2];	/* children watch alive[0] for EOF */
	int		 pidfd;
	int		 stopping;
	struct event_timer *kill_timer;
};

/* mconf.c */
int	 mconf_load(struct service_set *, const struct conf *, char *, size_t);
void	 mconf_free(struct service_set *);
void	 mconf_free_def(struct svc_def *);

/* spawn.c */
int	 spawn_bind(const struct conf *, struct svc *, char *, size_t);
void	 spawn_fill(struct svc *);
void	 spawn_reap(struct master *);
void	 spawn_signal_all(struct master *, int);
int	 spawn_count(struct master *);

/* qdirs.c */
int	 qdirs_setup(const struct conf *, const struct service_set *, char *,
	    size_t);
int	 qdirs_pidfile(const struct conf *, char *, size_t);
int	 qdirs_pidfile_write(const struct conf *, int, char *, size_t);
void	 qdirs_remove_pidfile(const struct conf *, int);
int	 qdirs_socket_user(const char *user, const char *path, char *,
	    size_t);
int	 qdirs_socket_owner(const struct conf *, const char *, char *, size_t);

#endif
