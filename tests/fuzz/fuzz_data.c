/*
 * libFuzzer harness: smtpd's DATA and BDAT state machine (smtpd/data.c),
 * checked against a reference model.  The input is the message as the
 * client sends it after DATA's 354 (or as the octets of BDAT chunks),
 * after a 2-byte header: mode bits (M_*) and a seed for where the bytes
 * are cut between data_feed calls.
 *
 * Checked, whatever the input and however it is cut (M_HEADERS: but
 * the content):
 *	- DATA ends exactly after the first CRLF "." CRLF (the CRLF of the
 *	  DATA command counts as the first), never elsewhere (smuggling);
 *	- a message with a bare CR or LF, a NUL, a long line, too many
 *	  octets or Received: headers is refused, any other is taken;
 *	- what qmgr gets, in records of at most QF_CHUNK bytes, is the
 *	  Received: header and the text with the dots unstuffed and CRLF
 *	  made LF (BINARYMIME: every octet as sent).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>

#include "proto.h"
#include "queuefile.h"
#include "smtpd.h"
#include "sock.h"

#define M_BDAT		0x01
#define M_BINARY	0x02	/* BODY=BINARYMIME (with BDAT) */
#define M_HEADERS	0x04	/* smtpd_add_missing_headers */
#define M_TIGHT		0x08	/* 100-octet lines, 1 kB, 2 hops */
#define M_REPEAT	0x10	/* the text 20 times: over QF_CHUNK */
#define REPEAT		20

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct smtpd	 sd;
static struct conf	 conf;

static void	 fail(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	 drain(int, struct buf *);
static int	 model(const char *, size_t, int, struct buf *);
static void	 ignore(int, int, void *);

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
	sd.loop = event_loop_new();
	sd.auth_fd = -1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session	 s;
	struct buf	 text, got, content, want, prefix;
	struct record	 r;
	size_t		 off, n, used, total, end = 0, term;
	uint32_t	 seed;
	int		 sp[2], mode, done = 0, ok, i, last = 0;
	const char	*crlf;

	if (size < 2)
		return 0;
	mode = data[0];
	if (mode & M_BINARY)
		mode |= M_BDAT;		/* cmd_data refuses BINARYMIME */
	seed = data[1];
	conf.smtpd_add_missing_headers = (mode & M_HEADERS) != 0;
	conf.smtpd_text_line_limit = mode & M_TIGHT ? 100 : 1000;
	conf.message_size_limit = mode & M_TIGHT ? 1024 : 10240000;
	conf.hopcount_limit = mode & M_TIGHT ? 2 : 50;
	buf_init(&text, 0);
	for (i = 0; i < (mode & M_REPEAT ? REPEAT : 1); i++)
		buf_append(&text, data + 2, size - 2);

	memset(&s, 0, sizeof(s));
	s.sd = &sd;
	s.atrn_fd = -1;
	buf_init(&s.in, SMTPD_IN_MAX);
	buf_init(&s.out, 0);
	buf_init(&s.chunk, 0);
	buf_init(&s.qin, RECORD_MAX + RECORD_HDR);
	buf_init(&s.qout, 0);
	strlcpy(s.addr, "192.0.2.1", sizeof(s.addr));
	strlcpy(s.helo, "client.example.net", sizeof(s.helo));
	strlcpy(s.id, "65A1B2C3D4E5F001", sizeof(s.id));
	strlcpy(s.first_rcpt, "bob@example.org", sizeof(s.first_rcpt));
	s.esmtp = s.in_tx = 1;
	s.nrcpt = 1;
	s.mparams.body = mode & M_BINARY ? BODY_BINARYMIME : BODY_8BITMIME;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1)
		fail("socketpair: %s", strerror(errno));
	s.qfd = sp[0];
	if (event_add(sd.loop, s.qfd, EV_READ, ignore, NULL) == -1)
		fail("event_add");
	buf_init(&got, 0);
	buf_init(&content, 0);
	buf_init(&want, 0);
	buf_init(&prefix, 0);

	data_begin(&s, (mode & M_BDAT) != 0);
	buf_append(&prefix, s.chunk.data, s.chunk.len);
	/* Cut the text where the seed says, as reads would. */
	for (off = 0; off < text.len && !done; off += used) {
		seed = seed * 1103515245 + 12345;
		n = (seed >> 16) % 64 + 1;
		if (data[1] == 0 || n > text.len - off)
			n = text.len - off;
		used = data_feed(&s, text.data + off, n, &done);
		if (used > n || (!done && used != n) || (done && used == 0))
			fail("data_feed used %zu of %zu (done %d)", used, n,
			    done);
		if (done)
			end = off + used;
		drain(sp[1], &got);
	}
	if (done && (mode & M_BDAT))
		fail("BDAT content ended by its own bytes");
	/*
	 * DATA: the end of the first CRLF.CRLF (0: none), the DATA
	 * command's CRLF counting as the first CRLF.
	 */
	if (!(mode & M_BDAT)) {
		term = 0;
		if (text.len >= 3 && memcmp(text.data, ".\r\n", 3) == 0)
			term = 3;
		else if (text.len >= 5 && (crlf = memmem(text.data, text.len,
		    "\r\n.\r\n", 5)) != NULL)
			term = (size_t)(crlf - text.data) + 5;
		if (!done && term != 0)
			fail("CRLF.CRLF ending at %zu did not end DATA", term);
		if (done && end != term)
			fail("DATA ended at %zu, CRLF.CRLF at %zu", end, term);
	}
	if (done || (mode & M_BDAT)) {
		data_end(&s);
		last = 1;
	}
	drain(sp[1], &got);

	/* What qmgr got: DATA records, then END or ABORT. */
	ok = -1;
	while (record_peek(&got, &r, &total) == 1) {
		if (ok != -1)
			fail("record 0x%02x after the end", r.type);
		if (r.type == PROTO_DATA) {
			if (r.len == 0 || r.len > QF_CHUNK)
				fail("content record of %zu bytes", r.len);
			buf_append(&content, r.data, r.len);
		} else if (r.type == PROTO_END)
			ok = 1;
		else if (r.type == PROTO_ABORT)
			ok = 0;
		else
			fail("record 0x%02x", r.type);
		buf_consume(&got, total);
	}
	if (got.len > 0)
		fail("a partial record");
	if (last && ok == -1)
		fail("no END or ABORT at the end");
	if (!last && ok != -1)
		fail("END or ABORT before the end");
	if (ok == 1 && s.out.len > 0)
		fail("a reply to an accepted message");
	if (ok == 0 && (s.out.len == 0 || (s.out.data[0] != '4' &&
	    s.out.data[0] != '5')))
		fail("a refusal without a 4xx or 5xx reply");
	if (last) {
		buf_append(&want, prefix.data, prefix.len);
		i = model(text.data, done ? end : text.len, mode, &want);
		if (i != ok)
			fail("%s, the model says %s", ok ? "taken" : "refused",
			    i ? "take it" : "refuse it");
		/* Date: and Message-ID: would be the model's guess. */
		if (ok == 1 && !(mode & M_HEADERS) && (content.len !=
		    want.len || memcmp(content.data, want.data, want.len)))
			fail("content differs from the model's");
	}

	if (s.qfd != -1)
		qc_close(&s);
	close(sp[1]);
	buf_free(&s.in);
	buf_free(&s.out);
	buf_free(&s.chunk);
	buf_free(&s.qin);
	buf_free(&s.qout);
	buf_free(&text);
	buf_free(&got);
	buf_free(&content);
	buf_free(&want);
	buf_free(&prefix);
	return 0;
}

