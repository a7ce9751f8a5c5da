/*
 * libFuzzer harness: a whole smtpd session (smtpd/session.c, command*.c,
 * params.c, data.c, auth_client.c), run by smtpd's own event loop.  The
 * harness plays the three other parties, in the same loop:
 *
 *	the client	writes the input after its header, a few bytes at a
 *			time so that commands, DATA and BDAT chunks straddle
 *			reads; once smtpd has dealt with all of it (or at
 *			once, with G_HANG_UP), shuts its side down; it reads
 *			and checks every reply line
 *	qmgr		private/qmgr in a scratch directory: checks each
 *			record smtpd sends as intake.c would, and answers
 *			OK, a refusal, nonsense or by hanging up
 *	auth		private/auth: "secret" is the password ("hangup"
 *			makes it hang up)
 *	the agent	ODMR: the relay agent on the reversed connection
 *			(answers 250 until QUIT)
 *
 * Input header, 3 bytes: configuration bits (F_*), qmgr's answers (two
 * bits per answer in turn, A_*), the client's write size (low 3 bits)
 * and more configuration bits (G_*).  A session that stops moving, a
 * reply that is not RFC 5321 syntax and a record qmgr would refuse all
 * abort.  Logs go to stderr: run with -close_fd_mask=2 (make fuzz does).
 * smtpd finds private/qmgr from its working directory, so each input
 * runs in the scratch directory; give -artifact_prefix an absolute path,
 * or a sanitizer's crash file lands there.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "proto.h"
#include "queuefile.h"
#include "smtpd.h"
#include "sock.h"

#define F_TRUSTED	0x01	/* the client is in mynetworks */
#define F_VRFY		0x02	/* VRFY and EXPN enabled */
#define F_AUTH		0x04	/* AUTH offered without TLS */
#define F_TLS_BROKEN	0x08	/* a certificate that did not load */
#define F_ETRN		0x10	/* ETRN for anyone, to example.com */
#define F_ADD_HEADERS	0x20	/* smtpd_add_missing_headers */
#define F_ODMR		0x40	/* odmr_service */
#define F_TIGHT		0x80	/* low size, line, rcpt, hops */
#define G_CHUNK		0x07	/* index into chunk_sizes */
#define G_NO_UTF8	0x08
#define G_AUTH_REQUIRED	0x10
#define G_FEW_ERRORS	0x20	/* smtpd_error_limit 3 */
#define G_STOPPING	0x40	/* smtpd is draining */
#define G_HANG_UP	0x80	/* EOF right after the last byte */
#define A_OK		0	/* 0 and 1 */
#define A_FAIL		2
#define A_BAD		3	/* nonsense, or hang up */

#define QUEUE_ID	"65A1B2C3D4E5F001"
#define STUCK_MS	10000
#define REPLY_MAX	512	/* RFC 5321 4.5.3.1.5, CRLF included */

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A connection smtpd made to qmgr or to the auth service. */
struct peer {
	int		 fd;
	int		 auth;
	int		 passed;	/* ATRN: the customer's channel */
	struct buf	 in;
	size_t		 got;		/* bytes read in all */
	size_t		 answered_at;	/* got at our last answer */
	int		 state;		/* P_* */
	int		 mail_ok;
	int		 nrcpt;
	struct peer	*next;
};
#define P_NEW		0
#define P_TX		1
#define P_DONE		2

static const size_t chunk_sizes[] = { 1, 2, 3, 5, 16, 100, 1000, 4096 };

static struct {
	struct smtpd	 sd;
	struct conf	 conf[4];	/* by F_AUTH and F_ETRN */
	struct cidr_list nets;		/* none match: see F_TRUSTED */
	struct event_loop *loop;
	char		 dir[64];	/* the scratch directory */
	int		 home, scratch;	/* working directories */
	int		 smtp_fd, qmgr_fd, auth_fd;
	struct peer	*peers;
	int		 agent;		/* ODMR: reversed session */
	/* This input. */
	int		 client;
	const uint8_t	*p;
	size_t		 left, chunk;
	int		 hang_up, shut, client_eof;
	unsigned	 script, nanswer;
	int		 gone;
	struct buf	 reply;
	char		 cont[4];	/* a multi-line reply's code */
	int		 pumping;	/* ODMR: the agent speaks */
	int		 trace;		/* FUZZ_TRACE: replies */
} fz;

