/* Unit tests of src/virtio/virtqueue.c: the split virtqueue against a small
 * driver written here that lays out rings and chains in a guest buffer the
 * way a guest driver would.
 *
 * The guest buffer is a calloc()ed MEM_SIZE bytes, so every "outside RAM"
 * address lies beyond its end and an access that escaped guest_mem_ptr()
 * would hit ASan's redzone. The hole test maps 3 GiB + 2 MiB without
 * reserving it, to put buffers around the 3-4 GiB hole. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"
#include "vmm/guest_mem.h"

#define MIB       (1ULL << 20)
#define MEM_SIZE  MIB
#define HOLE      GUEST_MEM_HOLE_START
#define HIGH      GUEST_MEM_HIGH_START

/* Guest layout, room for VQ_MAX_SIZE entries everywhere. */
#define DESC_GPA  0x1000ULL     /* 16 KiB of descriptors */
#define AVAIL_GPA 0x5000ULL
#define USED_GPA  0x6000ULL     /* 8 KiB + 6 */
#define DATA_GPA  0x10000ULL    /* data buffers */
#define IND_GPA   0x40000ULL    /* indirect tables */
#define IND2_GPA  0x60000ULL    /* a second indirect table */

#define F_NEXT  VIRTQ_DESC_F_NEXT
#define F_WRITE VIRTQ_DESC_F_WRITE
#define F_IND   VIRTQ_DESC_F_INDIRECT

/* The driver side: the guest buffer, its layout and the queue. */
struct drv {
	uint8_t *buf;
	uint64_t mem_size;
	struct guest_mem mem;
	struct virtqueue vq;
	uint16_t avail_idx;     /* the driver's next avail idx */
	uint16_t start;         /* indices the queue started at */
	struct vq_req req;
};

/* The driver's own view of its memory (high GPAs included). */
static uint8_t *gpa_ptr(const struct drv *d, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(&d->mem, gpa, len);

	assert_non_null(p);
	return p;
}

static uint8_t *host(const struct drv *d, uint64_t gpa)
{
	return gpa_ptr(d, gpa, 1);
}

static void wr16(struct drv *d, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(gpa_ptr(d, gpa, sizeof(v)), &v, sizeof(v));
}

static void wr32(struct drv *d, uint64_t gpa, uint32_t v)
{
	v = htole32(v);
	memcpy(gpa_ptr(d, gpa, sizeof(v)), &v, sizeof(v));
}

static void wr64(struct drv *d, uint64_t gpa, uint64_t v)
{
	v = htole64(v);
	memcpy(gpa_ptr(d, gpa, sizeof(v)), &v, sizeof(v));
}

static uint16_t rd16(const struct drv *d, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, gpa_ptr(d, gpa, sizeof(v)), sizeof(v));
	return le16toh(v);
}

static uint32_t rd32(const struct drv *d, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, gpa_ptr(d, gpa, sizeof(v)), sizeof(v));
	return le32toh(v);
}

static void desc_at(struct drv *d, uint64_t table, uint16_t i, uint64_t addr,
		    uint32_t len, uint16_t flags, uint16_t next)
{
	uint64_t gpa = table + 16 * (uint64_t)i;

	wr64(d, gpa, addr);
	wr32(d, gpa + 8, len);
	wr16(d, gpa + 12, flags);
	wr16(d, gpa + 14, next);
}

static void desc(struct drv *d, uint16_t i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	desc_at(d, DESC_GPA, i, addr, len, flags, next);
}

static void set_avail_idx(struct drv *d, uint16_t idx)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	wr16(d, AVAIL_GPA + 2, idx);
}

/* Put one head in the avail ring and publish it. */
static void add(struct drv *d, uint16_t head)
{
	uint16_t slot = d->avail_idx & (d->vq.size - 1);

	wr16(d, AVAIL_GPA + 4 + 2 * (uint64_t)slot, head);
	d->avail_idx++;
	set_avail_idx(d, d->avail_idx);
}

static uint16_t next_head(const struct drv *d)
{
	uint16_t slot = d->vq.last_avail & (d->vq.size - 1);

	return rd16(d, AVAIL_GPA + 4 + 2 * (uint64_t)slot);
}

static uint16_t used_idx(const struct drv *d)
{
	return rd16(d, USED_GPA + 2);
}

static void used_elem(const struct drv *d, uint16_t idx, uint32_t *id, uint32_t *len)
{
	uint64_t gpa = USED_GPA + 4 + 8 * (uint64_t)(idx & (d->vq.size - 1));

	*id = rd32(d, gpa);
	*len = rd32(d, gpa + 4);
}

static void set_used_event(struct drv *d, uint16_t v)
{
	wr16(d, AVAIL_GPA + 4 + 2 * (uint64_t)d->vq.size, v);
}

static uint16_t avail_event(const struct drv *d)
{
	return rd16(d, USED_GPA + 4 + 8 * (uint64_t)d->vq.size);
}

/* A fresh ready queue of `size` entries whose indices all start at `start`. */
static void drv_init(struct drv *d, uint16_t size, uint16_t start)
{
	memset(d->buf + DESC_GPA, 0, DATA_GPA - DESC_GPA);
	vq_reset(&d->vq);
	d->vq.size = size;
	d->vq.desc_gpa = DESC_GPA;
	d->vq.avail_gpa = AVAIL_GPA;
	d->vq.used_gpa = USED_GPA;
	d->vq.last_avail = start;
	d->vq.used_idx = start;
	d->vq.ready = true;
	d->avail_idx = start;
	d->start = start;
	set_avail_idx(d, start);
	wr16(d, USED_GPA + 2, start);
}

static int setup(void **state)
{
	struct drv *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	d->mem_size = MEM_SIZE;
	d->buf = calloc(1, MEM_SIZE);
	if (!d->buf) {
		free(d);
		return -1;
	}
	guest_mem_init_layout(&d->mem, d->buf, MEM_SIZE);
	d->vq.mem = &d->mem;
	drv_init(d, 8, 0);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct drv *d = *state;

	free(d->buf);
	free(d);
	return 0;
}

/* Every buffer of a taken request lies inside the guest buffer, is non-empty,
 * readable ones come first and the totals add up. */
static void check_req(const struct drv *d, const struct vq_req *req)
{
	uintptr_t lo = (uintptr_t)d->buf, hi = lo + d->mem_size;
	uint64_t out = 0, in = 0;
	bool seen_write = false;

	assert_true(req->nbufs <= VQ_MAX_BUFS);
	assert_true(req->head < d->vq.size);
	for (unsigned int i = 0; i < req->nbufs; i++) {
		const struct vq_buf *b = &req->bufs[i];
		uintptr_t p = (uintptr_t)b->addr;

		assert_true(b->len > 0);
		assert_true(p >= lo && p < hi);
		assert_true(b->len <= hi - p);
		if (b->writable)
			in += b->len;
		else
			out += b->len;
		assert_false(seen_write && !b->writable);
		seen_write |= b->writable;
	}
	assert_int_equal(out, req->out_len);
	assert_int_equal(in, req->in_len);
	assert_true(out <= UINT32_MAX && in <= UINT32_MAX);
}

static void check_walk_bound(const struct drv *d)
{
	unsigned int max = d->vq.size + (d->vq.indirect ? VQ_MAX_SIZE : 0);

	assert_true(d->vq.walked <= max);
}

/* ------------------------------------------------------------------ */

