/*
 * reject: answer a refused MAIL, RCPT or message and log it the way
 * Postfix's smtpd does, so that log tools written for Postfix (pflogsumm)
 * count posthorn's rejects:
 *   ID: reject: RCPT from unknown[ADDR]: REPLY; from=<S> to=<R> proto=ESMTP
 *   helo=<H>
 * NOQUEUE stands for the ID while no transaction is open.
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "smtpd.h"

void
session_reject(struct session *s, const char *stage, const char *rcpt,
    const char *fmt, ...)
{
	char	 reply[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(reply, sizeof(reply), fmt, ap);
	va_end(ap);
	log_info("%s: reject: %s from unknown[%s]: %s; from=<%s>%s%s%s "
	    "proto=%s helo=<%s>", s->in_tx && s->id[0] ? s->id : "NOQUEUE",
	    stage, s->addr, reply, s->sender.addr, rcpt ? " to=<" : "",
	    rcpt ? rcpt : "", rcpt ? ">" : "", s->esmtp ? "ESMTP" : "SMTP",
	    s->helo);
	session_reply(s, "%s", reply);
}
