/*
 * auth: the only reader of passwords.  smtpd sends it (over private/auth)
 * the login and password a client gave in AUTH; auth checks them with
 * crypt(3) against auth_password_map (a map of login -> crypt hash, such
 * as yescrypt "$y$..." or SHA-512 "$6$...") and, with
 * auth_system_accounts, against the system's shadow passwords.  Failures
 * are answered only after auth_failure_delay, and a client address with
 * auth_failure_limit failures within auth_failure_window gets no more
 * checks until the window has passed.  No password is ever logged.
 */
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <shadow.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "log.h"
#include "event.h"
#include "map.h"
#include "proto.h"
#include "record.h"
#include "service.h"
#include "sock.h"

#define AUTH_TRACK	4096	/* client addresses remembered */

struct failures {
	char		 addr[64];
	long		 count;
	time_t		 first;
};

struct authd {
	struct service	 svc;
	struct conf	*conf;
	struct event_loop *loop;
	struct map	*passwords;
	struct failures	 fail[AUTH_TRACK];
	struct client	*clients;
	char		 dummy[256];	/* a hash to check unknown users against */
};

struct delayed {
	struct client	*c;
	struct event_timer *timer;
	char		 tag[16];
	char		 why[8];
	struct delayed	*next;
};

struct client {
	int		 fd;
	struct buf	 in, out;
	struct authd	*ad;
	struct delayed	*delayed;
	struct client	*next;
};

static void	 auth_accept(int, int, void *);
static void	 auth_io(int, int, void *);
static void	 auth_close(struct client *);
static void	 auth_request(struct client *, const struct record *);
static int	 auth_check(struct authd *, const char *, const char *, char *,
		    size_t);
static void	 auth_client_key(const char *, char *, size_t);
static int	 auth_verify(struct authd *, const char *, const char *);
static struct failures *auth_failures(struct authd *, const char *, int);
static void	 auth_reply(struct client *, int, const char *, const char *);
static void	 auth_delayed(void *);
static void	 auth_gone(int, int, void *);
static void	 auth_dummy(struct authd *);
static void	 auth_signal(int, void *);

int
main(int argc, char **argv)
{
	static struct authd ad;
	char		 err[512];

	service_init(&ad.svc, argc, argv, "auth");
	ad.conf = &ad.svc.conf;
	if (ad.conf->auth_password_map[0] &&
	    (ad.passwords = map_open(ad.conf->auth_password_map, err,
	    sizeof(err))) == NULL)
		log_fatalx("auth_password_map: %s", err);
	/* Shadow passwords are readable by root and group shadow only. */
	if (ad.conf->auth_system_accounts && geteuid() == 0)
		service_drop_extra(&ad.svc, "shadow");
	else
		service_drop(&ad.svc);

	auth_dummy(&ad);
	/* Reads maps and the shadow file, writes nothing, runs nothing. */
	service_sandbox(&ad.svc, SANDBOX_READ_ONLY);
	ad.loop = event_loop_new();
	sock_nonblock(ad.svc.listen_fd);
	if (event_add(ad.loop, ad.svc.listen_fd, EV_READ, auth_accept,
	    &ad) == -1)
		log_fatal("event_add");
	if (ad.svc.master_fd != -1 && event_add(ad.loop, ad.svc.master_fd,
	    EV_READ, auth_gone, &ad) == -1)
		log_fatal("event_add");
	if (event_signal(ad.loop, SIGTERM, auth_signal, &ad) == -1)
		log_fatal("event_signal");
	log_info("auth service started (%s%s%s)",
	    ad.passwords ? map_spec(ad.passwords) : "",
	    ad.passwords && ad.conf->auth_system_accounts ? ", " : "",
	    ad.conf->auth_system_accounts ? "system accounts" : "");
	event_loop_run(ad.loop);
	return 0;
}

static void
auth_accept(int lfd, int events, void *arg)
{
	struct authd	*ad = arg;
	struct client	*c;
	int		 fd;

	(void)events;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("auth: accept");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->ad = ad;
	buf_init(&c->in, 64 * 1024);
	buf_init(&c->out, 0);
	c->next = ad->clients;
	ad->clients = c;
	if (event_add(ad->loop, fd, EV_READ, auth_io, c) == -1) {
		log_warn("auth: event_add");
		auth_close(c);
	}
}

static void
auth_io(int fd, int events, void *arg)
{
	struct client	*c = arg;
	struct record	 r;
	size_t		 total;
	ssize_t		 n;
	int		 rc;

	(void)fd;
	if ((events & EV_WRITE) && sock_write_buf(c->fd, &c->out) == -1) {
		auth_close(c);
		return;
	}
	if (events & EV_READ) {
		n = sock_read_buf(c->fd, &c->in);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			auth_close(c);
			return;
		}
		while ((rc = record_peek(&c->in, &r, &total)) == 1) {
			auth_request(c, &r);
			explicit_bzero(c->in.data, total);
			buf_consume(&c->in, total);
		}
		if (rc == -1) {
			log_warnx("auth: malformed request; closing");
			auth_close(c);
			return;
		}
		if (sock_write_buf(c->fd, &c->out) == -1) {
			auth_close(c);
			return;
		}
	}
	event_mod(c->ad->loop, c->fd, EV_READ | (c->out.len ? EV_WRITE : 0));
}

