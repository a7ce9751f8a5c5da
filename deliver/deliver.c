/*
 * deliver: carry out a recipient's destinations.  Each one runs in a
 * child that has become the destination's owner (as root), so that a
 * mailbox, a file or a command is only ever touched with its user's
 * rights; the child (worker.c, kept for more of its owner's mail) replies
 * "code status text".
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "local.h"
#include "log.h"
#include "sock.h"


static void	 deliver_merge(struct local_result *, const struct local_result *);

void
local_deliver_rcpt(const struct conf *conf, struct local_maps *maps,
    const struct local_msg *msg, const char *rcpt, struct local_result *res,
    struct dest_list *fwd)
{
	struct dest_list dl;
	struct local_result one, plan;
	struct dest	*f;
	size_t		 i;

	memset(&dl, 0, sizeof(dl));
	resolve_rcpt(conf, maps, msg, rcpt, &dl, &plan);
	if (plan.code == 'T' || dl.n == 0) {
		*res = plan;
		free(dl.d);
		return;
	}
	memset(res, 0, sizeof(*res));
	for (i = 0; i < dl.n; i++) {
		if (dl.d[i].kind == DEST_FORWARD) {
			/* Not delivered here: handed back to qmgr. */
			if ((f = reallocarray(fwd->d, fwd->n + 1,
			    sizeof(*f))) == NULL) {
				one.code = 'T';
				strlcpy(one.status, "4.3.0", sizeof(one.status));
				strlcpy(one.text, "out of memory",
				    sizeof(one.text));
				deliver_merge(res, &one);
				continue;
			}
			fwd->d = f;
			fwd->d[fwd->n++] = dl.d[i];
			one.code = 'D';
			strlcpy(one.status, "2.0.0", sizeof(one.status));
			snprintf(one.text, sizeof(one.text), "forwarded to %.300s",
			    dl.d[i].target);
			log_info("%s: to=<%s>, forwarded-to=<%s>", msg->id,
			    rcpt, dl.d[i].target);
			deliver_merge(res, &one);
			continue;
		}
		deliver_dest(conf, msg, &dl.d[i], &one);
		log_info("%s: to=<%s>, delivered-to=<%s>, %s=%s, status=%s "
		    "(%s)", msg->id, rcpt, dl.d[i].delivered_to,
		    dl.d[i].kind == DEST_PIPE ? "command" :
		    dl.d[i].kind == DEST_MAILDIR ? "maildir" :
		    dl.d[i].kind == DEST_FILE ? "file" : "mbox",
		    dl.d[i].target, one.code == 'D' ? "sent" :
		    one.code == 'T' ? "deferred" : "bounced", one.text);
		deliver_merge(res, &one);
	}
	/* Part of the expansion failed for good: tell the sender. */
	if (plan.code == 'P' && res->code != 'T')
		*res = plan;
	free(dl.d);
}

/* The worst outcome wins: T over P over D. */
static void
deliver_merge(struct local_result *res, const struct local_result *one)
{
	if (res->code == 0 || (one->code == 'T' && res->code != 'T') ||
	    (one->code == 'P' && res->code == 'D'))
		*res = *one;
}

void
deliver_dest(const struct conf *conf, const struct local_msg *msg,
    const struct dest *d, struct local_result *res)
{
	char	 buf[sizeof(res->text) + 32], err[256], *sp, *tp;

	memset(res, 0, sizeof(*res));
	if (worker_deliver(conf, msg, d, buf, sizeof(buf), err,
	    sizeof(err)) == -1) {
		res->code = 'T';
		strlcpy(res->status, "4.3.0", sizeof(res->status));
		strlcpy(res->text, err, sizeof(res->text));
		return;
	}
	/* "C status text" */
	if (strlen(buf) < 4 || (buf[0] != 'D' && buf[0] != 'T' &&
	    buf[0] != 'P') || buf[1] != ' ' ||
	    (sp = strchr(buf + 2, ' ')) == NULL) {
		res->code = 'T';
		strlcpy(res->status, "4.3.0", sizeof(res->status));
		snprintf(res->text, sizeof(res->text), "delivery process "
		    "failed%s", buf[0] == '\0' ? " (no reply)" : "");
		return;
	}
	res->code = buf[0];
	*sp = '\0';
	strlcpy(res->status, buf + 2, sizeof(res->status));
	tp = sp + 1;
	strlcpy(res->text, tp, sizeof(res->text));
}

/* In a child that has become d's owner: one delivery, its reply in out. */
void
deliver_as_owner(const struct conf *conf, const struct local_msg *msg,
    const struct dest *d, char *out, size_t outlen)
{
	char	 err[512], status[8] = "";
	int	 rc;

	err[0] = '\0';
	switch (d->kind) {
	case DEST_MAILDIR:
		rc = maildir_deliver(d->target, msg, d, conf,
		    status, err, sizeof(err));
		break;
	case DEST_MBOX:
	case DEST_FILE:
		rc = mbox_deliver(d->target, msg, d, conf, status, err,
		    sizeof(err));
		break;
	case DEST_PIPE:
		rc = pipe_deliver(d->target, msg, d, conf, status, err,
		    sizeof(err));
		break;
	default:
		rc = -2;
		strlcpy(err, "unknown destination", sizeof(err));
	}
	if (status[0] == '\0')
		strlcpy(status, rc == 0 ? "2.0.0" : rc == -1 ? "4.2.0" :
		    "5.2.0", sizeof(status));
	snprintf(out, outlen, "%c %s %s", rc == 0 ? 'D' : rc == -1 ?
	    'T' : 'P', status, err);
}

/*
 * As root: the destination's uid and gid, plus the spool directory's
 * group for a spool mbox (to make its dot-lock, as mail-group programs
 * do), and nothing else.  As anyone else there is nothing to change.
 */
int
deliver_become(const struct conf *conf, const struct dest *d, char *err,
    size_t errlen)
{
	struct stat	 st;
	gid_t		 groups[2];
	int		 ngroups = 1;

	if (geteuid() != 0)
		return 0;
	if (d->uid == 0) {
		snprintf(err, errlen, "refusing to deliver as root");
		return -1;
	}
	groups[0] = d->gid;
	if (d->spool && stat(conf->mail_spool_directory, &st) == 0 &&
	    st.st_gid != d->gid && st.st_gid != 0)
		groups[ngroups++] = st.st_gid;
	if (setgroups((size_t)ngroups, groups) == -1 ||
	    setresgid(d->gid, d->gid, d->gid) == -1 ||
	    setresuid(d->uid, d->uid, d->uid) == -1) {
		snprintf(err, errlen, "cannot become uid %ld: %s",
		    (long)d->uid, strerror(errno));
		return -1;
	}
	return 0;
}

void
local_headers(const struct local_msg *m, const struct dest *d, struct buf *b)
{
	buf_printf(b, "Return-Path: <%s>%sDelivered-To: %s%s", d->sender,
	    m->eol, d->delivered_to, m->eol);
}
