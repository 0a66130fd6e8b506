/* Unit tests of src/vmm/guest_mem.c: the guest-physical to host mapping
 * around the 3-4 GiB hole and its bounds checks.
 *
 * Large layouts sit over a fake host address that is never dereferenced:
 * only the pointer arithmetic of guest_mem_ptr() is compared. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/guest_mem.h"

#define MIB  (1ULL << 20)
#define GIB  (1ULL << 30)
#define HOLE GUEST_MEM_HOLE_START   /* 3 GiB */
#define HIGH GUEST_MEM_HIGH_START   /* 4 GiB */

/* 16 TiB: far from 0 and from the top, so base + 9 GiB stays a valid value. */
#define FAKE_HOST ((uint8_t *)(uintptr_t)0x100000000000ULL)

static struct guest_mem fake(uint64_t size)
{
	struct guest_mem m;

	guest_mem_init_layout(&m, FAKE_HOST, size);
	return m;
}

/* Offset of guest_mem_ptr()'s answer from the host base; -1 for NULL. */
static int64_t host_off(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(m, gpa, len);

	if (!p)
		return -1;
	return (int64_t)((uintptr_t)p - (uintptr_t)m->host);
}

static void test_layout(void **state)
{
	struct guest_mem m;

	(void)state;
	m = fake(64 * MIB);
	assert_ptr_equal(m.host, FAKE_HOST);
	assert_int_equal(m.size, 64 * MIB);
	assert_int_equal(m.low_size, 64 * MIB);
	m = fake(3 * GIB);
	assert_int_equal(m.low_size, 3 * GIB);
	m = fake(3 * GIB - 4096);
	assert_int_equal(m.low_size, 3 * GIB - 4096);
	m = fake(3 * GIB + 4096);
	assert_int_equal(m.low_size, 3 * GIB);
	m = fake(8 * GIB);
	assert_int_equal(m.size, 8 * GIB);
	assert_int_equal(m.low_size, 3 * GIB);
}

static void test_below_hole(void **state)
{
	struct guest_mem m = fake(64 * MIB);

	(void)state;
	assert_int_equal(host_off(&m, 0, 1), 0);
	assert_int_equal(host_off(&m, 0x1000, 4096), 0x1000);
	assert_int_equal(host_off(&m, 0, 64 * MIB), 0);          /* all of it */
	assert_int_equal(host_off(&m, 64 * MIB - 1, 1), 64 * MIB - 1);
	/* Past the end. */
	assert_int_equal(host_off(&m, 64 * MIB - 1, 2), -1);
	assert_int_equal(host_off(&m, 64 * MIB, 1), -1);
	assert_int_equal(host_off(&m, 0, 64 * MIB + 1), -1);
	assert_int_equal(host_off(&m, 1 * GIB, 1), -1);
	/* Nothing in the hole or above 4 GiB when RAM is small. */
	assert_int_equal(host_off(&m, HOLE, 1), -1);
	assert_int_equal(host_off(&m, HIGH, 1), -1);
	assert_int_equal(host_off(&m, HIGH + 64 * MIB - 1, 1), -1);
}

static void test_exactly_3g(void **state)
{
	struct guest_mem m = fake(3 * GIB);

	(void)state;
	assert_int_equal(host_off(&m, HOLE - 1, 1), HOLE - 1);
	assert_int_equal(host_off(&m, 0, 3 * GIB), 0);
	assert_int_equal(host_off(&m, HOLE - 1, 2), -1);
	assert_int_equal(host_off(&m, HOLE, 1), -1);
	assert_int_equal(host_off(&m, HIGH, 1), -1);
}

