/* base64: RFC 4648 section 4, no line breaks, padding required. */
#include <string.h>

#include "base64.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(const char *in, size_t inlen, unsigned char *out,
    size_t outmax, size_t *outlen)
{
	size_t		 i, n = 0, pad = 0;
	int		 v[4], j;

	if (inlen % 4 != 0)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		for (j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)in[i + (size_t)j];

			/* '=' only in the last two places of the last group. */
			if (c == '=' && i + 4 == inlen && j >= 2 &&
			    (j == 3 || in[i + 3] == '=')) {
				v[j] = 0;
				pad++;
				continue;
			}
			if ((v[j] = b64_value(c)) == -1)
				return -1;
		}
		if (n + 3 - pad > outmax)
			return -1;
		out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	*outlen = n;
	return 0;
}

int
base64_encode(const unsigned char *in, size_t inlen, char *out, size_t outmax)
{
	size_t	 i, n = 0;
	unsigned v;

	if ((inlen + 2) / 3 * 4 + 1 > outmax)
		return -1;
	for (i = 0; i < inlen; i += 3) {
		v = (unsigned)in[i] << 16;
		if (i + 1 < inlen)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < inlen)
			v |= in[i + 2];
		out[n++] = b64[v >> 18 & 63];
		out[n++] = b64[v >> 12 & 63];
		out[n++] = i + 1 < inlen ? b64[v >> 6 & 63] : '=';
		out[n++] = i + 2 < inlen ? b64[v & 63] : '=';
	}
	out[n] = '\0';
	return 0;
}
