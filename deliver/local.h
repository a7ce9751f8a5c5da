/* local: the local delivery agent's parts. */
#ifndef POSTHORN_LOCAL_H
#define POSTHORN_LOCAL_H

#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "map.h"

#define LOCAL_MAX_TARGETS	1000	/* per recipient, after aliases */
#define LOCAL_ALIAS_DEPTH	20

struct local_msg {
	char	 id[32];
	char	*sender;
	int	 qfd;
	off_t	 content_off;
	const char *eol;	/* "\n", or "\r\n" for BINARYMIME */
};

/* One recipient's outcome: D(elivered), T(emporary), P(ermanent). */
struct local_result {
	char	 code;
	char	 status[8];
	char	 text[512];
};

struct local_maps {
	struct map	*aliases;
	struct map	*mailboxes;
};

/* resolve.c: expand aliases and deliver to each mailbox found. */
void	 local_deliver_rcpt(const struct conf *, struct local_maps *,
	    const struct local_msg *, const char *rcpt, struct local_result *);

/* maildir.c: 0 delivered, -1 temporary failure, -2 permanent. */
int	 maildir_deliver(const char *dir, const struct local_msg *,
	    const char *delivered_to, const char *myhostname, char *err,
	    size_t errlen);

#endif
