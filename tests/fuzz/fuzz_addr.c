/* libFuzzer harness: RFC 5321 path parsing (common/addr.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailbox	 mb;
	const char	*rest, *why;
	char		*s, out[ADDR_LOCAL_MAX * 2 + 3];
	int		 flags;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (flags = 0; flags < 8; flags++)
		if (addr_parse_path(s, flags, &mb, &rest, &why) == 0) {
			/* What the parser returns must be sound. */
			if (strlen(mb.addr) > ADDR_MAX || rest < s ||
			    rest > s + size)
				abort();
			addr_unquote_local(mb.local, out, sizeof(out));
		}
	(void)addr_utf8_valid(s);
	free(s);
	return 0;
}
