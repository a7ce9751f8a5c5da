/*
 * client: one SMTP (RFC 5321) or LMTP (RFC 2033) conversation for a job:
 * EHLO (HELO when refused), STARTTLS when offered (smtp_tls_security_level
 * may) or required (encrypt), MAIL with the parameters the server
 * understands, one RCPT per recipient, DATA, and a result per recipient.
 * With PIPELINING, MAIL, every RCPT and DATA go in one write (RFC 2920).
 *
 * 8-bit content to a server without 8BITMIME is sent as it is, without
 * BODY=8BITMIME.  RFC 6152 section 3 asks for a conversion to 7 bits or a
 * bounce instead; we deviate on purpose (a conversion breaks signatures,
 * a bounce refuses mail nearly every server takes) and say so in smtp(8).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "base64.h"
#include "queuefile.h"
#include "smtp.h"

static void	 client_ext(const struct smtp_reply *, struct smtp_ext *);
static int	 client_hello(struct smtp_job *, struct smtp_conn *,
		    struct smtp_ext *, char *, size_t);
static void	 client_set(struct smtp_job *, size_t, const struct smtp_reply *,
		    const struct smtp_conn *, const char *);
static void	 client_all(struct smtp_job *, const int *, char, const char *,
		    const char *, const struct smtp_conn *);
static int	 client_content(struct smtp_job *, struct smtp_conn *);
static int	 client_bdat(struct smtp_job *, struct smtp_conn *, const int *,
		    int);
static int	 client_auth(struct smtp_job *, struct smtp_conn *,
		    const struct smtp_ext *, char *, size_t);

static const char *
client_helo_name(const struct conf *c)
{
	return c->smtp_helo_name[0] ? c->smtp_helo_name : c->myhostname;
}

int
client_deliver(struct smtp_job *sj, struct smtp_conn *c,
    struct smtp_ext *ext, char *why, size_t whylen, char *dsn)
{
	if (client_open(sj, c, ext, why, whylen, dsn) == -1)
		return -1;
	return client_send(sj, c, ext);
}

/* A TLS failure, for a REQUIRETLS message: its own code and words. */
static void
client_requiretls_fail(struct smtp_job *sj, char *why, size_t whylen,
    char *dsn, const char *code)
{
	char	 tmp[1024];

	if (!sj->requiretls)
		return;
	snprintf(tmp, sizeof(tmp), "REQUIRETLS: %s", why);
	strlcpy(why, tmp, whylen);
	strlcpy(dsn, code, 8);
	requiretls_fail(sj, why, dsn);
}

/* What the handshake gave, and under which policy (the logs' word). */
static void
client_log_tls(const struct smtp_job *sj, const struct smtp_conn *c)
{
	char		 pol[64];
	const char	*note = "";

	if (sj->report == REPORT_STS)
		snprintf(pol, sizeof(pol), "mta-sts %s",
		    mtasts_mode_name(sj->sts.pol.mode));
	else
		strlcpy(pol, conf_tls_level_name(sj->tls_level), sizeof(pol));
	if (c->verified[0]) {
		log_info("%s: Verified TLS connection established to %s: %s "
		    "with cipher %s (%s matched; policy %s)", sj->a->id,
		    c->name, SSL_get_version(c->ssl), SSL_get_cipher(c->ssl),
		    c->verified, pol);
		return;
	}
	if (sj->sts_check)
		note = ", the certificate did not pass";
	else if (sj->tls_level >= TLS_LEVEL_DANE && sj->report != REPORT_STS)
		note = sj->host_level == TLS_LEVEL_ENCRYPT ?
		    ", TLSA records unusable" : ", no DANE for this host";
	log_info("%s: Unverified TLS connection established to %s: %s with "
	    "cipher %s (policy %s%s%s%s)", sj->a->id, c->name,
	    SSL_get_version(c->ssl), SSL_get_cipher(c->ssl), pol, note,
	    sj->sts_check ? ": " : "", sj->sts_check ?
	    X509_verify_cert_error_string(c->verify_error) : "");
}

