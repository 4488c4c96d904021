/*
 * Unit tests for proto: the encoders and decoders, and the real framing
 * with fd passing over a socketpair.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitsu/proto.h"

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void encode_sample(struct proto_buf *b)
{
	const char *argv[] = {"tee", "/root/a b", "-a", NULL};
	const char *env[] = {"TERM=xterm", NULL};
	struct proto_exec e = {
		.flags = 0,
		.target = "bob",
		.reason = "ticket 7",
		.argc = 3,
		.argv = argv,
		.envc = 1,
		.env = env,
		.rows = 24,
		.cols = 80,
	};
	proto_buf_init(b);
	assert_int_equal(proto_exec_encode(b, &e), 0);
}

static void test_exec_round_trip(void **state)
{
	struct proto_buf b;
	struct proto_exec d;
	encode_sample(&b);
	assert_int_equal(proto_exec_decode(b.data, b.len, &d), 0);
	assert_string_equal(d.target, "bob");
	assert_string_equal(d.reason, "ticket 7");
	assert_int_equal(d.argc, 3);
	assert_string_equal(d.argv[1], "/root/a b");
	assert_null(d.argv[3]);
	assert_int_equal(d.envc, 1);
	assert_string_equal(d.env[0], "TERM=xterm");
	assert_int_equal(d.rows, 24);
	assert_int_equal(d.cols, 80);
	proto_exec_free(&d);
	proto_buf_free(&b);
}

/* The break-glass flag travels; a bit this daemon does not know is refused
 * by the encoder and by the decoder. */
static void test_exec_flags_checked(void **state)
{
	struct proto_buf b;
	struct proto_exec d;
	const char *argv[] = {"id", NULL};
	struct proto_exec e = {.flags = PROTO_EXEC_F_BREAKGLASS, .argc = 1, .argv = argv};
	proto_buf_init(&b);
	assert_int_equal(proto_exec_encode(&b, &e), 0);
	assert_int_equal(proto_exec_decode(b.data, b.len, &d), 0);
	assert_int_equal(d.flags, PROTO_EXEC_F_BREAKGLASS);
	proto_exec_free(&d);
	b.data[0] = 0x80; /* flags are the first, big-endian u32 */
	assert_int_equal(proto_exec_decode(b.data, b.len, &d), -EBADMSG);
	b.data[0] = 0;
	b.data[3] = PROTO_EXEC_F_LIST | PROTO_EXEC_F_BREAKGLASS;
	assert_int_equal(proto_exec_decode(b.data, b.len, &d), -EBADMSG);
	proto_buf_free(&b);
	e.flags = 0x100;
	proto_buf_init(&b);
	assert_int_equal(proto_exec_encode(&b, &e), -EINVAL);
	proto_buf_free(&b);
}

static void test_exec_every_truncation_fails(void **state)
{
	struct proto_buf b;
	struct proto_exec d;
	encode_sample(&b);
	for (size_t n = 0; n < b.len; n++)
		assert_int_not_equal(proto_exec_decode(b.data, n, &d), 0);
	proto_buf_free(&b);
}

static void test_exec_trailing_bytes_fail(void **state)
{
	struct proto_buf b;
	struct proto_exec d;
	encode_sample(&b);
	proto_put_u16(&b, 0);
	assert_int_equal(proto_exec_decode(b.data, b.len, &d), -EBADMSG);
	proto_buf_free(&b);
}

static void test_exec_huge_count_refused(void **state)
{
	struct proto_buf b;
	struct proto_exec d;
	proto_buf_init(&b);
	proto_put_u32(&b, 0);
	proto_put_str(&b, "");
	proto_put_str(&b, "");
	proto_put_u32(&b, 0xffffffffu); /* argc */
	assert_int_equal(proto_exec_decode(b.data, b.len, &d), -EBADMSG);
	proto_buf_free(&b);
	proto_buf_init(&b);
	proto_put_u32(&b, 0);
	proto_put_str(&b, "");
	proto_put_str(&b, "");
	proto_put_u32(&b, PROTO_MAX_ARGS); /* within the cap, but no bytes follow */
	assert_int_equal(proto_exec_decode(b.data, b.len, &d), -EBADMSG);
	proto_buf_free(&b);
}

static void test_exec_embedded_nul_refused(void **state)
{
	struct proto_buf b;
	struct proto_exec d;
	proto_buf_init(&b);
	proto_put_u32(&b, 0);
	proto_put_str(&b, "");
	proto_put_str(&b, "");
	proto_put_u32(&b, 1);
	proto_put_u32(&b, 3);
	proto_put_u16(&b, 0x6100); /* "a\0" */
	proto_put_u16(&b, 0x6200);
	assert_int_not_equal(proto_exec_decode(b.data, b.len, &d), 0);
	proto_buf_free(&b);
}

static void test_exec_empty_argv_refused(void **state)
{
	const char *argv[] = {"", NULL};
	struct proto_exec e = {.target = "", .reason = "", .argc = 1, .argv = argv};
	struct proto_buf b;
	struct proto_exec d;
	proto_buf_init(&b);
	assert_int_equal(proto_exec_encode(&b, &e), 0);
	assert_int_equal(proto_exec_decode(b.data, b.len, &d), -EBADMSG);
	e.argc = 0;
	proto_buf_free(&b);
	proto_buf_init(&b);
	assert_int_equal(proto_exec_encode(&b, &e), 0);
	assert_int_equal(proto_exec_decode(b.data, b.len, &d), -EBADMSG);
	proto_buf_free(&b);
}

