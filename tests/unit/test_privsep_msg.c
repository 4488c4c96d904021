/*
 * Unit tests for privsep_msg: the closed table of the internal channel.
 * Every refusal class (unknown type, wrong state, wrong length, wrong fd
 * count) is shown for both directions, and the real framing carries the
 * messages over a socketpair with their fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitsu/privsep_msg.h"
#include "jitsu/proto.h"

static struct proto_msg msg(uint8_t type, uint32_t len, unsigned nfds)
{
	struct proto_msg m;
	memset(&m, 0, sizeof m);
	m.type = type;
	m.len = len;
	m.nfds = nfds;
	for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
		m.fds[i] = -1;
	return m;
}

static void test_child_messages_allowed_in_their_state(void **state)
{
	(void)state;
	struct proto_msg m = msg(PS_EXEC, 100, 4);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), 0);
	m = msg(PS_LIST, 0, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), 0);
	m = msg(PS_ENROLL, 4, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), 0);
	m = msg(PS_ANSWER, 10, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_PROMPT), 0);
	m = msg(PS_CANCEL, 0, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_WAIT), 0);
	m = msg(PS_SIGNAL, 4, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_RUN), 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_EXITED), 0);
	m = msg(PS_BYE, 0, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_EXITED), 0);
	m = msg(PS_BAD, 8 + PS_MAX_REASON, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_RUN), 0);
	m = msg(PS_SECCOMP, 4, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_IDLE), 0);
}

static void test_unknown_type_refused(void **state)
{
	(void)state;
	/* Client types, daemon types, gaps in the table, the root-only type:
	 * none is a child message. */
	const uint8_t bad[] = {
		0,   PROTO_REQ_EXEC, PROTO_SIGNAL, PROTO_BYE, PROTO_ERROR, PROTO_STARTED, 127,
		139, PS_CLIENT,      255};
	for (size_t i = 0; i < sizeof bad; i++)
		for (int st = 0; st < PS_ST_COUNT; st++) {
			struct proto_msg m = msg(bad[i], 0, 0);
			assert_int_equal(ps_check_from_child(&m, (enum ps_state)st), -EBADMSG);
		}
}

static void test_wrong_state_refused(void **state)
{
	(void)state;
	struct proto_msg m = msg(PS_EXEC, 100, 4);
	assert_int_equal(ps_check_from_child(&m, PS_ST_RUN), -EPROTO);
	assert_int_equal(ps_check_from_child(&m, PS_ST_PROMPT), -EPROTO);
	assert_int_equal(ps_check_from_child(&m, PS_ST_IDLE), -EPROTO);
	m = msg(PS_ANSWER, 10, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), -EPROTO);
	assert_int_equal(ps_check_from_child(&m, PS_ST_WAIT), -EPROTO);
	m = msg(PS_SIGNAL, 4, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), -EPROTO);
	assert_int_equal(ps_check_from_child(&m, PS_ST_PROMPT), -EPROTO);
	m = msg(PS_BYE, 0, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_RUN), -EPROTO);
	m = msg(PS_BAD, 8, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_IDLE), -EPROTO);
	/* A state outside the enum is no state. */
	assert_int_equal(ps_check_from_child(&m, PS_ST_COUNT), -EPROTO);
	assert_int_equal(ps_check_from_child(&m, (enum ps_state) - 1), -EPROTO);
}

static void test_wrong_length_refused(void **state)
{
	(void)state;
	struct proto_msg m = msg(PS_EXEC, PROTO_MAX_PAYLOAD + 1, 4);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), -EMSGSIZE);
	m = msg(PS_EXEC, 0, 4);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), -EMSGSIZE);
	m = msg(PS_ANSWER, 4 + PROTO_MAX_SHORT + 1, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_PROMPT), -EMSGSIZE);
	m = msg(PS_ANSWER, 3, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_PROMPT), -EMSGSIZE);
	m = msg(PS_SIGNAL, 5, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_RUN), -EMSGSIZE);
	m = msg(PS_LIST, 1, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), -EMSGSIZE);
	m = msg(PS_BAD, 8 + PS_MAX_REASON + 1, 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_WAIT), -EMSGSIZE);
}

static void test_wrong_fd_count_refused(void **state)
{
	(void)state;
	for (unsigned n = 0; n <= PROTO_MAX_FDS; n++) {
		struct proto_msg m = msg(PS_EXEC, 100, n);
		assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), n == 4 ? 0 : -EBADF);
	}
	struct proto_msg m = msg(PS_ANSWER, 10, 1);
	assert_int_equal(ps_check_from_child(&m, PS_ST_PROMPT), -EBADF);
	m = msg(PS_SIGNAL, 4, 2);
	assert_int_equal(ps_check_from_child(&m, PS_ST_RUN), -EBADF);
}

