/*
 * hubfmt: text in and out for `jitsuctl hub`. The contract and the MUST
 * rules are in hubfmt.h.
 */
#include "hubfmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int hubfmt_duration(const char *s, long *secs)
{
	static const struct {
		char unit;
		long mul;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	long n = 0, mul = 1;
	const char *p = s;
	/* Digits by hand: strtol would take signs, blanks and hex. */
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > HUBFMT_DURATION_MAX)
			return -EINVAL;
		n = n * 10 + (*p - '0');
	}
	if (p == s)
		return -EINVAL;
	if (*p) {
		size_t i = 0;
		while (i < sizeof units / sizeof units[0] && units[i].unit != *p)
			i++;
		if (i == sizeof units / sizeof units[0] || p[1])
			return -EINVAL;
		mul = units[i].mul;
	}
	if (n < 1 || n > HUBFMT_DURATION_MAX / mul)
		return -EINVAL;
	*secs = n * mul;
	return 0;
}

int hubfmt_when(const char *s, long long now, long long *t)
{
	static const char *const forms[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
					    "%Y-%m-%dT%H:%MZ",    "%Y-%m-%dT%H:%M",
					    "%Y-%m-%dZ",          "%Y-%m-%d"};
	size_t digits = strspn(s, "0123456789");
	long secs;

	if (digits > 0 && !s[digits]) {
		if (digits > 12)
			return -EINVAL;
		*t = strtoll(s, NULL, 10);
		return 0;
	}
	if (digits > 0 && s[digits] != '-') {
		if (hubfmt_duration(s, &secs) != 0 || secs > now)
			return -EINVAL;
		*t = now - secs;
		return 0;
	}
	for (size_t i = 0; digits == 4 && i < sizeof forms / sizeof forms[0]; i++) {
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(s, forms[i], &tm);
		if (end && !*end) {
			time_t v = timegm(&tm);
			if (v < 0)
				return -EINVAL;
			*t = (long long)v;
			return 0;
		}
	}
	return -EINVAL;
}

/* The escaped form of one byte into buf (at most 5 bytes with NUL). */
static size_t escape_byte(unsigned char c, char buf[5])
{
	static const char hx[] = "0123456789abcdef";
	if (c == '\\') {
		memcpy(buf, "\\\\", 3);
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		buf[0] = (char)c;
		buf[1] = '\0';
		return 1;
	}
	buf[0] = '\\';
	buf[1] = 'x';
	buf[2] = hx[c >> 4];
	buf[3] = hx[c & 15];
	buf[4] = '\0';
	return 4;
}

size_t hubfmt_escape(const char *in, char *out, size_t max)
{
	char e[5];
	size_t need = 0, n = 0;
	if (!in)
		in = "-";
	for (const unsigned char *p = (const unsigned char *)in; *p && need <= max; p++)
		need += escape_byte(*p, e);
	/* Cut: keep room for "...", and never split an escape. */
	size_t room = need <= max ? max : max - 3;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		size_t k = escape_byte(*p, e);
		if (n + k > room)
			break;
		memcpy(out + n, e, k);
		n += k;
	}
	if (need > max) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return n;
}

void hubfmt_time(long long t, char *out, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, len, "%Y-%m-%d %H:%MZ", &tm))
		snprintf(out, len, "-");
}

void hubfmt_span(long long secs, char *out, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(out, len, "%llds", secs);
	else if (secs < 3600)
		snprintf(out, len, "%lldm%02llds", secs / 60, secs % 60);
	else if (secs < 86400)
		snprintf(out, len, "%lldh%02lldm", secs / 3600, secs % 3600 / 60);
	else
		snprintf(out, len, "%lldd%02lldh", secs / 86400, secs % 86400 / 3600);
}

static char *trim(char *s)
{
	s += strspn(s, " \t");
	size_t n = strlen(s);
	while (n > 0 && strchr(" \t\r", s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* One "key = value" line into conf; -1 with err. */
static int conf_line(char *line, struct hubfmt_conf *conf, char *err, size_t errlen)
{
	struct {
		const char *key;
		char *dst;
		size_t len;
	} keys[] = {
		{"hub", conf->url, sizeof conf->url},
		{"token", conf->token, sizeof conf->token},
		{"fingerprint", conf->fingerprint, sizeof conf->fingerprint},
		{"cacert", conf->cacert, sizeof conf->cacert},
	};
	char *eq = strchr(line, '=');
	if (!eq) {
		snprintf(err, errlen, "expected key = value");
		return -1;
	}
	*eq = '\0';
	char *key = trim(line), *value = trim(eq + 1);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(key, keys[i].key) != 0)
			continue;
		if (keys[i].dst[0]) {
			snprintf(err, errlen, "duplicate key %s", key);
			return -1;
		}
		if (!value[0] || strlen(value) >= keys[i].len) {
			snprintf(err, errlen, "%s: empty or too long", key);
			return -1;
		}
		memcpy(keys[i].dst, value, strlen(value) + 1);
		return 0;
	}
	snprintf(err, errlen, "unknown key (hub, token, fingerprint, cacert)");
	return -1;
}

int hubfmt_conf_parse(char *text, struct hubfmt_conf *conf, char *err, size_t errlen)
{
	char why[128];
	unsigned lineno = 0;
	for (char *line = text, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		char *s = trim(line);
		if (!s[0] || s[0] == '#')
			continue;
		if (conf_line(s, conf, why, sizeof why) < 0) {
			snprintf(err, errlen, "%u: %s", lineno, why);
			return -EINVAL;
		}
	}
	return 0;
}

int hubfmt_table_init(struct hubfmt_table *t, const struct hubfmt_col *cols, size_t ncols)
{
	memset(t, 0, sizeof *t);
	if (ncols == 0 || ncols > HUBFMT_MAX_COLS)
		return -EINVAL;
	t->cols = cols;
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++) {
		if (cols[i].max < 4)
			return -EINVAL;
		t->width[i] = strlen(cols[i].name);
	}
	return 0;
}

int hubfmt_table_add(struct hubfmt_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **grown = realloc(t->cells, cap * t->ncols * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		t->cells = grown;
		t->cap = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = malloc(t->cols[i].max + 1);
		if (!row[i]) {
			while (i > 0)
				free(row[--i]);
			return -ENOMEM;
		}
		size_t w = hubfmt_escape(cells[i], row[i], t->cols[i].max);
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
	return 0;
}

static void print_row(const struct hubfmt_table *t, const char *const *cells, FILE *f)
{
	for (size_t i = 0; i < t->ncols; i++) {
		if (i + 1 < t->ncols)
			fprintf(f, "%-*s  ", (int)t->width[i], cells[i]);
		else
			fprintf(f, "%s\n", cells[i]);
	}
}

int hubfmt_table_print(const struct hubfmt_table *t, FILE *f)
{
	const char *head[HUBFMT_MAX_COLS];
	for (size_t i = 0; i < t->ncols; i++)
		head[i] = t->cols[i].name;
	print_row(t, head, f);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(t, (const char *const *)(t->cells + r * t->ncols), f);
	return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

void hubfmt_table_free(struct hubfmt_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}
