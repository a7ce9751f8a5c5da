/* mtasts: MTA-STS (RFC 8461) policies and their TXT records. */
#ifndef POSTHORN_MTASTS_H
#define POSTHORN_MTASTS_H

#include <stddef.h>
#include <time.h>

#define MTASTS_MX_MAX		32	/* mx patterns kept per policy */
#define MTASTS_MAX_AGE_MAX	31557600	/* RFC 8461 3.2: one year */
#define MTASTS_POLICY_MAX	(512 * 1024)	/* smtp_mta_sts_max_size at most */

#define MTASTS_NONE	0
#define MTASTS_TESTING	1
#define MTASTS_ENFORCE	2

struct mtasts_policy {
	int	 mode;
	long	 max_age;
	size_t	 nmx;
	char	 mx[MTASTS_MX_MAX][256];
};

/* A policy body (RFC 8461 3.2); -1 with err set when it is not valid. */
int	 mtasts_parse(const char *text, size_t len, struct mtasts_policy *,
	    char *err, size_t errlen);
/* Does an MX host name match one of the policy's patterns (RFC 8461 4.1)? */
int	 mtasts_mx_match(const struct mtasts_policy *, const char *host);
/*
 * The id of a TXT record "v=STSv1; id=...;" (RFC 8461 3.1): 1 with id
 * set, 0 when the record is not an STSv1 one, -1 when it is, but bad.
 */
int	 mtasts_txt_id(const char *txt, char *id, size_t idlen);
int	 mtasts_txt_id_valid(const char *);
/*
 * A kept policy (tlspol/sts/DOMAIN): "id ID", "fetched SECONDS", an
 * empty line, then the policy.  The head into out (its length, -1 if it
 * does not fit); back from text: the policy's offset, or -1.
 */
int	 mtasts_kept_head(char *out, size_t, const char *id, time_t fetched);
long	 mtasts_kept_parse(const char *text, char *id, size_t idlen,
	    time_t *fetched);
const char *mtasts_mode_name(int);
/* A domain name safe as a file name (lower case, LDH and dots); -1 if not. */
int	 mtasts_domain_key(const char *domain, char *out, size_t len);

#endif
