/*
 * sendmail: the Sendmail-compatible way in for cron, mail(1), PHP and
 * every MUA.  It runs with the caller's rights only: it reads the
 * message, works out the recipients, and hands everything to
 * posthorn-postdrop (setgid), which writes it into the maildrop; pickup
 * takes it from there, with or without the daemons running now.
 *
 *	sendmail [-t] [-i] [-f sender] [-F name] [-C confdir] [rcpt ...]
 *	sendmail -bs		SMTP on stdin and stdout
 *	sendmail -bp		the queue (mailq)
 *	sendmail -bi		newaliases
 *	sendmail -q		flush the queue
 *
 * Options Sendmail takes that mean nothing here (-oX..., -v, -m, -B,
 * -N, -R, -V, -X, -L, -bm, -qinterval) are accepted and ignored; exit
 * codes are sysexits(3)'s.
 */
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>

#include "addr.h"
#include "buf.h"
#include "conf.h"
#include "tool.h"
#include "maildrop.h"
#include "record.h"
#include "sock.h"

#ifndef CONFIG_DIR
#define CONFIG_DIR	"/usr/local/etc/posthorn"
#endif

#define EX_OK_		0
#define EX_USAGE_	64
#define EX_DATAERR_	65
#define EX_NOUSER_	67
#define EX_UNAVAILABLE_	69
#define EX_SOFTWARE_	70
#define EX_OSERR_	71
#define EX_TEMPFAIL_	75

#define SM_LINE		4096	/* header lines are read this long at most */

struct msg {
	struct buf	 rec;		/* the stream for postdrop */
	struct buf	 content;	/* D records: after the envelope */
	struct buf	 hdr;		/* -t: the header section, unfolded */
	size_t		 nrcpt;
	long		 size;
};

static const char *confdir = CONFIG_DIR;
static long	 size_limit;
static char	 origin[256];	/* for bare names: conf_origin() */

static int	 sm_submit(const char *, const char *, char **, int, int, int);
static int	 sm_smtp(void);
static int	 sm_read(FILE *, struct msg *, int dots, int extract,
		    int smtp);
static int	 sm_rcpt(struct msg *, const char *);
static int	 sm_extract(struct msg *);
static int	 sm_postdrop(const struct buf *);
static int	 sm_exec(const char *, char *const []);
static void	 usage(void) __attribute__((noreturn));

