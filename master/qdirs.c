/*
 * qdirs: the queue directory's layout and ownership, made right at every
 * start.  As root: private/ is root:mail_group 0750 (the daemons reach
 * the internal sockets, nobody else does), the queue folders belong to
 * the qmgr service's user 0700 (nobody else reads mail), pid/ to root.
 * public/ holds qmgr's socket for the queue tools: the qmgr user's, group
 * queue_admin_group, 2750 (setgid, so that the socket qmgr makes there
 * belongs to that group too).  maildrop/ is the qmgr user's, group
 * setgid_group, 1730: posthorn-postdrop (setgid) may add files, nobody
 * else may look.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "master.h"
#include "privsep.h"

static int	 qdirs_make(const char *, mode_t, uid_t, gid_t, char *, size_t);

int
qdirs_setup(const struct conf *c, const struct service_set *set, char *err,
    size_t errlen)
{
	static const char *const qd[] = { "incoming", "active", "deferred",
	    "hold", "corrupt", "free" };
	char		 path[PATH_MAX];
	uid_t		 quid = geteuid();
	gid_t		 qgid = getegid(), mgid = getegid(), agid = getegid();
	gid_t		 dgid = getegid();
	struct group	*gr;
	size_t		 i;
	int		 k, root = geteuid() == 0;

	if (root) {
		if ((gr = getgrnam(c->mail_group)) == NULL) {
			snprintf(err, errlen, "mail_group '%s' does not exist "
			    "(see INSTALL)", c->mail_group);
			return -1;
		}
		mgid = gr->gr_gid;
		if ((gr = getgrnam(c->queue_admin_group)) == NULL) {
			snprintf(err, errlen, "queue_admin_group '%s' does not "
			    "exist", c->queue_admin_group);
			return -1;
		}
		agid = gr->gr_gid;
		if ((gr = getgrnam(c->setgid_group)) == NULL) {
			snprintf(err, errlen, "setgid_group '%s' does not exist "
			    "(see INSTALL)", c->setgid_group);
			return -1;
		}
		dgid = gr->gr_gid;
		for (k = 0; k < set->n; k++)
			if (strcmp(set->defs[k].program, "qmgr") == 0 &&
			    privsep_lookup(set->defs[k].user, &quid, &qgid) ==
			    -1) {
				snprintf(err, errlen, "unknown user '%s'",
				    set->defs[k].user);
				return -1;
			}
	}
	if (qdirs_make(c->queue_directory, 0755, geteuid(), getegid(), err,
	    errlen) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/pid", c->queue_directory);
	if (qdirs_make(path, 0755, geteuid(), getegid(), err, errlen) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/private", c->queue_directory);
	if (qdirs_make(path, root ? 0750 : 0700, geteuid(), mgid, err,
	    errlen) == -1)
		return -1;
	/* sendmail's way in: postdrop (setgid) writes, nobody lists. */
	snprintf(path, sizeof(path), "%s/maildrop", c->queue_directory);
	if (qdirs_make(path, root ? 01730 : 0700, quid, dgid, err, errlen) ==
	    -1)
		return -1;
	snprintf(path, sizeof(path), "%s/public", c->queue_directory);
	if (qdirs_make(path, root ? 02750 : 0700, quid, agid, err, errlen) ==
	    -1)
		return -1;
	for (i = 0; i < sizeof(qd) / sizeof(qd[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->queue_directory, qd[i]);
		if (qdirs_make(path, 0700, quid, qgid, err, errlen) == -1)
			return -1;
	}
	/*
	 * tlspol/: the TLS policy service's, which the relay agents read as
	 * the same user (the cached MTA-STS policies and the TLS results).
	 */
	for (k = 0; k < set->n; k++) {
		uid_t	 tuid = geteuid();
		gid_t	 tgid = getegid();

		if (strcmp(set->defs[k].program, "tlspol") != 0)
			continue;
		if (root && privsep_lookup(set->defs[k].user, &tuid, &tgid) ==
		    -1) {
			snprintf(err, errlen, "unknown user '%s'",
			    set->defs[k].user);
			return -1;
		}
		/*
		 * tlspol/ is root's, open to the user's group (its socket
		 * must not be replaceable by the user); what is in it is the
		 * user's.
		 */
		snprintf(path, sizeof(path), "%s/tlspol", c->queue_directory);
		if (qdirs_make(path, root ? 0750 : 0700, geteuid(), tgid, err,
		    errlen) == -1)
			return -1;
		snprintf(path, sizeof(path), "%s/tlspol/sts",
		    c->queue_directory);
		if (qdirs_make(path, 0700, tuid, tgid, err, errlen) == -1)
			return -1;
		snprintf(path, sizeof(path), "%s/tlspol/results",
		    c->queue_directory);
		if (qdirs_make(path, 0700, tuid, tgid, err, errlen) == -1)
			return -1;
		break;
	}
	return 0;
}

/*
 * A service's own socket, made 0660 by spawn_bind's umask: root and the
 * user's group, as root.  lchown(2), and only on a socket: the folder
 * may be the user's, and it must not lead root to another file.
 */
int
qdirs_socket_user(const char *user, const char *path, char *err,
    size_t errlen)
{
	struct stat	 st;
	uid_t		 uid;
	gid_t		 gid;

	if (lstat(path, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: not the socket just made", path);
		return -1;
	}
	if (geteuid() != 0)
		return 0;
	if (privsep_lookup(user, &uid, &gid) == -1 ||
	    lchown(path, 0, gid) == -1) {
		snprintf(err, errlen, "%s: cannot set owner: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Internal sockets: root:mail_group 0660 as root, 0600 otherwise. */
int
qdirs_socket_owner(const struct conf *c, const char *path, char *err,
    size_t errlen)
{
	struct group	*gr;

	if (geteuid() != 0)
		return chmod(path, 0600);
	if ((gr = getgrnam(c->mail_group)) == NULL ||
	    chown(path, 0, gr->gr_gid) == -1 || chmod(path, 0660) == -1) {
		snprintf(err, errlen, "%s: cannot set owner: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Lock and write pid/master.pid; refuse if another master holds it. */
int
qdirs_pidfile(const struct conf *c, char *err, size_t errlen)
{
	char	 path[PATH_MAX], old[32];
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof(path), "%s/pid/master.pid", c->queue_directory);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = read(fd, old, sizeof(old) - 1);
		old[n > 0 ? n : 0] = '\0';
		old[strcspn(old, "\n")] = '\0';
		snprintf(err, errlen, "the posthorn master is already running "
		    "for %s (pid %s)", c->queue_directory,
		    old[0] ? old : "unknown");
		close(fd);
		return -1;
	}
	if (qdirs_pidfile_write(c, fd, err, errlen) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* (Re)write our pid: again after detaching, the lock stays with us. */
int
qdirs_pidfile_write(const struct conf *c, int fd, char *err, size_t errlen)
{
	char	 pid[32];

	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid)) {
		snprintf(err, errlen, "%s/pid/master.pid: %s",
		    c->queue_directory, strerror(errno));
		return -1;
	}
	return 0;
}

void
qdirs_remove_pidfile(const struct conf *c, int fd)
{
	char	 path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/pid/master.pid", c->queue_directory);
	(void)unlink(path);
	close(fd);
}

static int
qdirs_make(const char *path, mode_t mode, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	struct stat	 st;

	if (mkdir(path, mode) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	if (geteuid() == 0 && (st.st_uid != uid || st.st_gid != gid) &&
	    chown(path, uid, gid) == -1) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	if ((st.st_mode & 07777) != mode && chmod(path, mode) == -1) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
