/*
 * tool: the commands (posthorn, sendmail) run their sibling programs
 * from their own directory, so that a build runs its own tools and an
 * installation its installed ones.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "tool.h"

void
tool_path(char *out, size_t len, const char *name)
{
	char	 self[PATH_MAX];
	ssize_t	 n;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		snprintf(out, len, "%s/%s", dirname(self), name);
	} else
		snprintf(out, len, "%s", name);
}
