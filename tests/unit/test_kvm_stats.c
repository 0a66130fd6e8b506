/* Unit tests of the KVM binary-stats parser (src/vmm/kvm_stats.c) on
 * synthetic stats files: header, id string, descriptors, data, and
 * malformed ones (offsets past the end, name_size 0, huge counts). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/kvm_stats.h"

#define NAME_SIZE  48   /* what the kernel uses */
#define TYPE_CUMULATIVE 0x0
#define TYPE_INSTANT    0x1
#define TYPE_LINEAR_HIST 0x3
#define UNIT_BOOLEAN    0x40

struct stat_def {
	const char *name;
	uint32_t flags;
	uint16_t size;
	uint64_t value;
};

/* A stats file as KVM lays it out: header, id, descriptors, data. */
struct blob {
	uint8_t b[4096];
	size_t len;
	uint32_t desc_offset, data_offset;
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void build(struct blob *bl, const struct stat_def *defs, unsigned int n)
{
	uint32_t desc_len = 16 + NAME_SIZE, data_off = 0;
	uint8_t *d;

	memset(bl, 0, sizeof(*bl));
	bl->desc_offset = 24 + 48;  /* header, then a 48-byte id string */
	bl->data_offset = bl->desc_offset + n * desc_len;
	put32(bl->b + 0, 0);
	put32(bl->b + 4, NAME_SIZE);
	put32(bl->b + 8, n);
	put32(bl->b + 12, 24);
	put32(bl->b + 16, bl->desc_offset);
	put32(bl->b + 20, bl->data_offset);
	strcpy((char *)bl->b + 24, "kvm-1234/vcpu-0");
	for (unsigned int i = 0; i < n; i++) {
		d = bl->b + bl->desc_offset + i * desc_len;
		put32(d + 0, defs[i].flags);
		d[6] = (uint8_t)defs[i].size;
		d[7] = (uint8_t)(defs[i].size >> 8);
		put32(d + 8, data_off);
		strncpy((char *)d + 16, defs[i].name, NAME_SIZE);
		for (unsigned int k = 0; k < defs[i].size; k++)
			put64(bl->b + bl->data_offset + data_off + 8 * k, defs[i].value + k);
		data_off += 8u * defs[i].size;
	}
	bl->len = bl->data_offset + data_off;
	assert_true(bl->len <= sizeof(bl->b));
}

static const struct stat_def vcpu_stats[] = {
	{ "halt_exits", TYPE_CUMULATIVE, 1, 11 },
	{ "halt_poll_success_hist", TYPE_LINEAR_HIST, 32, 100 },
	{ "nested_run", TYPE_CUMULATIVE, 1, 4242 },
	{ "guest_mode", TYPE_INSTANT | UNIT_BOOLEAN, 1, 1 },
	{ "exits", TYPE_CUMULATIVE, 1, 99 },
};
#define NSTATS (sizeof(vcpu_stats) / sizeof(vcpu_stats[0]))

static uint64_t lookup(const struct blob *bl, const char *name, int want_r)
{
	uint64_t pos = 0, val = 0;

	assert_int_equal(kvm_stats_find(bl->b, bl->len, name, &pos), want_r);
	if (want_r)
		return UINT64_MAX;
	assert_int_equal(kvm_stats_value(bl->b, bl->len, pos, &val), 0);
	return val;
}

static void test_finds_values(void **state)
{
	struct blob bl;
	uint64_t end;

	(void)state;
	build(&bl, vcpu_stats, NSTATS);
	assert_int_equal(kvm_stats_desc_end(bl.b, bl.len, &end), 0);
	assert_int_equal(end, bl.data_offset);
	assert_int_equal(lookup(&bl, "nested_run", 0), 4242);
	assert_int_equal(lookup(&bl, "guest_mode", 0), 1);
	assert_int_equal(lookup(&bl, "halt_exits", 0), 11);
	assert_int_equal(lookup(&bl, "exits", 0), 99);
	/* absent, a prefix, a histogram (its first bucket is no counter) */
	lookup(&bl, "nested_runs", -ENOENT);
	lookup(&bl, "nested", -ENOENT);
	lookup(&bl, "", -ENOENT);
	lookup(&bl, "halt_poll_success_hist", -ENOENT);
	/* the descriptors alone are enough to find the position */
	{
		uint64_t pos;
		assert_int_equal(kvm_stats_find(bl.b, bl.data_offset, "exits", &pos), 0);
		assert_true(pos >= bl.data_offset);
		assert_int_equal(kvm_stats_value(bl.b, bl.data_offset, pos, &end), -EINVAL);
	}
}

static void test_no_descriptors(void **state)
{
	struct blob bl;

	(void)state;
	build(&bl, vcpu_stats, 0);
	lookup(&bl, "nested_run", -ENOENT);
}

static void test_short_or_null(void **state)
{
	struct blob bl;
	uint64_t pos, end;

	(void)state;
	build(&bl, vcpu_stats, NSTATS);
	for (size_t len = 0; len < 24; len++) {
		assert_int_equal(kvm_stats_find(bl.b, len, "nested_run", &pos), -EINVAL);
		assert_int_equal(kvm_stats_desc_end(bl.b, len, &end), -EINVAL);
	}
	assert_int_equal(kvm_stats_find(NULL, 100, "nested_run", &pos), -EINVAL);
	/* every truncation of the descriptor block is refused, never read past */
	for (size_t len = 24; len < bl.data_offset; len++)
		assert_int_equal(kvm_stats_find(bl.b, len, "exits", &pos), -EINVAL);
}

static void test_bad_name_size(void **state)
{
	struct blob bl;
	uint64_t pos, end;

	(void)state;
	build(&bl, vcpu_stats, NSTATS);
	put32(bl.b + 4, 0);
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -EINVAL);
	assert_int_equal(kvm_stats_desc_end(bl.b, bl.len, &end), -EINVAL);
	put32(bl.b + 4, KVM_STATS_NAME_MAX + 1);
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -EINVAL);
	put32(bl.b + 4, UINT32_MAX);
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -EINVAL);
	/* a larger name_size than the real one: descriptors run past the end */
	put32(bl.b + 4, 4000);
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -EINVAL);
}

