/*
 * test_webhook: the pure parts of hub/webhook.c. The URL policy (https
 * anywhere, http only to loopback unless allowed, nothing else) and the
 * payload: the structured request, and a "text" that is bounded, cut on a
 * UTF-8 boundary and escaped so request fields cannot carry Slack markup.
 * Delivery itself is tested end to end in test_hub_webhooks.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

static int url_ok(const char *url, int allow_http)
{
	char err[256] = "";
	int rc = webhook_url_check(url, allow_http, err, sizeof err);
	if (rc != 0)
		assert_true(err[0] != '\0');
	return rc == 0;
}

static void test_url_policy(void **state)
{
	assert_true(url_ok("https://hooks.slack.com/services/T0/B0/secret", 0));
	assert_true(url_ok("https://192.0.2.7:8443/x", 0));
	assert_true(url_ok("http://127.0.0.1:9000/hook", 0));
	assert_true(url_ok("http://127.200.0.1/hook", 0));
	assert_true(url_ok("http://[::1]:9000/hook", 0));
	assert_true(url_ok("http://localhost/hook", 0));
	assert_true(url_ok("HTTPS://hooks.example.org/x", 0));
	assert_false(url_ok("http://192.0.2.7/hook", 0));
	assert_true(url_ok("http://192.0.2.7/hook", 1));
	assert_false(url_ok("http://128.0.0.1/hook", 0));
	assert_false(url_ok("http://[::2]/hook", 0));
	assert_false(url_ok("http://localhost.example.org/hook", 0));
	assert_false(url_ok("ftp://127.0.0.1/x", 1));
	assert_false(url_ok("file:///etc/passwd", 1));
	assert_false(url_ok("hooks.example.org/x", 1));
	assert_false(url_ok("https://", 1));
	assert_false(url_ok("", 1));
	assert_false(url_ok("https://a.example.org/a b", 1));
	assert_false(url_ok("https://a.example.org/\n", 1));

	char long_url[WEBHOOK_URL_MAX + 2];
	memset(long_url, 'a', sizeof long_url - 1);
	long_url[sizeof long_url - 1] = '\0';
	memcpy(long_url, "https://a.example.org/", 22);
	assert_false(url_ok(long_url, 1));
	long_url[WEBHOOK_URL_MAX] = '\0';
	assert_true(url_ok(long_url, 1));

	/* The reason never quotes the URL (its path may be a secret). */
	char err[256];
	assert_int_equal(webhook_url_check("http://192.0.2.7/T0/s3cr3t", 0, err, sizeof err), -1);
	assert_null(strstr(err, "s3cr3t"));
}

static struct storage_request sample(const char *argv_json, const char *reason)
{
	struct storage_request r;
	memset(&r, 0, sizeof r);
	snprintf(r.id, sizeof r.id, "9f2c4e0a1b3d5f70");
	snprintf(r.endpoint_id, sizeof r.endpoint_id, "0a1b2c3d4e5f6071");
	snprintf(r.user, sizeof r.user, "alice");
	snprintf(r.host, sizeof r.host, "db1.example.org");
	memset(r.binary_sha256, 'a', STORAGE_HASH_LEN);
	r.argv_json = (char *)argv_json;
	r.reason = (char *)reason;
	r.rule = (char *)"/etc/jitsu/policy.conf:12";
	r.approvals_needed = 2;
	r.state = STORAGE_PENDING;
	r.created_at = 1700000000;
	r.expires_at = 1700000900;
	return r;
}

/* The payload of r, parsed; its "text" in *text. */
static json_t *payload(const struct storage_request *r, const char **text)
{
	char *s = webhook_payload(r);
	assert_non_null(s);
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(j);
	*text = json_string_value(json_object_get(j, "text"));
	assert_non_null(*text);
	return j;
}

static void test_payload_fields(void **state)
{
	struct storage_request r =
		sample("[\"/usr/bin/systemctl\",\"restart\",\"postgresql\"]", "ticket 42");
	const char *text;
	json_t *j = payload(&r, &text);
	json_t *q = json_object_get(j, "request");

	assert_string_equal(json_string_value(json_object_get(j, "event")), "request_pending");
	assert_string_equal(json_string_value(json_object_get(q, "id")), r.id);
	assert_string_equal(json_string_value(json_object_get(q, "endpoint_id")), r.endpoint_id);
	assert_string_equal(json_string_value(json_object_get(q, "user")), "alice");
	assert_string_equal(json_string_value(json_object_get(q, "host")), "db1.example.org");
	assert_string_equal(json_string_value(json_object_get(q, "reason")), "ticket 42");
	assert_string_equal(json_string_value(json_object_get(q, "state")), "pending");
	assert_int_equal(json_integer_value(json_object_get(q, "approvals_needed")), 2);
	assert_int_equal(json_integer_value(json_object_get(q, "expires_at")), 1700000900);
	assert_int_equal(json_array_size(json_object_get(q, "argv")), 3);
	assert_string_equal(text,
			    "jitsu: *alice* on *db1.example.org* asks to run"
			    " `/usr/bin/systemctl restart postgresql`\n"
			    "Reason: ticket 42\n"
			    "Needs 2 approvals by 2023-11-14 22:28 UTC (request 9f2c4e0a1b3d5f70)");
	json_decref(j);

	r = sample("[\"/bin/true\"]", "");
	r.approvals_needed = 1;
	j = payload(&r, &text);
	assert_non_null(strstr(text, "`/bin/true`\nReason: (none)\nNeeds 1 approval by"));
	json_decref(j);
}

