/*
 * master: the only long-lived root process.  It reads posthorn.conf and
 * master.conf, makes the queue directory right, binds every listening
 * socket, and keeps each service's processes running.  SIGHUP re-reads
 * the configuration and replaces the children without closing a socket
 * that is still wanted; SIGTERM (or SIGINT) stops accepting, lets the
 * children finish, and kills what is left after drain_timeout.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/unistd.h>

#include "log.h"
#include "master.h"

#ifndef CONFIG_DIR
#define CONFIG_DIR	"/usr/local/etc/posthorn"
#endif

static int	 master_configure(struct master *, int reload, char *, size_t);
static void	 master_signal(int, void *);
static void	 master_stop(struct master *);
static void	 master_kill(void *);
static void	 master_close_svc(struct master *, struct svc *);
static void	 master_daemonize(void);
static void	 master_spawn_all(struct master *);
static void	 usage(void) __attribute__((noreturn));

int
main(int argc, char **argv)
{
	struct master	 m;
	char		 err[1024];
	int		 ch, check = 0;

	memset(&m, 0, sizeof(m));
	m.confdir = CONFIG_DIR;
	m.pidfd = -1;
	while ((ch = getopt(argc, argv, "c:ft")) != -1) {
		switch (ch) {
		case 'c': m.confdir = optarg; break;
		case 'f': m.foreground = 1; break;
		case 't': check = 1; break;
		default: usage();
		}
	}
	if (argc != optind)
		usage();
	if ((m.confdir = realpath(m.confdir, NULL)) == NULL) {
		fprintf(stderr, "posthorn/master: fatal: config directory: %s\n",
		    strerror(errno));
		return 1;
	}
	log_init("master", 1);
	if (check) {
		struct service_set set;

		if (conf_load(&m.conf, m.confdir, err, sizeof(err)) == -1 ||
		    mconf_load(&set, &m.conf, err, sizeof(err)) == -1)
			log_fatalx("%s", err);
		if (geteuid() == 0 && getgrnam(m.conf.mail_group) == NULL)
			log_fatalx("mail_group '%s' does not exist (see INSTALL)",
			    m.conf.mail_group);
		if (geteuid() == 0 && getgrnam(m.conf.queue_admin_group) ==
		    NULL)
			log_fatalx("queue_admin_group '%s' does not exist",
			    m.conf.queue_admin_group);
		if (geteuid() == 0 && getgrnam(m.conf.setgid_group) == NULL)
			log_fatalx("setgid_group '%s' does not exist (see "
			    "INSTALL)", m.conf.setgid_group);
		mconf_free(&set);
		printf("configuration in %s is valid\n", m.confdir);
		return 0;
	}
	if (pipe2(m.alive, O_CLOEXEC) == -1)
		log_fatal("pipe");
	signal(SIGPIPE, SIG_IGN);
	/* Every start-up error is seen on stderr before we detach. */
	if (master_configure(&m, 0, err, sizeof(err)) == -1)
		log_fatalx("%s", err);
	if (!m.foreground) {
		master_daemonize();
		log_init("master", 0);
		if (qdirs_pidfile_write(&m.conf, m.pidfd, err, sizeof(err)) ==
		    -1)
			log_fatalx("%s", err);
	}
	/*
	 * The loop and its signalfd only now: a signalfd made before the
	 * fork would never wake the detached process.
	 */
	m.loop = event_loop_new();
	if (event_signal(m.loop, SIGCHLD, master_signal, &m) == -1 ||
	    event_signal(m.loop, SIGHUP, master_signal, &m) == -1 ||
	    event_signal(m.loop, SIGTERM, master_signal, &m) == -1 ||
	    event_signal(m.loop, SIGINT, master_signal, &m) == -1 ||
	    event_signal(m.loop, SIGQUIT, master_signal, &m) == -1)
		log_fatal("event_signal");
	master_spawn_all(&m);
	log_info("posthorn master started (config %s, queue %s, %d service%s)",
	    m.confdir, m.conf.queue_directory, m.nsvcs, m.nsvcs == 1 ? "" : "s");
	event_loop_run(m.loop);
	qdirs_remove_pidfile(&m.conf, m.pidfd);
	log_info("posthorn master stopped");
	return 0;
}

/*
 * Load both files; on a reload, refuse the new configuration as a whole
 * if anything in it is wrong, and keep running the old one.
 */