/*
 * A session ready for MAIL: the greeting, EHLO, STARTTLS and AUTH as the
 * destination's policy asks.  -1 (why, dsn set): try the next server.
 */
int
client_open(struct smtp_job *sj, struct smtp_conn *c, struct smtp_ext *extp,
    char *why, size_t whylen, char *dsn)
{
	const struct conf *cf = sj->conf;
	struct smtp_reply r;
	struct smtp_ext	 ext;

	c->timeout = cf->smtp_command_timeout;
	if (conn_reply(c, &r) == -1) {
		snprintf(why, whylen, "lost connection with %s while receiving "
		    "the initial server greeting", c->name);
		strlcpy(dsn, "4.4.2", 8);
		return -1;
	}
	if (r.code != 220) {
		snprintf(why, whylen, "host %s refused to talk to me: %s",
		    c->name, r.text);
		strlcpy(dsn, "4.4.0", 8);	/* another MX may take it */
		return -1;
	}
	if (client_hello(sj, c, &ext, why, whylen) == -1) {
		strlcpy(dsn, "4.4.0", 8);
		return -1;
	}
	sj->dsn = ext.dsn;
	if (ext.starttls && !c->ssl && !sj->no_tls && sj->tls &&
	    sj->host_level != TLS_LEVEL_NONE) {
		if (conn_printf(c, "STARTTLS\r\n") == -1 ||
		    conn_reply(c, &r) == -1) {
			snprintf(why, whylen, "lost connection with %s after "
			    "STARTTLS", c->name);
			strlcpy(dsn, "4.4.2", 8);
			return -1;
		}
		/*
		 * Bytes already after the 220 were sent in the clear, and
		 * would be read as if under TLS: someone is injecting.
		 */
		if (r.code == 220 && c->in.len > 0) {
			snprintf(why, whylen, "host %s sent data after its 220 "
			    "to STARTTLS (command injection?)", c->name);
			strlcpy(dsn, "4.7.5", 8);
			client_requiretls_fail(sj, why, whylen, dsn, "5.7.10");
			return -1;
		}
		if (r.code == 220) {
			if (conn_starttls(c, sj->tls, c->host, sj->host_level ==
			    TLS_LEVEL_VERIFY ? 1 : sj->sts_check ? VERIFY_CHECK :
			    0, &sj->dane, why, whylen) == -1) {
				report_session(sj, c, c->host, c->ssl ?
				    report_verify_result(c) :
				    "validation-failure", why);
				/* Only "may" falls back to plaintext. */
				sj->tls_failed = sj->host_level == TLS_LEVEL_MAY;
				strlcpy(dsn, "4.7.5", 8);
				client_requiretls_fail(sj, why, whylen, dsn,
				    "5.7.10");
				return -1;
			}
			report_session(sj, c, c->host, c->verified[0] ||
			    !sj->sts_check ? "success" :
			    report_verify_result(c), c->verified[0] ||
			    !sj->sts_check ? NULL : why);
			if (client_hello(sj, c, &ext, why, whylen) == -1) {
				strlcpy(dsn, "4.4.0", 8);
				return -1;
			}
			sj->dsn = ext.dsn;
			client_log_tls(sj, c);
		}
	}
	/* What VERIFY asks, whatever path led here: never less. */
	if (c->ssl && sj->host_level == TLS_LEVEL_VERIFY && !c->verified[0]) {
		snprintf(why, whylen, "server certificate of %s not verified",
		    c->name);
		strlcpy(dsn, "4.7.5", 8);
		client_requiretls_fail(sj, why, whylen, dsn, "5.7.10");
		return -1;
	}
	if (!c->ssl && !sj->no_tls)
		report_session(sj, c, c->host, "starttls-not-supported", NULL);
	if (!c->ssl && sj->host_level >= TLS_LEVEL_ENCRYPT) {
		snprintf(why, whylen, "TLS is required, but host %s did not "
		    "offer it", c->name);
		strlcpy(dsn, "4.7.4", 8);
		client_requiretls_fail(sj, why, whylen, dsn, "5.7.10");
		return -1;
	}
	if (sj->requiretls && c->ssl && !ext.requiretls) {
		snprintf(why, whylen, "REQUIRETLS support required, but host "
		    "%s does not offer it", c->name);
		strlcpy(dsn, "5.7.30", 8);
		requiretls_fail(sj, why, dsn);
		return -1;
	}
	if (sj->sasl_user && client_auth(sj, c, &ext, why, whylen) == -1) {
		strlcpy(dsn, "4.7.0", 8);
		return -1;
	}
	*extp = ext;
	return 0;
}

