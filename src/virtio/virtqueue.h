/* A virtio 1.x split virtqueue, read from guest memory.
 *
 * Everything here is guest-controlled and hostile: descriptor indices,
 * chain lengths, loops, addresses and lengths, the avail index, flags. A
 * request that breaks the rules is refused; a queue whose avail ring itself
 * is corrupt is marked broken (the device then sets DEVICE_NEEDS_RESET).
 * No access ever leaves guest RAM (every buffer is mapped through
 * guest_mem_ptr() for its whole length) and no loop runs more than `size`
 * times per request.
 */
#ifndef NESTVM_VIRTIO_VIRTQUEUE_H
#define NESTVM_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

#define VQ_MAX_SIZE       1024     /* largest queue size a device offers */
#define VQ_MAX_BUFS       256      /* buffers in one request (after indirect expansion) */

#define VIRTQ_DESC_F_NEXT      1
#define VIRTQ_DESC_F_WRITE     2
#define VIRTQ_DESC_F_INDIRECT  4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

struct virtqueue {
	const struct guest_mem *mem;
	uint16_t size;          /* power of two, 1..VQ_MAX_SIZE */
	bool ready;
	bool event_idx;         /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;          /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	bool broken;            /* corrupt avail ring: needs a reset */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail;    /* next avail entry the device will take */
	uint16_t used_idx;      /* next used entry the device will write */
	uint16_t signalled_used;/* used_idx at the last interrupt (event idx) */
	bool signalled_valid;
	unsigned int walked;    /* descriptors read by the last vq_pop() */
};

struct vq_buf {
	void *addr;             /* host pointer, valid for len bytes */
	uint32_t len;
	bool writable;          /* device writes it (VIRTQ_DESC_F_WRITE) */
};

struct vq_req {
	uint16_t head;          /* descriptor index to hand back in vq_push() */
	unsigned int nbufs;
	struct vq_buf bufs[VQ_MAX_BUFS];
	uint64_t out_len;       /* bytes the device may read (readable buffers) */
	uint64_t in_len;        /* bytes the device may write (writable buffers) */
};

/* A queue's guest-visible state, plain (part of the transport's saved
 * state). The host keeps no pointer into guest memory between calls:
 * every vq_pop/vq_push/vq_should_notify maps the rings afresh from the
 * addresses, so loading a state is all a restore needs. */
struct vq_state {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size, last_avail, used_idx, signalled_used;
	uint8_t ready, event_idx, indirect, broken, signalled_valid;
	uint8_t pad[3];
};

void vq_save(const struct virtqueue *vq, struct vq_state *st);
/* Can vq (its guest memory) be in state st, for a queue of at most
 * queue_max entries? Checks the size (a power of two, <= queue_max), the
 * flags (0 or 1), the rings of a ready queue (aligned, in guest RAM), the
 * indexes (a queue that is not ready has none; avail->idx at most `size`
 * ahead of last_avail unless the queue is broken; used_idx == last_avail:
 * no request is taken and not completed, because devices complete every
 * request they take before the I/O loop is parked). 0, or -EINVAL with a
 * message that starts with `what` ("virtio-blk: queue 0") and names the
 * field. */
int vq_check(const struct virtqueue *vq, const struct vq_state *st, uint16_t queue_max,
	     const char *what, char *err, size_t errlen);
/* Load a checked state (keeps mem). */
void vq_load(struct virtqueue *vq, const struct vq_state *st);

/* Reset to "not ready", keeping mem. */
void vq_reset(struct virtqueue *vq);

/* Check the ring addresses when the driver sets the queue ready: every ring
 * must lie in guest RAM and be aligned (desc 16, avail 2, used 4).
 * 0 or -EINVAL. */
int vq_validate(struct virtqueue *vq);

/* Take the next available request.
 *   1: *req filled (its head must be given back with vq_push);
 *   0: nothing available;
 *  -EINVAL: this request is malformed (bad index, loop, too long, address
 *           outside RAM, length overflow, a readable buffer after a writable
 *           one, indirect where not negotiated or nested): it was consumed and
 *           its head is in req->head so the device can complete it with an
 *           error status or vq_push(.., 0);
 *  -EIO: the avail ring itself is corrupt (avail idx ran more than `size`
 *        ahead, or the queue is not ready): vq->broken is set. */
int vq_pop(struct virtqueue *vq, struct vq_req *req);

/* Return a request: `written` bytes were written into its writable buffers.
 * -EINVAL when head is out of range (nothing written). */
int vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);

/* After one or more vq_push(): should the device interrupt the driver
 * (honours VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with event idx)? */
bool vq_should_notify(struct virtqueue *vq);

/* Copy up to len bytes from the request's readable buffers starting at byte
 * `off` of that stream; returns bytes copied. */
uint64_t vq_req_read(const struct vq_req *req, uint64_t off, void *dst, uint64_t len);
/* Copy into the writable buffers starting at byte `off` of the writable
 * stream; returns bytes copied. */
uint64_t vq_req_write(const struct vq_req *req, uint64_t off, const void *src, uint64_t len);

#endif
