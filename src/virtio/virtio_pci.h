/* The virtio 1.x PCI transport ("modern" only): a PCI function with one
 * 64-bit memory BAR holding the common configuration, notification, ISR and
 * device configuration structures and the MSI-X table, found by the stock
 * kernel's virtio_pci driver through vendor capabilities.
 *
 *   BAR0 + 0x0000  common configuration
 *   BAR0 + 0x1000  notifications: queue q at 0x1000 + 4 q (ioeventfd: a kick
 *                  is an eventfd signal for the I/O thread, no exit)
 *   BAR0 + 0x2000  ISR status (INTx only)
 *   BAR0 + 0x3000  device-specific configuration
 *   BAR0 + 0x4000  MSI-X table, BAR0 + 0x5000 pending bits
 *
 * Interrupts go through irqfd (one MSI GSI per vector) when the driver
 * enables MSI-X, else through the slot's INTx line. A vector raised while
 * its entry or the whole function (message control bit 14) is masked is
 * pending (its PBA bit reads 1) and goes out when both are unmasked: an
 * entry's vector control written through the table, or message control
 * written in configuration space (pci_device.conf_written).
 */
#ifndef NESTVM_VIRTIO_VIRTIO_PCI_H
#define NESTVM_VIRTIO_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/pci.h"
#include "virtio/virtqueue.h"
#include "vmm/device.h"
#include "vmm/evloop.h"
#include "vmm/irq.h"
#include "vmm/vm.h"

#define VIRTIO_PCI_VENDOR        0x1af4
#define VIRTIO_PCI_DEVICE_BASE   0x1040
#define VIRTIO_MAX_QUEUES        8
#define VIRTIO_MSIX_VECTORS      (VIRTIO_MAX_QUEUES + 1)
#define VIRTIO_NO_VECTOR         0xffff

#define VIRTIO_BAR0_SIZE         0x8000
#define VIRTIO_COMMON_OFF        0x0000
#define VIRTIO_COMMON_LEN        0x40
#define VIRTIO_NOTIFY_OFF        0x1000
#define VIRTIO_NOTIFY_MULT       4
#define VIRTIO_ISR_OFF           0x2000
#define VIRTIO_DEVCFG_OFF        0x3000
#define VIRTIO_DEVCFG_LEN        0x1000
#define VIRTIO_MSIX_TABLE_OFF    0x4000
#define VIRTIO_MSIX_PBA_OFF      0x5000

#define VIRTIO_F_RING_INDIRECT_DESC (1ULL << 28)
#define VIRTIO_F_RING_EVENT_IDX     (1ULL << 29)
#define VIRTIO_F_VERSION_1          (1ULL << 32)

#define VIRTIO_STATUS_ACKNOWLEDGE  1
#define VIRTIO_STATUS_DRIVER       2
#define VIRTIO_STATUS_DRIVER_OK    4
#define VIRTIO_STATUS_FEATURES_OK  8
#define VIRTIO_STATUS_NEEDS_RESET  64
#define VIRTIO_STATUS_FAILED       128

struct virtio_pci;

/* What a device model gives the transport. Queue work runs on the I/O
 * thread; config accesses on a vCPU thread. */
struct virtio_device_ops {
	const char *name;
	uint16_t device_id;          /* virtio type: 1 net, 2 block, 4 entropy */
	uint32_t class_code;
	uint64_t features;           /* device features (VERSION_1 is added) */
	uint16_t num_queues;
	uint16_t queue_max;          /* largest queue size, power of two */
	uint32_t config_len;
	void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
	/* Queue q was kicked (or became ready); process it. */
	void (*queue_notify)(void *dev, struct virtio_pci *vp, unsigned int q);
	/* The driver reset the device. */
	void (*reset)(void *dev);
};

/* A queue. The device works on vq with `lock` held and only after
 * virtio_pci_queue_live() said yes under it. The transport writes vq's
 * set-up fields (size, ring addresses, ready, features) under
 * virtio_pci.lock while the queue is not ready, and resets it holding both
 * locks (lock first). msix_vector is a register: under virtio_pci.lock. */
