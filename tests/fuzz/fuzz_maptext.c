/* libFuzzer harness: map source files and inline maps (common/map*.c). */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "map.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 fd = -1;
	struct map_entry *e;
	struct map	*m;
	size_t		 n;
	char		 path[64], err[512], *spec;

	if (fd == -1 && (fd = memfd_create("map", 0)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, size, 0) !=
	    (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (map_text_read(path, &e, &n, err, sizeof(err)) == 0)
		map_entries_free(e, n);
	/* The same bytes as an inline: map and an address lookup. */
	if ((spec = malloc(size + 10)) == NULL)
		return 0;
	memcpy(spec, "inline:", 7);
	memcpy(spec + 7, data, size);
	spec[7 + size] = '\0';
	if (strlen(spec) == 7 + size && (m = map_open(spec, err,
	    sizeof(err))) != NULL) {
		const char *val;

		(void)map_get_addr(m, "user+ext@example.org", "+-", 1, &val,
		    err, sizeof(err));
		(void)map_get_addr(m, "@example.org", "+", 0, &val, err,
		    sizeof(err));
		map_close(m);
	}
	free(spec);
	return 0;
}
