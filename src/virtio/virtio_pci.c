#include "virtio/virtio_pci.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "virtio/le.h"
#include "vmm/log.h"

#define VIRTIO_PCI_CAP_COMMON  1
#define VIRTIO_PCI_CAP_NOTIFY  2
#define VIRTIO_PCI_CAP_ISR     3
#define VIRTIO_PCI_CAP_DEVICE  4
#define PCI_CAP_ID_VNDR        0x09
#define PCI_CAP_ID_MSIX        0x11
#define MSIX_CTRL_ENABLE       0x8000
#define MSIX_CTRL_MASKALL      0x4000
#define MSIX_ENTRY_MASKED      1u

/* ---- interrupts ---- */

static bool virtio_msix_enabled(struct virtio_pci *vp, bool *masked_all)
{
	uint32_t ctrl = pci_device_conf_read(vp->bus, &vp->pci, (uint16_t)(vp->msix_cap + 2), 2);

	*masked_all = ctrl & MSIX_CTRL_MASKALL;
	return ctrl & MSIX_CTRL_ENABLE;
}

static void virtio_fire_vector(struct virtio_pci *vp, uint16_t vector)
{
	evloop_signal_fd(vp->vec_efd[vector]);
}

/* The pending vectors among `which` that may go out now (MSI-X enabled,
 * the function not masked, their entries not masked) leave the PBA; the
 * caller fires them after unlocking. Called with vp->lock. */
static uint64_t virtio_msix_unpend_locked(struct virtio_pci *vp, uint64_t which)
{
	bool masked_all;
	uint64_t go = 0;

	if (!virtio_msix_enabled(vp, &masked_all) || masked_all)
		return 0;
	for (unsigned int v = 0; v < VIRTIO_MSIX_VECTORS; v++)
		if ((which & vp->st.msix_pending & (1ULL << v)) &&
		    !(vp->st.msix[v].ctrl & MSIX_ENTRY_MASKED))
			go |= 1ULL << v;
	vp->st.msix_pending &= ~go;
	return go;
}

static void virtio_fire_vectors(struct virtio_pci *vp, uint64_t go)
{
	for (unsigned int v = 0; v < VIRTIO_MSIX_VECTORS; v++)
		if (go & (1ULL << v))
			virtio_fire_vector(vp, (uint16_t)v);
}

/* The guest wrote configuration space: a write to MSI-X message control
 * may have cleared the function mask (or enabled MSI-X) with vectors
 * pending. */
static void virtio_conf_written(struct pci_device *dev, unsigned int offset, int size)
{
	struct virtio_pci *vp = dev->opaque;
	unsigned int ctrl = vp->msix_cap + 2u;
	uint64_t go;

	if (offset >= ctrl + 2 || offset + (unsigned int)size <= ctrl)
		return;
	pthread_mutex_lock(&vp->lock);
	go = virtio_msix_unpend_locked(vp, ~0ULL);
	pthread_mutex_unlock(&vp->lock);
	virtio_fire_vectors(vp, go);
}

/* Raise queue q's vector (q < 0: the configuration vector) through MSI-X,
 * or the INTx line with ISR bit `isr_bit`. */
static void virtio_raise(struct virtio_pci *vp, int q, uint8_t isr_bit)
{
	bool masked_all, fire = false, intx = false;
	uint16_t vector;

	pthread_mutex_lock(&vp->lock);
	vector = q < 0 ? vp->st.msix_config : vp->queues[q].msix_vector;
	if (virtio_msix_enabled(vp, &masked_all)) {
		if (vector < VIRTIO_MSIX_VECTORS) {
			if (masked_all || (vp->st.msix[vector].ctrl & MSIX_ENTRY_MASKED))
				vp->st.msix_pending |= 1ULL << vector;
			else
				fire = true;
		}
	} else {
		vp->st.isr |= isr_bit;
		intx = true;
	}
	pthread_mutex_unlock(&vp->lock);
	if (fire)
		virtio_fire_vector(vp, vector);
	if (intx && vp->intx_gsi >= 0)
		vm_irq_line(vp->vm, (unsigned int)vp->intx_gsi, 1);
}

void virtio_pci_queue_done(struct virtio_pci *vp, unsigned int q)
{
	struct virtio_pci_queue *vq = &vp->queues[q];

	if (q >= vp->ops->num_queues || !vq_should_notify(&vq->vq))
		return;
	virtio_raise(vp, (int)q, 1);
}

