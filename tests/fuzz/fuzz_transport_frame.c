/* Fuzz target: the migration stream (src/transport/frame.c) is hostile
 * input: the input is the bytes a peer sends, fed through a socketpair
 * into xport_recv in chunks, each call not waiting (timeout 0), then the
 * peer's end. Besides memory safety and leaks it checks the receiver
 * against a reference decoder written here from the documented layout:
 * each call's result (a frame, -ETIMEDOUT while a frame is incomplete,
 * -EPROTO, -EFBIG, -EBADMSG, -EPIPE, -ECONNRESET), each frame's type and
 * bytes, the byte counter, that a stream error stays, and that a frame
 * received and sent again by xport_send is the same bytes.
 *
 * The input picks its own parameters: the chunk size from its first byte,
 * the receive cap from its length's parity (4096, or XPORT_FRAME_MAX). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz.h"
#include "transport/transport.h"

struct stream {
	const uint8_t *d;
	size_t avail;       /* bytes the peer has sent so far */
	bool eof;           /* and then closed */
	size_t off;         /* where the next frame starts */
	size_t max;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What xport_recv must answer now; *flen the frame's size when it is
 * taken (0 or -EBADMSG). */
static int ref_next(const struct stream *s, size_t *flen)
{
	const uint8_t *h = s->d + s->off;
	size_t rem = s->avail - s->off;
	uint64_t len;

	if (rem < XPORT_FRAME_HEADER)
		return !s->eof ? -ETIMEDOUT : rem == 0 ? -ECONNRESET : -EPIPE;
	if (memcmp(h, "NVMF", 4) != 0 || le32(h + 20) != (uint32_t)crc32(0, h, 20))
		return -EPROTO;
	len = (uint64_t)le32(h + 8) | (uint64_t)le32(h + 12) << 32;
	if (len > s->max)
		return -EFBIG;
	if (rem - XPORT_FRAME_HEADER < len)
		return !s->eof ? -ETIMEDOUT : -EPIPE;
	*flen = XPORT_FRAME_HEADER + (size_t)len;
	if (le32(h + 16) != (uint32_t)crc32(0, h + XPORT_FRAME_HEADER, (uInt)len))
		return -EBADMSG;
	return 0;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			abort();
		p += w;
		n -= (size_t)w;
	}
}

/* A frame received, sent again: the very bytes it came as. */
static void check_resend(const struct stream *s, uint32_t type, const void *data, size_t len)
{
	static uint8_t back[XPORT_FRAME_HEADER + 65536];
	struct xport_conn *o;
	char err[256];
	size_t got = 0;
	int sv[2];

	if (len > sizeof(back) - XPORT_FRAME_HEADER ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    xport_conn_from_fd(sv[0], &o, err, sizeof(err)) != 0)
		abort();
	if (xport_send(o, type, data, len, err, sizeof(err)) != 0)
		abort();
	xport_close(o);
	for (ssize_t n; (n = read(sv[1], back + got, sizeof(back) - got)) > 0;)
		got += (size_t)n;
	close(sv[1]);
	if (got != XPORT_FRAME_HEADER + len || memcmp(back, s->d + s->off, got) != 0)
		abort();
}

/* Call xport_recv until it wants more bytes (or the stream is over):
 * false when the stream has ended for good. */
static bool drain(struct xport_conn *c, struct stream *s)
{
	for (;;) {
		const void *data = (const void *)1;
		uint32_t type;
		size_t len = 1, flen = 0;
		char err[512];
		int want = ref_next(s, &flen);
		int r = xport_recv(c, &type, &data, &len, s->max, 0, err, sizeof(err));

		if (r != want || (r < 0 && (!err[0] || memchr(err, '\0', sizeof(err)) == NULL)))
			abort();
		if (r < 0 && (data || len))
			abort();
		if (r == -ETIMEDOUT)
			return true;
		if (r != 0 && r != -EBADMSG) {
			/* The stream is over: and says so again. */
			if (xport_recv(c, &type, &data, &len, s->max, 0, err, sizeof(err)) != r)
				abort();
			return false;
		}
		if (r == 0) {
			if (len != flen - XPORT_FRAME_HEADER || (len == 0) != (data == NULL) ||
			    type != le32(s->d + s->off + 4) ||
			    (len && memcmp(data, s->d + s->off + XPORT_FRAME_HEADER, len) != 0))
				abort();
			check_resend(s, type, data, len);
		}
		s->off += flen;
		if (xport_bytes_received(c) != s->off)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream s = { .d = data, .max = (size & 1) ? 4096 : XPORT_FRAME_MAX };
	size_t chunk = size ? 1 + (size_t)data[0] * 17 % 4096 : 1;
	struct xport_conn *c;
	char err[256];
	bool more = true;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    xport_conn_from_fd(sv[0], &c, err, sizeof(err)) != 0)
		abort();
	while (more && s.avail < size) {
		size_t n = size - s.avail < chunk ? size - s.avail : chunk;

		write_all(sv[1], data + s.avail, n);
		s.avail += n;
		more = drain(c, &s);
	}
	close(sv[1]);
	s.eof = true;
	if (more)
		drain(c, &s);
	xport_close(c);
	return 0;
}
