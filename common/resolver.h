/* resolver: libresolv pointed at dns_resolver (or /etc/resolv.conf's). */
#ifndef POSTHORN_RESOLVER_H
#define POSTHORN_RESOLVER_H

#include <stddef.h>

/* res_init, then the one server of dns_resolver when it is set. */
int	 resolver_setup(const char *dns_resolver, char *err, size_t);

#endif
