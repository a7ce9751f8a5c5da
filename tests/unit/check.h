/* check: a minimal assertion helper for the unit tests. */
#ifndef POSTHORN_CHECK_H
#define POSTHORN_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		check_failures++;					\
	}								\
} while (0)

#define CHECK_STR(a, b) do {						\
	const char *check_a = (a), *check_b = (b);			\
	if (strcmp(check_a, check_b) != 0) {				\
		fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__,	\
		    __LINE__, check_a, check_b);			\
		check_failures++;					\
	}								\
} while (0)

#define CHECK_DONE() do {						\
	if (check_failures) {						\
		fprintf(stderr, "%d failure(s)\n", check_failures);	\
		return 1;						\
	}								\
	printf("all checks passed\n");					\
	return 0;							\
} while (0)

#endif
