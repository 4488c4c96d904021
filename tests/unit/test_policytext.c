/*
 * test_policytext: `jitsuctl policy diff` and the filter for policy text
 * from the hub (jitsuctl/policytext.c). The expected diffs are what GNU
 * diff -u prints for the same files (labels in place of names and times).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../jitsuctl/policytext.h"

static void check_diff(const char *a, const char *b, const char *want)
{
	char *d = policytext_diff(a, "A", b, "B");
	assert_non_null(d);
	assert_string_equal(d, want);
	free(d);
}

static void test_equal_texts(void **state)
{
	check_diff("", "", "");
	check_diff("a\nb\n", "a\nb\n", "");
}

static void test_one_change_in_the_middle(void **state)
{
	check_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
		   "--- A\n+++ B\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

static void test_add_and_delete_at_the_ends(void **state)
{
	check_diff("", "a\n", "--- A\n+++ B\n@@ -0,0 +1 @@\n+a\n");
	check_diff("a\n", "", "--- A\n+++ B\n@@ -1 +0,0 @@\n-a\n");
	check_diff("a\nb\n", "a\nb\nc\n", "--- A\n+++ B\n@@ -1,2 +1,3 @@\n a\n b\n+c\n");
	check_diff("b\nc\n", "a\nb\nc\n", "--- A\n+++ B\n@@ -1,2 +1,3 @@\n+a\n b\n c\n");
}

static void test_two_hunks(void **state)
{
	check_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
		   "one\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\ntwelve\n",
		   "--- A\n+++ B\n@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n"
		   "@@ -9,4 +9,4 @@\n 9\n 10\n 11\n-12\n+twelve\n");
	/* six equal lines between changes: still one hunk */
	check_diff("a\n1\n2\n3\n4\n5\n6\nb\n", "A\n1\n2\n3\n4\n5\n6\nB\n",
		   "--- A\n+++ B\n@@ -1,8 +1,8 @@\n-a\n+A\n 1\n 2\n 3\n 4\n 5\n 6\n-b\n+B\n");
}

static void test_no_newline_at_end(void **state)
{
	check_diff("a\nb", "a\nb\n",
		   "--- A\n+++ B\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
}

static void test_lcs_is_minimal(void **state)
{
	check_diff("a\nb\nc\nd\n", "b\nc\nd\ne\n",
		   "--- A\n+++ B\n@@ -1,4 +1,4 @@\n-a\n b\n c\n d\n+e\n");
}

static void test_large_inputs_stay_correct(void **state)
{
	/* Over the table's cap: shown as removed then added, still a valid diff. */
	size_t n = 4000;
	char *a = malloc(n * 8), *b = malloc(n * 8);
	size_t la = 0, lb = 0;
	for (size_t i = 0; i < n; i++) {
		la += (size_t)sprintf(a + la, "a%zu\n", i);
		lb += (size_t)sprintf(b + lb, "b%zu\n", i);
	}
	char *d = policytext_diff(a, "A", b, "B");
	assert_non_null(d);
	size_t minus = 0, plus = 0;
	for (const char *p = d; *p; p = strchr(p, '\n') + 1) {
		minus += p[0] == '-';
		plus += p[0] == '+';
	}
	assert_int_equal(minus, n + 1); /* with the "--- A" line */
	assert_int_equal(plus, n + 1);
	assert_non_null(strstr(d, "@@ -1,4000 +1,4000 @@\n"));
	free(d);
	free(a);
	free(b);
}

static void test_safe_filter(void **state)
{
	char s[] = "ok\ttab\nesc\x1b[2J del\x7f cr\r bell\a c1\xc2\x9b end \xc3\xa9 bad\xff\xc3 ";
	policytext_safe(s);
	assert_string_equal(s, "ok\ttab\nesc?[2J del? cr? bell? c1?? end \xc3\xa9 bad?? ");
	char over[] = "\xe0\x80\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xf0\x9f\x98\x80";
	policytext_safe(over);
	assert_string_equal(over, "??? ??? ???? \xf0\x9f\x98\x80");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_texts),
		cmocka_unit_test(test_one_change_in_the_middle),
		cmocka_unit_test(test_add_and_delete_at_the_ends),
		cmocka_unit_test(test_two_hunks),
		cmocka_unit_test(test_no_newline_at_end),
		cmocka_unit_test(test_lcs_is_minimal),
		cmocka_unit_test(test_large_inputs_stay_correct),
		cmocka_unit_test(test_safe_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
