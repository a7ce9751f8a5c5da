/*
 * command_etrn: ETRN (RFC 1985), a client's request that deferred mail
 * for a domain be tried now.  "ETRN domain", "ETRN @domain" (the domain
 * and its subdomains) and "ETRN #name" (the named queue: mail whose next
 * hop is host name) go to qmgr as a FLUSH with the client's address;
 * qmgr limits the rate per client and answers with the number of
 * messages started.  smtpd decides who may ask for what:
 * smtpd_etrn_clients (mynetworks, authenticated, any, none) and
 * etrn_domains (default: relay_domains).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "conf.h"
#include "log.h"
#include "proto.h"
#include "smtpd.h"

static int	 etrn_client_ok(struct session *);

/* Is ETRN offered to anyone (EHLO)? */
int
etrn_offered(const struct conf *c)
{
	return !conf_list_has(c->smtpd_etrn_clients, "none") &&
	    c->smtpd_etrn_clients[strspn(c->smtpd_etrn_clients, ", \t")] !=
	    '\0';
}

void
cmd_etrn(struct session *s, char *arg)
{
	const struct conf *c = s->sd->conf;
	const char	*node = arg, *list;
	int		 sub = 0;

	if (!etrn_offered(c)) {
		session_reply(s, "502 5.5.1 Error: ETRN is not offered here");
		return;
	}
	if (!s->helo_seen) {
		session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: MAIL transaction in "
		    "progress");
		return;
	}
	if (arg == NULL || *arg == '\0') {
		session_reply(s, "501 5.5.4 Syntax: ETRN domain | @domain | "
		    "#queue");
		return;
	}
	if (*node == '@')
		sub = 1;
	node += (*node == '@' || *node == '#');
	if (*node == '\0' || strlen(node) > 253 || strspn(node,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
	    != strlen(node) || node[0] == '.' || node[0] == '-') {
		session_reply(s, "501 5.5.4 Error: ETRN wants a domain name, "
		    "@domain or #queue");
		return;
	}
	if (!etrn_client_ok(s)) {
		log_info("ETRN %s refused: client unknown[%s] is not allowed "
		    "(smtpd_etrn_clients)", arg, s->addr);
		session_reply(s, "459 4.7.1 Node %s not allowed: this client "
		    "may not ask for queue runs", arg);
		return;
	}
	list = c->etrn_domains[0] ? c->etrn_domains : c->relay_domains;
	if (!conf_list_has(list, node)) {
		log_info("ETRN %s refused from unknown[%s]: not in %s", arg,
		    s->addr, c->etrn_domains[0] ? "etrn_domains" :
		    "relay_domains");
		session_reply(s, "459 4.7.1 Node %s not allowed: not a domain "
		    "this server relays for", arg);
		return;
	}
	if (s->qfd == -1 && qc_open(s) == -1) {
		session_reply(s, "458 4.3.0 Unable to queue messages for node "
		    "%s: queue manager unavailable", arg);
		return;
	}
	strlcpy(s->pending, arg, sizeof(s->pending));
	if (arg[0] == '#')
		qc_sendf(s, PROTO_FLUSH, arg, "", s->addr, NULL);
	else
		qc_sendf(s, PROTO_FLUSH, node, sub ? "1" : "", s->addr, NULL);
	s->waiting = W_ETRN;
}

/* qmgr's answer: OK(messages started) or FAIL(458 ...). */
void
command_etrn_reply(struct session *s, const struct record *r)
{
	const char	*text;
	long		 n;
	char		*end;

	text = r->len > 0 && r->data[r->len - 1] == '\0' ? r->data : "";
	if (r->type == PROTO_FAIL) {
		session_reply(s, "%s", strncmp(text, "458 ", 4) == 0 ? text :
		    "458 4.3.0 Unable to queue messages");
	} else {
		n = strtol(text, &end, 10);
		if (*end || end == text || n < 0)
			session_reply(s, "458 4.3.0 Unable to queue messages "
			    "for node %s", s->pending);
		else if (n == 0)
			session_reply(s, "251 2.0.0 OK, no messages waiting "
			    "for node %s", s->pending);
		else
			session_reply(s, "253 2.0.0 OK, %ld pending message%s "
			    "for node %s started", n, n == 1 ? "" : "s",
			    s->pending);
		log_info("ETRN %s from unknown[%s]: %ld message%s started",
		    s->pending, s->addr, n, n == 1 ? "" : "s");
	}
	if (!s->in_tx)
		qc_release(s);
}

/* smtpd_etrn_clients: any, mynetworks, authenticated (or none). */
static int
etrn_client_ok(struct session *s)
{
	const char	*l = s->sd->conf->smtpd_etrn_clients;

	return conf_list_has(l, "any") ||
	    (conf_list_has(l, "mynetworks") && s->trusted) ||
	    (conf_list_has(l, "authenticated") && s->auth_user[0]);
}
