/*
 * posthorn-map: build, query and list maps (postmap and makemap in one).
 *
 *	posthorn-map type:file ...	build file.db from file (hash, btree)
 *	posthorn-map -q key type:file	print key's value; exit 1 if absent
 *	posthorn-map -s type:file	print every "key value"
 *	posthorn-map -p [-a method]	print a crypt(3) hash of a password
 *					read from the terminal or stdin
 *	newaliases [-c confdir]		build alias_map from posthorn.conf
 *
 * A build reads the whole source first (a bad line stops it with
 * file:line and leaves the old database alone), then writes the new
 * database under a temporary name and renames it into place.
 */
#include <sys/stat.h>

#include <crypt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/readpassphrase.h>

#include "conf.h"
#include "map.h"

#ifndef CONFIG_DIR
#define CONFIG_DIR	"/usr/local/etc/posthorn"
#endif

static int	 pm_build(const char *);
static int	 pm_query(const char *, const char *);
static int	 pm_list(const char *);
static int	 pm_newaliases(const char *);
static void	 pm_print(const char *, const char *, void *);
static int	 pm_kind(const char *, const char **);
static int	 pm_hash(const char *);
static void	 usage(void) __attribute__((noreturn));

int
main(int argc, char **argv)
{
	const char	*confdir = CONFIG_DIR, *query = NULL, *method = NULL;
	int		 ch, list = 0, rc = 0, i, hash = 0;

	if (strcmp(basename(argv[0]), "newaliases") == 0) {
		while ((ch = getopt(argc, argv, "c:")) != -1) {
			if (ch != 'c')
				usage();
			confdir = optarg;
		}
		return pm_newaliases(confdir);
	}
	while ((ch = getopt(argc, argv, "a:c:pq:s")) != -1) {
		switch (ch) {
		case 'a': method = optarg; break;
		case 'c': confdir = optarg; break;
		case 'p': hash = 1; break;
		case 'q': query = optarg; break;
		case 's': list = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (hash || method) {
		if (!hash || argc != 0 || query || list)
			usage();
		return pm_hash(method);
	}
	if (argc < 1 || ((query || list) && argc != 1) || (query && list))
		usage();
	if (query)
		return pm_query(query, argv[0]);
	if (list)
		return pm_list(argv[0]);
	for (i = 0; i < argc; i++)
		if (pm_build(argv[i]) != 0)
			rc = 2;
	return rc;
}

/*
 * A password hash for auth_password_map: yescrypt (the default of
 * Debian's libcrypt) or sha512 ("$6$").  The password comes from the
 * terminal (asked twice) or, when stdin is not one, from its first line.
 */
static int
pm_hash(const char *method)
{
	struct crypt_data cd;
	char		 pw[1024], again[1024], salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char	*prefix = NULL, *h;
	int		 tty = isatty(STDIN_FILENO);

	if (method == NULL || strcmp(method, "yescrypt") == 0)
		prefix = "$y$";
	else if (strcmp(method, "sha512") == 0)
		prefix = "$6$";
	else {
		fprintf(stderr, "posthorn-map: -a: yescrypt or sha512\n");
		return 2;
	}
	if (tty) {
		if (readpassphrase("Password: ", pw, sizeof(pw), RPP_REQUIRE_TTY)
		    == NULL || readpassphrase("Again: ", again, sizeof(again),
		    RPP_REQUIRE_TTY) == NULL) {
			fprintf(stderr, "posthorn-map: cannot read the "
			    "password\n");
			return 2;
		}
		if (strcmp(pw, again) != 0) {
			fprintf(stderr, "posthorn-map: the passwords differ\n");
			return 2;
		}
		explicit_bzero(again, sizeof(again));
	} else if (fgets(pw, sizeof(pw), stdin) == NULL) {
		fprintf(stderr, "posthorn-map: no password on stdin\n");
		return 2;
	}
	if (!tty && strchr(pw, '\n') == NULL && !feof(stdin)) {
		fprintf(stderr, "posthorn-map: password too long\n");
		explicit_bzero(pw, sizeof(pw));
		return 2;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	if (strlen(pw) >= CRYPT_MAX_PASSPHRASE_SIZE) {
		fprintf(stderr, "posthorn-map: password longer than %d "
		    "characters (the crypt(3) limit)\n",
		    CRYPT_MAX_PASSPHRASE_SIZE - 1);
		explicit_bzero(pw, sizeof(pw));
		return 2;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "posthorn-map: empty password\n");
		return 2;
	}
	memset(&cd, 0, sizeof(cd));
	if (crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof(salt)) == NULL ||
	    (h = crypt_r(pw, salt, &cd)) == NULL || h[0] == '*') {
		fprintf(stderr, "posthorn-map: crypt(3) cannot make a %s "
		    "hash\n", method ? method : "yescrypt");
		explicit_bzero(pw, sizeof(pw));
		return 2;
	}
	explicit_bzero(pw, sizeof(pw));
	printf("%s\n", h);
	explicit_bzero(&cd, sizeof(cd));
	return 0;
}

/* 1 hash, 2 btree, 0 text/other; *path is the source file. */
static int
pm_kind(const char *spec, const char **path)
{
	if (strncmp(spec, "hash:", 5) == 0) {
		*path = spec + 5;
		return 1;
	}
	if (strncmp(spec, "btree:", 6) == 0) {
		*path = spec + 6;
		return 2;
	}
	*path = strncmp(spec, "text:", 5) == 0 ? spec + 5 : spec;
	return 0;
}

static int
pm_build(const char *spec)
{
	struct map_entry *e;
	const char	*src;
	char		 db[PATH_MAX], err[1024];
	struct stat	 st;
	size_t		 n;
	int		 kind;

	if ((kind = pm_kind(spec, &src)) == 0) {
		fprintf(stderr, "posthorn-map: %s: only hash: and btree: maps "
		    "are built\n", spec);
		return 2;
	}
	if (map_text_read(src, &e, &n, err, sizeof(err)) == -1) {
		fprintf(stderr, "posthorn-map: %s\n", err);
		return 2;
	}
	snprintf(db, sizeof(db), "%s.db", src);
	if (stat(src, &st) == -1) {
		fprintf(stderr, "posthorn-map: %s: cannot stat\n", src);
		map_entries_free(e, n);
		return 2;
	}
	if (map_db_build(db, kind == 2, e, n, &st, err, sizeof(err)) == -1) {
		fprintf(stderr, "posthorn-map: %s\n", err);
		map_entries_free(e, n);
		return 2;
	}
	map_entries_free(e, n);
	return 0;
}

static int
pm_query(const char *key, const char *spec)
{
	struct map	*m;
	const char	*val;
	char		 err[1024];
	int		 r;

	if ((m = map_open(spec, err, sizeof(err))) == NULL) {
		fprintf(stderr, "posthorn-map: %s\n", err);
		return 2;
	}
	r = map_get(m, key, &val, err, sizeof(err));
	if (r == 1)
		printf("%s\n", val);
	else if (r == -1)
		fprintf(stderr, "posthorn-map: %s\n", err);
	map_close(m);
	return r == 1 ? 0 : r == 0 ? 1 : 2;
}

static int
pm_list(const char *spec)
{
	struct map_entry *e;
	const char	*src;
	char		 db[PATH_MAX], err[1024];
	size_t		 n, i;
	int		 kind;

	if ((kind = pm_kind(spec, &src)) == 0) {
		if (map_text_read(src, &e, &n, err, sizeof(err)) == -1) {
			fprintf(stderr, "posthorn-map: %s\n", err);
			return 2;
		}
		for (i = 0; i < n; i++)
			printf("%s %s\n", e[i].key, e[i].value);
		map_entries_free(e, n);
		return 0;
	}
	snprintf(db, sizeof(db), "%s.db", src);
	if (map_db_walk(db, kind == 2, pm_print, NULL, err, sizeof(err)) ==
	    -1) {
		fprintf(stderr, "posthorn-map: %s\n", err);
		return 2;
	}
	return 0;
}

static void
pm_print(const char *k, const char *v, void *arg)
{
	(void)arg;
	printf("%s %s\n", k, v);
}

static int
pm_newaliases(const char *confdir)
{
	struct conf	 c;
	char		 err[1024];
	const char	*src;
	int		 rc;

	if (conf_load(&c, confdir, err, sizeof(err)) == -1) {
		fprintf(stderr, "newaliases: %s\n", err);
		return 2;
	}
	if (c.alias_map[0] == '\0') {
		fprintf(stderr, "newaliases: alias_map is not set in %s/%s\n",
		    confdir, CONF_FILE);
		conf_free(&c);
		return 2;
	}
	if (pm_kind(c.alias_map, &src) == 0) {
		/* A text map is read as it is: nothing to build. */
		conf_free(&c);
		return 0;
	}
	rc = pm_build(c.alias_map);
	conf_free(&c);
	return rc;
}

static void
usage(void)
{
	fprintf(stderr, "usage: posthorn-map [-c confdir] type:file ...\n"
	    "       posthorn-map -q key type:file\n"
	    "       posthorn-map -s type:file\n"
	    "       posthorn-map -p [-a yescrypt|sha512]\n"
	    "       newaliases [-c confdir]\n");
	exit(2);
}