void virtio_pci_needs_reset(struct virtio_pci *vp)
{
	bool live;

	/* Only a live device: a device the driver has reset (status 0, or
	 * set-up under way) would read NEEDS_RESET where the driver waits for
	 * 0, and work that began before the reset may still end here. */
	pthread_mutex_lock(&vp->lock);
	live = vp->st.status & VIRTIO_STATUS_DRIVER_OK;
	if (live) {
		vp->st.status |= VIRTIO_STATUS_NEEDS_RESET;
		vp->st.config_gen++;
	}
	pthread_mutex_unlock(&vp->lock);
	if (!live)
		return;
	log_warn("%s: the guest driver broke a virtqueue's rules: device needs a reset",
		 vp->ops->name);
	virtio_raise(vp, -1, 2);
}

bool virtio_pci_queue_live(struct virtio_pci *vp, unsigned int q)
{
	const struct virtqueue *vq = &vp->queues[q].vq;
	bool live;

	pthread_mutex_lock(&vp->lock);
	live = vq->ready && !vq->broken && (vp->st.status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vp->st.status & VIRTIO_STATUS_NEEDS_RESET);
	pthread_mutex_unlock(&vp->lock);
	return live;
}

uint64_t virtio_pci_features(struct virtio_pci *vp)
{
	uint64_t f;

	pthread_mutex_lock(&vp->lock);
	f = vp->st.driver_features;
	pthread_mutex_unlock(&vp->lock);
	return f;
}

/* ---- notifications (ioeventfd) ---- */

static void virtio_kick(struct virtio_pci *vp, unsigned int q)
{
	evloop_signal_fd(vp->queues[q].kick_efd);
}