/*
 * One transaction on an open session: a final word for every recipient
 * of the job.  1: the session is still in step (it may carry the next
 * message, after RSET); 0: it is lost or the server is closing it.
 */
int
client_send(struct smtp_job *sj, struct smtp_conn *c,
    const struct smtp_ext *extp)
{
	const struct conf *cf = sj->conf;
	struct agent_job *a = sj->a;
	struct smtp_ext	 ext = *extp;
	struct smtp_reply r;
	struct buf	 cmd;
	char		 val[256], body[32];
	int		*ok = NULL, naccepted = 0, pipelined, mail_ok, bdat;
	int		 binary;
	size_t		 i;

	sj->dsn = ext.dsn;
	c->timeout = cf->smtp_command_timeout;
	c->closing = 0;
	if ((ok = calloc(a->n + 1, sizeof(int))) == NULL) {
		client_all(sj, NULL, 'T', "4.3.0", "out of memory", c);
		return 0;
	}
	/* What this server cannot take at all. */
	if (ext.size > 0 && sj->size > ext.size) {
		snprintf(val, sizeof(val), "message size %ld exceeds size "
		    "limit %ld of server %.40s", sj->size, ext.size, c->name);
		client_all(sj, NULL, 'P', "5.3.4", val, c);
		goto quit;
	}
	if (qf_param(a->params, "SMTPUTF8", NULL, 0) && !ext.smtputf8) {
		client_all(sj, NULL, 'P', "5.6.7", "SMTPUTF8 is required, but "
		    "was not offered by the host", c);
		goto quit;
	}
	body[0] = '\0';
	qf_param(a->params, "BODY", body, sizeof(body));
	binary = strcasecmp(body, "BINARYMIME") == 0;
	if (binary && !(ext.chunking && ext.binarymime)) {
		client_all(sj, NULL, 'P', "5.6.3", "BINARYMIME content, and "
		    "the host does not take binary content by BDAT", c);
		goto quit;
	}
	/* RFC 3030: BDAT whenever it is offered (no dot-stuffing, no scan). */
	bdat = ext.chunking;

	buf_init(&cmd, 0);
	buf_printf(&cmd, "MAIL FROM:<%s>", a->sender);
	if (ext.has_size)
		buf_printf(&cmd, " SIZE=%ld", sj->size);
	if (strcasecmp(body, "8BITMIME") == 0 && ext.eightbit)
		buf_printf(&cmd, " BODY=8BITMIME");
	else if (binary)
		buf_printf(&cmd, " BODY=BINARYMIME");
	if (qf_param(a->params, "SMTPUTF8", NULL, 0))
		buf_printf(&cmd, " SMTPUTF8");
	/* Only where offered (not to LMTP over a socket, nor by ODMR). */
	if (sj->requiretls && ext.requiretls)
		buf_printf(&cmd, " REQUIRETLS");
	if (ext.dsn) {
		if (qf_param(a->params, "RET", val, sizeof(val)))
			buf_printf(&cmd, " RET=%s", val);
		if (qf_param(a->params, "ENVID", val, sizeof(val)))
			buf_printf(&cmd, " ENVID=%s", val);
	}
	buf_appends(&cmd, "\r\n");
	pipelined = ext.pipelining;
	if (!pipelined) {
		if (conn_write(c, cmd.data, cmd.len) == -1)
			goto lost;
		buf_reset(&cmd);
	}
	for (i = 0; i < a->n; i++) {
		buf_printf(&cmd, "RCPT TO:<%s>", a->rcpt[i]);
		if (ext.dsn) {
			if (qf_param(a->rparams[i], "NOTIFY", val, sizeof(val)))
				buf_printf(&cmd, " NOTIFY=%s", val);
			if (qf_param(a->rparams[i], "ORCPT", val, sizeof(val)))
				buf_printf(&cmd, " ORCPT=%s", val);
		}
		buf_appends(&cmd, "\r\n");
	}
	if (!bdat)
		buf_appends(&cmd, "DATA\r\n");
	if (pipelined && conn_write(c, cmd.data, cmd.len) == -1)
		goto lost;

	/* MAIL */
	if (conn_reply(c, &r) == -1)
		goto lost;
	mail_ok = r.code / 100 == 2;
	if (!mail_ok) {
		for (i = 0; i < a->n; i++)
			client_set(sj, i, &r, c, "MAIL FROM");
		if (pipelined)	/* the RCPT and DATA replies still come */
			for (i = 0; i < a->n + (bdat ? 0 : 1); i++)
				if (conn_reply(c, &r) == -1)
					break;
		buf_free(&cmd);
		goto quit;
	}
	/* RCPT, one by one */
	{
		const char *p = cmd.data, *nl;

		for (i = 0; i < a->n; i++) {
			if (!pipelined) {
				nl = strstr(p, "\r\n") + 2;
				if (conn_write(c, p, (size_t)(nl - p)) == -1)
					goto lost_cmd;
				p = nl;
			}
			if (conn_reply(c, &r) == -1)
				goto lost_cmd;
			if (r.code / 100 == 2) {
				ok[i] = 1;
				naccepted++;
			} else
				client_set(sj, i, &r, c, "RCPT TO");
		}
		if (!pipelined && naccepted > 0 && !bdat &&
		    conn_write(c, "DATA\r\n", 6) == -1)
			goto lost_cmd;
	}
	buf_free(&cmd);
	if (naccepted == 0 && (!pipelined || bdat))
		goto quit;
	if (bdat) {
		if (client_bdat(sj, c, ok, binary) == -1) {
			snprintf(val, sizeof(val), "lost connection with %.40s "
			    "while sending the message by BDAT -- message may "
			    "be sent more than once", c->name);
			client_all(sj, ok, 'T', "4.4.2", val, c);
			goto out;
		}
		goto quit;
	}
	/* DATA */
	c->timeout = cf->smtp_data_timeout;
	if (conn_reply(c, &r) == -1)
		goto lost;
	if (r.code != 354) {
		if (naccepted > 0)
			for (i = 0; i < a->n; i++)
				if (ok[i])
					client_set(sj, i, &r, c, "DATA");
		goto quit;
	}
	if (naccepted == 0) {
		/* A pipelined DATA was taken though no RCPT was: end it empty. */
		if (conn_write(c, ".\r\n", 3) == 0)
			(void)conn_reply(c, &r);
		goto quit;
	}
	if (client_content(sj, c) == -1) {
		snprintf(val, sizeof(val), "lost connection with %.40s while "
		    "sending message body", c->name);
		client_all(sj, ok, 'T', "4.4.2", val, c);
		goto out;
	}
	c->timeout = cf->smtp_data_done_timeout;
	/* SMTP: one reply for all; LMTP: one per accepted recipient. */
	for (i = 0; i < a->n; i++) {
		if (!ok[i])
			continue;
		if ((sj->lmtp || r.code == 354) && conn_reply(c, &r) == -1) {
			snprintf(val, sizeof(val), "lost connection with %.40s "
			    "while sending end of data -- message may be sent "
			    "more than once", c->name);
			client_all(sj, ok, 'T', "4.4.2", val, c);
			goto out;
		}
		client_set(sj, i, &r, c, "end of DATA");
	}
quit:
	free(ok);
	return !c->closing;
out:
	free(ok);
	return 0;
lost_cmd:
	buf_free(&cmd);
lost:
	snprintf(val, sizeof(val), "lost connection with %.40s while "
	    "sending the envelope", c->name);
	client_all(sj, NULL, 'T', "4.4.2", val, c);
	free(ok);
	return 0;
}

