/*
 * intake: the smtpd side of qmgr.  Each connection carries one mail
 * transaction at a time: MAIL creates a file in incoming/, RCPT and DATA
 * records are appended as they arrive, END hands the file to the group
 * commit, and only the commit's OK lets smtpd answer 250.
 */
#include <sys/socket.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "log.h"
#include "proto.h"
#include "qmgr.h"
#include "record.h"
#include "sock.h"

struct intake {
	struct qmgr	*q;
	int		 fd;
	struct buf	 in, out;
	int		 qfd;
	char		 id[QUEUEID_LEN + 1];
	char		 path[64];
	char		*sender;
	size_t		 nrcpt;
	long long	 size;
	int		 werr;
	int		 committing;
	int		 recycled;	/* written over a file from free/ */
	int		 passed;	/* a descriptor smtpd sent (ATRN) */
	int		 local;		/* pickup: a local submission */
	struct buf	 changes;	/* a filter's CHANGE records */
	struct buf	 newbody;	/* and its new body, if has_body */
	int		 has_body;
	int		 hold;		/* quarantined by a filter */
	char		**rcpts;	/* queued so far: no duplicates */
	size_t		 nrcpts;
	struct intake	*next;
	struct intake	*commit_next;
};

static void	 intake_io(int, int, void *);
static int	 intake_record(struct intake *, const struct record *);
static int	 intake_mail(struct intake *, const struct record *);
static int	 intake_rcpt(struct intake *, const struct record *);
static void	 intake_end(struct intake *);
static int	 intake_query(struct intake *, const struct record *);
static int	 intake_flush_queue(struct intake *, const struct record *);
static int	 intake_atrn(struct intake *, const struct record *);
static int	 intake_is_pickup(struct intake *, const char *);
static int	 intake_space(struct qmgr *, const char *);
static int	 intake_queue_rcpt(struct intake *, const char *, const char *);
static void	 intake_forget_rcpts(struct intake *);
static void	 intake_discard(struct intake *);
static void	 intake_close(struct intake *);
static int	 intake_flush(struct intake *);
static void	 intake_fail(struct intake *, const char *);
static int	 intake_change(struct intake *, const struct record *);

void
intake_accept(int lfd, int events, void *arg)
{
	struct qmgr	*q = arg;
	struct intake	*it;
	int		 fd;

	(void)events;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		log_warn("intake: out of memory");
		close(fd);
		return;
	}
	it->q = q;
	it->fd = fd;
	it->qfd = -1;
	it->passed = -1;
	buf_init(&it->in, RECORD_MAX + RECORD_HDR);
	buf_init(&it->out, 0);
	/* Bounded by what smtpd may send: its content limit, twice. */
	buf_init(&it->changes, RECORD_MAX);
	buf_init(&it->newbody, 0);
	if (event_add(q->loop, fd, EV_READ, intake_io, it) == -1) {
		log_warn("intake: event_add");
		close(fd);
		free(it);
		return;
	}
	it->next = q->intakes;
	q->intakes = it;
}

/* Called by the group commit when the file is safe (or not). */
void
intake_committed(struct intake *it, int ok)
{
	it->committing = 0;
	close(it->qfd);
	it->qfd = -1;
	if (ok) {
		log_info("%s: from=<%s>, size=%lld, nrcpt=%zu (queue %s)",
		    it->id, it->sender, it->size, it->nrcpt,
		    it->hold ? "hold" : "active");
		record_put(&it->out, PROTO_OK, it->id, strlen(it->id) + 1);
		if (!it->hold)
			sched_enqueue_fresh(it->q, it->id);
	} else {
		(void)unlink(it->path);
		record_putf(&it->out, PROTO_FAIL,
		    "451 4.3.0 Error: queue file write error", NULL);
	}
	free(it->sender);
	it->sender = NULL;
	intake_forget_rcpts(it);
	buf_reset(&it->changes);
	buf_reset(&it->newbody);
	it->has_body = 0;
	it->hold = 0;
	if (it->fd == -1) {
		intake_close(it);	/* smtpd left while we committed */
		return;
	}
	(void)intake_flush(it);
}

struct intake *
intake_commit_next(struct intake *it)
{
	return it->commit_next;
}

