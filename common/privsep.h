/* privsep: drop root for good, optionally into a chroot. */
#ifndef POSTHORN_PRIVSEP_H
#define POSTHORN_PRIVSEP_H

#include <sys/types.h>

/*
 * As root: chroot (if dir is set), then become user with only its primary
 * group.  As anyone else: nothing to drop, return 0.  -1 with a reason in
 * err on any failure; callers treat that as fatal.
 */
int	 privsep_drop(const char *user, const char *chroot_dir, char *err,
	    size_t errlen);
/* The same, keeping one more group besides the user's (-1: none). */
int	 privsep_drop_extra(const char *user, const char *chroot_dir,
	    gid_t extra, char *err, size_t errlen);
int	 privsep_lookup(const char *user, uid_t *, gid_t *);

#endif
