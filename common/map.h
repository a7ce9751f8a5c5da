/*
 * map: key -> value tables.  For now the "text" kind: a file of
 * "key value" or "key: value" lines (aliases(5) style, with continuation
 * lines), loaded into memory and re-read when the file changes.
 * Berkeley DB maps come with the maps issue behind the same interface.
 */
#ifndef POSTHORN_MAP_H
#define POSTHORN_MAP_H

#include <stddef.h>

struct map;

/* NULL with err set when the file cannot be read or has a bad line. */
struct map	*map_open(const char *path, char *err, size_t errlen);
void		 map_close(struct map *);
/* Re-read if the file changed; keep the old contents on error. */
int		 map_refresh(struct map *, char *err, size_t errlen);
/* Case-insensitive key; NULL if absent. */
const char	*map_lookup(struct map *, const char *key);
const char	*map_path(const struct map *);

#endif
