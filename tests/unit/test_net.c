/* Unit tests of virtio-net's pure parts: MAC parsing and the source-MAC
 * policy (src/virtio/net_policy.c), and the data-path helpers
 * (src/virtio/net_frame.c): transmit frame extraction, receive buffer
 * filling and the bounded frame queue. Requests are built over local
 * buffers, as vq_pop() would hand them over. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/net.h"
#include "virtio/net_frame.h"

static const uint8_t OWN[6] = { 0x02, 0x4e, 0x56, 0x00, 0x00, 0x01 };
static const uint8_t OTHER[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x99 };
static const uint8_t THIRD[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x77 };

/* ---- net_parse_mac ---- */

static void test_parse_mac_valid(void **state)
{
	uint8_t mac[6];

	(void)state;
	assert_int_equal(net_parse_mac("02:4e:56:00:00:01", mac), 0);
	assert_memory_equal(mac, OWN, 6);
	assert_int_equal(net_parse_mac("AA:bb:Cc:dD:EE:ff", mac), 0);
	assert_memory_equal(mac, "\xaa\xbb\xcc\xdd\xee\xff", 6);
	assert_int_equal(net_parse_mac("00:00:00:00:00:00", mac), 0);
	assert_memory_equal(mac, "\0\0\0\0\0\0", 6);
}

static void test_parse_mac_invalid(void **state)
{
	static const char *bad[] = {
		"02-4e-56-00-00-01",      /* separators */
		"02.4e.56.00.00.01",
		"024e56000001",
		"02:4e:56:00:00",         /* short */
		"02:4e:56:00:00:",
		"02:4e:56:00:00:0",
		"",
		"02:4e:56:00:00:01:02",   /* long */
		"02:4e:56:00:00:011",
		"02:4e:56:00:00:01 ",
		"0g:4e:56:00:00:01",      /* not hex */
		"02:4e:56:00:00:zz",
		" 2:4e:56:00:00:01",
		"2:4e:56:00:00:01",       /* one digit */
		"+2:4e:56:00:00:01",
	};
	uint8_t mac[6];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (net_parse_mac(bad[i], mac) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	}
}

/* ---- net_mac_allowed ---- */

static void frame_from(uint8_t *frame, const uint8_t src[6])
{
	memset(frame, 0xff, 6);           /* broadcast destination */
	memcpy(frame + 6, src, 6);
	frame[12] = 0x08;                 /* IPv4 */
	frame[13] = 0x00;
	memset(frame + 14, 0xab, 46);
}

static struct net_config policy(bool spoofing)
{
	struct net_config c;

	memset(&c, 0, sizeof(c));
	memcpy(c.mac, OWN, 6);
	c.mac_spoofing = spoofing;
	return c;
}

static void test_mac_own_and_other(void **state)
{
	struct net_config c = policy(false);
	uint8_t f[60];

	(void)state;
	frame_from(f, OWN);
	assert_true(net_mac_allowed(&c, f, sizeof(f)));
	frame_from(f, OTHER);
	assert_false(net_mac_allowed(&c, f, sizeof(f)));
	/* Only the source counts: a frame *to* our MAC from another is dropped. */
	memcpy(f, OWN, 6);
	assert_false(net_mac_allowed(&c, f, sizeof(f)));
}

static void test_mac_spoofing_on(void **state)
{
	struct net_config c = policy(true);
	uint8_t f[60];

	(void)state;
	frame_from(f, OWN);
	assert_true(net_mac_allowed(&c, f, sizeof(f)));
	frame_from(f, OTHER);
	assert_true(net_mac_allowed(&c, f, sizeof(f)));
	frame_from(f, (const uint8_t *)"\x01\x00\x5e\x00\x00\x01");
	assert_true(net_mac_allowed(&c, f, sizeof(f)));
}

