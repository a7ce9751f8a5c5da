/* Unit tests: the milter protocol codec and the smtpd_milters list. */
#include <sys/socket.h>

#include <string.h>

#include "check.h"
#include "milter.h"

static const struct milter_spec defaults = {
	.connect_timeout = 30, .command_timeout = 30,
	.content_timeout = 300, .default_action = MILTER_DEFAULT_TEMPFAIL,
};

/* The bytes of one packet, as a filter would see them. */
static void
test_packets(void)
{
	struct buf	 b;
	struct milter_reply r;
	size_t		 total;
	uint32_t	 v, a, p;
	const char	*f[3];

	buf_init(&b, 0);
	CHECK(milter_putf(&b, MILTER_C_HELO, "client.example", NULL) == 0);
	CHECK(b.len == 5 + 15);
	CHECK(memcmp(b.data, "\0\0\0\x10H" "client.example\0", 20) == 0);

	buf_reset(&b);
	CHECK(milter_put_optneg(&b, 6, 0x1ff, 0x1fffff) == 0);
	CHECK(memcmp(b.data, "\0\0\0\x0dO\0\0\0\6\0\0\x01\xff\0\x1f\xff\xff",
	    17) == 0);
	CHECK(milter_peek(&b, &r, &total) == 1 && total == 17);
	CHECK(milter_parse_optneg(&r, &v, &a, &p) == 0);
	CHECK(v == 6 && a == 0x1ff && p == 0x1fffff);

	buf_reset(&b);
	CHECK(milter_put_macros(&b, MILTER_C_MAIL, "i", "ABC123",
	    "{mail_addr}", "a@example.org", NULL) == 0);
	CHECK(memcmp(b.data + 4, "DMi\0ABC123\0{mail_addr}\0a@example.org\0",
	    37) == 0);

	buf_reset(&b);
	CHECK(milter_put_connect(&b, "host.example", '4', 2525,
	    "192.0.2.1") == 0);
	CHECK(memcmp(b.data + 4, "Chost.example\0" "4\x09\xdd" "192.0.2.1\0",
	    27) == 0);
	buf_reset(&b);
	CHECK(milter_put_connect(&b, "x", 'U', 0, NULL) == 0);
	CHECK(b.len == 5 + 3);

	/* Replies: whole, partial, malformed lengths. */
	buf_reset(&b);
	buf_append(&b, "\0\0\0\x01" "c" "\0\0\0", 8);
	CHECK(milter_peek(&b, &r, &total) == 1 && r.cmd == 'c' && r.len == 0 &&
	    total == 5);
	buf_consume(&b, total);
	CHECK(milter_peek(&b, &r, &total) == 0);
	buf_reset(&b);
	buf_append(&b, "\0\0\0\0x", 5);
	CHECK(milter_peek(&b, &r, &total) == -1);
	buf_reset(&b);
	buf_append(&b, "\x7f\0\0\0x", 5);
	CHECK(milter_peek(&b, &r, &total) == -1);

	/* Strings: exactly as many as asked, nothing after. */
	r.cmd = MILTER_R_ADDRCPT_PAR;
	r.data = "<a@b>\0SIZE=1\0";
	r.len = 13;
	CHECK(milter_parse_strings(&r, f, 2) == 0);
	CHECK_STR(f[0], "<a@b>");
	CHECK_STR(f[1], "SIZE=1");
	CHECK(milter_parse_strings(&r, f, 1) == -1);
	CHECK(milter_parse_strings(&r, f, 3) == -1);
	r.len = 12;	/* no final NUL */
	CHECK(milter_parse_strings(&r, f, 2) == -1);
	buf_free(&b);
}

static void
test_replies(void)
{
	struct milter_reply r;
	const char	*t, *name, *value;
	uint32_t	 idx;

	r.cmd = MILTER_R_REPLYCODE;
#define RC(s) (r.data = (s), r.len = sizeof(s), \
    milter_parse_replycode(&r, &t))
	CHECK(RC("550 5.7.1 Go away") == 0);
	CHECK_STR(t, "550 5.7.1 Go away");
	CHECK(RC("451 4.7.1 later") == 0);
	CHECK(RC("550-5.7.1 one\r\n550 5.7.1 two") == 0);
	CHECK(RC("250 2.0.0 ok") == -1);	/* not a failure */
	CHECK(RC("55x oops") == -1);
	CHECK(RC("550 a\r\n250 b") == -1);	/* codes differ */
	CHECK(RC("550 a\nRCPT TO:<x>") == -1);	/* bare LF */
	CHECK(RC("550 a\r354 b") == -1);	/* bare CR */
	CHECK(RC("550-a\r\n550-b") == -1);	/* ends in a continuation */
	CHECK(RC("550 a\r\n550 b") == -1);	/* a middle line without '-' */
