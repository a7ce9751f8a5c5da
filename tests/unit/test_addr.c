/* Unit tests: RFC 5321 path parsing (common/addr.c). */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "check.h"

static int
ok(const char *in, int flags, const char *want, const char *rest_want)
{
	struct mailbox	 mb;
	const char	*rest, *why;

	if (addr_parse_path(in, flags, &mb, &rest, &why) == -1) {
		fprintf(stderr, "rejected %s: %s\n", in, why);
		return 0;
	}
	if (strcmp(mb.addr, want) != 0) {
		fprintf(stderr, "%s: got %s want %s\n", in, mb.addr, want);
		return 0;
	}
	if (rest_want && strcmp(rest, rest_want) != 0) {
		fprintf(stderr, "%s: rest '%s' want '%s'\n", in, rest, rest_want);
		return 0;
	}
	return 1;
}

static int
bad(const char *in, int flags)
{
	struct mailbox	 mb;
	const char	*rest, *why;

	return addr_parse_path(in, flags, &mb, &rest, &why) == -1;
}

int
main(void)
{
	char	 big[400], out[64];

	CHECK(ok("<a@example.org>", 0, "a@example.org", ""));
	CHECK(ok(" <a@example.org> SIZE=10", 0, "a@example.org", " SIZE=10"));
	CHECK(ok("<>", ADDR_ALLOW_NULL, "", ""));
	CHECK(bad("<>", 0));
	CHECK(ok("<first.last+tag@sub.example.org>", 0,
	    "first.last+tag@sub.example.org", ""));
	CHECK(ok("<\"john doe\"@example.org>", 0, "\"john doe\"@example.org",
	    ""));
	CHECK(ok("<\"a\\\"b\"@example.org>", 0, "\"a\\\"b\"@example.org", ""));
	CHECK(ok("<a@[192.0.2.1]>", 0, "a@[192.0.2.1]", ""));
	CHECK(ok("<a@[IPv6:2001:db8::1]>", 0, "a@[IPv6:2001:db8::1]", ""));
	CHECK(ok("<@one.example,@two.example:a@example.org>", 0,
	    "a@example.org", ""));
	CHECK(ok("<Postmaster>", ADDR_ALLOW_NODOMAIN, "Postmaster", ""));
	CHECK(bad("<alice>", ADDR_ALLOW_NODOMAIN));
	CHECK(bad("<postmaster>", 0));
	CHECK(bad("a@example.org", 0));
	CHECK(bad("<a@example.org", 0));
	CHECK(bad("<a@@example.org>", 0));
	CHECK(bad("<.a@example.org>", 0));
	CHECK(bad("<a.@example.org>", 0));
	CHECK(bad("<a..b@example.org>", 0));
	CHECK(bad("<a@-example.org>", 0));
	CHECK(bad("<a@example-.org>", 0));
	CHECK(bad("<a@example..org>", 0));
	CHECK(bad("<a@[300.0.0.1]>", 0));
	CHECK(bad("<a@[IPv6:zz::1]>", 0));
	CHECK(bad("<a b@example.org>", 0));
	CHECK(bad("<\"unterminated@example.org>", 0));
	CHECK(bad("<a@example.org>junk", 0) == 0);	/* rest is the caller's */
	CHECK(bad("<\xc3\xa4@example.org>", 0));
	CHECK(ok("<\xc3\xa4@example.org>", ADDR_ALLOW_UTF8,
	    "\xc3\xa4@example.org", ""));
	/* Length limits: local part 64, path 256. */
	memset(big, 'x', 65);
	strcpy(big + 65, "@example.org>");
	memmove(big + 1, big, strlen(big) + 1);
	big[0] = '<';
	CHECK(bad(big, 0));
	memset(big, 'a', sizeof(big));
	big[0] = '<';
	big[1] = 'b';
	big[2] = '@';
	big[300] = '>';
	big[301] = '\0';
	CHECK(bad(big, 0));

	addr_unquote_local("\"a\\\"b c\"", out, sizeof(out));
	CHECK_STR(out, "a\"b c");
	addr_unquote_local("plain", out, sizeof(out));
	CHECK_STR(out, "plain");
	CHECK_DONE();
}