static void test_mac_allow_list(void **state)
{
	struct net_config c = policy(false);
	uint8_t f[60];

	(void)state;
	memcpy(c.allowed[0], OTHER, 6);
	c.n_allowed = 1;
	frame_from(f, OTHER);
	assert_true(net_mac_allowed(&c, f, sizeof(f)));
	frame_from(f, OWN);
	assert_true(net_mac_allowed(&c, f, sizeof(f)));
	frame_from(f, THIRD);
	assert_false(net_mac_allowed(&c, f, sizeof(f)));
	/* Entries past n_allowed do not count. */
	memcpy(c.allowed[1], THIRD, 6);
	assert_false(net_mac_allowed(&c, f, sizeof(f)));
	c.n_allowed = 2;
	assert_true(net_mac_allowed(&c, f, sizeof(f)));
	/* A corrupt count stays within the array. */
	c.n_allowed = 1000;
	frame_from(f, (const uint8_t *)"\x02\x00\x00\x00\x00\x55");
	assert_false(net_mac_allowed(&c, f, sizeof(f)));
}

static void test_mac_short_frames(void **state)
{
	struct net_config c = policy(false);
	struct net_config on = policy(true);
	uint8_t f[60];

	(void)state;
	frame_from(f, OWN);
	for (uint32_t len = 0; len < 14; len++) {
		assert_false(net_mac_allowed(&c, f, len));
		assert_false(net_mac_allowed(&on, f, len));
	}
	assert_true(net_mac_allowed(&c, f, 14));
}

/* ---- requests over local buffers ---- */

static void req_init(struct vq_req *req)
{
	memset(req, 0, sizeof(*req));
}

static void req_add(struct vq_req *req, void *addr, uint32_t len, bool writable)
{
	assert_true(req->nbufs < VQ_MAX_BUFS);
	req->bufs[req->nbufs++] = (struct vq_buf){ .addr = addr, .len = len, .writable = writable };
	if (writable)
		req->in_len += len;
	else
		req->out_len += len;
}

