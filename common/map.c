/*
 * map: one interface over every kind of table (see map.h).  Text and
 * inline maps live in memory as a sorted array; Berkeley DB maps are read
 * through map_db.c.  Every map remembers the file it came from and is
 * reopened when that file is replaced (posthorn-map renames a new
 * database into place), so running processes pick up rebuilt maps.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "log.h"
#include "map.h"

enum map_kind { MAP_TEXT, MAP_HASH, MAP_BTREE, MAP_INLINE, MAP_STATIC };

struct map {
	enum map_kind	 kind;
	char		*spec;
	char		*file;		/* what we stat: source or .db */
	struct stat	 st;
	struct map_entry *ent;		/* text, inline */
	size_t		 n;
	struct map_db	*db;		/* hash, btree */
	char		*value;		/* static */
	char		 key[1024];	/* folded lookup key */
};

static int	 map_load(struct map *, char *, size_t);
static int	 map_inline(struct map *, const char *, char *, size_t);
static int	 map_changed(struct map *);

struct map *
map_open(const char *spec, char *err, size_t errlen)
{
	struct map	*m;
	const char	*arg;
	char		 path[PATH_MAX];

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->spec = strdup(spec)) == NULL) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	arg = strchr(spec, ':');
	if (spec[0] == '/') {
		m->kind = MAP_TEXT;
		arg = spec;
	} else if (arg == NULL) {
		snprintf(err, errlen, "map '%s': expected type:name (hash:, "
		    "btree:, text:, inline:, static:)", spec);
		goto bad;
	} else {
		arg++;
		if (strncmp(spec, "hash:", 5) == 0)
			m->kind = MAP_HASH;
		else if (strncmp(spec, "btree:", 6) == 0)
			m->kind = MAP_BTREE;
		else if (strncmp(spec, "text:", 5) == 0)
			m->kind = MAP_TEXT;
		else if (strncmp(spec, "inline:", 7) == 0)
			m->kind = MAP_INLINE;
		else if (strncmp(spec, "static:", 7) == 0)
			m->kind = MAP_STATIC;
		else {
			snprintf(err, errlen, "map '%s': unknown type", spec);
			goto bad;
		}
	}
	switch (m->kind) {
	case MAP_STATIC:
		if ((m->value = strdup(arg)) == NULL)
			goto oom;
		return m;
	case MAP_INLINE:
		if (map_inline(m, arg, err, errlen) == -1)
			goto bad;
		return m;
	case MAP_TEXT:
		if ((m->file = strdup(arg)) == NULL)
			goto oom;
		break;
	case MAP_HASH:
	case MAP_BTREE:
		if ((size_t)snprintf(path, sizeof(path), "%s.db", arg) >=
		    sizeof(path) || (m->file = strdup(path)) == NULL)
			goto oom;
		break;
	}
	if (m->file[0] != '/') {
		snprintf(err, errlen, "map '%s': the file must be an absolute "
		    "path", spec);
		goto bad;
	}
	if (map_load(m, err, errlen) == -1)
		goto bad;
	return m;
oom:
	snprintf(err, errlen, "out of memory");
bad:
	map_close(m);
	return NULL;
}

void
map_close(struct map *m)
{
	if (m == NULL)
		return;
	map_entries_free(m->ent, m->n);
	map_db_close(m->db);
	free(m->value);
	free(m->file);
	free(m->spec);
	free(m);
}

int
map_refresh(struct map *m, char *err, size_t errlen)
{
	if (m->file == NULL || !map_changed(m))
		return 0;
	return map_load(m, err, errlen);
}

int
map_get(struct map *m, const char *key, const char **val, char *err,
    size_t errlen)
{
	struct map_entry k, *e;
	size_t		 i;
	int		 r;

	if (strlcpy(m->key, key, sizeof(m->key)) >= sizeof(m->key))
		return 0;	/* longer than any key we could hold */
	for (i = 0; m->key[i]; i++)
		m->key[i] = (char)tolower((unsigned char)m->key[i]);
	switch (m->kind) {
	case MAP_STATIC:
		*val = m->value;
		return 1;
	case MAP_TEXT:
	case MAP_INLINE:
		if (m->n == 0)
			return 0;
		k.key = m->key;
		e = bsearch(&k, m->ent, m->n, sizeof(*m->ent), map_entry_cmp);
		if (e == NULL)
			return 0;
		*val = e->value;
		return 1;
	case MAP_HASH:
	case MAP_BTREE:
		r = map_db_get(m->db, m->key, val, err, errlen);
		if (r == -1) {
			char	 why[256];

			strlcpy(why, err, sizeof(why));
			snprintf(err, errlen, "map %s: %s", m->spec, why);
		}
		return r;
	}
	return 0;
}

const char *
map_lookup(struct map *m, const char *key)
{
	const char	*val;
	char		 err[512];

	switch (map_get(m, key, &val, err, sizeof(err))) {
	case 1:
		return val;
	case -1:
		log_warnx("%s", err);
		break;
	}
	return NULL;
}