static int
master_configure(struct master *m, int reload, char *err, size_t errlen)
{
	struct conf	 nc;
	struct service_set set;
	struct svc	*ns;
	int		 i, k, n, *from;

	if (conf_load(&nc, m->confdir, err, errlen) == -1)
		return -1;
	if (mconf_load(&set, &nc, err, errlen) == -1) {
		conf_free(&nc);
		return -1;
	}
	if (reload && strcmp(nc.queue_directory, m->conf.queue_directory)) {
		snprintf(err, errlen, "queue_directory cannot change on reload "
		    "(stop and start the master)");
		goto fail;
	}
	if (qdirs_setup(&nc, &set, err, errlen) == -1)
		goto fail;
	if (!reload && (m->pidfd = qdirs_pidfile(&nc, err, errlen)) == -1)
		goto fail;
	ns = calloc((size_t)set.n, sizeof(*ns));
	from = calloc((size_t)set.n, sizeof(*from));
	if (ns == NULL || from == NULL) {
		free(ns);
		free(from);
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < set.n; i++) {
		ns[i].def = set.defs[i];
		ns[i].fd = -1;
		ns[i].m = m;
		/* The same address keeps its socket: no refused connections. */
		from[i] = -1;
		for (k = 0; k < m->nsvcs; k++)
			if (m->svcs[k].fd != -1 &&
			    strcmp(m->svcs[k].def.listen, ns[i].def.listen) == 0) {
				ns[i].fd = m->svcs[k].fd;
				m->svcs[k].fd = -1;
				from[i] = k;
			}
		if (ns[i].fd == -1 && spawn_bind(&nc, &ns[i], err, errlen) == -1) {
			/* Give back what we took over; close what we bound. */
			for (k = 0; k < i; k++) {
				if (from[k] >= 0)
					m->svcs[from[k]].fd = ns[k].fd;
				else if (ns[k].fd != -1)
					close(ns[k].fd);
				free(ns[k].pids);
				free(ns[k].started);
			}
			free(ns);
			free(from);
			goto fail;
		}
		ns[i].pids = calloc((size_t)ns[i].def.procs, sizeof(pid_t));
		ns[i].started = calloc((size_t)ns[i].def.procs,
		    sizeof(uint64_t));
		if (ns[i].pids == NULL || ns[i].started == NULL)
			log_fatal("calloc");
	}
	/* The old generation drains and exits; nothing restarts it. */
	for (k = 0; k < m->nsvcs; k++) {
		for (i = 0; i < m->svcs[k].def.procs; i++) {
			if (m->svcs[k].pids[i] <= 0)
				continue;
			kill(m->svcs[k].pids[i], SIGTERM);
			n = m->nretired + 1;
			m->retired = reallocarray(m->retired, (size_t)n,
			    sizeof(pid_t));
			if (m->retired == NULL)
				log_fatal("reallocarray");
			m->retired[m->nretired++] = m->svcs[k].pids[i];
		}
		master_close_svc(m, &m->svcs[k]);
	}
	free(m->svcs);
	free(set.defs);		/* the strings now belong to ns[].def */
	if (reload)
		conf_free(&m->conf);
	m->conf = nc;
	m->svcs = ns;
	m->nsvcs = set.n;
	free(from);
	return 0;
fail:
	mconf_free(&set);
	conf_free(&nc);
	return -1;
}

static void
master_signal(int signo, void *arg)
{
	struct master	*m = arg;
	char		 err[1024];

	switch (signo) {
	case SIGCHLD:
		spawn_reap(m);
		if (m->stopping && spawn_count(m) == 0)
			event_loop_exit(m->loop);
		break;
	case SIGHUP:
		if (m->stopping)
			break;
		log_info("reloading configuration");
		if (master_configure(m, 1, err, sizeof(err)) == -1) {
			log_warnx("reload refused, old configuration kept: %s",
			    err);
		} else {
			master_spawn_all(m);
			log_info("configuration reloaded");
		}
		break;
	case SIGQUIT:
		/* posthorn abort: no draining (the queue survives a kill). */
		if (!m->stopping)
			master_stop(m);
		log_info("abort: killing children now");
		spawn_signal_all(m, SIGKILL);
		break;
	default:
		if (m->stopping) {
			log_info("second stop signal: killing children now");
			spawn_signal_all(m, SIGKILL);
			break;
		}
		master_stop(m);
		break;
	}
}

static void
master_stop(struct master *m)
{
	int	 k;

	log_info("stopping: draining children (up to %lds)",
	    m->conf.drain_timeout);
	m->stopping = 1;
	for (k = 0; k < m->nsvcs; k++) {
		if (m->svcs[k].restart) {
			event_timer_cancel(m->loop, m->svcs[k].restart);
			m->svcs[k].restart = NULL;
		}
	}
	spawn_signal_all(m, SIGTERM);
	/* Closing our listening sockets: the children hold their own copy. */
	for (k = 0; k < m->nsvcs; k++)
		if (m->svcs[k].fd != -1) {
			close(m->svcs[k].fd);
			m->svcs[k].fd = -1;
		}
	if (spawn_count(m) == 0) {
		event_loop_exit(m->loop);
		return;
	}
	m->kill_timer = event_timer_add(m->loop, m->conf.drain_timeout * 1000,
	    master_kill, m);
}

static void
master_kill(void *arg)
{
	struct master	*m = arg;

	m->kill_timer = NULL;
	log_warnx("drain_timeout reached: killing %d remaining process%s",
	    spawn_count(m), spawn_count(m) == 1 ? "" : "es");
	spawn_signal_all(m, SIGKILL);
}

/* Close a service that a reload dropped (its socket was not taken over). */
static void
master_close_svc(struct master *m, struct svc *s)
{
	char	 path[PATH_MAX];

	if (s->restart)
		event_timer_cancel(m->loop, s->restart);
	if (s->fd != -1) {
		close(s->fd);
		if (strncmp(s->def.listen, "unix:", 5) == 0) {
			snprintf(path, sizeof(path), "%s/%s",
			    m->conf.queue_directory, s->def.listen + 5);
			(void)unlink(path);
		}
	}
	free(s->pids);
	free(s->started);
	mconf_free_def(&s->def);
}

static void
master_spawn_all(struct master *m)
{
	int	 i;

	for (i = 0; i < m->nsvcs; i++)
		spawn_fill(&m->svcs[i]);
}

static void
master_daemonize(void)
{
	pid_t	 pid;
	int	 fd;

	if ((pid = fork()) == -1)
		log_fatal("fork");
	if (pid > 0)
		_exit(0);
	(void)setsid();
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: master [-ft] [-c config_directory]\n"
	    "  -f  stay in the foreground, log to stderr\n"
	    "  -t  check the configuration and exit\n");
	exit(2);
}
