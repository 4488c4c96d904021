/*
 * hubcall_sandbox: jitsu-hubcall's seccomp allow-list. The MUST rules are
 * in hubcall_sandbox.h.
 */
#include "hubcall_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a SIGSYS raised by a filter */
#endif

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
/* Sanitizer builds only: LeakSanitizer stops the world with prctl and
 * ptrace at exit, which the filter forbids (the process would die before
 * stdio flushes the answer). The hook is LeakSanitizer's own. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return 1;
}
#endif

/* Allowed with any arguments, one line per group. Names, not numbers: one
 * missing on this architecture (open, poll, ...) is skipped. */
// clang-format off
static const char *const allowed[] = {
	/* files: NSS, resolv.conf, hosts, OpenSSL's configuration, CA files
	 * (open and openat: read-only, add_opens()) */
	"read", "write", "readv", "writev", "pread64", "lseek", "close",
	"stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access",
	"faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd", "fcntl",
	"dup", "dup2", "dup3", "pipe", "pipe2", "eventfd2", "fadvise64",
	/* memory, including dlopen of NSS modules */
	"brk", "mmap", "munmap", "mprotect", "mremap", "madvise",
	/* threads and synchronisation (libcurl's resolver thread) */
	"futex", "set_robust_list", "get_robust_list", "set_tid_address", "rseq",
	"sched_yield", "sched_getaffinity", "exit", "exit_group",
	/* signals, to itself */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
	/* sockets: connect and sendto reach the hub (TCP), the DNS server
	 * (glibc's resolver connects its UDP socket, then sends), nscd or
	 * systemd-resolved (Unix) and the kernel's address list (netlink).
	 * No bind (add_sockets()), listen or accept: nothing can reach the
	 * helper. */
	"connect", "shutdown", "getsockopt", "setsockopt", "getsockname",
	"getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	"socketpair",
	/* waiting */
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "nanosleep", "clock_nanosleep",
	/* time, randomness and who am I */
	"clock_gettime", "clock_getres", "gettimeofday", "time", "getrandom", "getpid",
	"gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
	"getresgid", "getgroups", "uname", "sysinfo", "getrlimit", "prlimit64", "getrusage",
	"times",
	NULL,
};
// clang-format on

#define HUBCALL_PR_SET_VMA 0x53564d41 /* PR_SET_VMA (Linux 5.17), not in older headers */

/* Argument comparisons, spelt out: libseccomp's SCMP_A0() macros leave
 * datum_b to the compiler, which clang's -Wextra does not accept. */
static struct scmp_arg_cmp eq(unsigned arg, scmp_datum_t v)
{
	struct scmp_arg_cmp c = {.arg = arg, .op = SCMP_CMP_EQ, .datum_a = v, .datum_b = 0};
	return c;
}

static struct scmp_arg_cmp masked_eq(unsigned arg, scmp_datum_t mask, scmp_datum_t v)
{
	struct scmp_arg_cmp c = {
		.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = v};
	return c;
}

/* ioctl only for what stdio and sockets ask: is it a terminal, how much is
 * buffered, blocking mode. Not TIOCSTI, not anything of a device. */
static const unsigned long allowed_ioctls[] = {TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO};

static int add_ioctls(scmp_filter_ctx ctx)
{
	for (size_t i = 0; i < sizeof allowed_ioctls / sizeof allowed_ioctls[0]; i++) {
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					 masked_eq(1, 0xffffffffUL, allowed_ioctls[i]));
		if (r < 0)
			return r;
	}
	return 0;
}

/* socket(2) for IPv4, IPv6, Unix, and the routing netlink socket glibc's
 * getaddrinfo reads the local addresses from; nothing else. */
static int add_sockets(scmp_filter_ctx ctx)
{
	static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
					 eq(0, (scmp_datum_t)families[i]));
		if (r < 0)
			return r;
	}
	int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2, eq(0, AF_NETLINK),
				 eq(2, NETLINK_ROUTE));
	/* getaddrinfo binds its netlink socket to list the local addresses
	 * when a name has several; refused, it orders them without that
	 * list. A refusal, not a trap: the call goes on. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(bind), 0);
	return r;
}

/* open and openat only to read: no O_WRONLY, O_RDWR, O_CREAT or O_TRUNC
 * (O_TMPFILE needs a write mode too). What a call opens (NSS and resolver
 * files, OpenSSL's configuration, CA files, /dev/urandom) is read-only. */
