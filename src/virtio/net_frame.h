/* The pure parts of virtio-net's data path, apart from the device so the
 * unit tests can reach them: taking a transmitted frame out of a request,
 * filling a receive buffer, and the bounded frame queues between the I/O
 * thread and a backend. */
#ifndef NESTVM_VIRTIO_NET_FRAME_H
#define NESTVM_VIRTIO_NET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtqueue.h"

/* struct virtio_net_hdr with VERSION_1: flags, gso_type, hdr_len, gso_size,
 * csum_start, csum_offset, num_buffers (le16 each after the two bytes). */
#define NET_HDR_LEN        12
#define NET_ETH_HLEN       14
#define NET_MAX_FRAME      65550u      /* larger transmitted frames are dropped */

#define NET_FQ_MAX_FRAMES  256u
#define NET_FQ_MAX_BYTES   (4u << 20)

struct net_frame {
	uint8_t *data;          /* malloc()ed */
	uint32_t len;
};

/* A FIFO of frames, bounded in frames and bytes. Not locked: its owner
 * serialises access. */
struct net_fq {
	struct net_frame ring[NET_FQ_MAX_FRAMES];
	unsigned int head, count;
	size_t bytes;
};

void net_fq_init(struct net_fq *q);
/* Append a copy of the frame: 0, -ENOBUFS when the queue is full (frames
 * or bytes), -ENOMEM. */
int net_fq_push(struct net_fq *q, const uint8_t *data, uint32_t len);
/* The oldest frame, or NULL; it stays queued. */
const struct net_frame *net_fq_peek(const struct net_fq *q);
/* Take the oldest frame out: true and *out (the caller frees out->data),
 * or false when empty. */
bool net_fq_pop(struct net_fq *q, struct net_frame *out);
/* Free every frame. */
void net_fq_clear(struct net_fq *q);

/* Copy the frame of a transmit request (a virtio_net_hdr, then the frame,
 * in its readable buffers however they are split) into buf (cap bytes).
 * 0 and *len; -EINVAL when the request holds less than a header;
 * -EMSGSIZE when the frame is longer than cap or NET_MAX_FRAME. */
int net_tx_extract(const struct vq_req *req, uint8_t *buf, uint32_t cap, uint32_t *len);

/* Fill a receive request's writable buffers with a zero header (num_buffers
 * 1) and the frame. 0 and *written; -ENOSPC when they are too small (then
 * nothing is written). */
int net_rx_fill(const struct vq_req *req, const uint8_t *frame, uint32_t len, uint32_t *written);

#endif
