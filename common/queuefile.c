/* queuefile: read and write queue files; every length is checked. */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "queuefile.h"
#include "record.h"

static int	 qf_read_defer(struct qf_env *, const char *, size_t);
static int	 qf_pread_all(int, void *, size_t, off_t);

/*
 * The envelope is read through a window of the file: its records are
 * small and many (two reads each), and the window turns them into one
 * pread for a usual message.  Content records are skipped, never read.
 */
struct qf_window {
	int	 fd;
	off_t	 off;		/* of buf[0] */
	size_t	 len;		/* bytes valid in buf */
	char	 buf[8192];
};
static int	 qf_window_read(struct qf_window *, void *, size_t, off_t);
static char	*qf_field_dup(const char *, size_t, size_t *);

int
qf_write(int fd, int type, const void *p, size_t len)
{
	unsigned char	 h[RECORD_HDR];
	struct iovec	 iov[2];
	ssize_t		 n;
	size_t		 want = sizeof(h) + len;

	record_hdr(h, type, len);
	iov[0].iov_base = h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)(uintptr_t)p;
	iov[1].iov_len = len;
	n = writev(fd, iov, 2);
	if (n == (ssize_t)want)
		return 0;
	if (n >= 0) {
		/* Short write: finish it plainly (regular files rarely do). */
		size_t done = (size_t)n;

		while (done < want) {
			const char *src = done < sizeof(h) ?
			    (const char *)h + done :
			    (const char *)p + (done - sizeof(h));
			size_t left = done < sizeof(h) ? sizeof(h) - done :
			    want - done;

			if ((n = write(fd, src, left)) <= 0) {
				if (n == -1 && errno == EINTR)
					continue;
				if (n == 0)
					errno = EIO;
				return -1;
			}
			done += (size_t)n;
		}
		return 0;
	}
	return -1;
}

