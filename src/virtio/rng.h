/* virtio-rng (entropy device, type 4): fills the guest's buffers from
 * getrandom(2). One queue, no configuration. */
#ifndef NESTVM_VIRTIO_RNG_H
#define NESTVM_VIRTIO_RNG_H

#include "virtio/virtio_pci.h"
#include "vmm/device.h"

struct virtio_rng {
	struct virtio_pci vp;
	uint64_t bytes;   /* entropy handed out, for -v statistics */
};

/* The guest-visible state (virtio_rng_class): the transport alone. */
struct virtio_rng_state {
	struct virtio_pci_state vp;
};

#define VIRTIO_RNG_STATE_VERSION 1

/* The device class (src/vmm/device.h): dev is a struct virtio_rng *. */
struct device_class;
extern const struct device_class virtio_rng_class;

int virtio_rng_init(struct virtio_rng *rng, const struct device_host *h);

/* The device class (`--rng`, "rng": true in a VM's configuration). */
extern const struct device_class virtio_rng_class;

#endif
