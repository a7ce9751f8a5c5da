/*
 * change: what mail filters (milters, run by smtpd) asked to change in a
 * message, applied before it is committed.  smtpd sends the changes as
 * CHANGE and NEWBODY records after the content and before END; at END
 * the incoming file is copied into a new one with the changes made (the
 * headers edited, the sender or recipients changed, the body replaced),
 * which takes the old one's name.  The copy is written like any queue
 * file and committed the same way; a message no filter changed is never
 * copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "addr.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "qmgr.h"
#include "record.h"

/* One header field as it stands: "Name: value\n" with its folded lines. */
struct field {
	char	*text;
	size_t	 len;
	size_t	 namelen;
};

struct fields {
	struct field	*f;
	size_t		 n;
};

static int	 change_read(int, const struct qf_env *, struct fields *,
		    struct buf *);
static int	 change_field_add(struct fields *, size_t, const char *, size_t);
static int	 change_field_make(struct fields *, size_t, const char *,
		    const char *);
static void	 change_fields_free(struct fields *);
static int	 change_headers(struct fields *, const struct record *,
		    const char **);
static int	 change_envelope(struct qf_env *, const struct record *,
		    const char **);
static int	 change_write(int, const struct qf_env *, const struct fields *,
		    const struct buf *, char *, size_t);
static void	 change_lf(struct buf *, const char *, size_t);
static int	 change_text_ok(const char *, int);
static int	 change_orcpt_is(const char *, const char *);

/*
 * Apply the changes (CHANGE records in changes, the new body in newbody
 * if has_body) to the file at path.  On success *fdp is the new file,
 * open for writing, the old one is closed, and *sender is the sender now;
 * -1 with why set.
 */