static void test_oversized_encode_refused(void **state)
{
	struct proto_buf b;
	char *big = malloc(PROTO_MAX_PAYLOAD + 1);
	assert_non_null(big);
	memset(big, 'x', PROTO_MAX_PAYLOAD);
	big[PROTO_MAX_PAYLOAD] = '\0';
	proto_buf_init(&b);
	proto_put_str(&b, big);
	assert_int_equal(b.err, -EMSGSIZE);
	proto_buf_free(&b);
	free(big);
}

static void test_send_recv_with_fds(void **state)
{
	int sv[2], fds[2];
	struct proto_msg m;
	pair(sv);
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[1] = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(proto_send(sv[0], PROTO_TEXT, "abc", 3, fds, 2), 0);
	assert_int_equal(proto_recv(sv[1], &m, 4), 0);
	assert_int_equal(m.type, PROTO_TEXT);
	assert_int_equal(m.len, 3);
	assert_memory_equal(m.payload, "abc", 3);
	assert_int_equal(m.nfds, 2);
	struct stat st;
	assert_int_equal(fstat(m.fds[1], &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_true(fcntl(m.fds[0], F_GETFD) & FD_CLOEXEC);
	proto_msg_free(&m);
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_excess_fds_refused(void **state)
{
	int sv[2], fds[3];
	struct proto_msg m;
	pair(sv);
	for (int i = 0; i < 3; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(proto_send(sv[0], PROTO_TEXT, "a", 1, fds, 3), 0);
	assert_int_equal(proto_recv(sv[1], &m, 1), -EPROTO);
	assert_int_equal(m.nfds, 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	close(sv[0]);
	close(sv[1]);
}

static void send_raw(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void test_bad_headers_refused(void **state)
{
	static const uint8_t bad[][12] = {
		{'X', 'T', 'S', 'U', 1, 68, 0, 0, 0, 0, 0, 0},       /* magic */
		{'J', 'T', 'S', 'U', 2, 68, 0, 0, 0, 0, 0, 0},       /* version */
		{'J', 'T', 'S', 'U', 1, 68, 1, 0, 0, 0, 0, 0},       /* reserved */
		{'J', 'T', 'S', 'U', 1, 68, 0, 0, 0x00, 0x10, 0, 1}, /* too long */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int sv[2];
		struct proto_msg m;
		pair(sv);
		send_raw(sv[0], bad[i], sizeof bad[i]);
		assert_int_equal(proto_recv(sv[1], &m, 0), -EPROTO);
		close(sv[0]);
		close(sv[1]);
	}
}

static void test_truncated_message_and_eof(void **state)
{
	int sv[2];
	struct proto_msg m;
	const uint8_t hdr[12] = {'J', 'T', 'S', 'U', 1, 68, 0, 0, 0, 0, 0, 10};
	pair(sv);
	send_raw(sv[0], hdr, sizeof hdr);
	send_raw(sv[0], "12345", 5);
	close(sv[0]);
	assert_int_equal(proto_recv(sv[1], &m, 0), -EPROTO);
	close(sv[1]);

	pair(sv);
	close(sv[0]);
	assert_int_equal(proto_recv(sv[1], &m, 0), -ECONNRESET);
	close(sv[1]);

	pair(sv);
	send_raw(sv[0], hdr, 5);
	close(sv[0]);
	assert_int_equal(proto_recv(sv[1], &m, 0), -EPROTO);
	close(sv[1]);
}

static void test_small_messages(void **state)
{
	int sv[2];
	struct proto_msg m;
	uint32_t a, b;
	char *s;
	pair(sv);
	assert_int_equal(proto_send_u32x2(sv[0], PROTO_EXIT, 1, 15), 0);
	assert_int_equal(proto_recv(sv[1], &m, 0), 0);
	assert_int_equal(proto_decode_u32x2(&m, &a, &b), 0);
	assert_int_equal(a, 1);
	assert_int_equal(b, 15);
	assert_int_equal(proto_decode_u32(&m, &a), -EBADMSG); /* wrong length */
	proto_msg_free(&m);
	assert_int_equal(proto_send_error(sv[0], PROTO_E_DENIED, "no"), 0);
	assert_int_equal(proto_recv(sv[1], &m, 0), 0);
	assert_int_equal(proto_decode_error(&m, &a, &s), 0);
	assert_int_equal(a, PROTO_E_DENIED);
	assert_string_equal(s, "no");
	free(s);
	proto_msg_free(&m);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_round_trip),
		cmocka_unit_test(test_exec_flags_checked),
		cmocka_unit_test(test_exec_every_truncation_fails),
		cmocka_unit_test(test_exec_trailing_bytes_fail),
		cmocka_unit_test(test_exec_huge_count_refused),
		cmocka_unit_test(test_exec_embedded_nul_refused),
		cmocka_unit_test(test_exec_empty_argv_refused),
		cmocka_unit_test(test_oversized_encode_refused),
		cmocka_unit_test(test_send_recv_with_fds),
		cmocka_unit_test(test_excess_fds_refused),
		cmocka_unit_test(test_bad_headers_refused),
		cmocka_unit_test(test_truncated_message_and_eof),
		cmocka_unit_test(test_small_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
