/*
 * tlsrpt: one TLS session's outcome as a line of text.  Fields are
 * separated by tabs; '%', tab, CR and LF inside a field are written as
 * %25, %09, %0D, %0A, so that a policy's lines fit on one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "tlsrpt.h"

static const char *const types[] = { "tlsa", "sts", "no-policy-found" };
static const char *const results[] = { "success", "starttls-not-supported",
    "certificate-host-mismatch", "certificate-expired",
    "certificate-not-trusted", "validation-failure", "tlsa-invalid",
    "dnssec-invalid", "dane-required", "sts-policy-fetch-error",
    "sts-policy-invalid", "sts-webpki-invalid" };

static int
tlsrpt_in(const char *s, const char *const *list, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

int
tlsrpt_type_ok(const char *s)
{
	return tlsrpt_in(s, types, sizeof(types) / sizeof(types[0]));
}

int
tlsrpt_result_ok(const char *s)
{
	return tlsrpt_in(s, results, sizeof(results) / sizeof(results[0]));
}

int
tlsrpt_format(time_t when, const char *const *f, char *out, size_t len)
{
	char	 key[256];
	size_t	 o, i;
	int	 n;
	const char *p;

	if (mtasts_domain_key(f[TLSRPT_DOMAIN], key, sizeof(key)) == -1 ||
	    strcmp(key, f[TLSRPT_DOMAIN]) != 0 ||
	    !tlsrpt_type_ok(f[TLSRPT_TYPE]) ||
	    !tlsrpt_result_ok(f[TLSRPT_RESULT]))
		return -1;
	if ((n = snprintf(out, len, "%lld", (long long)when)) < 0 ||
	    (size_t)n >= len)
		return -1;
	o = (size_t)n;
	for (i = 0; i < TLSRPT_NFIELDS; i++) {
		if (o + 1 >= len)
			return -1;
		out[o++] = '\t';
		for (p = f[i]; *p; p++) {
			if (o + 4 >= len)
				return -1;
			if (*p == '%' || *p == '\t' || *p == '\r' ||
			    *p == '\n') {
				snprintf(out + o, 4, "%%%02X",
				    (unsigned char)*p);
				o += 3;
			} else
				out[o++] = *p;
		}
	}
	if (o + 2 > len)
		return -1;
	out[o++] = '\n';
	out[o] = '\0';
	return 0;
}

static void
tlsrpt_unescape(char *s)
{
	char	*w = s, hex[3] = { 0, 0, 0 };

	for (; *s; s++) {
		if (*s == '%' && s[1] && s[2]) {
			hex[0] = s[1];
			hex[1] = s[2];
			*w++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else
			*w++ = *s;
	}
	*w = '\0';
}

int
tlsrpt_parse(char *line, long long *when, char **f)
{
	char	*p, *tab, *end, key[256];
	size_t	 i;

	line[strcspn(line, "\n")] = '\0';
	if ((tab = strchr(line, '\t')) == NULL)
		return -1;
	*tab = '\0';
	*when = strtoll(line, &end, 10);
	if (*end != '\0' || end == line)
		return -1;
	p = tab + 1;
	for (i = 0; i < TLSRPT_NFIELDS; i++) {
		f[i] = p;
		tab = strchr(p, '\t');
		if ((tab == NULL) != (i == TLSRPT_NFIELDS - 1))
			return -1;
		if (tab) {
			*tab = '\0';
			p = tab + 1;
		}
		tlsrpt_unescape(f[i]);
	}
	/*
	 * The file is the relay user's: its domain goes into the header of
	 * root's report mail, so it must be a plain host name, as tlspol
	 * wrote it.
	 */
	if (mtasts_domain_key(f[TLSRPT_DOMAIN], key, sizeof(key)) == -1 ||
	    strcmp(key, f[TLSRPT_DOMAIN]) != 0)
		return -1;
	return tlsrpt_type_ok(f[TLSRPT_TYPE]) &&
	    tlsrpt_result_ok(f[TLSRPT_RESULT]) ? 0 : -1;
}