/*
 * The message as RFC 5321 4.1.1.4 and RFC 3030 read it, written out as
 * qmgr should get it; 1 if it is to be taken, 0 if refused.  p[0..n) is
 * the text up to and including CRLF.CRLF (DATA) or all of it (BDAT).
 */
static int
model(const char *p, size_t n, int mode, struct buf *out)
{
	const struct conf *c = &conf;
	const char	*line, *eol, *e = p + n;
	size_t		 len, hops = 0, size = 0;
	int		 bad = 0, hdr = 1;

	if (mode & M_BINARY) {
		for (line = p; line < e; line = eol + 1) {
			if ((eol = memchr(line, '\n', (size_t)(e - line))) ==
			    NULL)
				break;
			len = (size_t)(eol - line);
			if (hdr && (len == 0 || (len == 1 && line[0] == '\r')))
				hdr = 0;
			else if (hdr && len >= 9 &&
			    strncasecmp(line, "received:", 9) == 0)
				hops++;
		}
		buf_append(out, p, n);
		return (long)n <= c->message_size_limit &&
		    (long)hops < c->hopcount_limit;
	}
	if (!(mode & M_BDAT))
		n -= n >= 3 ? 3 : n;	/* ".\r\n": the CRLF ends a line */
	for (line = p; line < p + n; line = eol + 2) {
		eol = memmem(line, (size_t)(p + n - line), "\r\n", 2);
		if (eol == NULL) {
			eol = p + n;	/* BDAT: a last line without CRLF */
			if (eol > line && eol[-1] == '\r')
				bad = 1;
		}
		if (!(mode & M_BDAT) && line < eol && line[0] == '.')
			line++;
		len = (size_t)(eol - line);
		if (memchr(line, '\r', len) || memchr(line, '\n', len) ||
		    memchr(line, '\0', len) ||
		    (long)len + 2 > c->smtpd_text_line_limit)
			bad = 1;
		if (hdr && len == 0)
			hdr = 0;
		else if (hdr && len >= 9 &&
		    strncasecmp(line, "received:", 9) == 0)
			hops++;
		buf_append(out, line, len);
		buf_appendc(out, '\n');
		size += len + 1;
	}
	return !bad && (long)size <= c->message_size_limit &&
	    (long)hops < c->hopcount_limit;
}

static void
drain(int fd, struct buf *b)
{
	char	 tmp[65536];
	ssize_t	 n;

	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(b, tmp, (size_t)n);
}

static void
ignore(int fd, int events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
}

static void
fail(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_data: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}
