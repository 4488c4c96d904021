/*
 * proto: the versioned, length-prefixed framing between `jitsu` and `jitsud`
 * over a Unix stream socket, with file descriptors passed by SCM_RIGHTS.
 *
 * MUST rules:
 *  - Every message starts with a fixed 12-byte header: the magic "JTSU", the
 *    version, the type, two reserved zero bytes and a big-endian payload
 *    length. A wrong magic, version, reserved byte or a length over
 *    PROTO_MAX_PAYLOAD is a protocol error; nothing of the payload is read.
 *  - Every count and length inside a payload is checked against its cap and
 *    against the bytes left before it is used. A decoder never reads past the
 *    payload and never trusts a count.
 *  - Strings are length-prefixed bytes without NUL; an embedded NUL is an
 *    error, so a decoded string is always a valid C string.
 *  - File descriptors are accepted only on message types that carry them and
 *    only in the exact number expected; all others are closed and refused.
 *  - The caller's identity never comes from a message: see SO_PEERCRED.
 */
#ifndef JITSU_PROTO_H
#define JITSU_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC "JTSU"
#define PROTO_VERSION 1
#define PROTO_HDR_LEN 12
#define PROTO_MAX_PAYLOAD (1024 * 1024) /* one message */
#define PROTO_MAX_ARGS 4096             /* argv entries */
#define PROTO_MAX_ARG_LEN (128 * 1024)  /* one argv string (MAX_ARG_STRLEN) */
#define PROTO_MAX_ENV 128               /* environment entries offered */
#define PROTO_MAX_ENV_LEN 4096          /* one environment string */
#define PROTO_MAX_SHORT 4096            /* user, reason, messages */
#define PROTO_MAX_FDS 4                 /* stdin, stdout, stderr, cwd */

/* Message types. Client to daemon: 1..63; daemon to client: 64..127. */
enum proto_type {
	PROTO_REQ_EXEC = 1,       /* struct proto_exec; fds: 0, 1, 2, cwd */
	PROTO_REQ_LIST = 2,       /* empty */
	PROTO_SIGNAL = 3,         /* u32 signal to forward to the command */
	PROTO_RESUME = 4,         /* client is in the foreground again */
	PROTO_BYE = 5,            /* client restored its terminal and leaves */
	PROTO_ANSWER = 6,         /* string: the answer to a PROTO_PROMPT */
	PROTO_CANCEL = 7,         /* empty: give up waiting */
	PROTO_REQ_ENROLL = 8,     /* u32 flags (PROTO_ENROLL_F_*): enroll the caller for MFA */
	PROTO_REQ_MFA_STATUS = 9, /* empty: the caller's MFA state */

	PROTO_ERROR = 64,   /* u32 proto_err, string message */
	PROTO_STARTED = 65, /* u32 pid; fd: pty master when a tty is relayed */
	PROTO_EXIT = 66,    /* u32 kind (0 exited, 1 signalled), u32 value */
	PROTO_SUSPEND = 67, /* u32 signal that stopped the command */
	PROTO_TEXT = 68,    /* string: text for the user's stdout */
	PROTO_PROMPT = 69,  /* u32 echo, string prompt */
	PROTO_NOTICE = 70,  /* string: a status line for the user's stderr */
	PROTO_OTPAUTH = 71, /* strings uri, base32 secret, QR text: show once */
	PROTO_STATUS = 72,  /* string: replaces the user's status line ("" clears it) */
};

/* Error classes in PROTO_ERROR; jitsu(1) maps each to a fixed exit code. */
enum proto_err {
	PROTO_E_DENIED = 1,   /* policy said no, or a requirement failed */
	PROTO_E_NOTFOUND = 2, /* command not found: 127 */
	PROTO_E_NOEXEC = 3,   /* not executable or unsafe binary: 126 */
	PROTO_E_PROTOCOL = 4, /* malformed message */
	PROTO_E_INTERNAL = 5, /* the daemon failed (fork, audit, ...) */
	PROTO_E_USAGE = 6,    /* a bad request the user can fix */
	PROTO_E_BUSY = 7,     /* too many connections, or shutting down */
};

#define PROTO_EXEC_F_LIST 0x1u       /* reserved */
#define PROTO_EXEC_F_BREAKGLASS 0x2u /* break-glass elevation (docs/breakglass.md) */
/* The flag bits a PROTO_REQ_EXEC may carry; any other bit is refused, so a
 * request never means more than this daemon understands. */
#define PROTO_EXEC_F_KNOWN PROTO_EXEC_F_BREAKGLASS
#define PROTO_ENROLL_F_ANSI 0x1u /* draw the QR code with explicit colours */