static int add_opens(scmp_filter_ctx ctx)
{
	const scmp_datum_t writes = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC;
	int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, masked_eq(2, writes, 0));
	int nr = seccomp_syscall_resolve_name("open"); /* not on every architecture */
	if (r == 0 && nr != __NR_SCMP_ERROR)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, masked_eq(1, writes, 0));
	return r;
}

/*
 * Threads, never processes. clone3 hides its flags in memory a filter
 * cannot read, so it fails with ENOSYS and glibc falls back to clone,
 * whose flags must include CLONE_THREAD. Signals only to this process
 * (abort(), raise()).
 */
static int add_threads_and_signals(scmp_filter_ctx ctx)
{
	int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     masked_eq(0, CLONE_THREAD, CLONE_THREAD));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				     eq(0, (scmp_datum_t)getpid()));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, eq(0, PR_SET_NAME));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, eq(0, PR_GET_NAME));
	/* newer glibc names its anonymous mappings (thread stacks, arenas) */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				     eq(0, HUBCALL_PR_SET_VMA));
	return r;
}

static int build(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	/* A call through another architecture's ABI (x32, i386) traps too. */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r < 0)
		snprintf(err, errlen, "seccomp: cannot cover every thread: %s", strerror(-r));
	for (const char *const *n = allowed; r == 0 && *n; n++) {
		int nr = seccomp_syscall_resolve_name(*n);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not a system call on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0)
			snprintf(err, errlen, "seccomp: cannot allow %s: %s", *n, strerror(-r));
	}
	if (r == 0 && (r = add_ioctls(ctx)) < 0)
		snprintf(err, errlen, "seccomp: cannot allow ioctl: %s", strerror(-r));
	if (r == 0 && (r = add_sockets(ctx)) < 0)
		snprintf(err, errlen, "seccomp: cannot allow socket: %s", strerror(-r));
	if (r == 0 && (r = add_opens(ctx)) < 0)
		snprintf(err, errlen, "seccomp: cannot allow open: %s", strerror(-r));
	if (r == 0 && (r = add_threads_and_signals(ctx)) < 0)
		snprintf(err, errlen, "seccomp: cannot allow threads: %s", strerror(-r));
	if (r == 0 && (r = seccomp_load(ctx)) < 0)
		snprintf(err, errlen, "seccomp: cannot load the filter: %s", strerror(-r));
	return r;
}

static int report_fd = -1;

/*
 * A refused call: its number on the report fd (4 bytes, big-endian), then
 * death by SIGSYS for the whole process. SA_RESETHAND has made SIGSYS
 * fatal again; the tgkill leaves it pending until this handler returns.
 * Raw system calls only, each allowed by the filter: this runs after a
 * call it refused. A SIGSYS sent by another process (si_code SI_USER) is
 * not reported: only the filter's own are.
 */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	if (si->si_code == SYS_SECCOMP && report_fd >= 0) {
		uint32_t nr = (uint32_t)si->si_syscall;
		uint8_t b[4] = {(uint8_t)(nr >> 24), (uint8_t)(nr >> 16), (uint8_t)(nr >> 8),
				(uint8_t)nr};
		syscall(SYS_write, report_fd, b, sizeof b);
	}
	syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), sig);
}

static int arm_reporter(int fd)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	report_fd = fd;
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	return sigprocmask(SIG_UNBLOCK, &sys, NULL) < 0 ? -errno : 0;
}

int hubcall_sandbox(int fd, char *err, size_t errlen)
{
	int r = arm_reporter(fd);
	if (r < 0) {
		snprintf(err, errlen, "seccomp: cannot catch SIGSYS: %s", strerror(-r));
		return r;
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		snprintf(err, errlen, "seccomp: cannot set up a filter");
		return -ENOMEM;
	}
	r = build(ctx, err, errlen);
	seccomp_release(ctx);
	return r < 0 ? r : 0;
}
