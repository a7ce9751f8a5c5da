/* Unit tests: MTA-STS policies, mx patterns and TXT records (RFC 8461). */
#include <string.h>

#include "check.h"
#include "mtasts.h"

static void
test_policy(void)
{
	struct mtasts_policy p;
	char	 err[128];
	const char *ok = "version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.example.com\r\nmx: *.example.net\r\n"
	    "max_age: 604800\r\nextension: ignored\r\n";

	CHECK(mtasts_parse(ok, strlen(ok), &p, err, sizeof(err)) == 0);
	CHECK(p.mode == MTASTS_ENFORCE && p.max_age == 604800 && p.nmx == 2);
	CHECK(strcmp(p.mx[1], "*.example.net") == 0);
	/* LF alone, spaces around values, a year at most */
	const char *lf = "version:STSv1\nmode:  testing \nmx: a.example\n"
	    "max_age: 99999999\n";
	CHECK(mtasts_parse(lf, strlen(lf), &p, err, sizeof(err)) == 0);
	CHECK(p.mode == MTASTS_TESTING && p.max_age == MTASTS_MAX_AGE_MAX);
	/* none needs no mx */
	const char *none = "version: STSv1\nmode: none\nmax_age: 86400\n";
	CHECK(mtasts_parse(none, strlen(none), &p, err, sizeof(err)) == 0);
	CHECK(p.mode == MTASTS_NONE);
	/* what is not a policy */
	const char *bad[] = {
	    "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
	    "mode: enforce\nmx: a\nmax_age: 1\n",
	    "version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx: a\nmax_age: -1\n",
	    "version: STSv1\nmode: enforce\nmx: a\nmax_age: 1x\n",
	    "version: STSv1\nmode: enforce\nmx: a\n",
	    "<html>not found</html>\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(mtasts_parse(bad[i], strlen(bad[i]), &p, err,
		    sizeof(err)) == -1);
}

static void
test_match(void)
{
	struct mtasts_policy p;
	char	 err[128];
	const char *t = "version: STSv1\nmode: enforce\nmx: mail.example.com\n"
	    "mx: *.example.net\nmax_age: 86400\n";

	CHECK(mtasts_parse(t, strlen(t), &p, err, sizeof(err)) == 0);
	CHECK(mtasts_mx_match(&p, "mail.example.com"));
	CHECK(mtasts_mx_match(&p, "MAIL.Example.COM."));
	CHECK(!mtasts_mx_match(&p, "mail2.example.com"));
	CHECK(mtasts_mx_match(&p, "mx1.example.net"));
	/* the star is one label, not more, not none */
	CHECK(!mtasts_mx_match(&p, "a.b.example.net"));
	CHECK(!mtasts_mx_match(&p, "example.net"));
	CHECK(!mtasts_mx_match(&p, "mx1.example.net.evil"));
}

static void
test_txt(void)
{
	char	 id[64];

	CHECK(mtasts_txt_id("v=STSv1; id=20160831085700Z;", id,
	    sizeof(id)) == 1 && strcmp(id, "20160831085700Z") == 0);
	CHECK(mtasts_txt_id("v=STSv1;id=abc", id, sizeof(id)) == 1 &&
	    strcmp(id, "abc") == 0);
	CHECK(mtasts_txt_id("v=spf1 -all", id, sizeof(id)) == 0);
	CHECK(mtasts_txt_id("v=STSv1;", id, sizeof(id)) == -1);
	CHECK(mtasts_txt_id("v=STSv1; id=has-dash", id, sizeof(id)) == -1);
	CHECK(mtasts_txt_id("v=STSv1; id=0123456789012345678901234567890123",
	    id, sizeof(id)) == -1);
	CHECK(mtasts_txt_id("id=abc; v=STSv1", id, sizeof(id)) == 0);
}

static void
test_domain_key(void)
{
	char	 k[256];

	CHECK(mtasts_domain_key("Example.COM.", k, sizeof(k)) == 0 &&
	    strcmp(k, "example.com") == 0);
	CHECK(mtasts_domain_key("../etc", k, sizeof(k)) == -1);
	CHECK(mtasts_domain_key("a/b", k, sizeof(k)) == -1);
	CHECK(mtasts_domain_key("", k, sizeof(k)) == -1);
	CHECK(mtasts_domain_key("a..b", k, sizeof(k)) == -1);
}

int
main(void)
{
	test_policy();
	test_match();
	test_txt();
	test_domain_key();
	CHECK_DONE();
}
