/* Unit tests: buffers, records and queue files (common/). */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "queuefile.h"
#include "queueid.h"
#include "record.h"

static void
test_buf(void)
{
	struct buf	 b;

	buf_init(&b, 8);
	CHECK(buf_append(&b, "12345678", 8) == 0);
	CHECK(buf_appendc(&b, '9') == -1);	/* over the cap */
	CHECK(b.len == 8);
	buf_consume(&b, 3);
	CHECK_STR(buf_cstr(&b), "45678");
	CHECK(buf_printf(&b, "%d", 12) == 0);
	CHECK_STR(buf_cstr(&b), "4567812");
	CHECK(buf_printf(&b, "%d", 123) == -1);
	buf_free(&b);
}

static void
test_record(void)
{
	struct buf	 b;
	struct record	 r;
	const char	*f[3];
	size_t		 total;

	buf_init(&b, 0);
	CHECK(record_putf(&b, 'M', "a@b", "", "x", NULL) == 0);
	CHECK(record_peek(&b, &r, &total) == 1);
	CHECK(r.type == 'M' && r.len == 7 && total == 12);
	CHECK(record_fields(&r, f, 3) == 0);
	CHECK_STR(f[0], "a@b");
	CHECK_STR(f[1], "");
	CHECK_STR(f[2], "x");
	CHECK(record_fields(&r, f, 2) == -1);	/* exact count only */
	/* A partial record is "need more", never a misparse. */
	b.len = 11;
	CHECK(record_peek(&b, &r, &total) == 0);
	/* A length past RECORD_MAX ends the reader. */
	buf_reset(&b);
	buf_append(&b, "M\x7f\xff\xff\xff", 5);
	CHECK(record_peek(&b, &r, &total) == -1);
	/* Unterminated field. */
	buf_reset(&b);
	record_put(&b, 'R', "abc", 3);
	CHECK(record_peek(&b, &r, &total) == 1);
	CHECK(record_fields(&r, f, 1) == -1);
	buf_free(&b);
}

static void
test_queuefile(void)
{
	char		 path[] = "/tmp/posthorn-unit.XXXXXX", err[256];
	char		 chunk[QF_CHUNK], id[QUEUEID_LEN + 1], id2[QUEUEID_LEN + 1];
	struct qf_env	 env;
	off_t		 off;
	ssize_t		 n;
	int		 fd;

	CHECK((fd = mkstemp(path)) != -1);
	qf_write(fd, 'V', QF_VERSION, strlen(QF_VERSION));
	qf_write(fd, 'T', "1700000000", 10);
	qf_write(fd, 'S', "s@example.org", 14);
	qf_write(fd, 'R', "Pa@localhost\0\0", 14);
	qf_write(fd, 'R', "Pb@localhost\0\0", 14);
	/* Without END the file is not a committed message. */
	CHECK(qf_read_env(fd, &env, err, sizeof(err)) == -1);
	qf_write(fd, 'D', "hello\n", 6);
	qf_write(fd, 'D', "world\n", 6);
	qf_write(fd, 'E', "12", 2);
	CHECK(qf_read_env(fd, &env, err, sizeof(err)) == 0);
	CHECK(env.nrcpt == 2);
	CHECK_STR(env.sender, "s@example.org");
	CHECK_STR(env.rcpt[1].addr, "b@localhost");
	CHECK(env.rcpt[0].state == QF_PENDING);
	CHECK(env.content_size == 12);
	off = env.content_off;
	CHECK((n = qf_read_content(fd, &off, chunk, sizeof(chunk))) == 6);
	CHECK(memcmp(chunk, "hello\n", 6) == 0);
	CHECK(qf_read_content(fd, &off, chunk, sizeof(chunk)) == 6);
	CHECK(qf_read_content(fd, &off, chunk, sizeof(chunk)) == 0);
	/* A state change survives a re-read. */
	CHECK(qf_set_state(fd, &env.rcpt[0], QF_DELIVERED) == 0);
	qf_env_free(&env);
	CHECK(qf_read_env(fd, &env, err, sizeof(err)) == 0);
	CHECK(env.rcpt[0].state == QF_DELIVERED);
	CHECK(env.rcpt[1].state == QF_PENDING);
	qf_env_free(&env);
	/* A corrupt state byte is refused, not guessed at. */
	CHECK(pwrite(fd, "X", 1, 0) == 1);
	CHECK(qf_read_env(fd, &env, err, sizeof(err)) == -1);
	close(fd);
	unlink(path);

	queueid_new(id);
	queueid_new(id2);
	CHECK(queueid_valid(id) && queueid_valid(id2));
	CHECK(strcmp(id, id2) < 0);	/* sortable by arrival */
	CHECK(!queueid_valid("../etc/passwd"));
}

int
main(void)
{
	test_buf();
	test_record();
	test_queuefile();
	CHECK_DONE();
}
