/*
 * command_info: the verbs that do not move mail.  HELP describes the
 * command table; VRFY and EXPN answer 252 and 502 unless the administrator
 * enables them (smtpd_enable_vrfy, smtpd_enable_expn), since an MTA that
 * confirms addresses helps address harvesters (RFC 5321 3.5.3, 7.3); the
 * old Sendmail and Exchange verbs each get a deliberate answer.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "proto.h"
#include "smtpd.h"

static void	 info_query(struct session *, int type, const char *arg);

void
cmd_help(struct session *s, char *arg)
{
	const struct command *c, *t;
	size_t		 n, i;

	if (*arg) {
		if ((c = command_find(arg, strcspn(arg, " "))) == NULL) {
			session_reply(s, "504 5.5.1 HELP: no such command: "
			    "%.64s", arg);
			return;
		}
		session_reply(s, "214-2.0.0 %s: %s", c->verb, c->what);
		session_reply(s, "214 2.0.0 Syntax: %s", c->usage);
		return;
	}
	t = command_table(&n);
	session_reply(s, "214-2.0.0 posthorn on %s; commands:",
	    s->sd->conf->myhostname);
	for (i = 0; i < n; i++)
		session_reply(s, "214-2.0.0   %-8s %s", t[i].verb, t[i].what);
	session_reply(s, "214 2.0.0 HELP command for its syntax; see smtpd(8)");
}

void
cmd_vrfy(struct session *s, char *arg)
{
	if (*arg == '\0') {
		session_reply(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	if (!s->sd->conf->smtpd_enable_vrfy) {
		/* RFC 5321 3.5.3: neither confirm nor deny. */
		session_reply(s, "252 2.5.2 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		return;
	}
	info_query(s, PROTO_VRFY, arg);
}

void
cmd_expn(struct session *s, char *arg)
{
	if (!s->sd->conf->smtpd_enable_expn) {
		session_reply(s, "502 5.5.1 Error: EXPN is disabled");
		return;
	}
	if (*arg == '\0') {
		session_reply(s, "501 5.5.4 Syntax: EXPN list");
		return;
	}
	info_query(s, PROTO_EXPN, arg);
}

/* Sendmail's own client sends these; refusing them would only hurt. */
void
cmd_sendmail_noop(struct session *s, char *arg)
{
	(void)arg;
	session_reply(s, "250 2.0.0 Ok (accepted for Sendmail compatibility; "
	    "no effect)");
}

void
cmd_legacy(struct session *s, char *arg)
{
	const char *verb = s->cmd->verb;

	(void)arg;
	if (strcasecmp(verb, "TURN") == 0)
		session_reply(s, "502 5.5.1 Error: TURN is not offered: role "
		    "reversal without authentication is unsafe (removed by "
		    "RFC 2821)");
	else if (strcasecmp(verb, "SEND") == 0 ||
	    strcasecmp(verb, "SOML") == 0 || strcasecmp(verb, "SAML") == 0)
		session_reply(s, "502 5.5.1 Error: %s (delivery to a terminal) "
		    "is obsolete and not offered; use MAIL", verb);
	else
		session_reply(s, "502 5.5.1 Error: %s is not offered", verb);
}

/* qmgr's answer to VRFY/EXPN: reply lines separated by LF. */
void
command_query_reply(struct session *s, const struct record *r)
{
	const char	*p, *nl, *text;
	int		 n;

	text = r->len > 0 && r->data[r->len - 1] == '\0' ? r->data : "";
	if (strlen(text) < 4 || !isdigit((unsigned char)text[0]))
		text = "451 4.3.0 Error: internal error";
	for (p = text; *p; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p) - 1 + 1;
		n = (int)(nl - p);
		/* Continuation lines get "-" unless they are the last. */
		if (*nl == '\n' && nl[1] != '\0' && n >= 4)
			session_reply(s, "%.3s-%.*s", p, n - 4, p + 4);
		else
			session_reply(s, "%.*s", n, p);
		if (*nl == '\0')
			break;
	}
	if (!s->in_tx)
		qc_release(s);
}

static void
info_query(struct session *s, int type, const char *arg)
{
	if (s->qfd == -1 && qc_open(s) == -1) {
		session_reply(s, "451 4.3.0 Error: queue manager unavailable, "
		    "try again later");
		return;
	}
	qc_sendf(s, type, arg, NULL);
	s->waiting = W_QUERY;
}
