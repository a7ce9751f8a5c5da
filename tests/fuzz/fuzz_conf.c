/*
 * libFuzzer harness: posthorn.conf (common/conf.c) and the services table
 * master.conf (master/mconf.c), which both take a configuration
 * directory.  The input is posthorn.conf, then a line "%%", then
 * master.conf; each is a memfd that a symlink in a scratch directory
 * names.  Programs are looked up in a scratch daemon_directory that holds
 * the real ones' names.
 *
 * Checked: what conf_load takes, posthorn-conf's way of writing it out
 * (conf_format, every key) loads again to the same values; a refusal
 * says why (FUZZ_TRACE set: printed); a services table that loads is
 * sound.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "conf.h"
#include "master.h"

#define SEP		"\n%%\n"
#define VALUE_MAX	16384	/* any value of a 4096-byte input */
#define MASTER_DEFAULT	"smtp 127.0.0.1:25 smtpd 1 posthorn y\n"

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 top[] = "/tmp/fuzz_conf.XXXXXX";
static char	 dir[64], again[64], bin[64];
static int	 conf_fd, master_fd, again_fd;
static int	 trace;		/* FUZZ_TRACE: say what was refused */

static void	 fail(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static int	 memfd_link(const char *, const char *);
static void	 fill(int, const void *, size_t);
static void	 roundtrip(const struct conf *);
static void	 services(struct conf *);
static void	 cleanup(void);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const progs[] = { "master", "smtpd", "qmgr",
	    "local", "smtp", "pickup", "keyd", "auth" };
	char	 path[128];
	size_t	 i;
	int	 fd;

	(void)argc;
	(void)argv;
	trace = getenv("FUZZ_TRACE") != NULL;
	if (mkdtemp(top) == NULL)
		fail("mkdtemp: %s", strerror(errno));
	atexit(cleanup);
	snprintf(dir, sizeof(dir), "%s/etc", top);
	snprintf(again, sizeof(again), "%s/again", top);
	snprintf(bin, sizeof(bin), "%s/libexec", top);
	if (mkdir(dir, 0700) == -1 || mkdir(again, 0700) == -1 ||
	    mkdir(bin, 0700) == -1)
		fail("mkdir: %s", strerror(errno));
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", bin, progs[i]);
		if ((fd = open(path, O_WRONLY | O_CREAT, 0755)) == -1)
			fail("%s: %s", path, strerror(errno));
		close(fd);
	}
	conf_fd = memfd_link(dir, CONF_FILE);
	master_fd = memfd_link(dir, MASTER_FILE);
	again_fd = memfd_link(again, CONF_FILE);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf	 c;
	const uint8_t	*sep;
	char		 err[1024];
	size_t		 n;

	if ((sep = memmem(data, size, SEP, strlen(SEP))) != NULL) {
		n = (size_t)(sep - data) + 1;	/* with its last LF */
		fill(conf_fd, data, n);
		fill(master_fd, sep + strlen(SEP), size - n - strlen(SEP) + 1);
	} else {
		fill(conf_fd, data, size);
		fill(master_fd, MASTER_DEFAULT, strlen(MASTER_DEFAULT));
	}
	err[0] = '\0';
	if (conf_load(&c, dir, err, sizeof(err)) == -1) {
		if (trace)
			fprintf(stderr, "posthorn.conf: %s\n", err);
		if (err[0] == '\0')
			fail("conf_load failed without saying why");
		conf_free(&c);
		return 0;
	}
	roundtrip(&c);
	services(&c);
	conf_free(&c);
	return 0;
}

/* As posthorn-conf -n writes the configuration, then loaded again. */
static void
roundtrip(const struct conf *c)
{
	struct conf	 c2;
	FILE		*fp;
	char		*text = NULL, *v, *v2, err[1024];
	size_t		 len = 0, i;
	const char	*name;

	if ((v = malloc(VALUE_MAX)) == NULL || (v2 = malloc(VALUE_MAX)) ==
	    NULL || (fp = open_memstream(&text, &len)) == NULL)
		fail("out of memory");
	for (i = 0; (name = conf_key_name(i)) != NULL; i++) {
		conf_format(c, i, v, VALUE_MAX);
		fprintf(fp, "%s = %s\n", name, v);
	}
	fclose(fp);
	fill(again_fd, text, len);
	if (conf_load(&c2, again, err, sizeof(err)) == -1)
		fail("what loaded does not load again: %s", err);
	for (i = 0; (name = conf_key_name(i)) != NULL; i++) {
		conf_format(c, i, v, VALUE_MAX);
		conf_format(&c2, i, v2, VALUE_MAX);
		if (strcmp(v, v2) != 0)
			fail("%s: '%s' loads again as '%s'", name, v, v2);
	}
	conf_free(&c2);
	free(text);
	free(v);
	free(v2);
}

static void
services(struct conf *c)
{
	struct service_set set;
	char		 err[1024];
	int		 i, j;

	free(c->daemon_directory);
	if ((c->daemon_directory = strdup(bin)) == NULL)
		fail("out of memory");
	err[0] = '\0';
	if (mconf_load(&set, c, err, sizeof(err)) == -1) {
		if (trace)
			fprintf(stderr, "master.conf: %s\n", err);
		if (err[0] == '\0')
			fail("mconf_load failed without saying why");
		return;
	}
	if (trace)
		fprintf(stderr, "master.conf: %d services\n", set.n);
	if (set.n < 1)
		fail("a services table without services");
	for (i = 0; i < set.n; i++) {
		const struct svc_def *d = &set.defs[i];

		if (d->name == NULL || d->listen == NULL ||
		    d->program == NULL || d->user == NULL ||
		    d->procs < 1 || d->procs > MASTER_MAX_PROCS ||
		    (d->chroot != 0 && d->chroot != 1) || d->nargs < 0 ||
		    (d->nargs > 0 && d->args == NULL) ||
		    strchr(d->program, '/') != NULL)
			fail("unsound service at line %d", d->line);
		for (j = 0; j < d->nargs; j++)
			if (d->args[j] == NULL)
				fail("missing argument at line %d", d->line);
		for (j = 0; j < i; j++)
			if (strcmp(set.defs[j].name, d->name) == 0 ||
			    strcmp(set.defs[j].listen, d->listen) == 0)
				fail("service %s twice", d->name);
	}
	mconf_free(&set);
}

static int
memfd_link(const char *in, const char *name)
{
	char	 path[128], target[64];
	int	 fd;

	if ((fd = memfd_create(name, 0)) == -1)
		fail("memfd_create: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", in, name);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (symlink(target, path) == -1)
		fail("symlink %s: %s", path, strerror(errno));
	return fd;
}

static void
fill(int fd, const void *p, size_t n)
{
	if (ftruncate(fd, 0) == -1 || (n > 0 && pwrite(fd, p, n, 0) !=
	    (ssize_t)n))
		fail("memfd: %s", strerror(errno));
}

static void
cleanup(void)
{
	static const char *const files[] = { "etc/" CONF_FILE,
	    "etc/" MASTER_FILE, "again/" CONF_FILE, "libexec/master",
	    "libexec/smtpd", "libexec/qmgr", "libexec/local", "libexec/smtp",
	    "libexec/pickup", "libexec/keyd", "libexec/auth", "etc", "again",
	    "libexec", "" };
	char	 path[128];
	size_t	 i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", top, files[i]);
		(void)remove(path);
	}
}

static void
fail(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_conf: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}
