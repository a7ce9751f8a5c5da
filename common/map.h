/*
 * map: key -> value tables, named by "type:name" as in Postfix:
 *
 *	hash:/path	Berkeley DB hash, built into /path.db by posthorn-map
 *	btree:/path	Berkeley DB btree, likewise
 *	text:/path	the source file itself, read into memory
 *	/path		the same as text:/path
 *	inline:{ k1=v1, k2=v2 }	a small table written in the configuration
 *	static:value	every key maps to value
 *
 * A source file holds "key value" or "key: value" lines (aliases(5)
 * style; a line starting with white space continues the previous value;
 * '#' starts a comment line).  Keys are case-insensitive.  Open maps
 * notice a rebuilt or edited file on map_refresh and reload it.
 */
#ifndef POSTHORN_MAP_H
#define POSTHORN_MAP_H

#include <stddef.h>

struct map;

struct map_entry {
	char	*key;
	char	*value;
	int	 line;
};

/* NULL with err set (naming the map) when it cannot be opened. */
struct map	*map_open(const char *spec, char *err, size_t errlen);
void		 map_close(struct map *);
/* Reload if the file changed; keep the old contents on error. */
int		 map_refresh(struct map *, char *err, size_t errlen);
/*
 * 1 found (*val valid until the next call on this map), 0 not found,
 * -1 the map could not be read (err says why; callers defer).
 */
int		 map_get(struct map *, const char *key, const char **val,
		    char *err, size_t errlen);
/* map_get that treats a read error as "not found" after logging it. */
const char	*map_lookup(struct map *, const char *key);
/*
 * Address lookup with the usual fall-backs: user+ext@domain,
 * user@domain, then (when local is set) user+ext and user, then @domain.
 * delims are the recipient delimiter characters ("" for none).
 */
int		 map_get_addr(struct map *, const char *addr, const char *delims,
		    int local, const char **val, char *err, size_t errlen);
const char	*map_spec(const struct map *);

/* map_text.c: the source format, shared by text maps and the builder. */
int		 map_text_read(const char *path, struct map_entry **, size_t *,
		    char *err, size_t errlen);
void		 map_entries_free(struct map_entry *, size_t);
int		 map_entry_cmp(const void *, const void *);

/* map_db.c: Berkeley DB files. */
struct map_db;
struct map_db	*map_db_open(const char *dbpath, int btree, char *, size_t);
void		 map_db_close(struct map_db *);
int		 map_db_get(struct map_db *, const char *key, const char **val,
		    char *err, size_t errlen);
/*
 * Build dbpath from entries: a new file, fsync'ed, renamed into place,
 * with the owner (as root) and permissions of like (the source file;
 * NULL: 0644), so that a private source makes a private database.
 */
struct stat;
int		 map_db_build(const char *dbpath, int btree,
		    const struct map_entry *, size_t, const struct stat *like,
		    char *, size_t);
/* Call fn for every entry; -1 on a read error. */
int		 map_db_walk(const char *dbpath, int btree,
		    void (*fn)(const char *, const char *, void *), void *,
		    char *, size_t);

#endif
