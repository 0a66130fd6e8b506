/* Unit tests of src/vmm/iobus.c: registration, overlap rules, lookup and
 * dispatch of port-I/O / MMIO accesses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vmm/iobus.h"

/* A fake device: remembers its last access, answers reads with a pattern. */
struct dev {
	int id;
	unsigned int calls;
	uint64_t offset;
	uint32_t len;
	bool is_write;
	uint8_t written[8];
};

static void dev_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct dev *d = opaque;

	d->calls++;
	d->offset = offset;
	d->len = len;
	d->is_write = is_write;
	if (is_write)
		memcpy(d->written, data, len < 8 ? len : 8);
	else
		for (uint32_t i = 0; i < len; i++)
			data[i] = (uint8_t)(d->id * 16 + offset + i);
}

static int setup(void **state)
{
	static struct iobus bus;

	iobus_init(&bus);
	*state = &bus;
	return 0;
}

static int teardown(void **state)
{
	iobus_destroy(*state);
	return 0;
}

static void assert_sorted_disjoint(const struct iobus *bus)
{
	for (size_t i = 0; i + 1 < bus->count; i++)
		assert_true(bus->regions[i].base + bus->regions[i].len <= bus->regions[i + 1].base);
}

static void test_empty_bus(void **state)
{
	struct iobus *bus = *state;
	uint8_t data[4] = { 0 };

	assert_int_equal(bus->count, 0);
	assert_null(iobus_find(bus, 0x3f8, 1));
	assert_false(iobus_dispatch(bus, 0x3f8, data, 1, false));
	assert_false(iobus_dispatch(bus, 0, data, 4, true));
}

static void test_register_find_dispatch(void **state)
{
	struct iobus *bus = *state;
	struct dev uart = { .id = 1 }, pm = { .id = 2 };
	const struct io_region *r;
	uint8_t data[4];

	assert_int_equal(iobus_register(bus, 0x3f8, 8, dev_io, &uart, "uart"), 0);
	assert_int_equal(iobus_register(bus, 0x600, 0x20, dev_io, &pm, "acpi-pm"), 0);
	assert_int_equal(bus->count, 2);

	r = iobus_find(bus, 0x3f8, 1);
	assert_non_null(r);
	assert_int_equal(r->base, 0x3f8);
	assert_int_equal(r->len, 8);
	assert_ptr_equal(r->fn, dev_io);
	assert_ptr_equal(r->opaque, &uart);
	assert_string_equal(r->name, "uart");
	assert_ptr_equal(iobus_find(bus, 0x3ff, 1), r);
	assert_ptr_equal(iobus_find(bus, 0x3f8, 8), r);
	assert_string_equal(iobus_find(bus, 0x604, 4)->name, "acpi-pm");

	/* A write reaches the device with its offset and bytes. */
	memcpy(data, "\x11\x22\x33\x44", 4);
	assert_true(iobus_dispatch(bus, 0x3fb, data, 1, true));
	assert_int_equal(uart.calls, 1);
	assert_int_equal(uart.offset, 3);
	assert_int_equal(uart.len, 1);
	assert_true(uart.is_write);
	assert_int_equal(uart.written[0], 0x11);

	/* A read: the device fills the caller's buffer. */
	memset(data, 0, sizeof(data));
	assert_true(iobus_dispatch(bus, 0x608, data, 4, false));
	assert_int_equal(pm.calls, 1);
	assert_int_equal(pm.offset, 8);
	assert_int_equal(pm.len, 4);
	assert_false(pm.is_write);
	assert_int_equal(data[0], 2 * 16 + 8);
	assert_int_equal(data[3], 2 * 16 + 11);
	assert_int_equal(uart.calls, 1);  /* the other device saw nothing */

	/* Nobody there. */
	assert_false(iobus_dispatch(bus, 0x3f7, data, 1, false));
	assert_false(iobus_dispatch(bus, 0x400, data, 1, false));
	assert_false(iobus_dispatch(bus, 0x620, data, 1, true));
	assert_false(iobus_dispatch(bus, 0xffff, data, 1, true));
	assert_int_equal(uart.calls + pm.calls, 2);
}

