/*
 * test_hubcall_sandbox: jitsu-hubcall's seccomp filter, installed in a
 * forked child per case. What one hub call needs (files, DNS-style
 * sockets, a thread, stdio's ioctls, abort's signal to itself) keeps
 * working; what an attacker running code in the helper would reach for
 * (a process, exec, ptrace, TIOCSTI, signals to others, namespaces, id
 * changes, raw sockets) kills the whole process with SIGSYS.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../../jitsud/hubcall_sandbox.h"

/* Runs fn in a child under the filter; returns the raw wait status. */
static int in_sandbox(int (*fn)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		if (hubcall_sandbox(err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			_exit(100);
		}
		_exit(fn());
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void *thread_main(void *arg)
{
	return arg;
}

static int needed_by_a_call(void)
{
	char buf[64];
	int fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof buf) < 0 || close(fd) < 0)
		return 1;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(53),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0 || close(s) < 0)
		return 2;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || close(s) < 0)
		return 3;
	pthread_t t;
	void *ret = NULL;
	if (pthread_create(&t, NULL, thread_main, buf) != 0 || pthread_join(t, &ret) != 0 ||
	    ret != buf)
		return 4;
	struct termios tio;
	int n;
	(void)tcgetattr(0, &tio); /* ENOTTY is fine: the call is allowed */
	(void)ioctl(0, FIONREAD, &n);
	if (getpid() <= 0 || getuid() == (uid_t)-1)
		return 6;
	return 0;
}

static void test_what_a_call_needs_works(void **state)
{
	(void)state;
	int st = in_sandbox(needed_by_a_call);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int do_fork(void)
{
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	return 0;
}

static int do_exec(void)
{
	char *argv[] = {"true", NULL};
	execve("/bin/true", argv, argv + 1);
	return 0;
}

static int do_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 0;
}

static int do_tiocsti(void)
{
	char c = 'x';
	ioctl(0, TIOCSTI, &c);
	return 0;
}

static int do_kill_parent(void)
{
	kill(getppid(), 0);
	return 0;
}

static int do_unshare(void)
{
	unshare(CLONE_NEWUSER);
	return 0;
}

static int do_setuid(void)
{
	if (setuid(0) < 0) {
		/* the call itself is what is refused */
	}
	return 0;
}

static int do_packet_socket(void)
{
	socket(AF_PACKET, SOCK_RAW, 0);
	return 0;
}

static int do_listen(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	listen(s, 1);
	return 0;
}

static int do_netlink_audit(void)
{
	socket(AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */);
	return 0;
}

static void test_what_an_attacker_needs_kills(void **state)
{
	(void)state;
	static int (*const attacks[])(void) = {
		do_fork,    do_exec,   do_ptrace,        do_tiocsti,       do_kill_parent,
		do_unshare, do_setuid, do_packet_socket, do_netlink_audit, do_listen,
	};
	for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
		int st = in_sandbox(attacks[i]);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
			fail_msg("attack %zu: status %#x, not killed by SIGSYS", i, (unsigned)st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_what_a_call_needs_works),
		cmocka_unit_test(test_what_an_attacker_needs_kills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
