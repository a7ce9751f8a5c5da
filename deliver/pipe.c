/*
 * pipe: deliver to a command ("|command" in an alias or .forward),
 * already running as its owner.  The command runs under /bin/sh with a
 * small fixed environment, the message (with Return-Path and
 * Delivered-To) on its standard input, and command_time_limit to finish.
 * Its exit status says what happened, in sysexits(3) terms: 0 delivered,
 * EX_TEMPFAIL and the other "try again" codes deferred, anything else
 * bounced with the command's first words of output as the reason.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "local.h"
#include "queuefile.h"
#include "sock.h"

#define PIPE_OUTPUT_MAX	400	/* of the command's output kept for bounces */

static void	 pipe_exec(const char *, const struct local_msg *,
		    const struct dest *, int, int) __attribute__((noreturn));
static int	 pipe_feed(pid_t, int, int, const struct local_msg *,
		    const struct dest *, long, char *, size_t, int *);
static int	 pipe_status(int, const char *, char *, char *, size_t);

int
pipe_deliver(const char *command, const struct local_msg *m,
    const struct dest *d, const struct conf *c, char *status, char *err,
    size_t errlen)
{
	int	 in[2], out[2], wstatus = 0;
	pid_t	 pid;
	char	 output[PIPE_OUTPUT_MAX + 1];

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		pipe_exec(command, m, d, in[0], out[1]);
	close(in[0]);
	close(out[1]);
	switch (pipe_feed(pid, in[1], out[0], m, d, c->command_time_limit,
	    output, sizeof(output), &wstatus)) {
	case -1:
		snprintf(err, errlen, "command %s: time limit of %lds exceeded",
		    command, c->command_time_limit);
		strlcpy(status, "4.3.0", 8);
		return -1;
	case -2:
		snprintf(err, errlen, "command %s: cannot read the queue file",
		    command);
		strlcpy(status, "4.3.0", 8);
		return -1;
	}
	return pipe_status(wstatus, output, status, err, errlen);
}

static void
pipe_exec(const char *command, const struct local_msg *m, const struct dest *d,
    int in, int out)
{
	char	*env[16], buf[16][PATH_MAX + 32];
	int	 n = 0;

#define ENV(...) do {							\
	snprintf(buf[n], sizeof(buf[n]), __VA_ARGS__);			\
	env[n] = buf[n];						\
	n++;								\
} while (0)
	ENV("PATH=/usr/local/bin:/usr/bin:/bin");
	ENV("HOME=%s", d->home[0] ? d->home : "/");
	ENV("USER=%s", d->user);
	ENV("LOGNAME=%s", d->user);
	ENV("SHELL=/bin/sh");
	ENV("SENDER=%s", d->sender);
	ENV("RECIPIENT=%s", d->delivered_to);
	ENV("ORIGINAL_RECIPIENT=%s", d->recipient);
	ENV("LOCAL=%s", d->local);
	ENV("EXTENSION=%s", d->extension);
	ENV("DOMAIN=%s", d->domain);
	ENV("QUEUE_ID=%s", m->id);
#undef ENV
	env[n] = NULL;
	if (dup2(in, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1 ||
	    dup2(out, STDERR_FILENO) == -1)
		_exit(EX_OSERR);
	closefrom(STDERR_FILENO + 1);
	(void)setsid();		/* so a time-out kills the whole group */
	if (chdir(d->home[0] ? d->home : "/") == -1)
		(void)chdir("/");
	signal(SIGPIPE, SIG_DFL);
	execle("/bin/sh", "sh", "-c", command, (char *)NULL, env);
	_exit(EX_OSERR);
}

/*
 * Write the message to the command while reading what it says, so that
 * neither side can block the other; -1 on time-out (the group is killed).
 */
