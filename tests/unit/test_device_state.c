/* Unit tests of the device model's state (src/vmm/device.h) for every
 * device class: serial, i8042, acpi-pm, pci-host, virtio-blk, virtio-net,
 * virtio-rng.
 *
 * Each device is built, driven through its guest interface into a state
 * worth saving (registers written, input queued, BARs placed, MSI-X
 * programmed, a virtqueue set up and used by the device's I/O-loop code),
 * saved, then a fresh device is built and the state restored into it: a
 * second save must give the same bytes, the runtime derived from the state
 * must be rebuilt (interrupt lines, MSI routes, notify ioeventfds at the
 * restored BAR) and the device must go on working. restore must refuse
 * another version, another size and every kind of out-of-range field with
 * a message naming the field, and leave the device as it was.
 *
 * There is no KVM here: this file defines ioctl() itself (the test binary's
 * definition wins over libc's), answers the VM's KVM ioctls on a made-up
 * fd and records what the devices asked for (KVM_IOEVENTFD, KVM_IRQ_LINE).
 * Any other fd goes to the real system call. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "hw/acpi_pm.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "hw/serial.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "vmm/device.h"
#include "vmm/evloop.h"
#include "vmm/irq.h"
#include "vmm/vm.h"

/* ---- a fake KVM VM fd ---- */

#define FAKE_VM_FD 0x3ffffff0
#define MAX_IOEVENTFD 64

static struct {
	unsigned int n;
	struct kvm_ioeventfd ev[MAX_IOEVENTFD];
} ioev;
static int irq_level_seen[64];      /* last KVM_IRQ_LINE level per GSI, -1 none */

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd != FAKE_VM_FD)
		return (int)syscall(SYS_ioctl, fd, req, arg);
	switch (req) {
	case KVM_SET_GSI_ROUTING:
	case KVM_IRQFD:
		return 0;
	case KVM_IOEVENTFD:
		if (ioev.n < MAX_IOEVENTFD)
			ioev.ev[ioev.n++] = *(struct kvm_ioeventfd *)arg;
		return 0;
	case KVM_IRQ_LINE: {
		struct kvm_irq_level *l = arg;

		if (l->irq < 64)
			irq_level_seen[l->irq] = (int)l->level;
		return 0;
	}
	default:
		errno = ENOTTY;
		return -1;
	}
}

static void fake_reset(void)
{
	memset(&ioev, 0, sizeof(ioev));
	for (int i = 0; i < 64; i++)
		irq_level_seen[i] = -1;
}

/* Is the notify address `addr` registered (assigned and not deassigned
 * since) with KVM_IOEVENTFD? */
static bool ioev_assigned(uint64_t addr)
{
	bool on = false;

	for (unsigned int i = 0; i < ioev.n; i++)
		if (ioev.ev[i].addr == addr)
			on = !(ioev.ev[i].flags & KVM_IOEVENTFD_FLAG_DEASSIGN);
	return on;
}

/* ---- a board without KVM: guest memory, IRQ router, I/O loop, bus 0 ---- */

#define MEM_SIZE   (1u << 20)
#define RING_BASE  0x10000u            /* queue q's rings at RING_BASE + q * 0x1000 */
#define BUF_BASE   0x40000u            /* buffers */
#define QSIZE      16
#define BAR_BASE   0xc0000000ull       /* function in slot s: BAR0 at BAR_BASE + s * 0x10000 */

struct board {
	struct vm vm;
	uint8_t *ram;
	struct irq_router irq;
	struct evloop loop;
	struct pci_bus bus;
};

/* What the board gives a device (INTx on GSI 17, as the board wires the
 * first slots' INTA). */
#define TEST_INTX_GSI 17

static void board_init(struct board *b)
{
	memset(b, 0, sizeof(*b));
	b->ram = aligned_alloc(4096, MEM_SIZE);
	assert_non_null(b->ram);
	memset(b->ram, 0, MEM_SIZE);
	b->vm.vm_fd = FAKE_VM_FD;
	b->vm.kvm_fd = -1;
	guest_mem_init_layout(&b->vm.mem, b->ram, MEM_SIZE);
	irq_router_init(&b->irq, FAKE_VM_FD);
	assert_int_equal(evloop_init(&b->loop), 0);
	pci_bus_init(&b->bus);
}

static void board_destroy(struct board *b)
{
	evloop_destroy(&b->loop);
	pci_bus_destroy(&b->bus);
	irq_router_destroy(&b->irq);
	free(b->ram);
}

static uint64_t bar_addr(const struct virtio_pci *vp)
{
	return BAR_BASE + (uint64_t)vp->pci.slot * 0x10000;
}

static void mmio(struct board *b, uint64_t addr, uint64_t val, uint32_t len, bool is_write,
		 uint64_t *out)
{
	uint8_t d[8] = { 0 };

	for (uint32_t i = 0; i < len; i++)
		d[i] = (uint8_t)(val >> (8 * i));
	pci_mmio_io(&b->bus, addr - PCI_MMIO_BASE, d, len, is_write);
	if (out) {
		*out = 0;
		for (uint32_t i = 0; i < len; i++)
			*out |= (uint64_t)d[i] << (8 * i);
	}
}

static void vw(struct board *b, struct virtio_pci *vp, uint64_t off, uint64_t val, uint32_t len)
{
	mmio(b, bar_addr(vp) + off, val, len, true, NULL);
}

static uint64_t vr(struct board *b, struct virtio_pci *vp, uint64_t off, uint32_t len)
{
	uint64_t v;

	mmio(b, bar_addr(vp) + off, 0, len, false, &v);
	return v;
}

/* The guest's side of the rings, as the driver does it: 16-bit accesses,
 * an index read with acquire and written with release, so what the device
 * wrote before publishing its used index is visible here, and what this
 * side wrote before its avail index is visible to the device (which is
 * also what ThreadSanitizer checks). Every gpa here is even. */
static uint16_t ram16(struct board *b, uint64_t gpa)
{
	return le16toh(__atomic_load_n((uint16_t *)(void *)(b->ram + gpa), __ATOMIC_ACQUIRE));
}