int
qf_read_env(int fd, struct qf_env *env, char *err, size_t errlen)
{
	static struct qf_window w;	/* 8 KiB: not on the stack */
	unsigned char	 h[RECORD_HDR];
	char		*p = NULL, *end;
	off_t		 off = 0;
	uint32_t	 len;
	size_t		 flen;
	int		 type, seen_v = 0, seen_e = 0;
	struct qf_rcpt	*r;

	memset(env, 0, sizeof(*env));
	env->content_off = -1;
	w.fd = fd;
	w.off = 0;
	w.len = 0;
	for (;;) {
		/* Within the content, D after D: only the headers are read. */
		if ((env->content_off == -1 || seen_e ?
		    qf_window_read(&w, h, sizeof(h), off) :
		    qf_pread_all(fd, h, sizeof(h), off)) == -1) {
			if (seen_e)
				break;	/* the end, or a torn X record */
			snprintf(err, errlen, "truncated at offset %lld "
			    "(no end record)", (long long)off);
			goto bad;
		}
		type = h[0];
		len = record_len(h);
		if (seen_e && (type != 'X' || len > RECORD_MAX))
			break;		/* after E only X; anything else: torn */
		if (len > RECORD_MAX) {
			snprintf(err, errlen, "record too long at offset %lld",
			    (long long)off);
			goto bad;
		}
		if (!seen_v && type != 'V') {
			snprintf(err, errlen, "not a posthorn queue file");
			goto bad;
		}
		if (type == 'D') {
			if (env->content_off == -1)
				env->content_off = off;
			off += RECORD_HDR + len;
			continue;
		}
		free(p);
		if ((p = malloc((size_t)len + 1)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
		if (qf_window_read(&w, p, len, off + RECORD_HDR) == -1) {
			if (seen_e)
				break;
			snprintf(err, errlen, "truncated record at offset %lld",
			    (long long)off);
			goto bad;
		}
		p[len] = '\0';
		switch (type) {
		case 'V':
			if (seen_v || strcmp(p, QF_VERSION) != 0) {
				snprintf(err, errlen, "unknown version '%s'", p);
				goto bad;
			}
			seen_v = 1;
			break;
		case 'T':
			env->arrival = (time_t)strtoll(p, &end, 10);
			if (*end) {
				snprintf(err, errlen, "bad arrival time");
				goto bad;
			}
			break;
		case 'S':
			free(env->sender);
			free(env->sender_params);
			env->sender_params = NULL;
			if ((env->sender = qf_field_dup(p, len, &flen)) == NULL ||
			    (env->sender_params = strdup(flen + 2 <= len ?
			    p + flen + 1 : "")) == NULL) {
				snprintf(err, errlen, "bad sender record");
				goto bad;
			}
			break;
		case 'I':
			free(env->client);
			if ((env->client = qf_field_dup(p, len, &flen)) == NULL) {
				snprintf(err, errlen, "bad client record");
				goto bad;
			}
			break;
		case 'R':
			if (len < 2 || (!QF_IS_PENDING(p[0]) &&
			    p[0] != QF_DELIVERED && p[0] != QF_FAILED)) {
				snprintf(err, errlen, "bad recipient record");
				goto bad;
			}
			r = reallocarray(env->rcpt, env->nrcpt + 1,
			    sizeof(*env->rcpt));
			if (r == NULL) {
				snprintf(err, errlen, "out of memory");
				goto bad;
			}
			env->rcpt = r;
			r = &env->rcpt[env->nrcpt];
			memset(r, 0, sizeof(*r));
			r->state = p[0];
			r->state_off = off + RECORD_HDR;
			if ((r->addr = qf_field_dup(p + 1, len - 1, &flen)) ==
			    NULL) {
				snprintf(err, errlen, "bad recipient record");
				goto bad;
			}
			r->params = strdup(flen + 2 <= len ?
			    p + 1 + flen + 1 : "");
			if (r->params == NULL) {
				free(r->addr);
				snprintf(err, errlen, "out of memory");
				goto bad;
			}
			env->nrcpt++;
			break;
		case 'X':
			if (!seen_e || qf_read_defer(env, p, len) == -1)
				goto torn;
			break;
		case 'E':
			if (seen_e)
				goto torn;
			env->content_size = (off_t)strtoll(p, &end, 10);
			if (*end || env->content_size < 0) {
				snprintf(err, errlen, "bad end record");
				goto bad;
			}
			if (env->content_off == -1)
				env->content_off = off;	/* empty content */
			seen_e = 1;
			break;
		default:
			snprintf(err, errlen, "unknown record type 0x%02x at "
			    "offset %lld", type, (long long)off);
			goto bad;
		}
		off += RECORD_HDR + len;
	}
torn:
	if (env->sender == NULL || env->nrcpt == 0) {
		snprintf(err, errlen, "no sender or no recipients");
		goto bad;
	}
	free(p);
	return 0;
bad:
	free(p);
	qf_env_free(env);
	return -1;
}

void
qf_env_free(struct qf_env *env)
{
	size_t	 i;

	for (i = 0; i < env->nrcpt; i++) {
		free(env->rcpt[i].addr);
		free(env->rcpt[i].params);
		free(env->rcpt[i].defer_text);
	}
	free(env->rcpt);
	free(env->sender);
	free(env->sender_params);
	free(env->client);
	memset(env, 0, sizeof(*env));
}

/* "index\0dsn\0text\0time\0" onto its recipient; -1 if malformed. */
static int
qf_read_defer(struct qf_env *env, const char *p, size_t len)
{
	const char	*f[4], *q = p, *end = p + len;
	char		*e;
	unsigned long	 i;
	int		 k;
	struct qf_rcpt	*r;

	for (k = 0; k < 4; k++) {
		const char *z = memchr(q, '\0', (size_t)(end - q));

		if (z == NULL)
			return -1;
		f[k] = q;
		q = z + 1;
	}
	i = strtoul(f[0], &e, 10);
	if (*e || e == f[0] || i >= env->nrcpt || strlen(f[1]) >= 8)
		return -1;
	r = &env->rcpt[i];
	free(r->defer_text);
	if ((r->defer_text = strdup(f[2])) == NULL)
		return -1;
	strlcpy(r->defer_dsn, f[1], sizeof(r->defer_dsn));
	r->defer_time = (time_t)strtoll(f[3], NULL, 10);
	return 0;
}

int
qf_add_defer(int fd, size_t index, const char *dsn, const char *text,
    time_t when)
{
	struct buf	 b;
	char		 idx[32], t[32];
	struct stat	 st;
	ssize_t		 n;
	int		 rc = -1;

	snprintf(idx, sizeof(idx), "%zu", index);
	snprintf(t, sizeof(t), "%lld", (long long)when);
	buf_init(&b, 0);
	if (record_putf(&b, 'X', idx, dsn, text, t, NULL) == 0 &&
	    fstat(fd, &st) == 0) {
		do
			n = pwrite(fd, b.data, b.len, st.st_size);
		while (n == -1 && errno == EINTR);
		rc = n == (ssize_t)b.len ? 0 : -1;
	}
	buf_free(&b);
	return rc;
}

int
qf_set_state(int fd, struct qf_rcpt *r, char state)
{
	ssize_t	 n;

	do
		n = pwrite(fd, &state, 1, r->state_off);
	while (n == -1 && errno == EINTR);
	if (n != 1) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	r->state = state;
	return 0;
}

ssize_t
qf_read_content(int fd, off_t *off, char *out, size_t outlen)
{
	unsigned char	 h[RECORD_HDR];
	uint32_t	 len;

	if (qf_pread_all(fd, h, sizeof(h), *off) == -1)
		return -1;
	if (h[0] == 'E')
		return 0;
	len = record_len(h);
	if (h[0] != 'D' || len > outlen || len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (qf_pread_all(fd, out, len, *off + RECORD_HDR) == -1)
		return -1;
	*off += RECORD_HDR + len;
	return (ssize_t)len;
}

int
qf_path(char *out, size_t outlen, const char *dir, const char *id)
{
	int	 n;

	n = snprintf(out, outlen, "%s/%c/%s", dir, queueid_hash(id), id);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* As qf_pread_all, from the window when it holds the bytes. */
static int
qf_window_read(struct qf_window *w, void *p, size_t len, off_t off)
{
	ssize_t	 n;

	if (off >= w->off && (size_t)(off - w->off) <= w->len &&
	    len <= w->len - (size_t)(off - w->off)) {
		memcpy(p, w->buf + (off - w->off), len);
		return 0;
	}
	if (len > sizeof(w->buf))
		return qf_pread_all(w->fd, p, len, off);
	do
		n = pread(w->fd, w->buf, sizeof(w->buf), off);
	while (n == -1 && errno == EINTR);
	w->off = off;
	w->len = n > 0 ? (size_t)n : 0;
	if (w->len < len)	/* short: the file's end, or an error */
		return qf_pread_all(w->fd, p, len, off);
	memcpy(p, w->buf, len);
	return 0;
}

static int
qf_pread_all(int fd, void *p, size_t len, off_t off)
{
	char	*c = p;
	ssize_t	 n;

	while (len > 0) {
		n = pread(fd, c, len, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		c += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The first NUL-terminated field of a payload, copied; *flen its length. */
static char *
qf_field_dup(const char *p, size_t len, size_t *flen)
{
	const char	*nul;

	if ((nul = memchr(p, '\0', len)) == NULL)
		nul = p + len;
	*flen = (size_t)(nul - p);
	return strndup(p, *flen);
}

/*
 * Look up NAME in a normalised parameter list ("BODY=8BITMIME RET=HDRS
 * SMTPUTF8"): 1 if present (its value, or "" for a flag, copied to out).
 */
int
qf_param(const char *params, const char *name, char *out, size_t outlen)
{
	const char	*p = params;
	size_t		 nl = strlen(name), n;

	while (p && *p) {
		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n >= nl && strncasecmp(p, name, nl) == 0 &&
		    (n == nl || p[nl] == '=')) {
			if (out && outlen) {
				size_t vl = n == nl ? 0 : n - nl - 1;

				if (vl >= outlen)
					vl = outlen - 1;
				memcpy(out, p + nl + (n == nl ? 0 : 1), vl);
				out[vl] = '\0';
			}
			return 1;
		}
		p += n;
	}
	return 0;
}
