/*
 * prompt: answers jitsud's questions (an MFA code, a confirmation). The
 * question is asked on the controlling terminal with echo off; without a
 * terminal, one line is read from stdin, byte by byte so that nothing
 * past that line is taken from the command's input.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"

static int tty_restore_fd = -1;
static struct termios tty_restore_mode;

/* Ctrl-C at the prompt: put echo back before dying of the signal. */
static void on_interrupt(int sig)
{
	if (tty_restore_fd >= 0)
		tcsetattr(tty_restore_fd, TCSANOW, &tty_restore_mode);
	signal(sig, SIG_DFL);
	raise(sig);
}

static ssize_t read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0 || c == '\n')
			break;
		if (c == '\r')
			continue;
		if (n + 1 < len)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

int prompt_read(const char *prompt, int echo, char *buf, size_t len)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int in = fd >= 0 ? fd : STDIN_FILENO, out = fd >= 0 ? fd : STDERR_FILENO;
	struct termios t;
	ssize_t n;

	if (len == 0)
		return -1;
	if (write(out, prompt, strlen(prompt)) < 0) {
		/* Nowhere to ask: the answer below still decides. */
	}
	if (fd >= 0 && !echo && tcgetattr(fd, &tty_restore_mode) == 0) {
		t = tty_restore_mode;
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		tty_restore_fd = fd;
		signal(SIGINT, on_interrupt);
		signal(SIGTERM, on_interrupt);
		signal(SIGHUP, on_interrupt);
		signal(SIGQUIT, on_interrupt);
		tcsetattr(fd, TCSAFLUSH, &t);
	}
	n = read_line(in, buf, len);
	if (tty_restore_fd >= 0) {
		tcsetattr(fd, TCSAFLUSH, &tty_restore_mode);
		tty_restore_fd = -1;
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		if (write(fd, "\n", 1) < 0) {
			/* The newline is cosmetic. */
		}
	}
	if (fd >= 0)
		close(fd);
	else if (write(STDERR_FILENO, "\n", 1) < 0) {
		/* Keeps the next message off the prompt's line; cosmetic. */
	}
	return n < 0 ? -1 : 0;
}