static void fill_pattern(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* ---- net_tx_extract ---- */

static void test_tx_simple(void **state)
{
	uint8_t hdr[NET_HDR_LEN] = { 0 }, frame[60], out[100];
	struct vq_req req;
	uint32_t len = 0;

	(void)state;
	fill_pattern(frame, sizeof(frame), 1);
	req_init(&req);
	req_add(&req, hdr, sizeof(hdr), false);
	req_add(&req, frame, sizeof(frame), false);
	assert_int_equal(net_tx_extract(&req, out, sizeof(out), &len), 0);
	assert_int_equal(len, sizeof(frame));
	assert_memory_equal(out, frame, sizeof(frame));
}

static void test_tx_split_header(void **state)
{
	/* Header and frame in one stream, cut at awkward places: 5 + 9 + 1 +
	 * the rest; a writable buffer at the end is ignored. */
	uint8_t stream[NET_HDR_LEN + 100], out[200], junk[16];
	struct vq_req req;
	uint32_t len = 0;

	(void)state;
	fill_pattern(stream, sizeof(stream), 3);
	req_init(&req);
	req_add(&req, stream, 5, false);
	req_add(&req, stream + 5, 9, false);
	req_add(&req, stream + 14, 1, false);
	req_add(&req, stream + 15, sizeof(stream) - 15, false);
	req_add(&req, junk, sizeof(junk), true);
	assert_int_equal(net_tx_extract(&req, out, sizeof(out), &len), 0);
	assert_int_equal(len, 100);
	assert_memory_equal(out, stream + NET_HDR_LEN, 100);
}

static void test_tx_header_only_and_short(void **state)
{
	uint8_t hdr[NET_HDR_LEN] = { 0 }, out[16];
	struct vq_req req;
	uint32_t len = 99;

	(void)state;
	req_init(&req);
	req_add(&req, hdr, NET_HDR_LEN, false);
	assert_int_equal(net_tx_extract(&req, out, sizeof(out), &len), 0);
	assert_int_equal(len, 0);        /* an empty frame; the policy drops it */

	req_init(&req);
	req_add(&req, hdr, NET_HDR_LEN - 1, false);
	assert_int_equal(net_tx_extract(&req, out, sizeof(out), &len), -EINVAL);

	req_init(&req);                   /* only writable buffers */
	req_add(&req, hdr, NET_HDR_LEN, true);
	assert_int_equal(net_tx_extract(&req, out, sizeof(out), &len), -EINVAL);
}

static void test_tx_oversized(void **state)
{
	uint8_t *big = calloc(1, NET_HDR_LEN + NET_MAX_FRAME + 1);
	uint8_t *out = malloc(NET_MAX_FRAME + 16);
	struct vq_req req;
	uint32_t len = 0;

	(void)state;
	assert_non_null(big);
	assert_non_null(out);
	/* Exactly the largest frame passes. */
	req_init(&req);
	req_add(&req, big, NET_HDR_LEN + NET_MAX_FRAME, false);
	assert_int_equal(net_tx_extract(&req, out, NET_MAX_FRAME + 16, &len), 0);
	assert_int_equal(len, NET_MAX_FRAME);
	/* One more byte does not, however big the caller's buffer. */
	req_init(&req);
	req_add(&req, big, NET_HDR_LEN + NET_MAX_FRAME + 1, false);
	assert_int_equal(net_tx_extract(&req, out, NET_MAX_FRAME + 16, &len), -EMSGSIZE);
	/* Nor a frame larger than the caller's buffer. */
	req_init(&req);
	req_add(&req, big, NET_HDR_LEN + 100, false);
	assert_int_equal(net_tx_extract(&req, out, 99, &len), -EMSGSIZE);
	assert_int_equal(net_tx_extract(&req, out, 100, &len), 0);
	free(big);
	free(out);
}

/* ---- net_rx_fill ---- */

static void test_rx_fill_one_buffer(void **state)
{
	uint8_t buf[NET_HDR_LEN + 1514], frame[1514];
	static const uint8_t hdr[NET_HDR_LEN] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	struct vq_req req;
	uint32_t written = 0;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	fill_pattern(frame, sizeof(frame), 9);
	req_init(&req);
	req_add(&req, buf, sizeof(buf), true);
	assert_int_equal(net_rx_fill(&req, frame, sizeof(frame), &written), 0);
	assert_int_equal(written, sizeof(buf));
	assert_memory_equal(buf, hdr, NET_HDR_LEN);
	assert_memory_equal(buf + NET_HDR_LEN, frame, sizeof(frame));
}

static void test_rx_fill_split(void **state)
{
	/* The header split over two buffers, the frame over three; a readable
	 * buffer in front is not written. */
	uint8_t ro[8], a[7], b[9], c[30], d[100], frame[120];
	struct vq_req req;
	uint32_t written = 0;

	(void)state;
	memset(ro, 0x11, sizeof(ro));
	fill_pattern(frame, sizeof(frame), 5);
	req_init(&req);
	req_add(&req, ro, sizeof(ro), false);
	req_add(&req, a, sizeof(a), true);
	req_add(&req, b, sizeof(b), true);
	req_add(&req, c, sizeof(c), true);
	req_add(&req, d, sizeof(d), true);
	assert_int_equal(net_rx_fill(&req, frame, sizeof(frame), &written), 0);
	assert_int_equal(written, NET_HDR_LEN + sizeof(frame));
	for (size_t i = 0; i < sizeof(ro); i++)
		assert_int_equal(ro[i], 0x11);
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(a[i], 0);
	/* num_buffers sits at header bytes 10-11: b[3], b[4]. */
	assert_int_equal(b[0], 0);
	assert_int_equal(b[3], 1);
	assert_int_equal(b[4], 0);
	assert_memory_equal(b + 5, frame, 4);
	assert_memory_equal(c, frame + 4, sizeof(c));
	assert_memory_equal(d, frame + 4 + sizeof(c), sizeof(frame) - 4 - sizeof(c));
}

static void test_rx_fill_too_small(void **state)
{
	uint8_t buf[NET_HDR_LEN + 59], frame[60];
	struct vq_req req;
	uint32_t written = 1234;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	memset(frame, 0x42, sizeof(frame));
	req_init(&req);
	req_add(&req, buf, sizeof(buf), true);
	assert_int_equal(net_rx_fill(&req, frame, sizeof(frame), &written), -ENOSPC);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xee);   /* nothing written */
	assert_int_equal(written, 1234);
	/* A frame that just fits. */
	assert_int_equal(net_rx_fill(&req, frame, sizeof(frame) - 1, &written), 0);
	assert_int_equal(written, sizeof(buf));
	/* Less than a header; no writable buffer at all. */
	req_init(&req);
	req_add(&req, buf, NET_HDR_LEN - 1, true);
	assert_int_equal(net_rx_fill(&req, frame, 0, &written), -ENOSPC);
	req_init(&req);
	req_add(&req, buf, sizeof(buf), false);
	assert_int_equal(net_rx_fill(&req, frame, 1, &written), -ENOSPC);
}

