/* Unit tests for envbuild: the allow-list and the built environment. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jitsu/envbuild.h"

static const struct envbuild_target root = {
	.user = "root",
	.home = "/root",
	.shell = "/bin/bash",
	.caller = "alice",
	.caller_uid = 1000,
};

static const char *get(char **env, const char *name)
{
	size_t n = strlen(name);
	for (; *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static void test_allowed(void **state)
{
	assert_true(envbuild_allowed("TERM=xterm-256color"));
	assert_true(envbuild_allowed("LANG=en_US.UTF-8"));
	assert_true(envbuild_allowed("LC_ALL=C"));
	assert_true(envbuild_allowed("LC_MESSAGES=de_DE@euro"));
	assert_true(envbuild_allowed("LANGUAGE=de:en"));
	assert_true(envbuild_allowed("TZ=Europe/Berlin"));
	assert_true(envbuild_allowed("TZ=:/usr/share/zoneinfo/UTC"));
	assert_true(envbuild_allowed("COLORTERM=truecolor"));
	assert_true(envbuild_allowed("NO_COLOR=1"));
}

static void test_refused(void **state)
{
	const char *bad[] = {
		"LD_PRELOAD=/tmp/x.so",
		"LD_LIBRARY_PATH=/tmp",
		"PATH=/tmp",
		"BASH_ENV=/tmp/x",
		"ENV=/tmp/x",
		"IFS= ",
		"PYTHONPATH=/tmp",
		"PERL5LIB=/tmp",
		"HOME=/tmp",
		"TERM=",
		"TERM=../../tmp/t",
		"TERM=a b",
		"LANG=../../tmp",
		"LC_ALL=/tmp/loc",
		"LC_=C",
		"LC_all=C",
		"TZ=/etc/shadow",
		"TZ=../../etc/shadow",
		"TZ=:/usr/share/zoneinfo/../../../etc/shadow",
		"TZ=",
		"TERM",
		"=x",
		"NO_COLOR=../x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (envbuild_allowed(bad[i]))
			fail_msg("allowed: %s", bad[i]);
	}
}

static void test_build_fixed_and_filtered(void **state)
{
	const char *offered[] = {"TERM=vt100", "LD_PRELOAD=/x", "PATH=/evil", "HOME=/home/alice",
				 "TERM=xterm"};
	char **env;
	assert_int_equal(envbuild(offered, 5, &root, NULL, 0, &env), 0);
	assert_string_equal(get(env, "TERM"), "xterm");
	assert_null(get(env, "LD_PRELOAD"));
	assert_string_equal(get(env, "PATH"),
			    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	assert_string_equal(get(env, "HOME"), "/root");
	assert_string_equal(get(env, "USER"), "root");
	assert_string_equal(get(env, "LOGNAME"), "root");
	assert_string_equal(get(env, "SHELL"), "/bin/bash");
	assert_string_equal(get(env, "JITSU_USER"), "alice");
	assert_string_equal(get(env, "JITSU_UID"), "1000");
	size_t terms = 0;
	for (char **p = env; *p; p++)
		terms += !strncmp(*p, "TERM=", 5);
	assert_int_equal(terms, 1);
	envbuild_free(env);
}

static void test_setenv_applies_last(void **state)
{
	const char *offered[] = {"TERM=xterm", "LANG=C"};
	char *set[] = {"EDITOR=vi", "-TERM", "PATH=/opt/bin"};
	char **env;
	assert_int_equal(envbuild(offered, 2, &root, set, 3, &env), 0);
	assert_string_equal(get(env, "EDITOR"), "vi");
	assert_null(get(env, "TERM"));
	assert_string_equal(get(env, "PATH"), "/opt/bin");
	assert_string_equal(get(env, "LANG"), "C");
	envbuild_free(env);
}

static void test_too_many_entries(void **state)
{
	static char names[ENVBUILD_MAX + 10][32];
	char *set[ENVBUILD_MAX + 10];
	char **env;
	for (int i = 0; i < ENVBUILD_MAX + 10; i++) {
		snprintf(names[i], sizeof names[i], "V%d=x", i);
		set[i] = names[i];
	}
	assert_int_equal(envbuild(NULL, 0, &root, set, ENVBUILD_MAX + 10, &env), -E2BIG);
	assert_null(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_build_fixed_and_filtered),
		cmocka_unit_test(test_setenv_applies_last),
		cmocka_unit_test(test_too_many_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