static void test_validate(void **state)
{
	struct drv *d = *state;
	struct virtqueue *vq = &d->vq;

	assert_int_equal(vq_validate(vq), 0);
	for (unsigned int s = 1; s <= VQ_MAX_SIZE; s <<= 1) {
		vq->size = s;
		assert_int_equal(vq_validate(vq), 0);
	}
	vq->size = 0;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->size = 3;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->size = 2 * VQ_MAX_SIZE;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->size = 32768;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->size = 8;

	/* Alignment: desc 16, avail 2, used 4. */
	vq->desc_gpa = DESC_GPA + 8;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->desc_gpa = DESC_GPA;
	vq->avail_gpa = AVAIL_GPA + 1;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->avail_gpa = AVAIL_GPA + 2;
	assert_int_equal(vq_validate(vq), 0);
	vq->avail_gpa = AVAIL_GPA;
	vq->used_gpa = USED_GPA + 2;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->used_gpa = USED_GPA + 4;
	assert_int_equal(vq_validate(vq), 0);
	vq->used_gpa = USED_GPA;

	/* Each ring may end exactly at the end of RAM, not one byte later. */
	vq->desc_gpa = MEM_SIZE - 16 * 8;
	assert_int_equal(vq_validate(vq), 0);
	vq->desc_gpa = MEM_SIZE - 16 * 7;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->desc_gpa = MEM_SIZE;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->desc_gpa = DESC_GPA;
	vq->avail_gpa = MEM_SIZE - (6 + 2 * 8);
	assert_int_equal(vq_validate(vq), 0);
	vq->avail_gpa += 2;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->avail_gpa = AVAIL_GPA;
	vq->used_gpa = MEM_SIZE - 72;          /* 70 bytes, 4-aligned start */
	assert_int_equal(vq_validate(vq), 0);
	vq->used_gpa = MEM_SIZE - 68;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->used_gpa = HOLE;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->used_gpa = HIGH;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->used_gpa = UINT64_MAX - 3;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->used_gpa = USED_GPA;
	vq->desc_gpa = UINT64_MAX - 15;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->desc_gpa = DESC_GPA;

	vq->mem = NULL;
	assert_int_equal(vq_validate(vq), -EINVAL);
	vq->mem = &d->mem;
	assert_int_equal(vq_validate(vq), 0);
	assert_true(vq->ready);                /* validate changes nothing */
}

static void test_reset(void **state)
{
	struct drv *d = *state;
	struct virtqueue *vq = &d->vq;

	vq->event_idx = vq->indirect = vq->broken = true;
	vq->last_avail = 7;
	vq->used_idx = 9;
	vq->signalled_used = 3;
	vq->signalled_valid = true;
	vq_reset(vq);
	assert_ptr_equal(vq->mem, &d->mem);
	assert_false(vq->ready);
	assert_false(vq->event_idx);
	assert_false(vq->indirect);
	assert_false(vq->broken);
	assert_false(vq->signalled_valid);
	assert_int_equal(vq->size, 0);
	assert_int_equal(vq->desc_gpa, 0);
	assert_int_equal(vq->avail_gpa, 0);
	assert_int_equal(vq->used_gpa, 0);
	assert_int_equal(vq->last_avail, 0);
	assert_int_equal(vq->used_idx, 0);
	assert_int_equal(vq->signalled_used, 0);
	assert_int_equal(vq_pop(vq, &d->req), -EIO);
}

static void test_empty(void **state)
{
	struct drv *d = *state;

	assert_int_equal(vq_pop(&d->vq, &d->req), 0);
	assert_int_equal(d->req.nbufs, 0);
	assert_int_equal(d->vq.last_avail, 0);
	assert_false(d->vq.broken);
	assert_int_equal(vq_pop(&d->vq, &d->req), 0);
}

static void test_not_ready(void **state)
{
	struct drv *d = *state;

	desc(d, 0, DATA_GPA, 8, 0, 0);
	add(d, 0);
	d->vq.ready = false;
	assert_int_equal(vq_pop(&d->vq, &d->req), -EIO);
	assert_true(d->vq.broken);
	assert_int_equal(d->vq.last_avail, 0);
	assert_int_equal(vq_push(&d->vq, 0, 0), -EIO);
	assert_false(vq_should_notify(&d->vq));
	/* Broken stays broken until a reset. */
	d->vq.ready = true;
	assert_int_equal(vq_pop(&d->vq, &d->req), -EIO);
	drv_init(d, 8, 0);
	desc(d, 0, DATA_GPA, 8, 0, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, &d->req), 1);
}

static void test_rings_outside_ram(void **state)
{
	struct drv *d = *state;

	d->vq.desc_gpa = MEM_SIZE - 16;         /* table runs past the end */
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, &d->req), -EIO);
	assert_true(d->vq.broken);
	assert_int_equal(vq_push(&d->vq, 0, 0), -EIO);
	assert_false(vq_should_notify(&d->vq));

	drv_init(d, 8, 0);
	d->vq.used_gpa = USED_GPA + 2;          /* misaligned */
	assert_int_equal(vq_pop(&d->vq, &d->req), -EIO);
	drv_init(d, 8, 0);
	d->vq.size = 6;                         /* not a power of two */
	assert_int_equal(vq_pop(&d->vq, &d->req), -EIO);
}

static void test_simple_chain(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = &d->req;
	uint32_t id, len;

	desc(d, 0, DATA_GPA, 16, F_NEXT, 1);
	desc(d, 1, DATA_GPA + 0x100, 32, F_NEXT, 2);
	desc(d, 2, DATA_GPA + 0x200, 64, F_WRITE, 0);
	add(d, 0);

	assert_int_equal(vq_pop(&d->vq, req), 1);
	check_req(d, req);
	assert_int_equal(req->head, 0);
	assert_int_equal(req->nbufs, 3);
	assert_ptr_equal(req->bufs[0].addr, host(d, DATA_GPA));
	assert_int_equal(req->bufs[0].len, 16);
	assert_false(req->bufs[0].writable);
	assert_ptr_equal(req->bufs[1].addr, host(d, DATA_GPA + 0x100));
	assert_int_equal(req->bufs[1].len, 32);
	assert_false(req->bufs[1].writable);
	assert_ptr_equal(req->bufs[2].addr, host(d, DATA_GPA + 0x200));
	assert_int_equal(req->bufs[2].len, 64);
	assert_true(req->bufs[2].writable);
	assert_int_equal(req->out_len, 48);
	assert_int_equal(req->in_len, 64);
	assert_int_equal(d->vq.last_avail, 1);
	assert_int_equal(d->vq.walked, 3);

	assert_int_equal(vq_pop(&d->vq, req), 0);
	assert_int_equal(used_idx(d), 0);
	assert_int_equal(vq_push(&d->vq, 0, 64), 0);
	assert_int_equal(used_idx(d), 1);
	assert_int_equal(d->vq.used_idx, 1);
	used_elem(d, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 64);
}

