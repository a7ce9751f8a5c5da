/*
 * sts: the MTA-STS policy (RFC 8461) of the domain a job goes to.  The
 * policy kept in tlspol/sts/DOMAIN is used while it is younger than its
 * max_age and the domain's TXT record (_mta-sts.DOMAIN) names the same
 * id; a new id, a first sight, or a kept copy older than
 * smtp_mta_sts_refresh_time is fetched over HTTPS (https.c) and handed
 * to tlspol to keep.  A fetch that fails leaves the kept copy in force
 * until it expires (RFC 8461 5.1), and no policy at all when there is
 * none: MTA-STS never makes mail wait for a policy it cannot get.
 */
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/nameser.h>

#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/string.h>

#include "log.h"
#include "mtasts.h"
#include "resolver.h"
#include "smtp.h"
#include "tlsrpt.h"

#define STS_FILE_MAX	(MTASTS_POLICY_MAX + 1024)

void
sts_clear(struct smtp_sts *st)
{
	free(st->text);
	memset(st, 0, sizeof(*st));
}

/* The kept copy: id, fetch time and text; -1 when there is none. */
static int
sts_read_cache(const char *key, char *id, size_t idlen, time_t *fetched,
    struct buf *text)
{
	char		 path[512];
	FILE		*fp;
	size_t		 n;
	long		 off;

	snprintf(path, sizeof(path), "%s/%s", TLSPOL_STS_DIR, key);
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	buf_reset(text);
	if (buf_reserve(text, STS_FILE_MAX + 1) == -1) {
		fclose(fp);
		return -1;
	}
	n = fread(text->data, 1, STS_FILE_MAX, fp);
	fclose(fp);
	text->data[n] = '\0';
	text->len = n;
	if ((off = mtasts_kept_parse(text->data, id, idlen, fetched)) == -1)
		return -1;
	buf_consume(text, (size_t)off);
	text->data[text->len] = '\0';
	return 0;
}

/*
 * The id of the domain's one STSv1 TXT record: 1 (id set), 0 none (or
 * more than one, RFC 8461 3.1), -1 the lookup failed.
 */
static int
sts_txt(const char *domain, char *id, size_t idlen)
{
	unsigned char	 ans[NS_PACKETSZ * 4];
	char		 name[NS_MAXDNAME], txt[1024], one[64];
	ns_msg		 msg;
	ns_rr		 rr;
	int		 n, herr, i, found = 0;

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	n = dns_lookup(name, ns_t_txt, ans, sizeof(ans), &herr, 0, NULL);
	if (n < 0)
		return herr == NO_DATA || herr == HOST_NOT_FOUND ? 0 : -1;
	if (ns_initparse(ans, n, &msg) != 0)
		return -1;
	for (i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 ||
		    ns_rr_type(rr) != ns_t_txt)
			continue;
		resolver_txt(ns_rr_rdata(rr), ns_rr_rdlen(rr), txt,
		    sizeof(txt));
		switch (mtasts_txt_id(txt, one, sizeof(one))) {
		case 1:
			found++;
			strlcpy(id, one, idlen);
			break;
		case -1:
			found++;	/* an STSv1 record, but broken */
			id[0] = '\0';
			break;
		}
	}
	if (found != 1 || id[0] == '\0')
		return 0;
	return 1;
}

/* A failure to get a policy, for the domain's TLS report. */
static void
sts_report_failure(struct smtp_job *sj, const char *domain,
    const char *result, const char *why)
{
	int	 saved = sj->report;

	strlcpy(sj->report_domain, domain, sizeof(sj->report_domain));
	sj->report = REPORT_STS;
	report_session(sj, NULL, NULL, result, why);
	sj->report = saved;
}

/*
 * The policy of domain into sj->sts (active when its mode is testing or
 * enforce).  Never fails: no policy is the answer to every trouble.
 */
void
sts_lookup(struct smtp_job *sj, SSL_CTX *ctx, const char *domain)
{
	struct smtp_sts	*st = &sj->sts;
	struct mtasts_policy pol;
	struct buf	 cached, fetched;
	char		 key[256], cid[64], tid[64], why[512], err[128];
	char		 host[300];
	time_t		 when = 0, now = time(NULL);
	int		 have = 0, txt, webpki, use_cache = 0, got = 0;

	sts_clear(st);
	if (mtasts_domain_key(domain, key, sizeof(key)) == -1)
		return;
	buf_init(&cached, 0);
	buf_init(&fetched, 0);
	if (sts_read_cache(key, cid, sizeof(cid), &when, &cached) == 0 &&
	    mtasts_parse(cached.data, cached.len, &pol, err,
	    sizeof(err)) == 0 && now < when + pol.max_age)
		have = 1;
	txt = sts_txt(key, tid, sizeof(tid));
	if (have && (txt != 1 || (strcmp(tid, cid) == 0 &&
	    now - when < sj->conf->smtp_mta_sts_refresh_time)))
		use_cache = 1;
	else if (txt == 1) {
		snprintf(host, sizeof(host), "mta-sts.%s", key);
		if (https_get(sj->conf, ctx, host, "/.well-known/mta-sts.txt",
		    &fetched, why, sizeof(why), &webpki) == -1) {
			log_info("%s: MTA-STS policy of %s not fetched: %s%s",
			    sj->a->id, key, why, have ? "; the kept one still "
			    "applies" : "");
			sts_report_failure(sj, key, webpki ?
			    "sts-webpki-invalid" : "sts-policy-fetch-error",
			    why);
			use_cache = have;
		} else if (mtasts_parse(fetched.data, fetched.len, &pol, err,
		    sizeof(err)) == -1) {
			log_info("%s: MTA-STS policy of %s is not valid: %s%s",
			    sj->a->id, key, err, have ? "; the kept one still "
			    "applies" : "");
			sts_report_failure(sj, key, "sts-policy-invalid", err);
			use_cache = have;
		} else {
			got = 1;
			report_policy(key, tid, fetched.data);
		}
	}
	if (use_cache) {
		/* pol may hold a failed fetch's try: parse the copy again. */
		(void)mtasts_parse(cached.data, cached.len, &pol, err,
		    sizeof(err));
		st->text = strdup(cached.data);
		strlcpy(st->id, cid, sizeof(st->id));
	} else if (got) {
		st->text = strdup(fetched.data);
		strlcpy(st->id, tid, sizeof(st->id));
	}
	if ((use_cache || got) && st->text) {
		st->pol = pol;
		st->active = pol.mode != MTASTS_NONE;
		strlcpy(st->domain, key, sizeof(st->domain));
		log_info("%s: MTA-STS policy of %s: mode %s, id %s (%s)",
		    sj->a->id, key, mtasts_mode_name(pol.mode), st->id,
		    got ? "fetched" : "kept");
	}
	buf_free(&cached);
	buf_free(&fetched);
}
