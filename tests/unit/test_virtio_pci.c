/* Unit tests of the virtio PCI transport (src/virtio/virtio_pci.c) driven
 * through its guest interface: configuration mechanism #1 ports, MMIO to
 * BAR0 (common configuration, notify, MSI-X table and pending bits) and
 * virtqueues in guest RAM, with virtio-rng as the device.
 *
 *  - A kick that races a device reset: the reset put deterministically
 *    between the kick handler's look at the transport and its run of the
 *    queue (the kick_hook seam), and a racing test where the I/O loop
 *    thread serves kicks from one "vCPU" thread while another resets and
 *    re-initialises the device thousands of times. After the guest wrote
 *    status 0 the status must read 0 (Linux's reset loop waits for it), and
 *    a re-enabled queue must work.
 *  - MSI-X: a vector that fired while masked (its entry, or the function
 *    mask in message control) is pending (the PBA says so) and is
 *    delivered when it is unmasked, and not before.
 *
 * No KVM: this file defines ioctl() (the test binary's definition wins over
 * libc's) and answers the VM ioctls on a made-up fd. An MSI-X vector's
 * interrupt is its irqfd eventfd, read here. The racing test is also built
 * with ThreadSanitizer (make unit-tsan). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "hw/pci.h"
#include "virtio/rng.h"
#include "virtio/virtio_pci.h"
#include "vmm/evloop.h"
#include "vmm/irq.h"
#include "vmm/vm.h"

/* ---- a fake KVM VM fd ---- */

#define FAKE_VM_FD 0x3ffffff0

static atomic_int irq_line_level[64];   /* last KVM_IRQ_LINE level per GSI */

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
	case KVM_IOEVENTFD:
		return 0;
	case KVM_IRQ_LINE: {
		struct kvm_irq_level *l = arg;

		if (l->irq < 64)
			atomic_store(&irq_line_level[l->irq], (int)l->level);
		return 0;
	}
	default:
		errno = ENOTTY;
		return -1;
	}
}

/* ---- a board without KVM: guest RAM, IRQ router, I/O loop, bus 0 ---- */

#define MEM_SIZE   (1u << 20)
#define RING_BASE  0x10000u      /* queue 0: desc, avail at +0x100, used at +0x200 */
#define BUF_BASE   0x40000u
#define BUF_LEN    16u
#define QSIZE      16
#define BAR_BASE   0xc0000000u

#define ST_ACK       1u
#define ST_DRIVER    2u
#define ST_DRIVER_OK 4u
#define ST_FEAT_OK   8u
#define ST_LIVE      (ST_ACK | ST_DRIVER | ST_DRIVER_OK | ST_FEAT_OK)

#define MSIX_ENABLE  0x8000u
#define MSIX_MASKALL 0x4000u
#define QVEC         1u          /* the queue's MSI-X vector (config: 0) */

struct board {
	struct vm vm;
	uint8_t *ram;
	struct irq_router irq;
	struct evloop loop;
	struct pci_bus bus;
	struct virtio_rng rng;
	bool loop_started;
};

static struct virtio_pci *vpof(struct board *b)
{
	return &b->rng.vp;
}

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
	/* INTx on GSI 17, as the board wires the first slots' INTA */
	assert_int_equal(virtio_rng_init(&b->rng, &(struct device_host){ .vm = &b->vm, .pci = &b->bus,
					 .irq = &b->irq, .loop = &b->loop, .intx_gsi = 17 }), 0);
}

static void board_start(struct board *b)
{
	assert_int_equal(evloop_start(&b->loop), 0);
	b->loop_started = true;
}

static void board_destroy(struct board *b)
{
	if (b->loop_started)
		evloop_stop(&b->loop);
	evloop_destroy(&b->loop);
	pci_bus_destroy(&b->bus);
	irq_router_destroy(&b->irq);
	free(b->ram);
}

/* ---- the guest's side ---- */

