/*
 * smtpd: the SMTP server.  One process serves many connections from one
 * event loop; master runs as many processes as master.conf says, all
 * accepting on the same inherited socket.  As root it chroots into the
 * queue directory and becomes the unprivileged service user; it reaches
 * only private/qmgr there, never a queue file.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "log.h"
#include "smtpd.h"
#include "sock.h"
#include "tls.h"

static void	 smtpd_signal(int, void *);
static void	 smtpd_master_gone(int, int, void *);
static void	 smtpd_tick(void *);
static void	 smtpd_stop(struct smtpd *);
static int	 smtpd_milters_inet(const struct smtpd *);

int
main(int argc, char **argv)
{
	/* Static: reachable to the end, so that valgrind tells leaks apart. */
	static struct smtpd	 sd;
	char		 err[256];

	memset(&sd, 0, sizeof(sd));
	service_init(&sd.svc, argc, argv, "smtpd");
	sd.conf = &sd.svc.conf;
	if (cidr_parse_list(sd.conf->mynetworks, &sd.mynetworks, err,
	    sizeof(err)) == -1)
		log_fatalx("mynetworks: %s", err);
	sd.auth_fd = -1;
	buf_init(&sd.auth_in, RECORD_MAX + RECORD_HDR);
	buf_init(&sd.auth_out, 0);
	/* Certificates are public: read them while we still can. */
	if (tls_init(sd.conf, err, sizeof(err)) == -1) {
		if (sd.conf->smtpd_tls_wrappermode ||
		    strcmp(sd.conf->smtpd_tls_security_level, "encrypt") == 0)
			log_fatalx("TLS: %s", err);
		log_warnx("TLS: %s; STARTTLS answers 454 until this is fixed",
		    err);
		sd.tls_broken = 1;
	}
	/* Filters' host names are resolved now, outside the chroot. */
	if (mc_init(&sd, err, sizeof(err)) == -1)
		log_fatalx("smtpd_milters: %s", err);
	dkim_init(&sd);
	service_drop(&sd.svc);
	overload_init(&sd);
	service_sandbox(&sd.svc, smtpd_milters_inet(&sd) ?
	    SANDBOX_NO_FILES_NET : SANDBOX_NO_FILES);

	sd.loop = event_loop_new();
	sock_nonblock(sd.svc.listen_fd);
	if (event_add(sd.loop, sd.svc.listen_fd, EV_READ, session_accept,
	    &sd) == -1)
		log_fatal("event_add");
	sd.accepting = 1;
	if (sd.svc.master_fd != -1 && event_add(sd.loop, sd.svc.master_fd,
	    EV_READ, smtpd_master_gone, &sd) == -1)
		log_fatal("event_add");
	if (event_signal(sd.loop, SIGTERM, smtpd_signal, &sd) == -1)
		log_fatal("event_signal");
	event_timer_add(sd.loop, 1000, smtpd_tick, &sd);
	event_loop_run(sd.loop);
	return 0;
}

/* A session ended: accept again if we were full; leave if draining. */
void
smtpd_session_gone(struct smtpd *sd)
{
	if (sd->stopping) {
		if (sd->nsessions == 0)
			event_loop_exit(sd->loop);
		return;
	}
	if (!sd->accepting && sd->nsessions < sd->conf->smtpd_client_limit) {
		if (event_add(sd->loop, sd->svc.listen_fd, EV_READ,
		    session_accept, sd) == 0)
			sd->accepting = 1;
	}
}

static void
smtpd_tick(void *arg)
{
	struct smtpd	*sd = arg;

	session_sweep(sd);
	overload_tick(sd);
	event_timer_add(sd->loop, 1000, smtpd_tick, sd);
}

static void
smtpd_signal(int signo, void *arg)
{
	(void)signo;
	smtpd_stop(arg);
}

static void
smtpd_master_gone(int fd, int events, void *arg)
{
	struct smtpd	*sd = arg;
	char		 c;

	(void)events;
	if (read(fd, &c, 1) > 0)
		return;
	event_del(sd->loop, fd);
	smtpd_stop(sd);
}

/*
 * Stop accepting; sessions outside a transaction are told 421 now, the
 * others when their transaction is over (session_process).
 */
static void
smtpd_stop(struct smtpd *sd)
{
	struct session	*s, *next;

	if (sd->stopping)
		return;
	sd->stopping = 1;
	if (sd->accepting)
		event_del(sd->loop, sd->svc.listen_fd);
	sd->accepting = 0;
	close(sd->svc.listen_fd);
	for (s = sd->sessions; s; s = next) {
		next = s->next;
		if (!s->in_tx && s->waiting == W_NONE && !s->data_mode) {
			session_reply(s, "421 4.3.2 %s Service shutting down",
			    sd->conf->myhostname);
			session_process(s);
		}
	}
	if (sd->nsessions == 0)
		event_loop_exit(sd->loop);
}

/* TCP filters need IP sockets, which the filter refuses otherwise. */
static int
smtpd_milters_inet(const struct smtpd *sd)
{
	int	 i;

	for (i = 0; i < sd->nmilters; i++)
		if (sd->milters[i].family != AF_UNIX)
			return 1;
	return 0;
}
