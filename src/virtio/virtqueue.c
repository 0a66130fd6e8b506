/* A virtio 1.x split virtqueue (virtio 1.x spec, section 2.7).
 *
 * The rings live in guest memory and the guest may change them at any
 * moment, so every index and descriptor is read exactly once into a local
 * copy before it is checked and used, and every buffer is mapped through
 * guest_mem_ptr() for its whole length.
 *
 * Decisions beyond the spec's letter:
 *  - A descriptor of length 0 is skipped: it never appears in req->bufs and
 *    its address is not checked (nothing will be accessed through it). It
 *    still counts towards the chain length and still obeys the "readable
 *    before writable" order.
 *  - An indirect descriptor may end a direct chain (not only be its head),
 *    as vhost allows; it must not also carry NEXT. The WRITE flag on an
 *    indirect descriptor is ignored, as the spec requires.
 *  - A direct chain may visit at most `size` descriptors, an indirect table
 *    at most its own number of entries (<= VQ_MAX_SIZE); after expansion at
 *    most VQ_MAX_BUFS non-empty buffers are accepted.
 *  - out_len and in_len must each fit in 32 bits (vq_push() reports the
 *    written length as le32), otherwise the request is -EINVAL.
 *  - With event idx, vq_pop() publishes avail_event = last_avail after it
 *    takes a request and when it finds the ring empty (then, after a full
 *    fence, it looks at avail->idx again, so a kick cannot be missed).
 */
#include "virtio/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Guest-side layout. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc is 16 bytes");

#define DESC_SIZE        16u
#define AVAIL_IDX        2u                 /* offset of avail->idx */
#define AVAIL_RING       4u                 /* offset of avail->ring[] */
#define USED_IDX         2u                 /* offset of used->idx */
#define USED_RING        4u                 /* offset of used->ring[] */
#define USED_ELEM_SIZE   8u

/* Host pointers to the three rings, valid for their whole spec size. */
struct rings {
	uint8_t *desc;
	uint8_t *avail;
	uint8_t *used;
};

/* State of one request's walk over its descriptors. */
struct walk {
	struct virtqueue *vq;
	struct vq_req *req;
	bool seen_write;        /* a writable descriptor was seen */
};

static uint16_t ld16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p,
				       __ATOMIC_RELAXED));
}

/* The avail index: what the driver wrote before it (ring entries,
 * descriptors, buffers) is read after it. */
static uint16_t ld16_acquire(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p,
				       __ATOMIC_ACQUIRE));
}

/* The used index: what the device wrote before it (used elements,
 * buffers) is visible to the driver first. */
static void st16_release(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELEASE);
}

static void st16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static void st32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

static uint64_t avail_bytes(uint16_t size)
{
	return 6 + 2 * (uint64_t)size;  /* flags, idx, ring[size], used_event */
}

static uint64_t used_bytes(uint16_t size)
{
	return 6 + USED_ELEM_SIZE * (uint64_t)size; /* + avail_event */
}

static bool size_ok(uint16_t size)
{
	return size >= 1 && size <= VQ_MAX_SIZE && !(size & (size - 1));
}

/* Map the rings if the size is valid and every ring is aligned and wholly
 * in guest RAM. */
static bool map_rings(const struct virtqueue *vq, struct rings *r)
{
	if (!vq->mem || !size_ok(vq->size))
		return false;
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return false;
	r->desc = guest_mem_ptr(vq->mem, vq->desc_gpa, DESC_SIZE * (uint64_t)vq->size);
	r->avail = guest_mem_ptr(vq->mem, vq->avail_gpa, avail_bytes(vq->size));
	r->used = guest_mem_ptr(vq->mem, vq->used_gpa, used_bytes(vq->size));
	if (!r->desc || !r->avail || !r->used)
		return false;
	/* The device writes the used ring (and avail_event at its end). */
	guest_mem_mark(vq->mem, r->used, used_bytes(vq->size));
	return true;
}

static uint8_t *used_event_ptr(const struct virtqueue *vq, const struct rings *r)
{
	return r->avail + AVAIL_RING + 2 * (uint64_t)vq->size;
}

static uint8_t *avail_event_ptr(const struct virtqueue *vq, const struct rings *r)
{
	return r->used + USED_RING + USED_ELEM_SIZE * (uint64_t)vq->size;
}

void vq_reset(struct virtqueue *vq)
{
	const struct guest_mem *mem = vq->mem;

	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
}

int vq_validate(struct virtqueue *vq)
{
	struct rings r;

	return map_rings(vq, &r) ? 0 : -EINVAL;
}