static uint64_t bar0(struct board *b)
{
	return BAR_BASE + (uint64_t)vpof(b)->pci.slot * 0x10000;
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

static void vw(struct board *b, uint64_t off, uint64_t val, uint32_t len)
{
	mmio(b, bar0(b) + off, val, len, true, NULL);
}

static uint64_t vr(struct board *b, uint64_t off, uint32_t len)
{
	uint64_t v;

	mmio(b, bar0(b) + off, 0, len, false, &v);
	return v;
}

/* A configuration write the way the guest makes it: 0xCF8, then 0xCFC. */
static void conf_write(struct board *b, uint16_t reg, uint32_t val, uint32_t len)
{
	uint32_t a = 0x80000000u | (uint32_t)vpof(b)->pci.slot << 11 | (reg & 0xfcu);
	uint8_t d[4];

	for (int i = 0; i < 4; i++)
		d[i] = (uint8_t)(a >> (8 * i));
	pci_conf_addr_io(&b->bus, 0, d, 4, true);
	for (int i = 0; i < 4; i++)
		d[i] = (uint8_t)(val >> (8 * i));
	pci_conf_data_io(&b->bus, reg & 3u, d, len, true);
}

static void msix_ctrl(struct board *b, uint16_t ctrl)
{
	conf_write(b, (uint16_t)(vpof(b)->msix_cap + 2), ctrl, 2);
}

static uint64_t q_desc(void) { return RING_BASE; }
static uint64_t q_avail(void) { return RING_BASE + 0x100; }
static uint64_t q_used(void) { return RING_BASE + 0x200; }

static void st16(struct board *b, uint64_t gpa, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(void *)(b->ram + gpa), v, order);
}

/* Rings zeroed and descriptor 0 a writable buffer. Only while queue 0 is
 * not ready: the device then reads none of it. */
static void ring_fresh(struct board *b)
{
	uint8_t *d = b->ram + q_desc();
	uint64_t addr = BUF_BASE;
	uint32_t len = BUF_LEN;
	uint16_t flags = 2 /* WRITE */;

	memset(b->ram + RING_BASE, 0, 0x1000);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
}

/* Make descriptor 0 available as avail entry n (0, 1, ...): idx n + 1. */
static void post(struct board *b, uint16_t n)
{
	st16(b, q_avail() + 4 + 2u * (n % QSIZE), 0, __ATOMIC_RELAXED);
	st16(b, q_avail() + 2, (uint16_t)(n + 1), __ATOMIC_RELEASE);
}

static uint16_t used_idx(struct board *b)
{
	return __atomic_load_n((uint16_t *)(void *)(b->ram + q_used() + 2), __ATOMIC_ACQUIRE);
}

static void kick(struct board *b)
{
	vw(b, VIRTIO_NOTIFY_OFF, 0, 2);
}

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

/* Wait (up to 5 s) until the used idx reads `want`; false if it does not. */
static bool wait_used(struct board *b, uint16_t want)
{
	for (int i = 0; i < 250000 && used_idx(b) != want; i++)
		pause_us(20);
	return used_idx(b) == want;
}

/* What a driver does: BAR0 placed (first time), a reset unless the status
 * reads 0 already, VERSION_1 negotiated,
 * queue 0 set up at RING_BASE (vector QVEC when msix), DRIVER_OK. With
 * msix: MSI-X enabled under the function mask, the config vector 0 and
 * QVEC programmed and unmasked, then the function mask cleared. No
 * assertion here (it also runs on the I/O thread, from a kick hook): false
 * when the device did not accept FEATURES_OK or the queue. */