void
intake_set_commit_next(struct intake *it, struct intake *next)
{
	it->commit_next = next;
}

int
intake_hold(struct intake *it)
{
	return it->hold;
}

int
intake_qfd(struct intake *it)
{
	return it->qfd;
}

const char *
intake_id(struct intake *it)
{
	return it->id;
}

void
intake_stop(struct qmgr *q)
{
	struct intake	*it, *next;

	for (it = q->intakes; it; it = next) {
		next = it->next;
		if (it->qfd == -1 && !it->committing)
			intake_close(it);
	}
}

int
intake_busy(struct qmgr *q)
{
	return q->intakes != NULL;
}

static void
intake_io(int fd, int events, void *arg)
{
	struct intake	*it = arg;
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 rc, passed;

	if ((events & EV_WRITE) && intake_flush(it) == -1)
		return;
	if (!(events & EV_READ))
		return;
	if ((n = sock_read_buf_fd(fd, &it->in, &passed)) > 0 && passed != -1) {
		if (it->passed != -1)
			close(it->passed);
		it->passed = passed;
	}
	if (n <= 0) {
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1)
			log_warn("intake: read from smtpd");
		intake_close(it);
		return;
	}
	while ((rc = record_peek(&it->in, &r, &total)) == 1) {
		if (intake_record(it, &r) == -1) {
			intake_close(it);
			return;
		}
		buf_consume(&it->in, total);
	}
	if (rc == -1) {
		log_warnx("intake: malformed record from smtpd");
		intake_close(it);
		return;
	}
	(void)intake_flush(it);
}

static int
intake_record(struct intake *it, const struct record *r)
{
	char	 size[32];

	if (it->committing) {
		log_warnx("intake: record while committing");
		return -1;
	}
	switch (r->type) {
	case PROTO_MAIL:
		return intake_mail(it, r);
	case PROTO_RCPT:
		return intake_rcpt(it, r);
	case PROTO_DATA:
		if (it->qfd == -1 || it->nrcpt == 0) {
			log_warnx("intake: data outside a transaction");
			return -1;
		}
		if (r->len > QF_CHUNK) {
			log_warnx("%s: content record over %d bytes from smtpd",
			    it->id, QF_CHUNK);
			return -1;
		}
		if (it->werr == 0 && r->len > 0 &&
		    qf_write(it->qfd, 'D', r->data, r->len) == -1)
			it->werr = errno ? errno : EIO;
		it->size += (long long)r->len;
		return 0;
	case PROTO_END:
		if (it->qfd == -1 || it->nrcpt == 0) {
			log_warnx("intake: end outside a transaction");
			return -1;
		}
		snprintf(size, sizeof(size), "%lld", it->size);
		if (it->werr == 0 &&
		    qf_write(it->qfd, 'E', size, strlen(size)) == -1)
			it->werr = errno ? errno : EIO;
		/* An old message's bytes may follow: cut them off. */
		if (it->werr == 0 && it->recycled &&
		    recycle_trim(it->qfd) == -1)
			it->werr = errno ? errno : EIO;
		intake_end(it);
		return 0;
	case PROTO_ABORT:
		intake_discard(it);
		return 0;
	case PROTO_CHANGE:
	case PROTO_NEWBODY:
		return intake_change(it, r);
	case PROTO_VRFY:
	case PROTO_EXPN:
		return intake_query(it, r);
	case PROTO_FLUSH:
		return intake_flush_queue(it, r);
	case PROTO_ATRN:
		return intake_atrn(it, r);
	default:
		log_warnx("intake: unknown record type 0x%02x", r->type);
		return -1;
	}
}

