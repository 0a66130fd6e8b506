/* Frames over a connection (transport.h has the layout). The receiver
 * treats the stream as hostile: the header is checked (magic, its CRC, the
 * length against the caller's cap) before a byte of payload is read or
 * allocated, and a frame that times out half-read is kept for the next
 * call. */
#include "transport/transport_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define XPORT_IOV_STACK 8

static void xport_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void xport_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t xport_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t xport_get64(const uint8_t *p)
{
	return (uint64_t)xport_get32(p) | (uint64_t)xport_get32(p + 4) << 32;
}

static uint32_t xport_crc(uint32_t crc, const void *p, size_t n)
{
	/* zlib takes at most UINT_MAX at a time; a frame is far below. */
	return (uint32_t)crc32(crc, p, (uInt)n);
}

/* A failure the stream cannot go on after: every later call repeats it. */
static int xport_sticky(int *code, char *msg, int r, const char *err)
{
	*code = r;
	snprintf(msg, XPORT_ERRMSG, "%s", err ? err : "");
	return r;
}

static int xport_repeat(int code, const char *msg, char *err, size_t errlen)
{
	snprintf(err, errlen, "the connection is unusable after an earlier error: %s", msg);
	return code;
}

/* ---- sending ---- */

void xport_set_send_timeout(struct xport_conn *c, int timeout_ms)
{
	atomic_store(&c->send_timeout_ms, timeout_ms < 0 ? -1 : timeout_ms);
}

/* The payload's length and CRC; -EFBIG over XPORT_FRAME_MAX. */
static int xport_payload_sum(const struct iovec *iov, int cnt, size_t *len, uint32_t *crc,
			     char *err, size_t errlen)
{
	size_t total = 0;

	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > XPORT_FRAME_MAX - total) {
			snprintf(err, errlen, "cannot send a frame of more than %u bytes", XPORT_FRAME_MAX);
			return -EFBIG;
		}
		total += iov[i].iov_len;
	}
	*crc = xport_crc(0, NULL, 0);
	for (int i = 0; i < cnt; i++)
		if (iov[i].iov_len)
			*crc = xport_crc(*crc, iov[i].iov_base, iov[i].iov_len);
	*len = total;
	return 0;
}

static void xport_header(uint8_t *h, uint32_t type, uint64_t len, uint32_t crc)
{
	memcpy(h, XPORT_FRAME_MAGIC, 4);
	xport_put32(h + 4, type);
	xport_put64(h + 8, len);
	xport_put32(h + 16, crc);
	xport_put32(h + 20, xport_crc(xport_crc(0, NULL, 0), h, 20));
}

int xport_sendv(struct xport_conn *c, uint32_t type, const struct iovec *iov, int iovcnt,
		char *err, size_t errlen)
{
	struct iovec stack[XPORT_IOV_STACK], *v = stack;
	uint8_t h[XPORT_FRAME_HEADER];
	bool partial;
	uint32_t crc;
	size_t len;
	int r;

	if (c->send_err)
		return xport_repeat(c->send_err, c->send_msg, err, errlen);
	if (iovcnt < 0 || (iovcnt > 0 && !iov)) {
		snprintf(err, errlen, "cannot send: no pieces");
		return -EINVAL;
	}
	r = xport_payload_sum(iov, iovcnt, &len, &crc, err, errlen);
	if (r < 0)
		return r;
	/* The caller's pieces stay as they are: the writer advances a copy. */
	if (iovcnt + 1 > XPORT_IOV_STACK && !(v = malloc(sizeof(*v) * ((size_t)iovcnt + 1)))) {
		snprintf(err, errlen, "cannot send: out of memory");
		return -ENOMEM;
	}
	xport_header(h, type, len, crc);
	v[0] = (struct iovec){ .iov_base = h, .iov_len = sizeof(h) };
	if (iovcnt > 0)
		memcpy(v + 1, iov, sizeof(*v) * (size_t)iovcnt);
	r = xport_write_all(c, v, iovcnt + 1, &partial, err, errlen);
	if (v != stack)
		free(v);
	if (r < 0)
		return partial ? xport_sticky(&c->send_err, c->send_msg, r, err) : r;
	atomic_fetch_add_explicit(&c->sent, sizeof(h) + len, memory_order_relaxed);
	return 0;
}