/* A decoded PROTO_REQ_EXEC. Pointers point into the decoder's buffer. */
struct proto_exec {
	uint32_t flags;
	const char *target; /* "" means root */
	const char *reason; /* "" means none given */
	uint32_t argc;      /* >= 1 */
	const char **argv;  /* argc entries plus a NULL; allocated */
	uint32_t envc;
	const char **env;    /* "NAME=value" entries plus a NULL; allocated */
	uint16_t rows, cols; /* window size of the user's terminal, or 0 */
};

/* A growable encoding buffer. */
struct proto_buf {
	uint8_t *data;
	size_t len, cap;
	int err; /* sticky: set on allocation failure or an over-cap field */
};

void proto_buf_init(struct proto_buf *b);
void proto_buf_free(struct proto_buf *b);
void proto_put_u16(struct proto_buf *b, uint16_t v);
void proto_put_u32(struct proto_buf *b, uint32_t v);
void proto_put_str(struct proto_buf *b, const char *s);

/* A bounds-checked decoder over one payload. */
struct proto_reader {
	const uint8_t *p;
	size_t len, off;
	int err; /* sticky: set by any failed getter */
};

void proto_reader_init(struct proto_reader *r, const void *p, size_t len);
int proto_get_u16(struct proto_reader *r, uint16_t *v);
int proto_get_u32(struct proto_reader *r, uint32_t *v);
/* *s points into the payload, copied to a NUL-terminated buffer kept by the
 * message; max bounds the length. */
int proto_get_str(struct proto_reader *r, size_t max, char **s);
/* 0 if every byte was consumed and no getter failed, else -EBADMSG. */
int proto_reader_done(const struct proto_reader *r);

/* One received message. */
struct proto_msg {
	uint8_t type;
	uint8_t *payload; /* NUL-terminated copy; len bytes of data */
	uint32_t len;
	int fds[PROTO_MAX_FDS];
	unsigned nfds;
};

/*
 * Sends one message: header, payload and nfds descriptors in one sendmsg.
 * Retries on EINTR and short writes. Returns 0 or -errno (-EMSGSIZE if the
 * payload is over the cap, -EPIPE if the peer went away).
 */
int proto_send(int sock, uint8_t type, const void *payload, size_t len, const int *fds,
	       unsigned nfds);

/*
 * Receives one whole message into *m, with at most maxfds descriptors
 * (received close-on-exec). Returns 0, -ECONNRESET on a clean EOF before
 * the header, -EPROTO on a bad header, a truncated message or excess fds
 * (all received fds are then closed), or -errno. Honours SO_RCVTIMEO:
 * returns -ETIMEDOUT when it fires.
 */
int proto_recv(int sock, struct proto_msg *m, unsigned maxfds);

/*
 * As proto_recv, but the whole message must arrive by deadline_ms (a
 * CLOCK_MONOTONIC time in milliseconds from proto_deadline(), or -1 for
 * none): -ETIMEDOUT otherwise, however the peer paces its bytes.
 */
int proto_recv_until(int sock, struct proto_msg *m, unsigned maxfds, int64_t deadline_ms);

/* The CLOCK_MONOTONIC time in milliseconds secs from now. */
int64_t proto_deadline(unsigned secs);

/* Frees the payload and closes any fds still held in m. */
void proto_msg_free(struct proto_msg *m);

/*
 * Encodes/decodes PROTO_REQ_EXEC. proto_exec_decode checks every cap and
 * count; on success the caller frees with proto_exec_free(). The strings
 * live in the decoder's own allocations, independent of the message.
 */
int proto_exec_encode(struct proto_buf *b, const struct proto_exec *e);
int proto_exec_decode(const void *payload, size_t len, struct proto_exec *e);
void proto_exec_free(struct proto_exec *e);

/* Helpers for the small messages. Each returns 0 or -errno. */
int proto_send_error(int sock, enum proto_err code, const char *msg);
int proto_send_u32(int sock, uint8_t type, uint32_t v);
int proto_send_u32x2(int sock, uint8_t type, uint32_t a, uint32_t b);
int proto_send_str(int sock, uint8_t type, const char *s);
/* A u32 followed by a string (PROTO_ERROR, PROTO_PROMPT). */
int proto_send_u32_str(int sock, uint8_t type, uint32_t v, const char *s);

/* Decoders for the small messages; each checks the exact length. */
int proto_decode_error(const struct proto_msg *m, uint32_t *code, char **msg);
int proto_decode_u32(const struct proto_msg *m, uint32_t *v);
int proto_decode_u32x2(const struct proto_msg *m, uint32_t *a, uint32_t *b);
int proto_decode_str(const struct proto_msg *m, size_t max, char **s);
int proto_decode_u32_str(const struct proto_msg *m, size_t max, uint32_t *v, char **s);

/* A short name for a message type, for logs ("REQ_EXEC", "?"). */
const char *proto_type_name(uint8_t type);

#endif
