/* privsep: the one place where a process gives up root. */
#include <sys/prctl.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "privsep.h"

int
privsep_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
privsep_drop(const char *user, const char *chroot_dir, char *err,
    size_t errlen)
{
	return privsep_drop_extra(user, chroot_dir, (gid_t)-1, err, errlen);
}

int
privsep_drop_extra(const char *user, const char *chroot_dir, gid_t extra,
    char *err, size_t errlen)
{
	uid_t	 uid;
	gid_t	 gid, groups[2];
	size_t	 ngroups = 1;

	if (geteuid() != 0)
		return 0;
	if (user == NULL || *user == '\0') {
		snprintf(err, errlen, "running as root but no user to drop to");
		return -1;
	}
	if (privsep_lookup(user, &uid, &gid) == -1) {
		snprintf(err, errlen, "unknown user '%s'", user);
		return -1;
	}
	if (uid == 0) {
		/* Services configured to keep root (local delivery) stay so. */
		return 0;
	}
	if (chroot_dir && *chroot_dir) {
		if (chroot(chroot_dir) == -1 || chdir("/") == -1) {
			snprintf(err, errlen, "chroot %s: %s", chroot_dir,
			    strerror(errno));
			return -1;
		}
	}
	groups[0] = gid;
	if (extra != (gid_t)-1 && extra != gid)
		groups[ngroups++] = extra;
	if (setgroups(ngroups, groups) == -1 ||
	    setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		snprintf(err, errlen, "drop to %s: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1 || geteuid() == 0) {
		snprintf(err, errlen, "could regain root after dropping to %s",
		    user);
		return -1;
	}
	/*
	 * No program these daemons could be made to run may gain rights
	 * (set-user-ID files, file capabilities); they run none.
	 */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}
