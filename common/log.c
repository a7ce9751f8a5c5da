/*
 * log: the only way posthorn programs report.  In the foreground (make run,
 * tests) lines go to stderr in the layout of a syslog file ("Dec  5
 * 16:17:09 host posthorn/smtpd[123]: ..."), so the tools that read mail logs
 * read these too; as a daemon to syslog(3), opened with LOG_NDELAY so it
 * still works after a chroot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"

static char	 log_name[64] = "posthorn";
static char	 log_host[64] = "localhost";
static int	 log_stderr = 1;
static pid_t	 log_pid;	/* 0: not known yet (reset in a fork's child) */

static void
log_forget_pid(void)
{
	log_pid = 0;
}

static void	 log_emit(int, const char *, const char *, int, va_list);

void
log_init(const char *prog, int to_stderr)
{
	static int	 atfork;

	snprintf(log_name, sizeof(log_name), "posthorn/%s", prog);
	log_stderr = to_stderr;
	/* getpid(2) once per process, not once per line. */
	if (!atfork++)
		(void)pthread_atfork(NULL, NULL, log_forget_pid);
	if (gethostname(log_host, sizeof(log_host)) == -1 || !log_host[0])
		strlcpy(log_host, "localhost", sizeof(log_host));
	log_host[sizeof(log_host) - 1] = '\0';
	log_host[strcspn(log_host, ".")] = '\0';
	if (!to_stderr)
		openlog(log_name, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

const char *
log_prog(void)
{
	return log_name;
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, NULL, fmt, 0, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 e = errno;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, "warning: ", fmt, e, ap);
	va_end(ap);
	errno = e;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, "warning: ", fmt, 0, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 e = errno;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "fatal: ", fmt, e, ap);
	va_end(ap);
	exit(1);
}

void
log_fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "fatal: ", fmt, 0, ap);
	va_end(ap);
	exit(1);
}

void
log_panic(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "panic: ", fmt, 0, ap);
	va_end(ap);
	abort();
}

static void
log_emit(int pri, const char *prefix, const char *fmt, int err, va_list ap)
{
	char		 msg[2048], stamp[32], line[2200];
	int		 len;
	time_t		 now;
	struct tm	 tm;
	size_t		 n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(err));
	}
	/* Never let a peer's bytes forge log lines or terminal escapes. */
	for (n = 0; msg[n]; n++)
		if ((unsigned char)msg[n] < 0x20 || msg[n] == 0x7f)
			msg[n] = '?';
	if (!log_stderr) {
		syslog(pri, "%s%s", prefix ? prefix : "", msg);
		return;
	}
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	if (log_pid == 0)
		log_pid = getpid();
	/* One write(2) per line, so lines of concurrent processes never mix. */
	len = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s%s\n", stamp,
	    log_host, log_name, (long)log_pid, prefix ? prefix : "", msg);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(line)) {
		len = sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	(void)!write(STDERR_FILENO, line, (size_t)len);
}
