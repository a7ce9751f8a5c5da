/*
 * posthorn: the control command, in the spirit of postfix(1).
 *
 *	posthorn [-c confdir] start | stop | abort | reload | status
 *	posthorn [-c confdir] check
 *	posthorn [-c confdir] flush [domain | @domain]
 *
 * It finds the master through its pid file, whose lock says whether it
 * runs (a stale file says nothing), and signals it: SIGTERM to stop
 * (draining), SIGQUIT to abort (at once), SIGHUP to reload, after the
 * new configuration has passed the master's own check.  check runs that
 * check and looks at every map and at the owners and modes that matter.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "conf.h"
#include "tool.h"
#include "map.h"

#ifndef CONFIG_DIR
#define CONFIG_DIR	"/usr/local/etc/posthorn"
#endif

static const char *confdir = CONFIG_DIR;
static int	 nerrors, nwarnings;

static pid_t	 master_pid(const struct conf *);
static int	 run(char *const []);
static int	 wait_gone(const struct conf *, long);
static int	 cmd_check(const struct conf *);
static void	 check_maps(const struct conf *);
static void	 check_dirs(const struct conf *);
static void	 check_file(const char *, int secret);
static void	 problem(int error, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 usage(void) __attribute__((noreturn));

int
main(int argc, char **argv)
{
	struct conf	 c;
	char		 err[1024], master[PATH_MAX], tool[PATH_MAX];
	const char	*cmd;
	pid_t		 pid;
	int		 ch;

	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch != 'c')
			usage();
		confdir = optarg;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	cmd = argv[0];
	if (conf_load(&c, confdir, err, sizeof(err)) == -1) {
		fprintf(stderr, "posthorn: fatal: %s\n", err);
		if (strcmp(cmd, "reload") == 0)
			fprintf(stderr, "posthorn: not reloaded: the "
			    "configuration has errors\n");
		return 1;
	}
	snprintf(master, sizeof(master), "%s/master", c.daemon_directory);
	pid = master_pid(&c);

	if (strcmp(cmd, "status") == 0 && argc == 1) {
		if (pid > 0) {
			printf("posthorn: the mail system is running: PID: %ld\n",
			    (long)pid);
			return 0;
		}
		printf("posthorn: the mail system is not running\n");
		return 1;
	}
	if (strcmp(cmd, "start") == 0 && argc == 1) {
		if (pid > 0) {
			fprintf(stderr, "posthorn: the mail system is already "
			    "running: PID: %ld\n", (long)pid);
			return 1;
		}
		/* Without -f the master detaches once it is set up. */
		if (run((char *const []){ master, "-c", (char *)confdir,
		    NULL }) != 0)
			return 1;
		printf("posthorn: starting the mail system\n");
		return 0;
	}
	if ((strcmp(cmd, "stop") == 0 || strcmp(cmd, "abort") == 0) &&
	    argc == 1) {
		if (pid <= 0) {
			fprintf(stderr, "posthorn: the mail system is not "
			    "running\n");
			return 1;
		}
		if (kill(pid, cmd[0] == 's' ? SIGTERM : SIGQUIT) == -1) {
			fprintf(stderr, "posthorn: kill %ld: %s\n", (long)pid,
			    strerror(errno));
			return 1;
		}
		printf("posthorn: %s the mail system\n", cmd[0] == 's' ?
		    "stopping" : "aborting");
		return wait_gone(&c, cmd[0] == 's' ? c.drain_timeout + 10 :
		    10);
	}
	if (strcmp(cmd, "reload") == 0 && argc == 1) {
		if (pid <= 0) {
			fprintf(stderr, "posthorn: the mail system is not "
			    "running\n");
			return 1;
		}
		/* The master would refuse it too, but only in its log. */
		if (run((char *const []){ master, "-t", "-c", (char *)confdir,
		    NULL }) != 0) {
			fprintf(stderr, "posthorn: not reloaded: the "
			    "configuration has errors\n");
			return 1;
		}
		if (kill(pid, SIGHUP) == -1) {
			fprintf(stderr, "posthorn: kill %ld: %s\n", (long)pid,
			    strerror(errno));
			return 1;
		}
		printf("posthorn: refreshing the mail system\n");
		return 0;
	}
	if (strcmp(cmd, "check") == 0 && argc == 1) {
		if (run((char *const []){ master, "-t", "-c", (char *)confdir,
		    NULL }) != 0)
			nerrors++;
		return cmd_check(&c);
	}
	if (strcmp(cmd, "flush") == 0 && argc <= 2) {
		tool_path(tool, sizeof(tool), "posthorn-queue");
		return run((char *const []){ tool, "-c", (char *)confdir,
		    "flush", argc == 2 ? argv[1] : NULL, NULL });
	}
	usage();
}

/* The running master's pid, or 0: the pid file's lock is the proof. */
static pid_t
master_pid(const struct conf *c)
{
	char	 path[PATH_MAX], buf[32];
	ssize_t	 n;
	long	 pid;
	int	 fd;

	snprintf(path, sizeof(path), "%s/pid/master.pid", c->queue_directory);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return 0;	/* nobody holds it: a leftover */
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 0 ? (pid_t)pid : 0;
}