static void test_several_requests(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = &d->req;
	uint16_t heads[3];
	uint32_t id, len;

	/* Chains in any order through the table. */
	desc(d, 5, DATA_GPA, 4, F_NEXT, 2);
	desc(d, 2, DATA_GPA + 0x10, 4, F_NEXT | F_WRITE, 7);
	desc(d, 7, DATA_GPA + 0x20, 4, F_WRITE, 0);
	desc(d, 0, DATA_GPA + 0x30, 100, 0, 0);
	desc(d, 3, DATA_GPA + 0x40, 200, F_WRITE, 0);
	add(d, 5);
	add(d, 0);
	add(d, 3);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(vq_pop(&d->vq, req), 1);
		check_req(d, req);
		heads[i] = req->head;
	}
	assert_int_equal(vq_pop(&d->vq, req), 0);
	assert_int_equal(heads[0], 5);
	assert_int_equal(heads[1], 0);
	assert_int_equal(heads[2], 3);

	/* Completed out of order: the used ring holds the push order. */
	assert_int_equal(vq_push(&d->vq, 3, 7), 0);
	assert_int_equal(vq_push(&d->vq, 5, 8), 0);
	assert_int_equal(vq_push(&d->vq, 0, 0), 0);
	assert_int_equal(used_idx(d), 3);
	used_elem(d, 0, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 7);
	used_elem(d, 1, &id, &len);
	assert_int_equal(id, 5);
	assert_int_equal(len, 8);
	used_elem(d, 2, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
}

static void test_wraparound(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = &d->req;
	uint16_t idx = 65533;
	uint32_t id, len;

	drv_init(d, 4, idx);
	for (uint16_t i = 0; i < 4; i++)
		desc(d, i, DATA_GPA + 0x100 * i, 16 + i, F_WRITE, 0);
	for (int round = 0; round < 10; round++) {
		for (uint16_t h = 0; h < 3; h++)
			add(d, (uint16_t)(h + round) % 4);
		for (uint16_t h = 0; h < 3; h++) {
			assert_int_equal(vq_pop(&d->vq, req), 1);
			check_req(d, req);
			assert_int_equal(req->head, (h + round) % 4);
			assert_int_equal(req->in_len, 16 + req->head);
		}
		assert_int_equal(vq_pop(&d->vq, req), 0);
		for (int h = 2; h >= 0; h--)
			assert_int_equal(vq_push(&d->vq, (uint16_t)(h + round) % 4, 100 + h), 0);
		for (int h = 0; h < 3; h++) {
			used_elem(d, (uint16_t)(idx + h), &id, &len);
			assert_int_equal(id, (2 - h + round) % 4);
			assert_int_equal(len, 100 + 2 - h);
		}
		idx += 3;
		assert_int_equal(d->vq.last_avail, idx);
		assert_int_equal(d->vq.used_idx, idx);
		assert_int_equal(used_idx(d), idx);
	}
	assert_int_equal(idx, (uint16_t)(65533 + 30));
	assert_false(d->vq.broken);
}

