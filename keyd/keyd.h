/* keyd: what its parts share. */
#ifndef POSTHORN_KEYD_H
#define POSTHORN_KEYD_H

#include <stddef.h>

#include "buf.h"
#include "conf.h"

/* dkim.c */
size_t	 dkim_load(const struct conf *);
int	 dkim_sign(const char *domain, const unsigned char *, size_t,
	    struct buf *out, const char **why);

#endif
