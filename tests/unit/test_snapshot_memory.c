/* Unit tests of src/snapshot/memory.c: guest RAM written to a sparse file
 * (untouched and zero pages left as holes, what was written where it
 * was), loaded back mapped privately or read in, and a second snapshot of
 * memory mapped from the first keeping every page. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/memory.h"

#define PAGE 4096u
#define SIZE (64u << 20)  /* 64 MiB of "guest RAM" */

struct fixture {
	char dir[64];
	int dirfd;
	uint8_t *ram;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/nestvm-snapmem-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->dirfd >= 0);
	f->ram = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->ram != MAP_FAILED);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	munmap(f->ram, SIZE);
	close(f->dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A pattern in a few places; a page that is touched but zero; the rest untouched. */
static void fill(uint8_t *ram)
{
	memset(ram, 0x11, PAGE);                        /* page 0 */
	memset(ram + 5 * PAGE, 0x55, 3 * PAGE);         /* pages 5-7 */
	ram[(SIZE / 2) + 123] = 0x7f;                   /* one byte in the middle */
	memset(ram + SIZE - PAGE, 0xee, PAGE);          /* the last page */
	memset(ram + 9 * PAGE, 0, PAGE);                /* touched, zero */
}

static void assert_same(const uint8_t *a, const uint8_t *b)
{
	for (size_t off = 0; off < SIZE; off += PAGE)
		if (memcmp(a + off, b + off, PAGE)) {
			print_error("page %zu differs\n", off / PAGE);
			fail();
		}
}

static void test_write_is_sparse(void **state)
{
	struct fixture *f = *state;
	char err[256];
	uint64_t data = 0;
	struct stat st;

	fill(f->ram);
	assert_int_equal(snap_mem_write(f->dirfd, "memory", f->ram, SIZE, -1, &data, err,
					sizeof(err)), 0);
	/* pages 0, 5, 6, 7, the middle one and the last one */
	assert_int_equal(data, 6 * PAGE);
	assert_int_equal(fstatat(f->dirfd, "memory", &st, 0), 0);
	assert_int_equal(st.st_size, SIZE);
	assert_true((uint64_t)st.st_blocks * 512 <= 64 * PAGE);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_write_refuses_existing(void **state)
{
	struct fixture *f = *state;
	char err[256];
	uint64_t data;
	int fd = openat(f->dirfd, "memory", O_CREAT | O_WRONLY, 0600);

	close(fd);
	assert_int_equal(snap_mem_write(f->dirfd, "memory", f->ram, SIZE, -1, &data, err,
					sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "memory"));
}

static void roundtrip(struct fixture *f, bool eager)
{
	uint8_t *copy = malloc(SIZE), *back;
	char err[256];
	uint64_t data;
	int fd;

	fill(f->ram);
	memcpy(copy, f->ram, SIZE);
	assert_int_equal(snap_mem_write(f->dirfd, "memory", f->ram, SIZE, -1, &data, err,
					sizeof(err)), 0);
	back = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(back != MAP_FAILED);
	fd = snap_mem_open(f->dirfd, "memory", SIZE, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(snap_mem_load(fd, back, SIZE, eager, err, sizeof(err)), 0);
	assert_same(copy, back);
	/* Writes to the restored RAM never reach the file (copy on write). */
	memset(back, 0x99, PAGE);
	{
		uint8_t b;

		assert_int_equal(pread(fd, &b, 1, 0), 1);
		assert_int_equal(b, 0x11);
	}
	/* A second snapshot of RAM mapped from the first keeps every page,
	 * also those never touched since the restore (not resident). */
	if (!eager) {
		uint8_t *again = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int fd2;

		munmap(back, SIZE);
		back = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_int_equal(snap_mem_load(fd, back, SIZE, false, err, sizeof(err)), 0);
		back[PAGE * 2] = 0x22;                   /* a new page */
		copy[PAGE * 2] = 0x22;
		assert_int_equal(snap_mem_write(f->dirfd, "memory2", back, SIZE, fd, &data, err,
						sizeof(err)), 0);
		assert_int_equal(data, 7 * PAGE);
		fd2 = snap_mem_open(f->dirfd, "memory2", SIZE, err, sizeof(err));
		assert_true(fd2 >= 0);
		assert_int_equal(snap_mem_load(fd2, again, SIZE, true, err, sizeof(err)), 0);
		assert_same(copy, again);
		close(fd2);
		munmap(again, SIZE);
	}
	close(fd);
	munmap(back, SIZE);
	free(copy);
}

static void test_roundtrip_mapped(void **state)
{
	roundtrip(*state, false);
}

static void test_roundtrip_eager(void **state)
{
	roundtrip(*state, true);
}

static void test_open_checks(void **state)
{
	struct fixture *f = *state;
	char err[256];
	int fd;

	assert_int_equal(snap_mem_open(f->dirfd, "memory", SIZE, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no memory file"));
	fd = openat(f->dirfd, "memory", O_CREAT | O_WRONLY, 0600);
	assert_int_equal(ftruncate(fd, SIZE - PAGE), 0);
	close(fd);
	assert_int_equal(snap_mem_open(f->dirfd, "memory", SIZE, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bytes of RAM"));
	assert_int_equal(symlinkat("memory", f->dirfd, "link"), 0);
	assert_true(snap_mem_open(f->dirfd, "link", SIZE - PAGE, err, sizeof(err)) < 0);
	assert_int_equal(mkdirat(f->dirfd, "dir", 0700), 0);
	assert_int_equal(snap_mem_open(f->dirfd, "dir", SIZE, err, sizeof(err)), -EINVAL);
}

static void test_zero_page(void **state)
{
	uint8_t page[PAGE] __attribute__((aligned(8)));

	(void)state;
	memset(page, 0, sizeof(page));
	assert_true(snap_page_is_zero(page));
	page[PAGE - 1] = 1;
	assert_false(snap_page_is_zero(page));
	page[PAGE - 1] = 0;
	page[0] = 0x80;
	assert_false(snap_page_is_zero(page));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_is_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_refuses_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_mapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_eager, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_checks, setup, teardown),
		cmocka_unit_test(test_zero_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
