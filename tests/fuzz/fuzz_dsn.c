/*
 * libFuzzer harness: the DSN parameters (RFC 3461) from the client to the
 * bounce.  smtpd's MAIL and RCPT parameters (smtpd/params.c: RET, ENVID,
 * NOTIFY, ORCPT, and SIZE, BODY, SMTPUTF8, AUTH beside them), the form
 * they are queued in, qf_param reading it back, and what bounce.c does
 * with the result (queue/dsn.c): xtext decoded into a header, and the
 * end of the original's header section for RET=HDRS.
 *
 * Input: a flag byte (D_*), a byte that says where the message is cut
 * into chunks, then the MAIL parameters, a LF, the RCPT parameters, a
 * LF, and the original message.
 *
 * Checked: parameters that are taken are queued in a form that is taken
 * again to the same values, and read back as queued; decoded, they hold
 * no control character that could start a header line in the notice;
 * the header section ends in the same place however the message is cut.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bsd/string.h>

#include "qmgr.h"
#include "smtpd.h"

#define D_EHLO		0x01	/* else HELO: no parameters at all */
#define D_SMTPUTF8	0x02	/* MAIL had SMTPUTF8 (for ORCPT=utf-8) */
#define D_UTF8_OFF	0x04	/* smtputf8_enable = no */
#define D_AUTH		0x08	/* AUTH offered (AUTH= is taken) */

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct smtpd	 sd;
static struct conf	 conf;