static void	 fz_fail(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	 fz_setup(void);
static void	 fz_conf(struct conf *, int);
static void	 fz_cleanup(void);
static void	 fz_remove(void);
static void	 client_io(int, int, void *);
static int	 client_idle(void);
static void	 client_replies(const char *, size_t);
static void	 client_line(const char *, size_t);
static void	 peer_accept(int, int, void *);
static void	 peer_io(int, int, void *);
static void	 peer_close(struct peer *);
static int	 qmgr_record(struct peer *, const struct record *, size_t);
static int	 qmgr_answer(struct peer *, int, size_t);
static int	 auth_record(struct peer *, const struct record *);
static void	 peer_send(struct peer *, int, const char *, const char *);
static void	 agent_io(int, int, void *);
static void	 agent_close(void);
static void	 stuck(void *);

/* smtpd.c is not linked: its main and this are the event loop's owner. */
void
smtpd_session_gone(struct smtpd *sd)
{
	fz.gone = 1;
	event_loop_exit(sd->loop);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_setup();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpd	*sd = &fz.sd;
	struct conf	*c;
	struct event_timer *t;
	int		 f, g;

	if (size < 3)
		return 0;
	f = data[0];
	fz.script = data[1];
	g = data[2];
	c = sd->conf = &fz.conf[(f & F_AUTH ? 1 : 0) | (f & F_ETRN ? 2 : 0)];
	c->smtpd_enable_vrfy = c->smtpd_enable_expn = (f & F_VRFY) != 0;
	c->smtpd_tls_auth_only = (f & F_AUTH) == 0;
	c->smtpd_add_missing_headers = (f & F_ADD_HEADERS) != 0;
	c->odmr_service = (f & F_ODMR) != 0;
	c->message_size_limit = f & F_TIGHT ? 2048 : 10240000;
	c->smtpd_text_line_limit = f & F_TIGHT ? 100 : 1000;
	c->smtpd_recipient_limit = f & F_TIGHT ? 2 : 1000;
	c->hopcount_limit = f & F_TIGHT ? 2 : 50;
	c->smtputf8_enable = (g & G_NO_UTF8) == 0;
	c->smtpd_auth_required = (g & G_AUTH_REQUIRED) != 0;
	c->smtpd_error_limit = g & G_FEW_ERRORS ? 3 : 20;
	sd->tls_broken = (f & F_TLS_BROKEN) != 0;
	sd->stopping = (g & G_STOPPING) != 0;
	sd->mynetworks = fz.nets;

	fz.p = data + 3;
	fz.left = size - 3;
	fz.chunk = chunk_sizes[g & G_CHUNK];
	fz.hang_up = (g & G_HANG_UP) != 0;
	fz.shut = fz.client_eof = 0;
	fz.nanswer = 0;
	fz.gone = 0;
	fz.pumping = 0;
	fz.cont[0] = '\0';
	buf_reset(&fz.reply);
	if (fchdir(fz.scratch) == -1)
		fz_fail("fchdir: %s", strerror(errno));

	if ((fz.client = sock_unix_connect("smtp")) == -1)
		fz_fail("connect: %s", strerror(errno));
	sock_nonblock(fz.client);
	session_accept(fz.smtp_fd, EV_READ, sd);
	if (sd->sessions == NULL) {
		close(fz.client);
		fz_cleanup();
		return 0;
	}
	/* A UNIX socket has no address: F_TRUSTED stands for mynetworks. */
	sd->sessions->trusted = (f & F_TRUSTED) != 0;
	if (event_add(fz.loop, fz.client, EV_READ | EV_WRITE, client_io,
	    NULL) == -1)
		fz_fail("event_add client");
	t = event_timer_add(fz.loop, STUCK_MS, stuck, NULL);
	if (!fz.gone)
		event_loop_run(fz.loop);
	event_timer_cancel(fz.loop, t);
	if (sd->sessions != NULL)
		fz_fail("the loop ended with the session alive");
	/* The last replies, if the loop ended before they were read. */
	while (!fz.client_eof) {
		char	 b[4096];
		ssize_t	 n;

		if ((n = read(fz.client, b, sizeof(b))) <= 0)
			break;
		client_replies(b, (size_t)n);
	}
	event_del(fz.loop, fz.client);
	close(fz.client);
	fz_cleanup();
	return 0;
}

static void
fz_setup(void)
{
	char	 err[256];
	int	 i;

	signal(SIGPIPE, SIG_IGN);
	fz.trace = getenv("FUZZ_TRACE") != NULL;
	strlcpy(fz.dir, "/tmp/fuzz_smtpd.XXXXXX", sizeof(fz.dir));
	if ((fz.home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    mkdtemp(fz.dir) == NULL || chdir(fz.dir) == -1 ||
	    mkdir("private", 0700) == -1)
		fz_fail("scratch directory: %s", strerror(errno));
	atexit(fz_remove);
	if ((fz.smtp_fd = sock_unix_listen("smtp", 16)) == -1 ||
	    (fz.qmgr_fd = sock_unix_listen(QMGR_SOCKET, 16)) == -1 ||
	    (fz.auth_fd = sock_unix_listen(AUTH_SOCKET, 16)) == -1 ||
	    (fz.scratch = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fz_fail("listen: %s", strerror(errno));
	sock_nonblock(fz.smtp_fd);
	sock_nonblock(fz.qmgr_fd);
	sock_nonblock(fz.auth_fd);
	for (i = 0; i < 4; i++)
		fz_conf(&fz.conf[i], i);
	if (cidr_parse_list("192.0.2.0/24", &fz.nets, err,
	    sizeof(err)) == -1)
		fz_fail("mynetworks: %s", err);
	fz.loop = event_loop_new();
	memset(&fz.sd, 0, sizeof(fz.sd));
	fz.sd.conf = &fz.conf[0];
	fz.sd.loop = fz.loop;
	fz.sd.svc.name = "smtpd";
	fz.sd.svc.listen_fd = fz.smtp_fd;
	fz.sd.svc.master_fd = -1;
	fz.sd.auth_fd = -1;
	buf_init(&fz.sd.auth_in, RECORD_MAX + RECORD_HDR);
	buf_init(&fz.sd.auth_out, 0);
	buf_init(&fz.reply, 0);
	fz.agent = -1;
	if (event_add(fz.loop, fz.qmgr_fd, EV_READ, peer_accept, NULL) == -1 ||
	    event_add(fz.loop, fz.auth_fd, EV_READ, peer_accept, NULL) == -1)
		fz_fail("event_add listeners");
	if (fchdir(fz.home) == -1)
		fz_fail("fchdir: %s", strerror(errno));
}

static void
fz_remove(void)
{
	if (fchdir(fz.scratch) == -1)
		return;
	(void)unlink("smtp");
	(void)unlink(QMGR_SOCKET);
	(void)unlink(AUTH_SOCKET);
	(void)rmdir("private");
	(void)fchdir(fz.home);
	(void)rmdir(fz.dir);
}

/* Variant 1: AUTH has a password map; 2: ETRN for anyone. */
static void
fz_conf(struct conf *c, int variant)
{
	static const char *const base[] = { "myhostname=mx.example.org",
	    "local_domains=localhost, example.org", NULL };
	static const char *const v1[] = { "auth_password_map=hash:/nonexistent",
	    NULL };
	static const char *const v2[] = { "smtpd_etrn_clients=any",
	    "relay_domains=example.com, .example.com", NULL };
	const char *const *kv;
	char	 err[256];

	if (conf_defaults(c, err, sizeof(err)) == -1)
		fz_fail("conf: %s", err);
	for (kv = base; *kv; kv++)
		if (conf_override(c, *kv, err, sizeof(err)) == -1)
			fz_fail("conf: %s", err);
	for (kv = v1; (variant & 1) && *kv; kv++)
		if (conf_override(c, *kv, err, sizeof(err)) == -1)
			fz_fail("conf: %s", err);
	for (kv = v2; (variant & 2) && *kv; kv++)
		if (conf_override(c, *kv, err, sizeof(err)) == -1)
			fz_fail("conf: %s", err);
}

/* Forget everything this input left: peers, unaccepted connections. */
static void
fz_cleanup(void)
{
	struct smtpd	*sd = &fz.sd;
	int		 fd;

	while (fz.peers)
		peer_close(fz.peers);
	agent_close();
	while ((fd = accept4(fz.qmgr_fd, NULL, NULL, SOCK_CLOEXEC)) != -1)
		close(fd);
	while ((fd = accept4(fz.auth_fd, NULL, NULL, SOCK_CLOEXEC)) != -1)
		close(fd);
	/* As if the auth service had restarted: the next input starts anew. */
	if (sd->auth_fd != -1) {
		event_del(fz.loop, sd->auth_fd);
		close(sd->auth_fd);
		sd->auth_fd = -1;
	}
	buf_reset(&sd->auth_in);
	buf_reset(&sd->auth_out);
	if (fchdir(fz.home) == -1)
		fz_fail("fchdir: %s", strerror(errno));
}

static void
fz_fail(const char *fmt, ...)
{
	va_list	 ap;

	fz_remove();	/* and back to where the crash file goes */
	va_start(ap, fmt);
	fprintf(stderr, "fuzz_smtpd: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

static void
stuck(void *arg)
{
	struct session	*s = fz.sd.sessions;

	(void)arg;
	fz_fail("session stuck: waiting %d data_mode %d in %zu out %zu "
	    "qout %zu closing %d client left %zu", s ? (int)s->waiting : -1,
	    s ? s->data_mode : -1, s ? s->in.len : 0, s ? s->out.len : 0,
	    s ? s->qout.len : 0, s ? s->closing : -1, fz.left);
}

static void
client_io(int fd, int events, void *arg)
{
	char	 b[8192];
	ssize_t	 n;

	(void)arg;
	if (events & EV_READ) {
		n = read(fd, b, sizeof(b));
		if (n > 0)
			client_replies(b, (size_t)n);
		else if (n == 0 || errno != EAGAIN)
			fz.client_eof = 1;
	}
	if ((events & EV_WRITE) && fz.left > 0) {
		n = send(fd, fz.p, fz.left < fz.chunk ? fz.left : fz.chunk,
		    MSG_NOSIGNAL);
		if (n > 0) {
			fz.p += n;
			fz.left -= (size_t)n;
		} else if (n == -1 && errno != EAGAIN)
			fz.left = 0;	/* smtpd hung up */
	} else if ((events & EV_WRITE) && !fz.shut &&
	    (fz.hang_up || client_idle())) {
		(void)shutdown(fd, SHUT_WR);
		fz.shut = 1;
	}
	/* Write interest until the EOF: a turn of the loop each. */
	event_mod(fz.loop, fd, (fz.client_eof ? 0 : EV_READ) |
	    (fz.shut ? 0 : EV_WRITE));
}

/*
 * smtpd has read and answered all we sent, and waits for nobody: an EOF
 * now cannot cut off a pipelined command.
 */
static int
client_idle(void)
{
	struct session	*s = fz.sd.sessions;
	int		 n = 0, q = 0;

	if (s == NULL)
		return 1;
	if (ioctl(s->fd, FIONREAD, &n) == -1 ||
	    (s->qfd != -1 && ioctl(s->qfd, FIONREAD, &q) == -1))
		fz_fail("FIONREAD: %s", strerror(errno));
	return n == 0 && q == 0 && s->waiting == W_NONE && s->out.len == 0 &&
	    s->qout.len == 0;
}

static void
client_replies(const char *p, size_t n)
{
	const char	*nl;
	size_t		 len;

	if (fz.pumping)
		return;
	buf_append(&fz.reply, p, n);
	while (!fz.pumping && fz.reply.len > 0 &&
	    (nl = memchr(fz.reply.data, '\n', fz.reply.len)) != NULL) {
		len = (size_t)(nl - fz.reply.data) + 1;
		client_line(fz.reply.data, len);
		buf_consume(&fz.reply, len);
	}
	if (fz.reply.len > REPLY_MAX)
		fz_fail("reply line over %d octets", REPLY_MAX);
}

/* RFC 5321 4.2: Reply-code [ SP / "-" textstring ] CRLF, one code per reply. */
static void
client_line(const char *l, size_t len)
{
	size_t	 i;

	if (fz.trace)
		fprintf(stderr, "S: %.*s", (int)len, l);
	if (len > REPLY_MAX)
		fz_fail("reply line of %zu octets", len);
	if (len < 5 || l[len - 2] != '\r')
		fz_fail("reply line without CRLF: %.*s", (int)len, l);
	if (l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' ||
	    l[2] < '0' || l[2] > '9' || (len > 5 && l[3] != ' ' &&
	    l[3] != '-'))
		fz_fail("not a reply: %.*s", (int)len, l);
	for (i = 4; i < len - 2; i++)
		if (((unsigned char)l[i] < 0x20 && l[i] != '\t') ||
		    l[i] == 0x7f)
			fz_fail("control character 0x%02x in a reply: %.*s",
			    (unsigned char)l[i], (int)len, l);
	if (fz.cont[0] && memcmp(fz.cont, l, 3) != 0)
		fz_fail("%.3s- reply continued with %.*s", fz.cont, (int)len,
		    l);
	if (len > 5 && l[3] == '-')
		memcpy(fz.cont, l, 3);
	else
		fz.cont[0] = '\0';
	if (strncmp(l, "250 2.0.0 OK now reversing", 26) == 0)
		fz.pumping = 1;
}

static void
peer_accept(int lfd, int events, void *arg)
{
	struct peer	*p;
	int		 fd;

	(void)events;
	(void)arg;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1)
		return;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		fz_fail("out of memory");
	p->fd = fd;
	p->auth = lfd == fz.auth_fd;
	p->passed = -1;
	buf_init(&p->in, RECORD_MAX + RECORD_HDR);
	if (event_add(fz.loop, fd, EV_READ, peer_io, p) == -1)
		fz_fail("event_add peer");
	p->next = fz.peers;
	fz.peers = p;
}

static void
peer_close(struct peer *p)
{
	struct peer	**pp;

	for (pp = &fz.peers; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	event_del(fz.loop, p->fd);
	close(p->fd);
	if (p->passed != -1)
		close(p->passed);
	buf_free(&p->in);
	free(p);
}

static void
peer_io(int fd, int events, void *arg)
{
	struct peer	*p = arg;
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 passed, rc;

	(void)events;
	n = sock_read_buf_fd(fd, &p->in, &passed);
	if (passed != -1) {
		if (p->passed != -1)
			close(p->passed);
		p->passed = passed;
	}
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0) {
		peer_close(p);
		return;
	}
	p->got += (size_t)n;
	while ((rc = record_peek(&p->in, &r, &total)) == 1) {
		if ((p->auth ? auth_record(p, &r) :
		    qmgr_record(p, &r, p->got - p->in.len)) == -1) {
			peer_close(p);
			return;
		}
		buf_consume(&p->in, total);
	}
	if (rc == -1)
		fz_fail("malformed record from smtpd");
}

/* What intake.c accepts, in the order it accepts it; -1: hang up. */
static int
qmgr_record(struct peer *p, const struct record *r, size_t start)
{
	const char	*f[3];

	switch (r->type) {
	case PROTO_MAIL:
		/* A channel carries transactions one after another. */
		if (p->state != P_NEW || record_fields(r, f, 3) == -1 ||
		    strlen(f[0]) > ADDR_MAX)
			fz_fail("bad MAIL record");
		p->state = P_TX;
		p->mail_ok = 0;
		p->nrcpt = 0;
		return qmgr_answer(p, r->type, start);
	case PROTO_RCPT:
		if (p->state != P_TX || !p->mail_ok ||
		    record_fields(r, f, 2) == -1 || strlen(f[0]) > ADDR_MAX)
			fz_fail("bad RCPT record");
		return qmgr_answer(p, r->type, start);
	case PROTO_DATA:
		if (p->state != P_TX || p->nrcpt == 0)
			fz_fail("content outside a transaction");
		if (r->len == 0 || r->len > QF_CHUNK)
			fz_fail("content record of %zu bytes", r->len);
		return 0;
	case PROTO_END:
		if (p->state != P_TX || p->nrcpt == 0 || r->len != 0)
			fz_fail("END outside a transaction");
		p->state = P_NEW;	/* answered either way: idle again */
		return qmgr_answer(p, r->type, start);
	case PROTO_ABORT:
		if (p->state != P_TX)
			fz_fail("ABORT outside a transaction");
		p->state = P_NEW;
		return 0;
	case PROTO_VRFY:
	case PROTO_EXPN:
		if (p->state == P_DONE || record_fields(r, f, 1) == -1)
			fz_fail("bad VRFY/EXPN record");
		return qmgr_answer(p, r->type, start);
	case PROTO_FLUSH:
		if (p->state == P_DONE || record_fields(r, f, 3) == -1 ||
		    strlen(f[0]) > 255 || strlen(f[2]) > 63 ||
		    strspn(f[0] + (f[0][0] == '#'), "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") !=
		    strlen(f[0] + (f[0][0] == '#')))
			fz_fail("bad FLUSH record");
		return qmgr_answer(p, r->type, start);
	case PROTO_ATRN:
		if (p->state != P_NEW || record_fields(r, f, 3) == -1 ||
		    strlen(f[0]) > 255 || strlen(f[1]) > 8192 ||
		    strlen(f[2]) > 63 || p->passed == -1)
			fz_fail("bad ATRN record");
		p->state = P_DONE;
		return qmgr_answer(p, r->type, start);
	}
	fz_fail("record type 0x%02x from smtpd", r->type);
}

static int
qmgr_answer(struct peer *p, int type, size_t start)
{
	unsigned	 a;
	const char	*ok, *fail;

	/* smtpd waits for each answer before it asks again. */
	if (start < p->answered_at)
		fz_fail("request 0x%02x before the answer to the last one",
		    type);
	a = (fz.script >> (2 * (fz.nanswer % 4))) & 3;
	fz.nanswer++;
	if (a == A_BAD && fz.nanswer % 2 == 0)
		return -1;
	p->answered_at = p->got;
	switch (type) {
	case PROTO_MAIL:
		ok = QUEUE_ID;
		fail = "550 5.7.1 <s@example.net>: Sender address rejected";
		break;
	case PROTO_RCPT:
		ok = "";
		fail = "550 5.1.1 <r@example.org>: Recipient address "
		    "rejected: User unknown";
		break;
	case PROTO_END:
		ok = QUEUE_ID;
		fail = "452 4.3.1 Insufficient system storage";
		break;
	case PROTO_VRFY:
	case PROTO_EXPN:
		ok = "250 2.1.5 <a@example.org>\n250 2.1.5 <b@example.org>";
		fail = "550 5.1.1 <x@example.org>: Recipient address rejected";
		break;
	case PROTO_FLUSH:
		ok = fz.nanswer % 2 ? "0" : "3";
		fail = "458 4.7.0 Unable to queue messages: too many requests";
		break;
	default:	/* PROTO_ATRN */
		ok = "1";
		fail = "450 4.7.1 Error: no mail for these domains";
		if (a < A_FAIL) {
			/* The relay agent takes the channel and greets. */
			agent_close();
			fz.agent = p->passed;
			p->passed = -1;
			if (event_add(fz.loop, fz.agent, EV_READ, agent_io,
			    NULL) == -1)
				fz_fail("event_add agent");
			(void)send(fz.agent, "220 agent ESMTP\r\n", 17,
			    MSG_NOSIGNAL);
		}
		break;
	}
	if (a < A_FAIL && type == PROTO_MAIL)
		p->mail_ok = 1;
	else if (type == PROTO_MAIL)
		p->state = P_NEW;	/* refused: no transaction opened */
	if (a < A_FAIL && type == PROTO_RCPT)
		p->nrcpt++;
	peer_send(p, a < A_FAIL ? PROTO_OK : PROTO_FAIL, a < A_FAIL ? ok :
	    a == A_FAIL ? fail : "nonsense", NULL);
	return 0;
}

/* -1: hang up. */
static int
auth_record(struct peer *p, const struct record *r)
{
	const char	*f[6];

	if (r->type != PROTO_AUTH || record_fields(r, f, 6) == -1 ||
	    f[4][0] == '\0')
		fz_fail("bad AUTH record");
	if (strcmp(f[5], "hangup") == 0)
		return -1;
	if (strcmp(f[5], "secret") == 0)
		peer_send(p, PROTO_OK, f[0], f[4]);
	else
		peer_send(p, PROTO_FAIL, f[0], strcmp(f[5], "temp") == 0 ?
		    AUTH_TEMP : strcmp(f[5], "rate") == 0 ? AUTH_RATE :
		    AUTH_BAD);
	return 0;
}

/* The customer speaks SMTP to the agent through smtpd. */
static void
agent_io(int fd, int events, void *arg)
{
	char	 b[4096];
	ssize_t	 n;

	(void)events;
	(void)arg;
	if ((n = read(fd, b, sizeof(b) - 1)) == -1 && errno == EAGAIN)
		return;
	if (n <= 0) {
		agent_close();
		return;
	}
	b[n] = '\0';
	if (strstr(b, "QUIT") != NULL) {
		(void)send(fd, "221 2.0.0 Bye\r\n", 15, MSG_NOSIGNAL);
		agent_close();
	} else
		(void)send(fd, "250 2.0.0 Ok\r\n", 14, MSG_NOSIGNAL);
}

static void
agent_close(void)
{
	if (fz.agent == -1)
		return;
	event_del(fz.loop, fz.agent);
	close(fz.agent);
	fz.agent = -1;
}

static void
peer_send(struct peer *p, int type, const char *f0, const char *f1)
{
	struct buf	 b;

	buf_init(&b, 0);
	if (record_putf(&b, type, f0, f1, NULL) == -1)
		fz_fail("record_putf");
	/* Small, and smtpd always reads: it fits, or smtpd is gone. */
	(void)send(p->fd, b.data, b.len, MSG_NOSIGNAL);
	buf_free(&b);
}
