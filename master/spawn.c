/*
 * spawn: children.  Each process slot of a service is kept filled: a
 * child that dies is restarted, at once if it had run a while, else after
 * a delay that doubles up to MASTER_BACKOFF_MAX_MS, so a crash loop does
 * not spin.  Children are fork+exec'ed, so nothing of the master's memory
 * crosses into them; they get the listening socket on fd 3 and the
 * master-alive pipe on fd 4, and nothing else.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <bsd/unistd.h>

#include "log.h"
#include "master.h"
#include "service.h"
#include "sock.h"

static void	 spawn_one(struct svc *, int);
static void	 spawn_restart(void *);
static void	 spawn_exec(struct svc *) __attribute__((noreturn));
static int	 spawn_wrapper(const char *, char *, size_t, char **, int);

int
spawn_bind(const struct conf *c, struct svc *s, char *err, size_t errlen)
{
	char	 path[PATH_MAX];
	const char *l = s->def.listen;

	if (strncmp(l, "unix:", 5) == 0) {
		int	 own = strncmp(l + 5, "private/", 8) != 0 &&
		    strncmp(l + 5, "public/", 7) != 0;
		mode_t	 old = 0;

		snprintf(path, sizeof(path), "%s/%s", c->queue_directory, l + 5);
		/* Born with its final mode: no chmod(2) that could be misled. */
		if (own)
			old = umask(0117);
		s->fd = sock_unix_listen(path, SOMAXCONN);
		if (own)
			umask(old);
		if (s->fd == -1) {
			snprintf(err, errlen, "listen %s: %s", path,
			    strerror(errno));
			return -1;
		}
		/*
		 * A socket in a folder of its own (tlspol/socket) is for the
		 * service's own user's processes, not for all daemons.
		 */
		if (own)
			return qdirs_socket_user(s->def.user, path, err,
			    errlen);
		return qdirs_socket_owner(c, path, err, errlen);
	}
	s->fd = sock_inet_listen(l, SOMAXCONN, err, errlen);
	return s->fd == -1 ? -1 : 0;
}

/* Start a process in every empty slot that is not waiting out a delay. */
void
spawn_fill(struct svc *s)
{
	int	 i;

	if (s->m->stopping || s->restart)
		return;
	for (i = 0; i < s->def.procs; i++)
		if (s->pids[i] == 0)
			spawn_one(s, i);
}

/* SIGCHLD: collect every dead child and decide what follows. */
void
spawn_reap(struct master *m)
{
	struct svc	*s;
	pid_t		 pid;
	uint64_t	 lived;
	int		 status, i, k, found;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		found = 0;
		for (k = 0; k < m->nretired; k++)
			if (m->retired[k] == pid) {
				m->retired[k] = m->retired[--m->nretired];
				found = 1;
				break;
			}
		for (k = 0; !found && k < m->nsvcs; k++) {
			s = &m->svcs[k];
			for (i = 0; i < s->def.procs; i++) {
				if (s->pids[i] != pid)
					continue;
				found = 1;
				s->pids[i] = 0;
				if (m->stopping)
					break;
				lived = event_now_ms() - s->started[i];
				if (WIFSIGNALED(status))
					log_warnx("service %s: process %s pid %ld "
					    "killed by signal %d", s->def.name,
					    s->def.program, (long)pid,
					    WTERMSIG(status));
				else if (WEXITSTATUS(status) != 0)
					log_warnx("service %s: process %s pid %ld "
					    "exit status %d", s->def.name,
					    s->def.program, (long)pid,
					    WEXITSTATUS(status));
				if (WIFEXITED(status) &&
				    WEXITSTATUS(status) == 0)
					s->backoff_ms = 0;
				else if (lived >= MASTER_STABLE_MS)
					s->backoff_ms = 0;
				else if (s->backoff_ms == 0)
					s->backoff_ms = MASTER_BACKOFF_MIN_MS;
				else if ((s->backoff_ms *= 2) >
				    MASTER_BACKOFF_MAX_MS)
					s->backoff_ms = MASTER_BACKOFF_MAX_MS;
				if (s->backoff_ms == 0 || s->restart) {
					spawn_fill(s);
				} else {
					log_warnx("service %s: restarting in "
					    "%ld ms", s->def.name,
					    s->backoff_ms);
					s->restart = event_timer_add(m->loop,
					    s->backoff_ms, spawn_restart, s);
				}
				break;
			}
		}
	}
}

