/*
 * sandbox: privilege drop and the child's seccomp filter. The MUST rules
 * are in sandbox.h.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <grp.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jitsu/privsep_msg.h"
#include "jitsu/proto.h"

int sandbox_drop(uid_t uid, gid_t gid)
{
	if (uid == 0 || gid == 0)
		return -EINVAL;
	/* Empty the bounding set while still root: no later exec can gain a
	 * capability, whatever the file says. */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	/* A uid of 0 must be gone for good: check rather than trust. */
	if (setresuid(0, 0, 0) == 0 || geteuid() != uid || getegid() != gid)
		return -EPERM;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

static int report_fd = -1;

/* A PS_SECCOMP frame, built with no library call: this runs in a signal
 * handler, after a call the filter refused. The write and the exit are raw
 * system calls, so that no wrapper (a sanitizer's, say) makes another
 * call the filter would refuse. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	(void)sig;
	(void)uctx;
	uint32_t nr = (uint32_t)si->si_syscall;
	uint8_t f[PROTO_HDR_LEN + 4] = {'J', 'T', 'S', 'U', PROTO_VERSION, PS_SECCOMP, 0, 0,
					0,   0,   0,   4};
	f[PROTO_HDR_LEN] = (uint8_t)(nr >> 24);
	f[PROTO_HDR_LEN + 1] = (uint8_t)(nr >> 16);
	f[PROTO_HDR_LEN + 2] = (uint8_t)(nr >> 8);
	f[PROTO_HDR_LEN + 3] = (uint8_t)nr;
	syscall(SYS_write, report_fd, f, sizeof f);
	syscall(SYS_exit_group, 125);
}

/* The calls of the child's loop (privsep.c) and of the C library under it:
 * framing (recvmsg/sendmsg/poll), the allocator, the clock, exiting. */
static const int allowed[] = {
	SCMP_SYS(read),           SCMP_SYS(write),
	SCMP_SYS(recvmsg),        SCMP_SYS(sendmsg),
	SCMP_SYS(poll),           SCMP_SYS(ppoll),
	SCMP_SYS(close),          SCMP_SYS(brk),
	SCMP_SYS(munmap),         SCMP_SYS(mremap),
	SCMP_SYS(madvise),        SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday),   SCMP_SYS(getpid),
	SCMP_SYS(gettid),         SCMP_SYS(getrandom),
	SCMP_SYS(futex),          SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(restart_syscall),
	SCMP_SYS(sched_yield),    SCMP_SYS(sigaltstack),
	SCMP_SYS(exit),           SCMP_SYS(exit_group),
};

/* The filter, compiled once (sandbox_prepare) and installed by every
 * child: building it with libseccomp per connection would cost more than
 * the child's fork. */
static struct sock_filter *prog;
static unsigned short prog_len;

int sandbox_prepare(char *err, size_t errlen)
{
	if (prog)
		return 0;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		snprintf(err, errlen, "seccomp: cannot build the filter");
		return -ENOMEM;
	}
	/* A call through another architecture's ABI (x32, i386) traps and is
	 * reported like any other. (KILL_PROCESS here would make libseccomp
	 * probe the kernel for it, which fails under valgrind.) */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
	for (size_t i = 0; r == 0 && i < sizeof allowed / sizeof allowed[0]; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
#ifndef JITSU_VALGRIND_BUILD
	/* Memory, never executable. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
#else
	/* A build for make valgrind only (meson.build: -Dvalgrind=true). The
	 * calls valgrind makes itself, inside the child: it maps all memory
	 * executable (the child's heap included), and its scheduler polls for
	 * pending signals with a zero-timeout rt_sigtimedwait. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigtimedwait), 0);
#endif
	/* The program, as the kernel takes it, read back through a pipe. */
	int p[2] = {-1, -1};
	uint8_t buf[65536];
	ssize_t n = -1;
	if (r == 0 && pipe2(p, O_CLOEXEC) == 0) {
		r = seccomp_export_bpf(ctx, p[1]);
		close(p[1]);
		n = r == 0 ? read(p[0], buf, sizeof buf) : -1;
		close(p[0]);
	}
	seccomp_release(ctx);
	if (r < 0 || n <= 0 || n % (ssize_t)sizeof(struct sock_filter) ||
	    n / (ssize_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		snprintf(err, errlen, "seccomp: cannot build the filter: %s",
			 strerror(r < 0 ? -r : EINVAL));
		return r < 0 ? r : -EINVAL;
	}
	prog = malloc((size_t)n);
	if (!prog) {
		snprintf(err, errlen, "seccomp: out of memory");
		return -ENOMEM;
	}
	memcpy(prog, buf, (size_t)n);
	prog_len = (unsigned short)(n / (ssize_t)sizeof(struct sock_filter));
	return 0;
}

int sandbox_seccomp(int fd)
{
	char err[128];
	if (sandbox_prepare(err, sizeof err) < 0)
		return -EINVAL;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	report_fd = fd;
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	sigprocmask(SIG_UNBLOCK, &sys, NULL);
	struct sock_fprog fp = {.len = prog_len, .filter = prog};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0)
		return -errno;
	return 0;
}

void sandbox_syscall_name(int nr, char *buf, size_t len)
{
	char *n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	if (n)
		snprintf(buf, len, "%s", n);
	else
		snprintf(buf, len, "#%d", nr);
	free(n);
}
