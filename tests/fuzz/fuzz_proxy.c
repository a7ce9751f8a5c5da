/* libFuzzer harness: the PROXY protocol header parser (smtpd/proxy.c). */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	char		 why[128], *p;
	size_t		 used, n;
	int		 r;

	/* An exact copy: reads past the end are then ASan's to catch. */
	if ((p = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(p, data, size);
	r = proxy_header(p, size, &used, &ss, why, sizeof(why));
	if (r == 1 && (used == 0 || used > size || (ss.ss_family != AF_UNSPEC &&
	    ss.ss_family != AF_INET && ss.ss_family != AF_INET6)))
		abort();
	if (r == -1 && (why[0] == '\0' || strlen(why) >= sizeof(why)))
		abort();
	/* Fed in pieces, the answer must not change. */
	for (n = 0; n < size && r != 0; n++)
		if (proxy_header(p, n, &used, &ss, why, sizeof(why)) == 1 &&
		    r != 1)
			abort();
	free(p);
	return 0;
}