int xport_send(struct xport_conn *c, uint32_t type, const void *data, size_t len, char *err,
	       size_t errlen)
{
	struct iovec v = { .iov_base = (void *)data, .iov_len = len };

	return xport_sendv(c, type, &v, len ? 1 : 0, err, errlen);
}

/* ---- receiving ---- */

/* Up to want bytes into dst: from the read-ahead first; a large read goes
 * straight into dst. > 0, 0 (closed), -errno. */
static ssize_t xport_pull(struct xport_conn *c, uint8_t *dst, size_t want, int64_t deadline,
			  char *err, size_t errlen)
{
	ssize_t n;

	if (c->rpos == c->rend) {
		if (want >= XPORT_RBUF_SIZE)
			return xport_read_some(c, dst, want, deadline, err, errlen);
		n = xport_read_some(c, c->rbuf, XPORT_RBUF_SIZE, deadline, err, errlen);
		if (n <= 0)
			return n;
		c->rpos = 0;
		c->rend = (size_t)n;
	}
	n = (ssize_t)(c->rend - c->rpos < want ? c->rend - c->rpos : want);
	memcpy(dst, c->rbuf + c->rpos, (size_t)n);
	c->rpos += (size_t)n;
	return n;
}

/* Why a read got no bytes, in the frame's terms. */
static int xport_recv_short(struct xport_conn *c, ssize_t n, int timeout_ms, char *err,
			    size_t errlen)
{
	size_t got = c->hdr_have + c->have, total = XPORT_FRAME_HEADER + (c->hdr_ok ? c->len : 0);

	if (n == -ETIMEDOUT) {
		if (got == 0)
			snprintf(err, errlen, "no frame from the peer within %d ms", timeout_ms);
		else
			snprintf(err, errlen, "a frame stopped coming for %d ms (%zu bytes of it so "
				 "far; the rest may still come)", timeout_ms, got);
		return -ETIMEDOUT;
	}
	if (n < 0 && n != -ECONNRESET)
		return (int)n;                /* err says it */
	if (got == 0) {
		snprintf(err, errlen, "the peer closed the connection");
		return -ECONNRESET;
	}
	if (c->hdr_ok)
		snprintf(err, errlen, "the stream was cut in a frame (type %u): %zu of its %zu "
			 "bytes came", c->type, got, total);
	else
		snprintf(err, errlen, "the stream was cut in a frame header: %zu of its %d bytes came",
			 got, XPORT_FRAME_HEADER);
	return -EPIPE;
}

static int xport_recv_header(struct xport_conn *c, int64_t deadline, int timeout_ms, char *err,
			     size_t errlen)
{
	const uint8_t *h = c->hdr;

	while (c->hdr_have < XPORT_FRAME_HEADER) {
		ssize_t n = xport_pull(c, c->hdr + c->hdr_have, XPORT_FRAME_HEADER - c->hdr_have,
				       deadline, err, errlen);

		if (n <= 0)
			return xport_recv_short(c, n, timeout_ms, err, errlen);
		c->hdr_have += (size_t)n;
	}
	if (c->hdr_ok)
		return 0;
	if (memcmp(h, XPORT_FRAME_MAGIC, 4) != 0) {
		snprintf(err, errlen, "not a nestvm migration stream: the frame magic is %02x %02x "
			 "%02x %02x, not \"NVMF\"", h[0], h[1], h[2], h[3]);
		return -EPROTO;
	}
	if (xport_get32(h + 20) != xport_crc(xport_crc(0, NULL, 0), h, 20)) {
		snprintf(err, errlen, "not a nestvm migration stream: a frame header's CRC does not "
			 "match");
		return -EPROTO;
	}
	c->type = xport_get32(h + 4);
	c->len = xport_get64(h + 8);
	c->crc = xport_get32(h + 16);
	c->hdr_ok = true;
	return 0;
}

