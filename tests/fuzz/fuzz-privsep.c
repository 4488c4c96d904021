/*
 * fuzz-privsep: the closed table of jitsud's internal channel
 * (privsep_msg). The input is a byte stream through the real framing, as
 * the root side reads what a (compromised) unprivileged child sends; every
 * message is checked in every state, in both directions, and what the
 * table lets through is decoded as the root side decodes it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jitsu/privsep_msg.h"
#include "jitsu/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void as_root_would(const struct proto_msg *m)
{
	uint32_t v;
	char *s = NULL;
	struct proto_exec e;
	switch (m->type) {
	case PS_EXEC:
		if (proto_exec_decode(m->payload, m->len, &e) == 0)
			proto_exec_free(&e);
		break;
	case PS_ENROLL:
	case PS_SIGNAL:
	case PS_SECCOMP: proto_decode_u32(m, &v); break;
	case PS_ANSWER:
		if (proto_decode_str(m, PROTO_MAX_SHORT, &s) == 0)
			free(s);
		break;
	case PS_BAD:
		if (proto_decode_u32_str(m, PS_MAX_REASON, &v, &s) == 0)
			free(s);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	if (write(sv[0], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	close(sv[0]);
	struct proto_msg m;
	while (proto_recv(sv[1], &m, PROTO_MAX_FDS) == 0) {
		for (int st = 0; st < PS_ST_COUNT; st++) {
			enum ps_state next;
			if (ps_check_from_child(&m, (enum ps_state)st) == 0) {
				/* What passes is in the table: a known type. */
				if (!strcmp(ps_type_name(m.type), "?"))
					abort();
				as_root_would(&m);
			}
			if (ps_check_from_root(&m, (enum ps_state)st, &next) == 0 &&
			    (unsigned)next >= PS_ST_COUNT)
				abort();
		}
		proto_msg_free(&m);
	}
	close(sv[1]);
	return 0;
}
