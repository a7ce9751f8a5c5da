/* libFuzzer harness: queue files (common/queuefile.c) read back. */
#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queuefile.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 fd = -1;
	struct qf_env	 env;
	char		 err[256], chunk[QF_CHUNK], val[128];
	off_t		 off;
	size_t		 i;

	if (fd == -1 && (fd = memfd_create("qf", 0)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, size, 0) !=
	    (ssize_t)size)
		return 0;
	if (qf_read_env(fd, &env, err, sizeof(err)) == 0) {
		off = env.content_off;
		while (qf_read_content(fd, &off, chunk, sizeof(chunk)) > 0)
			;
		for (i = 0; i < env.nrcpt; i++)
			(void)qf_param(env.rcpt[i].params, "NOTIFY", val,
			    sizeof(val));
		(void)qf_param(env.sender_params, "ENVID", val, sizeof(val));
		qf_env_free(&env);
	}
	return 0;
}
