/* resolver: libresolv pointed at dns_resolver (or /etc/resolv.conf's). */
#ifndef POSTHORN_RESOLVER_H
#define POSTHORN_RESOLVER_H

#include <stddef.h>

/* res_init, then the one server of dns_resolver when it is set. */
int	 resolver_setup(const char *dns_resolver, char *err, size_t);
/*
 * The character-strings of one TXT record's data, joined (RFC 7208
 * 3.3, RFC 8461 3.1), into out (NUL-terminated, cut at len - 1).
 */
void	 resolver_txt(const unsigned char *rdata, size_t rdlen, char *out,
	    size_t len);

#endif