static int
intake_mail(struct intake *it, const struct record *r)
{
	const char	*f[3];
	char		 now[32];
	struct buf	 srec;

	if (it->qfd != -1 || record_fields(r, f, 3) == -1) {
		log_warnx("intake: bad MAIL record");
		return -1;
	}
	if (it->q->stopping) {
		intake_fail(it, "421 4.3.2 Error: queue manager shutting down");
		return 0;
	}
	if (!intake_space(it->q, f[2])) {
		intake_fail(it, "452 4.3.1 Insufficient system storage");
		return 0;
	}
	it->local = intake_is_pickup(it, f[1]);
	if (!it->local) {
		char		 addr[64], login[256];
		const char	*a = strstr(f[1], " addr=");
		const char	*l = strstr(f[1], " auth=");
		struct buf	 reply;

		snprintf(addr, sizeof(addr), "%.*s", a ? (int)strcspn(a + 6,
		    " ") : 0, a ? a + 6 : "");
		snprintf(login, sizeof(login), "%.*s", l ? (int)strcspn(l + 6,
		    " ") : 0, l ? l + 6 : "");
		buf_init(&reply, 1024);
		if (policy_mail(it->q, addr, f[0], &reply) == -1 ||
		    policy_sender_login(it->q, login, f[0], &reply) == -1) {
			intake_fail(it, buf_cstr(&reply));
			buf_free(&reply);
			return 0;
		}
		buf_free(&reply);
	}
	buf_init(&srec, 0);
	if (buf_append(&srec, f[0], strlen(f[0]) + 1) == -1 ||
	    buf_append(&srec, f[2], strlen(f[2]) + 1) == -1)
		log_fatal("intake: out of memory");
	queueid_new(it->id);
	if (qf_path(it->path, sizeof(it->path), Q_INCOMING, it->id) == -1)
		log_panic("queue path");
	it->recycled = (it->qfd = recycle_take(it->path)) != -1;
	if (!it->recycled)
		it->qfd = open(it->path, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (it->qfd == -1 ||
	    qf_write(it->qfd, 'V', QF_VERSION, strlen(QF_VERSION)) == -1 ||
	    qf_write(it->qfd, 'T', now, strlen(now)) == -1 ||
	    qf_write(it->qfd, 'S', srec.data, srec.len) == -1 ||
	    qf_write(it->qfd, 'I', f[1], strlen(f[1]) + 1) == -1) {
		int e = errno;

		log_warn("%s: cannot create queue file %s", it->id, it->path);
		if (it->qfd != -1) {
			close(it->qfd);
			(void)unlink(it->path);
			it->qfd = -1;
		}
		intake_fail(it, e == ENOSPC || e == EDQUOT ?
		    "452 4.3.1 Insufficient system storage" :
		    "451 4.3.0 Error: queue file write error");
		buf_free(&srec);
		return 0;
	}
	buf_free(&srec);
	if ((it->sender = strdup(f[0])) == NULL)
		log_fatal("strdup");
	it->nrcpt = 0;
	it->size = 0;
	it->werr = 0;
	record_put(&it->out, PROTO_OK, it->id, strlen(it->id) + 1);
	return 0;
}

/*
 * RCPT: access check, virtual alias rewriting, then each resulting
 * address validated; the valid ones are queued (remembering the address
 * the client gave as ORCPT), and only if none is valid is RCPT refused.
 */
static int
intake_rcpt(struct intake *it, const struct record *r)
{
	const char	*f[2];
	struct buf	 reply, first, params;
	struct rewrite_list rl;
	size_t		 i, queued = 0;

	if (it->qfd == -1 || record_fields(r, f, 2) == -1) {
		log_warnx("intake: bad RCPT record");
		return -1;
	}
	buf_init(&reply, 1024);
	buf_init(&first, 1024);
	/*
	 * A local submission is the user's, checked at delivery: an unknown
	 * user bounces to the sender as from any program (Postfix does so).
	 */
	if ((!it->local && policy_rcpt(it->q, f[0], &reply) == -1) ||
	    rewrite_recipient(it->q, f[0], &rl, &reply) == -1) {
		if (reply.len == 0)
			buf_appends(&reply, "451 4.3.0 Error: internal error");
		goto refuse;
	}
	buf_init(&params, 0);
	buf_appends(&params, f[1]);
	if ((rl.n != 1 || strcasecmp(rl.addr[0], f[0]) != 0) &&
	    !qf_param(f[1], "ORCPT", NULL, 0))
		intake_orcpt(&params, f[0]);
	for (i = 0; i < rl.n; i++) {
		buf_reset(&reply);
		if (!it->local && recipient_check(it->q, rl.addr[i], &reply) ==
		    -1) {
			if (first.len == 0)
				buf_appends(&first, buf_cstr(&reply));
			/* smtpd logs the refusal; this names the address. */
			if (rl.n > 1 || strcmp(rl.addr[i], f[0]) != 0)
				log_info("%s: <%s> expands to <%s>, refused: %s",
				    it->id, f[0], rl.addr[i], buf_cstr(&reply));
			continue;
		}
		if (intake_queue_rcpt(it, rl.addr[i], buf_cstr(&params)) == -1)
			break;
		queued++;
	}
	rewrite_free(&rl);
	buf_free(&params);
	if (it->werr) {
		buf_free(&reply);
		buf_free(&first);
		intake_fail(it, it->werr == ENOSPC || it->werr == EDQUOT ?
		    "452 4.3.1 Insufficient system storage" :
		    "451 4.3.0 Error: queue file write error");
		return 0;
	}
	if (queued == 0) {
		buf_reset(&reply);
		buf_appends(&reply, buf_cstr(&first));
		goto refuse;
	}
	buf_free(&reply);
	buf_free(&first);
	it->nrcpt += queued;
	record_put(&it->out, PROTO_OK, "", 1);
	return 0;
refuse:
	intake_fail(it, buf_cstr(&reply));
	buf_free(&reply);
	buf_free(&first);
	return 0;
}

static int
intake_queue_rcpt(struct intake *it, const char *addr, const char *params)
{
	struct buf	 rec;
	char		**n;
	size_t		 i;

	/* The same address twice in one message gets one copy. */
	for (i = 0; i < it->nrcpts; i++)
		if (strcasecmp(it->rcpts[i], addr) == 0)
			return 0;
	if ((n = reallocarray(it->rcpts, it->nrcpts + 1, sizeof(*n))) == NULL ||
	    (n[it->nrcpts] = strdup(addr)) == NULL)
		log_fatal("intake: out of memory");
	it->rcpts = n;
	it->nrcpts++;

	buf_init(&rec, 0);
	if (buf_appendc(&rec, QF_PENDING) == -1 ||
	    buf_append(&rec, addr, strlen(addr) + 1) == -1 ||
	    buf_append(&rec, params, strlen(params) + 1) == -1)
		log_fatal("intake: out of memory");
	if (it->werr == 0 && qf_write(it->qfd, 'R', rec.data, rec.len) == -1)
		it->werr = errno ? errno : EIO;
	buf_free(&rec);
	return it->werr ? -1 : 0;
}

/* ORCPT=rfc822;ADDR in xtext (RFC 3461 4), for rewritten recipients. */
void
intake_orcpt(struct buf *params, const char *addr)
{
	const unsigned char *p;

	buf_printf(params, "%sORCPT=rfc822;", params->len ? " " : "");
	for (p = (const unsigned char *)addr; *p; p++) {
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
			buf_printf(params, "+%02X", *p);
		else
			buf_appendc(params, (char)*p);
	}
}

/*
 * Room for one more message?  Free space must stay above queue_minfree
 * (default: 1.5 times message_size_limit, as Postfix) plus the size the
 * client announced; otherwise 452 now is better than a full disk later.
 */
static int
intake_space(struct qmgr *q, const char *params)
{
	struct statvfs	 sv;
	char		 size[32];
	unsigned long long avail, need;

	if (statvfs(".", &sv) == -1) {
		log_warn("statvfs %s", q->conf->queue_directory);
		return 1;
	}
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	need = q->conf->queue_minfree ? (unsigned long long)q->conf->queue_minfree
	    : (unsigned long long)q->conf->message_size_limit * 3 / 2;
	if (qf_param(params, "SIZE", size, sizeof(size))) {
		/* Saturating: the record is smtpd's word, not a proof. */
		unsigned long long announced = strtoull(size, NULL, 10);

		need = announced > ULLONG_MAX - need ? ULLONG_MAX :
		    need + announced;
	}
	if (avail >= need)
		return 1;
	log_warnx("not enough space for a new message: %llu bytes free in "
	    "the queue file system, %llu wanted", avail, need);
	return 0;
}

static int
intake_query(struct intake *it, const struct record *r)
{
	const char	*f[1];
	struct buf	 reply;

	if (record_fields(r, f, 1) == -1) {
		log_warnx("intake: bad VRFY/EXPN record");
		return -1;
	}
	buf_init(&reply, 65536);
	if (r->type == PROTO_VRFY)
		recipient_vrfy(it->q, f[0], &reply);
	else
		recipient_expn(it->q, f[0], &reply);
	if (reply.len == 0)
		buf_appends(&reply, "451 4.3.0 Error: reply too long");
	record_put(&it->out, PROTO_OK, reply.data, reply.len + 1);
	buf_free(&reply);
	return 0;
}

/* domain ("" = all), "1" = with its subdomains: deferred mail now. */
static int
intake_flush_queue(struct intake *it, const struct record *r)
{
	const char	*f[3], *dom;
	char		 n[32], who[96];
	struct ucred	 cr;
	socklen_t	 len = sizeof(cr);
	long		 started;

	if (record_fields(r, f, 3) == -1 || strlen(f[0]) > 255 ||
	    strlen(f[2]) > 63 || strspn(f[0] + (f[0][0] == '#'),
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-_:") != strlen(f[0] + (f[0][0] == '#'))) {
		log_warnx("intake: bad FLUSH record");
		return -1;
	}
	dom = f[0];
	if (getsockopt(it->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		cr.uid = (uid_t)-1;
	if (f[2][0])
		snprintf(who, sizeof(who), "ETRN from [%s]", f[2]);
	else
		snprintf(who, sizeof(who), "uid %ld", (long)cr.uid);
	if (f[2][0] && flush_rate_check(it->q, f[2]) == -1) {
		log_info("flush of %s refused (%s): smtpd_etrn_rate_limit "
		    "reached", dom, who);
		record_putf(&it->out, PROTO_FAIL, "458 4.7.0 Unable to queue "
		    "messages: too many requests from this client, try again "
		    "later", NULL);
		return 0;
	}
	started = flush_queue(it->q, dom[0] ? dom : NULL,
	    strcmp(f[1], "1") == 0);
	log_info("flush of %s%s%s requested (%s): %ld message%s started",
	    dom[0] == '#' ? "queue " : "", dom[0] ? dom :
	    "the whole deferred queue",
	    dom[0] && dom[0] != '#' && strcmp(f[1], "1") == 0 ?
	    " and its subdomains" : "", who, started,
	    started == 1 ? "" : "s");
	snprintf(n, sizeof(n), "%ld", started);
	record_put(&it->out, PROTO_OK, n, strlen(n) + 1);
	return 0;
}

/*
 * pickup says "proto=local"; believed only from the queue's own user,
 * which pickup runs as and smtpd never does.
 */
static int
intake_is_pickup(struct intake *it, const char *client)
{
	struct ucred	 cr;
	socklen_t	 len = sizeof(cr);
	const char	*p = strstr(client, " proto=");

	return p != NULL && strncmp(p + 7, "local", 5) == 0 &&
	    (p[12] == ' ' || p[12] == '\0') &&
	    getsockopt(it->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	    cr.uid == geteuid();
}

/* ATRN (RFC 2645): the customer's reversed connection came with it. */
static int
intake_atrn(struct intake *it, const struct record *r)
{
	const char	*f[3];
	struct buf	 reply;
	char		 n[32];
	long		 started;

	if (record_fields(r, f, 3) == -1 || strlen(f[0]) > 255 ||
	    strlen(f[1]) > 8192 || strlen(f[2]) > 63 || it->passed == -1) {
		log_warnx("intake: bad ATRN record");
		return -1;
	}
	buf_init(&reply, 1024);
	if ((started = odmr_request(it->q, f[0], f[1], f[2], it->passed,
	    &reply)) == -1) {
		log_info("ATRN refused for %s from [%s] (%s): %s", f[0], f[2],
		    f[1][0] ? f[1] : "all domains", buf_cstr(&reply));
		close(it->passed);
		record_putf(&it->out, PROTO_FAIL, buf_cstr(&reply), NULL);
	} else {
		snprintf(n, sizeof(n), "%ld", started);
		record_put(&it->out, PROTO_OK, n, strlen(n) + 1);
	}
	it->passed = -1;
	buf_free(&reply);
	return 0;
}

/* A filter's change, kept for END (change.c applies them). */
static int
intake_change(struct intake *it, const struct record *r)
{
	const char	*f[4];

	if (it->qfd == -1 || it->nrcpt == 0) {
		log_warnx("intake: change outside a transaction");
		return -1;
	}
	if (r->type == PROTO_NEWBODY) {
		if (r->len > QF_CHUNK || it->newbody.len + r->len >
		    (size_t)it->q->conf->message_size_limit) {
			log_warnx("%s: a filter's new body over the size limit",
			    it->id);
			return -1;
		}
		it->has_body = 1;
		return buf_append(&it->newbody, r->data, r->len);
	}
	if (record_fields(r, f, 4) == -1) {
		log_warnx("%s: bad CHANGE record from smtpd", it->id);
		return -1;
	}
	if (strcmp(f[0], "hold") == 0) {
		it->hold = 1;
		log_info("%s: quarantined by a filter: %s", it->id, f[2]);
		return 0;
	}
	if (record_put(&it->changes, PROTO_CHANGE, r->data, r->len) == -1) {
		log_warnx("%s: too many changes from filters", it->id);
		return -1;
	}
	return 0;
}

static void
intake_end(struct intake *it)
{
	char	 why[512];

	why[0] = '\0';
	if (it->werr == 0 && (it->changes.len > 0 || it->has_body) &&
	    change_apply(it->id, it->path, &it->qfd, &it->sender,
	    &it->changes, &it->newbody, it->has_body, why, sizeof(why)) ==
	    -1) {
		log_warnx("%s: %s", it->id, why);
		intake_discard(it);
		intake_fail(it, "451 4.3.0 Error: a filter's changes could not "
		    "be made");
		return;
	}
	if (it->werr) {
		errno = it->werr;
		log_warn("%s: queue file write error", it->id);
		intake_discard(it);
		intake_fail(it, it->werr == ENOSPC || it->werr == EDQUOT ?
		    "452 4.3.1 Insufficient system storage" :
		    "451 4.3.0 Error: queue file write error");
		return;
	}
	it->committing = 1;
	commit_schedule(it->q, it);
}

static void
intake_forget_rcpts(struct intake *it)
{
	size_t	 i;

	for (i = 0; i < it->nrcpts; i++)
		free(it->rcpts[i]);
	free(it->rcpts);
	it->rcpts = NULL;
	it->nrcpts = 0;
}

static void
intake_discard(struct intake *it)
{
	intake_forget_rcpts(it);
	buf_reset(&it->changes);
	buf_reset(&it->newbody);
	it->has_body = 0;
	it->hold = 0;
	if (it->qfd == -1)
		return;
	close(it->qfd);
	it->qfd = -1;
	if (unlink(it->path) == -1)
		log_warn("%s: unlink %s", it->id, it->path);
	free(it->sender);
	it->sender = NULL;
}

static void
intake_fail(struct intake *it, const char *reply)
{
	record_put(&it->out, PROTO_FAIL, reply, strlen(reply) + 1);
}

/* Write what we can; -1 if the intake was closed (and freed). */
static int
intake_flush(struct intake *it)
{
	switch (sock_write_buf(it->fd, &it->out)) {
	case 1:
		event_mod(it->q->loop, it->fd, EV_READ | EV_WRITE);
		return 0;
	case -1:
		intake_close(it);
		return -1;
	}
	event_mod(it->q->loop, it->fd, EV_READ);
	if (it->q->stopping && it->qfd == -1 && !it->committing) {
		intake_close(it);
		return -1;
	}
	return 0;
}

static void
intake_close(struct intake *it)
{
	struct intake	**pp;
	struct qmgr	*q = it->q;

	if (it->committing && it->fd != -1) {
		/*
		 * The commit will finish the file for the queue anyway; smtpd
		 * went away before hearing 250, so it answered the client 4xx
		 * or nothing: a duplicate at worst, never a loss.
		 */
		event_del(q->loop, it->fd);
		close(it->fd);
		it->fd = -1;
		return;
	}
	intake_discard(it);
	if (it->passed != -1)
		close(it->passed);
	for (pp = &q->intakes; *pp; pp = &(*pp)->next)
		if (*pp == it) {
			*pp = it->next;
			break;
		}
	event_del(q->loop, it->fd);
	close(it->fd);
	buf_free(&it->in);
	buf_free(&it->out);
	buf_free(&it->changes);
	buf_free(&it->newbody);
	free(it);
	qmgr_maybe_exit(q);
}