int
change_apply(const char *id, const char *path, int *fdp, char **sender,
    const struct buf *changes, const struct buf *newbody, int has_body,
    char *why, size_t whylen)
{
	struct qf_env	 env;
	struct fields	 hdr = { NULL, 0 };
	struct buf	 body, ch = *changes;
	struct record	 r;
	char		 tmp[80], err[256];
	const char	*bad = NULL;
	size_t		 total;
	int		 rfd = -1, wfd = -1, rc = -1;

	memset(&env, 0, sizeof(env));
	buf_init(&body, 0);
	if ((rfd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    qf_read_env(rfd, &env, err, sizeof(err)) == -1) {
		snprintf(why, whylen, "cannot read back %s: %s", path,
		    rfd == -1 ? strerror(errno) : err);
		goto done;
	}
	if (change_read(rfd, &env, &hdr, &body) == -1) {
		snprintf(why, whylen, "cannot read back the content of %s",
		    path);
		goto done;
	}
	if (has_body) {
		buf_reset(&body);
		buf_appendc(&body, '\n');	/* the line after the headers */
		change_lf(&body, newbody->data, newbody->len);
	}
	while (record_peek(&ch, &r, &total) == 1) {
		if ((r.len > 0 && r.data[0] == 'h' ?
		    change_headers(&hdr, &r, &bad) :
		    change_envelope(&env, &r, &bad)) == -1) {
			snprintf(why, whylen, "a filter's change: %s", bad);
			goto done;
		}
		ch.data += total;
		ch.len -= total;
	}
	if (env.nrcpt == 0) {
		snprintf(why, whylen, "a filter removed every recipient");
		goto done;
	}
	snprintf(tmp, sizeof(tmp), "%s.changed", path);
	if ((wfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 ||
	    change_write(wfd, &env, &hdr, &body, why, whylen) == -1 ||
	    rename(tmp, path) == -1) {
		if (wfd != -1 && why[0] == '\0')
			snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		else if (wfd == -1)
			snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		if (wfd != -1)
			close(wfd);
		(void)unlink(tmp);
		wfd = -1;
		goto done;
	}
	close(*fdp);
	*fdp = wfd;
	free(*sender);
	if ((*sender = strdup(env.sender)) == NULL)
		log_fatal("change: out of memory");
	log_info("%s: changed by a filter: %zu header%s, %zu recipient%s%s",
	    id, hdr.n, hdr.n == 1 ? "" : "s", env.nrcpt,
	    env.nrcpt == 1 ? "" : "s", has_body ? ", new body" : "");
	rc = 0;
done:
	if (rfd != -1)
		close(rfd);
	qf_env_free(&env);
	change_fields_free(&hdr);
	buf_free(&body);
	return rc;
}

/* The content, cut into header fields and the rest (the body). */
static int
change_read(int fd, const struct qf_env *env, struct fields *hdr,
    struct buf *body)
{
	static char	 chunk[QF_CHUNK];
	struct buf	 all;
	off_t		 off = env->content_off;
	ssize_t		 n;
	size_t		 i, start, end;
	int		 rc = -1;

	buf_init(&all, 0);
	while ((n = qf_read_content(fd, &off, chunk, sizeof(chunk))) > 0)
		if (buf_append(&all, chunk, (size_t)n) == -1)
			goto out;
	if (n == -1)
		goto out;
	/* Fields up to the empty line (or the end, or a line that is none). */
	for (i = 0; i < all.len; ) {
		if (all.data[i] == '\n')
			break;	/* the empty line: stays with the body */
		start = i;
		do {
			end = i;
			while (end < all.len && all.data[end] != '\n')
				end++;
			i = end < all.len ? end + 1 : end;
		} while (i < all.len && (all.data[i] == ' ' ||
		    all.data[i] == '\t'));
		if (memchr(all.data + start, ':', end - start) == NULL) {
			i = start;	/* not a field: the body starts here */
			break;
		}
		if (change_field_add(hdr, hdr->n, all.data + start,
		    i - start) == -1)
			goto out;
	}
	if (buf_append(body, all.data + i, all.len - i) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&all);
	return rc;
}

static int
change_field_add(struct fields *h, size_t at, const char *text, size_t len)
{
	struct field	*n;
	const char	*colon;

	if ((n = reallocarray(h->f, h->n + 1, sizeof(*n))) == NULL)
		return -1;
	h->f = n;
	if (at > h->n)
		at = h->n;
	memmove(&h->f[at + 1], &h->f[at], (h->n - at) * sizeof(*n));
	if ((h->f[at].text = malloc(len + 1)) == NULL)
		return -1;
	memcpy(h->f[at].text, text, len);
	h->f[at].text[len] = '\0';
	h->f[at].len = len;
	colon = memchr(text, ':', len);
	h->f[at].namelen = colon ? (size_t)(colon - text) : len;
	while (h->f[at].namelen > 0 && (text[h->f[at].namelen - 1] == ' ' ||
	    text[h->f[at].namelen - 1] == '\t'))
		h->f[at].namelen--;
	h->n++;
	return 0;
}

/* "Name: value\n" from a filter's name and value (CRLF made LF). */
static int
change_field_make(struct fields *h, size_t at, const char *name,
    const char *value)
{
	struct buf	 t;
	int		 rc;

	buf_init(&t, 0);
	buf_printf(&t, "%s:%s", name, value[0] == ' ' || value[0] == '\t' ?
	    "" : " ");
	change_lf(&t, value, strlen(value));
	buf_appendc(&t, '\n');
	rc = change_field_add(h, at, t.data, t.len);
	buf_free(&t);
	return rc;
}

static void
change_fields_free(struct fields *h)
{
	size_t	 i;

	for (i = 0; i < h->n; i++)
		free(h->f[i].text);
	free(h->f);
	h->f = NULL;
	h->n = 0;
}

/*
 * "hadd", "hins", "hchg": index (decimal), name, value.  Insertion at
 * index 0 puts a field first; a change names the index-th field of that
 * name (from 1): an empty value deletes it, and one past the last adds
 * it at the end, as Sendmail does.
 */
static int
change_headers(struct fields *h, const struct record *r, const char **bad)
{
	const char	*f[4], *name, *value;
	unsigned long	 idx;
	char		*end;
	size_t		 i, seen = 0, nl;

	if (record_fields(r, f, 4) == -1) {
		*bad = "malformed";
		return -1;
	}
	idx = strtoul(f[1], &end, 10);
	name = f[2];
	value = f[3];
	nl = strlen(name);
	if (*end || nl == 0 || strpbrk(name, ": \t\r\n") != NULL) {
		*bad = "a header name that is none";
		return -1;
	}
	if (!change_text_ok(value, 1)) {
		*bad = "a header value with a line break that is no folding";
		return -1;
	}
	if (strcmp(f[0], "hadd") == 0)
		return change_field_make(h, h->n, name, value);
	if (strcmp(f[0], "hins") == 0)
		return change_field_make(h, idx, name, value);
	if (strcmp(f[0], "hchg") != 0) {
		*bad = "an unknown change";
		return -1;
	}
	for (i = 0; i < h->n; i++) {
		if (h->f[i].namelen != nl ||
		    strncasecmp(h->f[i].text, name, nl) != 0 || ++seen != idx)
			continue;
		free(h->f[i].text);
		memmove(&h->f[i], &h->f[i + 1], (h->n - i - 1) *
		    sizeof(*h->f));
		h->n--;
		return value[0] == '\0' ? 0 : change_field_make(h, i, name,
		    value);
	}
	return value[0] == '\0' ? 0 : change_field_make(h, h->n, name, value);
}

/* "from", "radd", "rdel": "", address, parameters. */
static int
change_envelope(struct qf_env *env, const struct record *r, const char **bad)
{
	const char	*f[4];
	char		 addr[ADDR_MAX + 1];
	struct qf_rcpt	*n;
	size_t		 i, len;

	if (record_fields(r, f, 4) == -1) {
		*bad = "malformed";
		return -1;
	}
	/* Filters speak in <address>; the queue keeps it bare. */
	len = strlen(f[2]);
	if (len >= 2 && f[2][0] == '<' && f[2][len - 1] == '>')
		snprintf(addr, sizeof(addr), "%.*s", (int)(len - 2), f[2] + 1);
	else if (strlcpy(addr, f[2], sizeof(addr)) >= sizeof(addr)) {
		*bad = "an address too long";
		return -1;
	}
	if (strpbrk(addr, "<> \t\r\n") != NULL || !change_text_ok(addr, 0)) {
		*bad = "an address with spaces, angle brackets or controls";
		return -1;
	}
	/* Parameters go on to the next hop's MAIL and RCPT lines. */
	if (!change_text_ok(f[3], 0)) {
		*bad = "parameters with control characters";
		return -1;
	}
	if (strcmp(f[0], "from") == 0) {
		free(env->sender);
		if ((env->sender = strdup(addr)) == NULL)
			log_fatal("change: out of memory");
		/* Without new parameters, the message keeps its own. */
		if (f[3][0]) {
			free(env->sender_params);
			if ((env->sender_params = strdup(f[3])) == NULL)
				log_fatal("change: out of memory");
		}
		return 0;
	}
	if (addr[0] == '\0') {
		*bad = "an empty recipient";
		return -1;
	}
	if (strcmp(f[0], "radd") == 0) {
		for (i = 0; i < env->nrcpt; i++)
			if (strcasecmp(env->rcpt[i].addr, addr) == 0)
				return 0;
		if ((n = reallocarray(env->rcpt, env->nrcpt + 1,
		    sizeof(*n))) == NULL)
			log_fatal("change: out of memory");
		env->rcpt = n;
		memset(&n[env->nrcpt], 0, sizeof(*n));
		n[env->nrcpt].state = QF_PENDING;
		if ((n[env->nrcpt].addr = strdup(addr)) == NULL ||
		    (n[env->nrcpt].params = strdup(f[3])) == NULL)
			log_fatal("change: out of memory");
		env->nrcpt++;
		return 0;
	}
	if (strcmp(f[0], "rdel") == 0) {
		/* The address as given, or as it was before aliases. */
		for (i = 0; i < env->nrcpt; i++) {
			if (strcasecmp(env->rcpt[i].addr, addr) != 0 &&
			    !change_orcpt_is(env->rcpt[i].params, addr))
				continue;
			free(env->rcpt[i].addr);
			free(env->rcpt[i].params);
			free(env->rcpt[i].defer_text);
			memmove(&env->rcpt[i], &env->rcpt[i + 1],
			    (env->nrcpt - i - 1) * sizeof(*env->rcpt));
			env->nrcpt--;
			i--;
		}
		return 0;
	}
	*bad = "an unknown change";
	return -1;
}

static int
change_write(int fd, const struct qf_env *env, const struct fields *hdr,
    const struct buf *body, char *why, size_t whylen)
{
	struct buf	 rec, content;
	char		 num[32];
	size_t		 i, off;
	int		 rc = -1;

	buf_init(&rec, 0);
	buf_init(&content, 0);
	snprintf(num, sizeof(num), "%lld", (long long)env->arrival);
	buf_append(&rec, env->sender, strlen(env->sender) + 1);
	buf_append(&rec, env->sender_params, strlen(env->sender_params) + 1);
	if (qf_write(fd, 'V', QF_VERSION, strlen(QF_VERSION)) == -1 ||
	    qf_write(fd, 'T', num, strlen(num)) == -1 ||
	    qf_write(fd, 'S', rec.data, rec.len) == -1 ||
	    qf_write(fd, 'I', env->client ? env->client : "",
	    strlen(env->client ? env->client : "") + 1) == -1)
		goto fail;
	for (i = 0; i < env->nrcpt; i++) {
		buf_reset(&rec);
		buf_appendc(&rec, QF_PENDING);
		buf_append(&rec, env->rcpt[i].addr,
		    strlen(env->rcpt[i].addr) + 1);
		buf_append(&rec, env->rcpt[i].params,
		    strlen(env->rcpt[i].params) + 1);
		if (qf_write(fd, 'R', rec.data, rec.len) == -1)
			goto fail;
	}
	for (i = 0; i < hdr->n; i++)
		buf_append(&content, hdr->f[i].text, hdr->f[i].len);
	buf_append(&content, body->data, body->len);
	for (off = 0; off < content.len; off += QF_CHUNK)
		if (qf_write(fd, 'D', content.data + off, content.len - off <
		    QF_CHUNK ? content.len - off : QF_CHUNK) == -1)
			goto fail;
	snprintf(num, sizeof(num), "%zu", content.len);
	if (qf_write(fd, 'E', num, strlen(num)) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(why, whylen, "writing the changed file: %s", strerror(errno));
out:
	buf_free(&rec);
	buf_free(&content);
	return rc;
}

/* Append p, with CRLF made LF (queue content has LF line endings). */
static void
change_lf(struct buf *b, const char *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!(p[i] == '\r' && i + 1 < len && p[i + 1] == '\n'))
			buf_appendc(b, p[i]);
}

/*
 * No control characters; with folding, a line break (LF or CRLF) only
 * before a space or a tab, so that no new header line can begin.
 */
static int
change_text_ok(const char *p, int folding)
{
	for (; *p; p++) {
		if (folding && *p == '\r' && p[1] == '\n')
			p++;
		if (folding && *p == '\n' && (p[1] == ' ' || p[1] == '\t'))
			continue;
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return 0;
		if (*p == 0x7f)
			return 0;
	}
	return 1;
}

/* Does params carry ORCPT=rfc822;addr, as intake writes it? */
static int
change_orcpt_is(const char *params, const char *addr)
{
	char		 v[ADDR_MAX * 3 + 16];
	struct buf	 want;
	int		 same;

	if (!qf_param(params, "ORCPT", v, sizeof(v)))
		return 0;
	buf_init(&want, 0);
	intake_orcpt(&want, addr);	/* "ORCPT=rfc822;xtext" */
	same = strcasecmp(v, buf_cstr(&want) + 6) == 0;
	buf_free(&want);
	return same;
}
