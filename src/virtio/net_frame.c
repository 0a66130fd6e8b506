/* Pure virtio-net data-path helpers; see net_frame.h. */
#include "virtio/net_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void net_fq_init(struct net_fq *q)
{
	memset(q, 0, sizeof(*q));
}

int net_fq_push(struct net_fq *q, const uint8_t *data, uint32_t len)
{
	struct net_frame *f;

	if (q->count >= NET_FQ_MAX_FRAMES || len > NET_FQ_MAX_BYTES - q->bytes)
		return -ENOBUFS;
	f = &q->ring[(q->head + q->count) % NET_FQ_MAX_FRAMES];
	f->data = malloc(len ? len : 1);
	if (!f->data)
		return -ENOMEM;
	if (len)
		memcpy(f->data, data, len);
	f->len = len;
	q->count++;
	q->bytes += len;
	return 0;
}

const struct net_frame *net_fq_peek(const struct net_fq *q)
{
	return q->count ? &q->ring[q->head] : NULL;
}

bool net_fq_pop(struct net_fq *q, struct net_frame *out)
{
	struct net_frame *f;

	if (!q->count)
		return false;
	f = &q->ring[q->head];
	*out = *f;
	f->data = NULL;
	f->len = 0;
	q->head = (q->head + 1) % NET_FQ_MAX_FRAMES;
	q->count--;
	q->bytes -= out->len;
	return true;
}

void net_fq_clear(struct net_fq *q)
{
	struct net_frame f;

	while (net_fq_pop(q, &f))
		free(f.data);
	q->head = 0;
}

int net_tx_extract(const struct vq_req *req, uint8_t *buf, uint32_t cap, uint32_t *len)
{
	uint64_t frame_len;

	if (req->out_len < NET_HDR_LEN)
		return -EINVAL;
	frame_len = req->out_len - NET_HDR_LEN;
	if (frame_len > cap || frame_len > NET_MAX_FRAME)
		return -EMSGSIZE;
	if (vq_req_read(req, NET_HDR_LEN, buf, frame_len) != frame_len)
		return -EINVAL;
	*len = (uint32_t)frame_len;
	return 0;
}

int net_rx_fill(const struct vq_req *req, const uint8_t *frame, uint32_t len, uint32_t *written)
{
	uint8_t hdr[NET_HDR_LEN] = { 0 };

	if (req->in_len < NET_HDR_LEN || req->in_len - NET_HDR_LEN < len)
		return -ENOSPC;
	hdr[10] = 1;  /* num_buffers = 1, little endian */
	if (vq_req_write(req, 0, hdr, NET_HDR_LEN) != NET_HDR_LEN ||
	    vq_req_write(req, NET_HDR_LEN, frame, len) != len)
		return -ENOSPC;
	*written = NET_HDR_LEN + len;
	return 0;
}