/* Room for the payload, once its length is known to be within max. */
static int xport_recv_room(struct xport_conn *c, size_t max, char *err, size_t errlen)
{
	uint8_t *p;

	if (c->len > max) {
		snprintf(err, errlen, "a frame (type %u) of %llu bytes is over the limit of %zu",
			 c->type, (unsigned long long)c->len, max);
		return -EFBIG;
	}
	if (c->len <= c->cap)
		return 0;
	p = realloc(c->payload, (size_t)c->len);
	if (!p) {
		snprintf(err, errlen, "no memory for a frame of %llu bytes", (unsigned long long)c->len);
		return -ENOMEM;
	}
	c->payload = p;
	c->cap = (size_t)c->len;
	return 0;
}

static int xport_recv_payload(struct xport_conn *c, int64_t deadline, int timeout_ms, char *err,
			      size_t errlen)
{
	while (c->have < c->len) {
		ssize_t n = xport_pull(c, c->payload + c->have, (size_t)c->len - c->have, deadline,
				       err, errlen);

		if (n <= 0)
			return xport_recv_short(c, n, timeout_ms, err, errlen);
		c->have += (size_t)n;
	}
	return 0;
}

/* The frame is used up: the next call starts a new one. */
static void xport_recv_done(struct xport_conn *c)
{
	atomic_fetch_add_explicit(&c->received, XPORT_FRAME_HEADER + c->len, memory_order_relaxed);
	c->hdr_have = 0;
	c->hdr_ok = false;
	c->have = 0;
}

static int xport_recv_frame(struct xport_conn *c, size_t max, int timeout_ms, char *err,
			    size_t errlen)
{
	int64_t deadline = xport_deadline(timeout_ms);
	int r = xport_recv_header(c, deadline, timeout_ms, err, errlen);

	if (r == 0)
		r = xport_recv_room(c, max, err, errlen);
	if (r == 0)
		r = xport_recv_payload(c, deadline, timeout_ms, err, errlen);
	if (r < 0)
		return r;
	if (xport_crc(xport_crc(0, NULL, 0), c->payload, (size_t)c->len) != c->crc) {
		snprintf(err, errlen, "a frame (type %u, %llu bytes) is damaged: its payload CRC "
			 "does not match", c->type, (unsigned long long)c->len);
		r = -EBADMSG;
	}
	return r;
}

int xport_recv(struct xport_conn *c, uint32_t *type, const void **data, size_t *len, size_t max,
	       int timeout_ms, char *err, size_t errlen)
{
	int r;

	*type = 0;
	*data = NULL;
	*len = 0;
	if (c->recv_err)
		return xport_repeat(c->recv_err, c->recv_msg, err, errlen);
	r = xport_recv_frame(c, max < XPORT_FRAME_MAX ? max : XPORT_FRAME_MAX, timeout_ms, err,
			     errlen);
	if (r == -ETIMEDOUT)
		return r;                     /* the part that came is kept */
	if (r < 0 && r != -EBADMSG)
		return xport_sticky(&c->recv_err, c->recv_msg, r, err);
	xport_recv_done(c);
	if (r < 0)
		return r;
	*type = c->type;
	*len = (size_t)c->len;
	*data = c->len ? c->payload : NULL;
	return 0;
}

uint64_t xport_bytes_sent(const struct xport_conn *c)
{
	return atomic_load_explicit(&c->sent, memory_order_relaxed);
}

uint64_t xport_bytes_received(const struct xport_conn *c)
{
	return atomic_load_explicit(&c->received, memory_order_relaxed);
}

size_t xport_recv_capacity(const struct xport_conn *c)
{
	return c->cap;
}
