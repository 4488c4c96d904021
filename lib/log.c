/*
 * log: syslog or stderr. Messages carry no secrets: callers never pass
 * codes, keys or environment values here.
 */
#include "jitsu/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static int log_to_stderr;
static const char *log_ident = "jitsu";

void log_init(const char *ident, int to_stderr)
{
	log_ident = ident;
	log_to_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

__attribute__((format(printf, 2, 0))) static void log_v(int prio, const char *fmt, va_list ap)
{
	if (log_to_stderr) {
		char line[2048];
		// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
		vsnprintf(line, sizeof line, fmt, ap);
		fprintf(stderr, "%s: %s\n", log_ident, line);
		return;
	}
	vsyslog(prio, fmt, ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_INFO, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void log_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_ERR, fmt, ap);
	va_end(ap);
}