static void	 fail(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	 mail(struct session *, const char *, size_t);
static void	 rcpt(struct session *, const char *, size_t);
static void	 decoded(const char *, const char *);
static void	 header_end(const char *, size_t, unsigned);
static char	*cstr(const char *, size_t);

/* smtpd.c is not linked. */
void
smtpd_session_gone(struct smtpd *s)
{
	(void)s;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[256];

	(void)argc;
	(void)argv;
	if (conf_defaults(&conf, err, sizeof(err)) == -1 ||
	    conf_override(&conf, "myhostname=mx.example.org", err,
	    sizeof(err)) == -1)
		fail("conf: %s", err);
	sd.conf = &conf;
	sd.auth_fd = -1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session	 s;
	const char	*p, *e, *nl1, *nl2;
	unsigned	 flags;

	if (size < 2)
		return 0;
	flags = data[0];
	conf.smtputf8_enable = (flags & D_UTF8_OFF) == 0;
	conf.auth_system_accounts = (flags & D_AUTH) != 0;
	conf.smtpd_tls_auth_only = 0;
	memset(&s, 0, sizeof(s));
	s.sd = &sd;
	s.fd = s.qfd = s.atrn_fd = -1;
	s.esmtp = (flags & D_EHLO) != 0;
	buf_init(&s.out, 0);
	p = (const char *)data + 2;
	e = (const char *)data + size;
	if ((nl1 = memchr(p, '\n', (size_t)(e - p))) == NULL)
		nl1 = e;
	mail(&s, p, (size_t)(nl1 - p));
	if (nl1 < e) {
		if ((nl2 = memchr(nl1 + 1, '\n', (size_t)(e - nl1 - 1))) ==
		    NULL)
			nl2 = e;
		s.mparams.smtputf8 = (flags & D_SMTPUTF8) != 0;
		rcpt(&s, nl1 + 1, (size_t)(nl2 - nl1 - 1));
		if (nl2 < e)
			header_end(nl2 + 1, (size_t)(e - nl2 - 1), data[1]);
	}
	buf_free(&s.out);
	return 0;
}

static void
mail(struct session *s, const char *p, size_t n)
{
	struct mail_params mp, again;
	struct buf	 q;
	char		*arg, *copy, val[600];
	int		 rc, esmtp;

	arg = cstr(p, n);
	rc = params_mail(s, arg, &mp);
	free(arg);
	if (rc == -1) {
		if (s->out.len == 0 || s->out.data[0] != '5')
			fail("MAIL parameters refused without a 5xx");
		buf_reset(&s->out);
		return;
	}
	if (s->out.len > 0)
		fail("MAIL parameters taken with a reply");
	if (mp.smtputf8 && !conf.smtputf8_enable)
		fail("SMTPUTF8 taken, not offered");
	/* What the queue file holds is taken again, to the same. */
	buf_init(&q, 0);
	params_mail_str(&mp, &q);
	copy = cstr(q.data, q.len);
	esmtp = s->esmtp;
	s->esmtp = 1;	/* the queued form is ESMTP's, even after HELO */
	rc = params_mail(s, copy, &again);
	s->esmtp = esmtp;
	if (rc == -1)
		fail("queued MAIL parameters refused: %s", buf_cstr(&q));
	free(copy);
	if (memcmp(&mp, &again, sizeof(mp)) != 0)
		fail("queued MAIL parameters differ: %s", buf_cstr(&q));
	if (qf_param(buf_cstr(&q), "ENVID", val, sizeof(val)) !=
	    (mp.envid[0] != '\0') || (mp.envid[0] && strcmp(val, mp.envid)))
		fail("ENVID read back wrong: %s", buf_cstr(&q));
	if (qf_param(buf_cstr(&q), "RET", val, sizeof(val)) != (mp.ret != 0) ||
	    (mp.ret && strcasecmp(val, mp.ret == RET_FULL ? "FULL" : "HDRS")))
		fail("RET read back wrong: %s", buf_cstr(&q));
	if (mp.envid[0])
		decoded(mp.envid, "ENVID");
	buf_free(&q);
}

static void
rcpt(struct session *s, const char *p, size_t n)
{
	struct rcpt_params rp, again;
	struct buf	 q;
	char		*arg, *copy, val[600];
	int		 rc, esmtp;

	arg = cstr(p, n);
	rc = params_rcpt(s, arg, &rp);
	free(arg);
	if (rc == -1) {
		if (s->out.len == 0 || s->out.data[0] != '5')
			fail("RCPT parameters refused without a 5xx");
		buf_reset(&s->out);
		return;
	}
	if (s->out.len > 0)
		fail("RCPT parameters taken with a reply");
	if ((rp.notify & NOTIFY_NEVER) && rp.notify != NOTIFY_NEVER)
		fail("NOTIFY=NEVER with others");
	buf_init(&q, 0);
	params_rcpt_str(&rp, &q);
	copy = cstr(q.data, q.len);
	esmtp = s->esmtp;
	s->esmtp = 1;	/* the queued form is ESMTP's, even after HELO */
	rc = params_rcpt(s, copy, &again);
	s->esmtp = esmtp;
	if (rc == -1)
		fail("queued RCPT parameters refused: %s", buf_cstr(&q));
	free(copy);
	if (memcmp(&rp, &again, sizeof(rp)) != 0)
		fail("queued RCPT parameters differ: %s", buf_cstr(&q));
	if (qf_param(buf_cstr(&q), "ORCPT", val, sizeof(val)) !=
	    (rp.orcpt[0] != '\0') || (rp.orcpt[0] && strcmp(val, rp.orcpt)))
		fail("ORCPT read back wrong: %s", buf_cstr(&q));
	if (qf_param(buf_cstr(&q), "NOTIFY", val, sizeof(val)) !=
	    (rp.notify != 0))
		fail("NOTIFY read back wrong: %s", buf_cstr(&q));
	if (rp.orcpt[0])
		decoded(rp.orcpt, "ORCPT");
	buf_free(&q);
}

/* As bounce.c writes it into a header line, at every size it might. */
static void
decoded(const char *xtext, const char *what)
{
	char	 out[600];
	size_t	 len, i;

	for (len = 1; len <= sizeof(out); len += len < 8 ? 1 : 97) {
		memset(out, 'X', sizeof(out));
		dsn_xtext_decode(xtext, out, len);
		if (memchr(out, '\0', len) == NULL)
			fail("%s decoded without a NUL in %zu", what, len);
		if (strlen(out) > strlen(xtext))
			fail("%s longer decoded than encoded", what);
		for (i = 0; out[i]; i++)
			if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
				fail("%s decodes to control 0x%02x: %s", what,
				    (unsigned char)out[i], xtext);
	}
}

/* The original cut into chunks as qf_read_content might: same end. */
static void
header_end(const char *p, size_t n, unsigned seed)
{
	ssize_t	 whole, end = 0, k;
	size_t	 off, len;
	int	 bol = 1;

	whole = dsn_header_end(p, (ssize_t)n, &bol);
	if (whole < 0 || (size_t)whole > n || (whole > 0 && p[whole - 1] !=
	    '\n'))
		fail("header end %zd of %zu", whole, n);
	bol = 1;
	for (off = 0; off < n; off += len) {
		seed = seed * 1103515245 + 12345;
		len = (seed >> 16) % 32 + 1;
		if (len > n - off)
			len = n - off;
		if ((k = dsn_header_end(p + off, (ssize_t)len, &bol)) != 0) {
			if (k < 0 || (size_t)k > len)
				fail("header end %zd of a %zu chunk", k, len);
			end = (ssize_t)off + k;
			break;
		}
	}
	if (end != whole)
		fail("header end %zd in chunks, %zd whole", end, whole);
}

static char *
cstr(const char *p, size_t n)
{
	char	*s;

	if ((s = malloc(n + 1)) == NULL)
		fail("out of memory");
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void
fail(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_dsn: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}