static int
pipe_feed(pid_t pid, int in, int out, const struct local_msg *m,
    const struct dest *d, long limit, char *output, size_t outlen, int *wstatus)
{
	struct buf	 b;
	struct pollfd	 pfd[2];
	char		 chunk[QF_CHUNK], junk[4096];
	off_t		 off = m->content_off;
	size_t		 sent = 0, got = 0;
	time_t		 deadline = time(NULL) + limit;
	ssize_t		 n;
	int		 more = 1, timeout, readerr = 0;

	buf_init(&b, 0);
	local_headers(m, d, &b);
	fcntl(in, F_SETFL, O_NONBLOCK);
	while (in != -1 || out != -1) {
		if (in != -1 && sent == b.len && more) {
			n = qf_read_content(m->qfd, &off, chunk, sizeof(chunk));
			if (n > 0) {
				buf_reset(&b);
				buf_append(&b, chunk, (size_t)n);
				sent = 0;
			} else if (n == -1) {
				/* Never pass a truncated message off as whole. */
				readerr = 1;
				goto timeout;
			} else
				more = 0;
		}
		if (in != -1 && sent == b.len && !more) {
			close(in);
			in = -1;
		}
		pfd[0].fd = in;
		pfd[0].events = POLLOUT;
		pfd[1].fd = out;
		pfd[1].events = POLLIN;
		timeout = (int)(deadline - time(NULL));
		if (timeout <= 0 || poll(pfd, 2, timeout * 1000) == 0)
			goto timeout;
		if (in != -1 && (pfd[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = write(in, b.data + sent, b.len - sent);
			if (n > 0)
				sent += (size_t)n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR) {
				/* It stopped reading: its exit status tells. */
				close(in);
				in = -1;
			}
		}
		if (out != -1 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = read(out, got < outlen - 1 ? output + got : junk,
			    got < outlen - 1 ? outlen - 1 - got : sizeof(junk));
			if (n <= 0 && (n == 0 || errno != EINTR)) {
				close(out);
				out = -1;
			} else if (n > 0 && got < outlen - 1)
				got += (size_t)n;
		}
	}
	output[got] = '\0';
	buf_free(&b);
	for (;;) {
		if (waitpid(pid, wstatus, WNOHANG) == pid)
			return 0;
		if (time(NULL) >= deadline)
			break;
		usleep(10000);
	}
timeout:
	buf_free(&b);
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, wstatus, 0) == -1 && errno == EINTR)
		;
	return readerr ? -2 : -1;
}

static int
pipe_status(int wstatus, const char *output, char *status, char *err,
    size_t errlen)
{
	char		 said[PIPE_OUTPUT_MAX + 1];
	size_t		 i;
	int		 code;

	strlcpy(said, output, sizeof(said));
	for (i = 0; said[i]; i++)
		if (said[i] == '\n' || said[i] == '\r' || said[i] == '\t')
			said[i] = ' ';
	if (WIFSIGNALED(wstatus)) {
		snprintf(err, errlen, "command killed by signal %d%s%s",
		    WTERMSIG(wstatus), said[0] ? ": " : "", said);
		strlcpy(status, "4.3.0", 8);
		return -1;
	}
	code = WEXITSTATUS(wstatus);
	if (code == 0) {
		snprintf(err, errlen, "delivered to command");
		strlcpy(status, "2.0.0", 8);
		return 0;
	}
	snprintf(err, errlen, "command exited with status %d%s%s", code,
	    said[0] ? ": " : "", said);
	switch (code) {
	case EX_TEMPFAIL: case EX_OSERR: case EX_OSFILE: case EX_CANTCREAT:
	case EX_IOERR:
		strlcpy(status, "4.3.0", 8);
		return -1;
	case EX_NOUSER:
		strlcpy(status, "5.1.1", 8);
		break;
	case EX_NOHOST:
		strlcpy(status, "5.1.2", 8);
		break;
	case EX_PROTOCOL:
		strlcpy(status, "5.5.0", 8);
		break;
	case EX_NOPERM:
		strlcpy(status, "5.7.1", 8);
		break;
	case EX_CONFIG:
		strlcpy(status, "5.3.5", 8);
		break;
	default:
		strlcpy(status, "5.3.0", 8);
	}
	return -2;
}
