/* service: daemon start-up shared by smtpd, qmgr and local. */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "log.h"
#include "privsep.h"
#include "service.h"

static void	 service_usage(const char *) __attribute__((noreturn));

void
service_init(struct service *s, int argc, char **argv, const char *prog)
{
	const char	*confdir = NULL, *over[64];
	char		 err[512];
	struct stat	 st;
	int		 ch, nover = 0, i;

	memset(s, 0, sizeof(*s));
	s->name = prog;
	while ((ch = getopt(argc, argv, "c:fn:o:r:u:")) != -1) {
		switch (ch) {
		case 'c': confdir = optarg; break;
		case 'o':
			if (nover == (int)(sizeof(over) / sizeof(over[0])))
				service_usage(prog);
			over[nover++] = optarg;
			break;
		case 'f': s->foreground = 1; break;
		case 'n': s->name = optarg; break;
		case 'r': s->chroot = optarg; break;
		case 'u': s->user = optarg; break;
		default: service_usage(prog);
		}
	}
	if (confdir == NULL || optind != argc)
		service_usage(prog);
	log_init(prog, s->foreground);
	if (conf_load(&s->conf, confdir, err, sizeof(err)) == -1)
		log_fatalx("%s", err);
	for (i = 0; i < nover; i++)
		if (conf_override(&s->conf, over[i], err, sizeof(err)) == -1)
			log_fatalx("service %s: -o %s", s->name, err);
	s->listen_fd = fstat(SERVICE_LISTEN_FD, &st) == 0 ?
	    SERVICE_LISTEN_FD : -1;
	s->master_fd = fstat(SERVICE_MASTER_FD, &st) == 0 ?
	    SERVICE_MASTER_FD : -1;
	if (s->listen_fd == -1)
		log_fatalx("no listening socket on fd %d: %s is started by "
		    "the posthorn master, not by hand", SERVICE_LISTEN_FD, prog);
	if (chdir(s->conf.queue_directory) == -1)
		log_fatal("chdir %s", s->conf.queue_directory);
	tzset();	/* before any chroot: /etc/localtime is outside */
	signal(SIGPIPE, SIG_IGN);
	/* Ctrl-C in make run goes to master; it stops us with SIGTERM. */
	signal(SIGINT, SIG_IGN);
	/* A reload is master's business: it replaces us with SIGTERM. */
	signal(SIGHUP, SIG_IGN);
}

void
service_drop(struct service *s)
{
	char	 err[512];
	const char *root = NULL;

	if (s->chroot && *s->chroot)
		root = s->chroot;
	if (privsep_drop(s->user, root, err, sizeof(err)) == -1)
		log_fatalx("%s", err);
}

void
service_drop_extra(struct service *s, const char *group)
{
	char		 err[512];
	struct group	*gr;

	if ((gr = getgrnam(group)) == NULL)
		log_fatalx("no group '%s'", group);
	if (privsep_drop_extra(s->user, s->chroot && *s->chroot ? s->chroot :
	    NULL, gr->gr_gid, err, sizeof(err)) == -1)
		log_fatalx("%s", err);
}

void
service_sandbox(struct service *s, enum sandbox_profile profile)
{
	char	 err[256];

	if (!s->conf.seccomp_filter)
		return;
	switch (sandbox_enter(profile, err, sizeof(err))) {
	case -1:
		log_fatalx("%s (seccomp_filter = no turns the filter off)",
		    err);
	case 0:
		log_warnx("running without a system-call filter: %s", err);
		break;
	}
}

static void
service_usage(const char *prog)
{
	fprintf(stderr, "usage: %s -c confdir [-f] [-n service] "
	    "[-o name=value] [-r chroot] [-u user]\n"
	    "(started by the posthorn master)\n", prog);
	exit(2);
}