/* Before a session carries another message: is it there, and clean? */
int
client_reset(struct smtp_conn *c, long timeout)
{
	struct smtp_reply r;

	c->timeout = timeout;
	if (conn_printf(c, "RSET\r\n") == -1 || conn_reply(c, &r) == -1)
		return -1;
	return r.code == 250 ? 0 : -1;
}

void
client_quit(struct smtp_conn *c)
{
	struct smtp_reply r;

	c->timeout = 10;
	if (!c->closing && conn_printf(c, "QUIT\r\n") == 0)
		(void)conn_reply(c, &r);
}

/* EHLO (LHLO), or HELO when EHLO is refused; the extensions offered. */
static int
client_hello(struct smtp_job *sj, struct smtp_conn *c, struct smtp_ext *ext,
    char *why, size_t whylen)
{
	struct smtp_reply r;
	const char	*helo = client_helo_name(sj->conf);

	memset(ext, 0, sizeof(*ext));
	if (conn_printf(c, "%s %s\r\n", sj->lmtp ? "LHLO" : "EHLO", helo) ==
	    -1 || conn_reply(c, &r) == -1) {
		snprintf(why, whylen, "lost connection with %s while "
		    "performing the %s handshake", c->name,
		    sj->lmtp ? "LHLO" : "EHLO");
		return -1;
	}
	if (r.code == 250) {
		ext->esmtp = 1;
		client_ext(&r, ext);
		return 0;
	}
	if (sj->lmtp || r.code / 100 != 5 ||
	    conn_printf(c, "HELO %s\r\n", helo) == -1 ||
	    conn_reply(c, &r) == -1 || r.code != 250) {
		snprintf(why, whylen, "host %s refused to talk to me: %s",
		    c->name, r.text);
		return -1;
	}
	return 0;
}