/* Run a program, wait; its exit status (127 when it cannot start). */
static int
run(char *const argv[])
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == -1) {
		fprintf(stderr, "posthorn: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "posthorn: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int
wait_gone(const struct conf *c, long seconds)
{
	struct timespec	 ts = { 0, 100 * 1000 * 1000 };
	long		 i;

	for (i = 0; i < seconds * 10; i++) {
		if (master_pid(c) == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "posthorn: the master is still running after %lds\n",
	    seconds);
	return 1;
}

static int
cmd_check(const struct conf *c)
{
	check_maps(c);
	check_dirs(c);
	if (nerrors == 0)
		printf("posthorn: configuration in %s is valid%s\n", confdir,
		    nwarnings ? " (with warnings)" : "");
	return nerrors ? 1 : 0;
}

/* Every configured map opens; a hash map's source is not newer. */
static void
check_maps(const struct conf *c)
{
	static const char *const maps[] = { "alias_map", "virtual_mailbox_map",
	    "virtual_alias_map", "relay_recipient_map", "transport_map",
	    "smtpd_client_access", "smtpd_sender_access",
	    "smtpd_recipient_access", "smtpd_sender_login_map",
	    "auth_password_map", "smtp_tls_policy_map",
	    "smtp_sasl_password_map", "smtp_destination_rate_map",
	    "odmr_domain_map" };
	struct map_entry *e;
	struct stat	 src, db;
	struct map	*m;
	char		 spec[4096], err[1024], dbpath[PATH_MAX];
	const char	*path;
	size_t		 i, k, n;

	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		if (conf_key_index(maps[i], &k) == -1)
			continue;
		conf_format(c, k, spec, sizeof(spec));
		if (spec[0] == '\0')
			continue;
		if ((m = map_open(spec, err, sizeof(err))) == NULL) {
			problem(1, "%s: %s", maps[i], err);
			continue;
		}
		map_close(m);
		path = strncmp(spec, "hash:", 5) == 0 || strncmp(spec, "btree:",
		    6) == 0 ? strchr(spec, ':') + 1 : NULL;
		if (path == NULL)
			continue;
		/* The source must still build: file:line for each error. */
		if (map_text_read(path, &e, &n, err, sizeof(err)) == -1) {
			if (stat(path, &src) == 0)
				problem(1, "%s: %s", maps[i], err);
			continue;
		}
		map_entries_free(e, n);
		snprintf(dbpath, sizeof(dbpath), "%s.db", path);
		if (stat(path, &src) == 0 && stat(dbpath, &db) == 0 &&
		    src.st_mtime > db.st_mtime)
			problem(0, "%s: %s is newer than %s: run posthorn-map "
			    "%s", maps[i], path, dbpath, spec);
		if (strcmp(maps[i], "auth_password_map") == 0 ||
		    strcmp(maps[i], "smtp_sasl_password_map") == 0) {
			check_file(path, 1);
			check_file(dbpath, 1);
		}
	}
}

/* The owners and modes that keep mail and secrets private. */
static void
check_dirs(const struct conf *c)
{
	static const char *const q[] = { "incoming", "active", "deferred",
	    "hold", "corrupt", "free" };
	char		 path[PATH_MAX];
	struct stat	 st;
	size_t		 i;

	if (stat(c->queue_directory, &st) == -1) {
		/* The master makes it at the first start. */
		problem(0, "queue_directory %s does not exist yet: %s",
		    c->queue_directory, strerror(errno));
		return;
	}
	if (st.st_mode & 022)
		problem(1, "%s is writable by group or others",
		    c->queue_directory);
	if (geteuid() == 0 && st.st_uid != 0)
		problem(1, "%s is not owned by root", c->queue_directory);
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->queue_directory, q[i]);
		if (stat(path, &st) == -1)
			continue;
		if (st.st_mode & 077)
			problem(1, "%s is open to group or others (mode %o): "
			    "the queue must be the queue manager's alone", path,
			    (unsigned)(st.st_mode & 07777));
	}
	check_file(confdir, 0);
	snprintf(path, sizeof(path), "%s/posthorn.conf", confdir);
	check_file(path, 0);
	snprintf(path, sizeof(path), "%s/master.conf", confdir);
	check_file(path, 0);
	if (c->smtpd_tls_key_file[0])
		check_file(c->smtpd_tls_key_file, 1);
	if (geteuid() == 0 && getgrnam(c->queue_admin_group) == NULL)
		problem(1, "queue_admin_group '%s' does not exist",
		    c->queue_admin_group);
}

/* Nobody else may write it; a secret nobody else may read either. */
static void
check_file(const char *path, int secret)
{
	struct stat	 st;

	if (stat(path, &st) == -1)
		return;
	if (st.st_mode & 002)
		problem(1, "%s is writable by everybody", path);
	else if (st.st_mode & 020 && !S_ISDIR(st.st_mode))
		problem(0, "%s is writable by its group", path);
	if (secret && (st.st_mode & 004))
		problem(1, "%s holds secrets but is readable by everybody "
		    "(mode %o)", path, (unsigned)(st.st_mode & 07777));
}

static void
problem(int error, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "posthorn: %s: ", error ? "error" : "warning");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (error)
		nerrors++;
	else
		nwarnings++;
}

static void
usage(void)
{
	fprintf(stderr, "usage: posthorn [-c confdir] start | stop | abort | "
	    "reload | status | check\n"
	    "       posthorn [-c confdir] flush [domain | @domain]\n");
	exit(2);
}
