/*
 * params: the ESMTP parameters of MAIL and RCPT (RFC 5321 4.1.2
 * esmtp-param).  Each offered one is checked here, once per command:
 * SIZE (RFC 1870), BODY (RFC 6152, 3030), SMTPUTF8 (RFC 6531), and the
 * DSN parameters RET, ENVID, NOTIFY, ORCPT (RFC 3461), which go into the
 * queue file in a normalised form for the bounce generator, and AUTH=
 * (RFC 4954 5), accepted when AUTH is offered and then ignored, and
 * REQUIRETLS (RFC 8689), under TLS only, kept with the message.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bsd/string.h>

#include "smtpd.h"

static int	 params_xtext(const char *, int utf8);
static int	 params_next(char **, char **, char **);
static int	 params_need_ehlo(struct session *, const char *);
static int	 params_once(struct session *, int *, int, const char *);

/* -1 after replying; 0 with mp filled. */
int
params_mail(struct session *s, char *p, struct mail_params *mp)
{
	struct conf	*c = s->sd->conf;
	char		*name, *val, *end;
	long		 size;
	int		 seen = 0, bit;

	memset(mp, 0, sizeof(*mp));
	mp->body = BODY_7BIT;
	while (params_next(&p, &name, &val) == 1) {
		if (params_need_ehlo(s, name) == -1)
			return -1;
		if (strcasecmp(name, "SIZE") == 0 && val) {
			bit = 1;
			size = strtol(val, &end, 10);
			if (val[0] == '\0' || val[strspn(val, "0123456789")]) {
				session_reply(s, "501 5.5.4 Bad SIZE parameter");
				return -1;
			}
			/* More digits than a long holds is over any limit. */
			if (strlen(val) > 18 || size > c->message_size_limit) {
				session_reply(s, "552 5.3.4 Message size "
				    "exceeds fixed limit");
				return -1;
			}
			mp->size = size;
		} else if (strcasecmp(name, "BODY") == 0 && val) {
			bit = 2;
			if (strcasecmp(val, "7BIT") == 0)
				mp->body = BODY_7BIT;
			else if (strcasecmp(val, "8BITMIME") == 0)
				mp->body = BODY_8BITMIME;
			else if (strcasecmp(val, "BINARYMIME") == 0)
				mp->body = BODY_BINARYMIME;
			else {
				session_reply(s, "501 5.5.4 Unsupported BODY "
				    "type: %.32s", val);
				return -1;
			}
		} else if (strcasecmp(name, "SMTPUTF8") == 0 && !val &&
		    c->smtputf8_enable) {
			bit = 4;
			mp->smtputf8 = 1;
		} else if (strcasecmp(name, "RET") == 0 && val) {
			bit = 8;
			if (strcasecmp(val, "FULL") == 0)
				mp->ret = RET_FULL;
			else if (strcasecmp(val, "HDRS") == 0)
				mp->ret = RET_HDRS;
			else {
				session_reply(s, "501 5.5.4 Bad RET parameter "
				    "(FULL or HDRS)");
				return -1;
			}
		} else if (strcasecmp(name, "ENVID") == 0 && val) {
			bit = 16;
			/* RFC 3461 4.4: at most 100 characters of xtext. */
			if (strlen(val) > 100 || !params_xtext(val, 0)) {
				session_reply(s, "501 5.5.4 Bad ENVID parameter");
				return -1;
			}
			strlcpy(mp->envid, val, sizeof(mp->envid));
		} else if (strcasecmp(name, "REQUIRETLS") == 0 && !val &&
		    s->tls_state == TLS_ON && c->smtpd_requiretls) {
			/* Offered only under TLS; elsewhere unknown (555). */
			bit = 64;
			mp->requiretls = 1;
		} else if (strcasecmp(name, "AUTH") == 0 && val &&
		    auth_available(s)) {
			/*
			 * RFC 4954 5: the identity a relaying client claims for
			 * the submitter.  Accepted and not passed on: we do not
			 * trust other MTAs' claims (RFC 4954 5 allows this).
			 */
			bit = 32;
			if (strcmp(val, "<>") != 0 && !params_xtext(val, 0)) {
				session_reply(s, "501 5.5.4 Bad AUTH parameter");
				return -1;
			}
		} else {
			session_reply(s, "555 5.5.4 Unsupported option: %.64s",
			    name);
			return -1;
		}
		if (params_once(s, &seen, bit, name) == -1)
			return -1;
	}
	return 0;
}