/* ---- the frame queue ---- */

static void test_fq_fifo(void **state)
{
	struct net_fq *q = malloc(sizeof(*q));
	struct net_frame f;
	uint8_t data[64];

	(void)state;
	assert_non_null(q);
	net_fq_init(q);
	assert_null(net_fq_peek(q));
	assert_false(net_fq_pop(q, &f));
	for (int round = 0; round < 3; round++) {     /* wraps the ring */
		for (unsigned int i = 0; i < 200; i++) {
			fill_pattern(data, sizeof(data), (uint8_t)i);
			assert_int_equal(net_fq_push(q, data, 1 + i % 64), 0);
		}
		assert_int_equal(q->count, 200);
		for (unsigned int i = 0; i < 200; i++) {
			const struct net_frame *p = net_fq_peek(q);

			fill_pattern(data, sizeof(data), (uint8_t)i);
			assert_non_null(p);
			assert_int_equal(p->len, 1 + i % 64);
			assert_true(net_fq_pop(q, &f));
			assert_int_equal(f.len, 1 + i % 64);
			assert_memory_equal(f.data, data, f.len);
			free(f.data);
		}
		assert_int_equal(q->bytes, 0);
		assert_null(net_fq_peek(q));
	}
	net_fq_clear(q);
	free(q);
}

static void test_fq_bounds(void **state)
{
	struct net_fq *q = malloc(sizeof(*q));
	uint8_t *big = calloc(1, NET_FQ_MAX_BYTES);
	uint8_t small[60] = { 0 };
	struct net_frame f;

	(void)state;
	assert_non_null(q);
	assert_non_null(big);
	net_fq_init(q);
	/* At most NET_FQ_MAX_FRAMES frames. */
	for (unsigned int i = 0; i < NET_FQ_MAX_FRAMES; i++)
		assert_int_equal(net_fq_push(q, small, sizeof(small)), 0);
	assert_int_equal(net_fq_push(q, small, sizeof(small)), -ENOBUFS);
	assert_true(net_fq_pop(q, &f));
	free(f.data);
	assert_int_equal(net_fq_push(q, small, sizeof(small)), 0);
	net_fq_clear(q);
	assert_int_equal(q->count, 0);
	assert_int_equal(q->bytes, 0);
	/* At most NET_FQ_MAX_BYTES bytes. */
	for (unsigned int i = 0; i < NET_FQ_MAX_BYTES / NET_MAX_FRAME; i++)
		assert_int_equal(net_fq_push(q, big, NET_MAX_FRAME), 0);
	assert_int_equal(net_fq_push(q, big, NET_MAX_FRAME), -ENOBUFS);
	net_fq_clear(q);
	assert_int_equal(net_fq_push(q, big, NET_FQ_MAX_BYTES), 0);
	assert_int_equal(net_fq_push(q, small, 1), -ENOBUFS);
	assert_int_equal(net_fq_push(q, small, 0), 0);   /* an empty frame costs no bytes */
	net_fq_clear(q);
	free(big);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_mac_valid),
		cmocka_unit_test(test_parse_mac_invalid),
		cmocka_unit_test(test_mac_own_and_other),
		cmocka_unit_test(test_mac_spoofing_on),
		cmocka_unit_test(test_mac_allow_list),
		cmocka_unit_test(test_mac_short_frames),
		cmocka_unit_test(test_tx_simple),
		cmocka_unit_test(test_tx_split_header),
		cmocka_unit_test(test_tx_header_only_and_short),
		cmocka_unit_test(test_tx_oversized),
		cmocka_unit_test(test_rx_fill_one_buffer),
		cmocka_unit_test(test_rx_fill_split),
		cmocka_unit_test(test_rx_fill_too_small),
		cmocka_unit_test(test_fq_fifo),
		cmocka_unit_test(test_fq_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