void
spawn_signal_all(struct master *m, int sig)
{
	int	 i, k;

	for (k = 0; k < m->nsvcs; k++)
		for (i = 0; i < m->svcs[k].def.procs; i++)
			if (m->svcs[k].pids[i] > 0)
				kill(m->svcs[k].pids[i], sig);
	for (k = 0; k < m->nretired; k++)
		kill(m->retired[k], sig);
}

int
spawn_count(struct master *m)
{
	int	 i, k, n = m->nretired;

	for (k = 0; k < m->nsvcs; k++)
		for (i = 0; i < m->svcs[k].def.procs; i++)
			if (m->svcs[k].pids[i] > 0)
				n++;
	return n;
}

static void
spawn_restart(void *arg)
{
	struct svc	*s = arg;

	s->restart = NULL;
	spawn_fill(s);
}

static void
spawn_one(struct svc *s, int slot)
{
	pid_t	 pid;

	if ((pid = fork()) == -1) {
		log_warn("service %s: fork", s->def.name);
		if (s->restart == NULL)
			s->restart = event_timer_add(s->m->loop,
			    MASTER_BACKOFF_MAX_MS, spawn_restart, s);
		return;
	}
	if (pid == 0)
		spawn_exec(s);
	s->pids[slot] = pid;
	s->started[slot] = event_now_ms();
}

/* In the child: set up fds 3 and 4, clean signals, exec the program. */
static void
spawn_exec(struct svc *s)
{
	struct master	*m = s->m;
	sigset_t	 none;
	char		 path[PATH_MAX], wrapper[1024], *argv[16 + 16 + 64];
	int		 lfd, afd, argc = 0, i;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (i = 1; i < NSIG; i++)
		signal(i, SIG_DFL);
	(void)setsid();		/* Ctrl-C reaches the master only */
	if ((lfd = fcntl(s->fd, F_DUPFD, 10)) == -1 ||
	    (afd = fcntl(m->alive[0], F_DUPFD, 10)) == -1 ||
	    dup2(lfd, SERVICE_LISTEN_FD) == -1 ||
	    dup2(afd, SERVICE_MASTER_FD) == -1) {
		log_warn("service %s: dup2", s->def.name);
		_exit(127);
	}
	closefrom(SERVICE_MASTER_FD + 1);
	snprintf(path, sizeof(path), "%s/%s", m->conf.daemon_directory,
	    s->def.program);
	argc = spawn_wrapper(m->conf.daemon_wrapper, wrapper, sizeof(wrapper),
	    argv, 16);
	argv[argc++] = path;
	argv[argc++] = "-c";
	argv[argc++] = m->confdir;
	argv[argc++] = "-n";
	argv[argc++] = s->def.name;
	argv[argc++] = "-u";
	argv[argc++] = s->def.user;
	if (s->def.chroot) {
		argv[argc++] = "-r";
		argv[argc++] = m->conf.queue_directory;
	}
	if (m->foreground)
		argv[argc++] = "-f";
	for (i = 0; i < s->def.nargs && i < 64; i++)
		argv[argc++] = s->def.args[i];
	argv[argc] = NULL;
	execv(argv[0], argv);
	log_warn("service %s: exec %s", s->def.name, argv[0]);
	_exit(127);
}

/*
 * daemon_wrapper (a debugging aid, as Postfix's debugger_command): its
 * words go before the program, e.g. "/usr/bin/valgrind --leak-check=full".
 * Returns how many argv slots it took, at most max.
 */
static int
spawn_wrapper(const char *conf, char *copy, size_t copylen, char **argv,
    int max)
{
	char	*p, *word;
	int	 n = 0;

	if (conf == NULL || *conf == '\0')
		return 0;
	strlcpy(copy, conf, copylen);
	for (p = copy; n < max && (word = strsep(&p, " \t")) != NULL;)
		if (*word != '\0')
			argv[n++] = word;
	return n;
}
