/*
 * map_text: read a map source file into sorted entries.  Errors name the
 * file and line: a bad line, or the same key twice.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bsd/stdlib.h>

#include "buf.h"
#include "map.h"

static int	 map_text_add(struct map_entry **, size_t *, size_t *,
		    const char *, size_t, const char *, int);

int
map_text_read(const char *path, struct map_entry **out, size_t *nout,
    char *err, size_t errlen)
{
	FILE		*fp;
	char		*line = NULL, *p, *k, *v;
	size_t		 cap = 0, n = 0, ncap = 0, klen, i;
	struct map_entry *ent = NULL;
	struct buf	 val;
	int		 lineno = 0, rc = -1;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(&val, 0);
	while (getline(&line, &cap, fp) != -1) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
			continue;
		if (isspace((unsigned char)line[0])) {
			/* Continuation of the previous entry's value. */
			if (n == 0) {
				snprintf(err, errlen, "%s:%d: continuation line "
				    "without an entry before it", path, lineno);
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
		/* "[host]:port value": a next hop as key keeps its port. */
		klen = k[0] == '[' ? strcspn(k, " \t") : strcspn(k, ": \t");
		/* "[host]:port: value": the colon after the key is aliases'. */
		if (k[0] == '[' && klen > 1 && k[klen - 1] == ':')
			klen--;
		if (klen == 0) {
			snprintf(err, errlen, "%s:%d: missing key", path,
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
		if (map_text_add(&ent, &n, &ncap, k, klen, v, lineno) == -1)
			goto oom;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	if (n > 1)
		qsort(ent, n, sizeof(*ent), map_entry_cmp);
	for (i = 1; i < n; i++)
		if (map_entry_cmp(&ent[i - 1], &ent[i]) == 0) {
			snprintf(err, errlen, "%s:%d: duplicate key '%s' (first "
			    "at line %d)", path, ent[i - 1].line > ent[i].line ?
			    ent[i - 1].line : ent[i].line, ent[i].key,
			    ent[i - 1].line < ent[i].line ? ent[i - 1].line :
			    ent[i].line);
			goto out;
		}
	*out = ent;
	*nout = n;
	ent = NULL;
	n = 0;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "%s: out of memory", path);
out:
	map_entries_free(ent, n);
	buf_free(&val);
	free(line);
	fclose(fp);
	return rc;
}

void
map_entries_free(struct map_entry *e, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(e[i].key);
		free(e[i].value);
	}
	free(e);
}

int
map_entry_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct map_entry *)a)->key,
	    ((const struct map_entry *)b)->key);
}

static int
map_text_add(struct map_entry **ent, size_t *n, size_t *cap, const char *k,
    size_t klen, const char *v, int line)
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
	e->line = line;
	(*n)++;
	return 0;
}
