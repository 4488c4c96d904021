/*
 * test_hubcall_sandbox: jitsu-hubcall's seccomp filter, installed in a
 * forked child per case. What one hub call needs (files, DNS-style
 * sockets, a thread, stdio's ioctls, abort's signal to itself) keeps
 * working; what an attacker running code in the helper would reach for
 * (a process, exec, ptrace, TIOCSTI, signals to others, namespaces, id
 * changes, raw sockets, a file opened for writing) kills the whole
 * process with SIGSYS, after reporting the refused call's number on the
 * report pipe; bind fails with EACCES.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../../jitsud/hubcall_sandbox.h"

/* Runs fn in a child under the filter; returns the raw wait status, and
 * in *nr the system call number reported (-1 if none). */
static int in_sandbox(int (*fn)(void), long *nr)
{
	int rep[2];
	assert_int_equal(pipe(rep), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		close(rep[0]);
		if (hubcall_sandbox(rep[1], err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			_exit(100);
		}
		_exit(fn());
	}
	close(rep[1]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unsigned char b[4];
	*nr = read(rep[0], b, sizeof b) == 4
		      ? (long)((unsigned long)b[0] << 24 | (unsigned long)b[1] << 16 |
			       (unsigned long)b[2] << 8 | b[3])
		      : -1;
	close(rep[0]);
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
	/* getaddrinfo's netlink socket: created, but never bound */
	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
	if (s < 0 || bind(s, (struct sockaddr *)&nl, sizeof nl) == 0 || errno != EACCES ||
	    close(s) < 0)
		return 5;
	fd = openat(AT_FDCWD, "/etc/hosts", O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || close(fd) < 0)
		return 7;
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
	long nr;
	int st = in_sandbox(needed_by_a_call, &nr);
	assert_int_equal(nr, -1);
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

#define SCRATCH "/tmp/jitsu-hubcall-sandbox-test" /* must never be created */

static int do_open_write(void)
{
	return open("/dev/null", O_WRONLY | O_CLOEXEC) < 0 ? 1 : 2; /* killed first */
}

static int do_open_rdwr(void)
{
	return openat(AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC) < 0 ? 1 : 2;
}

static int do_open_creat(void)
{
	/* O_RDONLY | O_CREAT still makes a file */
	return openat(AT_FDCWD, SCRATCH, O_RDONLY | O_CREAT | O_EXCL, 0600) < 0 ? 1 : 2;
}

static int do_open_trunc(void)
{
	return openat(AT_FDCWD, SCRATCH, O_RDONLY | O_TRUNC) < 0 ? 1 : 2;
}

static void test_what_an_attacker_needs_kills(void **state)
{
	(void)state;
	static const struct {
		int (*fn)(void);
		long nr;
	} attacks[] = {
		{do_fork, -2}, /* clone or clone3 (ENOSYS), then clone */
		{do_exec, SYS_execve},
		{do_ptrace, SYS_ptrace},
		{do_tiocsti, SYS_ioctl},
		{do_kill_parent, SYS_kill},
		{do_unshare, SYS_unshare},
		{do_setuid, SYS_setuid},
		{do_packet_socket, SYS_socket},
		{do_netlink_audit, SYS_socket},
		{do_listen, SYS_listen},
		{do_open_write, SYS_openat},
		{do_open_rdwr, SYS_openat},
		{do_open_creat, SYS_openat},
		{do_open_trunc, SYS_openat},
	};
	for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
		long nr;
		int st = in_sandbox(attacks[i].fn, &nr);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
			fail_msg("attack %zu: status %#x, not killed by SIGSYS", i, (unsigned)st);
		if (attacks[i].nr == -2 ? nr != SYS_clone : nr != attacks[i].nr)
			fail_msg("attack %zu: reported system call %ld, not %ld", i, nr,
				 attacks[i].nr);
	}
	struct stat st;
	assert_int_equal(stat(SCRATCH, &st), -1);
}

/* A SIGSYS that is not the filter's (sent by a process) kills as ever,
 * but reports nothing: the report names only refused calls. */
static int do_sigsys_sent(void)
{
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGSYS);
	return 0;
}

static void test_a_sent_sigsys_is_not_reported(void **state)
{
	(void)state;
	long nr;
	int st = in_sandbox(do_sigsys_sent, &nr);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	assert_int_equal(nr, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_what_a_call_needs_works),
		cmocka_unit_test(test_what_an_attacker_needs_kills),
		cmocka_unit_test(test_a_sent_sigsys_is_not_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
