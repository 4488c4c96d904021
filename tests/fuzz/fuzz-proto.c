/*
 * fuzz-proto: the wire decoders. The input is fed twice: straight to the
 * REQ_EXEC payload decoder, and as a byte stream through the real framing
 * (proto_recv over a socketpair), whose messages go to the small decoders.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jitsu/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_all(const struct proto_msg *m)
{
	uint32_t a, b;
	char *s = NULL;
	struct proto_exec e;
	if (proto_exec_decode(m->payload, m->len, &e) == 0)
		proto_exec_free(&e);
	proto_decode_u32(m, &a);
	proto_decode_u32x2(m, &a, &b);
	if (proto_decode_error(m, &a, &s) == 0)
		free(s);
	s = NULL;
	if (proto_decode_str(m, PROTO_MAX_SHORT, &s) == 0)
		free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_exec e;
	if (proto_exec_decode(data, size, &e) == 0) {
		/* A decoded request must re-encode to the same bytes. */
		struct proto_buf b;
		proto_buf_init(&b);
		if (proto_exec_encode(&b, &e) != 0 || b.len != size ||
		    memcmp(b.data, data, size) != 0)
			abort();
		proto_buf_free(&b);
		proto_exec_free(&e);
	}

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
		decode_all(&m);
		proto_msg_free(&m);
	}
	close(sv[1]);
	return 0;
}
