/*
 * map_db: Berkeley DB 5.3 map files.  Keys are stored lower-cased and
 * without a trailing NUL, values without one either.  A database is
 * built under a temporary name, synced, fsync'ed and renamed over the
 * old one, so a reader sees the old map or the new, never half of one.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "map.h"
#include "sock.h"

/* Berkeley DB's own explanation of the last failure (it prints otherwise). */
static char	 map_db_why[256];

static void
map_db_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	(void)env;
	(void)prefix;
	snprintf(map_db_why, sizeof(map_db_why), "%s", msg);
}

struct map_db {
	DB	*db;
	char	*val;
	size_t	 vcap;
};

struct map_db *
map_db_open(const char *dbpath, int btree, char *err, size_t errlen)
{
	struct map_db	*m;
	int		 r;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((r = db_create(&m->db, NULL, 0)) != 0) {
		snprintf(err, errlen, "%s: %s", dbpath, db_strerror(r));
		free(m);
		return NULL;
	}
	map_db_why[0] = '\0';
	m->db->set_errcall(m->db, map_db_errcall);
	if ((r = m->db->open(m->db, NULL, dbpath, NULL,
	    btree ? DB_BTREE : DB_HASH, DB_RDONLY, 0)) != 0) {
		snprintf(err, errlen, "%s: %s%s%s%s", dbpath,
		    r == ENOENT ? db_strerror(r) : "cannot open database",
		    map_db_why[0] ? " (" : "", map_db_why,
		    map_db_why[0] ? "; corrupt, or not a database? rebuild it "
		    "with posthorn-map)" : r == ENOENT ? " (build it with "
		    "posthorn-map)" : "");
		m->db->close(m->db, 0);
		free(m);
		return NULL;
	}
	return m;
}

void
map_db_close(struct map_db *m)
{
	if (m == NULL)
		return;
	m->db->close(m->db, 0);
	free(m->val);
	free(m);
}

int
map_db_get(struct map_db *m, const char *key, const char **val, char *err,
    size_t errlen)
{
	DBT	 k, v;
	int	 r;
	char	*nv;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key);
	r = m->db->get(m->db, NULL, &k, &v, 0);
	if (r == DB_NOTFOUND)
		return 0;
	if (r != 0) {
		snprintf(err, errlen, "read: %s", db_strerror(r));
		return -1;
	}
	if (v.size + 1 > m->vcap) {
		if ((nv = realloc(m->val, v.size + 1)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		m->val = nv;
		m->vcap = v.size + 1;
	}
	memcpy(m->val, v.data, v.size);
	m->val[v.size] = '\0';
	*val = m->val;
	return 1;
}

int
map_db_build(const char *dbpath, int btree, const struct map_entry *e,
    size_t n, const struct stat *like, char *err, size_t errlen)
{
	mode_t	 old_umask;
	char	 tmp[PATH_MAX], dir[PATH_MAX], *slash;
	DB	*db = NULL;
	DBT	 k, v;
	size_t	 i;
	int	 r, fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", dbpath,
	    (long)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", dbpath);
		return -1;
	}
	(void)unlink(tmp);
	/* Private until it has the source's owner and mode (passwords). */
	old_umask = umask(0077);
	if ((r = db_create(&db, NULL, 0)) == 0)
		db->set_errcall(db, map_db_errcall);
	if (r == 0)
		r = db->open(db, NULL, tmp, NULL, btree ? DB_BTREE : DB_HASH,
		    DB_CREATE | DB_EXCL, 0644);
	umask(old_umask);
	if (r != 0) {
		snprintf(err, errlen, "%s: %s", tmp, db_strerror(r));
		if (db)
			db->close(db, 0);
		return -1;
	}
	for (i = 0; i < n; i++) {
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		k.data = e[i].key;
		k.size = (u_int32_t)strlen(e[i].key);
		v.data = e[i].value;
		v.size = (u_int32_t)strlen(e[i].value);
		if ((r = db->put(db, NULL, &k, &v, 0)) != 0) {
			snprintf(err, errlen, "%s: %s", tmp, db_strerror(r));
			db->close(db, 0);
			(void)unlink(tmp);
			return -1;
		}
	}
	if ((r = db->close(db, 0)) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, db_strerror(r));
		(void)unlink(tmp);
		return -1;
	}
	/* close() wrote the pages; make them durable before the rename. */
	if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (like && geteuid() == 0 &&
	    fchown(fd, like->st_uid, like->st_gid) == -1) ||
	    fchmod(fd, like ? like->st_mode & 0666 : 0644) == -1 ||
	    fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		(void)unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, dbpath) == -1) {
		snprintf(err, errlen, "rename %s: %s", dbpath, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", dbpath);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*(slash == dir ? slash + 1 : slash) = '\0';
		(void)io_fsync_dir(dir);
	} else
		(void)io_fsync_dir(".");
	return 0;
}

int
map_db_walk(const char *dbpath, int btree,
    void (*fn)(const char *, const char *, void *), void *arg, char *err,
    size_t errlen)
{
	struct map_db	*m;
	DBC		*c;
	DBT		 k, v;
	char		*ks, *vs;
	int		 r;

	if ((m = map_db_open(dbpath, btree, err, errlen)) == NULL)
		return -1;
	if ((r = m->db->cursor(m->db, NULL, &c, 0)) != 0) {
		snprintf(err, errlen, "%s: %s", dbpath, db_strerror(r));
		map_db_close(m);
		return -1;
	}
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	while ((r = c->get(c, &k, &v, DB_NEXT)) == 0) {
		ks = strndup(k.data, k.size);
		vs = strndup(v.data, v.size);
		if (ks && vs)
			fn(ks, vs, arg);
		free(ks);
		free(vs);
	}
	c->close(c);
	map_db_close(m);
	if (r != DB_NOTFOUND) {
		snprintf(err, errlen, "%s: %s", dbpath, db_strerror(r));
		return -1;
	}
	return 0;
}
