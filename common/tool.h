/* tool: where the sibling programs of a command are. */
#ifndef POSTHORN_TOOL_H
#define POSTHORN_TOOL_H

#include <stddef.h>

/* name next to the running program (build/bin, or PREFIX/sbin). */
void	 tool_path(char *out, size_t, const char *name);

#endif
