/* dkimkeys: the dkim_signing_keys list, and the files it names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkimkeys.h"

static int	 dkimkeys_entry(char *, dkimkeys_fn, void *, char *, size_t);
static int	 dkimkeys_file(const char *, dkimkeys_fn, void *, char *,
		    size_t);

int
dkimkeys_each(const char *spec, int files, dkimkeys_fn fn, void *arg,
    char *err, size_t errlen)
{
	char	*list, *item, *save = NULL;
	int	 rc = 0;

	if ((list = strdup(spec)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (item = strtok_r(list, ", \t\n", &save); item != NULL && rc == 0;
	    item = strtok_r(NULL, ", \t\n", &save))
		rc = item[0] != '/' ? dkimkeys_entry(item, fn, arg, err,
		    errlen) : files ? dkimkeys_file(item, fn, arg, err,
		    errlen) : 0;
	free(list);
	return rc;
}

static int
dkimkeys_entry(char *item, dkimkeys_fn fn, void *arg, char *err,
    size_t errlen)
{
	char	*sel, *path;

	if ((sel = strchr(item, ':')) == NULL ||
	    (path = strchr(sel + 1, ':')) == NULL || sel == item ||
	    path == sel + 1 || path[1] != '/') {
		snprintf(err, errlen, "\"%s\": expected "
		    "domain:selector:/path/to/key.pem", item);
		return -1;
	}
	*sel++ = '\0';
	*path++ = '\0';
	if (strlen(item) > 253 || strlen(sel) > 63) {
		snprintf(err, errlen, "\"%s\": domain or selector too long",
		    item);
		return -1;
	}
	return fn(item, sel, path, arg);
}

static int
dkimkeys_file(const char *path, dkimkeys_fn fn, void *arg, char *err,
    size_t errlen)
{
	FILE	*fp;
	char	 line[1024], *p, *save = NULL, *item;
	int	 rc = 0, n = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), fp) != NULL) {
		n++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		for (item = strtok_r(line, ", \t\r\n", &save); item != NULL &&
		    rc == 0; item = strtok_r(NULL, ", \t\r\n", &save))
			if ((rc = dkimkeys_entry(item, fn, arg, err,
			    errlen)) == -1) {
				size_t l = strlen(err);

				snprintf(err + l, errlen - l, " (%s, line %d)",
				    path, n);
			}
	}
	fclose(fp);
	return rc;
}
