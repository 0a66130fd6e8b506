#include "virtio/rng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

int virtio_rng_init(struct virtio_rng *rng, const struct device_host *h)
{
	rng->bytes = 0;
	return virtio_pci_init(&rng->vp, h, &rng_ops, rng);
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
	int r = device_state_check_header(&virtio_rng_class, size, version, err, errlen);

	if (r)
		return r;
	r = virtio_pci_check(&rng->vp, &st->vp, err, errlen);
	if (r)
		return r;
	virtio_pci_load(&rng->vp, &st->vp);
	return 0;
}

/* ---- the device class ---- */

static int rng_config_parse(const char *arg, json_t **out, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	(void)arg;
	*out = NULL;   /* a flag: no configuration */
	return 0;
}

static int rng_config_check(const json_t *cfg, char *err, size_t errlen)
{
	if (cfg) {
		snprintf(err, errlen, "virtio-rng takes no configuration");
		return -EINVAL;
	}
	return 0;
}

static int rng_create(const struct device_host *h, const json_t *cfg, void **dev, char *err,
		      size_t errlen)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	int r;

	(void)cfg;
	*dev = rng;
	r = rng ? virtio_rng_init(rng, h) : -ENOMEM;
	if (r)
		snprintf(err, errlen, "cannot create virtio-rng: %s", strerror(-r));
	return r;
}

static void rng_destroy(void *dev)
{
	free(dev);
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
	.cli_option = "rng",
	.cli_help = "  -r, --rng            a virtio-rng device (entropy from the host's getrandom)\n",
	.cli_flag = true,
	.json_key = "rng",
	.max_count = 1,
	.config_parse = rng_config_parse,
	.config_check = rng_config_check,
	.create = rng_create,
	.destroy = rng_destroy,
};