int
main(int argc, char **argv)
{
	struct conf	 c;
	const char	*from = NULL, *name = NULL, *mode = "m";
	char		 err[1024], tool[PATH_MAX];
	int		 ch, extract = 0, dots = 1, i;

	/* Sendmail's long option names are single dashes; getopt copes. */
	while ((ch = getopt(argc, argv,
	    "A:B:b:C:d:F:f:h:iL:mN:no:p:q::R:r:tUV:vX:")) != -1) {
		switch (ch) {
		case 'b':
			mode = optarg;
			break;
		case 'C':
			confdir = optarg;
			break;
		case 'F':
			name = optarg;
			break;
		case 'f':
		case 'r':
			from = optarg;
			break;
		case 'i':
			dots = 0;
			break;
		case 'o':
			/* -oi is -i; every other -oX is ignored. */
			if (strcmp(optarg, "i") == 0)
				dots = 0;
			break;
		case 'q':
			/* -q1h would be a queue-running daemon: not ours. */
			if (optarg && isdigit((unsigned char)optarg[0]))
				return EX_OK_;
			mode = "q";
			break;
		case 't':
			extract = 1;
			break;
		case 'A': case 'B': case 'd': case 'h': case 'L': case 'm':
		case 'N': case 'n': case 'p': case 'R': case 'U': case 'V':
		case 'v': case 'X':
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (conf_load(&c, confdir, err, sizeof(err)) == -1) {
		fprintf(stderr, "sendmail: fatal: %s\n", err);
		return EX_TEMPFAIL_;
	}
	size_limit = c.message_size_limit;
	conf_origin(&c, origin, sizeof(origin));
	if (strcmp(mode, "p") == 0) {
		tool_path(tool, sizeof(tool), "posthorn-queue");
		return sm_exec(tool, (char *const []){ tool, "-c",
		    (char *)confdir, "list", NULL });
	}
	if (strcmp(mode, "i") == 0) {
		tool_path(tool, sizeof(tool), "newaliases");
		return sm_exec(tool, (char *const []){ tool, "-c",
		    (char *)confdir, NULL });
	}
	if (strcmp(mode, "q") == 0) {
		tool_path(tool, sizeof(tool), "posthorn-queue");
		return sm_exec(tool, (char *const []){ tool, "-c",
		    (char *)confdir, "flush", NULL });
	}
	if (strcmp(mode, "s") == 0)
		return sm_smtp();
	if (strcmp(mode, "m") != 0) {
		fprintf(stderr, "sendmail: -b%s is not supported%s\n", mode,
		    mode[0] == 'd' || mode[0] == 'D' ? " (to start the daemons: "
		    "posthorn start)" : "");
		return EX_USAGE_;
	}
	for (i = 0; i < argc; i++)
		if (argv[i][0] == '-')
			usage();
	return sm_submit(from, name, argv, argc, extract, dots);
}

/* The usual way: recipients from the arguments (and -t), stdin. */
static int
sm_submit(const char *from, const char *name, char **rcpts, int n,
    int extract, int dots)
{
	struct msg	 m;
	int		 i, rc;

	memset(&m, 0, sizeof(m));
	buf_init(&m.rec, 0);
	buf_init(&m.hdr, 0);
	buf_init(&m.content, 0);
	record_putf(&m.rec, 'V', MD_VERSION, NULL);
	if (from)
		record_putf(&m.rec, 'S', from, NULL);
	if (name)
		record_putf(&m.rec, 'N', name, NULL);
	for (i = 0; i < n; i++)
		if ((rc = sm_rcpt(&m, rcpts[i])) != EX_OK_)
			return rc;
	if ((rc = sm_read(stdin, &m, dots, extract, 0)) != EX_OK_)
		return rc;
	if (m.nrcpt == 0) {
		fprintf(stderr, "sendmail: no recipients%s\n", extract ?
		    " in the arguments or the To:, Cc: and Bcc: headers" : "");
		return EX_USAGE_;
	}
	return sm_postdrop(&m.rec);
}

/*
 * One address from the user: "<a@b>", "a@b", "Name <a@b>", or a bare
 * local name (delivered on this host).  Checked as RCPT TO would be.
 */
static int
sm_rcpt(struct msg *m, const char *arg)
{
	struct mailbox	 mb;
	const char	*lt, *rest, *why;
	char		 path[ADDR_MAX + 3];
	size_t		 n;

	/* "Name <a@b>" and "<a@b>": what is inside; else the word. */
	if ((lt = strrchr(arg, '<')) != NULL)
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(lt, ">") + 1,
		    lt);
	else {
		arg += strspn(arg, " \t");
		n = strcspn(arg, " \t");
		if (arg[n + strspn(arg + n, " \t")] != '\0') {
			fprintf(stderr, "sendmail: bad recipient address %s\n",
			    arg);
			return EX_DATAERR_;
		}
		/* A bare name is a user here (Postfix: append_at_myorigin). */
		if (n > ADDR_MAX || (size_t)snprintf(path, sizeof(path),
		    "<%.*s%s%.*s>", (int)n, arg, memchr(arg, '@', n) ? "" :
		    "@", memchr(arg, '@', n) ? 0 : (int)(sizeof(path) - n - 4),
		    origin) >= sizeof(path)) {
			fprintf(stderr, "sendmail: address too long: %s\n",
			    arg);
			return EX_DATAERR_;
		}
	}
	if (addr_parse_path(path, ADDR_ALLOW_NODOMAIN | ADDR_ALLOW_UTF8, &mb,
	    &rest, &why) == -1 || rest[strspn(rest, " \t")] != '\0') {
		fprintf(stderr, "sendmail: bad recipient address %s\n", arg);
		return EX_DATAERR_;
	}
	if (mb.addr[0] == '\0')
		return EX_OK_;
	if (m->nrcpt >= MD_MAX_RCPT) {
		fprintf(stderr, "sendmail: more than %d recipients\n",
		    MD_MAX_RCPT);
		return EX_DATAERR_;
	}
	record_putf(&m->rec, 'R', mb.addr, NULL);
	m->nrcpt++;
	return EX_OK_;
}

/*
 * The message from f: CRLF becomes LF; without -i a line holding only
 * "." ends it (in SMTP mode the dot is also unstuffed).  With -t the
 * header section gives recipients, and its Bcc: lines are dropped.
 */
static int
sm_read(FILE *f, struct msg *m, int dots, int extract, int smtp)
{
	char		*line = NULL;
	size_t		 cap = 0, len;
	ssize_t		 n;
	int		 in_hdr = 1, in_bcc = 0, rc;
	struct buf	 chunk;

	buf_init(&chunk, 0);
	while ((n = getline(&line, &cap, f)) > 0) {
		len = (size_t)n;
		if (len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n') {
			line[len - 2] = '\n';
			len--;
		}
		if (dots && (len == 2 && line[0] == '.' && line[1] == '\n'))
			break;
		if (smtp && line[0] == '.')
			memmove(line, line + 1, len--);
		if (in_hdr) {
			if (len == 1 && line[0] == '\n')
				in_hdr = 0;
			else if (line[0] == ' ' || line[0] == '\t') {
				if (in_bcc)
					continue;
			} else if (strchr(line, ':') == NULL)
				in_hdr = 0;	/* a body without a header */
			else
				in_bcc = strncasecmp(line, "bcc:", 4) == 0 ||
				    strncasecmp(line, "resent-bcc:", 11) == 0;
			if (in_hdr && extract) {
				if (line[0] != ' ' && line[0] != '\t')
					buf_append(&m->hdr, "\n", 1);
				buf_append(&m->hdr, line, len - 1);
			}
			if (in_hdr && in_bcc)
				continue;
		}
		m->size += (long)len;
		if (size_limit > 0 && m->size > size_limit) {
			fprintf(stderr, "sendmail: message larger than "
			    "message_size_limit (%ld bytes)\n", size_limit);
			free(line);
			return EX_DATAERR_;
		}
		buf_append(&chunk, line, len);
		if (chunk.len >= 60000) {
			record_put(&m->content, 'D', chunk.data, chunk.len);
			buf_reset(&chunk);
		}
	}
	free(line);
	if (ferror(f)) {
		fprintf(stderr, "sendmail: read error: %s\n", strerror(errno));
		return EX_OSERR_;
	}
	if (chunk.len)
		record_put(&m->content, 'D', chunk.data, chunk.len);
	buf_free(&chunk);
	if (extract && (rc = sm_extract(m)) != EX_OK_)
		return rc;
	/* Recipients from -t came last: the content goes after them. */
	buf_append(&m->rec, m->content.data, m->content.len);
	buf_reset(&m->content);
	return EX_OK_;
}

/* -t: the addresses of To:, Cc: and Bcc: (and their Resent- forms). */
static int
sm_extract(struct msg *m)
{
	char	*h, *line, *next, *v, *p, *q, addr[ADDR_MAX + 1];
	int	 depth, quoted, rc;

	buf_append(&m->hdr, "\n", 1);
	h = (char *)buf_cstr(&m->hdr);
	for (line = h; line && *line; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncasecmp(line, "resent-", 7) == 0)
			line += 7;
		if (strncasecmp(line, "to:", 3) != 0 &&
		    strncasecmp(line, "cc:", 3) != 0 &&
		    strncasecmp(line, "bcc:", 4) != 0)
			continue;
		v = strchr(line, ':') + 1;
		/* Split at commas outside quotes, comments and <>. */
		for (p = v; *p; p = q) {
			depth = quoted = 0;
			for (q = p; *q && (*q != ',' || depth || quoted); q++) {
				if (*q == '"' && (q == p || q[-1] != '\\'))
					quoted = !quoted;
				else if (!quoted && (*q == '(' || *q == '<'))
					depth++;
				else if (!quoted && (*q == ')' || *q == '>') &&
				    depth)
					depth--;
			}
			snprintf(addr, sizeof(addr), "%.*s", (int)(q - p), p);
			if (*q)
				q++;
			/* A group "name: a, b;" and comments "(x)". */
			if ((v = strchr(addr, ':')) != NULL && !strchr(addr,
			    '<'))
				memmove(addr, v + 1, strlen(v + 1) + 1);
			addr[strcspn(addr, ";")] = '\0';
			if ((v = strchr(addr, '(')) != NULL && !strchr(addr,
			    '<'))
				*v = '\0';
			v = addr + strspn(addr, " \t");
			while (*v && isspace((unsigned char)v[strlen(v) - 1]))
				v[strlen(v) - 1] = '\0';
			if (*v && (rc = sm_rcpt(m, v)) != EX_OK_)
				return rc;
		}
	}
	return EX_OK_;
}