static void test_root_messages(void **state)
{
	(void)state;
	enum ps_state next = PS_ST_COUNT;
	struct proto_msg m = msg(PS_CLIENT, 0, 1);
	assert_int_equal(ps_check_from_root(&m, PS_ST_IDLE, &next), 0);
	assert_int_equal(next, PS_ST_REQUEST);
	/* The client is handed over once, with exactly one fd and no bytes. */
	assert_int_equal(ps_check_from_root(&m, PS_ST_REQUEST, &next), -EPROTO);
	m = msg(PS_CLIENT, 0, 2);
	assert_int_equal(ps_check_from_root(&m, PS_ST_IDLE, &next), -EBADF);
	m = msg(PS_CLIENT, 1, 1);
	assert_int_equal(ps_check_from_root(&m, PS_ST_IDLE, &next), -EMSGSIZE);
	/* Nothing is relayed before there is a client. */
	m = msg(PROTO_ERROR, 8, 0);
	assert_int_equal(ps_check_from_root(&m, PS_ST_IDLE, &next), -EPROTO);
	assert_int_equal(ps_check_from_root(&m, PS_ST_REQUEST, &next), 0);
	assert_int_equal(next, PS_ST_REQUEST);
	m = msg(PROTO_PROMPT, 8, 0);
	assert_int_equal(ps_check_from_root(&m, PS_ST_WAIT, &next), 0);
	assert_int_equal(next, PS_ST_PROMPT);
	m = msg(PROTO_STARTED, 4, 1);
	assert_int_equal(ps_check_from_root(&m, PS_ST_WAIT, &next), 0);
	assert_int_equal(next, PS_ST_RUN);
	m = msg(PROTO_STARTED, 4, 2);
	assert_int_equal(ps_check_from_root(&m, PS_ST_WAIT, &next), -EBADF);
	m = msg(PROTO_TEXT, 4, 1);
	assert_int_equal(ps_check_from_root(&m, PS_ST_WAIT, &next), -EBADF);
	m = msg(PROTO_EXIT, 8, 0);
	assert_int_equal(ps_check_from_root(&m, PS_ST_WAIT, &next), -EPROTO);
	assert_int_equal(ps_check_from_root(&m, PS_ST_RUN, &next), 0);
	assert_int_equal(next, PS_ST_EXITED);
	/* Client types and child types never come from the root side. */
	m = msg(PROTO_REQ_EXEC, 8, 0);
	assert_int_equal(ps_check_from_root(&m, PS_ST_WAIT, &next), -EBADMSG);
	m = msg(PS_EXEC, 8, 0);
	assert_int_equal(ps_check_from_root(&m, PS_ST_WAIT, &next), -EBADMSG);
}

static void test_transitions(void **state)
{
	(void)state;
	assert_int_equal(ps_after_child(PS_EXEC, PS_ST_REQUEST), PS_ST_WAIT);
	assert_int_equal(ps_after_child(PS_ANSWER, PS_ST_PROMPT), PS_ST_WAIT);
	assert_int_equal(ps_after_child(PS_SIGNAL, PS_ST_RUN), PS_ST_RUN);
	assert_int_equal(ps_after_child(PS_BAD, PS_ST_EXITED), PS_ST_EXITED);
	assert_string_equal(ps_type_name(PS_EXEC), "EXEC");
	assert_string_equal(ps_type_name(PS_CLIENT), "CLIENT");
	assert_string_equal(ps_state_name(PS_ST_PROMPT), "PROMPT");
	assert_string_equal(ps_state_name(PS_ST_COUNT), "?");
	assert_true(ps_forwardable(2));
	assert_false(ps_forwardable(9));
	assert_false(ps_forwardable(19));
	assert_false(ps_forwardable(0));
}

/* Over the real framing: what arrives is checked as it was sent. */
static void test_over_socketpair(void **state)
{
	(void)state;
	int sv[2], fds[4];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	for (int i = 0; i < 4; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uint8_t payload[16] = {0};
	struct proto_msg m;
	/* Three fds where the table wants four. */
	assert_int_equal(proto_send(sv[1], PS_EXEC, payload, sizeof payload, fds, 3), 0);
	assert_int_equal(proto_recv(sv[0], &m, PROTO_MAX_FDS), 0);
	assert_int_equal(m.nfds, 3);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), -EBADF);
	proto_msg_free(&m);
	assert_int_equal(proto_send(sv[1], PS_EXEC, payload, sizeof payload, fds, 4), 0);
	assert_int_equal(proto_recv(sv[0], &m, PROTO_MAX_FDS), 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_REQUEST), 0);
	assert_int_equal(ps_check_from_child(&m, PS_ST_RUN), -EPROTO);
	proto_msg_free(&m);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_child_messages_allowed_in_their_state),
		cmocka_unit_test(test_unknown_type_refused),
		cmocka_unit_test(test_wrong_state_refused),
		cmocka_unit_test(test_wrong_length_refused),
		cmocka_unit_test(test_wrong_fd_count_refused),
		cmocka_unit_test(test_root_messages),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_over_socketpair),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