static void virtio_ioeventfds(struct virtio_pci *vp, uint64_t base, bool assign)
{
	for (unsigned int q = 0; q < vp->ops->num_queues; q++) {
		struct kvm_ioeventfd io = {
			.addr = base + VIRTIO_NOTIFY_OFF + q * VIRTIO_NOTIFY_MULT,
			.len = 2,
			.fd = vp->queues[q].kick_efd,
			.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
		};
		if (ioctl(vp->vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
			log_warn("%s: KVM_IOEVENTFD %s queue %u: %s", vp->ops->name,
				 assign ? "assign" : "deassign", q, strerror(errno));
	}
}

static void virtio_bar_moved(struct pci_device *dev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_pci *vp = dev->opaque;

	if (bar != 0)
		return;
	if (old_addr)
		virtio_ioeventfds(vp, old_addr, false);
	if (new_addr)
		virtio_ioeventfds(vp, new_addr, true);
	vp->notify_base = new_addr;
}

static void virtio_loop_kick(void *opaque, int fd)
{
	struct virtio_pci *vp = opaque;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	for (unsigned int q = 0; q < vp->ops->num_queues; q++) {
		struct virtio_pci_queue *vq = &vp->queues[q];

		if (vq->kick_efd != fd)
			continue;
		if (vp->kick_hook)
			vp->kick_hook(vp, q);
		/* Looked at under the queue's lock, which a reset takes too: a
		 * reset before this point makes the kick a no-op, one after it
		 * waits until the queue has been run. */
		pthread_mutex_lock(&vq->lock);
		if (virtio_pci_queue_live(vp, q))
			vp->ops->queue_notify(vp->dev, vp, q);
		pthread_mutex_unlock(&vq->lock);
		return;
	}
}

/* ---- common configuration ---- */

struct virtio_field {
	uint16_t off, len;
};

enum {
	F_DFSELECT, F_DF, F_GFSELECT, F_GF, F_MSIX_CONFIG, F_NUM_QUEUES, F_STATUS, F_GEN,
	F_QSELECT, F_QSIZE, F_QMSIX, F_QENABLE, F_QNOTIFY_OFF, F_QDESC, F_QDRIVER, F_QDEVICE,
	F_COUNT
};

static const struct virtio_field virtio_fields[F_COUNT] = {
	[F_DFSELECT] = { 0x00, 4 }, [F_DF] = { 0x04, 4 }, [F_GFSELECT] = { 0x08, 4 },
	[F_GF] = { 0x0c, 4 }, [F_MSIX_CONFIG] = { 0x10, 2 }, [F_NUM_QUEUES] = { 0x12, 2 },
	[F_STATUS] = { 0x14, 1 }, [F_GEN] = { 0x15, 1 }, [F_QSELECT] = { 0x16, 2 },
	[F_QSIZE] = { 0x18, 2 }, [F_QMSIX] = { 0x1a, 2 }, [F_QENABLE] = { 0x1c, 2 },
	[F_QNOTIFY_OFF] = { 0x1e, 2 }, [F_QDESC] = { 0x20, 8 }, [F_QDRIVER] = { 0x28, 8 },
	[F_QDEVICE] = { 0x30, 8 },
};

static uint64_t virtio_device_features(const struct virtio_pci *vp)
{
	return vp->ops->features | VIRTIO_F_VERSION_1;
}

static struct virtio_pci_queue *virtio_sel_queue(struct virtio_pci *vp)
{
	return vp->st.queue_sel < vp->ops->num_queues ? &vp->queues[vp->st.queue_sel] : NULL;
}

/* The whole common structure as the driver sees it. Called with vp->lock. */
static void virtio_common_snapshot(struct virtio_pci *vp, uint8_t buf[VIRTIO_COMMON_LEN])
{
	struct virtio_pci_queue *q = virtio_sel_queue(vp);
	uint64_t df = virtio_device_features(vp);
	uint64_t v[F_COUNT] = { 0 };

	memset(buf, 0, VIRTIO_COMMON_LEN);
	v[F_DFSELECT] = vp->st.dfselect;
	v[F_DF] = vp->st.dfselect == 0 ? (uint32_t)df : vp->st.dfselect == 1 ? df >> 32 : 0;
	v[F_GFSELECT] = vp->st.gfselect;
	v[F_GF] = vp->st.gfselect == 0 ? (uint32_t)vp->st.driver_features :
		  vp->st.gfselect == 1 ? vp->st.driver_features >> 32 : 0;
	v[F_MSIX_CONFIG] = vp->st.msix_config;
	v[F_NUM_QUEUES] = vp->ops->num_queues;
	v[F_STATUS] = vp->st.status;
	v[F_GEN] = vp->st.config_gen;
	v[F_QSELECT] = vp->st.queue_sel;
	if (q) {
		v[F_QSIZE] = q->vq.size;
		v[F_QMSIX] = q->msix_vector;
		v[F_QENABLE] = q->vq.ready;
		v[F_QNOTIFY_OFF] = vp->st.queue_sel;
		v[F_QDESC] = q->vq.desc_gpa;
		v[F_QDRIVER] = q->vq.avail_gpa;
		v[F_QDEVICE] = q->vq.used_gpa;
	}
	for (int f = 0; f < F_COUNT; f++)
		le_put(buf + virtio_fields[f].off, v[f], virtio_fields[f].len);
}

/* Transport state back to reset. Called with vp->lock; the queues are
 * reset separately by virtio_reset_queues() without it, because the I/O
 * thread takes a queue's lock first and vp->lock second. A kick between
 * the two finds status 0 and does nothing. */
static void virtio_reset_locked(struct virtio_pci *vp)
{
	vp->st.dfselect = vp->st.gfselect = 0;
	vp->st.driver_features = 0;
	vp->st.status = 0;
	vp->st.queue_sel = 0;
	vp->st.msix_config = VIRTIO_NO_VECTOR;
	vp->st.isr = 0;
	vp->st.msix_pending = 0;
}

static void virtio_reset_queues(struct virtio_pci *vp)
{
	for (unsigned int q = 0; q < vp->ops->num_queues; q++) {
		struct virtio_pci_queue *vq = &vp->queues[q];

		/* Both locks: the queue's waits for a run in progress, vp->lock
		 * orders this against the common configuration's readers. */
		pthread_mutex_lock(&vq->lock);
		pthread_mutex_lock(&vp->lock);
		vq_reset(&vq->vq);
		vq->vq.size = vp->ops->queue_max;
		vq->msix_vector = VIRTIO_NO_VECTOR;
		pthread_mutex_unlock(&vp->lock);
		pthread_mutex_unlock(&vq->lock);
	}
}

static void virtio_write_status(struct virtio_pci *vp, uint8_t st, bool *kick_all, bool *reset)
{
	uint64_t df = virtio_device_features(vp);

	if (st == 0) {
		virtio_reset_locked(vp);
		*reset = true;
		return;
	}
	if ((st & VIRTIO_STATUS_FEATURES_OK) && !(vp->st.status & VIRTIO_STATUS_FEATURES_OK) &&
	    ((vp->st.driver_features & ~df) || !(vp->st.driver_features & VIRTIO_F_VERSION_1)))
		st &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;  /* the driver reads it back */
	if ((st & VIRTIO_STATUS_DRIVER_OK) && !(vp->st.status & VIRTIO_STATUS_DRIVER_OK))
		*kick_all = true;
	vp->st.status = (uint8_t)(st | (vp->st.status & VIRTIO_STATUS_NEEDS_RESET));
}

/* Called with vp->lock, on a queue that is not ready (so the I/O thread
 * leaves it alone: it runs only a live queue, virtio_pci_queue_live). The
 * queue starts clean whatever was left on it: not broken, indexes 0. */
static void virtio_queue_enable(struct virtio_pci *vp, struct virtio_pci_queue *q)
{
	q->vq.broken = false;
	q->vq.last_avail = 0;
	q->vq.used_idx = 0;
	q->vq.signalled_used = 0;
	q->vq.signalled_valid = false;
	q->vq.walked = 0;
	q->vq.event_idx = vp->st.driver_features & VIRTIO_F_RING_EVENT_IDX;
	q->vq.indirect = vp->st.driver_features & VIRTIO_F_RING_INDIRECT_DESC;
	if (vq_validate(&q->vq) == 0)
		q->vq.ready = true;
	else
		log_warn("%s: the driver enabled a queue whose rings are not in guest RAM",
			 vp->ops->name);
}

/* Apply one written field. Called with vp->lock. */
static void virtio_common_apply(struct virtio_pci *vp, int f, uint64_t v, bool *kick_all,
				bool *reset)
{
	struct virtio_pci_queue *q = virtio_sel_queue(vp);
	bool q_open = q && !q->vq.ready;

	switch (f) {
	case F_DFSELECT: vp->st.dfselect = (uint32_t)v; break;
	case F_GFSELECT: vp->st.gfselect = (uint32_t)v; break;
	case F_GF:
		if (vp->st.status & VIRTIO_STATUS_FEATURES_OK || vp->st.gfselect > 1)
			break;
		if (vp->st.gfselect == 0)
			vp->st.driver_features = (vp->st.driver_features & ~0xffffffffULL) | (uint32_t)v;
		else
			vp->st.driver_features = (vp->st.driver_features & 0xffffffffULL) | (v << 32);
		break;
	case F_MSIX_CONFIG:
		vp->st.msix_config = v < VIRTIO_MSIX_VECTORS ? (uint16_t)v : VIRTIO_NO_VECTOR;
		break;
	case F_STATUS: virtio_write_status(vp, (uint8_t)v, kick_all, reset); break;
	case F_QSELECT:
		/* Any queue beyond the last is "none" (its size reads 0). */
		vp->st.queue_sel = v < vp->ops->num_queues ? (uint16_t)v : vp->ops->num_queues;
		break;
	case F_QSIZE:
		if (q_open && v && v <= vp->ops->queue_max && !(v & (v - 1)))
			q->vq.size = (uint16_t)v;
		break;
	case F_QMSIX:
		if (q)
			q->msix_vector = v < VIRTIO_MSIX_VECTORS ? (uint16_t)v : VIRTIO_NO_VECTOR;
		break;
	case F_QENABLE:
		if (q_open && v == 1)
			virtio_queue_enable(vp, q);
		break;
	case F_QDESC: if (q_open) q->vq.desc_gpa = v; break;
	case F_QDRIVER: if (q_open) q->vq.avail_gpa = v; break;
	case F_QDEVICE: if (q_open) q->vq.used_gpa = v; break;
	default: break; /* read-only */
	}
}

static void virtio_common_io(struct virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len,
			     bool is_write)
{
	uint8_t buf[VIRTIO_COMMON_LEN], old[VIRTIO_COMMON_LEN];
	bool kick_all = false, reset = false, isr_clear;

	if (off >= VIRTIO_COMMON_LEN || len > VIRTIO_COMMON_LEN - off) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&vp->lock);
	virtio_common_snapshot(vp, buf);
	if (!is_write) {
		memcpy(data, buf + off, len);
		pthread_mutex_unlock(&vp->lock);
		return;
	}
	memcpy(old, buf, sizeof(old));
	memcpy(buf + off, data, len);
	for (int f = 0; f < F_COUNT; f++) {
		const struct virtio_field *fd = &virtio_fields[f];
		if (fd->off + fd->len <= off || fd->off >= off + len)
			continue;  /* not touched by this write */
		virtio_common_apply(vp, f, le_get(buf + fd->off, fd->len), &kick_all, &reset);
	}
	pthread_mutex_unlock(&vp->lock);
	if (reset)
		virtio_reset_queues(vp);
	if (reset && vp->ops->reset)
		vp->ops->reset(vp->dev);
	if (reset) {
		pthread_mutex_lock(&vp->lock);
		isr_clear = vp->st.isr == 0;
		pthread_mutex_unlock(&vp->lock);
		if (isr_clear && vp->intx_gsi >= 0)
			vm_irq_line(vp->vm, (unsigned int)vp->intx_gsi, 0);
	}
	if (kick_all)
		for (unsigned int q = 0; q < vp->ops->num_queues; q++)
			virtio_kick(vp, q);
}

/* ---- ISR, device config, MSI-X ---- */

static void virtio_isr_io(struct virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	uint8_t isr;

	if (is_write)
		return;
	memset(data, 0, len);
	if (off != 0)
		return;
	pthread_mutex_lock(&vp->lock);
	isr = vp->st.isr;
	vp->st.isr = 0;
	pthread_mutex_unlock(&vp->lock);
	data[0] = isr;
	if (isr && vp->intx_gsi >= 0)
		vm_irq_line(vp->vm, (unsigned int)vp->intx_gsi, 0);
}

static void virtio_devcfg_io(struct virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len,
			     bool is_write)
{
	if (off >= vp->ops->config_len || len > vp->ops->config_len - off) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write && vp->ops->config_write)
		vp->ops->config_write(vp->dev, (uint32_t)off, data, len);
	else if (!is_write && vp->ops->config_read)
		vp->ops->config_read(vp->dev, (uint32_t)off, data, len);
	else if (!is_write)
		memset(data, 0, len);
}

