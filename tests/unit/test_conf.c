/* Unit tests: posthorn.conf parsing (common/conf.c) and text maps. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include "check.h"
#include "cidr.h"
#include "conf.h"
#include "map.h"

static char dir[] = "/tmp/posthorn-unit.XXXXXX";

static int
load(const char *text, struct conf *c, char *err, size_t errlen)
{
	char	 path[256];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/posthorn.conf", dir);
	fp = fopen(path, "w");
	fputs(text, fp);
	fclose(fp);
	return conf_load(c, dir, err, errlen);
}

int
main(void)
{
	struct conf	 c;
	struct map	*m;
	char		 err[512], path[256];
	FILE		*fp;
	long		 v;

	if (mkdtemp(dir) == NULL)
		return 2;
	CHECK(load("# comment\n\nmessage_size_limit = 2m\n"
	    "smtpd_timeout = 5m\nlocal_domains = a.example,\n  b.example\n",
	    &c, err, sizeof(err)) == 0);
	CHECK(c.message_size_limit == 2 * 1024 * 1024);
	CHECK(c.smtpd_timeout == 300);
	CHECK_STR(c.local_domains, "a.example, b.example");
	CHECK(conf_list_has(c.local_domains, "B.EXAMPLE"));
	CHECK(!conf_list_has(c.local_domains, "example"));
	CHECK(c.smtpd_recipient_limit == 1000);	/* default */
	conf_free(&c);

	CHECK(load("smtpd_timeout = 1\nbogus = 2\n", &c, err,
	    sizeof(err)) == -1);
	CHECK(strstr(err, "posthorn.conf:2: unknown parameter 'bogus'") != NULL);
	CHECK(load("smtpd_timeout = soon\n", &c, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":1: smtpd_timeout:") != NULL);
	CHECK(load("a line without equals\n", &c, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":1: expected 'name = value'") != NULL);
	CHECK(load("smtpd_timeout = 1\nsmtpd_timeout = 2\n", &c, err,
	    sizeof(err)) == -1);
	CHECK(strstr(err, "set twice") != NULL);
	CHECK(load("smtpd_command_line_limit = 100\n", &c, err,
	    sizeof(err)) == -1);
	CHECK(strstr(err, "below the minimum 512") != NULL);
	CHECK(load("  indented = 1\n", &c, err, sizeof(err)) == -1);

	CHECK(conf_parse_time("90", &v) == 0 && v == 90);
	CHECK(conf_parse_time("2h", &v) == 0 && v == 7200);
	CHECK(conf_parse_time("1w", &v) == 0 && v == 604800);
	CHECK(conf_parse_time("5x", &v) == -1);
	CHECK(conf_parse_time("-1", &v) == -1);
	CHECK(conf_parse_time("99999999999999999999", &v) == -1);
	CHECK(conf_parse_size("10k", &v) == 0 && v == 10240);
	CHECK(conf_parse_size("1g", &v) == 0 && v == 1073741824L);
	CHECK(conf_parse_size("1kb", &v) == -1);

	snprintf(path, sizeof(path), "%s/aliases", dir);
	fp = fopen(path, "w");
	fputs("# aliases\nPostmaster: alice\nstaff: alice,\n  bob\n"
	    "bob  bob/Maildir/\n", fp);
	fclose(fp);
	CHECK((m = map_open(path, err, sizeof(err))) != NULL);
	if (m) {
		CHECK_STR(map_lookup(m, "postmaster"), "alice");
		CHECK_STR(map_lookup(m, "STAFF"), "alice, bob");
		CHECK_STR(map_lookup(m, "bob"), "bob/Maildir/");
		CHECK(map_lookup(m, "carol") == NULL);
		/* A rewrite is noticed; a broken one keeps the old contents. */
		sleep(1);
		fp = fopen(path, "w");
		fputs("carol: bob\n", fp);
		fclose(fp);
		CHECK(map_refresh(m, err, sizeof(err)) == 0);
		CHECK(map_lookup(m, "carol") != NULL);
		CHECK(map_lookup(m, "staff") == NULL);
		fp = fopen(path, "w");
		fputs("  continuation first\n", fp);
		fclose(fp);
		CHECK(map_refresh(m, err, sizeof(err)) == -1);
		CHECK(map_lookup(m, "carol") != NULL);
		map_close(m);
	}
	fp = fopen(path, "w");
	fputs("dup: a\nDUP: b\n", fp);
	fclose(fp);
	CHECK(map_open(path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "duplicate key") != NULL);
	/* The default mynetworks: loopback only, never the world. */
	CHECK(load("", &c, err, sizeof(err)) == 0);
	{
		struct cidr_list l;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;

		CHECK(cidr_parse_list(c.mynetworks, &l, err, sizeof(err)) == 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
		CHECK(cidr_match(&l, (struct sockaddr *)&sin));
		inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
		CHECK(!cidr_match(&l, (struct sockaddr *)&sin));
		inet_pton(AF_INET, "128.0.0.1", &sin.sin_addr);
		CHECK(!cidr_match(&l, (struct sockaddr *)&sin));
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
		CHECK(cidr_match(&l, (struct sockaddr *)&sin6));
		inet_pton(AF_INET6, "::ffff:127.0.0.2", &sin6.sin6_addr);
		CHECK(cidr_match(&l, (struct sockaddr *)&sin6));
		inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
		CHECK(!cidr_match(&l, (struct sockaddr *)&sin6));
		cidr_free(&l);
		CHECK(cidr_parse_list("10.1.2.3/8 [2001:db8::]/33", &l, err,
		    sizeof(err)) == 0);
		inet_pton(AF_INET, "10.200.0.1", &sin.sin_addr);
		CHECK(cidr_match(&l, (struct sockaddr *)&sin));
		inet_pton(AF_INET6, "2001:db8:7fff::1", &sin6.sin6_addr);
		CHECK(cidr_match(&l, (struct sockaddr *)&sin6));
		inet_pton(AF_INET6, "2001:db8:8000::1", &sin6.sin6_addr);
		CHECK(!cidr_match(&l, (struct sockaddr *)&sin6));
		cidr_free(&l);
		CHECK(cidr_parse_list("0.0.0.0/33", &l, err, sizeof(err)) == -1);
		CHECK(cidr_parse_list("example.org", &l, err, sizeof(err)) == -1);
	}
	conf_free(&c);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 2;
	CHECK_DONE();
}