static void put16(struct board *b, uint64_t gpa, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)(b->ram + gpa), htole16(v), __ATOMIC_RELEASE);
}

static void put32(struct board *b, uint64_t gpa, uint32_t v)
{
	put16(b, gpa, (uint16_t)v);
	put16(b, gpa + 2, (uint16_t)(v >> 16));
}

static void put64(struct board *b, uint64_t gpa, uint64_t v)
{
	put32(b, gpa, (uint32_t)v);
	put32(b, gpa + 4, (uint32_t)(v >> 32));
}

static uint64_t q_desc(unsigned int q) { return RING_BASE + q * 0x1000u; }
static uint64_t q_avail(unsigned int q) { return q_desc(q) + 0x100; }
static uint64_t q_used(unsigned int q) { return q_desc(q) + 0x200; }

/* What the guest's driver does: place BAR0, negotiate `features`, set up
 * `nq` queues of QSIZE (queue q on MSI-X vector q + 1, config on 0) and,
 * with msix, enable MSI-X and program and unmask every vector; DRIVER_OK. */
static void driver_up(struct board *b, struct virtio_pci *vp, unsigned int nq, uint64_t features,
		      bool msix)
{
	uint8_t slot = vp->pci.slot;

	pci_conf_write(&b->bus, 0, slot, 0, 0x10, 4, (uint32_t)bar_addr(vp));
	pci_conf_write(&b->bus, 0, slot, 0, 0x14, 4, 0);
	pci_conf_write(&b->bus, 0, slot, 0, 0x04, 2, 0x0006);
	vw(b, vp, 0x14, 1 | 2, 1);
	vw(b, vp, 0x08, 0, 4);
	vw(b, vp, 0x0c, (uint32_t)features, 4);
	vw(b, vp, 0x08, 1, 4);
	vw(b, vp, 0x0c, (uint32_t)(features >> 32), 4);
	vw(b, vp, 0x14, 1 | 2 | 8, 1);
	assert_int_equal(vr(b, vp, 0x14, 1), 1 | 2 | 8);
	for (unsigned int q = 0; q < nq; q++) {
		vw(b, vp, 0x16, q, 2);
		vw(b, vp, 0x18, QSIZE, 2);
		vw(b, vp, 0x1a, msix ? q + 1 : VIRTIO_NO_VECTOR, 2);
		vw(b, vp, 0x20, q_desc(q), 8);
		vw(b, vp, 0x28, q_avail(q), 8);
		vw(b, vp, 0x30, q_used(q), 8);
		vw(b, vp, 0x1c, 1, 2);
		assert_int_equal(vr(b, vp, 0x1c, 2), 1);
	}
	if (msix) {
		vw(b, vp, 0x10, 0, 2);
		pci_conf_write(&b->bus, 0, slot, 0, (uint16_t)(vp->msix_cap + 2), 2, 0x8000);
		for (unsigned int v = 0; v <= nq; v++) {
			vw(b, vp, VIRTIO_MSIX_TABLE_OFF + 16 * v + 0, 0xfee00000u + 0x1000 * v, 4);
			vw(b, vp, VIRTIO_MSIX_TABLE_OFF + 16 * v + 4, 0, 4);
			vw(b, vp, VIRTIO_MSIX_TABLE_OFF + 16 * v + 8, 0x40 + v, 4);
			vw(b, vp, VIRTIO_MSIX_TABLE_OFF + 16 * v + 12, 0, 4);
		}
	}
	vw(b, vp, 0x16, 0, 2);
	vw(b, vp, 0x14, 1 | 2 | 4 | 8, 1);
}

/* Put descriptor `d` {addr, len, flags, next} in queue q's table. */
static void desc(struct board *b, unsigned int q, uint16_t d, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	uint64_t g = q_desc(q) + 16u * d;

	put64(b, g, addr);
	put32(b, g + 8, len);
	put16(b, g + 12, flags);
	put16(b, g + 14, next);
}

/* Make head `head` available as the driver's avail entry `n` (0, 1, ...)
 * and publish avail idx n + 1. */
static void avail(struct board *b, unsigned int q, uint16_t n, uint16_t head)
{
	put16(b, q_avail(q) + 4 + 2u * (n % QSIZE), head);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	put16(b, q_avail(q) + 2, (uint16_t)(n + 1));
}

static void kick(struct board *b, struct virtio_pci *vp, unsigned int q)
{
	vw(b, vp, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * q, q, 2);
}

/* Wait (up to 5 s) until queue q's used idx reads `want`. */
static void wait_used(struct board *b, unsigned int q, uint16_t want)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 5000 && ram16(b, q_used(q) + 2) != want; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(ram16(b, q_used(q) + 2), want);
}

static void check_msi_routes(struct board *b, struct virtio_pci *vp, unsigned int nvec)
{
	for (unsigned int v = 0; v < nvec; v++) {
		unsigned int i = (unsigned int)(vp->vec_gsi[v] - IRQ_MSI_GSI_BASE);

		assert_true(i < b->irq.n_msi);
		assert_int_equal(b->irq.msi[i].address_lo, 0xfee00000u + 0x1000 * v);
		assert_int_equal(b->irq.msi[i].address_hi, 0);
		assert_int_equal(b->irq.msi[i].data, 0x40 + v);
	}
}

/* ---- helpers for every class ---- */

static void *save_new(const struct device_class *c, void *dev)
{
	void *st = malloc(c->state_size);

	assert_non_null(st);
	memset(st, 0xa5, c->state_size);   /* save must write every byte */
	c->save(dev, st);
	return st;
}

static void assert_same_state(const struct device_class *c, void *dev, const void *want)
{
	void *now = save_new(c, dev);

	assert_memory_equal(now, want, c->state_size);
	free(now);
}

/* restore(modified) must fail naming `field`, and the device must be
 * unchanged (its save still equals `cur`). */