static void virtio_msix_io(struct virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len,
			   bool is_write)
{
	unsigned int vec = (unsigned int)(off / 16), word = (unsigned int)(off % 16) / 4;
	uint32_t *f;
	bool reroute = false;
	uint64_t go = 0;
	struct msix_entry e;

	if (vec >= VIRTIO_MSIX_VECTORS || (off % 4) + len > 4 || (len != 4 && len != 2 && len != 1)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&vp->lock);
	f = &vp->st.msix[vec].addr_lo + word;
	if (!is_write) {
		le_put(data, *f >> (8 * (off % 4)), len);
		pthread_mutex_unlock(&vp->lock);
		return;
	}
	{
		uint8_t b[4];
		le_put(b, *f, 4);
		memcpy(b + off % 4, data, len);
		*f = (uint32_t)le_get(b, 4);
	}
	if (word < 3)
		reroute = true;
	else    /* vector control: unmasked with its vector pending? */
		go = virtio_msix_unpend_locked(vp, 1ULL << vec);
	e = vp->st.msix[vec];
	pthread_mutex_unlock(&vp->lock);
	if (reroute)
		irq_msi_set(vp->irq, vp->vec_gsi[vec],
			    ((uint64_t)e.addr_hi << 32) | e.addr_lo, e.data);
	virtio_fire_vectors(vp, go);
}

