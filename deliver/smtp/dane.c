/*
 * dane: the TLS a host gets under the dane and dane-only levels (RFC 7672).
 * DANE applies to a host only when the resolver vouched for the MX answer
 * and for the host's addresses; then its TLSA records at
 * _port._tcp.host decide.  Usable records (DANE-TA(2), DANE-EE(3)) make
 * TLS mandatory and verified against them by OpenSSL; records that are
 * all unusable (PKIX-TA(0), PKIX-EE(1): no CA list is agreed for SMTP,
 * RFC 7672 3.1.3) make TLS mandatory but unverified; none at all leave
 * dane at "may" and make dane-only refuse the host.  A TLSA lookup that
 * fails (a bogus answer is a SERVFAIL) rules the host out: it is never
 * tried in the clear.
 */
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/nameser.h>

#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "smtp.h"

void
dane_clear(struct smtp_dane *dn)
{
	free(dn->rr);
	memset(dn, 0, sizeof(*dn));
}

/*
 * A selector OpenSSL knows (0 the certificate, 1 its public key) and a
 * matching type with data of its length (0 whole, 1 SHA-256, 2 SHA-512).
 */
static int
dane_usable(unsigned selector, unsigned mtype, const unsigned char *data,
    size_t len)
{
	const unsigned char *p = data;
	X509		*x;
	EVP_PKEY	*k;

	if (selector > 1)
		return 0;
	switch (mtype) {
	case 0:
		/* Whole data must be what OpenSSL reads: DER, all of it. */
		if (selector == 0) {
			if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
				return 0;
			X509_free(x);
		} else {
			if ((k = d2i_PUBKEY(NULL, &p, (long)len)) == NULL)
				return 0;
			EVP_PKEY_free(k);
		}
		return p == data + len;
	case 1:
		return len == 32;
	case 2:
		return len == 64;
	default:
		return 0;
	}
}

/* The TLSA records of the host: one of DANE_*; why set for the others. */
static int
dane_tlsa(const char *host, int port, struct smtp_dane *dn, char *why,
    size_t whylen)
{
	unsigned char	 ans[NS_PACKETSZ * 8];
	char		 qname[NS_MAXDNAME];
	ns_msg		 msg;
	ns_rr		 rr;
	int		 n, herr, secure, i, count;
	struct smtp_tlsa *t;
	const unsigned char *p;

	snprintf(qname, sizeof(qname), "_%d._tcp.%s", port, host);
	n = dns_lookup(qname, ns_t_tlsa, ans, sizeof(ans), &herr, 1, &secure);
	if (n < 0 && (herr == NO_DATA || herr == HOST_NOT_FOUND))
		return DANE_NONE;
	if (n < 0) {
		snprintf(why, whylen, "TLSA lookup of %s failed (no answer, or "
		    "a DNSSEC-bogus one)", qname);
		return DANE_FAIL;
	}
	if (!secure)
		return DANE_NONE;	/* RFC 7672 2.2: insecure is as none */
	if (ns_initparse(ans, n, &msg) != 0) {
		snprintf(why, whylen, "TLSA lookup of %s: malformed answer",
		    qname);
		return DANE_FAIL;
	}
	count = ns_msg_count(msg, ns_s_an);
	if ((dn->rr = calloc((size_t)count + 1, sizeof(*dn->rr))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return DANE_FAIL;
	}
	for (i = 0; i < count; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 ||
		    ns_rr_type(rr) != ns_t_tlsa || ns_rr_rdlen(rr) < 4)
			continue;
		p = ns_rr_rdata(rr);
		dn->nrecords++;
		/* PKIX usages have no agreed CA list in SMTP: unusable. */
		if (p[0] != 2 && p[0] != 3)
			continue;
		/* Nor what OpenSSL cannot match (RFC 7671 5.1). */
		if (!dane_usable(p[1], p[2], p + 3,
		    (size_t)ns_rr_rdlen(rr) - 3) ||
		    ns_rr_rdlen(rr) - 3 > (int)sizeof(dn->rr[0].data))
			continue;
		t = &dn->rr[dn->n++];
		t->usage = p[0];
		t->selector = p[1];
		t->mtype = p[2];
		t->len = (size_t)ns_rr_rdlen(rr) - 3;
		memcpy(t->data, p + 3, t->len);
	}
	if (dn->nrecords == 0)
		return DANE_NONE;
	strlcpy(dn->base, host, sizeof(dn->base));
	return dn->n > 0 ? DANE_USABLE : DANE_UNUSABLE;
}

/*
 * The level for host h of destination d under policy (TLS_LEVEL_DANE or
 * TLS_LEVEL_DANE_ONLY): TLS_LEVEL_VERIFY with dn filled (DANE),
 * TLS_LEVEL_ENCRYPT, TLS_LEVEL_MAY, or -1 (why set): do not try the host.
 */
int
dane_level(int policy, const struct smtp_dest *d, const struct smtp_host *h,
    int port, struct smtp_dane *dn, char *why, size_t whylen)
{
	int	 r;

	dane_clear(dn);
	if (!d->mx_secure || !h->secure) {
		if (policy == TLS_LEVEL_DANE)
			return TLS_LEVEL_MAY;
		snprintf(why, whylen, "no DANE for %s: the %s lookup is not "
		    "DNSSEC-validated (policy dane-only)", h->name,
		    d->mx_secure ? "address" : "MX");
		return -1;
	}
	switch ((r = dane_tlsa(h->name, port, dn, why, whylen))) {
	case DANE_USABLE:
		return TLS_LEVEL_VERIFY;
	case DANE_UNUSABLE:
		dane_clear(dn);
		/* RFC 7672 2.2: TLS still required, authentication not. */
		if (policy == TLS_LEVEL_DANE)
			return TLS_LEVEL_ENCRYPT;
		snprintf(why, whylen, "no usable TLSA records for %s (policy "
		    "dane-only)", h->name);
		return -1;
	case DANE_NONE:
		dane_clear(dn);
		if (policy == TLS_LEVEL_DANE)
			return TLS_LEVEL_MAY;
		snprintf(why, whylen, "no DNSSEC-validated TLSA records for "
		    "%s (policy dane-only)", h->name);
		return -1;
	default:
		dane_clear(dn);
		return -1;
	}
}

/* The records into a new TLS session; how many OpenSSL can use. */
int
dane_apply(SSL *ssl, const struct smtp_dane *dn)
{
	size_t	 i;
	int	 usable = 0, r;

	if (SSL_dane_enable(ssl, dn->base) <= 0)
		return -1;
	/* RFC 7672 3.1.1: a DANE-EE(3) match stands whatever the names. */
	(void)SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (i = 0; i < dn->n; i++) {
		r = SSL_dane_tlsa_add(ssl, dn->rr[i].usage, dn->rr[i].selector,
		    dn->rr[i].mtype, dn->rr[i].data, dn->rr[i].len);
		if (r > 0)
			usable++;
		else if (r < 0)
			return -1;
	}
	return usable;
}

/* What matched, for the logs: "DANE-EE(3)" or "DANE-TA(2)". */
const char *
dane_matched(SSL *ssl)
{
	uint8_t	 usage, selector, mtype;

	if (SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, NULL,
	    NULL) < 0)
		return NULL;
	return usage == 3 ? "DANE-EE(3)" : "DANE-TA(2)";
}
