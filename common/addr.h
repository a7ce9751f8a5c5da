/* addr: RFC 5321 reverse-path and forward-path parsing. */
#ifndef POSTHORN_ADDR_H
#define POSTHORN_ADDR_H

#include <stddef.h>

#define ADDR_MAX	256	/* RFC 5321 4.5.3.1.3: path incl. brackets */
#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	255

struct mailbox {
	char	 addr[ADDR_MAX + 1];	/* local@domain, "" for <> */
	char	 local[ADDR_LOCAL_MAX * 2 + 3];	/* as written, quotes kept */
	char	 domain[ADDR_DOMAIN_MAX + 1];	/* "" if none (postmaster) */
	int	 utf8;			/* has non-ASCII octets */
};

#define ADDR_ALLOW_NULL		0x1	/* <> (MAIL FROM) */
#define ADDR_ALLOW_NODOMAIN	0x2	/* <postmaster> (RCPT TO) */
#define ADDR_ALLOW_UTF8		0x4	/* SMTPUTF8 in effect */

/*
 * Parse "<path>" at s (leading blanks skipped); on success *rest points
 * past the '>' (at the ESMTP parameters).  On failure *why says what.
 */
int	 addr_parse_path(const char *s, int flags, struct mailbox *,
	    const char **rest, const char **why);
int	 addr_utf8_valid(const char *);
/* Local part without quotes (for lookups): "a b"@x -> a b. */
void	 addr_unquote_local(const char *local, char *out, size_t outlen);

#endif