static void
client_ext(const struct smtp_reply *r, struct smtp_ext *ext)
{
	const char	*p = strchr(r->lines, '\n'), *nl;
	char		 kw[64];
	size_t		 n;

	for (; p && *++p; p = nl) {
		nl = strchr(p, '\n');
		n = strcspn(p, " \n");
		snprintf(kw, sizeof(kw), "%.*s", (int)(n < 63 ? n : 63), p);
		if (strcasecmp(kw, "PIPELINING") == 0)
			ext->pipelining = 1;
		else if (strcasecmp(kw, "8BITMIME") == 0)
			ext->eightbit = 1;
		else if (strcasecmp(kw, "SMTPUTF8") == 0)
			ext->smtputf8 = 1;
		else if (strcasecmp(kw, "DSN") == 0)
			ext->dsn = 1;
		else if (strcasecmp(kw, "CHUNKING") == 0)
			ext->chunking = 1;
		else if (strcasecmp(kw, "BINARYMIME") == 0)
			ext->binarymime = 1;
		else if (strcasecmp(kw, "STARTTLS") == 0)
			ext->starttls = 1;
		else if (strcasecmp(kw, "REQUIRETLS") == 0)
			ext->requiretls = 1;
		else if (strcasecmp(kw, "ENHANCEDSTATUSCODES") == 0)
			ext->enhanced = 1;
		else if (strcasecmp(kw, "AUTH") == 0 ||
		    strncasecmp(kw, "AUTH=", 5) == 0) {
			char	 mechs[512];
			size_t	 ml = nl ? (size_t)(nl - p) : strlen(p);

			snprintf(mechs, sizeof(mechs), " %.*s ",
			    (int)(ml < 500 ? ml : 500), p + 4 + (kw[4] == '='));
			for (char *m = mechs; *m; m++)
				*m = (char)toupper((unsigned char)*m);
			if (strstr(mechs, " PLAIN "))
				ext->auth_plain = 1;
			if (strstr(mechs, " LOGIN "))
				ext->auth_login = 1;
		} else if (strcasecmp(kw, "SIZE") == 0) {
			ext->has_size = 1;
			if (p[n] == ' ')
				ext->size = strtol(p + n + 1, NULL, 10);
		}
		if (nl == NULL)
			break;
	}
}

