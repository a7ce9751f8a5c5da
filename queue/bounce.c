/*
 * bounce: the non-delivery report qmgr sends back to the sender when a
 * recipient fails for good.  A plain, readable report for now (the RFC
 * 3464 multipart DSN comes with the scheduler work); it is written as a
 * new queue file from <> and committed before the failed recipients are
 * marked, so a crash can repeat a bounce but never lose one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "qmgr.h"

static ssize_t	 bounce_header_end(const char *, ssize_t, int *);
static int	 bounce_text(struct qmgr *, const char *, const char *, int,
		    const struct qf_env *, const struct bounce_item *, size_t,
		    int, struct buf *);
static void	 bounce_xtext(const char *, char *, size_t);

int
bounce_create(struct qmgr *q, const char *id, int qfd,
    const struct qf_env *env, const struct bounce_item *items, size_t n,
    int kind, char *newid)
{
	struct buf	 text, rcpt;
	char		 in[64], act[64], now[32], size[32];
	int		 fd, rc = -1;
	size_t		 off;

	buf_init(&text, 0);
	buf_init(&rcpt, 0);
	queueid_new(newid);
	if (bounce_text(q, id, newid, qfd, env, items, n, kind, &text) == -1)
		goto out;
	qf_path(in, sizeof(in), Q_INCOMING, newid);
	qf_path(act, sizeof(act), Q_ACTIVE, newid);
	if ((fd = open(in, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1) {
		log_warn("%s: create bounce %s", id, in);
		goto out;
	}
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	snprintf(size, sizeof(size), "%zu", text.len);
	buf_appendc(&rcpt, QF_PENDING);
	buf_append(&rcpt, env->sender, strlen(env->sender) + 1);
	buf_append(&rcpt, "", 1);
	if (qf_write(fd, 'V', QF_VERSION, strlen(QF_VERSION)) == -1 ||
	    qf_write(fd, 'T', now, strlen(now)) == -1 ||
	    qf_write(fd, 'S', "", 1) == -1 ||
	    qf_write(fd, 'R', rcpt.data, rcpt.len) == -1)
		goto fail;
	for (off = 0; off < text.len; off += QF_CHUNK)
		if (qf_write(fd, 'D', text.data + off,
		    text.len - off > QF_CHUNK ? QF_CHUNK : text.len - off) == -1)
			goto fail;
	if (qf_write(fd, 'E', size, strlen(size)) == -1 ||
	    commit_file(fd, in, act) == -1)
		goto fail;
	close(fd);
	log_info("%s: from=<>, size=%zu, nrcpt=1 (queue active)", newid,
	    text.len);
	sched_enqueue(q, newid);
	rc = 0;
	goto out;
fail:
	log_warn("%s: write bounce %s", id, in);
	close(fd);
	(void)unlink(in);
	(void)unlink(act);
out:
	buf_free(&text);
	buf_free(&rcpt);
	return rc;
}

static int
bounce_text(struct qmgr *q, const char *id, const char *newid, int qfd,
    const struct qf_env *env, const struct bounce_item *items, size_t n,
    int kind, struct buf *b)
{
	static const char *const subject[] = {
		"Undelivered Mail Returned to Sender",
		"Successful Mail Delivery Report",
		"Delayed Mail (still being retried)" };
	static const char *const what[] = {
		"could not be delivered to one or more recipients.",
		"was delivered to the recipients below, as you asked.",
		"has not yet been delivered to the recipients below;\n"
		"delivery will be tried again until it succeeds or expires." };
	char		 date[64], chunk[QF_CHUNK];
	time_t		 now = time(NULL);
	struct tm	 tm;
	off_t		 off = env->content_off;
	ssize_t		 got;
	size_t		 i, returned = 0;
	int		 cut = 0, hdrs_only, bol = 1;
	char		 val[600], dec[600];
	ssize_t		 end;
	size_t		 limit = (size_t)q->conf->bounce_size_limit;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	buf_printf(b,
	    "From: MAILER-DAEMON@%s (Mail Delivery System)\n"
	    "To: <%s>\n"
	    "Subject: %s\n"
	    "Date: %s\n"
	    "Message-ID: <%s@%s>\n"
	    "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n"
	    "\n"
	    "This is the mail system at host %s.\n"
	    "\n"
	    "Your message (queue ID %s)\n%s\n"
	    "\n",
	    q->conf->myhostname, env->sender, subject[kind], date, newid,
	    q->conf->myhostname, q->conf->myhostname, id, what[kind]);
	/* DSN values travel as xtext; people read them decoded. */
	if (qf_param(env->sender_params, "ENVID", val, sizeof(val))) {
		bounce_xtext(val, dec, sizeof(dec));
		buf_printf(b, "Original-Envelope-Id: %s\n\n", dec);
	}
	for (i = 0; i < n; i++) {
		buf_printf(b, "<%s>: %s %s\n", items[i].rcpt, items[i].status,
		    items[i].text);
		if (qf_param(items[i].params, "ORCPT", val, sizeof(val))) {
			bounce_xtext(val, dec, sizeof(dec));
			buf_printf(b, "    (Original-Recipient: %s)\n", dec);
		}
	}
	/* Success and delay notices carry the headers only. */
	hdrs_only = kind != BOUNCE_FAILURE ||
	    (qf_param(env->sender_params, "RET", val, sizeof(val)) &&
	    strcasecmp(val, "HDRS") == 0);
	buf_printf(b, "\n--- The %s follow%s ---\n\n",
	    hdrs_only ? "headers of the original message" :
	    "original message", hdrs_only ? "" : "s");
	while ((got = qf_read_content(qfd, &off, chunk, sizeof(chunk))) > 0) {
		if (hdrs_only && (end = bounce_header_end(chunk, got, &bol))) {
			got = end;
			buf_append(b, chunk, (size_t)got);
			break;
		}
		if ((size_t)got > limit - returned) {
			got = (ssize_t)(limit - returned);
			cut = 1;
		}
		buf_append(b, chunk, (size_t)got);
		returned += (size_t)got;
		if (cut)
			break;
	}
	if (b->len && b->data[b->len - 1] != '\n')
		buf_appendc(b, '\n');
	if (cut)
		buf_printf(b, "\n--- (rest of the message not returned: "
		    "bounce_size_limit is %zu bytes) ---\n", limit);
	return 0;
}

/*
 * Where the header section ends in this chunk (after the empty line), or
 * 0 if it goes on; *bol carries "at the start of a line" across chunks.
 */
static ssize_t
bounce_header_end(const char *p, ssize_t n, int *bol)
{
	ssize_t	 i;

	for (i = 0; i < n; i++) {
		if (*bol && p[i] == '\n')
			return i + 1;
		/* A CR at the start of a line keeps it there (CRLF text). */
		if (*bol && p[i] == '\r')
			continue;
		*bol = p[i] == '\n';
	}
	return 0;
}

/* "+2B" and friends back to octets (RFC 3461 4). */
static void
bounce_xtext(const char *in, char *out, size_t outlen)
{
	size_t		 o = 0;
	unsigned int	 c;

	for (; *in && o + 1 < outlen; in++) {
		if (in[0] == '+' && in[1] && in[2] &&
		    sscanf(in + 1, "%2X", &c) == 1) {
			out[o++] = c >= 0x20 && c != 0x7f ? (char)c : '?';
			in += 2;
		} else
			out[o++] = *in;
	}
	out[o] = '\0';
}
