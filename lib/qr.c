/*
 * qr: libqrencode symbol to UTF-8 half-block text. See include/jitsu/qr.h.
 */
#include "jitsu/qr.h"

#include <errno.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#define SGR_ON "\033[30;47;107m" /* black on white; bright white where known */
#define SGR_OFF "\033[0m"

/* Glyphs by (top filled, bottom filled). */
static const char *const glyph[2][2] = {
	{" ", "\xe2\x96\x84"},           /* -, lower half */
	{"\xe2\x96\x80", "\xe2\x96\x88"} /* upper half, full block */
};

/* 1 if the module at padded coordinates (x, y) is dark. */
static int dark(const QRcode *q, int x, int y)
{
	x -= QR_QUIET;
	y -= QR_QUIET;
	if (x < 0 || y < 0 || x >= q->width || y >= q->width)
		return 0;
	return q->data[y * q->width + x] & 1;
}

static size_t put(char *p, const char *s)
{
	size_t n = strlen(s);
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result): draw() ends the text with a NUL
	memcpy(p, s, n);
	return n;
}

static void draw(const QRcode *q, unsigned flags, struct qr_text *out)
{
	int fill_dark = !(flags & QR_INVERT) || (flags & QR_ANSI);
	char *p = out->text;

	for (unsigned l = 0; l < out->lines; l++) {
		if (flags & QR_ANSI)
			p += put(p, SGR_ON);
		for (unsigned x = 0; x < out->cols; x++) {
			int top = dark(q, (int)x, (int)(2 * l)) == fill_dark;
			int bot = dark(q, (int)x, (int)(2 * l + 1)) == fill_dark;
			p += put(p, glyph[top][bot]);
		}
		if (flags & QR_ANSI)
			p += put(p, SGR_OFF);
		*p++ = '\n';
	}
	*p = '\0';
	out->len = (size_t)(p - out->text);
}

int qr_render(const char *s, unsigned flags, struct qr_text *out)
{
	memset(out, 0, sizeof *out);
	if (!s || (flags & ~(QR_ANSI | QR_INVERT)))
		return -EINVAL;
	size_t n = strnlen(s, QR_INPUT_MAX + 1);
	if (n == 0 || n > QR_INPUT_MAX)
		return -EINVAL;
	errno = 0;
	QRcode *q = QRcode_encodeString(s, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	if (!q)
		return errno == ENOMEM ? -ENOMEM : -ERANGE;
	out->modules = (unsigned)q->width;
	out->cols = out->modules + 2 * QR_QUIET;
	out->lines = (out->cols + 1) / 2;
	size_t per_line = strlen(SGR_ON) + 3 * (size_t)out->cols + strlen(SGR_OFF) + 1;
	out->text = malloc(out->lines * per_line + 1);
	if (!out->text) {
		QRcode_free(q);
		memset(out, 0, sizeof *out);
		return -ENOMEM;
	}
	draw(q, flags, out);
	explicit_bzero(q->data, (size_t)q->width * (size_t)q->width);
	QRcode_free(q);
	return 0;
}

void qr_text_free(struct qr_text *out)
{
	if (!out)
		return;
	if (out->text) {
		explicit_bzero(out->text, out->len);
		free(out->text);
	}
	memset(out, 0, sizeof *out);
}