/* Every way a new range can overlap [0x100, 0x110). */
static void test_overlap_rejected(void **state)
{
	static const struct { uint64_t base, len; } bad[] = {
		{ 0x100, 0x10 },   /* the same */
		{ 0x104, 0x4 },    /* inside */
		{ 0xf0, 0x40 },    /* around */
		{ 0xf8, 0x10 },    /* over its start */
		{ 0x10c, 0x10 },   /* over its end */
		{ 0xff, 0x2 },     /* its first byte */
		{ 0x10f, 0x1 },    /* its last byte */
		{ 0x100, 0x1 },    /* same base, shorter */
		{ 0x100, 0x1000 }, /* same base, longer */
		{ 0x0, UINT64_MAX },
	};
	struct iobus *bus = *state;
	struct dev d = { .id = 1 };

	assert_int_equal(iobus_register(bus, 0x100, 0x10, dev_io, &d, "a"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (iobus_register(bus, bad[i].base, bad[i].len, dev_io, &d, "bad") != -EEXIST)
			fail_msg("[%#llx, +%#llx) was not rejected", (unsigned long long)bad[i].base,
				 (unsigned long long)bad[i].len);
	}
	assert_int_equal(bus->count, 1);
	assert_string_equal(iobus_find(bus, 0x100, 1)->name, "a");
}

static void test_overlap_between_neighbours(void **state)
{
	struct iobus *bus = *state;
	struct dev d = { .id = 1 };

	assert_int_equal(iobus_register(bus, 0x100, 0x10, dev_io, &d, "a"), 0);
	assert_int_equal(iobus_register(bus, 0x200, 0x10, dev_io, &d, "c"), 0);
	assert_int_equal(iobus_register(bus, 0x300, 0x10, dev_io, &d, "e"), 0);
	/* Into the next region, from the previous one, spanning both, spanning all. */
	assert_int_equal(iobus_register(bus, 0x180, 0x81, dev_io, &d, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x10f, 0x10, dev_io, &d, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x10f, 0xf2, dev_io, &d, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x110, 0x200, dev_io, &d, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x0, 0x1000, dev_io, &d, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x20f, 0x1, dev_io, &d, "x"), -EEXIST);
	/* The gaps themselves are free, and filling them keeps the order. */
	assert_int_equal(iobus_register(bus, 0x110, 0xf0, dev_io, &d, "b"), 0);
	assert_int_equal(iobus_register(bus, 0x210, 0xf0, dev_io, &d, "d"), 0);
	assert_int_equal(bus->count, 5);
	assert_sorted_disjoint(bus);
	assert_string_equal(bus->regions[0].name, "a");
	assert_string_equal(bus->regions[1].name, "b");
	assert_string_equal(bus->regions[2].name, "c");
	assert_string_equal(bus->regions[3].name, "d");
	assert_string_equal(bus->regions[4].name, "e");
}

static void test_adjacent_allowed(void **state)
{
	struct iobus *bus = *state;
	struct dev a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
	uint8_t data[2] = { 0 };

	assert_int_equal(iobus_register(bus, 0x100, 0x10, dev_io, &b, "b"), 0);
	assert_int_equal(iobus_register(bus, 0xf0, 0x10, dev_io, &a, "a"), 0);   /* just below */
	assert_int_equal(iobus_register(bus, 0x110, 0x10, dev_io, &c, "c"), 0);  /* just above */
	assert_int_equal(bus->count, 3);
	assert_sorted_disjoint(bus);

	/* The boundary bytes go to the right device. */
	assert_true(iobus_dispatch(bus, 0xff, data, 1, false));
	assert_true(iobus_dispatch(bus, 0x100, data, 1, false));
	assert_true(iobus_dispatch(bus, 0x10f, data, 1, false));
	assert_true(iobus_dispatch(bus, 0x110, data, 1, false));
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.offset, 0xf);
	assert_int_equal(b.calls, 2);
	assert_int_equal(b.offset, 0xf);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.offset, 0);

	/* An access across two adjacent regions belongs to neither. */
	assert_null(iobus_find(bus, 0x10f, 2));
	assert_false(iobus_dispatch(bus, 0xff, data, 2, true));
	assert_int_equal(a.calls + b.calls + c.calls, 4);
}

static void test_invalid_ranges(void **state)
{
	struct iobus *bus = *state;
	struct dev d = { .id = 1 };

	assert_int_equal(iobus_register(bus, 0x100, 0, dev_io, &d, "empty"), -EINVAL);
	assert_int_equal(iobus_register(bus, 0, 0, dev_io, &d, "empty"), -EINVAL);
	assert_int_equal(iobus_register(bus, UINT64_MAX, 2, dev_io, &d, "wrap"), -EINVAL);
	assert_int_equal(iobus_register(bus, UINT64_MAX - 3, 0x10, dev_io, &d, "wrap"), -EINVAL);
	assert_int_equal(iobus_register(bus, 1, UINT64_MAX, dev_io, &d, "wrap"), -EINVAL);
	assert_int_equal(iobus_register(bus, 0x100, 0x10, NULL, &d, "no handler"), -EINVAL);
	assert_int_equal(bus->count, 0);

	/* The very top of the address space, short of wrapping, is fine. */
	assert_int_equal(iobus_register(bus, UINT64_MAX - 0xf, 0xf, dev_io, &d, "top"), 0);
	assert_non_null(iobus_find(bus, UINT64_MAX - 1, 1));
	assert_null(iobus_find(bus, UINT64_MAX - 1, 2));
	assert_null(iobus_find(bus, UINT64_MAX, 1));
}