static bool driver_up(struct board *b, bool msix)
{
	if (pci_device_bar_addr(&vpof(b)->pci, 0) == 0) {
		conf_write(b, 0x10, (uint32_t)bar0(b), 4);
		conf_write(b, 0x14, 0, 4);
		conf_write(b, 0x04, 0x0006, 2);
	}
	if (vr(b, 0x14, 1) != 0)
		vw(b, 0x14, 0, 1);              /* reset first, unless it reads 0 */
	vw(b, 0x14, ST_ACK | ST_DRIVER, 1);
	vw(b, 0x08, 0, 4);
	vw(b, 0x0c, 0, 4);
	vw(b, 0x08, 1, 4);
	vw(b, 0x0c, 1, 4);                       /* VERSION_1 (bit 32) */
	vw(b, 0x14, ST_ACK | ST_DRIVER | ST_FEAT_OK, 1);
	if (vr(b, 0x14, 1) != (ST_ACK | ST_DRIVER | ST_FEAT_OK))
		return false;
	if (msix) {
		msix_ctrl(b, MSIX_ENABLE | MSIX_MASKALL);
		for (unsigned int v = 0; v <= QVEC; v++) {
			vw(b, VIRTIO_MSIX_TABLE_OFF + 16 * v + 0, 0xfee00000u, 4);
			vw(b, VIRTIO_MSIX_TABLE_OFF + 16 * v + 4, 0, 4);
			vw(b, VIRTIO_MSIX_TABLE_OFF + 16 * v + 8, 0x40 + v, 4);
			vw(b, VIRTIO_MSIX_TABLE_OFF + 16 * v + 12, 0, 4);
		}
		vw(b, 0x10, 0, 2);
	}
	vw(b, 0x16, 0, 2);
	vw(b, 0x18, QSIZE, 2);
	vw(b, 0x1a, msix ? QVEC : VIRTIO_NO_VECTOR, 2);
	vw(b, 0x20, q_desc(), 8);
	vw(b, 0x28, q_avail(), 8);
	vw(b, 0x30, q_used(), 8);
	vw(b, 0x1c, 1, 2);
	if (vr(b, 0x1c, 2) != 1)
		return false;
	if (msix)
		msix_ctrl(b, MSIX_ENABLE);
	vw(b, 0x14, ST_LIVE, 1);
	return vr(b, 0x14, 1) == ST_LIVE;
}

static uint8_t status(struct board *b)
{
	return (uint8_t)vr(b, 0x14, 1);
}

/* ---- a kick racing a reset, put in the window deterministically ---- */

enum hook_mode { HOOK_RESET, HOOK_RESET_REINIT };

static struct {
	struct board *b;
	enum hook_mode mode;
	atomic_int runs;
	atomic_bool reinit_ok;
} hook;

/* Runs on the I/O thread inside the kick handler, between its look at the
 * transport and its run of the queue: the guest resets the device there
 * (and, in HOOK_RESET_REINIT, sets it up again and posts a request). */
static void hook_fn(struct virtio_pci *vp, unsigned int q)
{
	(void)vp;
	(void)q;
	if (atomic_fetch_add(&hook.runs, 1) != 0)
		return;
	vw(hook.b, 0x14, 0, 1);
	if (hook.mode == HOOK_RESET_REINIT) {
		ring_fresh(hook.b);
		atomic_store(&hook.reinit_ok, driver_up(hook.b, false));
		post(hook.b, 0);
	}
}

/* Start the loop with a request posted and the hook armed; return once
 * the hook ran and the kick handler around it has returned. */
static void run_hooked_kick(struct board *b, enum hook_mode mode)
{
	ring_fresh(b);
	assert_true(driver_up(b, false));
	post(b, 0);
	hook.b = b;
	hook.mode = mode;
	atomic_store(&hook.runs, 0);
	atomic_store(&hook.reinit_ok, false);
	vpof(b)->kick_hook = hook_fn;
	board_start(b);
	kick(b);
	for (int i = 0; i < 250000 && atomic_load(&hook.runs) == 0; i++)
		pause_us(20);
	assert_int_not_equal(atomic_load(&hook.runs), 0);
	/* Parking waits for the running handler to return. */
	assert_int_equal(evloop_park(&b->loop, 5000), 0);
}

/* The guest wrote 0 while a kick was between its check and its run: the
 * kick must do nothing, the status must read 0, and the queue, set up
 * again, must serve requests. */
