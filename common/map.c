/* map: text maps held in a sorted array, looked up by binary search. */
#include <sys/stat.h>

#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bsd/stdlib.h>

#include "buf.h"
#include "map.h"

struct map_entry {
	char	*key;
	char	*value;
};

struct map {
	char		*path;
	struct map_entry *ent;
	size_t		 n;
	struct stat	 st;
};

static int	 map_load(struct map *, char *, size_t);
static int	 map_add(struct map_entry **, size_t *, size_t *, const char *,
		    size_t, const char *);
static int	 map_cmp(const void *, const void *);
static void	 map_free_entries(struct map_entry *, size_t);

struct map *
map_open(const char *path, char *err, size_t errlen)
{
	struct map	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->path = strdup(path)) == NULL) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (map_load(m, err, errlen) == -1) {
		map_close(m);
		return NULL;
	}
	return m;
}

void
map_close(struct map *m)
{
	if (m == NULL)
		return;
	map_free_entries(m->ent, m->n);
	free(m->path);
	free(m);
}

int
map_refresh(struct map *m, char *err, size_t errlen)
{
	struct stat	 st;

	if (stat(m->path, &st) == -1) {
		snprintf(err, errlen, "%s: %s", m->path, strerror(errno));
		return -1;
	}
	if (st.st_ino == m->st.st_ino && st.st_dev == m->st.st_dev &&
	    st.st_size == m->st.st_size &&
	    st.st_mtim.tv_sec == m->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == m->st.st_mtim.tv_nsec)
		return 0;
	return map_load(m, err, errlen);
}

const char *
map_lookup(struct map *m, const char *key)
{
	struct map_entry k, *e;

	k.key = (char *)(uintptr_t)key;
	e = bsearch(&k, m->ent, m->n, sizeof(*m->ent), map_cmp);
	return e ? e->value : NULL;
}

const char *
map_path(const struct map *m)
{
	return m->path;
}

static int
map_load(struct map *m, char *err, size_t errlen)
{
	FILE		*fp;
	char		*line = NULL, *p, *k, *v;
	size_t		 cap = 0, n = 0, ncap = 0, klen, i;
	ssize_t		 len;
	struct map_entry *ent = NULL;
	struct stat	 st;
	struct buf	 val;
	int		 lineno = 0, rc = -1;

	if ((fp = fopen(m->path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", m->path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) == -1) {
		snprintf(err, errlen, "%s: %s", m->path, strerror(errno));
		fclose(fp);
		return -1;
	}
	buf_init(&val, 0);
	while ((len = getline(&line, &cap, fp)) != -1) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
			continue;
		if (isspace((unsigned char)line[0])) {
			/* Continuation of the previous entry's value. */
			if (n == 0) {
				snprintf(err, errlen, "%s:%d: continuation line "
				    "without an entry before it", m->path, lineno);
				goto out;
			}
			buf_reset(&val);
			p = line + strspn(line, " \t");
			if (buf_printf(&val, "%s %s", ent[n - 1].value, p) == -1)
				goto oom;
			free(ent[n - 1].value);
			if ((ent[n - 1].value = strdup(buf_cstr(&val))) == NULL)
				goto oom;
			continue;
		}
		k = line;
		klen = strcspn(k, ": \t");
		if (klen == 0) {
			snprintf(err, errlen, "%s:%d: missing key", m->path,
			    lineno);
			goto out;
		}
		v = k + klen;
		v += strspn(v, " \t");
		if (*v == ':')
			v++;
		v += strspn(v, " \t");
		p = v + strlen(v);
		while (p > v && isspace((unsigned char)p[-1]))
			*--p = '\0';
		if (map_add(&ent, &n, &ncap, k, klen, v) == -1)
			goto oom;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", m->path);
		goto out;
	}
	qsort(ent, n, sizeof(*ent), map_cmp);
	for (i = 1; i < n; i++)
		if (map_cmp(&ent[i - 1], &ent[i]) == 0) {
			snprintf(err, errlen, "%s: duplicate key '%s'", m->path,
			    ent[i].key);
			goto out;
		}
	map_free_entries(m->ent, m->n);
	m->ent = ent;
	m->n = n;
	m->st = st;
	ent = NULL;
	n = 0;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "%s: out of memory", m->path);
out:
	map_free_entries(ent, n);
	buf_free(&val);
	free(line);
	fclose(fp);
	return rc;
}

static int
map_add(struct map_entry **ent, size_t *n, size_t *cap, const char *k,
    size_t klen, const char *v)
{
	struct map_entry *e;
	size_t		 i;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		if ((e = reallocarray(*ent, *cap, sizeof(*e))) == NULL)
			return -1;
		*ent = e;
	}
	e = &(*ent)[*n];
	if ((e->key = strndup(k, klen)) == NULL)
		return -1;
	if ((e->value = strdup(v)) == NULL) {
		free(e->key);
		return -1;
	}
	for (i = 0; i < klen; i++)
		e->key[i] = (char)tolower((unsigned char)e->key[i]);
	(*n)++;
	return 0;
}

static int
map_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct map_entry *)a)->key,
	    ((const struct map_entry *)b)->key);
}

static void
map_free_entries(struct map_entry *e, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(e[i].key);
		free(e[i].value);
	}
	free(e);
}
