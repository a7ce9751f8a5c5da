/*
 * forward: the copy of a message that local hands back when an alias or
 * a .forward file names an address in another domain.  qmgr writes it as
 * a new queue file (same sender, same MAIL parameters, same content, the
 * forwarded addresses as recipients) and commits it before the original
 * recipient is marked delivered, so a crash can repeat a forward but
 * never lose one.  Loops end at hopcount_limit, as every pass through an
 * MTA adds a Received: header.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "qmgr.h"

int
forward_create(struct qmgr *q, const char *id, int qfd,
    const struct qf_env *env, char *const *addrs, size_t n, char *newid)
{
	struct buf	 rec;
	char		 in[64], act[64], now[32], size[32], chunk[QF_CHUNK];
	off_t		 off = env->content_off;
	ssize_t		 got;
	size_t		 i, total = 0;
	int		 fd;

	queueid_new(newid);
	qf_path(in, sizeof(in), Q_INCOMING, newid);
	qf_path(act, sizeof(act), Q_ACTIVE, newid);
	if ((fd = open(in, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1) {
		log_warn("%s: create forward %s", id, in);
		return -1;
	}
	buf_init(&rec, 0);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	buf_append(&rec, env->sender, strlen(env->sender) + 1);
	buf_append(&rec, env->sender_params, strlen(env->sender_params) + 1);
	if (qf_write(fd, 'V', QF_VERSION, strlen(QF_VERSION)) == -1 ||
	    qf_write(fd, 'T', now, strlen(now)) == -1 ||
	    qf_write(fd, 'S', rec.data, rec.len) == -1 ||
	    qf_write(fd, 'I', "", 1) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		buf_reset(&rec);
		buf_appendc(&rec, QF_PENDING);
		buf_append(&rec, addrs[i], strlen(addrs[i]) + 1);
		buf_append(&rec, "", 1);
		if (qf_write(fd, 'R', rec.data, rec.len) == -1)
			goto fail;
	}
	while ((got = qf_read_content(qfd, &off, chunk, sizeof(chunk))) > 0) {
		if (qf_write(fd, 'D', chunk, (size_t)got) == -1)
			goto fail;
		total += (size_t)got;
	}
	snprintf(size, sizeof(size), "%zu", total);
	if (got < 0 || qf_write(fd, 'E', size, strlen(size)) == -1 ||
	    commit_file(fd, in, act) == -1)
		goto fail;
	close(fd);
	buf_free(&rec);
	log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)", newid,
	    env->sender, total, n);
	sched_enqueue(q, newid);
	return 0;
fail:
	log_warn("%s: write forward %s", id, in);
	close(fd);
	(void)unlink(in);
	(void)unlink(act);
	buf_free(&rec);
	return -1;
}
