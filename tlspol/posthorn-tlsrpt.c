/*
 * posthorn-tlsrpt: the daily SMTP TLS reports (RFC 8460 4) of what the
 * relay client saw, made from tlspol/results/DAY: one JSON report per
 * policy domain, each policy (its type, text and mx hosts) with its
 * count of sessions that succeeded and failed, and the failures grouped
 * by result type, sending and receiving address and receiving MX host.
 *
 *	posthorn-tlsrpt [-m] [-c confdir] [-d YYYY-MM-DD] [-D domain]
 *	    [-o dir]
 *
 * The day is yesterday (UTC) unless -d names one.  The reports go to the
 * standard output, one JSON document a line, or with -o into dir as
 * files named as RFC 8460 5.3 suggests
 * (submitter!domain!begin!end.json); with -m, each also goes by mail to
 * the addresses its domain publishes (tlsrpt_mail.c).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "buf.h"
#include "conf.h"
#include "mtasts.h"
#include "resolver.h"
#include "tlsrpt.h"
#include "tlsrpt_mail.h"

#ifndef CONFIG_DIR
#define CONFIG_DIR	"/usr/local/etc/posthorn"
#endif

struct detail {
	char	*result, *sending_ip, *mx, *receiving_ip, *info;
	long	 count;
};

struct policy {
	char		*domain, *type, *text, *mxhost;
	long		 ok, failed;
	struct detail	*d;
	size_t		 nd;
};

static struct policy *pols;
static size_t	 npols;

static void	 usage(void) __attribute__((noreturn));
static void	 add(char **f);
static void	 report(const struct conf *, const char *domain,
		    const char *day, struct buf *, char *id, size_t);
static void	 json_str(struct buf *, const char *);
static void	 json_lines(struct buf *, const char *);
static char	*xstrdup(const char *);

int
main(int argc, char **argv)
{
	struct conf	 c;
	const char	*confdir = CONFIG_DIR, *only = NULL, *outdir = NULL;
	char		 err[512], day[16], path[1024], *line = NULL, *f[16];
	char		 key[256], out[1024], name[600], id[600];
	struct buf	 json;
	size_t		 cap = 0, i, k;
	long long	 when;
	struct tm	 tm;
	time_t		 begin;
	FILE		*fp, *o;
	int		 ch, done, mail = 0, rc = 0, fd;
	struct stat	 st;

	day[0] = '\0';
	while ((ch = getopt(argc, argv, "c:d:D:mo:")) != -1) {
		switch (ch) {
		case 'm':
			mail = 1;
			break;
		case 'c':
			confdir = optarg;
			break;
		case 'd':
			strlcpy(day, optarg, sizeof(day));
			break;
		case 'D':
			only = optarg;
			break;
		case 'o':
			outdir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (conf_load(&c, confdir, err, sizeof(err)) == -1) {
		fprintf(stderr, "posthorn-tlsrpt: %s\n", err);
		return 1;
	}
	memset(&tm, 0, sizeof(tm));
	if (day[0] == '\0') {
		begin = time(NULL) - 86400;
		gmtime_r(&begin, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	}
	memset(&tm, 0, sizeof(tm));
	if (strlen(day) != 10 || strptime(day, "%Y-%m-%d", &tm) == NULL) {
		fprintf(stderr, "posthorn-tlsrpt: -d: expected YYYY-MM-DD\n");
		return 2;
	}
	begin = timegm(&tm);
	snprintf(path, sizeof(path), "%s/%s/%s", c.queue_directory,
	    TLSPOL_RESULTS_DIR, day);
	/* The relay user's file: a plain file, not a link nor a FIFO. */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (fp = fdopen(fd, "r")) == NULL) {
		if (fd == -1 && errno == ENOENT)
			return 0;	/* no session under a policy that day */
		fprintf(stderr, "posthorn-tlsrpt: %s: %s\n", path, fd != -1 &&
		    !S_ISREG(st.st_mode) ? "not a plain file" :
		    strerror(errno));
		return 1;
	}
	while (getline(&line, &cap, fp) != -1) {
		if (tlsrpt_parse(line, &when, f) == -1) {
			fprintf(stderr, "posthorn-tlsrpt: %s: a malformed line "
			    "skipped\n", path);
			continue;
		}
		if (only && mtasts_domain_key(only, key, sizeof(key)) == 0 &&
		    strcmp(key, f[TLSRPT_DOMAIN]) != 0)
			continue;
		add(f);
	}
	free(line);
	fclose(fp);
	/* A sendmail that stops reading is an error for one report only. */
	(void)signal(SIGPIPE, SIG_IGN);
	if (mail && resolver_setup(c.dns_resolver, err, sizeof(err)) == -1) {
		fprintf(stderr, "posthorn-tlsrpt: %s\n", err);
		return 1;
	}
	/* One report per domain, in the order the domains were first seen. */
	buf_init(&json, 0);
	for (i = 0; i < npols; i++) {
		for (done = 0, k = 0; k < i && !done; k++)
			done = strcmp(pols[k].domain, pols[i].domain) == 0;
		if (done)
			continue;
		report(&c, pols[i].domain, day, &json, id, sizeof(id));
		snprintf(name, sizeof(name), "%s!%s!%lld!%lld.json",
		    c.myhostname, pols[i].domain, (long long)begin,
		    (long long)begin + 86399);
		if (mail && tlsrpt_mail(&c, confdir, pols[i].domain, name, id,
		    &json) == -1)
			rc = 1;
		if (outdir == NULL) {
			if (!mail)
				fwrite(json.data, 1, json.len, stdout);
			continue;
		}
		snprintf(out, sizeof(out), "%s/%s", outdir, name);
		if ((o = fopen(out, "w")) == NULL) {
			fprintf(stderr, "posthorn-tlsrpt: %s: %s\n", out,
			    strerror(errno));
			return 1;
		}
		fwrite(json.data, 1, json.len, o);
		if (fclose(o) == EOF) {
			fprintf(stderr, "posthorn-tlsrpt: %s: %s\n", out,
			    strerror(errno));
			return 1;
		}
		printf("%s\n", out);
	}
	buf_free(&json);
	if (fflush(stdout) == EOF)
		return 1;
	return rc;
}

