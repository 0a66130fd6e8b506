/* Unit tests of vm_coalesced_drain() (src/vmm/vm.c): the writes KVM queued
 * in its coalesced ring are replayed on the port bus in order, the ring's
 * consumer index follows, and a wrapped ring is read across its end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/vm.h"

static uint32_t seen[64];
static unsigned int nseen;

static void addr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t v = 0;

	(void)opaque;
	(void)offset;
	assert_true(is_write);
	assert_int_equal(len, 4);
	memcpy(&v, data, 4);
	if (nseen < 64)
		seen[nseen++] = v;
}

struct fixture {
	struct vm vm;
	struct kvm_coalesced_mmio_ring *ring;
	uint32_t max;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	long page = sysconf(_SC_PAGESIZE);

	assert_non_null(f);
	f->ring = calloc(1, (size_t)page);
	assert_non_null(f->ring);
	f->max = (uint32_t)(((size_t)page - sizeof(*f->ring)) / sizeof(struct kvm_coalesced_mmio));
	iobus_init(&f->vm.pio);
	iobus_init(&f->vm.mmio);
	assert_int_equal(iobus_register(&f->vm.pio, 0xcf8, 4, addr_io, NULL, "addr"), 0);
	pthread_mutex_init(&f->vm.coalesced_lock, NULL);
	f->vm.coalesced_ring = f->ring;
	nseen = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	iobus_destroy(&f->vm.pio);
	iobus_destroy(&f->vm.mmio);
	free(f->ring);
	free(f);
	return 0;
}

/* Queue a 4-byte port write as KVM does: fill the slot, then advance last. */
static void produce(struct fixture *f, uint32_t v)
{
	struct kvm_coalesced_mmio *e = &f->ring->coalesced_mmio[f->ring->last];

	e->phys_addr = 0xcf8;
	e->len = 4;
	e->pio = 1;
	memcpy(e->data, &v, 4);
	f->ring->last = (f->ring->last + 1) % f->max;
}

static void test_empty_ring_does_nothing(void **state)
{
	struct fixture *f = *state;

	vm_coalesced_drain(&f->vm);
	assert_int_equal(nseen, 0);
	assert_int_equal(f->vm.coalesced_writes, 0);
}

static void test_replays_in_order(void **state)
{
	struct fixture *f = *state;

	produce(f, 0x80000000);
	produce(f, 0x80000800);
	produce(f, 0x80001000);
	vm_coalesced_drain(&f->vm);
	assert_int_equal(nseen, 3);
	assert_int_equal(seen[0], 0x80000000);
	assert_int_equal(seen[1], 0x80000800);
	assert_int_equal(seen[2], 0x80001000);
	assert_int_equal(f->ring->first, f->ring->last);
	assert_int_equal(f->vm.coalesced_writes, 3);
	vm_coalesced_drain(&f->vm);            /* drained: nothing more */
	assert_int_equal(nseen, 3);
}

static void test_wraps_around(void **state)
{
	struct fixture *f = *state;

	f->ring->first = f->ring->last = f->max - 2;
	for (uint32_t i = 0; i < 5; i++)
		produce(f, 0x80000000 | i);
	assert_int_equal(f->ring->last, 3);
	vm_coalesced_drain(&f->vm);
	assert_int_equal(nseen, 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(seen[i], 0x80000000 | i);
	assert_int_equal(f->ring->first, 3);
}

static void test_no_ring(void **state)
{
	struct fixture *f = *state;

	produce(f, 1);
	f->vm.coalesced_ring = NULL;           /* KVM without coalesced PIO */
	vm_coalesced_drain(&f->vm);
	assert_int_equal(nseen, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_ring_does_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replays_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wraps_around, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_ring, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
