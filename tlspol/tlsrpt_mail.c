/*
 * tlsrpt_mail: posthorn-tlsrpt -m, a report to where its domain asks
 * (RFC 8460 3 and 5.3): the TXT record at _smtp._tls.DOMAIN,
 * "v=TLSRPTv1; rua=mailto:...,https://...", names the addresses; each
 * mailto: one gets a multipart/report (report-type=tlsrpt) with the
 * report as an application/tlsrpt+gzip attachment, handed to sendmail.
 * https: addresses are left out (logged).  The gzip is made of stored
 * deflate blocks (RFC 1951 3.2.4) with its CRC-32: valid for any gzip
 * reader, with no compression library beyond what posthorn already has.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/nameser.h>

#include <fcntl.h>
#include <netdb.h>
#include <resolv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "base64.h"
#include "buf.h"
#include "conf.h"
#include "resolver.h"
#include "sock.h"
#include "tlsrpt_mail.h"
#include "tool.h"

#define RUA_MAX		8	/* report addresses taken per domain */

static uint32_t
crc32_of(const unsigned char *p, size_t n)
{
	static uint32_t	 table[256];
	uint32_t	 c = 0xffffffffU, k;
	size_t		 i;
	int		 j;

	if (table[1] == 0)
		for (i = 0; i < 256; i++) {
			for (k = (uint32_t)i, j = 0; j < 8; j++)
				k = k & 1 ? 0xedb88320U ^ (k >> 1) : k >> 1;
			table[i] = k;
		}
	for (i = 0; i < n; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffU;
}

static void
put32le(struct buf *b, uint32_t v)
{
	unsigned char	 x[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff,
	    (v >> 24) & 0xff };

	buf_append(b, x, 4);
}

/* data as a gzip file of stored blocks. */
int
tlsrpt_gzip(const char *data, size_t len, struct buf *out)
{
	static const unsigned char head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0,
	    0, 0xff };
	unsigned char	 bh[5];
	size_t		 off = 0, n;

	buf_reset(out);
	if (buf_append(out, head, sizeof(head)) == -1)
		return -1;
	do {
		n = len - off > 65535 ? 65535 : len - off;
		bh[0] = off + n == len;		/* BFINAL, BTYPE 00 */
		bh[1] = n & 0xff;
		bh[2] = (n >> 8) & 0xff;
		bh[3] = ~n & 0xff;
		bh[4] = (~n >> 8) & 0xff;
		if (buf_append(out, bh, 5) == -1 ||
		    buf_append(out, data + off, n) == -1)
			return -1;
		off += n;
	} while (off < len);
	put32le(out, crc32_of((const unsigned char *)data, len));
	put32le(out, (uint32_t)len);
	return 0;
}

/*
 * A mailto: URI's address (RFC 6068): up to a '?', nothing escaped,
 * nothing that could be a header or an option; 0 when it is usable.
 */
static int
tlsrpt_mailto(char *addr)
{
	char	*p;

	addr[strcspn(addr, "?")] = '\0';
	if (*addr == '\0' || *addr == '-' || (p = strchr(addr, '@')) == NULL ||
	    p == addr || p[1] == '\0' || strchr(p + 1, '@') != NULL)
		return -1;
	for (p = addr; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e ||
		    strchr("%<>\"\\;,()[]:", *p) != NULL)
			return -1;
	return 0;
}

/*
 * The mailto: addresses of the domain's TLSRPT record (RFC 8460 3: one
 * "v=TLSRPTv1" record, its "rua" field, comma-separated URIs); 0 when
 * there is no such record (or more than one), -1 when the lookup failed.
 */
static int
tlsrpt_rua(const char *domain, char rua[][256], int max)
{
	unsigned char	 ans[NS_PACKETSZ * 4];
	char		 name[NS_MAXDNAME], txt[1024], one[1024], *p, *tok;
	char		*save, *e, *field, *fsave;
	ns_msg		 msg;
	ns_rr		 rr;
	int		 n, i, records = 0, count = 0;

	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	if ((n = res_query(name, ns_c_in, ns_t_txt, ans, sizeof(ans))) < 0)
		return h_errno == NO_DATA || h_errno == HOST_NOT_FOUND ? 0 : -1;
	if (ns_initparse(ans, n, &msg) != 0)
		return -1;
	one[0] = '\0';
	for (i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 ||
		    ns_rr_type(rr) != ns_t_txt)
			continue;
		resolver_txt(ns_rr_rdata(rr), ns_rr_rdlen(rr), txt,
		    sizeof(txt));
		p = txt + strspn(txt, " \t");
		if (strncmp(p, "v=TLSRPTv1", 10) != 0 || (p[10] != ';' &&
		    p[10] != ' ' && p[10] != '\t' && p[10] != '\0'))
			continue;
		records++;
		strlcpy(one, txt, sizeof(one));
	}
	if (records != 1)
		return 0;
	for (field = strtok_r(one, ";", &fsave); field;
	    field = strtok_r(NULL, ";", &fsave)) {
		field += strspn(field, " \t");
		if (strncmp(field, "rua", 3) != 0)
			continue;
		p = field + 3 + strspn(field + 3, " \t");
		if (*p++ != '=')
			continue;
		for (tok = strtok_r(p, ",", &save); tok && count < max;
		    tok = strtok_r(NULL, ",", &save)) {
			tok += strspn(tok, " \t");
			e = tok + strlen(tok);
			while (e > tok && (e[-1] == ' ' || e[-1] == '\t'))
				*--e = '\0';
			if (strncasecmp(tok, "mailto:", 7) != 0) {
				fprintf(stderr, "posthorn-tlsrpt: %s: %s left "
				    "out (only mailto: is sent)\n", domain, tok);
				continue;
			}
			tok += 7;
			if (tlsrpt_mailto(tok) == -1) {
				fprintf(stderr, "posthorn-tlsrpt: %s: a mailto: "
				    "address that is not plain left out\n",
				    domain);
				continue;
			}
			strlcpy(rua[count++], tok, 256);
		}
	}
	return count;
}

