/* Fuzz target: virtqueue chains (src/virtio/virtqueue.c) and the virtio-blk
 * requests in them (src/virtio/blk.c, on a 1 MiB scratch image). The input
 * is a queue set-up and then guest RAM itself (fuzz_vq.h): the descriptor
 * table, the rings, the buffers and the indirect tables are all the
 * guest's. Every buffer the queue hands out must lie inside guest RAM. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz_vq.h"
#include "virtio/blk.h"
#include "virtio/virtqueue.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_blk *blk = scratch_disk();
	struct vq_req *req = malloc(sizeof(*req));
	uint8_t scratch[512];
	struct fuzz_vq f;

	if (!req)
		abort();
	if (fuzz_vq_setup(&f, data, size)) {
		free(req);
		return 0;
	}
	for (int i = 0; i < 64; i++) {
		int r = vq_pop(&f.vq, req);
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
		(void)vq_push(&f.vq, req->head, written);
		(void)vq_should_notify(&f.vq);
	}
	free(req);
	free(f.ram);
	return 0;
}
