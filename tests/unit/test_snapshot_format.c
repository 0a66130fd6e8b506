/* Unit tests of the snapshot container (src/snapshot/format.c).
 *
 * Round trip: sections written (an empty one and a 1 MiB one among them)
 * come back by (type, index) with their bytes, version and offset. The
 * reader must refuse, with a message, every single-bit flip of a small
 * file, every truncation, trailing bytes, a wrong magic, another format
 * version (-EPROTO), sections over the caps (-EFBIG), a (type, index) pair
 * twice and bad type names; files crafted here get correct CRCs so that the
 * check under test is the one that refuses them. The writer must refuse
 * what the reader would, never replace a file, and leave no .tmp behind;
 * the loader refuses a missing file (-ENOENT), a symbolic link and a
 * directory. Each test works in its own temporary directory. */
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
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "snapshot/format.h"

struct tdir {
	char path[64];
	int fd;
};

static int setup(void **state)
{
	struct tdir *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	snprintf(d->path, sizeof(d->path), "/tmp/nestvm-snapfmt-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(d->fd >= 0);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct tdir *d = *state;
	char cmd[128];

	close(d->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	assert_int_equal(system(cmd), 0);
	free(d);
	return 0;
}

static bool exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static struct snap_info test_info(void)
{
	struct snap_info info;

	memset(&info, 0, sizeof(info));
	snprintf(info.nestvm_version, sizeof(info.nestvm_version), "nestvm 0.9-test");
	snprintf(info.cpu_vendor, sizeof(info.cpu_vendor), "AuthenticAMD");
	info.created = 1798761600;
	return info;
}

/* ---- byte-level helpers for crafted files ---- */

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

static void fix_header_crc(uint8_t *f)
{
	put_le(f + SNAP_HEADER_SIZE - 4, crc(f, SNAP_HEADER_SIZE - 4), 4);
}

static void fix_section_crc(uint8_t *sec)
{
	put_le(sec + SNAP_SECTION_HEADER_SIZE - 4, crc(sec, SNAP_SECTION_HEADER_SIZE - 4), 4);
}

/* ---- building files ---- */

struct sec {
	const char *type;
	uint32_t version, index;
	const uint8_t *data;
	size_t length;
};

static void write_file(int dirfd, const char *name, const struct sec *s, unsigned int n)
{
	struct snap_info info = test_info();
	struct snap_writer w;
	char err[256] = "";

	assert_int_equal(snap_writer_open(&w, dirfd, name, &info, err, sizeof(err)), 0);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(snap_writer_add(&w, s[i].type, s[i].version, s[i].index, s[i].data,
						 s[i].length, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), 0);
	snap_writer_abort(&w);
}

/* The file's bytes (malloc()ed). */
static uint8_t *slurp(int dirfd, const char *name, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 64);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static const uint8_t small_a[] = "registers of vcpu 0, more or less";
static const uint8_t small_b[] = "and of vcpu 1, with something else in";
static const uint8_t small_c[] = "serial: ier lcr mcr fifo";

/* A small file of three sections (about 330 bytes). */
static uint8_t *small_file(int dirfd, size_t *len)
{
	const struct sec s[] = {
		{ "vcpu", 1, 0, small_a, sizeof(small_a) },
		{ "vcpu", 1, 1, small_b, sizeof(small_b) },
		{ "dev-serial", 2, 0, small_c, sizeof(small_c) },
	};

	write_file(dirfd, "small", s, 3);
	return slurp(dirfd, "small", len);
}

/* parse must refuse with rc and a message containing want (NULL: any). */
static void refused(const uint8_t *buf, size_t len, int rc, const char *want)
{
	struct snap_reader r;
	char err[256] = "";
	int got = snap_parse(&r, buf, len, err, sizeof(err));

	if (got != rc || (want && !strstr(err, want)))
		fail_msg("parse gave %d \"%s\", expected %d with \"%s\"", got, err, rc,
			 want ? want : "");
	assert_true(err[0] != 0);
	assert_null(r.sections);
	assert_int_equal(r.nsections, 0);
	snap_reader_free(&r);
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
	struct tdir *d = *state;
	size_t big_len = 1u << 20;
	uint8_t *big = malloc(big_len);
	uint8_t regs[512];
	const struct snap_section *s;
	struct snap_reader r;
	char err[256] = "";
	struct stat st;

	assert_non_null(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	for (size_t i = 0; i < sizeof(regs); i++)
		regs[i] = (uint8_t)i;
	const struct sec secs[] = {
		{ "vcpu", 3, 0, regs, sizeof(regs) },
		{ "vcpu", 3, 1, regs + 1, sizeof(regs) - 1 },
		{ "empty", 1, 0, NULL, 0 },
		{ "memory-map", 7, 42, big, big_len },
		{ "vcpu", 3, 2, regs, 1 },
		{ "abcdefghijklmnopqrstuvw", 0xffffffffu, 0xffffffffu, regs, 8 },
	};

	write_file(d->fd, "state", secs, 6);
	assert_false(exists(d->fd, "state.tmp"));
	assert_int_equal(fstatat(d->fd, "state", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(snap_reader_load(&r, d->fd, "state", err, sizeof(err)), 0);
	assert_true(r.owns_buf);
	assert_int_equal(r.info.format_version, SNAP_FORMAT_VERSION);
	assert_string_equal(r.info.nestvm_version, "nestvm 0.9-test");
	assert_string_equal(r.info.cpu_vendor, "AuthenticAMD");
	assert_int_equal(r.info.created, 1798761600);
	assert_int_equal(r.info.nsections, 6);
	assert_int_equal(r.nsections, 6);
	assert_int_equal(r.len, (size_t)st.st_size);
	assert_int_equal(r.sections[0].offset, SNAP_HEADER_SIZE);

	for (unsigned int i = 0; i < 6; i++) {
		s = snap_find(&r, secs[i].type, secs[i].index);
		assert_non_null(s);
		assert_ptr_equal(s, &r.sections[i]);
		assert_string_equal(s->type, secs[i].type);
		assert_int_equal(s->version, secs[i].version);
		assert_int_equal(s->index, secs[i].index);
		assert_int_equal(s->length, secs[i].length);
		if (s->length)
			assert_memory_equal(s->data, secs[i].data, s->length);
		assert_ptr_equal(s->data, r.buf + s->offset + SNAP_SECTION_HEADER_SIZE);
	}
	assert_int_equal(r.sections[5].offset + SNAP_SECTION_HEADER_SIZE + 8, r.len);
	assert_int_equal(snap_count(&r, "vcpu"), 3);
	assert_int_equal(snap_count(&r, "empty"), 1);
	assert_int_equal(snap_count(&r, "vcp"), 0);
	assert_null(snap_find(&r, "vcpu", 3));
	assert_null(snap_find(&r, "memory-map", 0));
	assert_null(snap_find(&r, "nothing", 0));
	snap_reader_free(&r);
	snap_reader_free(&r);               /* twice: empty after the first */
	free(big);
}

static void test_zero_sections(void **state)
{
	struct tdir *d = *state;
	struct snap_reader r;
	char err[256] = "";
	size_t len;
	uint8_t *f;

	write_file(d->fd, "state", NULL, 0);
	f = slurp(d->fd, "state", &len);
	assert_int_equal(len, SNAP_HEADER_SIZE);
	assert_memory_equal(f, "NESTVMSS", 8);
	assert_int_equal(snap_parse(&r, f, len, err, sizeof(err)), 0);
	assert_int_equal(r.nsections, 0);
	assert_false(r.owns_buf);
	assert_null(snap_find(&r, "vcpu", 0));
	assert_int_equal(snap_count(&r, "vcpu"), 0);
	snap_reader_free(&r);
	free(f);
}

/* The encoding, field by field, against the layout in format.c. */
static void test_layout(void **state)
{
	struct tdir *d = *state;
	size_t len;
	uint8_t *f = small_file(d->fd, &len);
	const uint8_t *s = f + SNAP_HEADER_SIZE;

	assert_int_equal(len, SNAP_HEADER_SIZE + 3 * SNAP_SECTION_HEADER_SIZE + sizeof(small_a) +
				      sizeof(small_b) + sizeof(small_c));
	assert_int_equal(get_le(f + 8, 4), 1);
	assert_int_equal(get_le(f + 12, 4), 128);
	assert_string_equal((const char *)f + 16, "nestvm 0.9-test");
	assert_string_equal((const char *)f + 48, "AuthenticAMD");
	assert_int_equal(get_le(f + 64, 8), 1798761600);
	assert_int_equal(get_le(f + 72, 4), 3);
	for (unsigned int i = 76; i < 124; i++)
		assert_int_equal(f[i], 0);
	assert_int_equal(get_le(f + 124, 4), crc(f, 124));
	assert_string_equal((const char *)s, "vcpu");
	for (unsigned int i = 4; i < 24; i++)
		assert_int_equal(s[i], 0);
	assert_int_equal(get_le(s + 24, 4), 1);
	assert_int_equal(get_le(s + 28, 4), 0);
	assert_int_equal(get_le(s + 32, 8), sizeof(small_a));
	assert_int_equal(get_le(s + 40, 4), crc(small_a, sizeof(small_a)));
	assert_int_equal(get_le(s + 44, 4), crc(s, 44));
	free(f);
}

static void test_every_bit_flip(void **state)
{
	struct tdir *d = *state;
	struct snap_reader r;
	char err[256];
	size_t len;
	uint8_t *f = small_file(d->fd, &len);

	assert_true(len > 250 && len < 400);
	assert_int_equal(snap_parse(&r, f, len, err, sizeof(err)), 0);
	snap_reader_free(&r);
	for (size_t bit = 0; bit < len * 8; bit++) {
		int rc;

		f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		err[0] = 0;
		rc = snap_parse(&r, f, len, err, sizeof(err));
		if (rc == 0)
			fail_msg("a flip of bit %zu (byte %zu) was accepted", bit % 8, bit / 8);
		assert_true(rc == -EINVAL || rc == -EPROTO || rc == -EFBIG);
		assert_true(err[0] != 0);
		assert_null(r.sections);
		f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	free(f);
}

static void test_every_truncation(void **state)
{
	struct tdir *d = *state;
	char want[128];
	size_t len;
	uint8_t *f = small_file(d->fd, &len);

	for (size_t n = 0; n < len; n++) {
		/* a copy of just n bytes, so that ASan sees any read past them */
		uint8_t *t = malloc(n ? n : 1);

		memcpy(t, f, n);
		refused(t, n, -EINVAL, "truncated");
		free(t);
	}
	/* the message names the section, its offset and the bytes left */
	snprintf(want, sizeof(want), "truncated: section 1 header at offset %zu needs 48 bytes, 12 left",
		 SNAP_HEADER_SIZE + SNAP_SECTION_HEADER_SIZE + sizeof(small_a));
	refused(f, SNAP_HEADER_SIZE + SNAP_SECTION_HEADER_SIZE + sizeof(small_a) + 12, -EINVAL, want);
	refused(f, 100, -EINVAL, "header at offset 0 needs 128 bytes, 100 left");
	free(f);
}

static void test_trailing_bytes(void **state)
{
	struct tdir *d = *state;
	size_t len;
	uint8_t *f = small_file(d->fd, &len);

	f[len] = 0;
	refused(f, len + 1, -EINVAL, "trailing bytes: 1 at offset");
	/* a whole valid section more than the header counts */
	memcpy(f + len, f + SNAP_HEADER_SIZE, SNAP_SECTION_HEADER_SIZE);
	put_le(f + len + 28, 9, 4);
	put_le(f + len + 32, 0, 8);
	put_le(f + len + 40, 0, 4);
	fix_section_crc(f + len);
	refused(f, len + SNAP_SECTION_HEADER_SIZE, -EINVAL, "trailing");
	/* ... and a header that counts it is good */
	put_le(f + 72, 4, 4);
	fix_header_crc(f);
	{
		struct snap_reader r;
		char err[256] = "";

		assert_int_equal(snap_parse(&r, f, len + SNAP_SECTION_HEADER_SIZE, err, sizeof(err)), 0);
		assert_non_null(snap_find(&r, "vcpu", 9));
		snap_reader_free(&r);
	}
	free(f);
}

static void test_bad_magic(void **state)
{
	struct tdir *d = *state;
	size_t len;
	uint8_t *f = small_file(d->fd, &len);

	memcpy(f, "NESTVMSX", 8);
	fix_header_crc(f);
	refused(f, len, -EINVAL, "not a nestvm snapshot (bad magic)");
	refused((const uint8_t *)"\177ELF", 4, -EINVAL, "bad magic");
	refused((const uint8_t *)"", 0, -EINVAL, NULL);
	refused(NULL, 0, -EINVAL, "truncated: header at offset 0 needs 128 bytes, 0 left");
	free(f);
}

static void test_format_version(void **state)
{
	struct tdir *d = *state;
	size_t len;
	uint8_t *f = small_file(d->fd, &len);

	put_le(f + 8, 2, 4);
	fix_header_crc(f);
	refused(f, len, -EPROTO, "format version 2");
	put_le(f + 8, 0, 4);
	fix_header_crc(f);
	refused(f, len, -EPROTO, "format version 0");
	put_le(f + 8, 1, 4);
	put_le(f + 12, 132, 4);
	fix_header_crc(f);
	refused(f, len, -EINVAL, "header size 132");
	free(f);
}

static void test_header_fields(void **state)
{
	struct tdir *d = *state;
	size_t len;
	uint8_t *f = small_file(d->fd, &len);
	uint8_t *g = malloc(len);

	/* reserved bytes */
	for (unsigned int i = 76; i < 124; i++) {
		memcpy(g, f, len);
		g[i] = 0x80;
		fix_header_crc(g);
		refused(g, len, -EINVAL, "reserved byte");
	}
	/* the strings: unterminated, non-printable, garbage after the NUL */
	memcpy(g, f, len);
	memset(g + 16, 'v', 32);
	fix_header_crc(g);
	refused(g, len, -EINVAL, "nestvm version at offset 16: no terminating NUL");
	memcpy(g, f, len);
	g[18] = '\n';
	fix_header_crc(g);
	refused(g, len, -EINVAL, "nestvm version at offset 16: a byte that is not printable");
	memcpy(g, f, len);
	memset(g + 48, 'x', 16);
	fix_header_crc(g);
	refused(g, len, -EINVAL, "CPU vendor at offset 48: no terminating NUL");
	memcpy(g, f, len);
	g[62] = 'x';
	fix_header_crc(g);
	refused(g, len, -EINVAL, "CPU vendor at offset 48: non-zero bytes after its NUL");
	/* the count, too small and too large */
	memcpy(g, f, len);
	put_le(g + 72, 2, 4);
	fix_header_crc(g);
	refused(g, len, -EINVAL, "trailing");
	put_le(g + 72, 4, 4);
	fix_header_crc(g);
	refused(g, len, -EINVAL, "truncated: section 3 header");
	put_le(g + 72, 1000, 4);
	fix_header_crc(g);
	refused(g, len, -EINVAL, "truncated: section 3 header");
	put_le(g + 72, SNAP_MAX_SECTIONS + 1, 4);
	fix_header_crc(g);
	refused(g, len, -EFBIG, "1025 sections, at most 1024");
	put_le(g + 72, 0xffffffffu, 4);
	fix_header_crc(g);
	refused(g, len, -EFBIG, NULL);
	/* a damaged header CRC */
	memcpy(g, f, len);
	g[124] ^= 1;
	refused(g, len, -EINVAL, "header CRC mismatch");
	free(g);
	free(f);
}

static void test_section_crcs(void **state)
{
	struct tdir *d = *state;
	size_t len, s2 = SNAP_HEADER_SIZE + 2 * SNAP_SECTION_HEADER_SIZE + sizeof(small_a) +
			 sizeof(small_b);
	uint8_t *f = small_file(d->fd, &len);
	char want[128];

	f[s2 + SNAP_SECTION_HEADER_SIZE + 3] ^= 0x10;
	snprintf(want, sizeof(want), "section 2 (dev-serial 0) at offset %zu: payload CRC mismatch", s2);
	refused(f, len, -EINVAL, want);
	f[s2 + SNAP_SECTION_HEADER_SIZE + 3] ^= 0x10;
	f[s2 + 25] ^= 0x01;
	snprintf(want, sizeof(want), "section 2 at offset %zu: header CRC mismatch", s2);
	refused(f, len, -EINVAL, want);
	free(f);
}

static void test_section_cap(void **state)
{
	struct tdir *d = *state;
	struct snap_info info = test_info();
	struct snap_writer w;
	struct snap_reader r;
	char err[256] = "";
	uint8_t *big = calloc(1, SNAP_SECTION_MAX + 1);
	uint8_t *f;
	size_t len;

	assert_non_null(big);
	assert_int_equal(snap_writer_open(&w, d->fd, "state", &info, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_add(&w, "huge", 1, 0, big, SNAP_SECTION_MAX + 1, err,
					 sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "at most 16777216"));
	/* refused before anything was written: the writer goes on */
	assert_int_equal(snap_writer_add(&w, "huge", 1, 0, big, SNAP_SECTION_MAX, err, sizeof(err)),
			 0);
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), 0);
	assert_int_equal(snap_reader_load(&r, d->fd, "state", err, sizeof(err)), 0);
	assert_int_equal(snap_find(&r, "huge", 0)->length, SNAP_SECTION_MAX);
	snap_reader_free(&r);
	free(big);

	/* crafted: a section header that claims one byte over the cap */
	f = small_file(d->fd, &len);
	put_le(f + SNAP_HEADER_SIZE + 32, SNAP_SECTION_MAX + 1, 8);
	fix_section_crc(f + SNAP_HEADER_SIZE);
	refused(f, len, -EFBIG, "section 0 (vcpu 0) at offset 128: 16777217 bytes, at most");
	put_le(f + SNAP_HEADER_SIZE + 32, UINT64_MAX, 8);
	fix_section_crc(f + SNAP_HEADER_SIZE);
	refused(f, len, -EFBIG, NULL);
	/* and under the cap but past the end */
	put_le(f + SNAP_HEADER_SIZE + 32, 4096, 8);
	fix_section_crc(f + SNAP_HEADER_SIZE);
	refused(f, len, -EINVAL, "payload needs 4096 bytes");
	free(f);
}

static void test_too_many_sections(void **state)
{
	struct tdir *d = *state;
	struct snap_info info = test_info();
	struct snap_writer w;
	struct snap_reader r;
	char err[256] = "";

	assert_int_equal(snap_writer_open(&w, d->fd, "state", &info, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < SNAP_MAX_SECTIONS; i++)
		assert_int_equal(snap_writer_add(&w, "s", 1, i, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_add(&w, "s", 1, SNAP_MAX_SECTIONS, NULL, 0, err, sizeof(err)),
			 -EFBIG);
	assert_non_null(strstr(err, "at most 1024 sections"));
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), 0);
	assert_int_equal(snap_reader_load(&r, d->fd, "state", err, sizeof(err)), 0);
	assert_int_equal(snap_count(&r, "s"), SNAP_MAX_SECTIONS);
	assert_non_null(snap_find(&r, "s", SNAP_MAX_SECTIONS - 1));
	snap_reader_free(&r);
}

static void test_duplicates(void **state)
{
	struct tdir *d = *state;
	struct snap_info info = test_info();
	struct snap_writer w;
	char err[256] = "", want[128];
	size_t len;
	uint8_t *f;

	assert_int_equal(snap_writer_open(&w, d->fd, "dup", &info, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_add(&w, "vcpu", 1, 0, "a", 1, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_add(&w, "vcpu", 1, 1, "b", 1, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_add(&w, "vcpu", 2, 0, "c", 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "section 2 (vcpu 0): that type and index are already there"));
	assert_int_equal(snap_writer_add(&w, "vcpux", 1, 0, "c", 1, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), 0);

	/* crafted: the second section renamed to the first's (type, index) */
	f = small_file(d->fd, &len);
	put_le(f + SNAP_HEADER_SIZE + SNAP_SECTION_HEADER_SIZE + sizeof(small_a) + 28, 0, 4);
	fix_section_crc(f + SNAP_HEADER_SIZE + SNAP_SECTION_HEADER_SIZE + sizeof(small_a));
	snprintf(want, sizeof(want), "section 1 (vcpu 0) at offset %zu: the same type and index as section 0",
		 SNAP_HEADER_SIZE + SNAP_SECTION_HEADER_SIZE + sizeof(small_a));
	refused(f, len, -EINVAL, want);
	free(f);
}

static void test_type_names(void **state)
{
	struct tdir *d = *state;
	struct snap_info info = test_info();
	struct snap_writer w;
	char err[256] = "";
	static const char *const bad[] = {
		"", "abcdefghijklmnopqrstuvwx", "a\tb", "caf\xc3\xa9", "new\nline", "\x7f",
	};
	size_t len;
	uint8_t *f, *g;

	assert_int_equal(snap_writer_open(&w, d->fd, "state", &info, err, sizeof(err)), 0);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(snap_writer_add(&w, bad[i], 1, 0, "x", 1, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "type name"));
	}
	assert_int_equal(snap_writer_add(&w, NULL, 1, 0, "x", 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(snap_writer_add(&w, "ok name ~!", 1, 0, "x", 1, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_add(&w, "x", 1, 0, NULL, 5, err, sizeof(err)), -EINVAL);
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), 0);

	/* crafted, in section 0's header (CRC fixed each time) */
	f = small_file(d->fd, &len);
	g = malloc(len);
	memcpy(g, f, len);
	memset(g + SNAP_HEADER_SIZE, 0, SNAP_TYPE_MAX);
	fix_section_crc(g + SNAP_HEADER_SIZE);
	refused(g, len, -EINVAL, "section 0 at offset 128: type name: empty");
	memcpy(g, f, len);
	memset(g + SNAP_HEADER_SIZE, 'a', SNAP_TYPE_MAX);
	fix_section_crc(g + SNAP_HEADER_SIZE);
	refused(g, len, -EINVAL, "type name: no terminating NUL");
	memcpy(g, f, len);
	g[SNAP_HEADER_SIZE + 1] = 0x01;
	fix_section_crc(g + SNAP_HEADER_SIZE);
	refused(g, len, -EINVAL, "type name: a byte that is not printable ASCII");
	memcpy(g, f, len);
	g[SNAP_HEADER_SIZE + 2] = 0xe9;
	fix_section_crc(g + SNAP_HEADER_SIZE);
	refused(g, len, -EINVAL, "type name: a byte that is not printable ASCII");
	memcpy(g, f, len);
	g[SNAP_HEADER_SIZE + 23] = 'z';
	fix_section_crc(g + SNAP_HEADER_SIZE);
	refused(g, len, -EINVAL, "type name: non-zero bytes after its NUL");
	free(g);
	free(f);
}

static void test_writer_files(void **state)
{
	struct tdir *d = *state;
	struct snap_info info = test_info();
	struct snap_writer w;
	struct snap_reader r;
	char err[256] = "";
	int fd;

	/* an existing <name> is refused, and stays as it was */
	fd = openat(d->fd, "state", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old", 3), 3);
	close(fd);
	assert_int_equal(snap_writer_open(&w, d->fd, "state", &info, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "state already exists"));
	snap_writer_abort(&w);                  /* safe after a failed open */
	assert_false(exists(d->fd, "state.tmp"));
	/* ... a dangling symbolic link too */
	assert_int_equal(symlinkat("/nonexistent/x", d->fd, "link"), 0);
	assert_int_equal(snap_writer_open(&w, d->fd, "link", &info, err, sizeof(err)), -EEXIST);

	/* a stale .tmp is replaced */
	fd = openat(d->fd, "new.tmp", O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "stale stuff", 11), 11);
	close(fd);
	assert_int_equal(snap_writer_open(&w, d->fd, "new", &info, err, sizeof(err)), 0);
	assert_true(exists(d->fd, "new.tmp"));
	assert_false(exists(d->fd, "new"));
	assert_int_equal(snap_writer_add(&w, "vcpu", 1, 0, "abc", 3, err, sizeof(err)), 0);
	/* abort: nothing is left */
	snap_writer_abort(&w);
	assert_false(exists(d->fd, "new.tmp"));
	assert_false(exists(d->fd, "new"));
	assert_int_equal(snap_writer_add(&w, "vcpu", 1, 1, "abc", 3, err, sizeof(err)), -EBADF);
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), -EBADF);
	snap_writer_abort(&w);

	/* finish: the file and no .tmp; then the writer is closed */
	assert_int_equal(snap_writer_open(&w, d->fd, "new", &info, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_add(&w, "vcpu", 1, 0, "abc", 3, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), 0);
	assert_false(exists(d->fd, "new.tmp"));
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), -EBADF);
	snap_writer_abort(&w);                  /* safe after finish; removes nothing */
	assert_int_equal(snap_reader_load(&r, d->fd, "new", err, sizeof(err)), 0);
	assert_memory_equal(snap_find(&r, "vcpu", 0)->data, "abc", 3);
	snap_reader_free(&r);

	/* a file appearing at <name> between open and finish is not replaced */
	assert_int_equal(snap_writer_open(&w, d->fd, "race", &info, err, sizeof(err)), 0);
	fd = openat(d->fd, "race", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), -EEXIST);
	assert_false(exists(d->fd, "race.tmp"));

	/* bad names and info */
	assert_int_equal(snap_writer_open(&w, d->fd, "a/b", &info, err, sizeof(err)), -EINVAL);
	assert_int_equal(snap_writer_open(&w, d->fd, "", &info, err, sizeof(err)), -EINVAL);
	info.cpu_vendor[3] = '\n';
	assert_int_equal(snap_writer_open(&w, d->fd, "x", &info, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "CPU vendor"));
	info = test_info();
	memset(info.nestvm_version, 'v', sizeof(info.nestvm_version));
	assert_int_equal(snap_writer_open(&w, d->fd, "x", &info, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nestvm version string: too long"));
	assert_false(exists(d->fd, "x.tmp"));
}

static void test_load_refusals(void **state)
{
	struct tdir *d = *state;
	struct snap_reader r;
	char err[256] = "";
	int fd;

	assert_int_equal(snap_reader_load(&r, d->fd, "state", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no snapshot state file state"));
	snap_reader_free(&r);

	write_file(d->fd, "real", NULL, 0);
	assert_int_equal(symlinkat("real", d->fd, "state"), 0);
	err[0] = 0;
	assert_int_equal(snap_reader_load(&r, d->fd, "state", err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	snap_reader_free(&r);

	assert_int_equal(mkdirat(d->fd, "dir", 0700), 0);
	err[0] = 0;
	assert_int_equal(snap_reader_load(&r, d->fd, "dir", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "dir is not a regular file"));

	assert_int_equal(mkfifoat(d->fd, "fifo", 0600), 0);
	assert_int_equal(snap_reader_load(&r, d->fd, "fifo", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	/* a damaged file: the parse's message, nothing kept */
	fd = openat(d->fd, "junk", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a snapshot at all", 21), 21);
	close(fd);
	assert_int_equal(snap_reader_load(&r, d->fd, "junk", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad magic"));
	assert_null(r.buf);
	assert_false(r.owns_buf);
	snap_reader_free(&r);

	/* over the file cap: a sparse file */
	fd = openat(d->fd, "big", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)SNAP_FILE_MAX + 1), 0);
	close(fd);
	assert_int_equal(snap_reader_load(&r, d->fd, "big", err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "at most"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_bit_flip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_magic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_section_crcs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_section_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