static void
usage(void)
{
	fprintf(stderr, "usage: posthorn-tlsrpt [-m] [-c confdir] "
	    "[-d YYYY-MM-DD] [-D domain] [-o dir]\n");
	exit(2);
}

static char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL) {
		fprintf(stderr, "posthorn-tlsrpt: out of memory\n");
		exit(1);
	}
	return p;
}

/* One session into its policy's counts. */
static void
add(char **f)
{
	struct policy	*p = NULL;
	struct detail	*d = NULL;
	size_t		 i;

	for (i = 0; i < npols && p == NULL; i++)
		if (strcmp(pols[i].domain, f[TLSRPT_DOMAIN]) == 0 &&
		    strcmp(pols[i].type, f[TLSRPT_TYPE]) == 0 &&
		    strcmp(pols[i].text, f[TLSRPT_POLICY]) == 0 &&
		    strcmp(pols[i].mxhost, f[TLSRPT_MXHOST]) == 0)
			p = &pols[i];
	if (p == NULL) {
		if ((pols = reallocarray(pols, npols + 1, sizeof(*pols))) ==
		    NULL) {
			fprintf(stderr, "posthorn-tlsrpt: out of memory\n");
			exit(1);
		}
		p = &pols[npols++];
		memset(p, 0, sizeof(*p));
		p->domain = xstrdup(f[TLSRPT_DOMAIN]);
		p->type = xstrdup(f[TLSRPT_TYPE]);
		p->text = xstrdup(f[TLSRPT_POLICY]);
		p->mxhost = xstrdup(f[TLSRPT_MXHOST]);
	}
	if (strcmp(f[TLSRPT_RESULT], "success") == 0) {
		p->ok++;
		return;
	}
	p->failed++;
	for (i = 0; i < p->nd && d == NULL; i++)
		if (strcmp(p->d[i].result, f[TLSRPT_RESULT]) == 0 &&
		    strcmp(p->d[i].sending_ip, f[TLSRPT_SENDING_IP]) == 0 &&
		    strcmp(p->d[i].mx, f[TLSRPT_RECEIVING_MX]) == 0 &&
		    strcmp(p->d[i].receiving_ip, f[TLSRPT_RECEIVING_IP]) == 0 &&
		    strcmp(p->d[i].info, f[TLSRPT_INFO]) == 0)
			d = &p->d[i];
	if (d == NULL) {
		if ((p->d = reallocarray(p->d, p->nd + 1, sizeof(*p->d))) ==
		    NULL) {
			fprintf(stderr, "posthorn-tlsrpt: out of memory\n");
			exit(1);
		}
		d = &p->d[p->nd++];
		d->result = xstrdup(f[TLSRPT_RESULT]);
		d->sending_ip = xstrdup(f[TLSRPT_SENDING_IP]);
		d->mx = xstrdup(f[TLSRPT_RECEIVING_MX]);
		d->receiving_ip = xstrdup(f[TLSRPT_RECEIVING_IP]);
		d->info = xstrdup(f[TLSRPT_INFO]);
		d->count = 0;
	}
	d->count++;
}

