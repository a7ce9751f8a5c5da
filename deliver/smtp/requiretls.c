/*
 * requiretls: what RFC 8689 asks of the relay client.  A message that
 * came with REQUIRETLS goes only to a server found securely (a
 * DNSSEC-validated MX answer, or a next hop from the configuration),
 * over TLS verified by DANE or by the CAs and the MX host's name, that
 * offers REQUIRETLS itself; MAIL FROM carries it on.  When every server
 * fails these rules, the message is returned (5.7.10 without the TLS it
 * needs, 5.7.30 where REQUIRETLS is not offered); a server that cannot
 * be reached leaves it waiting, as any other.  A message with the header
 * "TLS-Required: No" (and without REQUIRETLS) asks that the recipient's
 * DANE policy be set aside: dane and dane-only become may for it.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <bsd/string.h>

#include "log.h"
#include "queuefile.h"
#include "smtp.h"

#define HEADER_SCAN_MAX	(64 * 1024)	/* header bytes looked through */

/* Is there a "TLS-Required: No" field in the message's header? */
int
requiretls_tls_optional(int qfd, off_t off)
{
	char	 buf[HEADER_SCAN_MAX + 1], *p, *end, *nl, *v;
	size_t	 len = 0;
	ssize_t	 n;

	/* The header only: a few KiB, not the whole 64 KiB of a big body. */
	while (len < HEADER_SCAN_MAX && (n = qf_read_content(qfd, &off,
	    buf + len, HEADER_SCAN_MAX - len < 4096 ? HEADER_SCAN_MAX - len :
	    4096)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (buf[0] == '\n' || strstr(buf, "\n\n") ||
		    strstr(buf, "\n\r\n"))
			break;
	}
	buf[len] = '\0';
	for (p = buf, end = buf + len; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (p == nl || (*p == '\r' && p + 1 == nl))
			break;	/* the end of the header */
		if (strncasecmp(p, "TLS-Required", 12) != 0)
			continue;
		for (v = p + 12; v < nl && (*v == ' ' || *v == '\t'); v++)
			;
		if (v == nl || *v++ != ':')
			continue;
		while (v < nl && (*v == ' ' || *v == '\t'))
			v++;
		if (nl - v >= 2 && strncasecmp(v, "No", 2) == 0) {
			for (v += 2; v < nl && isspace((unsigned char)*v); v++)
				;
			if (v == nl)
				return 1;
		}
	}
	return 0;
}

void
requiretls_fail(struct smtp_job *sj, const char *why, const char *dsn)
{
	sj->rtls_fail = 1;
	strlcpy(sj->rtls_why, why, sizeof(sj->rtls_why));
	strlcpy(sj->rtls_dsn, dsn, sizeof(sj->rtls_dsn));
}

/*
 * May host h of d carry this REQUIRETLS message?  0: yes, at
 * TLS_LEVEL_VERIFY (DANE when the host has usable TLSA records, else the
 * CAs and its name); -1: no, why and dsn set.
 */
int
requiretls_host(struct smtp_job *sj, const struct smtp_dest *d,
    const struct smtp_host *h, char *why, size_t whylen, char *dsn)
{
	/* RFC 8689 4.2.1: DNSSEC, or an MTA-STS policy naming the host. */
	if (!d->mx_secure && !(sj->sts.active && mtasts_mx_match(&sj->sts.pol,
	    h->name))) {
		snprintf(why, whylen, "REQUIRETLS: the MX lookup for %s is not "
		    "DNSSEC-validated, and no MTA-STS policy names %s",
		    d->domain, h->name);
		strlcpy(dsn, "5.7.10", 8);
		requiretls_fail(sj, why, dsn);
		return -1;
	}
	sj->host_level = TLS_LEVEL_VERIFY;
	return 0;
}

/*
 * After the last server: when every one failed REQUIRETLS's rules (and
 * none was merely out of reach), the last such failure is the result.
 */
void
requiretls_result(struct smtp_job *sj, char *why, size_t whylen, char *dsn)
{
	if (!sj->requiretls || sj->rtls_why[0] == '\0' || sj->other_fail)
		return;
	strlcpy(why, sj->rtls_why, whylen);
	strlcpy(dsn, sj->rtls_dsn, 8);
}
