/*
 * record: the one format for bytes that cross a process boundary or come
 * off the disk.  A record is a type byte, a 4-byte big-endian length and
 * that many bytes of payload.  A payload may hold several fields, each a
 * string terminated by NUL; readers check every count and length.
 */
#ifndef POSTHORN_RECORD_H
#define POSTHORN_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define RECORD_HDR	5
#define RECORD_MAX	(1024 * 1024)	/* largest payload anyone may send */

struct record {
	int		 type;
	const char	*data;
	size_t		 len;
};

int	 record_put(struct buf *, int type, const void *, size_t);
/* Fields joined by NUL; the list ends with NULL. */
int	 record_putf(struct buf *, int type, ...) __attribute__((sentinel));
/* 1: a whole record at the front of buf; 0: need more; -1: malformed. */
int	 record_peek(const struct buf *, struct record *, size_t *total);
/* Split payload into exactly nf NUL-terminated fields; -1 if not so. */
int	 record_fields(const struct record *, const char **f, int nf);
void	 record_hdr(unsigned char *hdr, int type, size_t len);
uint32_t record_len(const unsigned char *hdr);

#endif
