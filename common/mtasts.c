/*
 * mtasts: the two texts of MTA-STS (RFC 8461).  The TXT record at
 * _mta-sts.domain says a policy exists and names its version ("id"); the
 * policy, fetched over HTTPS, has "key: value" lines: version (STSv1),
 * mode (enforce, testing, none), max_age (seconds, at most a year) and
 * one or more mx patterns ("mail.example.com" or "*.example.net", the
 * star standing for exactly one label).  Unknown keys are ignored, as the
 * RFC asks; a policy without a valid version, mode, max_age or, unless
 * its mode is none, an mx line is not valid.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bsd/string.h>

#include "mtasts.h"

static size_t
mtasts_digits(const char *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < len && isdigit((unsigned char)p[i]); i++)
		;
	return i;
}

static const char *
mtasts_trim(const char *p, const char *end, size_t *len)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		end--;
	*len = (size_t)(end - p);
	return p;
}

int
mtasts_parse(const char *text, size_t len, struct mtasts_policy *pol,
    char *err, size_t errlen)
{
	const char	*p = text, *end = text + len, *nl, *colon, *k, *v;
	size_t		 kl, vl;
	int		 version = 0, mode = -1;
	long		 age = -1;
	char		 num[16];

	memset(pol, 0, sizeof(*pol));
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((colon = memchr(p, ':', (size_t)(nl - p))) == NULL) {
			k = mtasts_trim(p, nl, &kl);
			if (kl == 0)
				continue;	/* a blank line */
			snprintf(err, errlen, "a line without ':'");
			return -1;
		}
		k = mtasts_trim(p, colon, &kl);
		v = mtasts_trim(colon + 1, nl, &vl);
		if (kl == 7 && strncmp(k, "version", 7) == 0) {
			if (vl != 5 || strncmp(v, "STSv1", 5) != 0) {
				snprintf(err, errlen, "version is not STSv1");
				return -1;
			}
			version = 1;
		} else if (kl == 4 && strncmp(k, "mode", 4) == 0) {
			if (vl == 7 && strncmp(v, "enforce", 7) == 0)
				mode = MTASTS_ENFORCE;
			else if (vl == 7 && strncmp(v, "testing", 7) == 0)
				mode = MTASTS_TESTING;
			else if (vl == 4 && strncmp(v, "none", 4) == 0)
				mode = MTASTS_NONE;
			else {
				snprintf(err, errlen, "unknown mode '%.*s'",
				    (int)(vl < 32 ? vl : 32), v);
				return -1;
			}
		} else if (kl == 7 && strncmp(k, "max_age", 7) == 0) {
			if (vl == 0 || vl > 10 || mtasts_digits(v, vl) != vl) {
				snprintf(err, errlen, "bad max_age");
				return -1;
			}
			memcpy(num, v, vl);
			num[vl] = '\0';
			age = strtol(num, NULL, 10);
			if (age > MTASTS_MAX_AGE_MAX)
				age = MTASTS_MAX_AGE_MAX;
		} else if (kl == 2 && strncmp(k, "mx", 2) == 0) {
			if (vl == 0 || vl >= sizeof(pol->mx[0])) {
				snprintf(err, errlen, "bad mx pattern");
				return -1;
			}
			if (pol->nmx < MTASTS_MX_MAX) {
				memcpy(pol->mx[pol->nmx], v, vl);
				pol->mx[pol->nmx][vl] = '\0';
				pol->nmx++;
			}
		}
	}
	if (!version || mode == -1 || age < 0) {
		snprintf(err, errlen, "no %s", !version ? "version" :
		    mode == -1 ? "mode" : "max_age");
		return -1;
	}
	if (mode != MTASTS_NONE && pol->nmx == 0) {
		snprintf(err, errlen, "no mx pattern");
		return -1;
	}
	pol->mode = mode;
	pol->max_age = age;
	return 0;
}

