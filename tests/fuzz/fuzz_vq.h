/* A virtqueue laid out by the fuzz input, for the targets that take
 * requests from one (fuzz_virtqueue, fuzz_net): the first FUZZ_VQ_HDR bytes
 * set the queue up (size, features, indices, ring addresses), the rest is
 * guest RAM (FUZZ_VQ_RAM bytes, zero padded) holding the rings, buffers and
 * indirect tables, as on a real queue. The RAM is a malloc()ed block of
 * exactly its size, so ASan catches any access outside it. */
#ifndef NESTVM_TESTS_FUZZ_VQ_H
#define NESTVM_TESTS_FUZZ_VQ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"
#include "vmm/guest_mem.h"

#define FUZZ_VQ_HDR 16
#define FUZZ_VQ_RAM (64 * 1024)

struct fuzz_vq {
	uint8_t *ram;
	struct guest_mem mem;
	struct virtqueue vq;
};

static inline uint16_t fuzz_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* 0 with a ready, validated queue; -1 (nothing to free) otherwise. */
static inline int fuzz_vq_setup(struct fuzz_vq *f, const uint8_t *data, size_t size)
{
	if (size < FUZZ_VQ_HDR)
		return -1;
	f->ram = calloc(1, FUZZ_VQ_RAM);
	if (!f->ram)
		abort();
	memcpy(f->ram, data + FUZZ_VQ_HDR,
	       size - FUZZ_VQ_HDR < FUZZ_VQ_RAM ? size - FUZZ_VQ_HDR : FUZZ_VQ_RAM);
	guest_mem_init_layout(&f->mem, f->ram, FUZZ_VQ_RAM);
	memset(&f->vq, 0, sizeof(f->vq));
	f->vq.mem = &f->mem;
	vq_reset(&f->vq);
	f->vq.size = (uint16_t)(1u << (data[0] % 9));      /* 1 .. 256 */
	f->vq.event_idx = data[1] & 1;
	f->vq.indirect = data[1] & 2;
	f->vq.last_avail = f->vq.used_idx = fuzz_rd16(data + 2);
	f->vq.desc_gpa = fuzz_rd16(data + 4);
	f->vq.avail_gpa = fuzz_rd16(data + 6);
	f->vq.used_gpa = fuzz_rd16(data + 8);
	f->vq.ready = true;
	if (vq_validate(&f->vq)) {
		free(f->ram);
		return -1;
	}
	return 0;
}

#endif