/*
 * Client AUTH (RFC 4954) with the credentials smtp_sasl_password_map has
 * for this next hop: only over TLS, PLAIN if offered, else LOGIN.
 */
static int
client_auth(struct smtp_job *sj, struct smtp_conn *c,
    const struct smtp_ext *ext, char *why, size_t whylen)
{
	struct smtp_reply r;
	unsigned char	 plain[1024];
	char		 b64[1500];
	size_t		 ul = strlen(sj->sasl_user), pl = strlen(sj->sasl_pass);
	int		 rc = -1;

	if (c->ssl == NULL) {
		snprintf(why, whylen, "not sending a password to %s without "
		    "TLS", c->name);
		return -1;
	}
	if (!ext->auth_plain && !ext->auth_login) {
		snprintf(why, whylen, "%s offers no AUTH PLAIN or LOGIN",
		    c->name);
		return -1;
	}
	if (ul + pl + 2 > sizeof(plain)) {
		snprintf(why, whylen, "smtp_sasl_password_map: credentials too "
		    "long");
		return -1;
	}
	if (ext->auth_plain) {
		plain[0] = '\0';
		memcpy(plain + 1, sj->sasl_user, ul);
		plain[ul + 1] = '\0';
		memcpy(plain + ul + 2, sj->sasl_pass, pl);
		if (base64_encode(plain, ul + pl + 2, b64, sizeof(b64)) == 0 &&
		    conn_printf(c, "AUTH PLAIN %s\r\n", b64) == 0 &&
		    conn_reply(c, &r) == 0)
			rc = r.code == 235 ? 0 : 1;
	} else {
		if (base64_encode((unsigned char *)sj->sasl_user, ul, b64,
		    sizeof(b64)) == 0 && conn_printf(c, "AUTH LOGIN %s\r\n",
		    b64) == 0 && conn_reply(c, &r) == 0 && r.code == 334 &&
		    base64_encode((unsigned char *)sj->sasl_pass, pl, b64,
		    sizeof(b64)) == 0 && conn_printf(c, "%s\r\n", b64) == 0 &&
		    conn_reply(c, &r) == 0)
			rc = r.code == 235 ? 0 : 1;
	}
	explicit_bzero(plain, sizeof(plain));
	explicit_bzero(b64, sizeof(b64));
	if (rc == -1)
		snprintf(why, whylen, "lost connection with %s during AUTH",
		    c->name);
	else if (rc == 1)
		snprintf(why, whylen, "SASL authentication failed; server %s "
		    "said: %s", c->name, r.text);
	return rc == 0 ? 0 : -1;
}

/* A server's reply as a recipient's result. */
static void
client_set(struct smtp_job *sj, size_t i, const struct smtp_reply *r,
    const struct smtp_conn *c, const char *stage)
{
	struct smtp_result *res = &sj->res[i];

	/* Delivered: final by LMTP; relayed by SMTP, with or without DSN. */
	res->code = r->code / 100 == 5 ? 'P' : r->code / 100 != 2 ? 'T' :
	    sj->lmtp ? 'D' : sj->dsn ? 'A' : 'R';
	strlcpy(res->status, r->dsn, sizeof(res->status));
	if (res->code != 'P' && res->code != 'T')
		snprintf(res->text, sizeof(res->text), "%s", r->text);
	else
		snprintf(res->text, sizeof(res->text), "host %.200s said: %.900s "
		    "(in reply to %s command)", c->name, r->text, stage);
	strlcpy(res->relay, c->name, sizeof(res->relay));
}

