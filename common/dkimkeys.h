/*
 * dkimkeys: the entries of dkim_signing_keys, "domain:selector:/key.pem"
 * separated by commas or blanks; an entry that is an absolute path names
 * a file of such entries, one a line ('#' starts a comment).  Read by
 * keyd (the keys) and smtpd (which domains have one), both at start.
 */
#ifndef POSTHORN_DKIMKEYS_H
#define POSTHORN_DKIMKEYS_H

#include <stddef.h>

typedef int (*dkimkeys_fn)(const char *domain, const char *selector,
    const char *path, void *arg);

/*
 * fn for each entry (files too, if files); -1 (err set) on a malformed
 * entry, an unreadable file, or fn's -1.
 */
int	 dkimkeys_each(const char *spec, int files, dkimkeys_fn, void *arg,
	    char *err, size_t errlen);

#endif