/* name against one pattern, without regard to case or a trailing dot. */
static int
mtasts_match_one(const char *pat, const char *name)
{
	size_t	 pl = strlen(pat), nl = strlen(name);
	const char *dot;

	if (pl > 0 && pat[pl - 1] == '.')
		pl--;
	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (pl > 2 && pat[0] == '*' && pat[1] == '.') {
		/* "*.example.net": one label, then ".example.net". */
		if ((dot = memchr(name, '.', nl)) == NULL || dot == name)
			return 0;
		return (size_t)(name + nl - dot) == pl - 1 &&
		    strncasecmp(dot, pat + 1, pl - 1) == 0;
	}
	return pl == nl && strncasecmp(pat, name, nl) == 0;
}

int
mtasts_mx_match(const struct mtasts_policy *pol, const char *host)
{
	size_t	 i;

	for (i = 0; i < pol->nmx; i++)
		if (mtasts_match_one(pol->mx[i], host))
			return 1;
	return 0;
}

int
mtasts_txt_id(const char *txt, char *id, size_t idlen)
{
	const char	*p = txt, *semi, *k, *v;
	size_t		 kl, vl, n, i;
	int		 first = 1, have_id = 0;

	id[0] = '\0';
	while (*p) {
		semi = strchr(p, ';');
		n = semi ? (size_t)(semi - p) : strlen(p);
		k = mtasts_trim(p, p + n, &kl);
		p += n + (semi ? 1 : 0);
		if (kl == 0)
			continue;
		if ((v = memchr(k, '=', kl)) == NULL) {
			if (first)
				return 0;
			return -1;
		}
		vl = kl - (size_t)(v - k) - 1;
		kl = (size_t)(v - k);
		v++;
		if (first) {
			/* "v=STSv1" must come first (RFC 8461 3.1). */
			if (kl != 1 || *k != 'v' || vl != 5 ||
			    strncmp(v, "STSv1", 5) != 0)
				return 0;
			first = 0;
			continue;
		}
		if (kl == 2 && strncmp(k, "id", 2) == 0) {
			/* 1 to 32 letters and digits */
			if (vl == 0 || vl > 32 || vl >= idlen)
				return -1;
			for (i = 0; i < vl; i++)
				if (!isalnum((unsigned char)v[i]))
					return -1;
			memcpy(id, v, vl);
			id[vl] = '\0';
			have_id = 1;
		}
	}
	if (first)
		return 0;
	return have_id ? 1 : -1;
}

const char *
mtasts_mode_name(int mode)
{
	return mode == MTASTS_ENFORCE ? "enforce" : mode == MTASTS_TESTING ?
	    "testing" : "none";
}

int
mtasts_domain_key(const char *domain, char *out, size_t len)
{
	size_t	 i, n = strlen(domain);

	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n >= len || n > 253 || domain[0] == '.' ||
	    domain[0] == '-')
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (!isalnum(c) && c != '-' && c != '.')
			return -1;
		if (c == '.' && domain[i + 1] == '.')
			return -1;
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	return 0;
}

int
mtasts_txt_id_valid(const char *id)
{
	size_t	 i, n = strlen(id);

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]))
			return 0;
	return 1;
}

int
mtasts_kept_head(char *out, size_t len, const char *id, time_t fetched)
{
	int	 n;

	n = snprintf(out, len, "id %s\nfetched %lld\n\n", id,
	    (long long)fetched);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

long
mtasts_kept_parse(const char *text, char *id, size_t idlen, time_t *fetched)
{
	const char	*p = text, *nl;
	long long	 t;

	if (strncmp(p, "id ", 3) != 0 || (nl = strchr(p, '\n')) == NULL)
		return -1;
	snprintf(id, idlen, "%.*s", (int)(nl - p - 3), p + 3);
	p = nl + 1;
	if (sscanf(p, "fetched %lld", &t) != 1 || (nl = strchr(p, '\n')) ==
	    NULL || nl[1] != '\n')
		return -1;
	*fetched = (time_t)t;
	return (long)(nl + 2 - text);
}