static void read_desc(const uint8_t *table, uint16_t idx, struct virtq_desc *d)
{
	memcpy(d, table + DESC_SIZE * (uint64_t)idx, sizeof(*d));
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

static int add_buf(struct walk *w, const struct virtq_desc *d)
{
	struct vq_req *req = w->req;
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	uint64_t *total = writable ? &req->in_len : &req->out_len;
	void *p;

	if (!writable && w->seen_write)
		return -EINVAL;
	w->seen_write |= writable;
	if (d->len == 0)
		return 0;
	if (req->nbufs >= VQ_MAX_BUFS)
		return -EINVAL;
	if (*total + d->len > UINT32_MAX)
		return -EINVAL;
	p = guest_mem_ptr(w->vq->mem, d->addr, d->len);
	if (!p)
		return -EINVAL;
	if (writable)
		guest_mem_mark(w->vq->mem, p, d->len);
	req->bufs[req->nbufs].addr = p;
	req->bufs[req->nbufs].len = d->len;
	req->bufs[req->nbufs].writable = writable;
	req->nbufs++;
	*total += d->len;
	return 0;
}

static int walk_indirect(struct walk *w, const struct virtq_desc *d);

/* Follow a chain of `n` descriptors at `table` from `idx`. At most n
 * descriptors are read: one more means a loop or an over-long chain. */
static int walk_chain(struct walk *w, const uint8_t *table, uint32_t n,
		      uint16_t idx, bool nested)
{
	struct virtq_desc d;
	uint32_t steps;
	int r;

	for (steps = 0; steps < n; steps++) {
		if (idx >= n)
			return -EINVAL;
		read_desc(table, idx, &d);
		w->vq->walked++;
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return nested ? -EINVAL : walk_indirect(w, &d);
		r = add_buf(w, &d);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
	return -EINVAL;
}

static int walk_indirect(struct walk *w, const struct virtq_desc *d)
{
	const uint8_t *table;

	if (!w->vq->indirect || (d->flags & VIRTQ_DESC_F_NEXT))
		return -EINVAL;
	if (d->len == 0 || d->len % DESC_SIZE || d->len > VQ_MAX_SIZE * DESC_SIZE)
		return -EINVAL;
	table = guest_mem_ptr(w->vq->mem, d->addr, d->len);
	if (!table)
		return -EINVAL;
	return walk_chain(w, table, d->len / DESC_SIZE, 0, true);
}

static int set_broken(struct virtqueue *vq)
{
	vq->broken = true;
	return -EIO;
}

/* Entries the driver has made available: 0..size, or -EIO. */
static int avail_pending(struct virtqueue *vq, const struct rings *r)
{
	uint16_t n = ld16_acquire(r->avail + AVAIL_IDX) - vq->last_avail;

	if (n == 0 && vq->event_idx) {
		/* Ask for a kick at the next entry, then look again: the
		 * driver may have added one before it saw avail_event. */
		st16(avail_event_ptr(vq, r), vq->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		n = ld16_acquire(r->avail + AVAIL_IDX) - vq->last_avail;
	}
	if (n > vq->size)
		return set_broken(vq);
	return n;
}

static void req_clear(struct vq_req *req)
{
	req->head = 0;
	req->nbufs = 0;
	req->out_len = 0;
	req->in_len = 0;
}

int vq_pop(struct virtqueue *vq, struct vq_req *req)
{
	struct walk w = { .vq = vq, .req = req };
	struct rings r;
	uint16_t slot;
	int n;

	req_clear(req);
	vq->walked = 0;
	if (!vq->ready || vq->broken || !map_rings(vq, &r))
		return set_broken(vq);
	n = avail_pending(vq, &r);
	if (n <= 0)
		return n;
	/* Ring entries and descriptors are read after avail->idx (acquire). */
	slot = vq->last_avail & (vq->size - 1);
	req->head = ld16(r.avail + AVAIL_RING + 2 * (uint64_t)slot);
	vq->last_avail++;
	if (vq->event_idx)
		st16(avail_event_ptr(vq, &r), vq->last_avail);
	if (req->head >= vq->size)
		return -EINVAL;
	n = walk_chain(&w, r.desc, vq->size, req->head, false);
	if (n) {
		req->nbufs = 0;
		req->out_len = req->in_len = 0;
		return n;
	}
	return 1;
}

int vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	struct rings r;
	uint8_t *elem;

	if (head >= vq->size)
		return -EINVAL;
	if (!vq->ready || !map_rings(vq, &r))
		return -EIO;
	elem = r.used + USED_RING +
	       USED_ELEM_SIZE * (uint64_t)(vq->used_idx & (vq->size - 1));
	st32(elem, head);
	st32(elem + 4, written);
	/* The element is visible before the index that publishes it. */
	vq->used_idx++;
	st16_release(r.used + USED_IDX, vq->used_idx);
	return 0;
}

/* virtio spec 2.7.10: has new_idx just passed event (since old)? */
static bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool vq_should_notify(struct virtqueue *vq)
{
	struct rings r;
	uint16_t old;
	bool valid;

	if (!vq->ready || !map_rings(vq, &r))
		return false;
	/* The used idx store is visible before flags/used_event are read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(ld16(r.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	return vring_need_event(ld16(used_event_ptr(vq, &r)), vq->used_idx, old);
}

/* Copy between the request's buffers of one direction and host memory,
 * starting at byte `off` of that direction's stream: into `to` from the
 * readable buffers, or from `from` into the writable ones. */
static uint64_t req_copy(const struct vq_req *req, uint64_t off, uint8_t *to,
			 const uint8_t *from, uint64_t len)
{
	bool writable = from != NULL;
	uint64_t done = 0;
	unsigned int i;

	for (i = 0; i < req->nbufs && i < VQ_MAX_BUFS && done < len; i++) {
		const struct vq_buf *b = &req->bufs[i];
		uint64_t n;

		if (b->writable != writable)
			continue;
		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		n = b->len - off;
		if (n > len - done)
			n = len - done;
		if (writable)
			memcpy((uint8_t *)b->addr + off, from + done, n);
		else
			memcpy(to + done, (const uint8_t *)b->addr + off, n);
		done += n;
		off = 0;
	}
	return done;
}

uint64_t vq_req_read(const struct vq_req *req, uint64_t off, void *dst, uint64_t len)
{
	return req_copy(req, off, dst, NULL, len);
}

uint64_t vq_req_write(const struct vq_req *req, uint64_t off, const void *src, uint64_t len)
{
	return req_copy(req, off, NULL, src, len);
}

/* ---- state ---- */

void vq_save(const struct virtqueue *vq, struct vq_state *st)
{
	memset(st, 0, sizeof(*st));
	st->desc_gpa = vq->desc_gpa;
	st->avail_gpa = vq->avail_gpa;
	st->used_gpa = vq->used_gpa;
	st->size = vq->size;
	st->last_avail = vq->last_avail;
	st->used_idx = vq->used_idx;
	st->signalled_used = vq->signalled_used;
	st->ready = vq->ready;
	st->event_idx = vq->event_idx;
	st->indirect = vq->indirect;
	st->broken = vq->broken;
	st->signalled_valid = vq->signalled_valid;
}

void vq_load(struct virtqueue *vq, const struct vq_state *st)
{
	vq->desc_gpa = st->desc_gpa;
	vq->avail_gpa = st->avail_gpa;
	vq->used_gpa = st->used_gpa;
	vq->size = st->size;
	vq->last_avail = st->last_avail;
	vq->used_idx = st->used_idx;
	vq->signalled_used = st->signalled_used;
	vq->ready = st->ready;
	vq->event_idx = st->event_idx;
	vq->indirect = st->indirect;
	vq->broken = st->broken;
	vq->signalled_valid = st->signalled_valid;
	vq->walked = 0;
}

int vq_check(const struct virtqueue *vq, const struct vq_state *st, uint16_t queue_max,
	     const char *what, char *err, size_t errlen)
{
	const struct { const char *name; uint8_t v; } flags[] = {
		{ "ready", st->ready }, { "event_idx", st->event_idx },
		{ "indirect", st->indirect }, { "broken", st->broken },
		{ "signalled_valid", st->signalled_valid },
	};
	struct virtqueue t;
	struct rings r;

	if (!size_ok(st->size) || st->size > queue_max) {
		snprintf(err, errlen, "%s: size %u is not a power of two from 1 to %u", what,
			 st->size, queue_max);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (flags[i].v > 1) {
			snprintf(err, errlen, "%s: %s %u is not 0 or 1", what, flags[i].name,
				 flags[i].v);
			return -EINVAL;
		}
	}
	if (st->pad[0] || st->pad[1] || st->pad[2]) {
		snprintf(err, errlen, "%s: pad bytes are not 0", what);
		return -EINVAL;
	}
	if (!st->ready) {
		if (st->last_avail || st->used_idx || st->signalled_used || st->signalled_valid ||
		    st->broken) {
			snprintf(err, errlen, "%s: last_avail %u, used_idx %u on a queue that is not "
				 "ready (a queue starts at 0 when enabled)", what, st->last_avail,
				 st->used_idx);
			return -EINVAL;
		}
		return 0;
	}
	memset(&t, 0, sizeof(t));
	t.mem = vq->mem;
	vq_load(&t, st);
	if (!map_rings(&t, &r)) {
		snprintf(err, errlen, "%s: desc 0x%llx, avail 0x%llx, used 0x%llx: the rings of a "
			 "ready queue must be aligned and in guest RAM", what,
			 (unsigned long long)st->desc_gpa, (unsigned long long)st->avail_gpa,
			 (unsigned long long)st->used_gpa);
		return -EINVAL;
	}
	if (st->used_idx != st->last_avail) {
		snprintf(err, errlen, "%s: used_idx %u != last_avail %u: requests taken and not "
			 "completed", what, st->used_idx, st->last_avail);
		return -EINVAL;
	}
	if (!st->broken && (uint16_t)(ld16(r.avail + AVAIL_IDX) - st->last_avail) > st->size) {
		snprintf(err, errlen, "%s: last_avail %u is more than size %u behind the ring's "
			 "avail idx %u", what, st->last_avail, st->size, ld16(r.avail + AVAIL_IDX));
		return -EINVAL;
	}
	return 0;
}
