/*
 * command: the SMTP verbs.  A table maps each verb to its handler; verbs
 * that belong to later work or that posthorn refuses on purpose get a
 * deliberate 502, and anything else 500.  Replies carry RFC 3463
 * enhanced status codes throughout.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bsd/string.h>

#include "log.h"
#include "proto.h"
#include "smtpd.h"
#include "tls.h"

static void	 cmd_helo(struct session *, char *);
static void	 cmd_ehlo(struct session *, char *);
static void	 cmd_mail(struct session *, char *);
static void	 cmd_rcpt(struct session *, char *);
static void	 cmd_data(struct session *, char *);
static void	 cmd_bdat(struct session *, char *);
static void	 cmd_rset(struct session *, char *);
static void	 cmd_noop(struct session *, char *);
static void	 cmd_quit(struct session *, char *);
static void	 command_helo_common(struct session *, char *, int);
static void	 command_helo_reply(struct session *);
static void	 command_helo_filtered(struct session *);
static void	 command_mail_filtered(struct session *);
static void	 command_rcpt_ok(struct session *);
static void	 command_rcpt_filtered(struct session *);
static int	 command_relay_ok(struct session *, const struct mailbox *);

/* Every verb posthorn knows, with what HELP says about it. */
static const struct command commands[] = {
	{ "HELO", cmd_helo, "HELO domain", "identify (SMTP)" },
	{ "EHLO", cmd_ehlo, "EHLO domain", "identify, list extensions" },
	{ "MAIL", cmd_mail, "MAIL FROM:<address> [SIZE=n] "
	    "[BODY=7BIT|8BITMIME|BINARYMIME] [SMTPUTF8] [RET=FULL|HDRS] "
	    "[ENVID=xtext] [AUTH=xtext|<>] [REQUIRETLS]", "start a transaction" },
	{ "RCPT", cmd_rcpt, "RCPT TO:<address> "
	    "[NOTIFY=NEVER|SUCCESS,FAILURE,DELAY] [ORCPT=rfc822;xtext]",
	    "add a recipient" },
	{ "DATA", cmd_data, "DATA", "send the message, end with <CRLF>.<CRLF>" },
	{ "RSET", cmd_rset, "RSET", "abort the transaction" },
	{ "NOOP", cmd_noop, "NOOP [text]", "do nothing" },
	{ "QUIT", cmd_quit, "QUIT", "close the session" },
	{ "VRFY", cmd_vrfy, "VRFY address", "verify an address "
	    "(252 unless enabled)" },
	{ "EXPN", cmd_expn, "EXPN list", "expand an alias (disabled unless "
	    "enabled)" },
	{ "HELP", cmd_help, "HELP [command]", "this help" },
	{ "VERB", cmd_sendmail_noop, "VERB", "Sendmail verbose mode: accepted, "
	    "no effect" },
	{ "ONEX", cmd_sendmail_noop, "ONEX", "Sendmail one-transaction mode: "
	    "accepted, no effect" },
	{ "XUSR", cmd_sendmail_noop, "XUSR", "Sendmail initial-submission "
	    "hint: accepted, no effect" },
	{ "TICK", cmd_sendmail_noop, "TICK [text]", "old BSD sendmail "
	    "synchronisation: accepted, no effect" },
	{ "SEND", cmd_legacy, "SEND FROM:<address>", "obsolete terminal "
	    "delivery: not offered" },
	{ "SOML", cmd_legacy, "SOML FROM:<address>", "obsolete terminal "
	    "delivery: not offered" },
	{ "SAML", cmd_legacy, "SAML FROM:<address>", "obsolete terminal "
	    "delivery: not offered" },
	{ "TURN", cmd_legacy, "TURN", "unauthenticated role reversal: not "
	    "offered" },
	{ "QUEU", cmd_legacy, "QUEU", "not offered" },
	{ "XEXCH50", cmd_legacy, "XEXCH50 n n", "Exchange-to-Exchange data: "
	    "not offered" },
	{ "ETRN", cmd_etrn, "ETRN domain | @domain | #queue", "start the "
	    "queue run for a domain (RFC 1985)" },
	{ "ATRN", cmd_atrn, "ATRN [domain[,domain]...]", "reverse the "
	    "connection for on-demand relay (RFC 2645, ODMR service)" },
	{ "AUTH", cmd_auth, "AUTH PLAIN|LOGIN [initial-response]",
	    "authenticate (RFC 4954)" },
	{ "STARTTLS", cmd_starttls, "STARTTLS", "start TLS (RFC 3207)" },
	{ "BDAT", cmd_bdat, "BDAT octets [LAST]", "send the next chunk of the "
	    "message (CHUNKING)" },
};
#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

