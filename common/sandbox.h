/*
 * sandbox: a seccomp-bpf system-call filter for the processes that talk
 * to the network (smtpd, smtp) or hold secrets (keyd, auth), installed
 * with prctl(2) once they are set up: what OpenSMTPD gets from pledge(2).
 * None may execute a program, fork, trace, load code into the kernel or
 * change the file system; smtpd and keyd may open no file and create
 * only UNIX sockets, smtp and auth may open files for reading only.
 */
#ifndef POSTHORN_SANDBOX_H
#define POSTHORN_SANDBOX_H

#include <stddef.h>

enum sandbox_profile {
	SANDBOX_NO_FILES,	/* smtpd, keyd: no open(2), AF_UNIX sockets only */
	SANDBOX_NO_FILES_NET,	/* smtpd with TCP milters: IP sockets too */
	SANDBOX_READ_ONLY,	/* smtp, auth: open(2) read-only, any socket */
};

/*
 * 1 installed, 0 not available here (another system or architecture:
 * err says why), -1 failed (err says why; callers treat it as fatal).
 */
int	 sandbox_enter(enum sandbox_profile, char *err, size_t errlen);

#endif
