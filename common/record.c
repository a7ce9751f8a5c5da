/* record: encode and decode type-length-value records. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "record.h"

void
record_hdr(unsigned char *h, int type, size_t len)
{
	h[0] = (unsigned char)type;
	h[1] = (unsigned char)(len >> 24);
	h[2] = (unsigned char)(len >> 16);
	h[3] = (unsigned char)(len >> 8);
	h[4] = (unsigned char)len;
}

uint32_t
record_len(const unsigned char *h)
{
	return (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 |
	    (uint32_t)h[3] << 8 | (uint32_t)h[4];
}

int
record_put(struct buf *b, int type, const void *p, size_t len)
{
	unsigned char	 h[RECORD_HDR];

	if (len > RECORD_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	record_hdr(h, type, len);
	if (buf_reserve(b, sizeof(h) + len) == -1)
		return -1;
	buf_append(b, h, sizeof(h));
	buf_append(b, p, len);
	return 0;
}

int
record_putf(struct buf *b, int type, ...)
{
	va_list		 ap;
	const char	*s;
	size_t		 len = 0;
	unsigned char	 h[RECORD_HDR];

	va_start(ap, type);
	while ((s = va_arg(ap, const char *)) != NULL)
		len += strlen(s) + 1;
	va_end(ap);
	if (len > RECORD_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (buf_reserve(b, RECORD_HDR + len) == -1)
		return -1;
	record_hdr(h, type, len);
	buf_append(b, h, sizeof(h));
	va_start(ap, type);
	while ((s = va_arg(ap, const char *)) != NULL)
		buf_append(b, s, strlen(s) + 1);
	va_end(ap);
	return 0;
}

int
record_peek(const struct buf *b, struct record *r, size_t *total)
{
	uint32_t	 len;

	if (b->len < RECORD_HDR)
		return 0;
	len = record_len((const unsigned char *)b->data);
	if (len > RECORD_MAX)
		return -1;
	if (b->len - RECORD_HDR < len)
		return 0;
	r->type = (unsigned char)b->data[0];
	r->data = b->data + RECORD_HDR;
	r->len = len;
	*total = RECORD_HDR + len;
	return 1;
}

int
record_fields(const struct record *r, const char **f, int nf)
{
	size_t	 off = 0;
	int	 i;
	const char *nul;

	for (i = 0; i < nf; i++) {
		if (off >= r->len)
			return -1;
		nul = memchr(r->data + off, '\0', r->len - off);
		if (nul == NULL)
			return -1;
		f[i] = r->data + off;
		off = (size_t)(nul - r->data) + 1;
	}
	return off == r->len ? 0 : -1;
}
