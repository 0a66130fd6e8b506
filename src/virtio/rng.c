#include "virtio/rng.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "vmm/device.h"
#include "vmm/log.h"

#define RNG_QUEUE_SIZE 256
#define RNG_MAX_PER_REQUEST (64 * 1024)

/* Fill one request's writable buffers; returns bytes written. */
static uint32_t rng_fill(const struct vq_req *req)
{
	uint64_t done = 0;

	for (unsigned int i = 0; i < req->nbufs && done < RNG_MAX_PER_REQUEST; i++) {
		const struct vq_buf *b = &req->bufs[i];
		uint64_t want = b->len;

		if (!b->writable)
			continue;
		if (want > RNG_MAX_PER_REQUEST - done)
			want = RNG_MAX_PER_REQUEST - done;
		ssize_t n = getrandom(b->addr, want, 0);
		if (n <= 0)
			break;
		done += (uint64_t)n;
		if ((uint64_t)n < want)
			break;
	}
	return (uint32_t)done;
}

static void rng_queue_notify(void *dev, struct virtio_pci *vp, unsigned int q)
{
	struct virtio_rng *rng = dev;
	struct virtqueue *vq = &vp->queues[q].vq;
	struct vq_req req;
	bool pushed = false;
	int r;

	while ((r = vq_pop(vq, &req)) != 0) {
		if (r == -EIO) {
			virtio_pci_needs_reset(vp);
			return;
		}
		uint32_t n = r == 1 ? rng_fill(&req) : 0;
		rng->bytes += n;
		vq_push(vq, req.head, n);
		pushed = true;
	}
	if (pushed)
		virtio_pci_queue_done(vp, q);
}

static const struct virtio_device_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = 4,
	.class_code = 0x00ff00,
	.features = VIRTIO_F_RING_EVENT_IDX | VIRTIO_F_RING_INDIRECT_DESC,
	.num_queues = 1,
	.queue_max = RNG_QUEUE_SIZE,
	.config_len = 0,
	.queue_notify = rng_queue_notify,
};

int virtio_rng_init(struct virtio_rng *rng, struct vm *vm, struct pci_bus *bus,
		    struct irq_router *irq, struct evloop *loop)
{
	rng->bytes = 0;
	return virtio_pci_init(&rng->vp, vm, bus, irq, loop, &rng_ops, rng);
}

/* ---- device state (src/vmm/device.h) ---- */

static void rng_save(void *dev, void *state)
{
	struct virtio_rng *rng = dev;
	struct virtio_rng_state *st = state;

	memset(st, 0, sizeof(*st));
	virtio_pci_save(&rng->vp, &st->vp);
}

static int rng_restore(void *dev, const void *state, size_t size, uint32_t version, char *err,
		       size_t errlen)
{
	struct virtio_rng *rng = dev;
	const struct virtio_rng_state *st = state;
	int r = virtio_state_header_check("virtio-rng", size, sizeof(*st), version,
					  VIRTIO_RNG_STATE_VERSION, err, errlen);

	if (r)
		return r;
	r = virtio_pci_check(&rng->vp, &st->vp, err, errlen);
	if (r)
		return r;
	virtio_pci_load(&rng->vp, &st->vp);
	return 0;
}

const struct device_class virtio_rng_class = {
	.name = "virtio-rng",
	/* No thread of its own: requests are filled synchronously on the I/O
	 * loop, which the machine parks between two of them. */
	.quiesce = NULL,
	.resume = NULL,
	.state_version = VIRTIO_RNG_STATE_VERSION,
	.state_size = sizeof(struct virtio_rng_state),
	.save = rng_save,
	.restore = rng_restore,
};
