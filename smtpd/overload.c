/*
 * overload: what smtpd does when it cannot take one more session.
 *
 * At smtpd_client_limit a process stops polling its listening socket, so
 * that another smtpd process with room takes the next client.  A client
 * that no process has taken a second later is answered 421 and let go,
 * once a second, by the full process: a flood ends in refusals the
 * clients understand, not in a backlog that times out in silence.
 *
 * Out of file descriptors (EMFILE, ENFILE), accept(2) would fail at once
 * on every loop turn; the process stops polling the same way, and a spare
 * descriptor kept for the purpose is freed for the time it takes to
 * accept and refuse one client (the trick libevent users know).
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "smtpd.h"

/* Descriptors a session may hold: the client, qmgr, ATRN's channel. */
#define FDS_PER_SESSION	3
#define FDS_RESERVED	32
#define OVERLOAD_MAX_PER_TICK	10000

static int	 overload_refuse(struct smtpd *);

/*
 * As Postfix does: take the hard file limit, and say when it is too low
 * for smtpd_client_limit.  Then set the spare descriptor aside.
 */
void
overload_init(struct smtpd *sd)
{
	struct rlimit	 rl;
	rlim_t		 want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
		want = (rlim_t)sd->conf->smtpd_client_limit * FDS_PER_SESSION +
		    FDS_RESERVED;
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
			log_warnx("the file limit (%llu) is below what "
			    "smtpd_client_limit %ld may need (%llu): beyond it, "
			    "clients get 421", (unsigned long long)rl.rlim_cur,
			    sd->conf->smtpd_client_limit,
			    (unsigned long long)want);
	}
	sd->spare_fd = fcntl(sd->svc.listen_fd, F_DUPFD_CLOEXEC, 0);
	if (sd->spare_fd == -1)
		log_warn("spare descriptor");
}

/* Stop polling the listening socket (full, or out of descriptors). */
void
overload_pause(struct smtpd *sd)
{
	if (!sd->accepting)
		return;
	event_del(sd->loop, sd->svc.listen_fd);
	sd->accepting = 0;
}

/*
 * accept(2) failed for want of a descriptor: refuse that client now with
 * the spare, and pause only if even that fails.  Said once an episode.
 */
void
overload_no_fd(struct smtpd *sd)
{
	if (!sd->fd_starved)
		log_warn("accept (raise the file limit or lower "
		    "smtpd_client_limit)");
	sd->fd_starved = 1;
	if (overload_refuse(sd) != 1)
		overload_pause(sd);
}

/*
 * Once a second: while paused, refuse who waited; log the refusals; poll
 * again if a session has ended in the meantime.
 */
void
overload_tick(struct smtpd *sd)
{
	long	 n = 0;

	/* Another process may have taken the slot the spare gave back. */
	if (sd->spare_fd == -1)
		sd->spare_fd = fcntl(sd->svc.listen_fd, F_DUPFD_CLOEXEC, 0);
	/*
	 * Room again: accept (a client that meets EMFILE is refused at once
	 * by overload_no_fd).  Full: refuse who waited, a bounded number so
	 * that a flood cannot keep the loop here.
	 */
	if (!sd->accepting && !sd->stopping &&
	    sd->nsessions >= sd->conf->smtpd_client_limit)
		while (n < OVERLOAD_MAX_PER_TICK && overload_refuse(sd) == 1)
			n++;
	if (sd->nrefused > 0) {
		log_warnx("%ld connection%s refused with 421: %ld sessions, "
		    "smtpd_client_limit %ld%s", sd->nrefused,
		    sd->nrefused == 1 ? "" : "s", sd->nsessions,
		    sd->conf->smtpd_client_limit, sd->fd_starved ?
		    " (out of file descriptors)" : "");
		sd->nrefused = 0;
	}
	if (!sd->accepting && !sd->stopping &&
	    sd->nsessions < sd->conf->smtpd_client_limit &&
	    event_add(sd->loop, sd->svc.listen_fd, EV_READ, session_accept,
	    sd) == 0)
		sd->accepting = 1;
}

/* Take one waiting client and refuse it: 1 done, 0 nobody waits. */
static int
overload_refuse(struct smtpd *sd)
{
	char	 msg[300];
	int	 fd, spare = 0;

	fd = accept4(sd->svc.listen_fd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC);
	if (fd == -1 && (errno == EMFILE || errno == ENFILE) &&
	    sd->spare_fd != -1) {
		sd->fd_starved = 1;
		close(sd->spare_fd);
		sd->spare_fd = -1;
		spare = 1;
		fd = accept4(sd->svc.listen_fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
	}
	if (fd != -1) {
		/* Implicit TLS: a plaintext reply would only be noise. */
		if (!sd->conf->smtpd_tls_wrappermode) {
			snprintf(msg, sizeof(msg), "421 4.3.2 %s Service busy, "
			    "too many connections; try again later\r\n",
			    sd->conf->myhostname);
			(void)send(fd, msg, strlen(msg), MSG_NOSIGNAL |
			    MSG_DONTWAIT);
		}
		close(fd);
		sd->nrefused++;
	}
	if (spare)
		sd->spare_fd = fcntl(sd->svc.listen_fd, F_DUPFD_CLOEXEC, 0);
	return fd != -1;
}