int
map_get_addr(struct map *m, const char *addr, const char *delims, int local,
    const char **val, char *err, size_t errlen)
{
	char		 user[1024], base[1024], key[1024];
	const char	*at;
	size_t		 ulen, blen;
	int		 r;

	if ((r = map_get(m, addr, val, err, errlen)) != 0)
		return r;
	at = strrchr(addr, '@');
	ulen = at ? (size_t)(at - addr) : strlen(addr);
	if (ulen >= sizeof(user))
		return 0;
	memcpy(user, addr, ulen);
	user[ulen] = '\0';
	/* user+ext -> user (the delimiter may not be the first octet). */
	blen = ulen > 0 && delims && *delims ? strcspn(user + 1, delims) + 1 :
	    ulen;
	if (blen > ulen)
		blen = ulen;
	memcpy(base, user, blen);
	base[blen] = '\0';
	if (blen < ulen && at) {
		snprintf(key, sizeof(key), "%s%s", base, at);
		if ((r = map_get(m, key, val, err, errlen)) != 0)
			return r;
	}
	if (local && at) {
		if ((r = map_get(m, user, val, err, errlen)) != 0)
			return r;
		if (blen < ulen && (r = map_get(m, base, val, err, errlen)) != 0)
			return r;
	}
	if (at)
		return map_get(m, at, val, err, errlen);
	if (blen < ulen)
		return map_get(m, base, val, err, errlen);
	return 0;
}

const char *
map_spec(const struct map *m)
{
	return m->spec;
}

static int
map_load(struct map *m, char *err, size_t errlen)
{
	struct map_entry *ent;
	struct map_db	*db;
	struct stat	 st;
	size_t		 n;

	if (stat(m->file, &st) == -1) {
		snprintf(err, errlen, "map %s: %s: %s%s", m->spec, m->file,
		    strerror(errno), m->kind == MAP_HASH ||
		    m->kind == MAP_BTREE ? " (build it with posthorn-map)" : "");
		return -1;
	}
	if (m->kind == MAP_TEXT) {
		if (map_text_read(m->file, &ent, &n, err, errlen) == -1) {
			char	 why[768];

			strlcpy(why, err, sizeof(why));
			snprintf(err, errlen, "map %s: %s", m->spec, why);
			return -1;
		}
		map_entries_free(m->ent, m->n);
		m->ent = ent;
		m->n = n;
	} else {
		if ((db = map_db_open(m->file, m->kind == MAP_BTREE, err,
		    errlen)) == NULL) {
			char	 why[768];

			strlcpy(why, err, sizeof(why));
			snprintf(err, errlen, "map %s: %s", m->spec, why);
			return -1;
		}
		map_db_close(m->db);
		m->db = db;
	}
	m->st = st;
	return 0;
}

static int
map_changed(struct map *m)
{
	struct stat	 st;

	if (stat(m->file, &st) == -1)
		return 1;	/* gone: the reload will say so */
	return st.st_ino != m->st.st_ino || st.st_dev != m->st.st_dev ||
	    st.st_size != m->st.st_size ||
	    st.st_mtim.tv_sec != m->st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != m->st.st_mtim.tv_nsec;
}

/* "{ key=value, key2=value2 }" */
static int
map_inline(struct map *m, const char *arg, char *err, size_t errlen)
{
	const char	*p, *end, *eq;
	struct map_entry *e;
	size_t		 len, i;

	p = arg + strspn(arg, " ");
	len = strlen(p);
	while (len > 0 && p[len - 1] == ' ')
		len--;
	if (len < 2 || p[0] != '{' || p[len - 1] != '}') {
		snprintf(err, errlen, "map '%s': expected inline:{ key=value, "
		    "... }", m->spec);
		return -1;
	}
	end = p + len - 1;
	p++;
	while (p < end) {
		p += strspn(p, " ,");
		if (p >= end)
			break;
		len = strcspn(p, ",}");
		if (p + len > end)
			len = (size_t)(end - p);
		if ((eq = memchr(p, '=', len)) == NULL || eq == p) {
			snprintf(err, errlen, "map '%s': '%.*s' is not "
			    "key=value", m->spec, (int)len, p);
			return -1;
		}
		if ((e = reallocarray(m->ent, m->n + 1, sizeof(*e))) == NULL)
			goto oom;
		m->ent = e;
		e = &m->ent[m->n];
		memset(e, 0, sizeof(*e));
		if ((e->key = strndup(p, (size_t)(eq - p))) == NULL ||
		    (e->value = strndup(eq + 1, len - (size_t)(eq - p) - 1)) ==
		    NULL) {
			free(e->key);
			goto oom;
		}
		m->n++;
		for (i = strlen(e->key); i > 0 && e->key[i - 1] == ' '; i--)
			e->key[i - 1] = '\0';
		for (i = 0; e->key[i]; i++)
			e->key[i] = (char)tolower((unsigned char)e->key[i]);
		for (i = strlen(e->value); i > 0 && e->value[i - 1] == ' '; i--)
			e->value[i - 1] = '\0';
		memmove(e->value, e->value + strspn(e->value, " "),
		    strlen(e->value + strspn(e->value, " ")) + 1);
		p += len;
	}
	if (m->n > 1)
		qsort(m->ent, m->n, sizeof(*m->ent), map_entry_cmp);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}
