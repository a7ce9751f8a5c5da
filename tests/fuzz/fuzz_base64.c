/* libFuzzer harness: the AUTH base64 decoder (common/base64.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	 out[1024], back[1024];
	char		 enc[1500];
	size_t		 n, m;

	if (base64_decode((const char *)data, size, out, sizeof(out), &n) ==
	    -1)
		return 0;
	if (n > sizeof(out) || n > size)
		abort();
	/* What decodes must encode to something that decodes the same. */
	if (base64_encode(out, n, enc, sizeof(enc)) == -1 ||
	    base64_decode(enc, strlen(enc), back, sizeof(back), &m) == -1 ||
	    m != n || memcmp(out, back, n) != 0)
		abort();
	return 0;
}