static void
auth_close(struct client *c)
{
	struct client	**pp;
	struct delayed	*d, *next;

	for (d = c->delayed; d; d = next) {
		next = d->next;
		event_timer_cancel(c->ad->loop, d->timer);
		free(d);
	}
	for (pp = &c->ad->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	event_del(c->ad->loop, c->fd);
	close(c->fd);
	if (c->in.data)
		explicit_bzero(c->in.data, c->in.cap);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/* User names as they may appear in a log line. */
static void
auth_printable(const char *in, char *out, size_t len)
{
	size_t	 i;

	for (i = 0; in[i] && i + 1 < len; i++)
		out[i] = (unsigned char)in[i] < 0x21 || in[i] == 0x7f ? '?' :
		    in[i];
	out[i] = '\0';
}

/* tag, client address, service, mechanism, login, password */
static void
auth_request(struct client *c, const struct record *r)
{
	struct authd	*ad = c->ad;
	const char	*f[6];
	char		 user[128], key[64], login[256];
	struct failures	*fl;
	struct delayed	*d;
	int		 rc;

	if (r->type != PROTO_AUTH || record_fields(r, f, 6) == -1) {
		log_warnx("auth: bad request");
		return;
	}
	auth_printable(f[4], user, sizeof(user));
	auth_client_key(f[1], key, sizeof(key));
	fl = auth_failures(ad, key, 0);
	if (fl && fl->count >= ad->conf->auth_failure_limit) {
		log_info("auth: refused: client=[%s] service=%s username=%s: "
		    "%ld failures within %lds", f[1], f[2], user, fl->count,
		    ad->conf->auth_failure_window);
		rc = -2;
	} else {
		rc = auth_check(ad, f[4], f[5], login, sizeof(login));
	}
	if (rc == 1) {
		log_info("auth: ok: client=[%s] service=%s method=%s "
		    "username=%s", f[1], f[2], f[3], user);
		auth_reply(c, PROTO_OK, f[0], login);
		return;
	}
	if (rc == -1) {
		auth_reply(c, PROTO_FAIL, f[0], AUTH_TEMP);
		return;
	}
	if (rc == 0) {
		if ((fl = auth_failures(ad, key, 1)) != NULL)
			fl->count++;
		log_info("auth: failed: client=[%s] service=%s method=%s "
		    "username=%s", f[1], f[2], f[3], user);
	}
	/* Wrong: answer later, so that guessing is slow. */
	if (ad->conf->auth_failure_delay == 0 ||
	    (d = calloc(1, sizeof(*d))) == NULL) {
		auth_reply(c, PROTO_FAIL, f[0], rc == 0 ? AUTH_BAD : AUTH_RATE);
		return;
	}
	d->c = c;
	strlcpy(d->tag, f[0], sizeof(d->tag));
	strlcpy(d->why, rc == 0 ? AUTH_BAD : AUTH_RATE, sizeof(d->why));
	d->timer = event_timer_add(ad->loop, ad->conf->auth_failure_delay *
	    1000, auth_delayed, d);
	d->next = c->delayed;
	c->delayed = d;
}

static void
auth_delayed(void *arg)
{
	struct delayed	*d = arg, **pp;
	struct client	*c = d->c;

	for (pp = &c->delayed; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	auth_reply(c, PROTO_FAIL, d->tag, d->why);
	free(d);
	if (sock_write_buf(c->fd, &c->out) == -1) {
		auth_close(c);
		return;
	}
	event_mod(c->ad->loop, c->fd, EV_READ | (c->out.len ? EV_WRITE : 0));
}

static void
auth_reply(struct client *c, int type, const char *tag, const char *what)
{
	if (record_putf(&c->out, type, tag, what, NULL) == -1)
		log_fatal("auth");
}

/*
 * 1 good (login set to the name as the source spells it: lower case for
 * the map, whose keys ignore case; the account name for the system),
 * 0 wrong, -1 cannot tell now.  Every "wrong" costs one crypt(3), so
 * the time taken does not tell unknown, locked or expired accounts apart.
 */
static int
auth_check(struct authd *ad, const char *user, const char *pass, char *login,
    size_t loginlen)
{
	const char	*val;
	char		 hash[512], err[512];
	struct passwd	*pw;
	struct spwd	*sp;
	size_t		 i;
	int		 r, usable;

	if (ad->passwords) {
		/* A rebuilt map counts from the next check on. */
		if (map_refresh(ad->passwords, err, sizeof(err)) == -1)
			log_warnx("auth: %s (keeping the old contents)", err);
		r = map_get(ad->passwords, user, &val, err, sizeof(err));
		if (r == -1) {
			log_warnx("auth: %s", err);
			return -1;
		}
		if (r == 1) {
			strlcpy(hash, val, sizeof(hash));
			hash[strcspn(hash, " \t")] = '\0';
			r = auth_verify(ad, pass, hash);
			explicit_bzero(hash, sizeof(hash));
			for (i = 0; user[i] && i + 1 < loginlen; i++)
				login[i] = (char)tolower((unsigned char)user[i]);
			login[i] = '\0';
			return r;
		}
	}
	if (ad->conf->auth_system_accounts && (pw = getpwnam(user)) != NULL &&
	    pw->pw_uid != 0) {
		strlcpy(login, pw->pw_name, loginlen);
		strlcpy(hash, pw->pw_passwd, sizeof(hash));
		usable = 1;
		if (strcmp(hash, "x") == 0) {
			if ((sp = getspnam(user)) == NULL) {
				log_warnx("auth: no shadow entry for a system "
				    "account (does auth run with group "
				    "shadow?)");
				return -1;
			}
			strlcpy(hash, sp->sp_pwdp, sizeof(hash));
			if (sp->sp_expire > 0 &&
			    sp->sp_expire <= time(NULL) / 86400)
				usable = 0;
			endspent();
		}
		r = auth_verify(ad, pass, usable ? hash : "");
		explicit_bzero(hash, sizeof(hash));
		return r;
	}
	(void)auth_verify(ad, pass, "");
	return 0;
}

/*
 * The key failures are counted under: the IPv4 address, or the /64 of an
 * IPv6 address (a client usually has a whole /64 to hop around in).
 */
static void
auth_client_key(const char *addr, char *key, size_t len)
{
	struct in6_addr	 a6;

	if (strchr(addr, ':') && inet_pton(AF_INET6, addr, &a6) == 1) {
		memset(a6.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a6, key, (socklen_t)len) != NULL &&
		    strlen(key) + 4 < len) {
			strlcat(key, "/64", len);
			return;
		}
	}
	strlcpy(key, addr, len);
}

/* An unusable hash ("!", "*", "", locked): checked against a dummy. */
static int
auth_verify(struct authd *ad, const char *pass, const char *hash)
{
	static struct crypt_data cd;
	const char	*h;
	size_t		 len = strlen(hash);
	int		 ok, usable;

	usable = len >= 13 && hash[0] != '!' && hash[0] != '*';
	if (!usable) {
		if (ad->dummy[0] == '\0')
			return 0;
		hash = ad->dummy;
		len = strlen(hash);
	}
	memset(&cd, 0, sizeof(cd));
	h = crypt_r(pass, hash, &cd);
	ok = usable && h != NULL && h[0] != '*' && strlen(h) == len &&
	    CRYPTO_memcmp(h, hash, len) == 0;
	explicit_bzero(&cd, sizeof(cd));
	return ok;
}

/* The failure record of addr (made when create is set), or NULL. */
static struct failures *
auth_failures(struct authd *ad, const char *addr, int create)
{
	struct failures	*f, *empty = NULL, *oldest = NULL;
	time_t		 now = time(NULL);
	size_t		 i;

	for (i = 0; i < AUTH_TRACK; i++) {
		f = &ad->fail[i];
		if (f->addr[0] && now - f->first >= ad->conf->auth_failure_window)
			f->addr[0] = '\0';
		if (f->addr[0] == '\0') {
			if (empty == NULL)
				empty = f;
		} else if (strcmp(f->addr, addr) == 0) {
			return f;
		} else if (oldest == NULL || f->first < oldest->first) {
			oldest = f;
		}
	}
	if (!create)
		return NULL;
	f = empty ? empty : oldest;
	strlcpy(f->addr, addr, sizeof(f->addr));
	f->count = 0;
	f->first = now;
	return f;
}

/* A real hash of a random password, in the default (strongest) method. */
static void
auth_dummy(struct authd *ad)
{
	struct crypt_data cd;
	char		 salt[CRYPT_GENSALT_OUTPUT_SIZE], pw[33];
	const char	*h;
	size_t		 i;

	arc4random_buf(pw, sizeof(pw) - 1);
	for (i = 0; i < sizeof(pw) - 1; i++)
		pw[i] = (char)('a' + (unsigned char)pw[i] % 26);
	pw[sizeof(pw) - 1] = '\0';
	memset(&cd, 0, sizeof(cd));
	if (crypt_gensalt_rn(NULL, 0, NULL, 0, salt, sizeof(salt)) != NULL &&
	    (h = crypt_r(pw, salt, &cd)) != NULL && h[0] != '*')
		strlcpy(ad->dummy, h, sizeof(ad->dummy));
	explicit_bzero(pw, sizeof(pw));
}

static void
auth_gone(int fd, int events, void *arg)
{
	struct authd	*ad = arg;
	char		 ch;

	(void)events;
	if (read(fd, &ch, 1) > 0)
		return;
	event_loop_exit(ad->loop);
}

static void
auth_signal(int signo, void *arg)
{
	struct authd	*ad = arg;

	(void)signo;
	event_loop_exit(ad->loop);
}
