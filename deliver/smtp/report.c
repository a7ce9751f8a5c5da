/*
 * report: what the relay agent tells tlspol (private/tlspol): an MTA-STS
 * policy it fetched, to be kept, and the outcome of each TLS session
 * held under a policy (DANE's TLSA records or MTA-STS), for the TLS
 * reports of RFC 8460.  Nothing comes back; a tlspol that is not there
 * costs a warning once and nothing else.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "proto.h"
#include "record.h"
#include "sock.h"
#include "smtp.h"
#include "tlsrpt.h"

static int	 tlspol_fd = -1;
static int	 tlspol_warned;

/* One record to tlspol, on a connection made at the first need. */
static void
report_send(const struct buf *b)
{
	struct timeval	 tv = { 2, 0 };
	int		 tries;

	for (tries = 0; tries < 2; tries++) {
		if (tlspol_fd == -1) {
			if ((tlspol_fd = sock_unix_connect(TLSPOL_SOCKET)) ==
			    -1) {
				if (!tlspol_warned++)
					log_warn("connect %s (no MTA-STS cache "
					    "and no TLS reports)",
					    TLSPOL_SOCKET);
				return;
			}
			(void)setsockopt(tlspol_fd, SOL_SOCKET, SO_SNDTIMEO,
			    &tv, sizeof(tv));
		}
		if (io_write_all(tlspol_fd, b->data, b->len) == 0)
			return;
		/* A restarted tlspol: once more on a new connection. */
		close(tlspol_fd);
		tlspol_fd = -1;
	}
}

void
report_policy(const char *domain, const char *id, const char *text)
{
	struct buf	 b;

	buf_init(&b, 0);
	if (record_putf(&b, PROTO_STS_PUT, domain, id, text, NULL) == 0)
		report_send(&b);
	buf_free(&b);
}

/* The TLSA records as a policy string: "usage selector type hex" lines. */
static void
report_tlsa(const struct smtp_dane *dn, struct buf *out)
{
	size_t	 i, k;

	for (i = 0; i < dn->n; i++) {
		buf_printf(out, "%s%u %u %u ", i ? "\n" : "",
		    dn->rr[i].usage, dn->rr[i].selector, dn->rr[i].mtype);
		for (k = 0; k < dn->rr[i].len; k++)
			buf_printf(out, "%02x", dn->rr[i].data[k]);
	}
}

/*
 * One session (or one host given up before it) under the job's current
 * policy: result is "success" or an RFC 8460 result type.
 */
void
report_session(const struct smtp_job *sj, const struct smtp_conn *c,
    const char *mx, const char *result, const char *info)
{
	struct sockaddr_storage ss;
	socklen_t	 len = sizeof(ss);
	struct buf	 pol, mxhost, b;
	char		 local[INET6_ADDRSTRLEN] = "";
	const char	*type;
	size_t		 i;

	if (!sj->conf->smtp_tls_report || sj->report == REPORT_NONE)
		return;
	if (c && c->fd != -1 && getsockname(c->fd, (struct sockaddr *)&ss,
	    &len) == 0)
		inet_ntop(ss.ss_family, ss.ss_family == AF_INET ?
		    (void *)&((struct sockaddr_in *)&ss)->sin_addr :
		    (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr, local,
		    sizeof(local));
	buf_init(&pol, 0);
	buf_init(&mxhost, 0);
	buf_init(&b, 0);
	if (sj->report == REPORT_TLSA) {
		type = "tlsa";
		report_tlsa(&sj->dane, &pol);
	} else {
		type = "sts";
		buf_appends(&pol, sj->sts.text ? sj->sts.text : "");
		for (i = 0; i < sj->sts.pol.nmx; i++)
			buf_printf(&mxhost, "%s%s", i ? "\n" : "",
			    sj->sts.pol.mx[i]);
	}
	if (buf_reserve(&pol, 1) == 0 && buf_reserve(&mxhost, 1) == 0) {
		pol.data[pol.len] = '\0';
		mxhost.data[mxhost.len] = '\0';
		if (record_putf(&b, PROTO_TLSRESULT, sj->report_domain, type,
		    pol.data, mxhost.data, result, local, mx ? mx : "",
		    c && c->ip[0] ? c->ip : "", info ? info : "", NULL) == 0)
			report_send(&b);
	}
	buf_free(&pol);
	buf_free(&mxhost);
	buf_free(&b);
}

/* The RFC 8460 result type of a failed certificate check. */
const char *
report_verify_result(const struct smtp_conn *c)
{
	switch (c->verify_error) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "certificate-host-mismatch";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate-expired";
	case X509_V_OK:
		return "validation-failure";
	default:
		return c->dane_used ? "validation-failure" :
		    "certificate-not-trusted";
	}
}
