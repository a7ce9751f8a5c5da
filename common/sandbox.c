/*
 * sandbox: the seccomp-bpf filter of the network-facing processes.
 *
 * The filter allows by default and names what is refused, rather than
 * listing what is allowed: the C library, OpenSSL, Berkeley DB and the
 * sanitizers each use system calls of their own, and a list of those
 * would break on the next version of any of them.  What it refuses is
 * what an attacker who owns the process wants next: run a program,
 * fork, trace another process, reach the kernel's more exotic doors,
 * write or (smtpd) read a file, open a network socket (smtpd).
 *
 * Running a program ends the process (SIGSYS, which master logs); the
 * rest fail with EPERM or EACCES, as a missing permission would, so
 * that a library that tries something harmless carries on.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "sandbox.h"

#if defined(__linux__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__) && !defined(__ILP32__)
#define SANDBOX_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH	AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define SANDBOX_ARCH	AUDIT_ARCH_RISCV64
#endif
#endif

#ifdef SANDBOX_ARCH

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS SECCOMP_RET_KILL
#endif

#define RET_KILL	SECCOMP_RET_KILL_PROCESS
#define RET_ERRNO(e)	(SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

#if __BYTE_ORDER == __LITTLE_ENDIAN
#define ARG_LO(n)	(offsetof(struct seccomp_data, args[n]))
#else
#define ARG_LO(n)	(offsetof(struct seccomp_data, args[n]) + 4)
#endif

#define PROG_MAX	512

struct prog {
	struct sock_filter	 f[PROG_MAX];
	size_t			 n;
	int			 overflow;
};

static void	 emit(struct prog *, struct sock_filter);
static void	 deny(struct prog *, long, unsigned int);
static void	 deny_if_set(struct prog *, long, int, unsigned int,
		    unsigned int);
static void	 allow_only(struct prog *, long, int, unsigned int,
		    unsigned int);
static void	 allow_families(struct prog *, long);

/* Never wanted by a network process: the process ends. */
static const long kill_calls[] = {
	SYS_execve,
#ifdef SYS_execveat
	SYS_execveat,
#endif
	SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev,
#ifdef SYS_pidfd_getfd
	SYS_pidfd_getfd,
#endif
	SYS_kexec_load,
#ifdef SYS_kexec_file_load
	SYS_kexec_file_load,
#endif
	SYS_init_module, SYS_finit_module, SYS_delete_module,
	SYS_mount, SYS_umount2, SYS_pivot_root, SYS_chroot,
	SYS_swapon, SYS_swapoff, SYS_reboot,
#ifdef SYS_bpf
	SYS_bpf,
#endif
	SYS_perf_event_open,
#ifdef SYS_userfaultfd
	SYS_userfaultfd,
#endif
	SYS_add_key, SYS_request_key, SYS_keyctl,
	SYS_unshare, SYS_setns,
	SYS_open_by_handle_at, SYS_name_to_handle_at,
#ifdef SYS_iopl
	SYS_iopl, SYS_ioperm,
#endif
	SYS_acct, SYS_settimeofday, SYS_clock_settime, SYS_adjtimex,
	SYS_clock_adjtime, SYS_sethostname, SYS_setdomainname,
	SYS_quotactl, SYS_syslog, SYS_vhangup,
#ifdef SYS_io_uring_setup
	/* io_uring's operations would bypass this filter. */
	SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
#endif
#ifdef SYS_fsopen
	SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick, SYS_move_mount,
	SYS_open_tree,
#endif
#ifdef SYS_mount_setattr
	SYS_mount_setattr,
#endif
};

/* Changes to the file system and to identity: refused (EPERM). */
static const long eperm_calls[] = {
#ifdef SYS_unlink
	SYS_unlink, SYS_rename, SYS_mkdir, SYS_rmdir, SYS_link, SYS_symlink,
	SYS_chmod, SYS_chown, SYS_lchown, SYS_mknod, SYS_utime, SYS_utimes,
	SYS_futimesat,
#endif
	SYS_unlinkat,
#ifdef SYS_renameat
	SYS_renameat,
#endif
#ifdef SYS_renameat2
	SYS_renameat2,
#endif
	SYS_mkdirat, SYS_linkat, SYS_symlinkat, SYS_fchmod, SYS_fchmodat,
#ifdef SYS_fchmodat2
	SYS_fchmodat2,
#endif
#ifdef SYS_setxattrat
	SYS_setxattrat, SYS_removexattrat,
#endif
	SYS_fchown, SYS_fchownat, SYS_truncate, SYS_mknodat, SYS_utimensat,
	SYS_setxattr, SYS_lsetxattr, SYS_fsetxattr, SYS_removexattr,
	SYS_lremovexattr, SYS_fremovexattr,
	SYS_setuid, SYS_setgid, SYS_setreuid, SYS_setregid, SYS_setresuid,
	SYS_setresgid, SYS_setfsuid, SYS_setfsgid, SYS_setgroups,
#ifdef SYS_fork
	SYS_fork, SYS_vfork,
#endif
};

