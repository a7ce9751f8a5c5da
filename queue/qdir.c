/*
 * qdir: the walk over the sixteen hashed subfolders of a queue folder
 * (incoming/, active/, deferred/), shared by recovery, the queue scan,
 * the domain index and the flush of everything.
 */
#include <dirent.h>
#include <stdio.h>

#include "log.h"
#include "qmgr.h"

#define QDIR_HEX	"0123456789ABCDEF"

int
qdir_each(struct qmgr *q, const char *top,
    int (*fn)(struct qmgr *, const char *dir, const char *name, int sub,
    void *), void *arg)
{
	char		 dir[32];
	struct dirent	*de;
	DIR		*d;
	int		 i, n = 0;

	for (i = 0; i < 16; i++) {
		snprintf(dir, sizeof(dir), "%s/%c", top, QDIR_HEX[i]);
		if ((d = opendir(dir)) == NULL) {
			log_warn("opendir %s", dir);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (fn(q, dir, de->d_name, i, arg) == -1) {
				closedir(d);
				return n;
			}
			n++;
		}
		closedir(d);
	}
	return n;
}
