/*
 * appendfloor: the cost of a durable log line. One writer appends a small
 * line and calls fdatasync(), in a loop, for a fixed time; the rate is the
 * ceiling for anything that syncs one record per elevation on that file
 * system.
 *
 *   appendfloor FILE SECONDS
 *
 * Output, one line: ops=N elapsed=S rate=R mean_ms=M
 * The file is created (it must not exist) and removed at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

int main(int argc, char **argv)
{
	double seconds;
	if (argc != 3 || parse_double(argv[2], &seconds) < 0 || !(seconds > 0)) {
		fprintf(stderr, "usage: appendfloor FILE SECONDS\n");
		return 3;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(argv[1]);
		return 3;
	}
	char line[128];
	unsigned long long n = 0;
	double start = now(), t = start, end = start + seconds;
	while (t < end) {
		int len = snprintf(
			line, sizeof line,
			"{\"seq\":%llu,\"user\":\"jitsubench\",\"cmd\":\"/usr/bin/true\"}\n", n);
		if (write(fd, line, (size_t)len) != len || fdatasync(fd) < 0) {
			perror("appendfloor: write/fdatasync");
			unlink(argv[1]);
			return 1;
		}
		n++;
		t = now();
	}
	double elapsed = t - start;
	close(fd);
	unlink(argv[1]);
	printf("ops=%llu elapsed=%.3f rate=%.1f mean_ms=%.4f\n", n, elapsed, (double)n / elapsed,
	       n ? elapsed * 1000.0 / (double)n : 0.0);
	return n ? 0 : 1;
}