/* Hand the stream to posthorn-postdrop; its exit status is ours. */
static int
sm_postdrop(const struct buf *rec)
{
	char	 tool[PATH_MAX];
	int	 p[2], status;
	pid_t	 pid;

	tool_path(tool, sizeof(tool), "posthorn-postdrop");
	if (pipe(p) == -1)
		return EX_OSERR_;
	if ((pid = fork()) == -1)
		return EX_OSERR_;
	if (pid == 0) {
		close(p[1]);
		if (dup2(p[0], STDIN_FILENO) == -1)
			_exit(EX_OSERR_);
		close(p[0]);
		execl(tool, tool, "-c", confdir, (char *)NULL);
		fprintf(stderr, "sendmail: %s: %s\n", tool, strerror(errno));
		_exit(EX_UNAVAILABLE_);
	}
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	if (io_write_all(p[1], rec->data, rec->len) == -1) {
		close(p[1]);
		(void)waitpid(pid, &status, 0);
		fprintf(stderr, "sendmail: the message could not be handed "
		    "over\n");
		return EX_TEMPFAIL_;
	}
	close(p[1]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return EX_OSERR_;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE_;
}

/*
 * -bs: a small SMTP server on stdin and stdout for programs that speak
 * SMTP to a local sendmail; each message goes the way of the others.
 */
static int
sm_smtp(void)
{
	struct msg	 m;
	char		 line[SM_LINE], *arg;
	int		 have_mail = 0, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("220 %s ESMTP posthorn (sendmail -bs)\r\n", "localhost");
	memset(&m, 0, sizeof(m));
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		arg = line + strcspn(line, " ");
		arg += strspn(arg, " ");
		if (strncasecmp(line, "EHLO", 4) == 0) {
			printf("250-localhost\r\n250-8BITMIME\r\n250 "
			    "ENHANCEDSTATUSCODES\r\n");
		} else if (strncasecmp(line, "HELO", 4) == 0) {
			printf("250 localhost\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			struct mailbox	 mb;
			const char	*rest, *why;

			if (have_mail) {
				printf("503 5.5.1 Error: nested MAIL command"
				    "\r\n");
				continue;
			}
			if (addr_parse_path(line + 10, ADDR_ALLOW_NULL |
			    ADDR_ALLOW_NODOMAIN | ADDR_ALLOW_UTF8, &mb, &rest,
			    &why) == -1) {
				printf("501 5.1.7 Bad sender address syntax"
				    "\r\n");
				continue;
			}
			buf_free(&m.rec);
			memset(&m, 0, sizeof(m));
			buf_init(&m.rec, 0);
			buf_init(&m.hdr, 0);
			buf_init(&m.content, 0);
			record_putf(&m.rec, 'V', MD_VERSION, NULL);
			record_putf(&m.rec, 'S', mb.addr, NULL);
			have_mail = 1;
			printf("250 2.1.0 Ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			if (!have_mail) {
				printf("503 5.5.1 Error: need MAIL command"
				    "\r\n");
				continue;
			}
			if (sm_rcpt(&m, line + 8) != EX_OK_)
				printf("501 5.1.3 Bad recipient address syntax"
				    "\r\n");
			else
				printf("250 2.1.5 Ok\r\n");
		} else if (strcasecmp(line, "DATA") == 0) {
			if (!have_mail || m.nrcpt == 0) {
				printf("503 5.5.1 Error: need RCPT command"
				    "\r\n");
				continue;
			}
			printf("354 End data with <CR><LF>.<CR><LF>\r\n");
			rc = sm_read(stdin, &m, 1, 0, 1);
			if (rc == EX_OK_)
				rc = sm_postdrop(&m.rec);
			printf(rc == EX_OK_ ? "250 2.0.0 Ok: queued\r\n" :
			    rc == EX_DATAERR_ ? "552 5.3.4 Error: message "
			    "refused\r\n" : "451 4.3.0 Error: queue file write "
			    "error\r\n");
			have_mail = 0;
		} else if (strcasecmp(line, "RSET") == 0) {
			have_mail = 0;
			printf("250 2.0.0 Ok\r\n");
		} else if (strncasecmp(line, "NOOP", 4) == 0) {
			printf("250 2.0.0 Ok\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			printf("221 2.0.0 Bye\r\n");
			return EX_OK_;
		} else
			printf("502 5.5.2 Error: command not recognized\r\n");
	}
	return EX_OK_;
}

static int
sm_exec(const char *path, char *const argv[])
{
	execv(path, argv);
	fprintf(stderr, "sendmail: %s: %s\n", path, strerror(errno));
	return EX_UNAVAILABLE_;
}

static void
usage(void)
{
	fprintf(stderr, "usage: sendmail [-t] [-i] [-f sender] [-F name] "
	    "[-C confdir] [recipient ...]\n"
	    "       sendmail -bs | -bp | -bi | -q\n");
	exit(EX_USAGE_);
}
