/* base64: RFC 4648 encoding, and a strict decoder for SMTP AUTH. */
#ifndef POSTHORN_BASE64_H
#define POSTHORN_BASE64_H

#include <stddef.h>

/* Decode; -1 on any non-alphabet byte, bad padding or no room. */
int	 base64_decode(const char *in, size_t inlen, unsigned char *out,
	    size_t outmax, size_t *outlen);
/* Encode into out (NUL-terminated); -1 if outmax is too small. */
int	 base64_encode(const unsigned char *in, size_t inlen, char *out,
	    size_t outmax);

#endif