static void test_reset_inside_kick_window(void **state)
{
	struct board b;

	(void)state;
	board_init(&b);
	run_hooked_kick(&b, HOOK_RESET);
	assert_int_equal(status(&b), 0);
	assert_false(vpof(&b)->queues[0].vq.broken);
	assert_int_equal(used_idx(&b), 0);        /* the reset device took nothing */
	assert_int_equal(evloop_unpark(&b.loop), 0);

	ring_fresh(&b);
	assert_true(driver_up(&b, false));
	post(&b, 0);
	kick(&b);
	assert_true(wait_used(&b, 1));
	assert_int_equal(status(&b), ST_LIVE);
	board_destroy(&b);
}

/* Reset and a whole new set-up inside the window: the kick then finds a
 * live queue and serves the request the new driver posted. */
static void test_reset_reinit_inside_kick_window(void **state)
{
	struct board b;

	(void)state;
	board_init(&b);
	run_hooked_kick(&b, HOOK_RESET_REINIT);
	assert_true(atomic_load(&hook.reinit_ok));
	assert_int_equal(evloop_unpark(&b.loop), 0);
	assert_true(wait_used(&b, 1));
	assert_int_equal(status(&b), ST_LIVE);
	assert_int_equal(evloop_park(&b.loop, 5000), 0);
	assert_false(vpof(&b)->queues[0].vq.broken);
	board_destroy(&b);
}

/* Enabling a queue starts it clean, whatever a stale run left on it while
 * it was reset (broken, indexes): here set by hand on the reset queue. */
static void test_enable_clears_broken(void **state)
{
	struct board b;
	struct virtqueue *vq;

	(void)state;
	board_init(&b);
	ring_fresh(&b);
	assert_true(driver_up(&b, false));
	vw(&b, 0x14, 0, 1);
	vq = &vpof(&b)->queues[0].vq;
	vq->broken = true;
	vq->last_avail = 5;
	vq->used_idx = 5;
	vq->signalled_used = 5;
	vq->signalled_valid = true;

	ring_fresh(&b);
	assert_true(driver_up(&b, false));
	assert_false(vq->broken);
	post(&b, 0);
	board_start(&b);
	kick(&b);
	assert_true(wait_used(&b, 1));
	assert_int_equal(status(&b), ST_LIVE);
	board_destroy(&b);
}

/* A device that reports a broken queue after the driver reset it (its
 * work began before the reset) must not set NEEDS_RESET on the reset
 * device: the driver is waiting for the status to read 0. */
static void test_needs_reset_after_reset_ignored(void **state)
{
	struct board b;

	(void)state;
	board_init(&b);
	ring_fresh(&b);
	assert_true(driver_up(&b, false));
	vw(&b, 0x14, 0, 1);
	virtio_pci_needs_reset(vpof(&b));
	assert_int_equal(status(&b), 0);

	/* On a live device it is reported. */
	ring_fresh(&b);
	assert_true(driver_up(&b, false));
	virtio_pci_needs_reset(vpof(&b));
	assert_int_equal(status(&b), ST_LIVE | VIRTIO_STATUS_NEEDS_RESET);
	board_destroy(&b);
}

/* ---- the same race, for real: I/O loop thread, two vCPU threads ---- */

#define RACE_ROUNDS 3000

struct kicker {
	struct board *b;
	atomic_bool stop;
	unsigned long kicks;
};

/* "vCPU 1": notifies queue 0 as fast as it can. */
static void *kicker_thread(void *arg)
{
	struct kicker *k = arg;

	while (!atomic_load(&k->stop)) {
		kick(k->b);
		k->kicks++;
		if (k->kicks % 64 == 0)
			sched_yield();
	}
	return NULL;
}

/* The I/O thread gives up its CPU between its look at the transport and
 * its run of the queue: the same race, with a wider window. */
static void yield_hook(struct virtio_pci *vp, unsigned int q)
{
	(void)vp;
	(void)q;
	sched_yield();
}

