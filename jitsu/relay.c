/*
 * relay: the client's side of a running command. It copies between the
 * user's terminal and the pty master that jitsud handed over, forwards
 * signals, and suspends and resumes with the command.
 *
 * The user's terminal is put in raw mode only while the command runs, and
 * is restored on every path out; if this process is killed, jitsud restores
 * it instead (it holds the terminal for exactly that).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"
#include "jitsu/proto.h"

static struct termios saved_mode;
static int raw_on;

static void set_raw(void)
{
	struct termios t;
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_mode) < 0)
		return;
	t = saved_mode;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0)
		raw_on = 1;
}

void relay_restore(void)
{
	if (raw_on)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_mode);
	raw_on = 0;
}

/* Where the command's terminal output goes: the first of 1, 2, 0 that is a tty. */
static int out_fd(void)
{
	if (isatty(STDOUT_FILENO))
		return STDOUT_FILENO;
	if (isatty(STDERR_FILENO))
		return STDERR_FILENO;
	return STDIN_FILENO;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies one read's worth from in to out. Returns bytes copied, 0 at EOF. */
static ssize_t pump(int in, int out)
{
	char buf[16384];
	ssize_t n = read(in, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0)
		return 0;
	if (write_all(out, buf, (size_t)n) < 0)
		return 0;
	return n;
}

/* Drains what the command wrote before it exited. */
static void drain(int master)
{
	int fl = fcntl(master, F_GETFL);
	if (fl >= 0)
		fcntl(master, F_SETFL, fl | O_NONBLOCK);
	char buf[16384];
	ssize_t n;
	while ((n = read(master, buf, sizeof buf)) > 0)
		if (write_all(out_fd(), buf, (size_t)n) < 0)
			break;
}

static void sync_winsize(int master)
{
	struct winsize ws;
	if (master >= 0 && ioctl(out_fd(), TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

static void notice(const char *s)
{
	fprintf(stderr, raw_on ? "jitsu: %s\r\n" : "jitsu: %s\n", s);
}

/* The command stopped: stop with it, and resume it when we are continued. */
static void suspend(int sock)
{
	int was_raw = raw_on;
	relay_restore();
	kill(getpid(), SIGSTOP);
	if (was_raw)
		set_raw();
	proto_send(sock, PROTO_RESUME, NULL, 0, NULL, 0);
}

static int exit_code(uint32_t kind, uint32_t value)
{
	if (kind == 1)
		return 128 + (int)(value & 127);
	return (int)(value & 255);
}

/* Handles one daemon message; returns -1 to go on, or an exit code. */
static int daemon_message(int sock, int master)
{
	struct proto_msg m;
	uint32_t a, b;
	char *s = NULL;
	int r = -1;
	if (proto_recv(sock, &m, 0) < 0) {
		relay_restore();
		fprintf(stderr, "jitsu: lost the connection to jitsud\n");
		return JITSU_EXIT_PROTOCOL;
	}
	if (m.type == PROTO_EXIT && proto_decode_u32x2(&m, &a, &b) == 0) {
		if (master >= 0)
			drain(master);
		relay_restore();
		proto_send(sock, PROTO_BYE, NULL, 0, NULL, 0);
		r = exit_code(a, b);
	} else if (m.type == PROTO_SUSPEND && proto_decode_u32(&m, &a) == 0) {
		suspend(sock);
	} else if (m.type == PROTO_NOTICE && proto_decode_str(&m, PROTO_MAX_SHORT, &s) == 0) {
		client_printable(s);
		notice(s);
	} else if (m.type == PROTO_ERROR && proto_decode_error(&m, &a, &s) == 0) {
		client_printable(s);
		relay_restore();
		fprintf(stderr, "jitsu: %s\n", s);
		r = client_error_exit(a);
	} else {
		relay_restore();
		fprintf(stderr, "jitsu: protocol error: unexpected %s\n", proto_type_name(m.type));
		r = JITSU_EXIT_PROTOCOL;
	}
	free(s);
	proto_msg_free(&m);
	return r;
}

static int open_signalfd(void)
{
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP, SIGWINCH, SIGCONT};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void on_signals(int sigfd, int sock, int master)
{
	struct signalfd_siginfo si;
	while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGWINCH)
			sync_winsize(master);
		else if (si.ssi_signo != SIGCONT)
			proto_send_u32(sock, PROTO_SIGNAL, si.ssi_signo);
	}
}

int relay_run(int sock, int master)
{
	int sigfd = open_signalfd();
	int in_open = master >= 0 && isatty(STDIN_FILENO), master_open = master >= 0;
	int out = out_fd();

	if (sigfd < 0) {
		fprintf(stderr, "jitsu: signalfd: %s\n", strerror(errno));
		return JITSU_EXIT_INTERNAL;
	}
	if (in_open)
		set_raw();
	sync_winsize(master);
	for (;;) {
		struct pollfd p[4] = {
			{sock, POLLIN, 0},
			{sigfd, POLLIN, 0},
			{master_open ? master : -1, POLLIN, 0},
			{in_open ? STDIN_FILENO : -1, POLLIN, 0},
		};
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			on_signals(sigfd, sock, master);
		if (p[2].revents && pump(master, out) == 0)
			master_open = 0;
		if (p[3].revents && pump(STDIN_FILENO, master) == 0)
			in_open = 0;
		if (p[0].revents) {
			int r = daemon_message(sock, master);
			if (r >= 0) {
				close(sigfd);
				return r;
			}
		}
	}
	relay_restore();
	close(sigfd);
	return JITSU_EXIT_INTERNAL;
}