static void test_text_escaped(void **state)
{
	struct storage_request r = sample("[\"/bin/sh\",\"-c\",\"echo <!channel> & `id`\\n'x'\"]",
					  "see <https://evil.example|here> & \a");
	const char *text;
	json_t *j = payload(&r, &text);

	assert_null(strchr(text, '<'));
	assert_null(strchr(text, '>'));
	assert_null(strchr(text, '\a'));
	assert_non_null(
		strstr(text, "`/bin/sh -c 'echo &lt;!channel&gt; &amp; 'id'?'\\''x'\\'''`"));
	assert_non_null(strstr(text, "Reason: see &lt;https://evil.example|here&gt; &amp; ?\n"));
	/* the structured fields are the request's, unescaped */
	json_t *q = json_object_get(j, "request");
	assert_string_equal(json_string_value(json_array_get(json_object_get(q, "argv"), 2)),
			    "echo <!channel> & `id`\n'x'");
	json_decref(j);
}

static void test_text_bounded(void **state)
{
	/* 400 two-byte characters: cut to 300 bytes at most, never mid-character */
	char reason[801], argv[9000];
	for (size_t i = 0; i < 400; i++)
		memcpy(reason + 2 * i, "\xc3\xa9", 2);
	reason[800] = '\0';
	size_t n = (size_t)snprintf(argv, sizeof argv, "[\"/bin/echo\"");
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(argv + n, sizeof argv - n, ",\"word%03d\"", i);
	snprintf(argv + n, sizeof argv - n, "]");
	struct storage_request r = sample(argv, reason);
	const char *text;
	json_t *j = payload(&r, &text);

	const char *cmd = strchr(text, '`'), *end = strchr(cmd + 1, '`');
	assert_true(end - cmd - 1 <= WEBHOOK_TEXT_ITEM_MAX + 3);
	assert_memory_equal(end - 3, "\xe2\x80\xa6", 3);
	const char *why = strstr(text, "Reason: ") + 8, *nl = strchr(why, '\n');
	assert_int_equal(nl - why, WEBHOOK_TEXT_ITEM_MAX + 3);
	assert_memory_equal(nl - 3, "\xe2\x80\xa6", 3);
	/* the request itself is whole */
	json_t *q = json_object_get(j, "request");
	assert_int_equal(json_array_size(json_object_get(q, "argv")), 201);
	assert_int_equal(strlen(json_string_value(json_object_get(q, "reason"))), 800);
	json_decref(j);
}

static void test_alert_payload(void **state)
{
	struct storage_alert a = {.seq = 1234, .created_at = 1700000000};
	snprintf(a.id, sizeof a.id, "5be0c3a1d2e4f607");
	snprintf(a.endpoint_id, sizeof a.endpoint_id, "0a1b2c3d4e5f6071");
	snprintf(a.hostname, sizeof a.hostname, "db1.example.org");
	snprintf(a.kind, sizeof a.kind, "audit_hash");
	snprintf(a.detail, sizeof a.detail, "<!channel> & `x`\n");
	char *body = webhook_alert_payload(&a);
	assert_non_null(body);
	json_t *j = json_loads(body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "alert");
	json_t *o = json_object_get(j, "alert");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "audit_hash");
	assert_string_equal(json_string_value(json_object_get(o, "endpoint_id")), a.endpoint_id);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 1234);
	assert_string_equal(json_string_value(json_object_get(o, "detail")), a.detail);
	const char *text = json_string_value(json_object_get(j, "text"));
	assert_non_null(strstr(text, "*audit_hash* on *db1.example.org* at seq 1234"));
	assert_non_null(strstr(text, "&lt;!channel&gt; &amp; 'x'?"));
	assert_null(strchr(text, '<'));
	json_decref(j);
	free(body);
	/* An alert naming no endpoint or seq has nulls. */
	memset(a.endpoint_id, 0, sizeof a.endpoint_id);
	a.seq = 0;
	body = webhook_alert_payload(&a);
	j = json_loads(body, 0, NULL);
	assert_true(json_is_null(json_object_get(json_object_get(j, "alert"), "endpoint_id")));
	assert_true(json_is_null(json_object_get(json_object_get(j, "alert"), "seq")));
	json_decref(j);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_policy),    cmocka_unit_test(test_payload_fields),
		cmocka_unit_test(test_text_escaped),  cmocka_unit_test(test_text_bounded),
		cmocka_unit_test(test_alert_payload),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
