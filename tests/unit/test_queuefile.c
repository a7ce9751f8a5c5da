/* Unit test: queue files, and the deferral records appended after E. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "queuefile.h"

static int
make_file(char *path)
{
	int	 fd;

	if ((fd = mkstemp(path)) == -1)
		return -1;
	qf_write(fd, 'V', QF_VERSION, strlen(QF_VERSION));
	qf_write(fd, 'T', "1000", 4);
	qf_write(fd, 'S', "s@example.org\0BODY=7BIT", 24);
	qf_write(fd, 'R', "Pa@example.org\0", 15);
	qf_write(fd, 'R', "Pb@example.org\0NOTIFY=DELAY", 28);
	qf_write(fd, 'D', "Subject: x\n\nbody\n", 17);
	qf_write(fd, 'E', "17", 2);
	return fd;
}

int
main(void)
{
	char		 path[] = "/tmp/posthorn-qf.XXXXXX", err[256], buf[64];
	struct qf_env	 env;
	off_t		 off;
	int		 fd;

	CHECK((fd = make_file(path)) != -1);
	CHECK(qf_read_env(fd, &env, err, sizeof(err)) == 0);
	CHECK(env.nrcpt == 2 && env.rcpt[1].defer_dsn[0] == '\0');
	qf_env_free(&env);

	/* Two deferrals for b: the last one counts. */
	CHECK(qf_add_defer(fd, 1, "4.4.1", "connection refused", 2000) == 0);
	CHECK(qf_add_defer(fd, 1, "4.2.2", "mailbox full", 3000) == 0);
	CHECK(qf_read_env(fd, &env, err, sizeof(err)) == 0);
	CHECK_STR(env.rcpt[1].defer_dsn, "4.2.2");
	CHECK_STR(env.rcpt[1].defer_text, "mailbox full");
	CHECK(env.rcpt[1].defer_time == 3000);
	CHECK(env.rcpt[0].defer_text == NULL);
	/* The content still ends at E. */
	off = env.content_off;
	CHECK(qf_read_content(fd, &off, buf, sizeof(buf)) == 17);
	CHECK(qf_read_content(fd, &off, buf, sizeof(buf)) == 0);
	qf_env_free(&env);

	/* A torn X at the end (a crash while appending) is ignored. */
	CHECK(write(fd, "X\0\0\0\x20" "1\0" "4.", 9) == 9);
	CHECK(qf_read_env(fd, &env, err, sizeof(err)) == 0);
	CHECK_STR(env.rcpt[1].defer_dsn, "4.2.2");
	qf_env_free(&env);

	/* An X for a recipient that does not exist ends the reading. */
	CHECK(ftruncate(fd, 0) == 0);
	close(fd);
	unlink(path);
	strcpy(path, "/tmp/posthorn-qf.XXXXXX");
	CHECK((fd = make_file(path)) != -1);
	CHECK(qf_add_defer(fd, 7, "4.0.0", "nobody", 1) == 0);
	CHECK(qf_read_env(fd, &env, err, sizeof(err)) == 0);
	CHECK(env.nrcpt == 2 && env.rcpt[0].defer_text == NULL &&
	    env.rcpt[1].defer_text == NULL);
	qf_env_free(&env);
	close(fd);
	unlink(path);
	CHECK_DONE();
}