static void
json_str(struct buf *b, const char *s)
{
	buf_appends(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\u%04x", c);
		else
			buf_printf(b, "%c", c);
	}
	buf_appends(b, "\"");
}

/* A text of lines as a JSON array of strings. */
static void
json_lines(struct buf *b, const char *s)
{
	const char	*nl;
	char		 one[1024];
	int		 first = 1;

	buf_appends(b, "[");
	while (*s) {
		nl = strchr(s, '\n');
		snprintf(one, sizeof(one), "%.*s", nl ? (int)(nl - s) :
		    (int)strlen(s), s);
		s = nl ? nl + 1 : s + strlen(s);
		if (one[0] == '\0')
			continue;
		if (!first)
			buf_appends(b, ", ");
		json_str(b, one);
		first = 0;
	}
	buf_appends(b, "]");
}

/* The report of domain into b, its report id into id. */
static void
report(const struct conf *c, const char *domain, const char *day,
    struct buf *bp, char *id, size_t idlen)
{
	struct buf	 b;
	char		 contact[512];
	size_t		 i, k;
	int		 first = 1;

	buf_init(&b, 0);
	snprintf(contact, sizeof(contact), "%s", c->tlsrpt_contact_info[0] ?
	    c->tlsrpt_contact_info : "");
	if (contact[0] == '\0')
		snprintf(contact, sizeof(contact), "postmaster@%s",
		    c->myhostname);
	snprintf(id, idlen, "%sT00:00:00Z_%s@%s", day, domain,
	    c->myhostname);
	buf_appends(&b, "{\"organization-name\": ");
	json_str(&b, c->tlsrpt_organization_name[0] ?
	    c->tlsrpt_organization_name : c->myhostname);
	buf_printf(&b, ", \"date-range\": {\"start-datetime\": "
	    "\"%sT00:00:00Z\", \"end-datetime\": \"%sT23:59:59Z\"}, ", day,
	    day);
	buf_appends(&b, "\"contact-info\": ");
	json_str(&b, contact);
	buf_appends(&b, ", \"report-id\": ");
	json_str(&b, id);
	buf_appends(&b, ", \"policies\": [");
	for (i = 0; i < npols; i++) {
		struct policy *p = &pols[i];

		if (strcmp(p->domain, domain) != 0)
			continue;
		if (!first)
			buf_appends(&b, ", ");
		first = 0;
		buf_appends(&b, "{\"policy\": {\"policy-type\": ");
		json_str(&b, p->type);
		buf_appends(&b, ", \"policy-string\": ");
		json_lines(&b, p->text);
		buf_appends(&b, ", \"policy-domain\": ");
		json_str(&b, p->domain);
		if (p->mxhost[0]) {
			buf_appends(&b, ", \"mx-host\": ");
			json_lines(&b, p->mxhost);
		}
		buf_printf(&b, "}, \"summary\": {\"total-successful-session-"
		    "count\": %ld, \"total-failure-session-count\": %ld}",
		    p->ok, p->failed);
		if (p->nd > 0) {
			buf_appends(&b, ", \"failure-details\": [");
			for (k = 0; k < p->nd; k++) {
				struct detail *d = &p->d[k];

				if (k > 0)
					buf_appends(&b, ", ");
				buf_appends(&b, "{\"result-type\": ");
				json_str(&b, d->result);
				if (d->sending_ip[0]) {
					buf_appends(&b, ", \"sending-mta-ip\": ");
					json_str(&b, d->sending_ip);
				}
				if (d->mx[0]) {
					buf_appends(&b, ", "
					    "\"receiving-mx-hostname\": ");
					json_str(&b, d->mx);
				}
				if (d->receiving_ip[0]) {
					buf_appends(&b, ", \"receiving-ip\": ");
					json_str(&b, d->receiving_ip);
				}
				buf_printf(&b, ", \"failed-session-count\": %ld",
				    d->count);
				if (d->info[0]) {
					buf_appends(&b, ", "
					    "\"additional-information\": ");
					json_str(&b, d->info);
				}
				buf_appends(&b, "}");
			}
			buf_appends(&b, "]");
		}
		buf_appends(&b, "}");
	}
	buf_appends(&b, "]}\n");
	buf_free(bp);
	*bp = b;
}