int
params_rcpt(struct session *s, char *p, struct rcpt_params *rp)
{
	char	*name, *val, *semi, *tok, *save;
	int	 seen = 0, bit, n;

	memset(rp, 0, sizeof(*rp));
	while (params_next(&p, &name, &val) == 1) {
		if (params_need_ehlo(s, name) == -1)
			return -1;
		if (strcasecmp(name, "NOTIFY") == 0 && val) {
			bit = 1;
			if (*val == '\0' || strstr(val, ",,") || *val == ',' ||
			    val[strlen(val) - 1] == ',') {
				session_reply(s, "501 5.5.4 Bad NOTIFY parameter");
				return -1;
			}
			for (tok = strtok_r(val, ",", &save); tok;
			    tok = strtok_r(NULL, ",", &save)) {
				if (strcasecmp(tok, "NEVER") == 0)
					n = NOTIFY_NEVER;
				else if (strcasecmp(tok, "SUCCESS") == 0)
					n = NOTIFY_SUCCESS;
				else if (strcasecmp(tok, "FAILURE") == 0)
					n = NOTIFY_FAILURE;
				else if (strcasecmp(tok, "DELAY") == 0)
					n = NOTIFY_DELAY;
				else
					n = 0;
				if (n == 0 || (rp->notify & n)) {
					session_reply(s, "501 5.5.4 Bad NOTIFY "
					    "parameter");
					return -1;
				}
				rp->notify |= n;
			}
			/* NEVER stands alone (RFC 3461 4.1). */
			if (rp->notify == 0 || ((rp->notify & NOTIFY_NEVER) &&
			    rp->notify != NOTIFY_NEVER)) {
				session_reply(s, "501 5.5.4 Bad NOTIFY "
				    "parameter: NEVER stands alone");
				return -1;
			}
		} else if (strcasecmp(name, "ORCPT") == 0 && val) {
			bit = 2;
			if ((semi = strchr(val, ';')) == NULL ||
			    strlen(val) > 500) {
				session_reply(s, "501 5.5.4 Bad ORCPT parameter");
				return -1;
			}
			*semi = '\0';
			if ((strcasecmp(val, "rfc822") != 0 &&
			    (strcasecmp(val, "utf-8") != 0 ||
			    !s->mparams.smtputf8)) || semi[1] == '\0' ||
			    !params_xtext(semi + 1,
			    strcasecmp(val, "utf-8") == 0)) {
				session_reply(s, "501 5.5.4 Bad ORCPT parameter");
				return -1;
			}
			snprintf(rp->orcpt, sizeof(rp->orcpt), "%s;%s", val,
			    semi + 1);
		} else {
			session_reply(s, "555 5.5.4 Unsupported option: %.64s",
			    name);
			return -1;
		}
		if (params_once(s, &seen, bit, name) == -1)
			return -1;
	}
	return 0;
}

/* The normalised forms stored in the queue file. */
void
params_mail_str(const struct mail_params *mp, struct buf *b)
{
	static const char *const body[] = { "7BIT", "8BITMIME", "BINARYMIME" };

	buf_printf(b, "BODY=%s", body[mp->body]);
	if (mp->size)
		buf_printf(b, " SIZE=%ld", mp->size);
	if (mp->smtputf8)
		buf_printf(b, " SMTPUTF8");
	if (mp->ret)
		buf_printf(b, " RET=%s", mp->ret == RET_FULL ? "FULL" : "HDRS");
	if (mp->envid[0])
		buf_printf(b, " ENVID=%s", mp->envid);
	if (mp->requiretls)
		buf_printf(b, " REQUIRETLS");
}

void
params_rcpt_str(const struct rcpt_params *rp, struct buf *b)
{
	const char	*sep = "";

	if (rp->notify) {
		buf_printf(b, "NOTIFY=");
		if (rp->notify & NOTIFY_NEVER)
			buf_printf(b, "NEVER");
		if (rp->notify & NOTIFY_SUCCESS)
			buf_printf(b, "%sSUCCESS", sep), sep = ",";
		if (rp->notify & NOTIFY_FAILURE)
			buf_printf(b, "%sFAILURE", sep), sep = ",";
		if (rp->notify & NOTIFY_DELAY)
			buf_printf(b, "%sDELAY", sep);
	}
	if (rp->orcpt[0])
		buf_printf(b, "%sORCPT=%s", rp->notify ? " " : "", rp->orcpt);
}

static int
params_need_ehlo(struct session *s, const char *name)
{
	if (s->esmtp)
		return 0;
	session_reply(s, "555 5.5.4 Unsupported option: %.64s (parameters "
	    "need EHLO)", name);
	return -1;
}

/* RFC 5321 4.1.2: a parameter may appear once. */
static int
params_once(struct session *s, int *seen, int bit, const char *name)
{
	if (*seen & bit) {
		session_reply(s, "501 5.5.4 Duplicate %.64s parameter", name);
		return -1;
	}
	*seen |= bit;
	return 0;
}

/* Next "NAME[=VALUE]" word; 0 at the end. */
static int
params_next(char **pp, char **name, char **val)
{
	char	*p = *pp, *eq;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	*name = p;
	p += strcspn(p, " ");
	if (*p)
		*p++ = '\0';
	*pp = p;
	if ((eq = strchr(*name, '=')) != NULL) {
		*eq = '\0';
		*val = eq + 1;
	} else
		*val = NULL;
	return 1;
}

/* RFC 3461 4: xtext = *( xchar / "+" 2HEXCHAR ); utf8 adds UTF-8 octets. */
static int
params_xtext(const char *s, int utf8)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++) {
		if (*p == '+') {
			if (!isxdigit(p[1]) || !isxdigit(p[2]) ||
			    islower(p[1]) || islower(p[2]))
				return 0;
			p += 2;
		} else if ((*p < 33 || *p > 126 || *p == '=') &&
		    !(utf8 && *p >= 0x80))
			return 0;
	}
	return 1;
}