static void virtio_bar_io(struct pci_device *dev, int bar, uint64_t off, uint8_t *data,
			  uint32_t len, bool is_write)
{
	struct virtio_pci *vp = dev->opaque;

	if (bar != 0) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (off < VIRTIO_NOTIFY_OFF) {
		virtio_common_io(vp, off - VIRTIO_COMMON_OFF, data, len, is_write);
	} else if (off < VIRTIO_ISR_OFF) {
		/* A kick that missed the ioeventfd (another width): same effect. */
		unsigned int q = (unsigned int)((off - VIRTIO_NOTIFY_OFF) / VIRTIO_NOTIFY_MULT);
		if (is_write && q < vp->ops->num_queues)
			virtio_kick(vp, q);
		else if (!is_write)
			memset(data, 0, len);
	} else if (off < VIRTIO_DEVCFG_OFF) {
		virtio_isr_io(vp, off - VIRTIO_ISR_OFF, data, len, is_write);
	} else if (off < VIRTIO_MSIX_TABLE_OFF) {
		virtio_devcfg_io(vp, off - VIRTIO_DEVCFG_OFF, data, len, is_write);
	} else if (off < VIRTIO_MSIX_PBA_OFF) {
		virtio_msix_io(vp, off - VIRTIO_MSIX_TABLE_OFF, data, len, is_write);
	} else if (!is_write) {
		uint64_t pba;
		pthread_mutex_lock(&vp->lock);
		pba = vp->st.msix_pending;
		pthread_mutex_unlock(&vp->lock);
		memset(data, 0, len);
		if (off - VIRTIO_MSIX_PBA_OFF < 8)
			le_put(data, pba >> (8 * (off - VIRTIO_MSIX_PBA_OFF)), len);
	}
}