static void test_straddling_end_not_dispatched(void **state)
{
	struct iobus *bus = *state;
	struct dev d = { .id = 1 };
	uint8_t data[8] = { 0 };

	assert_int_equal(iobus_register(bus, 0x3f8, 8, dev_io, &d, "uart"), 0);
	/* Ending exactly at the region's end: fine. */
	assert_true(iobus_dispatch(bus, 0x3fc, data, 4, false));
	assert_int_equal(d.offset, 4);
	assert_true(iobus_dispatch(bus, 0x3f8, data, 8, false));
	/* One byte past it, or starting before it: not dispatched. */
	assert_false(iobus_dispatch(bus, 0x3fd, data, 4, true));
	assert_false(iobus_dispatch(bus, 0x3ff, data, 2, true));
	assert_false(iobus_dispatch(bus, 0x3f7, data, 2, true));
	assert_false(iobus_dispatch(bus, 0x3f8, data, 8 + 1, true));
	assert_false(iobus_dispatch(bus, 0x3f9, data, UINT32_MAX, true));
	assert_null(iobus_find(bus, 0x3fd, 4));
	assert_null(iobus_find(bus, 0x3f7, 1));
	assert_int_equal(d.calls, 2);
}

static void test_offsets_in_mmio(void **state)
{
	struct iobus *bus = *state;
	struct dev lapic = { .id = 4 }, ioapic = { .id = 5 };
	uint8_t data[4];
	uint32_t v = 0xdeadbeef;

	assert_int_equal(iobus_register(bus, 0xfee00000, 0x1000, dev_io, &lapic, "lapic"), 0);
	assert_int_equal(iobus_register(bus, 0xfec00000, 0x100, dev_io, &ioapic, "ioapic"), 0);
	assert_int_equal(iobus_register(bus, 0x100000000ULL, 0x1000, dev_io, &ioapic, "high"), 0);

	memcpy(data, &v, 4);
	assert_true(iobus_dispatch(bus, 0xfee00300, data, 4, true));
	assert_int_equal(lapic.offset, 0x300);
	assert_int_equal(lapic.len, 4);
	assert_memory_equal(lapic.written, &v, 4);
	assert_true(iobus_dispatch(bus, 0xfec00010, data, 4, false));
	assert_int_equal(ioapic.offset, 0x10);
	assert_true(iobus_dispatch(bus, 0x100000ff8ULL, data, 4, false));
	assert_int_equal(ioapic.offset, 0xff8);
	assert_false(iobus_dispatch(bus, 0xfee01000, data, 4, false));
}

/* Enough regions to grow the table several times, registered out of order. */
static void test_many_regions(void **state)
{
	enum { N = 300 };
	static struct dev devs[N];
	struct iobus *bus = *state;
	uint8_t data[4];

	for (int k = 0; k < N; k++) {
		int i = (k * 7) % N;   /* 7 and 300 are coprime: each i once */

		devs[i] = (struct dev){ .id = i };
		assert_int_equal(iobus_register(bus, 0x1000 + 0x10 * (uint64_t)i, 0x8, dev_io,
						&devs[i], "dev"), 0);
	}
	assert_int_equal(bus->count, N);
	assert_true(bus->cap >= N);
	assert_sorted_disjoint(bus);
	for (int i = 0; i < N; i++)
		assert_int_equal(bus->regions[i].base, 0x1000 + 0x10 * (uint64_t)i);

	for (int i = 0; i < N; i++) {
		assert_true(iobus_dispatch(bus, 0x1000 + 0x10 * (uint64_t)i + 5, data, 2, false));
		assert_int_equal(devs[i].calls, 1);
		assert_int_equal(devs[i].offset, 5);
		/* The gap after each region is free. */
		assert_false(iobus_dispatch(bus, 0x1000 + 0x10 * (uint64_t)i + 8, data, 1, false));
	}
	/* Overlaps are still caught in a large table, at both ends and within. */
	assert_int_equal(iobus_register(bus, 0x1000, 1, dev_io, &devs[0], "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x1000 + 0x10 * 150 + 7, 4, dev_io, &devs[0], "x"),
			 -EEXIST);
	assert_int_equal(iobus_register(bus, 0x1000 + 0x10 * (N - 1), 1, dev_io, &devs[0], "x"),
			 -EEXIST);
	assert_int_equal(iobus_register(bus, 0xff8, 9, dev_io, &devs[0], "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0xff8, 8, dev_io, &devs[0], "below"), 0);
	assert_int_equal(bus->count, N + 1);
	assert_string_equal(bus->regions[0].name, "below");
}

static void test_destroy_resets(void **state)
{
	struct iobus *bus = *state;
	struct dev d = { .id = 1 };

	assert_int_equal(iobus_register(bus, 0x60, 1, dev_io, &d, "kbd"), 0);
	iobus_destroy(bus);
	assert_null(bus->regions);
	assert_int_equal(bus->count, 0);
	assert_null(iobus_find(bus, 0x60, 1));
	/* Usable again after destroy. */
	assert_int_equal(iobus_register(bus, 0x60, 1, dev_io, &d, "kbd"), 0);
	assert_non_null(iobus_find(bus, 0x60, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_find_dispatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_between_neighbours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adjacent_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddling_end_not_dispatched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offsets_in_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_resets, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
