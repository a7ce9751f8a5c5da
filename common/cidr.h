/* cidr: address/prefix lists such as mynetworks. */
#ifndef POSTHORN_CIDR_H
#define POSTHORN_CIDR_H

#include <sys/socket.h>
#include <stddef.h>

struct cidr {
	int		 family;
	unsigned char	 addr[16];
	int		 bits;
};

struct cidr_list {
	struct cidr	*nets;
	size_t		 n;
};

/*
 * "127.0.0.0/8, [::1]/128 192.0.2.7" (comma or space separated; a bare
 * address is a host).  -1 with the offending word in err.
 */
int	 cidr_parse_list(const char *, struct cidr_list *, char *, size_t);
void	 cidr_free(struct cidr_list *);
int	 cidr_match(const struct cidr_list *, const struct sockaddr *);

#endif
