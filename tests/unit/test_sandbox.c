/*
 * Unit tests for jitsud/sandbox.c: a forbidden system call under the
 * child's filter never runs; the SIGSYS handler reports it as one
 * PS_SECCOMP frame naming the call, and the process exits. The allowed
 * calls of the proxy loop still work.
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitsu/privsep_msg.h"
#include "jitsu/proto.h"
#include "../../jitsud/sandbox.h"

/* Runs fn under the filter in a child; returns its wait status and the
 * message it reported (type 0 if none). */
static int under_filter(void (*fn)(int), struct proto_msg *m)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		if (sandbox_seccomp(sv[1]) < 0)
			_exit(99);
		fn(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	memset(m, 0, sizeof *m);
	if (proto_recv(sv[0], m, 0) < 0)
		m->type = 0;
	close(sv[0]);
	return st;
}

static void call_socket(int fd)
{
	(void)fd;
	/* Creating a descriptor is never allowed: the child only receives. */
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	_exit(0); /* not reached: the call traps */
}

static void call_openat(int fd)
{
	(void)fd;
	syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
	_exit(0);
}

static void call_allowed(int fd)
{
	/* The proxy loop's own calls: allocate, frame, send, exit. */
	char *big = malloc(2 * 1024 * 1024);
	if (!big)
		_exit(2);
	memset(big, 1, 2 * 1024 * 1024);
	free(big);
	uint8_t x[4] = {0, 0, 0, 7};
	if (proto_send(fd, PS_SIGNAL, x, sizeof x, NULL, 0) < 0)
		_exit(3);
	_exit(0);
}

static void test_forbidden_call_reported_and_fatal(void **state)
{
	(void)state;
	struct proto_msg m;
	char name[64];
	int st = under_filter(call_socket, &m);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 125);
	assert_int_equal(m.type, PS_SECCOMP);
	assert_int_equal(ps_check_from_child(&m, PS_ST_RUN), 0);
	uint32_t nr;
	assert_int_equal(proto_decode_u32(&m, &nr), 0);
	assert_int_equal(nr, SYS_socket);
	sandbox_syscall_name((int)nr, name, sizeof name);
	assert_string_equal(name, "socket");
	proto_msg_free(&m);

	st = under_filter(call_openat, &m);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 125);
	assert_int_equal(proto_decode_u32(&m, &nr), 0);
	sandbox_syscall_name((int)nr, name, sizeof name);
	assert_string_equal(name, "openat");
	proto_msg_free(&m);
}

static void test_allowed_calls_work(void **state)
{
	(void)state;
	struct proto_msg m;
	int st = under_filter(call_allowed, &m);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(m.type, PS_SIGNAL);
	proto_msg_free(&m);
}

static void test_drop_refuses_root(void **state)
{
	(void)state;
	assert_int_equal(sandbox_drop(0, 0), -EINVAL);
	assert_int_equal(sandbox_drop(1000, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forbidden_call_reported_and_fatal),
		cmocka_unit_test(test_allowed_calls_work),
		cmocka_unit_test(test_drop_refuses_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