static void test_avail_overrun(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = &d->req;

	/* Exactly `size` ahead, across the 16-bit wrap: fine. */
	drv_init(d, 8, 65530);
	desc(d, 0, DATA_GPA, 8, 0, 0);
	for (int i = 0; i < 8; i++)
		add(d, 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(vq_pop(&d->vq, req), 0);

	/* One more: the avail ring is corrupt. */
	drv_init(d, 8, 65530);
	set_avail_idx(d, (uint16_t)(65530 + 9));
	assert_int_equal(vq_pop(&d->vq, req), -EIO);
	assert_true(d->vq.broken);
	assert_int_equal(d->vq.last_avail, 65530);
	assert_int_equal(vq_pop(&d->vq, req), -EIO);

	/* Going backwards is running ~65535 ahead. */
	drv_init(d, 8, 3);
	set_avail_idx(d, 2);
	assert_int_equal(vq_pop(&d->vq, req), -EIO);
	assert_true(d->vq.broken);
}

static void test_push_bad_head(void **state)
{
	struct drv *d = *state;
	static const uint8_t zero[6 + 8 * 8];

	assert_int_equal(vq_push(&d->vq, 8, 1), -EINVAL);
	assert_int_equal(vq_push(&d->vq, 9, 1), -EINVAL);
	assert_int_equal(vq_push(&d->vq, 0xffff, 1), -EINVAL);
	assert_int_equal(d->vq.used_idx, 0);
	assert_memory_equal(host(d, USED_GPA), zero, sizeof(zero));
	assert_int_equal(vq_push(&d->vq, 7, 1), 0);
	assert_int_equal(used_idx(d), 1);
	d->vq.size = 0;
	assert_int_equal(vq_push(&d->vq, 0, 1), -EINVAL);
}

static void test_notify_flags(void **state)
{
	struct drv *d = *state;

	assert_int_equal(vq_push(&d->vq, 0, 0), 0);
	assert_true(vq_should_notify(&d->vq));
	wr16(d, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_int_equal(vq_push(&d->vq, 1, 0), 0);
	assert_false(vq_should_notify(&d->vq));
	wr16(d, AVAIL_GPA, 0);
	assert_true(vq_should_notify(&d->vq));
	/* used_event means nothing without event idx. */
	set_used_event(d, 100);
	assert_true(vq_should_notify(&d->vq));
	d->vq.ready = false;
	assert_false(vq_should_notify(&d->vq));
}

/* Push `n` and ask. */
static bool push_n(struct drv *d, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(vq_push(&d->vq, 0, 0), 0);
	return vq_should_notify(&d->vq);
}

static void check_event_idx(struct drv *d, uint16_t start)
{
	drv_init(d, 8, start);
	d->vq.event_idx = true;
	/* No interrupt recorded yet: always. */
	set_used_event(d, (uint16_t)(start + 100));
	assert_true(push_n(d, 1));
	assert_true(d->vq.signalled_valid);
	assert_int_equal(d->vq.signalled_used, (uint16_t)(start + 1));
	/* Nothing new: never. */
	assert_false(push_n(d, 0));
	/* used_event = start+1: wanted once used idx passes start+1. */
	set_used_event(d, (uint16_t)(start + 1));
	assert_true(push_n(d, 1));
	/* Wanted at start+5: not at +3, then +6 crosses it. */
	set_used_event(d, (uint16_t)(start + 5));
	assert_false(push_n(d, 1));
	assert_int_equal(d->vq.signalled_used, (uint16_t)(start + 3));
	assert_true(push_n(d, 3));
	/* Already passed before the last interrupt: no. */
	assert_false(push_n(d, 1));
	/* Exactly reaching the event without passing it: no; then yes. */
	set_used_event(d, (uint16_t)(start + 8));
	assert_false(push_n(d, 1));
	assert_true(push_n(d, 1));
	assert_int_equal(d->vq.used_idx, (uint16_t)(start + 9));
	/* NO_INTERRUPT is ignored with event idx. */
	wr16(d, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	set_used_event(d, (uint16_t)(start + 9));
	assert_true(push_n(d, 1));
	wr16(d, AVAIL_GPA, 0);
}

static void test_notify_event_idx(void **state)
{
	struct drv *d = *state;

	check_event_idx(d, 0);
	check_event_idx(d, 65533);
	check_event_idx(d, 65528);
}

static void test_avail_event(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = &d->req;

	/* Without event idx the field is left alone. */
	wr16(d, USED_GPA + 4 + 8 * 8, 0xabcd);
	desc(d, 0, DATA_GPA, 8, 0, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(vq_pop(&d->vq, req), 0);
	assert_int_equal(avail_event(d), 0xabcd);

	drv_init(d, 8, 65534);
	d->vq.event_idx = true;
	wr16(d, USED_GPA + 4 + 8 * 8, 0xabcd);
	assert_int_equal(vq_pop(&d->vq, req), 0);
	assert_int_equal(avail_event(d), 65534);
	desc(d, 0, DATA_GPA, 8, 0, 0);
	desc(d, 1, DATA_GPA, 8, F_IND, 0);      /* refused, still consumed */
	add(d, 0);
	add(d, 1);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(avail_event(d), 65535);
	assert_int_equal(vq_pop(&d->vq, req), -EINVAL);
	assert_int_equal(avail_event(d), 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(avail_event(d), 1);
	assert_int_equal(vq_pop(&d->vq, req), 0);
	assert_int_equal(avail_event(d), 1);
}

static void test_zero_length(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = &d->req;

	/* Empty descriptors are skipped; their address is never looked at. */
	desc(d, 0, UINT64_MAX, 0, F_NEXT, 1);
	desc(d, 1, DATA_GPA, 10, F_NEXT, 2);
	desc(d, 2, MEM_SIZE + 4096, 0, F_NEXT | F_WRITE, 3);
	desc(d, 3, DATA_GPA + 0x100, 20, F_WRITE | F_NEXT, 4);
	desc(d, 4, HOLE, 0, F_WRITE, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	check_req(d, req);
	assert_int_equal(d->vq.walked, 5);
	assert_int_equal(req->nbufs, 2);
	assert_ptr_equal(req->bufs[0].addr, host(d, DATA_GPA));
	assert_ptr_equal(req->bufs[1].addr, host(d, DATA_GPA + 0x100));
	assert_int_equal(req->out_len, 10);
	assert_int_equal(req->in_len, 20);

	/* A chain of nothing but empty descriptors: a request with no buffers. */
	desc(d, 5, 0, 0, 0, 0);
	add(d, 5);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(req->head, 5);
	assert_int_equal(req->nbufs, 0);
	assert_int_equal(req->out_len + req->in_len, 0);
}

static void test_indirect(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = &d->req;

	d->vq.indirect = true;
	/* A direct buffer, then an indirect table with its WRITE flag set
	 * (which the device ignores) whose chain goes 0 -> 2 -> 1. */
	desc(d, 4, DATA_GPA, 8, F_NEXT, 6);
	desc(d, 6, IND_GPA, 48, F_IND | F_WRITE, 0);
	desc_at(d, IND_GPA, 0, DATA_GPA + 0x100, 4, F_NEXT, 2);
	desc_at(d, IND_GPA, 2, DATA_GPA + 0x200, 16, F_NEXT | F_WRITE, 1);
	desc_at(d, IND_GPA, 1, DATA_GPA + 0x300, 32, F_WRITE, 0);
	add(d, 4);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	check_req(d, req);
	assert_int_equal(req->head, 4);
	assert_int_equal(req->nbufs, 4);
	assert_int_equal(d->vq.walked, 5);
	assert_ptr_equal(req->bufs[0].addr, host(d, DATA_GPA));
	assert_ptr_equal(req->bufs[1].addr, host(d, DATA_GPA + 0x100));
	assert_ptr_equal(req->bufs[2].addr, host(d, DATA_GPA + 0x200));
	assert_ptr_equal(req->bufs[3].addr, host(d, DATA_GPA + 0x300));
	assert_false(req->bufs[1].writable);
	assert_true(req->bufs[2].writable);
	assert_int_equal(req->out_len, 12);
	assert_int_equal(req->in_len, 48);

	/* An indirect head, unaligned table address, one entry. */
	desc(d, 0, IND2_GPA + 4, 16, F_IND, 0);
	desc_at(d, IND2_GPA + 4, 0, DATA_GPA, 1, 0, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	check_req(d, req);
	assert_int_equal(req->nbufs, 1);
	assert_int_equal(req->out_len, 1);
	assert_int_equal(vq_push(&d->vq, 4, 48), 0);
	assert_int_equal(vq_push(&d->vq, 0, 0), 0);
	assert_int_equal(used_idx(d), 2);
}

static void test_read_write(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = &d->req;
	char out[32];

	memcpy(host(d, DATA_GPA), "hello", 5);
	memcpy(host(d, DATA_GPA + 0x100), " world", 6);
	memset(host(d, DATA_GPA + 0x200), '.', 16);
	desc(d, 0, DATA_GPA, 5, F_NEXT, 1);
	desc(d, 1, DATA_GPA + 0x80, 0, F_NEXT, 2);
	desc(d, 2, DATA_GPA + 0x100, 6, F_NEXT, 3);
	desc(d, 3, DATA_GPA + 0x200, 3, F_NEXT | F_WRITE, 4);
	desc(d, 4, DATA_GPA + 0x208, 4, F_WRITE, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	check_req(d, req);

	memset(out, 0, sizeof(out));
	assert_int_equal(vq_req_read(req, 0, out, sizeof(out)), 11);
	assert_string_equal(out, "hello world");
	memset(out, 0, sizeof(out));
	assert_int_equal(vq_req_read(req, 3, out, 4), 4);
	assert_string_equal(out, "lo w");
	memset(out, 0, sizeof(out));
	assert_int_equal(vq_req_read(req, 5, out, 3), 3);
	assert_string_equal(out, " wo");
	memset(out, 0, sizeof(out));
	assert_int_equal(vq_req_read(req, 9, out, 100), 2);
	assert_string_equal(out, "ld");
	assert_int_equal(vq_req_read(req, 11, out, 1), 0);
	assert_int_equal(vq_req_read(req, UINT64_MAX, out, 1), 0);
	assert_int_equal(vq_req_read(req, 0, out, 0), 0);

	assert_int_equal(vq_req_write(req, 0, "abcdefg", 7), 7);
	assert_memory_equal(host(d, DATA_GPA + 0x200), "abc.....defg....", 16);
	assert_int_equal(vq_req_write(req, 2, "XYZ", 3), 3);
	assert_memory_equal(host(d, DATA_GPA + 0x200), "abX.....YZfg....", 16);
	assert_int_equal(vq_req_write(req, 5, "0123456789", 10), 2);
	assert_memory_equal(host(d, DATA_GPA + 0x200), "abX.....YZ01....", 16);
	assert_int_equal(vq_req_write(req, 7, "q", 1), 0);
	assert_int_equal(vq_req_write(req, UINT64_MAX - 1, "qq", 2), 0);
	/* Readable buffers were never written. */
	assert_memory_equal(host(d, DATA_GPA), "hello", 5);
	assert_memory_equal(host(d, DATA_GPA + 0x100), " world", 6);
}

/* ------------------------------------------------------------------ */
/* Malformed requests. Each builder writes descriptors and adds heads. */

struct bad_case {
	const char *name;
	uint16_t size;          /* 0: 8 */
	bool indirect;          /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	void (*build)(struct drv *d);
	int expect;
};

static void chain(struct drv *d, uint64_t table, uint16_t first, unsigned int n,
		  uint32_t len, uint16_t flags)
{
	for (unsigned int i = 0; i < n; i++)
		desc_at(d, table, (uint16_t)(first + i), DATA_GPA + i, len,
			flags | (i + 1 < n ? F_NEXT : 0), (uint16_t)(first + i + 1));
}

static void b_head_size(struct drv *d)
{
	desc(d, 0, DATA_GPA, 8, 0, 0);
	add(d, d->vq.size);
}

static void b_head_ffff(struct drv *d)
{
	add(d, 0xffff);
}

static void b_next_size(struct drv *d)
{
	desc(d, 0, DATA_GPA, 8, F_NEXT, d->vq.size);
	add(d, 0);
}

static void b_next_ffff(struct drv *d)
{
	desc(d, 2, DATA_GPA, 8, F_NEXT, 0xffff);
	add(d, 2);
}

static void b_self_loop(struct drv *d)
{
	desc(d, 3, DATA_GPA, 8, F_NEXT, 3);
	add(d, 3);
}

static void b_self_loop_0(struct drv *d)
{
	desc(d, 0, DATA_GPA, 8, F_NEXT, 0);
	add(d, 0);
}

static void b_loop_ab(struct drv *d)
{
	desc(d, 0, DATA_GPA, 8, F_NEXT, 1);
	desc(d, 1, DATA_GPA, 8, F_NEXT, 0);
	add(d, 0);
}

static void b_loop_tail(struct drv *d)
{
	chain(d, DESC_GPA, 0, 8, 1, 0);
	desc(d, 7, DATA_GPA, 1, F_NEXT, 4);
	add(d, 0);
}

static void b_loop_empty(struct drv *d)
{
	desc(d, 0, 0, 0, F_NEXT, 1);
	desc(d, 1, 0, 0, F_NEXT, 0);
	add(d, 0);
}

static void b_full_table(struct drv *d)
{
	chain(d, DESC_GPA, 0, d->vq.size, 1, 0);
	add(d, 0);
}

static void b_full_table_empty(struct drv *d)
{
	chain(d, DESC_GPA, 0, d->vq.size, 0, 0);
	add(d, 0);
}

static void b_bufs_max(struct drv *d)
{
	chain(d, DESC_GPA, 0, VQ_MAX_BUFS, 1, 0);
	add(d, 0);
}

static void b_bufs_too_many(struct drv *d)
{
	chain(d, DESC_GPA, 0, VQ_MAX_BUFS + 1, 1, 0);
	add(d, 0);
}

static void b_one(struct drv *d, uint64_t addr, uint32_t len)
{
	desc(d, 0, addr, len, 0, 0);
	add(d, 0);
}

static void b_addr_end(struct drv *d)
{
	b_one(d, MEM_SIZE, 1);
}

static void b_addr_straddle(struct drv *d)
{
	b_one(d, MEM_SIZE - 4, 8);
}

static void b_addr_last_bytes(struct drv *d)
{
	b_one(d, MEM_SIZE - 8, 8);
}

static void b_addr_overflow(struct drv *d)
{
	b_one(d, UINT64_MAX - 15, 0x20);
}

static void b_addr_max(struct drv *d)
{
	b_one(d, UINT64_MAX, 1);
}

static void b_len_max(struct drv *d)
{
	b_one(d, DATA_GPA, UINT32_MAX);
}

static void b_addr_hole(struct drv *d)
{
	b_one(d, HOLE, 16);
}

static void b_addr_below_hole(struct drv *d)
{
	b_one(d, HOLE - 8, 16);
}

static void b_addr_high(struct drv *d)
{
	b_one(d, HIGH, 16);
}

static void b_second_bad(struct drv *d)
{
	desc(d, 0, DATA_GPA, 8, F_NEXT, 1);
	desc(d, 1, MEM_SIZE - 1, 2, F_WRITE, 0);
	add(d, 0);
}

static void b_read_after_write(struct drv *d)
{
	desc(d, 0, DATA_GPA, 8, F_WRITE | F_NEXT, 1);
	desc(d, 1, DATA_GPA + 8, 8, 0, 0);
	add(d, 0);
}

static void b_read_after_empty_write(struct drv *d)
{
	desc(d, 0, DATA_GPA, 0, F_WRITE | F_NEXT, 1);
	desc(d, 1, DATA_GPA + 8, 8, 0, 0);
	add(d, 0);
}

static void b_empty_read_after_write(struct drv *d)
{
	desc(d, 0, DATA_GPA, 8, F_WRITE | F_NEXT, 1);
	desc(d, 1, DATA_GPA + 8, 0, 0, 0);
	add(d, 0);
}

/* Head 0 points at an indirect table of `n` entries at IND_GPA. */
static void ind(struct drv *d, uint64_t table, uint32_t len, uint16_t flags)
{
	desc(d, 0, table, len, F_IND | flags, 1);
	add(d, 0);
}

static void b_ind_ok(struct drv *d)
{
	chain(d, IND_GPA, 0, 3, 8, 0);
	ind(d, IND_GPA, 48, 0);
}

static void b_ind_len0(struct drv *d)
{
	ind(d, IND_GPA, 0, 0);
}

static void b_ind_len8(struct drv *d)
{
	ind(d, IND_GPA, 8, 0);
}

static void b_ind_len17(struct drv *d)
{
	chain(d, IND_GPA, 0, 2, 8, 0);
	ind(d, IND_GPA, 17, 0);
}

static void b_ind_too_big(struct drv *d)
{
	ind(d, IND_GPA, (VQ_MAX_SIZE + 1) * 16, 0);
}

static void b_ind_huge(struct drv *d)
{
	ind(d, IND_GPA, UINT32_MAX & ~15u, 0);
}

static void b_ind_outside(struct drv *d)
{
	ind(d, MEM_SIZE - 16, 32, 0);
}

static void b_ind_beyond(struct drv *d)
{
	ind(d, MEM_SIZE, 16, 0);
}

static void b_ind_overflow(struct drv *d)
{
	ind(d, UINT64_MAX - 15, 32, 0);
}

static void b_ind_next(struct drv *d)
{
	desc(d, 1, DATA_GPA, 8, 0, 0);
	chain(d, IND_GPA, 0, 1, 8, 0);
	ind(d, IND_GPA, 16, F_NEXT);
}

static void b_ind_nested(struct drv *d)
{
	chain(d, IND2_GPA, 0, 1, 8, 0);
	desc_at(d, IND_GPA, 0, DATA_GPA, 8, F_NEXT, 1);
	desc_at(d, IND_GPA, 1, IND2_GPA, 16, F_IND, 0);
	ind(d, IND_GPA, 32, 0);
}

static void b_ind_next_oob(struct drv *d)
{
	desc_at(d, IND_GPA, 0, DATA_GPA, 8, F_NEXT, 2);
	desc_at(d, IND_GPA, 2, DATA_GPA, 8, 0, 0); /* beyond the 2 entries */
	ind(d, IND_GPA, 32, 0);
}

static void b_ind_loop(struct drv *d)
{
	desc_at(d, IND_GPA, 0, DATA_GPA, 8, F_NEXT, 1);
	desc_at(d, IND_GPA, 1, DATA_GPA, 8, F_NEXT, 0);
	ind(d, IND_GPA, 32, 0);
}

static void b_ind_bad_buf(struct drv *d)
{
	desc_at(d, IND_GPA, 0, DATA_GPA, 8, F_NEXT, 1);
	desc_at(d, IND_GPA, 1, HOLE, 8, F_WRITE, 0);
	ind(d, IND_GPA, 32, 0);
}

static void b_ind_read_after_write(struct drv *d)
{
	desc_at(d, IND_GPA, 0, DATA_GPA, 8, F_WRITE | F_NEXT, 1);
	desc_at(d, IND_GPA, 1, DATA_GPA, 8, 0, 0);
	ind(d, IND_GPA, 32, 0);
}

static void b_ind_after_write(struct drv *d)
{
	/* A writable direct buffer, then a table starting with a readable one. */
	desc(d, 2, DATA_GPA, 8, F_WRITE | F_NEXT, 3);
	desc(d, 3, IND_GPA, 16, F_IND, 0);
	desc_at(d, IND_GPA, 0, DATA_GPA, 8, 0, 0);
	add(d, 2);
}

static void b_ind_bufs_max(struct drv *d)
{
	/* VQ_MAX_SIZE entries, the first VQ_MAX_BUFS of them non-empty. */
	chain(d, IND_GPA, 0, VQ_MAX_SIZE, 0, 0);
	for (unsigned int i = 0; i < VQ_MAX_BUFS; i++)
		wr32(d, IND_GPA + 16 * i + 8, 1);
	ind(d, IND_GPA, VQ_MAX_SIZE * 16, 0);
}

static void b_ind_bufs_too_many(struct drv *d)
{
	chain(d, IND_GPA, 0, VQ_MAX_BUFS + 1, 1, 0);
	ind(d, IND_GPA, (VQ_MAX_BUFS + 1) * 16, 0);
}

static void b_ind_end_of_ram(struct drv *d)
{
	chain(d, MEM_SIZE - 32, 0, 2, 8, 0);
	ind(d, MEM_SIZE - 32, 32, 0);
}

static void b_overrun(struct drv *d)
{
	set_avail_idx(d, (uint16_t)(d->vq.last_avail + d->vq.size + 1));
}

static void b_not_ready(struct drv *d)
{
	b_one(d, DATA_GPA, 8);
	d->vq.ready = false;
}

static void b_ring_outside(struct drv *d)
{
	b_one(d, DATA_GPA, 8);
	d->vq.avail_gpa = MEM_SIZE - 8;
}

static const struct bad_case bad_cases[] = {
	{ "head == size",                 0, false, b_head_size, -EINVAL },
	{ "head 0xffff",                  0, false, b_head_ffff, -EINVAL },
	{ "next == size",                 0, false, b_next_size, -EINVAL },
	{ "next 0xffff",                  0, false, b_next_ffff, -EINVAL },
	{ "self loop",                    0, false, b_self_loop, -EINVAL },
	{ "loop a->b->a",                 0, false, b_loop_ab, -EINVAL },
	{ "loop after a long prefix",     0, false, b_loop_tail, -EINVAL },
	{ "loop of empty descriptors",    0, false, b_loop_empty, -EINVAL },
	{ "loop in a 1-entry queue",      1, false, b_self_loop_0, -EINVAL },
	{ "chain uses the whole table",   0, false, b_full_table, 1 },
	{ "1024 empty descriptors",    1024, false, b_full_table_empty, 1 },
	{ "1024 buffers > VQ_MAX_BUFS", 1024, false, b_full_table, -EINVAL },
	{ "VQ_MAX_BUFS buffers",        512, false, b_bufs_max, 1 },
	{ "VQ_MAX_BUFS + 1 buffers",    512, false, b_bufs_too_many, -EINVAL },
	{ "addr at end of RAM",           0, false, b_addr_end, -EINVAL },
	{ "addr straddles end of RAM",    0, false, b_addr_straddle, -EINVAL },
	{ "last bytes of RAM",            0, false, b_addr_last_bytes, 1 },
	{ "addr + len overflows",         0, false, b_addr_overflow, -EINVAL },
	{ "addr UINT64_MAX",              0, false, b_addr_max, -EINVAL },
	{ "len UINT32_MAX",               0, false, b_len_max, -EINVAL },
	{ "addr in the hole",             0, false, b_addr_hole, -EINVAL },
	{ "addr straddles the hole",      0, false, b_addr_below_hole, -EINVAL },
	{ "addr at 4 GiB, no high RAM",   0, false, b_addr_high, -EINVAL },
	{ "second buffer outside RAM",    0, false, b_second_bad, -EINVAL },
	{ "readable after writable",      0, false, b_read_after_write, -EINVAL },
	{ "readable after empty writable", 0, false, b_read_after_empty_write, -EINVAL },
	{ "empty readable after writable", 0, false, b_empty_read_after_write, -EINVAL },
	{ "indirect not negotiated",      0, false, b_ind_ok, -EINVAL },
	{ "indirect ok",                  0, true, b_ind_ok, 1 },
	{ "indirect len 0",               0, true, b_ind_len0, -EINVAL },
	{ "indirect len 8",               0, true, b_ind_len8, -EINVAL },
	{ "indirect len 17",              0, true, b_ind_len17, -EINVAL },
	{ "indirect len > max",           0, true, b_ind_too_big, -EINVAL },
	{ "indirect len ~4 GiB",          0, true, b_ind_huge, -EINVAL },
	{ "indirect table straddles end", 0, true, b_ind_outside, -EINVAL },
	{ "indirect table beyond end",    0, true, b_ind_beyond, -EINVAL },
	{ "indirect table overflows",     0, true, b_ind_overflow, -EINVAL },
	{ "indirect table ends RAM",      0, true, b_ind_end_of_ram, 1 },
	{ "indirect with NEXT",           0, true, b_ind_next, -EINVAL },
	{ "indirect in indirect",         0, true, b_ind_nested, -EINVAL },
	{ "indirect next out of table",   0, true, b_ind_next_oob, -EINVAL },
	{ "indirect loop",                0, true, b_ind_loop, -EINVAL },
	{ "indirect buffer in the hole",  0, true, b_ind_bad_buf, -EINVAL },
	{ "indirect read after write",    0, true, b_ind_read_after_write, -EINVAL },
	{ "indirect read after direct write", 0, true, b_ind_after_write, -EINVAL },
	{ "indirect VQ_MAX_BUFS buffers", 0, true, b_ind_bufs_max, 1 },
	{ "indirect VQ_MAX_BUFS + 1",     0, true, b_ind_bufs_too_many, -EINVAL },
	{ "avail idx > size ahead",       0, false, b_overrun, -EIO },
	{ "queue not ready",              0, false, b_not_ready, -EIO },
	{ "avail ring outside RAM",       0, false, b_ring_outside, -EIO },
};

static void run_bad_case(struct drv *d, const struct bad_case *c, uint16_t start)
{
	struct vq_req *req = &d->req;
	uint16_t head, used;
	int r;

	drv_init(d, c->size ? c->size : 8, start);
	memset(host(d, IND_GPA), 0, IND2_GPA + 0x1000 - IND_GPA);
	d->vq.indirect = c->indirect;
	c->build(d);
	head = next_head(d);
	memset(req, 0xa5, sizeof(*req));
	r = vq_pop(&d->vq, req);
	if (r != c->expect)
		fail_msg("%s (start %u): vq_pop %d, expected %d", c->name,
			 start, r, c->expect);
	check_walk_bound(d);
	if (r == -EIO) {
		assert_true(d->vq.broken);
		assert_int_equal(d->vq.last_avail, start);
		assert_int_equal(vq_pop(&d->vq, req), -EIO);
		return;
	}
	assert_false(d->vq.broken);
	assert_int_equal(req->head, head);
	assert_int_equal(d->vq.last_avail, (uint16_t)(start + 1));
	if (r == 1) {
		check_req(d, req);
	} else {
		assert_int_equal(req->nbufs, 0);
		assert_int_equal(req->out_len, 0);
		assert_int_equal(req->in_len, 0);
	}
	/* Consumed either way: nothing more, and the head can be completed. */
	assert_int_equal(vq_pop(&d->vq, req), 0);
	used = used_idx(d);
	if (head < d->vq.size) {
		assert_int_equal(vq_push(&d->vq, head, 0), 0);
		assert_int_equal(used_idx(d), (uint16_t)(used + 1));
	} else {
		assert_int_equal(vq_push(&d->vq, head, 0), -EINVAL);
		assert_int_equal(used_idx(d), used);
	}
}

static void test_malformed(void **state)
{
	struct drv *d = *state;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		run_bad_case(d, &bad_cases[i], 0);
		run_bad_case(d, &bad_cases[i], 65535);
	}
}

/* ------------------------------------------------------------------ */

/* Buffers around the 3-4 GiB hole and lengths near 4 GiB, over a sparse
 * 3 GiB + 2 MiB mapping: nothing but the rings and tables is touched. */
static void test_hole(void **state)
{
	struct drv *d = *state;
	struct drv big = { 0 };
	struct vq_req *req = &d->req;
	uint64_t size = HOLE + 2 * MIB;
	struct {
		uint64_t addr;
		uint32_t len;
		int expect;
	} cases[] = {
		{ HOLE - 16, 16, 1 },
		{ HOLE - 8, 16, -EINVAL },
		{ HOLE - 1, 2, -EINVAL },
		{ HOLE, 1, -EINVAL },
		{ 0xfffffff0ULL, 16, -EINVAL },
		{ HIGH - 8, 16, -EINVAL },
		{ HIGH, 16, 1 },
		{ HIGH + 2 * MIB - 16, 16, 1 },
		{ HIGH + 2 * MIB - 8, 16, -EINVAL },
		{ HIGH + 2 * MIB, 1, -EINVAL },
		{ 0, 0xc0000000u, 1 },
		{ 0, 0xc0000001u, -EINVAL },
	};

	if (guest_mem_alloc(&big.mem, size)) {
		skip();
		return;
	}
	big.buf = big.mem.host;
	big.mem_size = size;
	big.vq.mem = &big.mem;
	drv_init(&big, 8, 0);
	d = &big;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		desc(d, 0, cases[i].addr, cases[i].len, 0, 0);
		add(d, 0);
		if (vq_pop(&d->vq, req) != cases[i].expect)
			fail_msg("hole case %zu: expected %d", i, cases[i].expect);
		if (cases[i].expect == 1) {
			check_req(d, req);
			assert_int_equal(req->nbufs, 1);
		}
	}
	/* Where a high buffer lands in the host mapping. */
	desc(d, 0, HIGH + 0x1000, 8, 0, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_ptr_equal(req->bufs[0].addr, d->buf + HOLE + 0x1000);

	/* 32-bit totals: 2 GiB + 2 GiB - 1 fits, one more byte does not. */
	desc(d, 0, 0, 0x80000000u, F_NEXT, 1);
	desc(d, 1, 0, 0x7fffffffu, F_NEXT, 2);
	desc(d, 2, HIGH, 4096, F_WRITE, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(req->out_len, UINT32_MAX);
	desc(d, 1, 0, 0x80000000u, F_NEXT, 2);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), -EINVAL);
	/* Each direction has its own total. */
	desc(d, 0, 0, 0x80000000u, F_NEXT, 1);
	desc(d, 1, 0, 0x7fffffffu, F_NEXT, 2);
	desc(d, 2, 0, 0xbfffffffu, F_WRITE | F_NEXT, 3);
	desc(d, 3, HIGH, 0x40000000u, F_WRITE, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), -EINVAL);   /* not in RAM */
	desc(d, 3, HIGH, 1, F_WRITE, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(req->out_len, UINT32_MAX);
	assert_int_equal(req->in_len, 0xc0000000u);
	desc(d, 0, 0, 0xc0000000u, F_WRITE | F_NEXT, 1);
	desc(d, 1, 0, 0xc0000000u, F_WRITE, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), -EINVAL);

	/* Indirect tables in high RAM, or straddling the hole. */
	d->vq.indirect = true;
	desc_at(d, HIGH + 0x2000, 0, HIGH, 8, 0, 0);
	desc(d, 0, HIGH + 0x2000, 16, F_IND, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_ptr_equal(req->bufs[0].addr, d->buf + HOLE);
	desc(d, 0, HOLE - 16, 32, F_IND, 0);
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), -EINVAL);
	assert_false(d->vq.broken);

	/* Rings: in high RAM fine, in the hole or across it not. */
	d->vq.used_gpa = HIGH + 0x3000;
	assert_int_equal(vq_validate(&d->vq), 0);
	d->vq.used_gpa = HOLE - 16;
	assert_int_equal(vq_validate(&d->vq), -EINVAL);
	d->vq.used_gpa = HOLE + 0x1000;
	assert_int_equal(vq_validate(&d->vq), -EINVAL);
	guest_mem_free(&big.mem);
}

/* ------------------------------------------------------------------ */

static uint32_t rnd(unsigned int *seed)
{
	return ((uint32_t)rand_r(seed) << 16) ^ (uint32_t)rand_r(seed);
}

static uint64_t rnd_addr(unsigned int *seed)
{
	switch (rnd(seed) % 8) {
	case 0: case 1: case 2: case 3:
		return DATA_GPA + rnd(seed) % 0x10000;
	case 4:
		return IND_GPA + 16 * (rnd(seed) % 64);
	case 5:
		return MEM_SIZE - rnd(seed) % 64;
	case 6:
		return ((uint64_t)rnd(seed) << 32) | rnd(seed);
	default:
		return UINT64_MAX - rnd(seed) % 64;
	}
}

static uint32_t rnd_len(unsigned int *seed)
{
	switch (rnd(seed) % 8) {
	case 0: case 1: case 2: case 3:
		return rnd(seed) % 256;
	case 4:
		return 0;
	case 5:
		return 16 * (rnd(seed) % 70);
	case 6:
		return rnd(seed);
	default:
		return rnd(seed) % 4096;
	}
}

static void rnd_desc(struct drv *d, unsigned int *seed, uint64_t table,
		     uint16_t i, uint16_t n)
{
	uint16_t flags = rnd(seed) % 16 ? rnd(seed) % 8 : (uint16_t)rnd(seed);
	uint16_t next = rnd(seed) % 8 ? rnd(seed) % n : (uint16_t)rnd(seed);

	desc_at(d, table, i, rnd_addr(seed), rnd_len(seed), flags, next);
}

static uint16_t rnd_size(unsigned int *seed)
{
	if (rnd(seed) % 32 == 0)
		return (uint16_t)(1u << (9 + rnd(seed) % 2));
	return (uint16_t)(1u << (rnd(seed) % 9));
}

static void test_random(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = &d->req;
	unsigned int seed = 20240601;
	unsigned int seen[4] = { 0 }; /* -EIO, -EINVAL, 0, 1 */

	for (int iter = 0; iter < 10000; iter++) {
		uint16_t size = rnd_size(&seed);
		uint16_t start = (uint16_t)rnd(&seed);
		uint16_t ahead;

		drv_init(d, size, start);
		d->vq.indirect = rnd(&seed) & 1;
		d->vq.event_idx = rnd(&seed) & 1;
		for (uint16_t i = 0; i < size; i++)
			rnd_desc(d, &seed, DESC_GPA, i, size);
		for (uint16_t i = 0; i < 64; i++)
			rnd_desc(d, &seed, IND_GPA, i, 64);
		for (uint16_t i = 0; i < size; i++)
			wr16(d, AVAIL_GPA + 4 + 2 * i,
			     rnd(&seed) % 16 ? rnd(&seed) % size : (uint16_t)rnd(&seed));
		ahead = rnd(&seed) % 64 ? rnd(&seed) % (size + 3u) : (uint16_t)rnd(&seed);
		set_avail_idx(d, (uint16_t)(start + ahead));

		for (unsigned int k = 0; k <= size + 1u; k++) {
			int r = vq_pop(&d->vq, req);

			assert_true(r == -EIO || r == -EINVAL || r == 0 || r == 1);
			check_walk_bound(d);
			seen[r == -EIO ? 0 : r == -EINVAL ? 1 : r + 2]++;
			if (r == 1) {
				check_req(d, req);
				assert_int_equal(vq_push(&d->vq, req->head, rnd(&seed)), 0);
			} else if (r == -EINVAL) {
				assert_int_equal(req->nbufs, 0);
				assert_int_equal(vq_push(&d->vq, req->head, 0),
						 req->head < size ? 0 : -EINVAL);
			} else {
				break;
			}
			(void)vq_should_notify(&d->vq);
		}
		if (ahead <= size)
			assert_int_equal(d->vq.last_avail, (uint16_t)(start + ahead));
		else
			assert_true(d->vq.broken);
	}
	/* Every outcome came up often. */
	for (int i = 0; i < 4; i++)
		assert_true(seen[i] > 100);
}


/* vq_save/vq_load round trip, and vq_check on each field it guards. */
static void test_state(void **state)
{
	struct drv *d = *state;
	struct virtqueue *vq = &d->vq, fresh;
	struct vq_state st, again, bad;
	char err[256];

	drv_init(d, 8, 65530);           /* indexes about to wrap */
	vq->event_idx = true;
	vq->signalled_used = 65529;
	vq->signalled_valid = true;
	for (uint16_t i = 0; i < 3; i++) {  /* three requests posted, none taken */
		desc(d, i, DATA_GPA + 64 * i, 64, VIRTQ_DESC_F_WRITE, 0);
		add(d, i);
	}
	vq_save(vq, &st);
	assert_int_equal(st.size, 8);
	assert_int_equal(st.last_avail, 65530);
	assert_int_equal(st.ready, 1);
	assert_int_equal(vq_check(vq, &st, 8, "q", err, sizeof(err)), 0);

	memset(&fresh, 0, sizeof(fresh));
	fresh.mem = &d->mem;
	fresh.walked = 5;
	vq_load(&fresh, &st);
	assert_ptr_equal(fresh.mem, &d->mem);
	assert_int_equal(fresh.walked, 0);
	vq_save(&fresh, &again);
	assert_memory_equal(&st, &again, sizeof(st));

#define BAD(field, stmt) do { bad = st; stmt; err[0] = 0;                                  \
		assert_int_equal(vq_check(vq, &bad, 8, "q", err, sizeof(err)), -EINVAL);     \
		assert_non_null(strstr(err, "q: " field)); } while (0)
	BAD("size", bad.size = 16);              /* over queue_max */
	BAD("size", bad.size = 6);
	BAD("size", bad.size = 0);
	BAD("ready", bad.ready = 3);
	BAD("signalled_valid", bad.signalled_valid = 2);
	BAD("pad", bad.pad[0] = 1);
	BAD("desc", bad.desc_gpa = MEM_SIZE);
	BAD("desc", bad.desc_gpa = DESC_GPA + 8);
	BAD("used_idx", bad.used_idx = 65531);
	BAD("last_avail", { bad.last_avail = 65524; bad.used_idx = 65524; });
	BAD("last_avail", { bad.ready = 0; });
#undef BAD
	/* A broken queue's avail idx is not checked (the guest broke it). */
	bad = st;
	bad.broken = 1;
	bad.last_avail = bad.used_idx = 100;
	assert_int_equal(vq_check(vq, &bad, 8, "q", err, sizeof(err)), 0);
	/* A queue that is not ready may have addresses anywhere, no indexes. */
	memset(&bad, 0, sizeof(bad));
	bad.size = 8;
	bad.desc_gpa = 0xdead0000ull;
	assert_int_equal(vq_check(vq, &bad, 8, "q", err, sizeof(err)), 0);

	/* The loaded queue works: it takes the three posted requests. */
	for (uint16_t i = 0; i < 3; i++) {
		struct vq_req req;

		assert_int_equal(vq_pop(&fresh, &req), 1);
		assert_int_equal(req.head, i);
		assert_int_equal(vq_push(&fresh, req.head, 0), 0);
	}
	assert_int_equal(fresh.used_idx, 65533);
}

/* While a migration tracks the pages devices write (guest_mem.dev_dirty),
 * taking a request marks the pages of its writable buffers (not its
 * readable ones) and the used ring; untracked, nothing is marked and
 * nothing breaks. */
static void test_dirty_marks(void **state)
{
	struct drv *d = *state;
	unsigned long bits[MEM_SIZE / 4096 / (8 * sizeof(unsigned long)) + 1];
	const unsigned int w = 8 * sizeof(unsigned long);
#define BIT(gpa) ((bits[((gpa) / 4096) / w] >> (((gpa) / 4096) % w)) & 1)

	memset(bits, 0, sizeof(bits));
	desc(d, 0, DATA_GPA, 100, F_NEXT, 1);                   /* readable */
	desc(d, 1, DATA_GPA + 0x3000, 0x2000, F_WRITE, 0);      /* writable: 2 pages + 1 */
	d->vq.desc_gpa = DESC_GPA;
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, &d->req), 1);           /* untracked */
	assert_int_equal(vq_push(&d->vq, d->req.head, 0), 0);
	d->mem.dev_dirty = bits;
	add(d, 0);
	assert_int_equal(vq_pop(&d->vq, &d->req), 1);
	d->mem.dev_dirty = NULL;
	assert_false(BIT(DATA_GPA));
	assert_true(BIT(DATA_GPA + 0x3000));
	assert_true(BIT(DATA_GPA + 0x4000));
	assert_false(BIT(DATA_GPA + 0x5000));
	assert_true(BIT(USED_GPA));
	assert_false(BIT(DESC_GPA));
	/* guest_mem_mark clamps at the end of RAM and ignores foreign pointers. */
	memset(bits, 0, sizeof(bits));
	d->mem.dev_dirty = bits;
	guest_mem_mark(&d->mem, d->buf + MEM_SIZE - 10, 4096 * 3);
	guest_mem_mark(&d->mem, d->buf + MEM_SIZE, 4096);
	guest_mem_mark(&d->mem, &bits, 8);
	d->mem.dev_dirty = NULL;
	assert_true(BIT(MEM_SIZE - 4096));
	bits[(MEM_SIZE / 4096 - 1) / w] &= ~(1UL << ((MEM_SIZE / 4096 - 1) % w));
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		assert_int_equal(bits[i], 0);
#undef BIT
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_validate),
		T(test_dirty_marks),
		T(test_reset),
		T(test_empty),
		T(test_not_ready),
		T(test_rings_outside_ram),
		T(test_simple_chain),
		T(test_several_requests),
		T(test_wraparound),
		T(test_avail_overrun),
		T(test_push_bad_head),
		T(test_notify_flags),
		T(test_notify_event_idx),
		T(test_avail_event),
		T(test_zero_length),
		T(test_indirect),
		T(test_read_write),
		T(test_malformed),
		T(test_hole),
		T(test_random),
		T(test_state),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
