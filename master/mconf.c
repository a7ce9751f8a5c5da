/*
 * mconf: master.conf, the services table.  One service per line:
 *
 *	name  listen  program  procs  user  chroot  [args...]
 *
 * listen is "address:port" for a TCP service or "unix:path" (relative to
 * queue_directory) for an internal one.  Every field is checked here, so
 * that a typo stops the start (or is refused by a reload) with file:line.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "master.h"
#include "privsep.h"
#include "sock.h"

#define MCONF_MAX_FIELDS	32

static int	 mconf_line(struct svc_def *, char *, const struct conf *,
		    char *, size_t);

int
mconf_load(struct service_set *set, const struct conf *c, char *err,
    size_t errlen)
{
	char		 path[PATH_MAX], why[512], *line = NULL;
	size_t		 cap = 0;
	int		 lineno = 0, i;
	FILE		*fp;
	struct svc_def	 d, *nd;

	memset(set, 0, sizeof(*set));
	snprintf(path, sizeof(path), "%s/%s", c->config_directory, MASTER_FILE);
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) != -1) {
		lineno++;
		line[strcspn(line, "#\r\n")] = '\0';
		if (line[strspn(line, " \t")] == '\0')
			continue;
		memset(&d, 0, sizeof(d));
		d.line = lineno;
		if (mconf_line(&d, line, c, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			goto bad_d;
		}
		for (i = 0; i < set->n; i++)
			if (strcmp(set->defs[i].name, d.name) == 0 ||
			    strcmp(set->defs[i].listen, d.listen) == 0) {
				snprintf(err, errlen, "%s:%d: service '%s' or "
				    "address '%s' already used at line %d",
				    path, lineno, d.name, d.listen,
				    set->defs[i].line);
				goto bad_d;
			}
		if ((nd = reallocarray(set->defs, (size_t)set->n + 1,
		    sizeof(*nd))) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto bad_d;
		}
		set->defs = nd;
		set->defs[set->n++] = d;
		continue;
bad_d:
		mconf_free_def(&d);
		goto bad;
	}
	free(line);
	fclose(fp);
	if (set->n == 0) {
		snprintf(err, errlen, "%s: no services", path);
		return -1;
	}
	return 0;
bad:
	free(line);
	fclose(fp);
	mconf_free(set);
	return -1;
}

void
mconf_free(struct service_set *set)
{
	int	 i;

	for (i = 0; i < set->n; i++)
		mconf_free_def(&set->defs[i]);
	free(set->defs);
	memset(set, 0, sizeof(*set));
}

void
mconf_free_def(struct svc_def *d)
{
	int	 j;

	free(d->name);
	free(d->listen);
	free(d->program);
	free(d->user);
	for (j = 0; j < d->nargs; j++)
		free(d->args[j]);
	free(d->args);
	memset(d, 0, sizeof(*d));
}

static int
mconf_line(struct svc_def *d, char *line, const struct conf *c, char *why,
    size_t whylen)
{
	char		*f[MCONF_MAX_FIELDS], *end, prog[PATH_MAX];
	int		 n = 0, i;
	long		 procs;
	uid_t		 uid;
	gid_t		 gid;
	struct stat	 st;
	struct sockaddr_storage ss;
	socklen_t	 sslen;

	for (f[n] = strtok(line, " \t"); f[n] && n < MCONF_MAX_FIELDS - 1;
	    f[++n] = strtok(NULL, " \t"))
		;
	if (n < 6) {
		snprintf(why, whylen, "expected 'name listen program procs "
		    "user chroot [args]', got %d field%s", n, n == 1 ? "" : "s");
		return -1;
	}
	if (strncmp(f[1], "unix:", 5) == 0) {
		if (f[1][5] == '\0' || f[1][5] == '/' || strstr(f[1], "..")) {
			snprintf(why, whylen, "'%s': a unix socket path must "
			    "be relative to queue_directory", f[1]);
			return -1;
		}
	} else if (sock_inet_parse(f[1], &ss, &sslen, why, whylen) == -1) {
		return -1;
	}
	if (strchr(f[2], '/') != NULL) {
		snprintf(why, whylen, "'%s': program is a name in "
		    "daemon_directory, not a path", f[2]);
		return -1;
	}
	snprintf(prog, sizeof(prog), "%s/%s", c->daemon_directory, f[2]);
	if (stat(prog, &st) == -1 || !S_ISREG(st.st_mode) ||
	    access(prog, X_OK) == -1) {
		snprintf(why, whylen, "program '%s' not found or not "
		    "executable in daemon_directory (%s)", f[2],
		    c->daemon_directory);
		return -1;
	}
	procs = strtol(f[3], &end, 10);
	if (*end || end == f[3] || procs < 1 || procs > MASTER_MAX_PROCS) {
		snprintf(why, whylen, "procs '%s': expected 1 to %d", f[3],
		    MASTER_MAX_PROCS);
		return -1;
	}
	if (geteuid() == 0 && privsep_lookup(f[4], &uid, &gid) == -1) {
		snprintf(why, whylen, "user '%s' does not exist (see INSTALL)",
		    f[4]);
		return -1;
	}
	if (strcmp(f[5], "y") != 0 && strcmp(f[5], "n") != 0) {
		snprintf(why, whylen, "chroot '%s': expected y or n", f[5]);
		return -1;
	}
	if ((d->name = strdup(f[0])) == NULL ||
	    (d->listen = strdup(f[1])) == NULL ||
	    (d->program = strdup(f[2])) == NULL ||
	    (d->user = strdup(f[4])) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	d->procs = (int)procs;
	d->chroot = f[5][0] == 'y';
	/* Extra fields: "-o name=value" settings for this service only. */
	for (i = 6; i < n; i += 2) {
		struct conf	 tmp;
		char		 e[256];
		int		 bad;

		if (strcmp(f[i], "-o") != 0 || i + 1 >= n) {
			snprintf(why, whylen, "'%s': extra fields must be "
			    "'-o name=value'", f[i]);
			return -1;
		}
		/* Checked as the service will see it: the file, then -o. */
		if (conf_load(&tmp, c->config_directory, e, sizeof(e)) == -1)
			bad = 1;
		else
			bad = conf_override(&tmp, f[i + 1], e, sizeof(e)) == -1;
		conf_free(&tmp);
		if (bad) {
			snprintf(why, whylen, "-o %s", e);
			return -1;
		}
	}
	if (n == MCONF_MAX_FIELDS - 1) {
		snprintf(why, whylen, "too many fields");
		return -1;
	}
	d->nargs = n - 6;
	if (d->nargs > 0) {
		if ((d->args = calloc((size_t)d->nargs, sizeof(char *))) == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		for (i = 0; i < d->nargs; i++)
			if ((d->args[i] = strdup(f[6 + i])) == NULL) {
				snprintf(why, whylen, "out of memory");
				return -1;
			}
	}
	return 0;
}