const struct command *
command_find(const char *verb, size_t vlen)
{
	size_t	 i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strlen(commands[i].verb) == vlen &&
		    strncasecmp(commands[i].verb, verb, vlen) == 0)
			return &commands[i];
	return NULL;
}

const struct command *
command_table(size_t *n)
{
	*n = NCOMMANDS;
	return commands;
}

void
command_run(struct session *s, char *line, size_t len)
{
	const struct command *c;
	char		*arg;
	size_t		 vlen;

	/* Trailing blanks are not part of the last argument. */
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	vlen = strcspn(line, " ");
	arg = line + vlen;
	while (*arg == ' ')
		arg++;
	if ((c = command_find(line, vlen)) == NULL) {
		s->nunknown++;
		session_reply(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	if ((size_t)(c - commands) < sizeof(s->ncmd) / sizeof(s->ncmd[0]))
		s->ncmd[c - commands]++;
	s->cmd = c;
	/* RFC 3207 4: with TLS required, only these before STARTTLS. */
	if (s->tls_state != TLS_ON && strcmp(s->sd->conf->
	    smtpd_tls_security_level, "encrypt") == 0 &&
	    c->run != cmd_ehlo && c->run != cmd_helo && c->run != cmd_starttls &&
	    c->run != cmd_noop && c->run != cmd_quit && c->run != cmd_rset &&
	    c->run != cmd_help) {
		session_reply(s, "530 5.7.0 Must issue a STARTTLS command "
		    "first");
		return;
	}
	if (s->sd->conf->odmr_service && !atrn_verb_allowed(c)) {
		session_reply(s, "502 5.5.1 Error: this is the ODMR service "
		    "(RFC 2645): EHLO, STARTTLS, AUTH, then ATRN");
		return;
	}
	/* A filter refused the connection: every command hears it. */
	if (s->mc_refuse[0] && c->run != cmd_quit && c->run != cmd_noop &&
	    c->run != cmd_rset && c->run != cmd_help) {
		mc_reject(s, "CONNECT", NULL, s->mc_refuse);
		return;
	}
	/* Draining: finish the transaction, then only QUIT is left. */
	if (s->sd->stopping && !s->in_tx && c->run != cmd_quit)
		session_reply(s, "421 4.3.2 %s Service shutting down",
		    s->sd->conf->myhostname);
	else
		c->run(s, arg);
}

/* An answer from qmgr to the request we were waiting for. */
void
command_qmgr_reply(struct session *s, const struct record *r)
{
	enum smtpd_wait	 w = s->waiting;
	const char	*text;

	s->waiting = W_NONE;
	if (w == W_QUERY) {
		command_query_reply(s, r);
		return;
	}
	if (w == W_ETRN) {
		command_etrn_reply(s, r);
		return;
	}
	if (w == W_ATRN) {
		command_atrn_reply(s, r);
		return;
	}
	text = r->len > 0 && r->data[r->len - 1] == '\0' ? r->data : "";
	if (r->type == PROTO_FAIL) {
		if (strlen(text) < 4 || (text[0] != '4' && text[0] != '5'))
			text = "451 4.3.0 Error: internal error";
		session_reject(s, w == W_MAIL ? "MAIL" : w == W_RCPT ? "RCPT" :
		    s->bdat ? "BDAT" : "END-OF-MESSAGE", w == W_RCPT ?
		    s->pending : NULL, "%s", text);
		if (w == W_END)
			s->qtx = 0;	/* qmgr has dropped the file */
		if (w != W_RCPT)
			session_reset_tx(s);
		return;
	}
	switch (w) {
	case W_MAIL:
		if (!queueid_valid(text)) {
			session_reply(s, "451 4.3.0 Error: internal error");
			session_reset_tx(s);
			return;
		}
		strlcpy(s->id, text, sizeof(s->id));
		s->in_tx = 1;
		s->qtx = 1;
		if (mc_active(s)) {
			mc_run(s, MC_MAIL, command_mail_filtered);
			break;
		}
		session_reply(s, "250 2.1.0 Ok");
		break;
	case W_RCPT:
		if (mc_active(s)) {
			mc_run(s, MC_RCPT, command_rcpt_filtered);
			break;
		}
		command_rcpt_ok(s);
		break;
	case W_END:
		s->qtx = 0;
		session_reply(s, "250 2.0.0 Ok: queued as %s", s->id);
		session_reset_tx(s);
		break;
	case W_QUERY:	/* handled above */
	case W_ETRN:
	case W_ATRN:
	case W_AUTH:	/* not a qmgr answer */
	case W_MILTER:
	case W_NONE:
		log_warnx("unexpected answer from qmgr");
		session_reset_tx(s);
		break;
	}
}

/* qmgr took the sender; so did the filters, or not. */
static void
command_mail_filtered(struct session *s)
{
	if (s->mc_verdict == MC_REJECT) {
		mc_reject(s, "MAIL", NULL, s->mc_text);
		s->mc_verdict = MC_CONTINUE;
		session_reset_tx(s);
	} else
		session_reply(s, "250 2.1.0 Ok");
	session_process(s);
}

static void
command_rcpt_ok(struct session *s)
{
	/* Postfix logs client= once a message exists: first RCPT. */
	if (s->nrcpt++ == 0) {
		strlcpy(s->first_rcpt, s->pending, sizeof(s->first_rcpt));
		log_info("%s: client=unknown[%s]%s%s", s->id, s->addr,
		    s->auth_user[0] ? ", sasl_username=" : "", s->auth_user);
	}
	session_reply(s, "250 2.1.5 Ok");
}

/* qmgr queued the recipient; a filter's refusal takes it back. */
static void
command_rcpt_filtered(struct session *s)
{
	if (s->mc_verdict == MC_REJECT) {
		mc_reject(s, "RCPT", s->pending, s->mc_text);
		s->mc_verdict = MC_CONTINUE;
		qc_sendf(s, PROTO_CHANGE, "rdel", "", s->pending, "", NULL);
	} else
		command_rcpt_ok(s);
	session_process(s);
}

static void
cmd_helo(struct session *s, char *arg)
{
	command_helo_common(s, arg, 0);
}

static void
cmd_ehlo(struct session *s, char *arg)
{
	command_helo_common(s, arg, 1);
}

static void
command_helo_common(struct session *s, char *arg, int esmtp)
{
	const char	*p;

	if (*arg == '\0') {
		session_reply(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	for (p = arg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			session_reply(s, "501 5.5.4 Syntax: %s hostname (no "
			    "control characters)", esmtp ? "EHLO" : "HELO");
			return;
		}
	/* RFC 5321 4.1.4: a new EHLO/HELO also resets the transaction. */
	session_reset_tx(s);
	strlcpy(s->helo, arg, sizeof(s->helo));
	s->helo[strcspn(s->helo, " ")] = '\0';
	s->helo_seen = 1;
	s->esmtp = esmtp;
	if (mc_active(s)) {
		mc_run(s, MC_HELO, command_helo_filtered);
		return;
	}
	command_helo_reply(s);
}

static void
command_helo_filtered(struct session *s)
{
	if (s->mc_verdict == MC_REJECT) {
		mc_reject(s, s->esmtp ? "EHLO" : "HELO", NULL, s->mc_text);
		s->mc_verdict = MC_CONTINUE;
		s->helo_seen = 0;
	} else
		command_helo_reply(s);
	session_process(s);
}

static void
command_helo_reply(struct session *s)
{
	struct conf	*c = s->sd->conf;

	if (!s->esmtp) {
		session_reply(s, "250 %s", c->myhostname);
		return;
	}
	session_reply(s, "250-%s", c->myhostname);
	if (c->odmr_service) {
		if (s->tls_state != TLS_ON && (tls_available() ||
		    s->sd->tls_broken))
			session_reply(s, "250-STARTTLS");
		if (auth_available(s))
			session_reply(s, "250-AUTH PLAIN LOGIN");
		session_reply(s, "250-ATRN");
		session_reply(s, "250 ENHANCEDSTATUSCODES");
		return;
	}
	session_reply(s, "250-PIPELINING");
	session_reply(s, "250-SIZE %ld", c->message_size_limit);
	session_reply(s, "250-8BITMIME");
	session_reply(s, "250-CHUNKING");
	session_reply(s, "250-BINARYMIME");
	if (c->smtputf8_enable)
		session_reply(s, "250-SMTPUTF8");
	session_reply(s, "250-DSN");
	/* RFC 8689 2: only where the session itself is protected. */
	if (s->tls_state == TLS_ON && c->smtpd_requiretls)
		session_reply(s, "250-REQUIRETLS");
	if (s->tls_state != TLS_ON && (tls_available() || s->sd->tls_broken))
		session_reply(s, "250-STARTTLS");
	if (auth_available(s))
		session_reply(s, "250-AUTH PLAIN LOGIN");
	if (etrn_offered(c))
		session_reply(s, "250-ETRN");
	session_reply(s, "250 ENHANCEDSTATUSCODES");
}

void
cmd_starttls(struct session *s, char *arg)
{
	if (*arg) {
		session_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->tls_state == TLS_ON) {
		session_reply(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (!tls_available() && !s->sd->tls_broken) {
		session_reply(s, "502 5.5.1 Error: STARTTLS is not offered "
		    "(no TLS certificate configured)");
		return;
	}
	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: MAIL transaction in "
		    "progress");
		return;
	}
	if (s->sd->tls_broken) {
		session_reply(s, "454 4.7.0 TLS not available due to local "
		    "problem");
		return;
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	s->tls_pending = 1;
}

static void
cmd_mail(struct session *s, char *arg)
{
	const char	*rest, *why;
	char		 client[1024];
	struct buf	 params;
	int		 flags = ADDR_ALLOW_NULL;

	if (!s->helo_seen) {
		session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (s->sd->conf->smtpd_auth_required && s->auth_user[0] == '\0') {
		session_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	if (strncasecmp(arg, "FROM:", 5) != 0) {
		session_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (s->sd->conf->smtputf8_enable)
		flags |= ADDR_ALLOW_UTF8;
	if (addr_parse_path(arg + 5, flags, &s->sender, &rest, &why) == -1) {
		session_reply(s, "501 5.1.7 Bad sender address syntax (%s)",
		    why);
		return;
	}
	if (*rest && *rest != ' ') {
		session_reply(s, "501 5.1.7 Bad sender address syntax "
		    "(junk after the address)");
		return;
	}
	if (params_mail(s, (char *)(uintptr_t)rest, &s->mparams) == -1)
		return;
	if (s->sender.utf8 && !s->mparams.smtputf8) {
		session_reply(s, "553 5.6.7 Error: a non-ASCII address needs "
		    "the SMTPUTF8 parameter");
		return;
	}
	if (qc_open(s) == -1) {
		session_reply(s, "451 4.3.0 Error: queue manager unavailable, "
		    "try again later");
		return;
	}
	snprintf(client, sizeof(client), "helo=%s addr=%s proto=%s%s%s%s%s",
	    s->helo, s->addr, s->esmtp ? "ESMTP" : "SMTP",
	    s->tls_state == TLS_ON ? " tls=" : "",
	    s->tls_state == TLS_ON ? SSL_get_version(s->ssl) : "",
	    s->auth_user[0] ? " auth=" : "", s->auth_user);
	buf_init(&params, 0);
	params_mail_str(&s->mparams, &params);
	qc_sendf(s, PROTO_MAIL, s->sender.addr, client, buf_cstr(&params),
	    NULL);
	buf_free(&params);
	s->waiting = W_MAIL;
}

static void
cmd_rcpt(struct session *s, char *arg)
{
	struct mailbox	 mb;
	struct rcpt_params rp;
	struct buf	 params;
	const char	*rest, *why;

	if (!s->in_tx) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->bdat) {
		session_reply(s, "503 5.5.1 Error: RCPT after BDAT");
		return;
	}
	if (strncasecmp(arg, "TO:", 3) != 0) {
		session_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (addr_parse_path(arg + 3, ADDR_ALLOW_NODOMAIN |
	    (s->sd->conf->smtputf8_enable ? ADDR_ALLOW_UTF8 : 0), &mb, &rest,
	    &why) == -1) {
		session_reply(s, "501 5.1.3 Bad recipient address syntax (%s)",
		    why);
		return;
	}
	if (*rest && *rest != ' ') {
		session_reply(s, "501 5.1.3 Bad recipient address syntax "
		    "(junk after the address)");
		return;
	}
	if (mb.utf8 && !s->mparams.smtputf8) {
		session_reply(s, "553 5.6.7 Error: a non-ASCII address needs "
		    "SMTPUTF8 in MAIL FROM");
		return;
	}
	if (params_rcpt(s, (char *)(uintptr_t)rest, &rp) == -1)
		return;
	if (!command_relay_ok(s, &mb)) {
		session_reject(s, "RCPT", mb.addr, "554 5.7.1 <%s>: Relay "
		    "access denied", mb.addr);
		return;
	}
	if (s->nrcpt >= (size_t)s->sd->conf->smtpd_recipient_limit) {
		session_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	strlcpy(s->pending, mb.addr, sizeof(s->pending));
	buf_init(&params, 0);
	params_rcpt_str(&rp, &params);
	qc_sendf(s, PROTO_RCPT, mb.addr, buf_cstr(&params), NULL);
	buf_free(&params);
	s->waiting = W_RCPT;
}

static void
cmd_data(struct session *s, char *arg)
{
	if (*arg) {
		session_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->in_tx) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpt == 0) {
		session_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (s->bdat) {
		session_reply(s, "503 5.5.1 Error: DATA in a BDAT transaction");
		return;
	}
	if (s->mparams.body == BODY_BINARYMIME) {
		session_reply(s, "503 5.5.1 Error: BODY=BINARYMIME requires "
		    "BDAT (RFC 3030)");
		return;
	}
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	data_begin(s, 0);
}

/*
 * BDAT (RFC 3030): exactly the given number of octets follow, whatever
 * the state; they are read (and dropped when the command is refused)
 * before the reply, so that they are never taken for commands.
 */
static void
cmd_bdat(struct session *s, char *arg)
{
	char		*end, *p;
	long long	 n;
	int		 last = 0;

	errno = 0;
	n = strtoll(arg, &end, 10);
	if (!isdigit((unsigned char)arg[0]) || errno || end - arg > 18 ||
	    (*end && *end != ' ')) {
		session_reply(s, "501 5.5.4 Syntax: BDAT octets [LAST]");
		return;
	}
	for (p = end; *p == ' '; p++)
		;
	if (*p) {
		if (strcasecmp(p, "LAST") != 0) {
			session_reply(s, "501 5.5.4 Syntax: BDAT octets "
			    "[LAST]");
			return;
		}
		last = 1;
	}
	s->bdat_left = s->bdat_size = n;
	s->bdat_last = last;
	s->bdat_error = NULL;
	if (!s->esmtp)
		s->bdat_error = "503 5.5.1 Error: BDAT needs EHLO";
	else if (!s->in_tx)
		s->bdat_error = "503 5.5.1 Error: need MAIL command";
	else if (s->nrcpt == 0)
		s->bdat_error = "554 5.5.1 Error: no valid recipients";
	if (s->bdat_error == NULL && !s->bdat)
		data_begin(s, 1);
	s->data_mode = DM_BDAT;
	s->deadline = event_now_ms() +
	    (uint64_t)s->sd->conf->smtpd_data_timeout * 1000;
}

/* The chunk is read: answer it, or end the message on LAST. */
void
command_bdat_done(struct session *s)
{
	const char	*err = s->bdat_error;

	s->bdat_error = NULL;
	if (err) {
		s->data_mode = DM_NONE;
		session_reply(s, "%s", err);
		return;
	}
	if (s->bdat_last) {
		data_end(s);
		return;
	}
	s->data_mode = DM_NONE;
	session_reply(s, "250 2.0.0 Ok: %lld octets received", s->bdat_size);
}

static void
cmd_rset(struct session *s, char *arg)
{
	if (*arg) {
		session_reply(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	session_reset_tx(s);
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct session *s, char *arg)
{
	(void)arg;	/* RFC 5321 4.1.1.9: a parameter is allowed, ignored */
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct session *s, char *arg)
{
	(void)arg;
	session_reset_tx(s);
	session_reply(s, "221 2.0.0 Bye");
}


/*
 * Relay policy: mail for our local and relay domains from anyone; for any
 * other destination only from a trusted client (mynetworks).
 */
static int
command_relay_ok(struct session *s, const struct mailbox *mb)
{
	struct conf	*c = s->sd->conf;

	if (mb->domain[0] == '\0' ||
	    conf_list_has(c->local_domains, mb->domain) ||
	    conf_list_has(c->virtual_mailbox_domains, mb->domain) ||
	    conf_list_has(c->virtual_alias_domains, mb->domain) ||
	    conf_list_has(c->relay_domains, mb->domain))
		return 1;
	return s->trusted || s->auth_user[0] != '\0';
}