int
sandbox_enter(enum sandbox_profile profile, char *err, size_t errlen)
{
	static struct prog	 p;
	struct sock_fprog	 fp;
	size_t			 i;
	const unsigned int	 writes = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC |
	    O_APPEND;

	memset(&p, 0, sizeof(p));
	/* Another architecture's numbers mean other calls: end it. */
	emit(&p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch)));
	emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    SANDBOX_ARCH, 1, 0));
	emit(&p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_KILL));
	emit(&p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
	/* The x32 ABI's numbers are the same calls by another door. */
	emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K,
	    0x40000000, 0, 1));
	emit(&p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_KILL));
#endif
	for (i = 0; i < sizeof(kill_calls) / sizeof(kill_calls[0]); i++)
		deny(&p, kill_calls[i], RET_KILL);
	for (i = 0; i < sizeof(eperm_calls) / sizeof(eperm_calls[0]); i++)
		deny(&p, eperm_calls[i], RET_ERRNO(EPERM));
	/* Threads only: a new process would escape nothing, but is not ours. */
	deny_if_set(&p, SYS_clone, 0, CLONE_THREAD, 0);
#ifdef SYS_clone3
	/* Its flags sit in memory BPF cannot read; the C library falls back. */
	deny(&p, SYS_clone3, RET_ERRNO(ENOSYS));
#endif
#ifdef SYS_openat2
	deny(&p, SYS_openat2, RET_ERRNO(ENOSYS));
#endif
	if (profile == SANDBOX_NO_FILES || profile == SANDBOX_NO_FILES_NET) {
#ifdef SYS_open
		deny(&p, SYS_open, RET_ERRNO(EACCES));
		deny(&p, SYS_creat, RET_ERRNO(EACCES));
#endif
		deny(&p, SYS_openat, RET_ERRNO(EACCES));
		if (profile == SANDBOX_NO_FILES_NET)
			allow_families(&p, SYS_socket);
		else
			allow_only(&p, SYS_socket, 0, AF_UNIX,
			    RET_ERRNO(EACCES));
		allow_only(&p, SYS_socketpair, 0, AF_UNIX, RET_ERRNO(EACCES));
		/* Its listening socket is inherited: a bind would make a file. */
		deny(&p, SYS_bind, RET_ERRNO(EPERM));
	} else {
#ifdef SYS_open
		deny_if_set(&p, SYS_open, 1, writes, 1);
		deny(&p, SYS_creat, RET_ERRNO(EACCES));
#endif
		deny_if_set(&p, SYS_openat, 2, writes, 1);
		allow_families(&p, SYS_socket);
	}
	emit(&p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ALLOW));
	if (p.overflow) {
		snprintf(err, errlen, "system-call filter too long");
		return -1;
	}
	/* No seccomp in this kernel at all: say so, run without. */
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == -1 && errno == EINVAL) {
		snprintf(err, errlen, "the kernel has no seccomp");
		return 0;
	}
	/* Needed to install a filter without privileges; we run none. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
		return -1;
	}
	fp.len = (unsigned short)p.n;
	fp.filter = p.f;
	/* EINVAL here may be a flaw of this program: never run open. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) == -1) {
		snprintf(err, errlen, "seccomp filter: %s", strerror(errno));
		return -1;
	}
	return 1;
}

static void
emit(struct prog *p, struct sock_filter f)
{
	if (p->n == PROG_MAX) {
		p->overflow = 1;
		return;
	}
	p->f[p->n++] = f;
}

/* if (nr == call) return action; */
static void
deny(struct prog *p, long call, unsigned int action)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    (unsigned int)call, 0, 1));
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, action));
}

/*
 * if (nr == call) return (arg & bits) ? refuse : allow; with refuse
 * EACCES when 'set' says the bits are forbidden, and the other way
 * round (EPERM unless a bit is set) when it is 0.
 */
static void
deny_if_set(struct prog *p, long call, int arg, unsigned int bits, unsigned
    int set)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    (unsigned int)call, 0, 4));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    ARG_LO(arg)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, bits,
	    0, 1));
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, set ?
	    RET_ERRNO(EACCES) : SECCOMP_RET_ALLOW));
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, set ?
	    SECCOMP_RET_ALLOW : RET_ERRNO(EPERM)));
}

/* if (nr == call) return arg == value ? allow : action; */
static void
allow_only(struct prog *p, long call, int arg, unsigned int value,
    unsigned int action)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    (unsigned int)call, 0, 4));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    ARG_LO(arg)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, value,
	    1, 0));
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, action));
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ALLOW));
}

/*
 * if (nr == call) return family in (UNIX, INET, INET6, NETLINK) ? allow
 * : EACCES; netlink because getaddrinfo asks the kernel which address
 * families are configured.
 */
static void
allow_families(struct prog *p, long call)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    (unsigned int)call, 0, 7));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    ARG_LO(0)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX,
	    4, 0));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET,
	    3, 0));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    AF_INET6, 2, 0));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    AF_NETLINK, 1, 0));
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    RET_ERRNO(EACCES)));
	emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ALLOW));
}

#else	/* no SANDBOX_ARCH */

int
sandbox_enter(enum sandbox_profile profile, char *err, size_t errlen)
{
	(void)profile;
	snprintf(err, errlen, "no system-call filter on this system");
	return 0;
}

#endif
