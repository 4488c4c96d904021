/*
 * loadgen: N parallel clients, each running a command in a loop for a fixed
 * time; prints how many runs completed per second, all clients together.
 *
 *   loadgen [-j workers] [-t seconds] [-g grace] -- command [arg ...]
 *
 * Each worker spawns the command (stdin, stdout and stderr on /dev/null),
 * waits for it and counts it, until the deadline; a run in flight at the
 * deadline is finished and counted, and the rate is taken over the time to
 * the last completion. Hard bound: at deadline + grace every worker's
 * process group is killed and the result is reported as a time-out.
 *
 * Output, one line: runs=N fails=N workers=N elapsed=S rate=R
 * Exit status: 0 when every run succeeded, 1 when any failed or none ran,
 * 2 on a time-out, 3 on a usage or system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_WORKERS 256

struct slot {
	uint64_t ok, fail;
	double last_done;
	int spawn_errno;
};

struct shared {
	double start;
	struct slot w[MAX_WORKERS];
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void worker(struct shared *sh, int idx, int gate, double seconds, char **argv)
{
	char c;
	/* Wait for the gate to open: every worker starts at the same moment. */
	while (read(gate, &c, 1) < 0 && errno == EINTR)
		;
	close(gate);
	double deadline = sh->start + seconds;
	struct slot *s = &sh->w[idx];

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

	while (now() < deadline) {
		pid_t pid;
		int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
		if (e != 0) {
			s->spawn_errno = e;
			s->fail++;
			break;
		}
		int st;
		while (waitpid(pid, &st, 0) < 0) {
			if (errno != EINTR) {
				s->fail++;
				_exit(1);
			}
		}
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			s->ok++;
		else
			s->fail++;
		s->last_done = now();
	}
	_exit(0);
}

/* Parses all of s as a decimal number into *out: 0, or -1 if it is not one. */
static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

/* Parses all of s as a decimal integer that fits an int: 0, or -1. */
static int parse_int(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE || v < INT_MIN || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	int workers = 16, opt;
	double seconds = 10, grace = 5;

	while ((opt = getopt(argc, argv, "+j:t:g:")) != -1) {
		switch (opt) {
		case 'j':
			if (parse_int(optarg, &workers) < 0)
				goto usage;
			break;
		case 't':
			if (parse_double(optarg, &seconds) < 0)
				goto usage;
			break;
		case 'g':
			if (parse_double(optarg, &grace) < 0)
				goto usage;
			break;
		default: goto usage;
		}
	}
	if (optind >= argc || workers < 1 || workers > MAX_WORKERS || seconds <= 0 || grace < 0)
		goto usage;
	char **cmd = argv + optind;

	struct shared *sh =
		mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("loadgen: mmap");
		return 3;
	}
	memset(sh, 0, sizeof *sh);
	int gate[2];
	if (pipe2(gate, O_CLOEXEC) < 0) {
		perror("loadgen: pipe");
		return 3;
	}

	pid_t pids[MAX_WORKERS];
	int live = 0;
	for (int i = 0; i < workers; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("loadgen: fork");
			for (int k = 0; k < i; k++)
				kill(-pids[k], SIGKILL);
			return 3;
		}
		if (p == 0) {
			setpgid(0, 0);
			close(gate[1]);
			worker(sh, i, gate[0], seconds, cmd);
		}
		setpgid(p, p); /* both sides, so it holds before any kill */
		pids[i] = p;
		live++;
	}
	close(gate[0]);
	sh->start = now();
	close(gate[1]); /* opens the gate: every worker's read() returns 0 */

	double hard = sh->start + seconds + grace;
	int timed_out = 0;
	while (live > 0) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p > 0) {
			for (int i = 0; i < workers; i++)
				if (pids[i] == p)
					pids[i] = 0;
			live--;
			continue;
		}
		if (p < 0 && errno != EINTR)
			break;
		if (now() > hard) {
			timed_out = 1;
			for (int i = 0; i < workers; i++)
				if (pids[i] > 0)
					kill(-pids[i], SIGKILL);
			while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
				;
			break;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}

	uint64_t ok = 0, fail = 0;
	double last = sh->start;
	int spawn_errno = 0;
	for (int i = 0; i < workers; i++) {
		ok += sh->w[i].ok;
		fail += sh->w[i].fail;
		if (sh->w[i].last_done > last)
			last = sh->w[i].last_done;
		if (sh->w[i].spawn_errno)
			spawn_errno = sh->w[i].spawn_errno;
	}
	double elapsed = last - sh->start;
	double rate = elapsed > 0 ? (double)ok / elapsed : 0;
	printf("runs=%llu fails=%llu workers=%d elapsed=%.3f rate=%.1f\n", (unsigned long long)ok,
	       (unsigned long long)fail, workers, elapsed, rate);
	if (spawn_errno)
		fprintf(stderr, "loadgen: cannot run %s: %s\n", cmd[0], strerror(spawn_errno));
	if (timed_out) {
		fprintf(stderr, "loadgen: time-out: workers killed %.0f s after the deadline\n",
			grace);
		return 2;
	}
	return (fail || !ok) ? 1 : 0;

usage:
	fprintf(stderr,
		"usage: loadgen [-j workers] [-t seconds] [-g grace] -- command [arg ...]\n");
	return 3;
}
