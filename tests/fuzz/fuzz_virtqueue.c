/* Fuzz target: virtqueue chains (src/virtio/virtqueue.c) and the virtio-blk
 * requests in them (src/virtio/blk.c, on a 1 MiB scratch image). The input
 * is a queue set-up (16 bytes) and then guest RAM itself (64 KiB, zero
 * padded): the descriptor table, the rings, the buffers and the indirect
 * tables are all the guest's, as they are on a real queue. Every buffer the
 * queue hands out must lie inside guest RAM (ASan catches a stray access:
 * the RAM is a malloc()ed block of exactly its size). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "virtio/blk.h"
#include "virtio/virtqueue.h"

#define RAM_SIZE (64 * 1024)

static struct virtio_blk *scratch_disk(void)
{
	static struct virtio_blk blk;
	static bool ready;
	char path[] = "/tmp/nestvm-fuzz-blk.XXXXXX";
	struct blk_config cfg = { .readonly = false };
	char err[256];
	int fd;

	if (ready)
		return &blk;
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 1 << 20))
		abort();
	close(fd);
	snprintf(cfg.path, sizeof(cfg.path), "%s", path);
	if (blk_open(&blk, &cfg, err, sizeof(err))) {
		fprintf(stderr, "fuzz_virtqueue: %s\n", err);
		abort();
	}
	unlink(path);
	ready = true;
	return &blk;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_blk *blk = scratch_disk();
	uint8_t *ram = calloc(1, RAM_SIZE);
	struct virtqueue vq;
	struct guest_mem mem;
	struct vq_req *req = malloc(sizeof(*req));
	uint8_t scratch[512];

	if (!ram || !req)
		abort();
	if (size < 16)
		goto out;
	memcpy(ram, data + 16, size - 16 < RAM_SIZE ? size - 16 : RAM_SIZE);
	guest_mem_init_layout(&mem, ram, RAM_SIZE);
	memset(&vq, 0, sizeof(vq));
	vq.mem = &mem;
	vq_reset(&vq);
	vq.size = (uint16_t)(1u << (data[0] % 9));      /* 1 .. 256 */
	vq.event_idx = data[1] & 1;
	vq.indirect = data[1] & 2;
	vq.last_avail = vq.used_idx = rd16(data + 2);
	vq.desc_gpa = rd16(data + 4);
	vq.avail_gpa = rd16(data + 6);
	vq.used_gpa = rd16(data + 8);
	vq.ready = true;
	if (vq_validate(&vq))
		goto out;
	for (int i = 0; i < 64; i++) {
		int r = vq_pop(&vq, req);
		uint32_t written = 0;

		if (r == 0 || r == -EIO)
			break;
		if (r == 1) {
			/* read and write every buffer end to end, then as a block request */
			for (uint64_t off = 0; off < req->out_len; off += sizeof(scratch))
				(void)vq_req_read(req, off, scratch, sizeof(scratch));
			memset(scratch, 0xa5, sizeof(scratch));
			for (uint64_t off = 0; off < req->in_len; off += sizeof(scratch))
				(void)vq_req_write(req, off, scratch, sizeof(scratch));
			if (blk_handle_request(blk, req, &written) < 0)
				written = 0;
			if (written > req->in_len)
				abort();
		}
		(void)vq_push(&vq, req->head, written);
		(void)vq_should_notify(&vq);
	}
out:
	free(req);
	free(ram);
	return 0;
}