/* ---- set-up ---- */

static int virtio_add_vndr_cap(struct pci_device *pci, uint8_t type, uint32_t off, uint32_t len,
			       uint32_t extra, bool has_extra)
{
	uint8_t cap[20] = { PCI_CAP_ID_VNDR, 0, has_extra ? 20 : 16, type, 0 /* bar */ };

	le_put(cap + 8, off, 4);
	le_put(cap + 12, len, 4);
	if (has_extra)
		le_put(cap + 16, extra, 4);
	return pci_device_add_cap(pci, cap, has_extra ? 20 : 16);
}

static int virtio_add_caps(struct virtio_pci *vp)
{
	uint8_t msix[12] = { PCI_CAP_ID_MSIX, 0 };
	int off, r;

	r = virtio_add_vndr_cap(&vp->pci, VIRTIO_PCI_CAP_COMMON, VIRTIO_COMMON_OFF,
				VIRTIO_COMMON_LEN, 0, false);
	if (r >= 0)
		r = virtio_add_vndr_cap(&vp->pci, VIRTIO_PCI_CAP_NOTIFY, VIRTIO_NOTIFY_OFF,
					vp->ops->num_queues * VIRTIO_NOTIFY_MULT,
					VIRTIO_NOTIFY_MULT, true);
	if (r >= 0)
		r = virtio_add_vndr_cap(&vp->pci, VIRTIO_PCI_CAP_ISR, VIRTIO_ISR_OFF, 4, 0, false);
	if (r >= 0 && vp->ops->config_len)
		r = virtio_add_vndr_cap(&vp->pci, VIRTIO_PCI_CAP_DEVICE, VIRTIO_DEVCFG_OFF,
					vp->ops->config_len, 0, false);
	if (r < 0)
		return r;
	le_put(msix + 2, VIRTIO_MSIX_VECTORS - 1, 2);
	le_put(msix + 4, VIRTIO_MSIX_TABLE_OFF | 0, 4);
	le_put(msix + 8, VIRTIO_MSIX_PBA_OFF | 0, 4);
	off = pci_device_add_cap(&vp->pci, msix, sizeof(msix));
	if (off < 0)
		return off;
	vp->msix_cap = (uint8_t)off;
	vp->pci.wmask[off + 3] = 0xc0;  /* MSI-X enable, function mask */
	return 0;
}

int virtio_pci_init(struct virtio_pci *vp, const struct device_host *h,
		    const struct virtio_device_ops *ops, void *dev)
{
	struct vm *vm = h->vm;
	struct pci_bus *bus = h->pci;
	struct irq_router *irq = h->irq;
	struct evloop *loop = h->loop;
	int r, slot;

	if (ops->num_queues == 0 || ops->num_queues > VIRTIO_MAX_QUEUES ||
	    ops->queue_max == 0 || ops->queue_max > VQ_MAX_SIZE ||
	    (ops->queue_max & (ops->queue_max - 1)) || ops->config_len > VIRTIO_DEVCFG_LEN)
		return -EINVAL;
	memset(vp, 0, sizeof(*vp));
	vp->ops = ops;
	vp->dev = dev;
	vp->vm = vm;
	vp->bus = bus;
	vp->irq = irq;
	pthread_mutex_init(&vp->lock, NULL);
	pci_device_init(&vp->pci, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id),
			ops->class_code, 1, VIRTIO_PCI_VENDOR, ops->device_id);
	vp->pci.opaque = vp;
	vp->pci.bar_moved = virtio_bar_moved;
	vp->pci.bar_io = virtio_bar_io;
	vp->pci.conf_written = virtio_conf_written;
	vp->pci.config[0x3d] = 1;  /* INTA */
	r = pci_device_set_bar(&vp->pci, 0, VIRTIO_BAR0_SIZE, false, true);
	if (r)
		return r;
	r = virtio_add_caps(vp);
	if (r)
		return r;
	for (unsigned int v = 0; v < VIRTIO_MSIX_VECTORS; v++) {
		vp->st.msix[v].ctrl = MSIX_ENTRY_MASKED;
		vp->vec_gsi[v] = irq_msi_alloc(irq, &vp->vec_efd[v]);
		if (vp->vec_gsi[v] < 0)
			return vp->vec_gsi[v];
	}
	for (unsigned int q = 0; q < ops->num_queues; q++) {
		struct virtio_pci_queue *vq = &vp->queues[q];
		pthread_mutex_init(&vq->lock, NULL);
		vq->vq.mem = &vm->mem;
		vq->kick_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vq->kick_efd < 0)
			return -errno;
		r = evloop_add(loop, vq->kick_efd, virtio_loop_kick, vp);
		if (r)
			return r;
	}
	virtio_reset_locked(vp);
	virtio_reset_queues(vp);
	slot = pci_bus_add(bus, &vp->pci, h->pci_slot > 0 ? h->pci_slot : 0);
	if (slot < 0)
		return slot;
	vp->intx_gsi = h->intx_gsi;
	vp->pci.config[0x3c] = h->intx_gsi >= 0 ? (uint8_t)h->intx_gsi : 0xff;
	return 0;
}