/* "vCPU 0" (this thread): set the device up, check the queue serves a
 * request, post another, kick and reset at once; the status must read 0
 * right after the 0 was written, every round. */
static void kick_reset_race(bool widen)
{
	struct board b;
	struct kicker k = { .b = &b };
	pthread_t t;
	unsigned int served_before_reset = 0, bad_status = 0, bad_setup = 0, stuck = 0;
	uint8_t first_bad = 0, setup_status = 0;

	board_init(&b);
	if (widen)
		vpof(&b)->kick_hook = yield_hook;
	board_start(&b);
	assert_int_equal(pthread_create(&t, NULL, kicker_thread, &k), 0);
	for (unsigned int round = 0; round < RACE_ROUNDS; round++) {
		uint8_t s;

		ring_fresh(&b);                  /* the queue is reset: nobody reads it */
		if (!driver_up(&b, false)) {
			if (!bad_setup)
				setup_status = status(&b);
			bad_setup++;
			vw(&b, 0x14, 0, 1);
			continue;
		}
		post(&b, 0);
		kick(&b);
		if (!wait_used(&b, 1)) {
			stuck++;
			break;
		}
		post(&b, 1);
		kick(&b);
		for (unsigned int spin = round % 64; spin; spin--)
			__asm__ volatile("" ::: "memory");
		vw(&b, 0x14, 0, 1);
		s = status(&b);
		if (s != 0) {
			if (!bad_status)
				first_bad = s;
			bad_status++;
		}
		if (used_idx(&b) == 2)
			served_before_reset++;
	}
	atomic_store(&k.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	print_message("kick/reset race%s: %u rounds, %lu kicks from the other vCPU, the second "
		      "request served before the reset in %u\n", widen ? " (yield in the window)" :
		      "", RACE_ROUNDS, k.kicks, served_before_reset);
	if (bad_status || bad_setup || stuck)
		fail_msg("status read 0x%02x right after the reset wrote 0 in %u rounds; set-up "
			 "failed in %u (status 0x%02x); a re-enabled queue served nothing in %u",
			 first_bad, bad_status, bad_setup, setup_status, stuck);
	board_destroy(&b);
}

static void test_kick_reset_race(void **state)
{
	(void)state;
	kick_reset_race(false);
}

static void test_kick_reset_race_wide(void **state)
{
	(void)state;
	kick_reset_race(true);
}

/* ---- MSI-X: pending vectors, delivered on unmask ---- */

/* Did the queue's vector interrupt? Reads (and so clears) its irqfd. */
static bool vector_fired(struct board *b, unsigned int v)
{
	uint64_t n;

	return read(vpof(b)->vec_efd[v], &n, sizeof(n)) == (ssize_t)sizeof(n) && n > 0;
}

static uint64_t pba(struct board *b, uint32_t len)
{
	return vr(b, VIRTIO_MSIX_PBA_OFF, len);
}

/* Serve request n and wait until the device has raised (or left pending)
 * the queue's vector: true when it fired at once. */
static bool serve(struct board *b, uint16_t n)
{
	bool fired = false;

	post(b, n);
	kick(b);
	assert_true(wait_used(b, (uint16_t)(n + 1)));
	for (int i = 0; i < 250000 && !fired && !(pba(b, 8) & (1u << QVEC)); i++) {
		fired = vector_fired(b, QVEC);
		if (!fired)
			pause_us(20);
	}
	return fired;
}

static void msix_board(struct board *b)
{
	board_init(b);
	ring_fresh(b);
	assert_true(driver_up(b, true));
	board_start(b);
	(void)vector_fired(b, QVEC);   /* whatever set-up raised */
	(void)vector_fired(b, 0);
}

static void mask_entry(struct board *b, unsigned int v, bool masked)
{
	vw(b, VIRTIO_MSIX_TABLE_OFF + 16 * v + 12, masked ? 1 : 0, 4);
}

/* The PBA reads the pending vector at every width, and nothing else. */
static void assert_pending(struct board *b, bool pending)
{
	uint64_t want = pending ? 1u << QVEC : 0;

	assert_int_equal(pba(b, 8), want);
	assert_int_equal(pba(b, 4), want);
	assert_int_equal(pba(b, 2), want);
	assert_int_equal(pba(b, 1), want);
	assert_int_equal(vr(b, VIRTIO_MSIX_PBA_OFF + 1, 1), 0);
	assert_int_equal(vr(b, VIRTIO_MSIX_PBA_OFF + 4, 4), 0);
}

static void test_msix_unmasked_fires(void **state)
{
	struct board b;

	(void)state;
	msix_board(&b);
	assert_true(serve(&b, 0));
	assert_pending(&b, false);
	board_destroy(&b);
}

/* The function mask (message control bit 14) set while the device
 * interrupts: pending; clearing it delivers the vector. */
static void test_msix_function_mask_clear_delivers(void **state)
{
	struct board b;

	(void)state;
	msix_board(&b);
	msix_ctrl(&b, MSIX_ENABLE | MSIX_MASKALL);
	assert_false(serve(&b, 0));
	assert_pending(&b, true);
	assert_false(vector_fired(&b, QVEC));
	msix_ctrl(&b, MSIX_ENABLE);
	assert_true(vector_fired(&b, QVEC));
	assert_pending(&b, false);
	/* Once: no second interrupt, and the next one goes straight out. */
	msix_ctrl(&b, MSIX_ENABLE);
	assert_false(vector_fired(&b, QVEC));
	assert_true(serve(&b, 1));
	assert_pending(&b, false);
	board_destroy(&b);
}

/* Entry masked and function masked: unmasking the entry alone must not
 * deliver (the function is still masked); clearing the function mask
 * does. */
static void test_msix_entry_unmask_under_function_mask(void **state)
{
	struct board b;

	(void)state;
	msix_board(&b);
	mask_entry(&b, QVEC, true);
	msix_ctrl(&b, MSIX_ENABLE | MSIX_MASKALL);
	assert_false(serve(&b, 0));
	assert_pending(&b, true);
	mask_entry(&b, QVEC, false);
	assert_false(vector_fired(&b, QVEC));
	assert_pending(&b, true);
	msix_ctrl(&b, MSIX_ENABLE);
	assert_true(vector_fired(&b, QVEC));
	assert_pending(&b, false);
	board_destroy(&b);
}

/* Entry masked alone: clearing the (already clear) function mask or
 * masking it on and off again leaves the vector pending while its entry
 * is masked; unmasking the entry delivers it. */
static void test_msix_entry_unmask_delivers(void **state)
{
	struct board b;

	(void)state;
	msix_board(&b);
	mask_entry(&b, QVEC, true);
	assert_false(serve(&b, 0));
	assert_pending(&b, true);
	msix_ctrl(&b, MSIX_ENABLE | MSIX_MASKALL);
	msix_ctrl(&b, MSIX_ENABLE);
	assert_false(vector_fired(&b, QVEC));
	assert_pending(&b, true);
	mask_entry(&b, QVEC, false);
	assert_true(vector_fired(&b, QVEC));
	assert_pending(&b, false);
	/* Unmasking a vector with nothing pending interrupts nobody. */
	mask_entry(&b, QVEC, true);
	mask_entry(&b, QVEC, false);
	assert_false(vector_fired(&b, QVEC));
	board_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset_inside_kick_window),
		cmocka_unit_test(test_reset_reinit_inside_kick_window),
		cmocka_unit_test(test_enable_clears_broken),
		cmocka_unit_test(test_needs_reset_after_reset_ignored),
		cmocka_unit_test(test_kick_reset_race),
		cmocka_unit_test(test_kick_reset_race_wide),
		cmocka_unit_test(test_msix_unmasked_fires),
		cmocka_unit_test(test_msix_function_mask_clear_delivers),
		cmocka_unit_test(test_msix_entry_unmask_under_function_mask),
		cmocka_unit_test(test_msix_entry_unmask_delivers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
