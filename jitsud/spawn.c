/*
 * spawn: fork, drop to the target user, exec the verified fd. The MUST
 * rules are in spawn.h.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Reports errno to the parent and exits; only async-signal-safe calls. */
static void child_fail(int err_fd)
{
	int e = errno ? errno : EINVAL;
	ssize_t w = write(err_fd, &e, sizeof e);
	(void)w;
	_exit(127);
}

static void child_stdio(const struct spawn_req *r, int err_fd)
{
	int high[3];
	/* Move the sources out of 0..2 first so dup2 cannot clobber one. */
	for (int i = 0; i < 3; i++)
		if ((high[i] = fcntl(r->stdio[i], F_DUPFD_CLOEXEC, 10)) < 0)
			child_fail(err_fd);
	for (int i = 0; i < 3; i++)
		if (dup2(high[i], i) < 0)
			child_fail(err_fd);
}

static void child_drop(const struct spawn_req *r, int err_fd)
{
	if (setgroups((size_t)r->ngroups, r->groups) < 0 || setresgid(r->gid, r->gid, r->gid) < 0 ||
	    setresuid(r->uid, r->uid, r->uid) < 0)
		child_fail(err_fd);
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != r->uid ||
	    eu != r->uid || su != r->uid || rg != r->gid || eg != r->gid || sg != r->gid) {
		errno = EPERM;
		child_fail(err_fd);
	}
}

static void child_run(const struct spawn_req *r, int gate, int err_fd)
{
	sigset_t none;
	char go;

	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		child_fail(err_fd);
	if (r->ctty >= 0 && ioctl(r->ctty, TIOCSCTTY, 0) < 0)
		child_fail(err_fd);
	child_stdio(r, err_fd);
	if (fchdir(r->cwd_fd) < 0)
		child_fail(err_fd);
	child_drop(r, err_fd);
	if (read(gate, &go, 1) != 1)
		_exit(125);
	/* Everything but 0..2 closes on exec; a script's interpreter needs
	 * its fd to open /dev/fd/N. */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(err_fd);
	if (r->is_script && fcntl(r->exec_fd, F_SETFD, 0) < 0)
		child_fail(err_fd);
	execveat(r->exec_fd, "", r->argv, r->envp, AT_EMPTY_PATH);
	child_fail(err_fd);
}

int spawn_start(const struct spawn_req *r, struct spawn *s)
{
	int gate[2], errp[2];

	if (pipe2(gate, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		int e = -errno;
		close(gate[0]);
		close(gate[1]);
		return e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(gate[0]);
		close(gate[1]);
		close(errp[0]);
		close(errp[1]);
		return e;
	}
	if (pid == 0) {
		close(gate[1]);
		close(errp[0]);
		child_run(r, gate[0], errp[1]);
	}
	close(gate[0]);
	close(errp[1]);
	s->pid = pid;
	s->gate_fd = gate[1];
	s->err_fd = errp[0];
	return 0;
}

int spawn_release(struct spawn *s)
{
	int e = 0;
	ssize_t n;

	do
		n = write(s->gate_fd, "x", 1);
	while (n < 0 && errno == EINTR);
	close(s->gate_fd);
	s->gate_fd = -1;
	do
		n = read(s->err_fd, &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(s->err_fd);
	s->err_fd = -1;
	if (n == 0)
		return 0;
	return n == (ssize_t)sizeof e && e > 0 ? e : EIO;
}

void spawn_abort(struct spawn *s)
{
	if (s->gate_fd >= 0)
		close(s->gate_fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	s->gate_fd = s->err_fd = -1;
}
