/*
 * libFuzzer harness: what comes from the network for MTA-STS and TLS
 * reporting (common/mtasts.c, common/tlsrpt.c, common/resolver.c): TXT
 * record data, a policy body (not NUL-terminated, as fetched), a TXT
 * record's text, mx patterns, a results line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "resolver.h"
#include "tlsrpt.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_policy p;
	char		 err[128], id[64], key[256], line[4096];
	char		*s, *f[TLSRPT_NFIELDS];
	long long	 when;
	size_t		 i;

	/* A TXT record's data: length-prefixed strings, maybe lying. */
	resolver_txt(data, size, line, sizeof(line));
	if (strlen(line) >= sizeof(line))
		abort();

	/* The body exactly as long as it is, no terminator after it. */
	if ((s = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	if (mtasts_parse(s, size, &p, err, sizeof(err)) == 0) {
		if (p.nmx > MTASTS_MX_MAX || p.max_age < 0 ||
		    p.max_age > MTASTS_MAX_AGE_MAX)
			abort();
		for (i = 0; i < p.nmx; i++)
			(void)mtasts_mx_match(&p, p.mx[i]);
		(void)mtasts_mx_match(&p, "mx.example.com");
	}
	free(s);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mtasts_txt_id(s, id, sizeof(id)) == 1 && !mtasts_txt_id_valid(id))
		abort();
	if (mtasts_domain_key(s, key, sizeof(key)) == 0 &&
	    strlen(key) > 253)
		abort();
	if (tlsrpt_parse(s, &when, f) == 0) {
		/* A parsed line formats again (or is refused), never overflows. */
		(void)tlsrpt_format((time_t)when, (const char *const *)f, line,
		    sizeof(line));
	}
	free(s);
	return 0;
}
