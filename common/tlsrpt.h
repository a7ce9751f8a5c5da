/*
 * tlsrpt: the outcome of one outbound TLS session under a policy, as the
 * smtp agents send it to tlspol and tlspol keeps it, one line a session,
 * in tlspol/results/YYYY-MM-DD (UTC), for posthorn-tlsrpt's daily TLS
 * reports (RFC 8460).
 */
#ifndef POSTHORN_TLSRPT_H
#define POSTHORN_TLSRPT_H

#include <stddef.h>
#include <time.h>

#include "mtasts.h"

#define TLSPOL_SOCKET		"tlspol/socket"
#define TLSPOL_DIR		"tlspol"
#define TLSPOL_STS_DIR		"tlspol/sts"
#define TLSPOL_RESULTS_DIR	"tlspol/results"
#define TLSPOL_RECORD_MAX	(MTASTS_POLICY_MAX + 16384)

/* The fields, in this order, of PROTO_TLSRESULT and of a results line. */
#define TLSRPT_DOMAIN		0	/* the policy domain */
#define TLSRPT_TYPE		1	/* tlsa, sts, no-policy-found */
#define TLSRPT_POLICY		2	/* its text, lines joined by \n */
#define TLSRPT_MXHOST		3	/* sts: the mx patterns, by \n */
#define TLSRPT_RESULT		4	/* success, or a result type */
#define TLSRPT_SENDING_IP	5
#define TLSRPT_RECEIVING_MX	6
#define TLSRPT_RECEIVING_IP	7
#define TLSRPT_INFO		8	/* additional information */
#define TLSRPT_NFIELDS		9

/* Is it one of RFC 8460's policy types / result types (or "success")? */
int	 tlsrpt_type_ok(const char *);
int	 tlsrpt_result_ok(const char *);
/* "time\tfield\t...\n", each field %-escaped; -1 if a field is bad. */
int	 tlsrpt_format(time_t, const char *const *f, char *, size_t);
/* A line back into its time and fields (in place); -1 if malformed. */
int	 tlsrpt_parse(char *line, long long *when, char **f);

#endif
