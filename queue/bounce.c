/*
 * bounce: the delivery status notifications qmgr sends: failure (a
 * bounce), success and delay (RFC 3461 NOTIFY), and the double bounce to
 * postmaster when a bounce itself cannot be delivered.  Each is an RFC
 * 3464 multipart/report: a part for people, a message/delivery-status
 * part for programs, and the original message (or its headers, for RET=HDRS
 * and for success and delay notices).  It is written as a new queue file
 * from <> and committed before the recipients are marked, so a crash can
 * repeat a notice but never lose one.
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

static int	 bounce_text(struct qmgr *, const char *, const char *, int,
		    const struct qf_env *, const struct bounce_item *, size_t,
		    int, struct buf *);
static void	 bounce_status(struct buf *, const struct bounce_item *,
		    const char *, const char *, const char *);

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
	if (kind == BOUNCE_DOUBLE)
		buf_append(&rcpt, "postmaster", strlen("postmaster") + 1);
	else
		buf_append(&rcpt, env->sender, strlen(env->sender) + 1);
	buf_append(&rcpt, "", 1);
	if (qf_write(fd, 'V', QF_VERSION, strlen(QF_VERSION)) == -1 ||
	    qf_write(fd, 'T', now, strlen(now)) == -1 ||
	    qf_write(fd, 'S', kind == BOUNCE_DOUBLE ? "\0BODY=8BITMIME "
	    BOUNCE_DOUBLE_PARAM : "\0BODY=8BITMIME", kind == BOUNCE_DOUBLE ?
	    strlen(BOUNCE_DOUBLE_PARAM) + 16 : 15) == -1 ||
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
		"Delayed Mail (still being retried)",
		"Undelivered Mail Returned to Sender (double bounce)" };
	static const char *const what[] = {
		"could not be delivered to one or more recipients.",
		"was delivered to the recipients below, as you asked.",
		"has not yet been delivered to the recipients below;\n"
		"delivery will be tried again until it succeeds or expires.",
		"is a delivery report that could not be delivered to its\n"
		"recipient (the sender of the original message)." };
	static const char *const action[] = {
		"failed", "delivered", "delayed", "failed" };
	char		 date[64], arrival[64], until[64], chunk[QF_CHUNK];
	char		 boundary[128], val[600], dec[600];
	time_t		 now = time(NULL), t;
	struct tm	 tm;
	off_t		 off = env->content_off;
	ssize_t		 got, end;
	size_t		 i, returned = 0;
	int		 cut = 0, hdrs_only, bol = 1;
	size_t		 limit = (size_t)q->conf->bounce_size_limit;
	const char	*host = q->conf->myhostname, *to;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	t = env->arrival;
	localtime_r(&t, &tm);
	strftime(arrival, sizeof(arrival), "%a, %d %b %Y %H:%M:%S %z", &tm);
	t = env->arrival + q->conf->maximal_queue_lifetime;
	localtime_r(&t, &tm);
	strftime(until, sizeof(until), "%a, %d %b %Y %H:%M:%S %z", &tm);
	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", newid,
	    (long long)now, host);
	to = kind == BOUNCE_DOUBLE ? "postmaster" : env->sender;
	/* Success and delay notices carry the headers only (RFC 3461 6.2). */
	/*
	 * A REQUIRETLS message's notice may travel without TLS: it does not
	 * carry the body (RFC 8689 5 asks no less).
	 */
	hdrs_only = kind == BOUNCE_SUCCESS || kind == BOUNCE_DELAY ||
	    (qf_param(env->sender_params, "RET", val, sizeof(val)) &&
	    strcasecmp(val, "HDRS") == 0) ||
	    qf_param(env->sender_params, "REQUIRETLS", NULL, 0);

	buf_printf(b,
	    "From: MAILER-DAEMON@%s (Mail Delivery System)\n"
	    "To: <%s>\n"
	    "Subject: %s\n"
	    "Date: %s\n"
	    "Message-ID: <%s@%s>\n"
	    "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%s\"\n"
	    "\n"
	    "This is a MIME-encapsulated message.\n"
	    "\n"
	    "--%s\n"
	    "Content-Description: Notification\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n"
	    "\n"
	    "This is the mail system at host %s.\n"
	    "\n"
	    "Your message (queue ID %s)\n%s\n"
	    "\n",
	    host, to, subject[kind], date, newid, host, boundary, boundary,
	    host, id, what[kind]);
	/* DSN values travel as xtext; people read them decoded. */
	if (qf_param(env->sender_params, "ENVID", val, sizeof(val))) {
		dsn_xtext_decode(val, dec, sizeof(dec));
		buf_printf(b, "Original-Envelope-Id: %s\n\n", dec);
	}
	for (i = 0; i < n; i++) {
		buf_printf(b, "<%s>: %s %s\n", items[i].rcpt, items[i].status,
		    items[i].text);
		if (qf_param(items[i].params, "ORCPT", val, sizeof(val))) {
			dsn_xtext_decode(val, dec, sizeof(dec));
			buf_printf(b, "    (Original-Recipient: %s)\n", dec);
		}
	}

	/* RFC 3464 2.2: per-message fields, then a block per recipient. */
	buf_printf(b, "\n--%s\n"
	    "Content-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n"
	    "\n"
	    "Reporting-MTA: dns; %s\n"
	    "X-Posthorn-Queue-ID: %s\n", boundary, host, id);
	if (qf_param(env->sender_params, "ENVID", val, sizeof(val))) {
		dsn_xtext_decode(val, dec, sizeof(dec));
		buf_printf(b, "Original-Envelope-Id: %s\n", dec);
	}
	buf_printf(b, "X-Posthorn-Sender: rfc822; %s\n"
	    "Arrival-Date: %s\n", env->sender, arrival);
	for (i = 0; i < n; i++)
		bounce_status(b, &items[i], items[i].action ? items[i].action :
		    action[kind], date,
		    kind == BOUNCE_DELAY ? until : NULL);

	buf_printf(b, "\n--%s\n"
	    "Content-Description: %s\n"
	    "Content-Type: %s\n"
	    "Content-Transfer-Encoding: 8bit\n"
	    "\n", boundary,
	    hdrs_only ? "Message Headers" : kind == BOUNCE_FAILURE ||
	    kind == BOUNCE_DOUBLE ? "Undelivered Message" : "Message",
	    hdrs_only ? "text/rfc822-headers" : "message/rfc822");
	while ((got = qf_read_content(qfd, &off, chunk, sizeof(chunk))) > 0) {
		if (hdrs_only && (end = dsn_header_end(chunk, got, &bol))) {
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
		buf_printf(b, "\n[rest of the message not returned: "
		    "bounce_size_limit is %zu bytes]\n", limit);
	buf_printf(b, "\n--%s--\n", boundary);
	return 0;
}

/*
 * One recipient's block: Final-Recipient, Original-Recipient (ORCPT),
 * Action, Status, and where a remote server spoke, Remote-MTA and its
 * reply as Diagnostic-Code.
 */
static void
bounce_status(struct buf *b, const struct bounce_item *it, const char *act,
    const char *date, const char *until)
{
	char		 val[600], dec[600];
	const char	*said, *end, *host;
	size_t		 hl;

	buf_printf(b, "\nFinal-Recipient: rfc822; %s\n", it->rcpt);
	if (qf_param(it->params, "ORCPT", val, sizeof(val))) {
		dsn_xtext_decode(val, dec, sizeof(dec));
		/* "rfc822;addr" -> "rfc822; addr" */
		buf_printf(b, "Original-Recipient: %.*s; %s\n",
		    (int)strcspn(dec, ";"), dec, dec[strcspn(dec, ";")] ?
		    dec + strcspn(dec, ";") + 1 + strspn(dec + strcspn(dec,
		    ";") + 1, " ") : "");
	}
	buf_printf(b, "Action: %s\nStatus: %s\n", act, it->status);
	host = it->relay ? it->relay : "none";
	if (strcmp(host, "local") != 0 && strcmp(host, "none") != 0 &&
	    host[0] != '/') {
		hl = strcspn(host, "[");
		buf_printf(b, "Remote-MTA: dns; %.*s\n", (int)hl, host);
	}
	/* "host X said: 550 5.1.1 ... (in reply to RCPT TO command)" */
	if ((said = strstr(it->text, " said: ")) != NULL) {
		said += 7;
		end = strstr(said, " (in reply to ");
		buf_printf(b, "Diagnostic-Code: smtp; %.*s\n",
		    (int)(end ? (size_t)(end - said) : strlen(said)), said);
	} else
		buf_printf(b, "Diagnostic-Code: X-Posthorn; %s\n", it->text);
	buf_printf(b, "Last-Attempt-Date: %s\n", date);
	if (until)
		buf_printf(b, "Will-Retry-Until: %s\n", until);
}
