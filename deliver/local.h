/* local: the local delivery agent's parts. */
#ifndef POSTHORN_LOCAL_H
#define POSTHORN_LOCAL_H

#include <sys/types.h>
#include <limits.h>

#include "addr.h"
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

enum dest_kind { DEST_MAILDIR, DEST_MBOX, DEST_FILE, DEST_PIPE, DEST_FORWARD };

/* Where one copy goes, and with whose rights. */
struct dest {
	enum dest_kind	 kind;
	char		 target[PATH_MAX];	/* folder, file or command */
	uid_t		 uid;
	gid_t		 gid;
	int		 spool;		/* mbox in mail_spool_directory */
	char		 user[64];
	char		 home[PATH_MAX];
	char		 shell[PATH_MAX];
	char		 delivered_to[ADDR_MAX + 1];
	char		 sender[ADDR_MAX + 1];	/* Return-Path */
	char		 local[ADDR_LOCAL_MAX * 2 + 3];
	char		 extension[ADDR_LOCAL_MAX * 2 + 3];
	char		 domain[ADDR_DOMAIN_MAX + 1];
	char		 recipient[ADDR_MAX + 1];	/* as the client gave it */
};

struct dest_list {
	struct dest	*d;
	size_t		 n;
};

/* resolve.c: aliases, .forward, mailboxes -> destinations. */
void	 resolve_rcpt(const struct conf *, struct local_maps *,
	    const struct local_msg *, const char *rcpt, struct dest_list *,
	    struct local_result *);

/* deliver.c: one destination, in a child with its rights. */
int	 deliver_become(const struct conf *, const struct dest *, char *err,
	    size_t errlen);
void	 deliver_as_owner(const struct conf *, const struct local_msg *,
	    const struct dest *, char *out, size_t outlen);
/* worker.c: the children per owner that deliver_dest hands copies to. */
int	 worker_deliver(const struct conf *, const struct local_msg *,
	    const struct dest *, char *reply, size_t replylen, char *err,
	    size_t errlen);
void	 worker_expire(const struct conf *);	/* NULL: all of them */
void	 deliver_dest(const struct conf *, const struct local_msg *,
	    const struct dest *, struct local_result *);
/* Addresses in other domains (aliases, .forward) go to fwd, for qmgr. */
void	 local_deliver_rcpt(const struct conf *, struct local_maps *,
	    const struct local_msg *, const char *rcpt, struct local_result *,
	    struct dest_list *fwd);

/* maildir.c, mbox.c, pipe.c: run with the destination's rights already. */
int	 maildir_deliver(const char *dir, const struct local_msg *,
	    const struct dest *, const struct conf *, char *status,
	    char *err, size_t errlen);
int	 mbox_deliver(const char *path, const struct local_msg *,
	    const struct dest *, const struct conf *, char *status,
	    char *err, size_t errlen);
int	 pipe_deliver(const char *command, const struct local_msg *,
	    const struct dest *, const struct conf *, char *status,
	    char *err, size_t errlen);
/* readas.c: a user's small file, read with that user's rights. */
#define READAS_OK	0
#define READAS_TEMP	-1
#define READAS_UNSAFE	-2
#define READAS_MISSING	-3
int	 readas_file(const char *path, uid_t, gid_t, uid_t owner, size_t max,
	    struct buf *, uid_t *fuid, gid_t *fgid, char *err, size_t errlen);

/* The headers local adds, for every kind of destination. */
void	 local_headers(const struct local_msg *, const struct dest *,
	    struct buf *);

#endif