static void test_huge_counts_and_offsets(void **state)
{
	struct blob bl;
	uint64_t pos, end;

	(void)state;
	build(&bl, vcpu_stats, NSTATS);
	put32(bl.b + 8, UINT32_MAX);            /* num_desc */
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -EINVAL);
	assert_int_equal(kvm_stats_desc_end(bl.b, bl.len, &end), -EINVAL);
	put32(bl.b + 8, 60000);                 /* a plausible count, but past the end */
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -EINVAL);
	assert_int_equal(kvm_stats_desc_end(bl.b, bl.len, &end), 0);
	assert_int_equal(end, bl.desc_offset + 60000ull * (16 + NAME_SIZE));
	/* the most descriptors allowed, but their block is above the 4 MiB cap */
	put32(bl.b + 8, KVM_STATS_DESC_MAX);
	assert_int_equal(kvm_stats_desc_end(bl.b, bl.len, &end), -EINVAL);

	build(&bl, vcpu_stats, NSTATS);
	put32(bl.b + 16, UINT32_MAX);           /* desc_offset */
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -EINVAL);
	put32(bl.b + 16, (uint32_t)bl.len);     /* descriptors start at the end */
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -EINVAL);

	/* data_offset / a value offset far away: found, but the value is out
	 * of the blob, and kvm_stats_value says so (pos cannot wrap) */
	build(&bl, vcpu_stats, NSTATS);
	put32(bl.b + 20, UINT32_MAX);
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), 0);
	assert_int_equal(pos, (uint64_t)UINT32_MAX + 8 * 33);
	assert_int_equal(kvm_stats_value(bl.b, bl.len, pos, &end), -EINVAL);
	assert_int_equal(kvm_stats_value(bl.b, bl.len, UINT64_MAX, &end), -EINVAL);
	assert_int_equal(kvm_stats_value(bl.b, bl.len, bl.len - 7, &end), -EINVAL);
	assert_int_equal(kvm_stats_value(bl.b, 7, 0, &end), -EINVAL);
	assert_int_equal(kvm_stats_value(bl.b, bl.len, bl.len - 8, &end), 0);
}

static void test_unterminated_name_never_matches(void **state)
{
	struct blob bl;
	uint64_t pos;
	uint8_t *d;

	(void)state;
	build(&bl, vcpu_stats, NSTATS);
	/* "nested_run" is descriptor 2: fill its whole name field */
	d = bl.b + bl.desc_offset + 2 * (16 + NAME_SIZE);
	memset(d + 16, 'n', NAME_SIZE);
	memcpy(d + 16, "nested_run", 10);
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -ENOENT);
	/* a zero-size (no value) statistic is not found either */
	build(&bl, vcpu_stats, NSTATS);
	d = bl.b + bl.desc_offset + 2 * (16 + NAME_SIZE);
	d[6] = d[7] = 0;
	assert_int_equal(kvm_stats_find(bl.b, bl.len, "nested_run", &pos), -ENOENT);
}

/* The fd side on a real file with the same bytes. */
static void test_locate_and_read_file(void **state)
{
	static const char *const names[] = { "nested_run", "guest_mode", "nope" };
	char path[] = "/tmp/nestvm-kvm-stats-XXXXXX";
	struct blob bl;
	uint64_t pos[3], v;
	int fd;

	(void)state;
	build(&bl, vcpu_stats, NSTATS);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, bl.b, bl.len), (ssize_t)bl.len);
	assert_int_equal(kvm_stats_locate(fd, names, pos, 3), 0);
	assert_int_not_equal(pos[0], KVM_STATS_NONE);
	assert_int_not_equal(pos[1], KVM_STATS_NONE);
	assert_int_equal(pos[2], KVM_STATS_NONE);
	assert_int_equal(kvm_stats_read(fd, pos[0], &v), 0);
	assert_int_equal(v, 4242);
	assert_int_equal(kvm_stats_read(fd, pos[1], &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(kvm_stats_read(fd, pos[2], &v), -ENOENT);
	assert_int_equal(kvm_stats_read(fd, bl.len - 4, &v), -EIO);  /* short */
	assert_int_equal(kvm_stats_read(-1, pos[0], &v), -ENOENT);

	/* a truncated file: refused, every position NONE */
	assert_int_equal(ftruncate(fd, bl.data_offset - 1), 0);
	pos[0] = 0;
	assert_int_equal(kvm_stats_locate(fd, names, pos, 3), -EIO);
	assert_int_equal(pos[0], KVM_STATS_NONE);
	/* an absurd header */
	assert_int_equal(ftruncate(fd, 0), 0);
	put32(bl.b + 4, 0);
	assert_int_equal(pwrite(fd, bl.b, bl.len, 0), (ssize_t)bl.len);
	assert_int_equal(kvm_stats_locate(fd, names, pos, 3), -EINVAL);
	assert_int_equal(pos[1], KVM_STATS_NONE);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_values),
		cmocka_unit_test(test_no_descriptors),
		cmocka_unit_test(test_short_or_null),
		cmocka_unit_test(test_bad_name_size),
		cmocka_unit_test(test_huge_counts_and_offsets),
		cmocka_unit_test(test_unterminated_name_never_matches),
		cmocka_unit_test(test_locate_and_read_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
