/*
 * milter: the Sendmail/Postfix mail filter protocol, version 6, from the
 * MTA's side: packets to a filter and the filter's replies, the option
 * negotiation, and the smtpd_milters list.  No I/O here: the callers
 * own their sockets and buffers.
 *
 * A packet is a 4-byte big-endian length (the command byte included),
 * a command byte and its data; strings in the data end with NUL.
 */
#ifndef POSTHORN_MILTER_H
#define POSTHORN_MILTER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define MILTER_VERSION		6
#define MILTER_CHUNK		65535	/* the largest body chunk */
#define MILTER_REPLY_MAX	(1024 * 1024)	/* the largest reply we read */

/* MTA to filter. */
#define MILTER_C_ABORT		'A'
#define MILTER_C_BODY		'B'
#define MILTER_C_CONNECT	'C'
#define MILTER_C_MACRO		'D'
#define MILTER_C_BODYEOB	'E'
#define MILTER_C_HELO		'H'
#define MILTER_C_QUIT_NC	'K'
#define MILTER_C_HEADER		'L'
#define MILTER_C_MAIL		'M'
#define MILTER_C_EOH		'N'
#define MILTER_C_OPTNEG		'O'
#define MILTER_C_QUIT		'Q'
#define MILTER_C_RCPT		'R'
#define MILTER_C_DATA		'T'
#define MILTER_C_UNKNOWN	'U'

/* Filter to MTA. */
#define MILTER_R_ADDRCPT	'+'
#define MILTER_R_DELRCPT	'-'
#define MILTER_R_ADDRCPT_PAR	'2'
#define MILTER_R_SHUTDOWN	'4'
#define MILTER_R_ACCEPT		'a'
#define MILTER_R_REPLBODY	'b'
#define MILTER_R_CONTINUE	'c'
#define MILTER_R_DISCARD	'd'
#define MILTER_R_CHGFROM	'e'
#define MILTER_R_CONN_FAIL	'f'
#define MILTER_R_ADDHEADER	'h'
#define MILTER_R_INSHEADER	'i'
#define MILTER_R_SETSYMLIST	'l'
#define MILTER_R_CHGHEADER	'm'
#define MILTER_R_PROGRESS	'p'
#define MILTER_R_QUARANTINE	'q'
#define MILTER_R_REJECT		'r'
#define MILTER_R_SKIP		's'
#define MILTER_R_TEMPFAIL	't'
#define MILTER_R_REPLYCODE	'y'

/* Actions a filter may take (SMFIF_*). */
#define MILTER_A_ADDHDRS	0x001
#define MILTER_A_CHGBODY	0x002
#define MILTER_A_ADDRCPT	0x004
#define MILTER_A_DELRCPT	0x008
#define MILTER_A_CHGHDRS	0x010
#define MILTER_A_QUARANTINE	0x020
#define MILTER_A_CHGFROM	0x040
#define MILTER_A_ADDRCPT_PAR	0x080
#define MILTER_A_SETSYMLIST	0x100

/* Protocol steps a filter may decline or answer without a reply (SMFIP_*). */
#define MILTER_P_NOCONNECT	0x000001
#define MILTER_P_NOHELO		0x000002
#define MILTER_P_NOMAIL		0x000004
#define MILTER_P_NORCPT		0x000008
#define MILTER_P_NOBODY		0x000010
#define MILTER_P_NOHDRS		0x000020
#define MILTER_P_NOEOH		0x000040
#define MILTER_P_NR_HDR		0x000080
#define MILTER_P_NOUNKNOWN	0x000100
#define MILTER_P_NODATA		0x000200
#define MILTER_P_SKIP		0x000400
#define MILTER_P_RCPT_REJ	0x000800
#define MILTER_P_NR_CONN	0x001000
#define MILTER_P_NR_HELO	0x002000
#define MILTER_P_NR_MAIL	0x004000
#define MILTER_P_NR_RCPT	0x008000
#define MILTER_P_NR_DATA	0x010000
#define MILTER_P_NR_UNKN	0x020000
#define MILTER_P_NR_EOH		0x040000
#define MILTER_P_NR_BODY	0x080000
#define MILTER_P_HDR_LEADSPC	0x100000

/* What posthorn offers: every step and reply flag but RCPT_REJ and SKIP. */
#define MILTER_P_OFFER		0x1ff3ff
#define MILTER_A_ALL		0x1ff

/* Default action when a filter cannot be reached or fails. */
#define MILTER_DEFAULT_TEMPFAIL	0
#define MILTER_DEFAULT_ACCEPT	1
#define MILTER_DEFAULT_REJECT	2

struct milter_reply {
	int		 cmd;
	const char	*data;
	size_t		 len;
};

/* One filter of smtpd_milters, with its own settings. */
struct milter_spec {
	char		 socket[256];	/* as written: inet:host:port, unix:/path */
	char		 host[256];	/* inet: the host; unix: the path */
	char		 port[16];	/* inet only */
	int		 family;	/* AF_INET (any inet) or AF_UNIX */
	long		 connect_timeout;	/* seconds */
	long		 command_timeout;
	long		 content_timeout;
	int		 default_action;
};

int	 milter_put(struct buf *, int cmd, const void *, size_t);
/* Strings, each with its NUL, as one packet; the list ends with NULL. */
int	 milter_putf(struct buf *, int cmd, ...) __attribute__((sentinel));
int	 milter_put_optneg(struct buf *, uint32_t version, uint32_t actions,
	    uint32_t protocol);
/* Macros for the step cmd: name and value pairs, the list ends with NULL. */
int	 milter_put_macros(struct buf *, int cmd, ...)
	    __attribute__((sentinel));
/* family: '4', '6', 'L' (UNIX) or 'U' (unknown: no port, no address). */
int	 milter_put_connect(struct buf *, const char *host, int family,
	    uint16_t port, const char *addr);

/* 1: a whole reply at the front of buf; 0: need more; -1: malformed. */
int	 milter_peek(const struct buf *, struct milter_reply *, size_t *total);
int	 milter_parse_optneg(const struct milter_reply *, uint32_t *version,
	    uint32_t *actions, uint32_t *protocol);
/* A REPLYCODE's text, checked: "4xx ..." or "5xx ...", one line or more. */
int	 milter_parse_replycode(const struct milter_reply *, const char **text);
/* INSHEADER and CHGHEADER: index, name, value; ADDHEADER: name, value. */
int	 milter_parse_header(const struct milter_reply *, uint32_t *index,
	    const char **name, const char **value);
/* Exactly nf NUL-terminated strings (ADDRCPT, DELRCPT, CHGFROM, ...). */
int	 milter_parse_strings(const struct milter_reply *, const char **f,
	    int nf);

/*
 * smtpd_milters: "socket" or "{ socket, name = value, ... }", separated
 * by commas or blanks.  Settings: connect_timeout, command_timeout,
 * content_timeout (times), default_action (tempfail, accept, reject).
 * The defaults come in *def.  Returns the count, or -1 with err set.
 */
int	 milter_parse_list(const char *, const struct milter_spec *def,
	    struct milter_spec *out, int max, char *err, size_t errlen);
int	 milter_parse_default_action(const char *);

#endif
