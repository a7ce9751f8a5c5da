/* libFuzzer harness: IPC records (common/record.c) as a reader sees them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "record.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	 b;
	struct record	 r;
	const char	*f[4];
	size_t		 total;
	int		 nf;

	buf_init(&b, RECORD_MAX + RECORD_HDR);
	if (buf_append(&b, data, size) == -1)
		return 0;
	while (record_peek(&b, &r, &total) == 1) {
		if (total > b.len)
			abort();
		for (nf = 1; nf <= 4; nf++)
			(void)record_fields(&r, f, nf);
		buf_consume(&b, total);
	}
	buf_free(&b);
	return 0;
}