static void assert_refused(const struct device_class *c, void *dev, const void *cur,
			   const void *bad, size_t size, uint32_t version, const char *field)
{
	char err[256] = "";
	int r = c->restore(dev, bad, size, version, err, sizeof(err));

	if (r != -EINVAL || !strstr(err, field) || strncmp(err, c->name, strlen(c->name)))
		fail_msg("%s: restore with bad %s returned %d, message \"%s\"", c->name, field, r,
			 err);
	assert_same_state(c, dev, cur);
}

/* Refuse another version and another size of an otherwise good state. */
static void assert_header_checks(const struct device_class *c, void *dev, const void *cur)
{
	uint8_t *big = calloc(1, c->state_size + 8);

	assert_non_null(big);
	memcpy(big, cur, c->state_size);
	assert_refused(c, dev, cur, cur, c->state_size, c->state_version + 1, "version");
	assert_refused(c, dev, cur, big, c->state_size + 8, c->state_version, "size");
	assert_refused(c, dev, cur, cur, c->state_size - 1, c->state_version, "size");
	free(big);
}

#define REFUSE(c, dev, cur, type, field, stmt)                                              \
	do {                                                                                \
		type bad_;                                                                  \
		memcpy(&bad_, (cur), sizeof(bad_));                                         \
		{ type *x = &bad_; stmt; }                                                  \
		assert_refused((c), (dev), (cur), &bad_, sizeof(bad_), (c)->state_version,  \
			       (field));                                                    \
	} while (0)

/* ---- serial ---- */

static int serial_irq_level = -1;
static char serial_out[64];
static size_t serial_nout;

static void serial_irq_rec(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	assert_int_equal(irq, SERIAL_COM1_IRQ);
	serial_irq_level = level;
}

static void serial_out_rec(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	for (size_t i = 0; i < len && serial_nout < sizeof(serial_out); i++)
		serial_out[serial_nout++] = (char)buf[i];
}

static void sio(struct serial8250 *s, unsigned int reg, uint8_t v)
{
	serial_io(s, reg, &v, 1, true);
}

static uint8_t s_in(struct serial8250 *s, unsigned int reg)
{
	uint8_t v = 0;

	serial_io(s, reg, &v, 1, false);
	return v;
}

static void test_serial_state(void **state)
{
	const struct device_class *c = &serial_class;
	struct serial8250 *s = calloc(1, sizeof(*s));
	void *st;

	(void)state;
	assert_non_null(s);
	assert_string_equal(c->name, "serial");
	serial_init(s, SERIAL_COM1_IRQ, serial_irq_rec, NULL, serial_out_rec, NULL);
	/* quiesced, the UART takes no host input (the console threads push it) */
	assert_non_null(c->quiesce);
	c->quiesce(s);
	assert_int_equal(serial_rx_push(s, (const uint8_t *)"x", 1), 0);
	c->resume(s);
	assert_int_equal(serial_rx_push(s, (const uint8_t *)"x", 1), 1);
	{
		uint8_t rbr;
		serial_io(s, 0, &rbr, 1, false);   /* take it back out */
		assert_int_equal(rbr, 'x');
	}
	sio(s, 3, 0x80);                 /* DLAB */
	sio(s, 0, 0x01);                 /* 115200 */
	sio(s, 1, 0x00);
	sio(s, 3, 0x03);                 /* 8n1 */
	sio(s, 2, 0xc7);                 /* FIFO on, cleared, trigger 14 */
	sio(s, 4, 0x0b);                 /* DTR RTS OUT2 */
	sio(s, 7, 0x5a);
	sio(s, 1, 0x01);                 /* RDI */
	sio(s, 0, 'x');
	assert_int_equal(serial_rx_push(s, (const uint8_t *)"hello", 5), 5);
	assert_int_equal(s_in(s, 0), 'h');
	assert_int_equal(serial_irq_level, 1);
	st = save_new(c, s);
	serial_destroy(s);

	serial_irq_level = -1;
	serial_init(s, SERIAL_COM1_IRQ, serial_irq_rec, NULL, serial_out_rec, NULL);
	assert_int_equal(serial_irq_level, -1);
	{
		char err[256] = "";
		assert_int_equal(c->restore(s, st, c->state_size, c->state_version, err,
					    sizeof(err)), 0);
	}
	assert_int_equal(serial_irq_level, 1);  /* the line is driven from the registers */
	assert_same_state(c, s, st);

	assert_header_checks(c, s, st);
	REFUSE(c, s, st, struct serial_state, "ier", x->ier = 0x10);
	REFUSE(c, s, st, struct serial_state, "mcr", x->mcr = 0x20);
	REFUSE(c, s, st, struct serial_state, "fcr", x->fcr = 0x02);
	REFUSE(c, s, st, struct serial_state, "fcr", x->fcr = 0xc3);
	REFUSE(c, s, st, struct serial_state, "lsr", x->lsr = 0x21);
	REFUSE(c, s, st, struct serial_state, "thr_irq", x->thr_irq = 2);
	REFUSE(c, s, st, struct serial_state, "pad", x->pad = 1);
	REFUSE(c, s, st, struct serial_state, "rx_head", x->rx_head = SERIAL_RX_BUF);
	REFUSE(c, s, st, struct serial_state, "rx_count", x->rx_count = SERIAL_RX_BUF + 1);
	REFUSE(c, s, st, struct serial_state, "iir", x->iir = 0x02);
	REFUSE(c, s, st, struct serial_state, "iir", x->rx_count = 0);
	REFUSE(c, s, st, struct serial_state, "msr", x->msr = 0);

	/* The restored device goes on: the rest of the input, the registers. */
	assert_int_equal(s_in(s, 0), 'e');
	assert_int_equal(s_in(s, 0), 'l');
	assert_int_equal(s_in(s, 7), 0x5a);
	assert_int_equal(s_in(s, 3), 0x03);
	assert_int_equal(s_in(s, 0), 'l');
	assert_int_equal(s_in(s, 0), 'o');
	assert_int_equal(s_in(s, 5) & 0x01, 0);
	assert_int_equal(serial_irq_level, 0);
	serial_destroy(s);
	free(st);
	free(s);
}

