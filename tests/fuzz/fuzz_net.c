/* Fuzz target: virtio-net frames both ways (src/virtio/net_frame.c,
 * net_policy.c). Requests come from a fuzzed queue (fuzz_vq.h): each is
 * taken as a transmit request (the frame extracted, checked against the
 * source-MAC policy, queued towards a backend) and as a receive request
 * (filled with a frame from the backend queue, as the host side would). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_vq.h"
#include "virtio/net.h"
#include "virtio/net_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[NET_MAX_FRAME];
	struct net_config cfg = { .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
				  .n_allowed = 1, .allowed = { { 0x52, 0x54, 0x00, 0, 0, 1 } } };
	struct vq_req *req = malloc(sizeof(*req));
	struct net_fq *q = malloc(sizeof(*q));
	struct fuzz_vq f;

	if (!req || !q)
		abort();
	net_fq_init(q);
	if (fuzz_vq_setup(&f, data, size))
		goto out;
	cfg.mac_spoofing = data[10] & 1;
	for (int i = 0; i < 64; i++) {
		struct net_frame fr;
		uint32_t len = 0, written = 0;
		int r = vq_pop(&f.vq, req);

		if (r == 0 || r == -EIO)
			break;
		if (r == 1) {
			if (net_tx_extract(req, frame, sizeof(frame), &len) == 0) {
				if (len > sizeof(frame))
					abort();
				if (net_mac_allowed(&cfg, frame, len))
					(void)net_fq_push(q, frame, len);
			}
			if (net_fq_pop(q, &fr)) {
				if (net_rx_fill(req, fr.data, fr.len, &written) == 0 && written > req->in_len)
					abort();
				free(fr.data);
			}
		}
		(void)vq_push(&f.vq, req->head, written);
	}
	free(f.ram);
out:
	net_fq_clear(q);
	free(q);
	free(req);
	return 0;
}
