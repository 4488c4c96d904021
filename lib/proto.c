/*
 * proto: framing, checked encoders and decoders, and fd passing for the
 * jitsu <-> jitsud socket. The MUST rules are in include/jitsu/proto.h.
 */
#include "jitsu/proto.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

void proto_buf_init(struct proto_buf *b)
{
	memset(b, 0, sizeof *b);
}

void proto_buf_free(struct proto_buf *b)
{
	free(b->data);
	proto_buf_init(b);
}

static void buf_put(struct proto_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (n > PROTO_MAX_PAYLOAD - b->len) {
		b->err = -EMSGSIZE;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *d = realloc(b->data, cap);
		if (!d) {
			b->err = -ENOMEM;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void proto_put_u16(struct proto_buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	buf_put(b, x, sizeof x);
}

void proto_put_u32(struct proto_buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	buf_put(b, x, sizeof x);
}

void proto_put_str(struct proto_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (n > UINT32_MAX) {
		b->err = -EMSGSIZE;
		return;
	}
	proto_put_u32(b, (uint32_t)n);
	buf_put(b, s, n);
}

void proto_reader_init(struct proto_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

static const uint8_t *reader_take(struct proto_reader *r, size_t n)
{
	if (r->err || n > r->len - r->off) {
		r->err = -EBADMSG;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

int proto_get_u16(struct proto_reader *r, uint16_t *v)
{
	const uint8_t *p = reader_take(r, 2);
	if (!p)
		return -EBADMSG;
	*v = (uint16_t)((p[0] << 8) | p[1]);
	return 0;
}

int proto_get_u32(struct proto_reader *r, uint32_t *v)
{
	const uint8_t *p = reader_take(r, 4);
	if (!p)
		return -EBADMSG;
	*v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	return 0;
}

int proto_get_str(struct proto_reader *r, size_t max, char **s)
{
	uint32_t n;
	*s = NULL;
	if (proto_get_u32(r, &n) < 0)
		return -EBADMSG;
	if (n > max) {
		r->err = -EBADMSG;
		return -EBADMSG;
	}
	const uint8_t *p = reader_take(r, n);
	if (!p)
		return -EBADMSG;
	if (memchr(p, '\0', n)) {
		r->err = -EBADMSG;
		return -EBADMSG;
	}
	char *c = malloc((size_t)n + 1);
	if (!c) {
		r->err = -ENOMEM;
		return -ENOMEM;
	}
	memcpy(c, p, n);
	c[n] = '\0';
	*s = c;
	return 0;
}

int proto_reader_done(const struct proto_reader *r)
{
	if (r->err)
		return r->err;
	return r->off == r->len ? 0 : -EBADMSG;
}

static void put_header(uint8_t h[PROTO_HDR_LEN], uint8_t type, uint32_t len)
{
	memcpy(h, PROTO_MAGIC, 4);
	h[4] = PROTO_VERSION;
	h[5] = type;
	h[6] = 0;
	h[7] = 0;
	h[8] = (uint8_t)(len >> 24);
	h[9] = (uint8_t)(len >> 16);
	h[10] = (uint8_t)(len >> 8);
	h[11] = (uint8_t)len;
}

int proto_send(int sock, uint8_t type, const void *payload, size_t len, const int *fds,
	       unsigned nfds)
{
	uint8_t hdr[PROTO_HDR_LEN];
	union {
		char buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
		struct cmsghdr align;
	} ctl;

	if (len > PROTO_MAX_PAYLOAD || nfds > PROTO_MAX_FDS)
		return -EMSGSIZE;
	put_header(hdr, type, (uint32_t)len);

	struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)payload, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	if (nfds) {
		memset(&ctl, 0, sizeof ctl);
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}

	size_t total = sizeof hdr + len, sent = 0;
	while (sent < total) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		sent += (size_t)n;
		/* The fds went with the first bytes; advance the iovecs. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		size_t skip = (size_t)n;
		while (mh.msg_iovlen && skip >= mh.msg_iov[0].iov_len) {
			skip -= mh.msg_iov[0].iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + skip;
			mh.msg_iov[0].iov_len -= skip;
		}
	}
	return 0;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Collects SCM_RIGHTS fds from mh into m; any beyond maxfds are closed. */
static int take_fds(struct msghdr *mh, struct proto_msg *m, unsigned maxfds)
{
	int bad = (mh->msg_flags & MSG_CTRUNC) != 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *p = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, p + i, sizeof fd);
			if (m->nfds < maxfds)
				m->fds[m->nfds++] = fd;
			else {
				close(fd);
				bad = 1;
			}
		}
	}
	return bad ? -EPROTO : 0;
}

/* Milliseconds left until deadline_ms (CLOCK_MONOTONIC), at least 0. */
static int ms_left(int64_t deadline_ms)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t left = deadline_ms - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	return left < 0 ? 0 : (left > INT32_MAX ? INT32_MAX : (int)left);
}

/* Reads exactly n bytes; the first read may bring fds. With a deadline
 * (>= 0), the whole read must finish by then: a peer that dribbles bytes
 * cannot hold the reader past it. */
static int read_full(int sock, uint8_t *p, size_t n, struct proto_msg *m, unsigned maxfds,
		     int *got_any, int64_t deadline_ms)
{
	size_t off = 0;
	union {
		char buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	while (off < n) {
		struct iovec iov = {p + off, n - off};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof ctl.buf;
		if (deadline_ms >= 0) {
			struct pollfd pfd = {sock, POLLIN, 0};
			int w = poll(&pfd, 1, ms_left(deadline_ms));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return w == 0 ? -ETIMEDOUT : -errno;
		}
		ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		if (mh.msg_controllen && take_fds(&mh, m, maxfds) < 0)
			return -EPROTO;
		if (r == 0)
			return (off == 0 && !*got_any) ? -ECONNRESET : -EPROTO;
		*got_any = 1;
		off += (size_t)r;
	}
	return 0;
}

int proto_recv(int sock, struct proto_msg *m, unsigned maxfds)
{
	return proto_recv_until(sock, m, maxfds, -1);
}

int64_t proto_deadline(unsigned secs)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + (int64_t)secs * 1000;
}

int proto_recv_until(int sock, struct proto_msg *m, unsigned maxfds, int64_t deadline_ms)
{
	uint8_t hdr[PROTO_HDR_LEN];
	int got_any = 0;

	memset(m, 0, sizeof *m);
	for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
		m->fds[i] = -1;
	if (maxfds > PROTO_MAX_FDS)
		maxfds = PROTO_MAX_FDS;

	int r = read_full(sock, hdr, sizeof hdr, m, maxfds, &got_any, deadline_ms);
	if (r < 0)
		goto fail;
	uint32_t len = ((uint32_t)hdr[8] << 24) | ((uint32_t)hdr[9] << 16) |
		       ((uint32_t)hdr[10] << 8) | hdr[11];
	if (memcmp(hdr, PROTO_MAGIC, 4) != 0 || hdr[4] != PROTO_VERSION || hdr[6] || hdr[7] ||
	    len > PROTO_MAX_PAYLOAD) {
		r = -EPROTO;
		goto fail;
	}
	m->type = hdr[5];
	m->len = len;
	m->payload = malloc((size_t)len + 1);
	if (!m->payload) {
		r = -ENOMEM;
		goto fail;
	}
	r = read_full(sock, m->payload, len, m, maxfds, &got_any, deadline_ms);
	if (r < 0) {
		if (r == -ECONNRESET)
			r = -EPROTO;
		goto fail;
	}
	m->payload[len] = '\0';
	return 0;
fail:
	proto_msg_free(m);
	return r;
}

void proto_msg_free(struct proto_msg *m)
{
	free(m->payload);
	m->payload = NULL;
	close_fds(m->fds, m->nfds);
	for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
		m->fds[i] = -1;
	m->nfds = 0;
}

int proto_exec_encode(struct proto_buf *b, const struct proto_exec *e)
{
	/* Refuse here what the decoder would refuse, with a reason the
	 * caller can name. */
	if (e->argc > PROTO_MAX_ARGS || e->envc > PROTO_MAX_ENV) {
		b->err = -E2BIG;
		return b->err;
	}
	if (e->flags & ~PROTO_EXEC_F_KNOWN) {
		b->err = -EINVAL;
		return b->err;
	}
	proto_put_u32(b, e->flags);
	proto_put_str(b, e->target ? e->target : "");
	proto_put_str(b, e->reason ? e->reason : "");
	proto_put_u32(b, e->argc);
	for (uint32_t i = 0; i < e->argc; i++)
		proto_put_str(b, e->argv[i]);
	proto_put_u32(b, e->envc);
	for (uint32_t i = 0; i < e->envc; i++)
		proto_put_str(b, e->env[i]);
	proto_put_u16(b, e->rows);
	proto_put_u16(b, e->cols);
	return b->err;
}

/* Decodes a counted list of strings into a NULL-terminated array. */
static int get_strv(struct proto_reader *r, uint32_t maxn, size_t maxlen, uint32_t *count,
		    const char ***out)
{
	uint32_t n;
	*out = NULL;
	if (proto_get_u32(r, &n) < 0 || n > maxn)
		return -EBADMSG;
	/* Each string needs at least its 4-byte length: refuse impossible
	 * counts before allocating for them. */
	if ((size_t)n * 4 > r->len - r->off)
		return -EBADMSG;
	char **v = calloc((size_t)n + 1, sizeof *v);
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		int e = proto_get_str(r, maxlen, &v[i]);
		if (e < 0) {
			for (uint32_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return e;
		}
	}
	*count = n;
	*out = (const char **)v;
	return 0;
}

static void free_strv(const char **v, uint32_t n)
{
	if (!v)
		return;
	for (uint32_t i = 0; i < n; i++)
		free((char *)v[i]);
	free((void *)v);
}

int proto_exec_decode(const void *payload, size_t len, struct proto_exec *e)
{
	struct proto_reader r;
	char *target = NULL, *reason = NULL;
	int err;

	memset(e, 0, sizeof *e);
	proto_reader_init(&r, payload, len);
	if (proto_get_u32(&r, &e->flags) < 0 || (e->flags & ~PROTO_EXEC_F_KNOWN) ||
	    proto_get_str(&r, PROTO_MAX_SHORT, &target) < 0 ||
	    proto_get_str(&r, PROTO_MAX_SHORT, &reason) < 0) {
		err = r.err == -ENOMEM ? -ENOMEM : -EBADMSG;
		goto fail;
	}
	e->target = target;
	e->reason = reason;
	err = get_strv(&r, PROTO_MAX_ARGS, PROTO_MAX_ARG_LEN, &e->argc, &e->argv);
	if (err < 0)
		goto fail;
	err = get_strv(&r, PROTO_MAX_ENV, PROTO_MAX_ENV_LEN, &e->envc, &e->env);
	if (err < 0)
		goto fail;
	if (proto_get_u16(&r, &e->rows) < 0 || proto_get_u16(&r, &e->cols) < 0 ||
	    proto_reader_done(&r) < 0 || e->argc < 1 || e->argv[0][0] == '\0') {
		err = -EBADMSG;
		goto fail;
	}
	return 0;
fail:
	free(target);
	free(reason);
	e->target = e->reason = NULL;
	proto_exec_free(e);
	return err;
}

void proto_exec_free(struct proto_exec *e)
{
	free((char *)e->target);
	free((char *)e->reason);
	free_strv(e->argv, e->argc);
	free_strv(e->env, e->envc);
	memset(e, 0, sizeof *e);
}

int proto_send_u32_str(int sock, uint8_t type, uint32_t v, const char *s)
{
	struct proto_buf b;
	proto_buf_init(&b);
	proto_put_u32(&b, v);
	proto_put_str(&b, s);
	int r = b.err ? b.err : proto_send(sock, type, b.data, b.len, NULL, 0);
	proto_buf_free(&b);
	return r;
}

int proto_send_error(int sock, enum proto_err code, const char *msg)
{
	return proto_send_u32_str(sock, PROTO_ERROR, (uint32_t)code, msg);
}

int proto_send_u32(int sock, uint8_t type, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	return proto_send(sock, type, x, sizeof x, NULL, 0);
}

int proto_send_u32x2(int sock, uint8_t type, uint32_t a, uint32_t b)
{
	struct proto_buf buf;
	proto_buf_init(&buf);
	proto_put_u32(&buf, a);
	proto_put_u32(&buf, b);
	int r = buf.err ? buf.err : proto_send(sock, type, buf.data, buf.len, NULL, 0);
	proto_buf_free(&buf);
	return r;
}

int proto_send_str(int sock, uint8_t type, const char *s)
{
	struct proto_buf b;
	proto_buf_init(&b);
	proto_put_str(&b, s);
	int r = b.err ? b.err : proto_send(sock, type, b.data, b.len, NULL, 0);
	proto_buf_free(&b);
	return r;
}

int proto_decode_u32_str(const struct proto_msg *m, size_t max, uint32_t *v, char **s)
{
	struct proto_reader r;
	proto_reader_init(&r, m->payload, m->len);
	*s = NULL;
	if (proto_get_u32(&r, v) < 0 || proto_get_str(&r, max, s) < 0 ||
	    proto_reader_done(&r) < 0) {
		free(*s);
		*s = NULL;
		return -EBADMSG;
	}
	return 0;
}

int proto_decode_error(const struct proto_msg *m, uint32_t *code, char **msg)
{
	return proto_decode_u32_str(m, PROTO_MAX_SHORT, code, msg);
}

int proto_decode_u32(const struct proto_msg *m, uint32_t *v)
{
	struct proto_reader r;
	proto_reader_init(&r, m->payload, m->len);
	if (proto_get_u32(&r, v) < 0 || proto_reader_done(&r) < 0)
		return -EBADMSG;
	return 0;
}

int proto_decode_u32x2(const struct proto_msg *m, uint32_t *a, uint32_t *b)
{
	struct proto_reader r;
	proto_reader_init(&r, m->payload, m->len);
	if (proto_get_u32(&r, a) < 0 || proto_get_u32(&r, b) < 0 || proto_reader_done(&r) < 0)
		return -EBADMSG;
	return 0;
}

int proto_decode_str(const struct proto_msg *m, size_t max, char **s)
{
	struct proto_reader r;
	proto_reader_init(&r, m->payload, m->len);
	if (proto_get_str(&r, max, s) < 0 || proto_reader_done(&r) < 0) {
		free(*s);
		*s = NULL;
		return -EBADMSG;
	}
	return 0;
}

const char *proto_type_name(uint8_t type)
{
	switch (type) {
	case PROTO_REQ_EXEC: return "REQ_EXEC";
	case PROTO_REQ_LIST: return "REQ_LIST";
	case PROTO_SIGNAL: return "SIGNAL";
	case PROTO_RESUME: return "RESUME";
	case PROTO_BYE: return "BYE";
	case PROTO_ANSWER: return "ANSWER";
	case PROTO_CANCEL: return "CANCEL";
	case PROTO_REQ_ENROLL: return "REQ_ENROLL";
	case PROTO_REQ_MFA_STATUS: return "REQ_MFA_STATUS";
	case PROTO_ERROR: return "ERROR";
	case PROTO_STARTED: return "STARTED";
	case PROTO_EXIT: return "EXIT";
	case PROTO_SUSPEND: return "SUSPEND";
	case PROTO_TEXT: return "TEXT";
	case PROTO_PROMPT: return "PROMPT";
	case PROTO_NOTICE: return "NOTICE";
	case PROTO_OTPAUTH: return "OTPAUTH";
	case PROTO_STATUS: return "STATUS";
	}
	return "?";
}