/* ---- i8042 ---- */

static void kout(struct i8042 *k, bool cmd, uint8_t v)
{
	if (cmd)
		i8042_command_io(k, 0, &v, 1, true);
	else
		i8042_data_io(k, 0, &v, 1, true);
}

static uint8_t kin(struct i8042 *k, bool cmd)
{
	uint8_t v = 0;

	if (cmd)
		i8042_command_io(k, 0, &v, 1, false);
	else
		i8042_data_io(k, 0, &v, 1, false);
	return v;
}

static void test_i8042_state(void **state)
{
	const struct device_class *c = &i8042_class;
	struct i8042 k;
	void *st;
	char err[256];

	(void)state;
	assert_string_equal(c->name, "i8042");
	i8042_init(&k, NULL, NULL);
	kout(&k, true, 0x60);
	kout(&k, false, 0x47);           /* CTR */
	kout(&k, true, 0xad);            /* keyboard off */
	kout(&k, true, 0x20);            /* read CTR: output buffer full */
	kout(&k, true, 0xd1);            /* write output port: waits for its byte */
	st = save_new(c, &k);
	i8042_destroy(&k);

	i8042_init(&k, NULL, NULL);
	assert_int_equal(c->restore(&k, st, c->state_size, c->state_version, err, sizeof(err)), 0);
	assert_same_state(c, &k, st);
	assert_header_checks(c, &k, st);
	REFUSE(c, &k, st, struct i8042_state, "status", x->status |= 0x01);
	REFUSE(c, &k, st, struct i8042_state, "status", x->status &= (uint8_t)~0x10);
	REFUSE(c, &k, st, struct i8042_state, "ctr", x->ctr &= (uint8_t)~0x04);
	REFUSE(c, &k, st, struct i8042_state, "pending_cmd", x->pending_cmd = 0x20);
	REFUSE(c, &k, st, struct i8042_state, "out_full", x->out_full = 2);

	assert_int_equal(kin(&k, true) & 0x09, 0x09);   /* OBF, last write a command */
	assert_int_equal(kin(&k, false), 0x47 | 0x10);  /* the CTR read before the save */
	assert_int_equal(kin(&k, true) & 0x01, 0);
	kout(&k, false, 0x03);           /* the awaited output-port byte */
	kout(&k, true, 0xd0);
	assert_int_equal(kin(&k, false), 0x03);
	i8042_destroy(&k);
	free(st);
}

/* ---- acpi-pm ---- */

static int sci_level = -1;

static void sci_rec(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	assert_int_equal(irq, ACPI_SCI_IRQ);
	sci_level = level;
}

static void pm_out(struct acpi_pm *pm, uint64_t off, uint32_t v, uint32_t len)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	acpi_pm_io(pm, off, d, len, true);
}