/* The message on sendmail's standard input; 0 when sendmail took it. */
static int
tlsrpt_sendmail(const char *confdir, const char *from, const char *to,
    const struct buf *msg)
{
	char	 path[1024];
	int	 fds[2], status;
	pid_t	 pid;

	tool_path(path, sizeof(path), "sendmail");
	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		(void)signal(SIGPIPE, SIG_DFL);
		dup2(fds[0], 0);
		execl(path, "sendmail", "-i", "-C", confdir, "-f", from, "--",
		    to, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	(void)io_write_all(fds[1], msg->data, msg->len);
	close(fds[1]);
	if (waitpid(pid, &status, 0) == -1)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int
tlsrpt_mail(const struct conf *c, const char *confdir, const char *domain,
    const char *file, const char *id, const struct buf *json)
{
	char		 rua[RUA_MAX][256], date[64], from[300], *b64;
	struct buf	 gz, msg;
	struct tm	 tm;
	time_t		 now = time(NULL);
	size_t		 k, b64len;
	int		 n, i, sent = 0;

	if ((n = tlsrpt_rua(domain, rua, RUA_MAX)) <= 0) {
		if (n == -1)
			fprintf(stderr, "posthorn-tlsrpt: %s: TXT lookup of "
			    "_smtp._tls failed; not sent\n", domain);
		return n;
	}
	buf_init(&gz, 0);
	buf_init(&msg, 0);
	if (tlsrpt_gzip(json->data, json->len, &gz) == -1 ||
	    (b64 = malloc((gz.len + 2) / 3 * 4 + 1)) == NULL) {
		buf_free(&gz);
		return -1;
	}
	base64_encode((const unsigned char *)gz.data, gz.len, b64,
	    (gz.len + 2) / 3 * 4 + 1);
	b64len = strlen(b64);
	snprintf(from, sizeof(from), "postmaster@%s", c->myhostname);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	for (i = 0; i < n; i++) {
		buf_reset(&msg);
		buf_printf(&msg, "From: <%s>\nTo: <%s>\nDate: %s\n"
		    "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\n"
		    "TLS-Report-Domain: %s\nTLS-Report-Submitter: %s\n"
		    "Message-ID: <tlsrpt.%lld.%d.%s@%s>\nMIME-Version: 1.0\n"
		    "Content-Type: multipart/report; report-type=\"tlsrpt\"; "
		    "boundary=\"tlsrpt-%lld\"\n\n"
		    "--tlsrpt-%lld\nContent-Type: text/plain; charset=us-ascii\n\n"
		    "This is an aggregate TLS report (RFC 8460) from %s for %s.\n\n"
		    "--tlsrpt-%lld\nContent-Type: application/tlsrpt+gzip\n"
		    "Content-Transfer-Encoding: base64\n"
		    "Content-Disposition: attachment; filename=\"%s.gz\"\n\n",
		    from, rua[i], date, domain, c->myhostname, id, domain,
		    c->myhostname, (long long)now, i, domain, c->myhostname,
		    (long long)now, (long long)now, c->myhostname, domain,
		    (long long)now, file);
		for (k = 0; k < b64len; k += 76)
			buf_printf(&msg, "%.76s\n", b64 + k);
		buf_printf(&msg, "\n--tlsrpt-%lld--\n", (long long)now);
		if (tlsrpt_sendmail(confdir, from, rua[i], &msg) == -1)
			fprintf(stderr, "posthorn-tlsrpt: %s: the report to %s "
			    "was not handed to sendmail\n", domain, rua[i]);
		else {
			printf("%s: report sent to %s\n", domain, rua[i]);
			sent++;
		}
	}
	free(b64);
	buf_free(&gz);
	buf_free(&msg);
	return sent == n ? n : -1;
}