static void test_above_hole(void **state)
{
	struct guest_mem m = fake(8 * GIB);   /* 3 GiB low, 5 GiB from 4 GiB */

	(void)state;
	assert_int_equal(host_off(&m, 0, 1), 0);
	assert_int_equal(host_off(&m, HOLE - 4096, 4096), HOLE - 4096);
	assert_int_equal(host_off(&m, HOLE - 1, 1), HOLE - 1);
	/* High RAM follows low RAM in the host mapping. */
	assert_int_equal(host_off(&m, HIGH, 1), 3 * GIB);
	assert_int_equal(host_off(&m, HIGH + 0x1234, 8), 3 * GIB + 0x1234);
	assert_int_equal(host_off(&m, HIGH, 5 * GIB), 3 * GIB);   /* all of high RAM */
	assert_int_equal(host_off(&m, 9 * GIB - 1, 1), 8 * GIB - 1);
	/* The end of memory. */
	assert_int_equal(host_off(&m, 9 * GIB - 1, 2), -1);
	assert_int_equal(host_off(&m, 9 * GIB, 1), -1);
	assert_int_equal(host_off(&m, HIGH, 5 * GIB + 1), -1);
	assert_int_equal(host_off(&m, 100 * GIB, 1), -1);
}

static void test_hole(void **state)
{
	struct guest_mem m = fake(8 * GIB);

	(void)state;
	/* Inside it. */
	assert_int_equal(host_off(&m, HOLE, 1), -1);
	assert_int_equal(host_off(&m, HOLE + GIB / 2, 4), -1);
	assert_int_equal(host_off(&m, 0xfee00000, 4), -1);      /* the LAPIC */
	assert_int_equal(host_off(&m, HIGH - 1, 1), -1);
	/* Straddling either edge, or all of it. */
	assert_int_equal(host_off(&m, HOLE - 1, 2), -1);
	assert_int_equal(host_off(&m, HOLE - 4096, 8192), -1);
	assert_int_equal(host_off(&m, HIGH - 1, 2), -1);
	assert_int_equal(host_off(&m, HOLE - 1, GIB + 2), -1);
	assert_int_equal(host_off(&m, 0, 8 * GIB), -1);          /* as much as there is RAM */
	assert_int_equal(host_off(&m, 0, HIGH + 1), -1);
}

static void test_zero_length(void **state)
{
	struct guest_mem small = fake(64 * MIB), big = fake(8 * GIB);

	(void)state;
	/* Inside a region or at its end: valid. */
	assert_int_equal(host_off(&small, 0, 0), 0);
	assert_int_equal(host_off(&small, 4096, 0), 4096);
	assert_int_equal(host_off(&small, 64 * MIB, 0), 64 * MIB);
	assert_int_equal(host_off(&big, HOLE, 0), 3 * GIB);
	assert_int_equal(host_off(&big, HIGH, 0), 3 * GIB);
	assert_int_equal(host_off(&big, 9 * GIB, 0), 8 * GIB);
	/* Elsewhere: not. */
	assert_int_equal(host_off(&small, 64 * MIB + 1, 0), -1);
	assert_int_equal(host_off(&big, HOLE + 1, 0), -1);
	assert_int_equal(host_off(&big, HIGH - 1, 0), -1);
	assert_int_equal(host_off(&big, 9 * GIB + 1, 0), -1);
	assert_int_equal(host_off(&big, UINT64_MAX, 0), -1);
}

/* gpa + len wrapping around 2^64 must not look like a small range. */
static void test_length_overflow(void **state)
{
	struct guest_mem small = fake(64 * MIB), big = fake(8 * GIB);

	(void)state;
	assert_int_equal(host_off(&small, 0, UINT64_MAX), -1);
	assert_int_equal(host_off(&small, 1, UINT64_MAX), -1);
	assert_int_equal(host_off(&small, 0x1000, UINT64_MAX - 0x800), -1);
	assert_int_equal(host_off(&small, UINT64_MAX, 1), -1);
	assert_int_equal(host_off(&small, UINT64_MAX, 2), -1);
	assert_int_equal(host_off(&small, UINT64_MAX - 15, 32), -1);
	assert_int_equal(host_off(&big, HIGH + 16, UINT64_MAX - 8), -1);
	assert_int_equal(host_off(&big, HIGH, UINT64_MAX), -1);
	assert_int_equal(host_off(&big, HOLE - 1, UINT64_MAX), -1);
	assert_int_equal(host_off(&big, UINT64_MAX - 4095, 4096), -1);
	assert_int_equal(host_off(&big, UINT64_MAX - 4095, 8192), -1);
}