#undef RC

	r.cmd = MILTER_R_INSHEADER;
	r.data = "\0\0\0\2DKIM-Signature\0v=1; a=rsa-sha256\0";
	r.len = sizeof("\0\0\0\2DKIM-Signature\0v=1; a=rsa-sha256");
	CHECK(milter_parse_header(&r, &idx, &name, &value) == 0);
	CHECK(idx == 2);
	CHECK_STR(name, "DKIM-Signature");
	CHECK_STR(value, "v=1; a=rsa-sha256");
	r.cmd = MILTER_R_ADDHEADER;
	r.data = "X-Spam\0yes\0";
	r.len = 11;
	CHECK(milter_parse_header(&r, &idx, &name, &value) == 0 && idx == 0);
	r.data = "X-Spam: x\0yes\0";	/* a colon in the name */
	r.len = 14;
	CHECK(milter_parse_header(&r, &idx, &name, &value) == -1);
	r.data = "\0yes\0";		/* an empty name */
	r.len = 5;
	CHECK(milter_parse_header(&r, &idx, &name, &value) == -1);
	r.cmd = MILTER_R_CHGHEADER;
	r.data = "\0\0";		/* too short for the index */
	r.len = 2;
	CHECK(milter_parse_header(&r, &idx, &name, &value) == -1);
}

static void
test_list(void)
{
	struct milter_spec m[4];
	char		 err[256];

	CHECK(milter_parse_list("", &defaults, m, 4, err, sizeof(err)) == 0);
	CHECK(milter_parse_list("inet:127.0.0.1:8891, unix:/run/x.sock",
	    &defaults, m, 4, err, sizeof(err)) == 2);
	CHECK_STR(m[0].host, "127.0.0.1");
	CHECK_STR(m[0].port, "8891");
	CHECK(m[0].family == AF_INET);
	CHECK(m[0].command_timeout == 30);
	CHECK_STR(m[1].host, "/run/x.sock");
	CHECK(m[1].family == AF_UNIX);

	CHECK(milter_parse_list("{ inet:[::1]:11332, connect_timeout = 5s, "
	    "default_action = accept } inet:localhost:8891",
	    &defaults, m, 4, err, sizeof(err)) == 2);
	CHECK_STR(m[0].socket, "inet:[::1]:11332");
	CHECK_STR(m[0].host, "::1");
	CHECK_STR(m[0].port, "11332");
	CHECK(m[0].connect_timeout == 5);
	CHECK(m[0].default_action == MILTER_DEFAULT_ACCEPT);
	CHECK(m[1].connect_timeout == 30);
	CHECK(m[1].default_action == MILTER_DEFAULT_TEMPFAIL);
	CHECK_STR(m[1].host, "localhost");

	CHECK(milter_parse_list("inet:host", &defaults, m, 4, err,
	    sizeof(err)) == -1);
	CHECK(strstr(err, "expected inet:host:port") != NULL);
	CHECK(milter_parse_list("inet:host:0", &defaults, m, 4, err,
	    sizeof(err)) == -1);
	CHECK(milter_parse_list("inet:host:99999", &defaults, m, 4, err,
	    sizeof(err)) == -1);
	CHECK(milter_parse_list("unix:relative", &defaults, m, 4, err,
	    sizeof(err)) == -1);
	CHECK(milter_parse_list("tcp:host:1", &defaults, m, 4, err,
	    sizeof(err)) == -1);
	CHECK(milter_parse_list("{ inet:h:1, default_action = maybe }",
	    &defaults, m, 4, err, sizeof(err)) == -1);
	CHECK(strstr(err, "default_action") != NULL);
	CHECK(milter_parse_list("{ inet:h:1, colour = blue }", &defaults, m,
	    4, err, sizeof(err)) == -1);
	CHECK(strstr(err, "unknown setting \"colour\"") != NULL);
	CHECK(milter_parse_list("{ inet:h:1, command_timeout = 0 }",
	    &defaults, m, 4, err, sizeof(err)) == -1);
	CHECK(milter_parse_list("{ inet:h:1", &defaults, m, 4, err,
	    sizeof(err)) == -1);
	CHECK(milter_parse_list("inet:a:1 inet:b:2 inet:c:3 inet:d:4 "
	    "inet:e:5", &defaults, m, 4, err, sizeof(err)) == -1);
	CHECK(strstr(err, "more than 4") != NULL);
}

int
main(void)
{
	test_packets();
	test_replies();
	test_list();
	CHECK_DONE();
}