struct virtio_pci_queue {
	struct virtqueue vq;
	uint16_t msix_vector;
	int kick_efd;
	pthread_mutex_t lock;        /* serialises processing of this queue */
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

/* The transport's own registers: plain guest-visible state, under
 * virtio_pci.lock. */
struct virtio_pci_regs {
	uint64_t driver_features;
	uint64_t msix_pending;       /* bit v: vector v fired while masked */
	uint32_t dfselect, gfselect;
	struct msix_entry msix[VIRTIO_MSIX_VECTORS];
	uint16_t queue_sel;          /* 0..num_queues (num_queues: none selected) */
	uint16_t msix_config;
	uint8_t status;
	uint8_t config_gen;
	uint8_t isr;
	uint8_t pad;
};

struct virtio_pci_queue_state {
	struct vq_state vq;
	uint16_t msix_vector;
	uint16_t pad[3];
};

/* The whole transport's saved state: registers and queues (the PCI
 * configuration space, MSI-X enable included, is the pci-host's). Part of
 * every virtio device's state (virtio_blk_class, ...). */
struct virtio_pci_state {
	struct virtio_pci_regs regs;
	uint16_t num_queues;
	uint16_t pad[3];
	struct virtio_pci_queue_state queues[VIRTIO_MAX_QUEUES];
};

struct virtio_pci {
	struct pci_device pci;
	const struct virtio_device_ops *ops;
	void *dev;
	struct vm *vm;
	struct pci_bus *bus;
	struct irq_router *irq;
	pthread_mutex_t lock;        /* st below */
	struct virtio_pci_regs st;
	int intx_gsi;
	uint8_t msix_cap;            /* config-space offset of the MSI-X capability */
	int vec_gsi[VIRTIO_MSIX_VECTORS];
	int vec_efd[VIRTIO_MSIX_VECTORS];
	uint64_t notify_base;        /* guest address of the notify area, 0 = unmapped (bus lock) */
	struct virtio_pci_queue queues[VIRTIO_MAX_QUEUES];
	/* Test seam (NULL in nestvm): the kick handler calls it on the I/O
	 * thread once it has taken a kick, before it takes the queue's lock
	 * and looks at the transport, so a unit test can put a guest action
	 * (a reset) in between. Set before the I/O loop starts. */
	void (*kick_hook)(struct virtio_pci *vp, unsigned int q);
};

/* Create the PCI function and put it on h->pci, in slot h->pci_slot (0:
 * the first free one) with its INTx line on GSI h->intx_gsi (the board's
 * wiring); register its kicks with h->loop. Returns 0 or -errno. */
int virtio_pci_init(struct virtio_pci *vp, const struct device_host *h,
		    const struct virtio_device_ops *ops, void *dev);

/* After pushing used buffers on queue q: interrupt the driver if it wants. */
void virtio_pci_queue_done(struct virtio_pci *vp, unsigned int q);

/* The device hit a guest error it cannot go on from: DEVICE_NEEDS_RESET and
 * a configuration-change interrupt, on a DRIVER_OK device; nothing once the
 * driver has reset it (the error belongs to the driver before). */
void virtio_pci_needs_reset(struct virtio_pci *vp);

/* May the device work on queue q now: ready, not broken, and the device
 * DRIVER_OK without NEEDS_RESET? Called with queue q's lock held (it takes
 * virtio_pci.lock: the order is a queue's lock, then virtio_pci.lock), and
 * true stays true until that lock is released: a reset waits for it. */
bool virtio_pci_queue_live(struct virtio_pci *vp, unsigned int q);

/* Save the transport (quiesced: vCPUs, I/O loop and backends parked, so no
 * request is half-done). */
void virtio_pci_save(struct virtio_pci *vp, struct virtio_pci_state *st);
/* Could the transport be in st? Every field: num_queues, queue_sel,
 * msix_config and queue vectors (< VIRTIO_MSIX_VECTORS or
 * VIRTIO_NO_VECTOR), status bits, features against FEATURES_OK, isr,
 * pending bits, each queue (vq_check) and its negotiated ring features.
 * 0 or -EINVAL with "NAME: field ..." in err; changes nothing. */
int virtio_pci_check(const struct virtio_pci *vp, const struct virtio_pci_state *st, char *err,
		     size_t errlen);
/* Load a checked state and rebuild what derives from it: the MSI routes of
 * every vector (irq_msi_set), the notify ioeventfds at BAR0's current
 * address, the INTx line from isr, and a kick of every ready queue of a
 * DRIVER_OK device (a kick the guest gave before the save may not have
 * been served). */
void virtio_pci_load(struct virtio_pci *vp, const struct virtio_pci_state *st);

/* Negotiated features. */
uint64_t virtio_pci_features(struct virtio_pci *vp);

#endif
