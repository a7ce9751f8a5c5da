/* tlsrpt_mail: posthorn-tlsrpt -m (RFC 8460 3, 5.3). */
#ifndef POSTHORN_TLSRPT_MAIL_H
#define POSTHORN_TLSRPT_MAIL_H

#include "buf.h"
#include "conf.h"

/* data as a gzip file (stored blocks). */
int	 tlsrpt_gzip(const char *data, size_t len, struct buf *out);
/*
 * The report json of domain, as file, to the mailto: addresses of the
 * domain's TLSRPT record: how many were sent, 0 when it asks for none,
 * -1 when the lookup or a hand-over failed.
 */
int	 tlsrpt_mail(const struct conf *, const char *confdir,
	    const char *domain, const char *file, const char *id,
	    const struct buf *json);

#endif
