/* log: one line per event, to syslog (daemon) or stderr (foreground). */
#ifndef POSTHORN_LOG_H
#define POSTHORN_LOG_H

void	 log_init(const char *prog, int to_stderr);
const char *log_prog(void);
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* The environment is wrong (config, disk, peer): log and exit(1). */
void	 log_fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 log_fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* A broken invariant: log and abort(), so the master restarts us. */
void	 log_panic(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
