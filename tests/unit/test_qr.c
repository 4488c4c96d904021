/*
 * test_qr: the half-block text decodes back to exactly libqrencode's module
 * matrix with a light quiet zone, in every colour mode; and, where zbarimg(1)
 * is installed (zbar-tools), an image drawn from the text decodes to the
 * original string.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jitsu/qr.h"

static const char uri[] = "otpauth://totp/jitsu:alice@host?secret="
			  "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=jitsu"
			  "&algorithm=SHA1&digits=6&period=30";

/*
 * Parses the text back into a (cols x 2*lines) matrix of "glyph-filled"
 * bits, skipping SGR sequences. Returns the matrix (malloc'd).
 */
static unsigned char *unrender(const struct qr_text *t)
{
	unsigned w = t->cols, h = 2 * t->lines;
	unsigned char *m = calloc((size_t)w * h, 1);
	const char *p = t->text;

	assert_non_null(m);
	for (unsigned l = 0; l < t->lines; l++) {
		unsigned x = 0;
		while (*p != '\n') {
			assert_true(*p != '\0');
			if (*p == '\033') {
				p += strcspn(p, "m") + 1;
				continue;
			}
			int top, bot;
			if (*p == ' ') {
				top = bot = 0;
				p++;
			} else {
				assert_memory_equal(p, "\xe2\x96", 2);
				unsigned char c = (unsigned char)p[2];
				assert_true(c == 0x80 || c == 0x84 || c == 0x88);
				top = c != 0x84;
				bot = c != 0x80;
				p += 3;
			}
			assert_true(x < w);
			m[(2 * l) * w + x] = (unsigned char)top;
			m[(2 * l + 1) * w + x] = (unsigned char)bot;
			x++;
		}
		assert_int_equal(x, w);
		p++;
	}
	assert_int_equal(*p, '\0');
	assert_int_equal((size_t)(p - t->text), t->len);
	return m;
}

/* Checks that filled == dark (or == light if inverted) for every module. */
static void check_matrix(const struct qr_text *t, int filled_is_dark)
{
	QRcode *q = QRcode_encodeString(uri, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	assert_non_null(q);
	assert_int_equal(t->modules, (unsigned)q->width);
	assert_int_equal(t->cols, t->modules + 2 * QR_QUIET);
	assert_int_equal(t->lines, (t->cols + 1) / 2);

	unsigned char *m = unrender(t);
	for (unsigned y = 0; y < 2 * t->lines; y++) {
		for (unsigned x = 0; x < t->cols; x++) {
			int qx = (int)x - QR_QUIET, qy = (int)y - QR_QUIET;
			int dark = qx >= 0 && qy >= 0 && qx < q->width && qy < q->width &&
				   (q->data[qy * q->width + qx] & 1);
			assert_int_equal(m[y * t->cols + x], filled_is_dark ? dark : !dark);
		}
	}
	free(m);
	QRcode_free(q);
}

static void test_render_plain(void **state)
{
	(void)state;
	struct qr_text t;
	assert_int_equal(qr_render(uri, 0, &t), 0);
	assert_null(strchr(t.text, '\033'));
	check_matrix(&t, 1);
	/* An otpauth URI fits an 80x24 terminal. */
	assert_true(t.cols <= 80 && t.lines <= 24);
	qr_text_free(&t);
	assert_null(t.text);
	qr_text_free(&t);
}

static void test_render_invert(void **state)
{
	(void)state;
	struct qr_text t;
	assert_int_equal(qr_render(uri, QR_INVERT, &t), 0);
	check_matrix(&t, 0);
	qr_text_free(&t);
}

static void test_render_ansi(void **state)
{
	(void)state;
	struct qr_text t;
	assert_int_equal(qr_render(uri, QR_ANSI, &t), 0);
	check_matrix(&t, 1);
	/* Every line sets the colours first and resets them last. */
	for (const char *l = t.text; *l; l = strchr(l, '\n') + 1) {
		assert_memory_equal(l, "\033[", 2);
		const char *nl = strchr(l, '\n');
		assert_memory_equal(nl - 4, "\033[0m", 4);
	}
	qr_text_free(&t);
	/* QR_INVERT means nothing once the colours are explicit. */
	assert_int_equal(qr_render(uri, QR_ANSI | QR_INVERT, &t), 0);
	check_matrix(&t, 1);
	qr_text_free(&t);
}

static void test_render_errors(void **state)
{
	(void)state;
	struct qr_text t;
	char *big = malloc(QR_INPUT_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', QR_INPUT_MAX + 1);
	big[QR_INPUT_MAX + 1] = '\0';

	assert_int_equal(qr_render("", 0, &t), -EINVAL);
	assert_null(t.text);
	assert_int_equal(qr_render(NULL, 0, &t), -EINVAL);
	assert_int_equal(qr_render(uri, 0x80, &t), -EINVAL);
	assert_int_equal(qr_render(big, 0, &t), -EINVAL);
	big[QR_INPUT_MAX] = '\0';
	assert_int_equal(qr_render(big, 0, &t), 0);
	qr_text_free(&t);
	free(big);
}

static int have_zbarimg(void)
{
	return system("command -v zbarimg >/dev/null 2>&1") == 0;
}

/* Draws the decoded text as a PBM image (8 px per module) and scans it. */
static void test_scan_with_zbar(void **state)
{
	(void)state;
	if (!have_zbarimg())
		skip();
	struct qr_text t;
	assert_int_equal(qr_render(uri, QR_ANSI, &t), 0);
	unsigned char *m = unrender(&t);
	const unsigned scale = 8, w = t.cols * scale, h = 2 * t.lines * scale;

	char path[] = "/tmp/jitsu-test-qr-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "P1\n%u %u\n", w, h);
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++)
			fputs(m[(y / scale) * t.cols + x / scale] ? "1 " : "0 ", f);
	fclose(f);

	char cmd[128], out[512] = "";
	snprintf(cmd, sizeof cmd, "zbarimg --raw -q %s 2>/dev/null", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof out - 1, p);
	pclose(p);
	unlink(path);
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	assert_string_equal(out, uri);
	free(m);
	qr_text_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		// clang-format off
		cmocka_unit_test(test_render_plain),
		cmocka_unit_test(test_render_invert),
		cmocka_unit_test(test_render_ansi),
		cmocka_unit_test(test_render_errors),
		cmocka_unit_test(test_scan_with_zbar),
		// clang-format on
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