/* Reads and writes on a real buffer. */
static void test_read_write(void **state)
{
	const uint64_t size = 1 * MIB;
	uint8_t *host = calloc(1, size);
	struct guest_mem m;
	uint8_t buf[16], back[16];

	(void)state;
	assert_non_null(host);
	guest_mem_init_layout(&m, host, size);
	for (unsigned int i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0xa0 + i);

	assert_int_equal(guest_mem_write(&m, 0x1000, buf, sizeof(buf)), 0);
	assert_memory_equal(host + 0x1000, buf, sizeof(buf));
	memset(back, 0, sizeof(back));
	assert_int_equal(guest_mem_read(&m, 0x1000, back, sizeof(back)), 0);
	assert_memory_equal(back, buf, sizeof(buf));

	/* The last bytes of memory. */
	assert_int_equal(guest_mem_write(&m, size - sizeof(buf), buf, sizeof(buf)), 0);
	assert_memory_equal(host + size - sizeof(buf), buf, sizeof(buf));
	assert_int_equal(guest_mem_read(&m, size - 1, back, 1), 0);
	assert_int_equal(back[0], buf[15]);

	/* One byte too far: -EFAULT and nothing copied either way. */
	memset(host + size - 16, 0x5a, 16);
	assert_int_equal(guest_mem_write(&m, size - 15, buf, 16), -EFAULT);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(host[size - 16 + i], 0x5a);
	memset(back, 0x77, sizeof(back));
	assert_int_equal(guest_mem_read(&m, size - 15, back, 16), -EFAULT);
	assert_int_equal(back[0], 0x77);
	assert_int_equal(guest_mem_write(&m, size, buf, 1), -EFAULT);
	assert_int_equal(guest_mem_read(&m, HOLE, back, 1), -EFAULT);
	assert_int_equal(guest_mem_read(&m, HIGH, back, 1), -EFAULT);
	assert_int_equal(guest_mem_write(&m, 0x1000, buf, SIZE_MAX), -EFAULT);
	assert_int_equal(guest_mem_read(&m, UINT64_MAX, back, 2), -EFAULT);

	/* Zero bytes at the end: nothing to do, not a fault. */
	assert_int_equal(guest_mem_write(&m, size, buf, 0), 0);
	assert_int_equal(guest_mem_read(&m, size, back, 0), 0);

	free(host);
}

static void test_alloc_free(void **state)
{
	struct guest_mem m;
	uint32_t v = 0x12345678, back = 0;

	(void)state;
	assert_int_equal(guest_mem_alloc(&m, 4 * MIB), 0);
	assert_non_null(m.host);
	assert_int_equal((uintptr_t)m.host % (2 * MIB), 0); /* 2 MiB aligned: huge pages */
	assert_int_equal(m.size, 4 * MIB);
	assert_int_equal(m.low_size, 4 * MIB);
	assert_int_equal(m.host[4 * MIB - 1], 0);    /* anonymous memory starts zeroed */
	assert_int_equal(guest_mem_write(&m, 4 * MIB - 4, &v, 4), 0);
	assert_int_equal(guest_mem_read(&m, 4 * MIB - 4, &back, 4), 0);
	assert_int_equal(back, v);
	guest_mem_free(&m);
	assert_null(m.host);
	assert_int_equal(m.size, 0);
	assert_int_equal(m.low_size, 0);
	assert_null(guest_mem_ptr(&m, 0, 1));
	guest_mem_free(&m);                          /* twice is harmless */
	assert_null(m.host);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_below_hole),
		cmocka_unit_test(test_exactly_3g),
		cmocka_unit_test(test_above_hole),
		cmocka_unit_test(test_hole),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_length_overflow),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_alloc_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