/* ---- device state ----
 *
 * Requests in flight: none. Every device completes a request in the same
 * I/O-loop callback that took it (blk, rng: synchronously; net: transmit
 * hands the frame to its backend and completes it, receive copies a whole
 * frame), and the machine parks the I/O loop only between callbacks, so at
 * save every taken request is on the used ring (vq_check refuses a state
 * where used_idx != last_avail). */

#define VIRTIO_STATUS_KNOWN (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
			     VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK | \
			     VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)
#define VIRTIO_MSIX_ALL     ((1ULL << VIRTIO_MSIX_VECTORS) - 1)

void virtio_pci_save(struct virtio_pci *vp, struct virtio_pci_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&vp->lock);
	st->regs = vp->st;
	pthread_mutex_unlock(&vp->lock);
	st->num_queues = vp->ops->num_queues;
	for (unsigned int q = 0; q < vp->ops->num_queues; q++) {
		struct virtio_pci_queue *vq = &vp->queues[q];

		pthread_mutex_lock(&vq->lock);
		vq_save(&vq->vq, &st->queues[q].vq);
		st->queues[q].msix_vector = vq->msix_vector;
		pthread_mutex_unlock(&vq->lock);
	}
}

static bool virtio_vector_ok(uint16_t v)
{
	return v < VIRTIO_MSIX_VECTORS || v == VIRTIO_NO_VECTOR;
}

static bool virtio_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static int virtio_queue_check(const struct virtio_pci *vp, const struct virtio_pci_state *st,
			      unsigned int q, char *err, size_t errlen)
{
	const struct virtio_pci_queue_state *qs = &st->queues[q];
	uint64_t f = st->regs.driver_features;
	char what[64];
	int r;

	snprintf(what, sizeof(what), "%s: queue %u", vp->ops->name, q);
	if (!virtio_vector_ok(qs->msix_vector)) {
		snprintf(err, errlen, "%s: msix_vector %u is beyond the %u-entry MSI-X table", what,
			 qs->msix_vector, VIRTIO_MSIX_VECTORS);
		return -EINVAL;
	}
	if (!virtio_zero(qs->pad, sizeof(qs->pad))) {
		snprintf(err, errlen, "%s: pad bytes are not 0", what);
		return -EINVAL;
	}
	r = vq_check(&vp->queues[q].vq, &qs->vq, vp->ops->queue_max, what, err, errlen);
	if (r)
		return r;
	if (qs->vq.ready && (qs->vq.event_idx != !!(f & VIRTIO_F_RING_EVENT_IDX) ||
			     qs->vq.indirect != !!(f & VIRTIO_F_RING_INDIRECT_DESC))) {
		snprintf(err, errlen, "%s: event_idx %u, indirect %u disagree with driver_features "
			 "0x%llx", what, qs->vq.event_idx, qs->vq.indirect, (unsigned long long)f);
		return -EINVAL;
	}
	return 0;
}