static uint32_t pm_in(struct acpi_pm *pm, uint64_t off, uint32_t len)
{
	uint8_t d[4] = { 0 };

	acpi_pm_io(pm, off, d, len, false);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void test_acpi_pm_state(void **state)
{
	const struct device_class *c = &acpi_pm_class;
	struct acpi_pm pm;
	void *st;
	char err[256];

	(void)state;
	assert_string_equal(c->name, "acpi-pm");
	acpi_pm_init(&pm, NULL, NULL);
	acpi_pm_set_sci(&pm, sci_rec, NULL);
	pm_out(&pm, 2, ACPI_PM1_EN_PWRBTN | 0x20, 2);            /* PWRBTN_EN, GBL_EN */
	pm_out(&pm, 4, (1u << 10) | ACPI_PM1_CNT_SLP_EN, 2);      /* S1: ignored, SLP_TYP kept */
	acpi_pm_power_button(&pm);
	assert_int_equal(sci_level, 1);
	st = save_new(c, &pm);
	acpi_pm_destroy(&pm);

	sci_level = -1;
	acpi_pm_init(&pm, NULL, NULL);
	acpi_pm_set_sci(&pm, sci_rec, NULL);
	assert_int_equal(sci_level, -1);  /* a low line is not driven at set-up */
	assert_int_equal(c->restore(&pm, st, c->state_size, c->state_version, err, sizeof(err)), 0);
	assert_int_equal(sci_level, 1);   /* the SCI is driven from the restored bits */
	assert_same_state(c, &pm, st);
	assert_header_checks(c, &pm, st);
	REFUSE(c, &pm, st, struct acpi_pm_state, "pm1_sts", x->pm1_sts |= 0x0001);
	REFUSE(c, &pm, st, struct acpi_pm_state, "pm1_cnt", x->pm1_cnt &= (uint16_t)~1u);
	REFUSE(c, &pm, st, struct acpi_pm_state, "pm1_cnt", x->pm1_cnt |= ACPI_PM1_CNT_SLP_EN);
	REFUSE(c, &pm, st, struct acpi_pm_state, "pm1_cnt", x->pm1_cnt |= ACPI_PM1_CNT_GBL_RLS);

	assert_int_equal(pm_in(&pm, 0, 4), ACPI_PM1_STS_PWRBTN | (ACPI_PM1_EN_PWRBTN | 0x20) << 16);
	assert_int_equal(pm_in(&pm, 4, 2), (1u << 10) | ACPI_PM1_CNT_SCI_EN);
	pm_out(&pm, 0, ACPI_PM1_STS_PWRBTN, 2);                   /* the guest acknowledges */
	assert_int_equal(sci_level, 0);
	acpi_pm_destroy(&pm);
	free(st);
}

/* ---- pci-host ---- */

struct moved { int bar; uint64_t from, to; };
static struct moved moves[16];
static unsigned int nmoves;

static void bar_moved_rec(struct pci_device *dev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	(void)dev;
	if (nmoves < 16)
		moves[nmoves++] = (struct moved){ bar, old_addr, new_addr };
}

static void fake_fn(struct pci_bus *bus, struct pci_device *d)
{
	pci_device_init(d, 0x1234, 0x5678, 0x020000, 3, 0x1234, 1);
	d->bar_moved = bar_moved_rec;
	d->config[0x3d] = 1;
	assert_int_equal(pci_device_set_bar(d, 0, 0x1000, false, false), 0);
	assert_int_equal(pci_device_set_bar(d, 1, 0x20, true, false), 0);
	assert_int_equal(pci_bus_add(bus, d, 3), 3);
}

static void conf1(struct pci_bus *bus, uint8_t slot, uint8_t reg, uint32_t v, uint32_t len)
{
	uint32_t a = 0x80000000u | (uint32_t)slot << 11 | (reg & 0xfcu);
	uint8_t d[4] = { (uint8_t)a, (uint8_t)(a >> 8), (uint8_t)(a >> 16), (uint8_t)(a >> 24) };

	pci_conf_addr_io(bus, 0, d, 4, true);
	for (uint32_t i = 0; i < len; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	pci_conf_data_io(bus, reg & 3u, d, len, true);
}

static void test_pci_host_state(void **state)
{
	const struct device_class *c = &pci_host_class;
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	struct pci_device *d = calloc(1, sizeof(*d));
	uint8_t data[4];
	void *st;
	char err[256];

	(void)state;
	assert_non_null(bus);
	assert_non_null(d);
	assert_string_equal(c->name, "pci-host");
	pci_bus_init(bus);
	fake_fn(bus, d);
	conf1(bus, 3, 0x10, 0xc0100000u, 4);
	conf1(bus, 3, 0x14, 0xc000, 4);
	conf1(bus, 3, 0x0d, 0x40, 1);
	conf1(bus, 3, 0x3c, 0x0b, 1);
	conf1(bus, 3, 0x04, 0x0007, 2);
	conf1(bus, 0, 0x0c, 0x10, 1);
	conf1(bus, 3, 0x10, 0, 4);       /* latch left on slot 3's BAR0 */
	conf1(bus, 3, 0x10, 0xc0100000u, 4);
	st = save_new(c, bus);
	pci_bus_destroy(bus);

	pci_bus_init(bus);
	fake_fn(bus, d);
	nmoves = 0;
	assert_int_equal(c->restore(bus, st, c->state_size, c->state_version, err, sizeof(err)), 0);
	/* Both BARs came alive at their restored addresses. */
	assert_int_equal(nmoves, 2);
	assert_int_equal(moves[0].bar, 0);
	assert_int_equal(moves[0].from, 0);
	assert_int_equal(moves[0].to, 0xc0100000u);
	assert_int_equal(moves[1].bar, 1);
	assert_int_equal(moves[1].to, 0xc000);
	assert_same_state(c, bus, st);
	assert_int_equal(pci_device_bar_addr(d, 0), 0xc0100000u);

	nmoves = 0;
	assert_header_checks(c, bus, st);
	REFUSE(c, bus, st, struct pci_host_state, "conf_addr", x->conf_addr |= 1);
	REFUSE(c, bus, st, struct pci_host_state, "present", x->present |= 1u << 5);
	REFUSE(c, bus, st, struct pci_host_state, "present", x->present &= ~(1u << 3));
	REFUSE(c, bus, st, struct pci_host_state, "empty slot 7", x->config[7][0x40] = 1);
	REFUSE(c, bus, st, struct pci_host_state, "slot 3 offset 0x00", x->config[3][0] = 0x35);
	REFUSE(c, bus, st, struct pci_host_state, "slot 3 offset 0x11", x->config[3][0x11] |= 0x08);
	REFUSE(c, bus, st, struct pci_host_state, "slot 3 offset 0x14", x->config[3][0x14] = 0x03);
	REFUSE(c, bus, st, struct pci_host_state, "slot 0 offset 0x0b", x->config[0][0x0b] = 0x02);
	assert_int_equal(nmoves, 0);     /* nothing was loaded */

	/* The latch survived: a data read is slot 3's BAR0. */
	pci_conf_data_io(bus, 0, data, 4, false);
	assert_int_equal(data[3], 0xc0);
	assert_int_equal(data[2], 0x10);
	assert_int_equal(pci_conf_read(bus, 0, 3, 0, 0x3c, 1), 0x0b);
	assert_int_equal(pci_conf_read(bus, 0, 0, 0, 0x0c, 1), 0x10);
	pci_bus_destroy(bus);
	free(st);
	free(d);
	free(bus);
}

/* ---- the virtio transport, through virtio-rng (INTx) ---- */

#define F_V1    VIRTIO_F_VERSION_1
#define F_EIDX  VIRTIO_F_RING_EVENT_IDX

/* The transport's field checks, on any virtio class whose state starts with
 * a struct virtio_pci_state (cur: a good state of dev, one ready queue 0
 * of QSIZE entries). `type` is the class's state struct. */
#define TRANSPORT_REFUSALS(c, dev, cur, type, nq)                                                   \
	do {                                                                                        \
		REFUSE(c, dev, cur, type, "queue 0: size", x->vp.queues[0].vq.size = 12);            \
		REFUSE(c, dev, cur, type, "queue 0: size", x->vp.queues[0].vq.size = 512);           \
		REFUSE(c, dev, cur, type, "queue 0: size", x->vp.queues[0].vq.size = 0);             \
		REFUSE(c, dev, cur, type, "queue 0: desc",                                          \
		       x->vp.queues[0].vq.desc_gpa = MEM_SIZE - 0x80);                               \
		REFUSE(c, dev, cur, type, "queue 0: desc", x->vp.queues[0].vq.used_gpa = 0x10202);   \
		REFUSE(c, dev, cur, type, "queue 0: desc",                                          \
		       x->vp.queues[0].vq.avail_gpa = 0xc0000000ull);                                \
		REFUSE(c, dev, cur, type, "queue 0: used_idx", x->vp.queues[0].vq.used_idx++);       \
		REFUSE(c, dev, cur, type, "queue 0: last_avail",                                    \
		       { x->vp.queues[0].vq.last_avail -= QSIZE + 1;                                 \
			 x->vp.queues[0].vq.used_idx -= QSIZE + 1; });                              \
		REFUSE(c, dev, cur, type, "queue 0: last_avail",                                    \
		       { x->vp.queues[0].vq.ready = 0; x->vp.queues[0].vq.last_avail = 1;          \
			 x->vp.queues[0].vq.used_idx = 1; });                                       \
		REFUSE(c, dev, cur, type, "queue 0: ready", x->vp.queues[0].vq.ready = 2);           \
		REFUSE(c, dev, cur, type, "queue 0: broken", x->vp.queues[0].vq.broken = 7);         \
		REFUSE(c, dev, cur, type, "queue 0: event_idx", x->vp.queues[0].vq.event_idx ^= 1);  \
		REFUSE(c, dev, cur, type, "queue 0: msix_vector",                                   \
		       x->vp.queues[0].msix_vector = VIRTIO_MSIX_VECTORS);                           \
		REFUSE(c, dev, cur, type, "queue 0: pad", x->vp.queues[0].vq.pad[1] = 1);            \
		REFUSE(c, dev, cur, type, "queue 7", x->vp.queues[7].vq.size = 1);                   \
		REFUSE(c, dev, cur, type, "num_queues", x->vp.num_queues = (nq) + 1);                \
		REFUSE(c, dev, cur, type, "queue_sel", x->vp.regs.queue_sel = (nq) + 1);             \
		REFUSE(c, dev, cur, type, "msix_config", x->vp.regs.msix_config = 9);                \
		REFUSE(c, dev, cur, type, "status", x->vp.regs.status |= 0x10);                      \
		REFUSE(c, dev, cur, type, "driver_features",                                        \
		       x->vp.regs.driver_features |= 1ULL << 40);                                    \
		REFUSE(c, dev, cur, type, "driver_features",                                        \
		       x->vp.regs.driver_features &= ~VIRTIO_F_VERSION_1);                           \
		REFUSE(c, dev, cur, type, "isr", x->vp.regs.isr = 4);                                \
		REFUSE(c, dev, cur, type, "msix_pending", x->vp.regs.msix_pending = 1ULL << 20);     \
		REFUSE(c, dev, cur, type, "pad", x->vp.regs.pad = 1);                                \
	} while (0)

static void test_virtio_rng_state(void **state)
{
	const struct device_class *c = &virtio_rng_class;
	struct board *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct virtio_rng *ra = calloc(1, sizeof(*ra)), *rb = calloc(1, sizeof(*rb));
	uint8_t zero[64] = { 0 };
	void *pst, *st;
	char err[256];
	int gsi;

	(void)state;
	assert_string_equal(c->name, "virtio-rng");
	assert_null(c->quiesce);
	fake_reset();
	board_init(a);
	assert_int_equal(virtio_rng_init(ra, &(struct device_host){ .vm = &a->vm, .pci = &a->bus, .irq = &a->irq, .loop = &a->loop, .intx_gsi = TEST_INTX_GSI }), 0);
	gsi = ra->vp.intx_gsi;
	assert_true(gsi > 0 && gsi < 64);
	assert_int_equal(evloop_start(&a->loop), 0);
	driver_up(a, &ra->vp, 1, F_V1, false);     /* INTx, no MSI-X */
	desc(a, 0, 3, BUF_BASE, 64, VIRTQ_DESC_F_WRITE, 0);
	avail(a, 0, 0, 3);
	kick(a, &ra->vp, 0);
	wait_used(a, 0, 1);
	assert_memory_not_equal(a->ram + BUF_BASE, zero, 64);
	evloop_stop(&a->loop);                      /* the machine parks the I/O loop */
	assert_int_equal(irq_level_seen[gsi], 1);
	vw(a, &ra->vp, 0x16, 5, 2);                 /* beyond the queues: "none" */
	assert_int_equal(vr(a, &ra->vp, 0x16, 2), 1);
	assert_int_equal(vr(a, &ra->vp, 0x18, 2), 0);
	pst = save_new(&pci_host_class, &a->bus);
	st = save_new(c, ra);
	board_destroy(a);

	fake_reset();
	board_init(b);
	assert_int_equal(virtio_rng_init(rb, &(struct device_host){ .vm = &b->vm, .pci = &b->bus, .irq = &b->irq, .loop = &b->loop, .intx_gsi = TEST_INTX_GSI }), 0);
	assert_int_equal(rb->vp.intx_gsi, gsi);
	assert_int_equal(pci_host_class.restore(&b->bus, pst, pci_host_class.state_size,
						pci_host_class.state_version, err, sizeof(err)), 0);
	assert_true(ioev_assigned(bar_addr(&rb->vp) + VIRTIO_NOTIFY_OFF));
	/* Guest memory is the guest's and travels with it: this board's RAM is
	 * blank, so give it the ring's avail idx as it was (1). */
	put16(b, q_avail(0) + 2, 1);
	assert_int_equal(c->restore(rb, st, c->state_size, c->state_version, err, sizeof(err)), 0);
	assert_int_equal(irq_level_seen[gsi], 1);  /* isr was set: INTx high again */
	assert_same_state(c, rb, st);
	assert_header_checks(c, rb, st);
	TRANSPORT_REFUSALS(c, rb, st, struct virtio_rng_state, 1);
	assert_int_equal(((const struct virtio_rng_state *)st)->vp.regs.isr, 1);
	assert_int_equal(((const struct virtio_rng_state *)st)->vp.regs.queue_sel, 1);

	/* It goes on: reading ISR drops the line, a new request is served. */
	assert_int_equal(vr(b, &rb->vp, VIRTIO_ISR_OFF, 1), 1);
	assert_int_equal(irq_level_seen[gsi], 0);
	assert_int_equal(evloop_start(&b->loop), 0);
	desc(b, 0, 5, BUF_BASE + 0x100, 32, VIRTQ_DESC_F_WRITE, 0);
	avail(b, 0, 1, 5);
	kick(b, &rb->vp, 0);
	wait_used(b, 0, 2);
	assert_int_equal(b->ram[q_used(0) + 4 + 8], 5);   /* used[1].id */
	assert_int_equal(b->ram[q_used(0) + 4 + 12], 32); /* used[1].len */
	evloop_stop(&b->loop);
	board_destroy(b);
	free(pst);
	free(st);
	free(ra);
	free(rb);
	free(a);
	free(b);
}

/* ---- virtio-blk (MSI-X) ---- */

static void make_image(char *path, size_t n)
{
	int fd;
	uint8_t sector[512];

	snprintf(path, 64, "/tmp/nestvm-devstate-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (size_t s = 0; s < n; s++) {
		memset(sector, (int)(s & 0xff), sizeof(sector));
		assert_int_equal(write(fd, sector, sizeof(sector)), (ssize_t)sizeof(sector));
	}
	close(fd);
}

/* A read of sector `sector` into BUF_BASE + off, as the avail entry n. */
static void blk_read_req(struct board *b, unsigned int n, uint64_t sector, uint64_t off)
{
	uint64_t hdr = BUF_BASE + off, data = hdr + 0x100, status = hdr + 0x400;
	uint16_t d = (uint16_t)(3 * n);

	put32(b, hdr, VIRTIO_BLK_T_IN);
	put32(b, hdr + 4, 0);
	put64(b, hdr + 8, sector);
	b->ram[status] = 0xff;
	desc(b, 0, d, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
	desc(b, 0, (uint16_t)(d + 1), data, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
	     (uint16_t)(d + 2));
	desc(b, 0, (uint16_t)(d + 2), status, 1, VIRTQ_DESC_F_WRITE, 0);
	avail(b, 0, (uint16_t)n, d);
}

static void test_virtio_blk_state(void **state)
{
	const struct device_class *c = &virtio_blk_class;
	struct board *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct virtio_blk *ba = calloc(1, sizeof(*ba)), *bb = calloc(1, sizeof(*bb));
	struct blk_config cfg = { .readonly = false };
	char path[64];
	void *pst, *st;
	char err[256];
	uint64_t bar;

	(void)state;
	assert_string_equal(c->name, "virtio-blk");
	assert_null(c->quiesce);
	make_image(path, 64);
	snprintf(cfg.path, sizeof(cfg.path), "%s", path);
	fake_reset();
	board_init(a);
	assert_int_equal(virtio_blk_init(ba, &cfg, &(struct device_host){ .vm = &a->vm, .pci = &a->bus, .irq = &a->irq, .loop = &a->loop, .intx_gsi = TEST_INTX_GSI }, err, sizeof(err)), 0);
	assert_int_equal(evloop_start(&a->loop), 0);
	driver_up(a, &ba->vp, 1, F_V1 | F_EIDX | VIRTIO_BLK_F_FLUSH, true);
	bar = bar_addr(&ba->vp);
	assert_true(ioev_assigned(bar + VIRTIO_NOTIFY_OFF));
	blk_read_req(a, 0, 7, 0);
	kick(a, &ba->vp, 0);
	wait_used(a, 0, 1);
	assert_int_equal(a->ram[BUF_BASE + 0x100], 7);
	assert_int_equal(a->ram[BUF_BASE + 0x400], VIRTIO_BLK_S_OK);
	/* Mask vector 0: its route must come back all the same. */
	vw(a, &ba->vp, VIRTIO_MSIX_TABLE_OFF + 12, 1, 4);
	evloop_stop(&a->loop);
	pst = save_new(&pci_host_class, &a->bus);
	st = save_new(c, ba);
	virtio_blk_destroy(ba);
	board_destroy(a);

	fake_reset();
	board_init(b);
	/* The guest's memory travels with it: same rings, same avail idx. */
	assert_int_equal(virtio_blk_init(bb, &cfg, &(struct device_host){ .vm = &b->vm, .pci = &b->bus, .irq = &b->irq, .loop = &b->loop, .intx_gsi = TEST_INTX_GSI }, err, sizeof(err)), 0);
	put16(b, q_avail(0) + 2, 1);
	put16(b, q_used(0) + 2, 1);
	/* The transport first (as if the pci-host state came after): MSI
	 * routes, and no ioeventfd while BAR0 is not placed. */
	assert_int_equal(c->restore(bb, st, c->state_size, c->state_version, err, sizeof(err)), 0);
	check_msi_routes(b, &bb->vp, 2);
	assert_false(ioev_assigned(bar + VIRTIO_NOTIFY_OFF));
	assert_int_equal(pci_host_class.restore(&b->bus, pst, pci_host_class.state_size,
						pci_host_class.state_version, err, sizeof(err)), 0);
	assert_true(ioev_assigned(bar + VIRTIO_NOTIFY_OFF));
	assert_int_equal(bb->vp.notify_base, bar);
	assert_same_state(c, bb, st);
	assert_same_state(&pci_host_class, &b->bus, pst);

	assert_header_checks(c, bb, st);
	TRANSPORT_REFUSALS(c, bb, st, struct virtio_blk_state, 1);
	REFUSE(c, bb, st, struct virtio_blk_state, "capacity", x->capacity = 65);
	REFUSE(c, bb, st, struct virtio_blk_state, "serial", x->serial[12] = '9');
	REFUSE(c, bb, st, struct virtio_blk_state, "readonly", x->readonly = 1);
	REFUSE(c, bb, st, struct virtio_blk_state, "pad", x->pad[2] = 1);

	/* It goes on: the next request, on the restored queue and features. */
	assert_int_equal(evloop_start(&b->loop), 0);
	blk_read_req(b, 1, 9, 0x800);
	kick(b, &bb->vp, 0);
	wait_used(b, 0, 2);
	assert_int_equal(b->ram[BUF_BASE + 0x900], 9);
	assert_int_equal(b->ram[BUF_BASE + 0xc00], VIRTIO_BLK_S_OK);
	/* avail_event (event idx) was published after the restore at 2. */
	assert_int_equal(ram16(b, q_used(0) + 4 + 8 * QSIZE), 2);
	evloop_stop(&b->loop);
	virtio_blk_destroy(bb);
	board_destroy(b);
	unlink(path);
	free(pst);
	free(st);
	free(ba);
	free(bb);
	free(a);
	free(b);
}

/* ---- virtio-net (user backend: the slirp thread) ---- */

static struct net_config net_cfg(void)
{
	struct net_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = NET_BACKEND_USER;
	memcpy(cfg.mac, "\x02\x4e\x56\x00\x00\x07", 6);
	return cfg;
}

/* Transmit one ARP-sized frame from the NIC's MAC, as avail entry n. */
static void net_tx_req(struct board *b, unsigned int n, uint64_t off)
{
	uint64_t g = BUF_BASE + off;
	uint16_t d = (uint16_t)n;

	memset(b->ram + g, 0, 12 + 60);
	memset(b->ram + g + 12, 0xff, 6);                 /* broadcast */
	memcpy(b->ram + g + 12 + 6, "\x02\x4e\x56\x00\x00\x07", 6);
	b->ram[g + 12 + 12] = 0x08;
	b->ram[g + 12 + 13] = 0x06;                       /* ARP */
	desc(b, 1, d, g, 12 + 60, 0, 0);
	avail(b, 1, (uint16_t)n, d);
}

static void wait_parked(struct virtio_net *net, bool want)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 5000 && virtio_net_backend_parked(net) != want; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(virtio_net_backend_parked(net), want);
}

static void test_virtio_net_state(void **state)
{
	const struct device_class *c = &virtio_net_class;
	struct board *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct net_config cfg = net_cfg();
	struct virtio_net *na = NULL, *nb = NULL;
	void *pst, *st;
	char err[256];
	uint64_t bar;

	(void)state;
	assert_string_equal(c->name, "virtio-net");
	assert_non_null(c->quiesce);
	assert_non_null(c->resume);
	fake_reset();
	board_init(a);
	if (virtio_net_create(&na, &cfg, &(struct device_host){ .vm = &a->vm, .pci = &a->bus, .irq = &a->irq, .loop = &a->loop, .intx_gsi = TEST_INTX_GSI }, err, sizeof(err)) != 0)
		fail_msg("virtio_net_create: %s", err);
	assert_int_equal(evloop_start(&a->loop), 0);
	driver_up(a, virtio_net_pci(na), 2, F_V1 | F_EIDX | (1ULL << 5), true);
	bar = bar_addr(virtio_net_pci(na));
	/* Receive buffers posted (none used: nothing to receive), one frame sent. */
	desc(a, 0, 0, BUF_BASE + 0x8000, 2048, VIRTQ_DESC_F_WRITE, 0);
	desc(a, 0, 1, BUF_BASE + 0x9000, 2048, VIRTQ_DESC_F_WRITE, 0);
	avail(a, 0, 0, 0);
	avail(a, 0, 1, 1);
	kick(a, virtio_net_pci(na), 0);
	net_tx_req(a, 0, 0);
	kick(a, virtio_net_pci(na), 1);
	wait_used(a, 1, 1);

	/* Quiesce parks the slirp thread; a transmit meanwhile does not wake it. */
	c->quiesce(na);
	assert_true(virtio_net_backend_parked(na));
	net_tx_req(a, 1, 0x100);
	kick(a, virtio_net_pci(na), 1);
	wait_used(a, 1, 2);
	assert_true(virtio_net_backend_parked(na));
	c->resume(na);
	wait_parked(na, false);
	c->quiesce(na);
	assert_true(virtio_net_backend_parked(na));
	evloop_stop(&a->loop);
	pst = save_new(&pci_host_class, &a->bus);
	st = save_new(c, na);
	virtio_net_destroy(na);    /* while parked: must not hang */
	board_destroy(a);

	fake_reset();
	board_init(b);
	if (virtio_net_create(&nb, &cfg, &(struct device_host){ .vm = &b->vm, .pci = &b->bus, .irq = &b->irq, .loop = &b->loop, .intx_gsi = TEST_INTX_GSI }, err, sizeof(err)) != 0)
		fail_msg("virtio_net_create: %s", err);
	put16(b, q_avail(0) + 2, 2);
	put16(b, q_avail(1) + 2, 2);
	assert_int_equal(pci_host_class.restore(&b->bus, pst, pci_host_class.state_size,
						pci_host_class.state_version, err, sizeof(err)), 0);
	c->quiesce(nb);
	assert_int_equal(c->restore(nb, st, c->state_size, c->state_version, err, sizeof(err)), 0);
	check_msi_routes(b, virtio_net_pci(nb), 3);
	assert_true(ioev_assigned(bar + VIRTIO_NOTIFY_OFF));
	assert_true(ioev_assigned(bar + VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT));
	assert_same_state(c, nb, st);
	assert_header_checks(c, nb, st);
	TRANSPORT_REFUSALS(c, nb, st, struct virtio_net_state, 2);
	REFUSE(c, nb, st, struct virtio_net_state, "queue 1: size", x->vp.queues[1].vq.size = 3);
	REFUSE(c, nb, st, struct virtio_net_state, "mac", x->config[5] = 0x08);
	REFUSE(c, nb, st, struct virtio_net_state, "link status", x->config[6] = 0);
	c->resume(nb);
	wait_parked(nb, false);

	/* It goes on: another frame goes out on the restored queue 1. */
	assert_int_equal(evloop_start(&b->loop), 0);
	net_tx_req(b, 2, 0x200);
	kick(b, virtio_net_pci(nb), 1);
	wait_used(b, 1, 3);
	evloop_stop(&b->loop);
	virtio_net_destroy(nb);
	board_destroy(b);
	free(pst);
	free(st);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serial_state),
		cmocka_unit_test(test_i8042_state),
		cmocka_unit_test(test_acpi_pm_state),
		cmocka_unit_test(test_pci_host_state),
		cmocka_unit_test(test_virtio_rng_state),
		cmocka_unit_test(test_virtio_blk_state),
		cmocka_unit_test(test_virtio_net_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