/* Every recipient (or those in only) that has no word yet. */
static void
client_all(struct smtp_job *sj, const int *only, char code, const char *dsn,
    const char *text, const struct smtp_conn *c)
{
	size_t	 i;

	for (i = 0; i < sj->a->n; i++) {
		if ((only && !only[i]) || sj->res[i].code != 0)
			continue;
		sj->res[i].code = code;
		strlcpy(sj->res[i].status, dsn, sizeof(sj->res[i].status));
		if (text)
			strlcpy(sj->res[i].text, text,
			    sizeof(sj->res[i].text));
		strlcpy(sj->res[i].relay, c->name, sizeof(sj->res[i].relay));
	}
}

/*
 * The message in BDAT chunks (RFC 3030): as stored, LF made CRLF (binary
 * content is stored with its CRLF already), then "BDAT 0 LAST".  Each
 * chunk's reply is awaited; a refusal is every recipient's answer.
 */
static int
client_bdat(struct smtp_job *sj, struct smtp_conn *c, const int *ok,
    int binary)
{
	char		 chunk[QF_CHUNK];
	struct buf	 out;
	struct smtp_reply r;
	off_t		 off = sj->a->content_off;
	ssize_t		 n, k;
	size_t		 i;
	int		 rc = 0;

	buf_init(&out, 0);
	c->timeout = sj->conf->smtp_data_timeout;
	while ((n = qf_read_content(sj->a->qfd, &off, chunk, sizeof(chunk))) >
	    0) {
		buf_reset(&out);
		for (k = 0; k < n; k++) {
			if (!binary && chunk[k] == '\n')
				buf_appendc(&out, '\r');
			buf_appendc(&out, chunk[k]);
		}
		if (conn_printf(c, "BDAT %zu\r\n", out.len) == -1 ||
		    conn_write(c, out.data, out.len) == -1 ||
		    conn_reply(c, &r) == -1) {
			rc = -1;
			break;
		}
		if (r.code / 100 != 2) {
			for (i = 0; i < sj->a->n; i++)
				if (ok[i])
					client_set(sj, i, &r, c, "BDAT");
			buf_free(&out);
			return 0;
		}
	}
	buf_free(&out);
	if (rc == -1 || n < 0 || conn_printf(c, "BDAT 0 LAST\r\n") == -1)
		return -1;
	c->timeout = sj->conf->smtp_data_done_timeout;
	/* SMTP: one reply for all; LMTP: one per accepted recipient. */
	r.code = 0;
	for (i = 0; i < sj->a->n; i++) {
		if (!ok[i])
			continue;
		if ((sj->lmtp || r.code == 0) && conn_reply(c, &r) == -1)
			return -1;
		client_set(sj, i, &r, c, "BDAT LAST");
	}
	return 0;
}

/*
 * The message from the queue file: stored with LF line ends, sent with
 * CRLF, a leading dot doubled (RFC 5321 4.5.2), ended by CRLF.CRLF.
 */
static int
client_content(struct smtp_job *sj, struct smtp_conn *c)
{
	char		 chunk[QF_CHUNK];
	struct buf	 out;
	off_t		 off = sj->a->content_off;
	ssize_t		 n, k;
	int		 bol = 1, rc = 0;

	buf_init(&out, 0);
	while ((n = qf_read_content(sj->a->qfd, &off, chunk, sizeof(chunk))) >
	    0) {
		buf_reset(&out);
		for (k = 0; k < n; k++) {
			if (bol && chunk[k] == '.')
				buf_appendc(&out, '.');
			if (chunk[k] == '\n')
				buf_appendc(&out, '\r');
			buf_appendc(&out, chunk[k]);
			bol = chunk[k] == '\n';
		}
		if (conn_write(c, out.data, out.len) == -1) {
			rc = -1;
			break;
		}
	}
	if (n < 0)
		rc = -1;
	if (rc == 0 && ((!bol && conn_write(c, "\r\n", 2) == -1) ||
	    conn_write(c, ".\r\n", 3) == -1))
		rc = -1;
	buf_free(&out);
	return rc;
}
