/*
 * posthorn-conf: the configuration as posthorn sees it, in the spirit of
 * postconf(1).
 *
 *	posthorn-conf [-c confdir] [-n | -d] [-h] [name ...]
 *
 * Without names: every parameter, "name = value", in the order of the
 * table.  -n: only those whose value is not the default; -d: the
 * defaults instead of the values; -h: the value alone.  posthorn.conf is
 * read and checked as every daemon reads it, so an error here is an
 * error there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

#ifndef CONFIG_DIR
#define CONFIG_DIR	"/usr/local/etc/posthorn"
#endif

static void	 usage(void) __attribute__((noreturn));
static void	 show(const struct conf *, const struct conf *, size_t, int,
		    int, int);

int
main(int argc, char **argv)
{
	struct conf	 c, defs;
	const char	*confdir = CONFIG_DIR;
	char		 err[1024];
	size_t		 i;
	int		 ch, nondefault = 0, defaults = 0, bare = 0, rc = 0;

	while ((ch = getopt(argc, argv, "c:dhn")) != -1) {
		switch (ch) {
		case 'c':
			confdir = optarg;
			break;
		case 'd':
			defaults = 1;
			break;
		case 'h':
			bare = 1;
			break;
		case 'n':
			nondefault = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (nondefault && defaults)
		usage();
	if (conf_defaults(&defs, err, sizeof(err)) == -1) {
		fprintf(stderr, "posthorn-conf: %s\n", err);
		return 1;
	}
	/* The defaults need no file; everything else is the file's. */
	if (!defaults && conf_load(&c, confdir, err, sizeof(err)) == -1) {
		fprintf(stderr, "posthorn-conf: %s\n", err);
		return 1;
	}
	if (argc == 0) {
		for (i = 0; conf_key_name(i); i++)
			show(defaults ? &defs : &c, &defs, i, nondefault,
			    defaults, bare);
		return 0;
	}
	for (; argc > 0; argc--, argv++) {
		if (conf_key_index(argv[0], &i) == -1) {
			fprintf(stderr, "posthorn-conf: unknown parameter '%s'\n",
			    argv[0]);
			rc = 1;
			continue;
		}
		show(defaults ? &defs : &c, &defs, i, nondefault, defaults,
		    bare);
	}
	return rc;
}

static void
show(const struct conf *c, const struct conf *defs, size_t i, int nondefault,
    int defaults, int bare)
{
	char	 v[4096], d[4096];

	if (defaults) {
		/* As written in the table (and in posthorn.conf(5)). */
		snprintf(v, sizeof(v), "%s", conf_key_default(i));
	} else {
		conf_format(c, i, v, sizeof(v));
		if (nondefault) {
			conf_format(defs, i, d, sizeof(d));
			if (strcmp(v, d) == 0)
				return;
		}
	}
	if (bare)
		printf("%s\n", v);
	else
		printf("%s = %s\n", conf_key_name(i), v);
}

static void
usage(void)
{
	fprintf(stderr, "usage: posthorn-conf [-c confdir] [-n | -d] [-h] "
	    "[name ...]\n");
	exit(2);
}
