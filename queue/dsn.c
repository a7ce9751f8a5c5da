/*
 * dsn: reading what a delivery status notification quotes, for bounce.c:
 * the xtext of ENVID and ORCPT (RFC 3461 4), which came from a client,
 * and where the original message's header section ends.  Kept apart so
 * that tests/fuzz/fuzz_dsn.c reaches them.
 */
#include <stdio.h>

#include "qmgr.h"

/*
 * Where the header section ends in this chunk (after the empty line), or
 * 0 if it goes on; *bol carries "at the start of a line" across chunks.
 */
ssize_t
dsn_header_end(const char *p, ssize_t n, int *bol)
{
	ssize_t	 i;

	for (i = 0; i < n; i++) {
		if (*bol && p[i] == '\n')
			return i + 1;
		/* A CR at the start of a line keeps it there (CRLF text). */
		if (*bol && p[i] == '\r')
			continue;
		*bol = p[i] == '\n';
	}
	return 0;
}

/* "+2B" and friends back to octets (RFC 3461 4). */
void
dsn_xtext_decode(const char *in, char *out, size_t outlen)
{
	size_t		 o = 0;
	unsigned int	 c;

	for (; *in && o + 1 < outlen; in++) {
		if (in[0] == '+' && in[1] && in[2] &&
		    sscanf(in + 1, "%2X", &c) == 1) {
			out[o++] = c >= 0x20 && c != 0x7f ? (char)c : '?';
			in += 2;
		} else
			out[o++] = *in;
	}
	out[o] = '\0';
}