int virtio_pci_check(const struct virtio_pci *vp, const struct virtio_pci_state *st, char *err,
		     size_t errlen)
{
	const struct virtio_pci_regs *g = &st->regs;
	const char *name = vp->ops->name;
	uint64_t df = virtio_device_features(vp);
	int r;

	if (st->num_queues != vp->ops->num_queues) {
		snprintf(err, errlen, "%s: num_queues %u, the device has %u", name, st->num_queues,
			 vp->ops->num_queues);
		return -EINVAL;
	}
	if (g->queue_sel > vp->ops->num_queues) {
		snprintf(err, errlen, "%s: queue_sel %u is beyond num_queues %u", name, g->queue_sel,
			 vp->ops->num_queues);
		return -EINVAL;
	}
	if (!virtio_vector_ok(g->msix_config)) {
		snprintf(err, errlen, "%s: msix_config %u is beyond the %u-entry MSI-X table", name,
			 g->msix_config, VIRTIO_MSIX_VECTORS);
		return -EINVAL;
	}
	if (g->status & ~VIRTIO_STATUS_KNOWN) {
		snprintf(err, errlen, "%s: status 0x%02x has bits no device status has (0x%02x)",
			 name, g->status, g->status & ~VIRTIO_STATUS_KNOWN);
		return -EINVAL;
	}
	if ((g->status & VIRTIO_STATUS_FEATURES_OK) &&
	    ((g->driver_features & ~df) || !(g->driver_features & VIRTIO_F_VERSION_1))) {
		snprintf(err, errlen, "%s: status has FEATURES_OK but driver_features 0x%llx are not "
			 "VERSION_1 and a subset of the device's 0x%llx", name,
			 (unsigned long long)g->driver_features, (unsigned long long)df);
		return -EINVAL;
	}
	if (g->isr & ~3u) {
		snprintf(err, errlen, "%s: isr 0x%02x has bits beyond queue (1) and config (2)", name,
			 g->isr);
		return -EINVAL;
	}
	if (g->msix_pending & ~VIRTIO_MSIX_ALL) {
		snprintf(err, errlen, "%s: msix_pending 0x%llx names vectors beyond the %u-entry "
			 "MSI-X table", name, (unsigned long long)g->msix_pending,
			 VIRTIO_MSIX_VECTORS);
		return -EINVAL;
	}
	if (g->pad || !virtio_zero(st->pad, sizeof(st->pad))) {
		snprintf(err, errlen, "%s: pad bytes are not 0", name);
		return -EINVAL;
	}
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (q >= vp->ops->num_queues) {
			if (!virtio_zero(&st->queues[q], sizeof(st->queues[q]))) {
				snprintf(err, errlen, "%s: queue %u is beyond num_queues %u but not "
					 "zero", name, q, vp->ops->num_queues);
				return -EINVAL;
			}
			continue;
		}
		r = virtio_queue_check(vp, st, q, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

void virtio_pci_load(struct virtio_pci *vp, const struct virtio_pci_state *st)
{
	uint64_t bar;
	bool driver_ok;
	uint8_t isr;

	pthread_mutex_lock(&vp->lock);
	vp->st = st->regs;
	isr = vp->st.isr;
	driver_ok = (vp->st.status & VIRTIO_STATUS_DRIVER_OK) &&
		    !(vp->st.status & VIRTIO_STATUS_NEEDS_RESET);
	pthread_mutex_unlock(&vp->lock);
	for (unsigned int q = 0; q < vp->ops->num_queues; q++) {
		struct virtio_pci_queue *vq = &vp->queues[q];

		pthread_mutex_lock(&vq->lock);
		vq_load(&vq->vq, &st->queues[q].vq);
		vq->msix_vector = st->queues[q].msix_vector;
		pthread_mutex_unlock(&vq->lock);
	}
	/* Every vector's route, masked ones too: unmasking an entry fires what
	 * is pending but does not re-route it. */
	for (unsigned int v = 0; v < VIRTIO_MSIX_VECTORS; v++) {
		const struct msix_entry *e = &st->regs.msix[v];
		int r = irq_msi_set(vp->irq, vp->vec_gsi[v], ((uint64_t)e->addr_hi << 32) | e->addr_lo,
				    e->data);

		if (r)
			log_warn("%s: MSI-X vector %u: cannot route it: %s", vp->ops->name, v,
				 strerror(-r));
	}
	/* The notify area follows BAR0 (the pci-host restore moves it and calls
	 * virtio_bar_moved; this covers either order). */
	pthread_mutex_lock(&vp->bus->lock);
	bar = pci_device_bar_addr(&vp->pci, 0);
	if (bar != vp->notify_base) {
		if (vp->notify_base)
			virtio_ioeventfds(vp, vp->notify_base, false);
		if (bar)
			virtio_ioeventfds(vp, bar, true);
		vp->notify_base = bar;
	}
	pthread_mutex_unlock(&vp->bus->lock);
	if (vp->intx_gsi >= 0)
		vm_irq_line(vp->vm, (unsigned int)vp->intx_gsi, isr ? 1 : 0);
	if (driver_ok)
		for (unsigned int q = 0; q < vp->ops->num_queues; q++)
			if (st->queues[q].vq.ready)
				virtio_kick(vp, q);
}
