/*
 * service: what every daemon started by master shares.  master execs
 * "PROG -c CONFDIR -n SERVICE [-u USER] [-r CHROOT] [-f]" with the
 * service's listening socket on fd 3 and the read end of a pipe on fd 4
 * whose EOF means the master is gone.
 */
#ifndef POSTHORN_SERVICE_H
#define POSTHORN_SERVICE_H

#include "conf.h"
#include "sandbox.h"

#define SERVICE_LISTEN_FD	3
#define SERVICE_MASTER_FD	4

struct service {
	struct conf	 conf;
	const char	*name;
	const char	*user;
	const char	*chroot;
	int		 foreground;
	int		 listen_fd;
	int		 master_fd;
};

/* Parse argv, load posthorn.conf, start logging, chdir to the queue. */
void	 service_init(struct service *, int argc, char **argv, const char *prog);
/* Become the service's user (and chroot) for good; fatal on failure. */
void	 service_drop(struct service *);
/* The same, keeping one supplementary group (auth: shadow). */
void	 service_drop_extra(struct service *, const char *group);
/* The system-call filter (sandbox.h), unless seccomp_filter = no. */
void	 service_sandbox(struct service *, enum sandbox_profile);

#endif
