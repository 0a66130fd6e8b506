/* Unit tests of machine_restore_open (src/machine/snapshot_load.c): what a
 * restore checks before any KVM is touched, against a synthetic but valid
 * snapshot written with the real writer (snapshot_fixture.h) in a fresh
 * temporary directory per test.
 *
 * It must accept that snapshot and refuse, with the right -errno and one
 * non-empty line, every damaged one: a bit flip in any section (the CRCs),
 * a truncation anywhere, a wrong magic, another format version, a
 * configuration other than the VM's (vCPUs, memory, --nested, disks), a
 * device state of an unknown class, version or size, a vCPU state that
 * fails its structural check (rewritten with valid CRCs), a disk changed
 * since, a missing or odd memory or state file. After every refusal the
 * snapshot's files (and the disks) are exactly what they were. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "hw/pci.h"
#include "machine/snapshot.h"
#include "snapshot_fixture.h"

#define NCPUS 2

struct fx {
	char root[64];            /* the temporary directory */
	char snap[PATH_MAX];      /* root/snap: the snapshot */
	char disk[PATH_MAX];      /* root/disk.img: the VM's disk */
	char other[PATH_MAX];     /* root/other.img: another disk */
	int dirfd;                /* snap */
	struct vm_config cfg;
	uint8_t *state;           /* the state file as written */
	size_t state_len;
};

/* ---- files ---- */

static void make_file(const char *path, size_t size, uint8_t fill)
{
	uint8_t buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	memset(buf, fill, sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static uint8_t *read_file(int dirfd, const char *name, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Replace the state file with buf[0, len). */
static void put_state(struct fx *f, const uint8_t *buf, size_t len)
{
	int fd;

	unlinkat(f->dirfd, SNAP_STATE_FILE, 0);
	fd = openat(f->dirfd, SNAP_STATE_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(len ? write(fd, buf, len) : 0, (ssize_t)len);
	close(fd);
}

/* ---- what the snapshot's files are (content by data extents) ---- */

struct entry {
	char name[80];
	mode_t mode;
	off_t size;
	ino_t ino;
	struct timespec mtime;
	uint32_t crc;
	char link[128];
};

struct digest {
	unsigned int n;
	struct entry e[24];
};

static uint32_t file_crc(int fd)
{
	uLong c = crc32(0L, Z_NULL, 0);
	static uint8_t buf[1 << 16];
	off_t data = 0, hole;

	while ((data = lseek(fd, data, SEEK_DATA)) >= 0) {
		hole = lseek(fd, data, SEEK_HOLE);
		assert_true(hole > data);
		c = crc32(c, (const uint8_t *)&data, sizeof(data));
		while (data < hole) {
			size_t n = (size_t)(hole - data) < sizeof(buf) ? (size_t)(hole - data) :
				   sizeof(buf);
			ssize_t k = pread(fd, buf, n, data);

			assert_true(k > 0);
			c = crc32(c, buf, (uInt)k);
			data += k;
		}
	}
	return (uint32_t)c;
}

static void digest_one(struct digest *d, int dirfd, const char *name, const char *label)
{
	struct entry *e = &d->e[d->n++];
	struct stat st;

	assert_true(d->n <= sizeof(d->e) / sizeof(d->e[0]));
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", label);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		e->mode = (mode_t)-1;             /* absent */
		return;
	}
	e->mode = st.st_mode;
	e->size = st.st_size;
	e->ino = st.st_ino;
	e->mtime = st.st_mtim;
	if (S_ISLNK(st.st_mode)) {
		assert_true(readlinkat(dirfd, name, e->link, sizeof(e->link) - 1) >= 0);
	} else if (S_ISREG(st.st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		assert_true(fd >= 0);
		e->crc = file_crc(fd);
		close(fd);
	}
}

static void take_digest(const struct fx *f, struct digest *d)
{
	struct dirent **list;
	int n = scandir(f->snap, &list, NULL, alphasort);

	memset(d, 0, sizeof(*d));
	digest_one(d, AT_FDCWD, f->disk, "disk.img");
	digest_one(d, AT_FDCWD, f->other, "other.img");
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, ".."))
			digest_one(d, f->dirfd, list[i]->d_name, list[i]->d_name);
		free(list[i]);
	}
	free(list);
}

/* ---- opening ---- */

static int try_open(struct fx *f, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct machine_restore m;
	int r;

	memset(err, 'x', errlen);
	err[errlen - 1] = 0;
	r = machine_restore_open(&m, f->snap, cfg, err, errlen);
	machine_restore_close(&m);
	return r;
}

static void expect_ok(struct fx *f, const struct vm_config *cfg)
{
	char err[1024];
	int r = try_open(f, cfg, err, sizeof(err));

	if (r)
		print_error("refused: %s\n", err);
	assert_int_equal(r, 0);
}

/* Refused with want (-errno), one line naming `has` (when not NULL), and
 * nothing in the snapshot or the disks changed. */
static void expect_refused_cfg(struct fx *f, const struct vm_config *cfg, int want,
			       const char *has)
{
	struct digest before, after;
	char err[1024];
	int r;

	take_digest(f, &before);
	r = try_open(f, cfg, err, sizeof(err));
	take_digest(f, &after);
	if (getenv("NESTVM_TEST_VERBOSE"))
		print_message("refused (%d): %s\n", r, err);
	if (r != want || (has && !strstr(err, has)))
		print_error("want %d '%s', got %d: %s\n", want, has ? has : "", r, err);
	assert_int_equal(r, want);
	assert_true(strlen(err) > 0);
	assert_true(strlen(err) < sizeof(err) - 1);          /* written, not the filler */
	assert_null(strchr(err, '\n'));
	if (has)
		assert_non_null(strstr(err, has));
	assert_int_equal(before.n, after.n);
	assert_memory_equal(&before, &after, sizeof(before));
	/* A small buffer gets a truncated message, still terminated. */
	r = try_open(f, cfg, err, 12);
	assert_int_equal(r, want);
	assert_true(strlen(err) < 12);
}

static void expect_refused(struct fx *f, int want, const char *has)
{
	expect_refused_cfg(f, &f->cfg, want, has);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512] = "";

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/nestvm-snaprestore-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->snap, sizeof(f->snap), "%s/snap", f->root);
	snprintf(f->disk, sizeof(f->disk), "%s/disk.img", f->root);
	snprintf(f->other, sizeof(f->other), "%s/other.img", f->root);
	assert_int_equal(mkdir(f->snap, 0700), 0);
	make_file(f->disk, 1 << 20, 0xab);
	make_file(f->other, 1 << 20, 0xcd);
	f->dirfd = open(f->snap, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dirfd >= 0);
	if (snap_fixture_config(&f->cfg, NCPUS, f->disk, err, sizeof(err)) ||
	    snap_fixture_write_state(f->dirfd, SNAP_STATE_FILE, &f->cfg, 0, err, sizeof(err)) ||
	    snap_fixture_write_memory(f->dirfd, SNAP_MEMORY_FILE, f->cfg.memory, err,
				      sizeof(err))) {
		print_error("fixture: %s\n", err);
		return -1;
	}
	f->state = read_file(f->dirfd, SNAP_STATE_FILE, &f->state_len);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	close(f->dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	vmconfig_free(&f->cfg);
	free(f->state);
	free(f);
	return 0;
}

/* ---- rewriting one section (valid CRCs) ---- */

struct edit {
	const char *type;          /* the section to change */
	uint32_t index;
	const char *new_type;      /* NULL: the same */
	int version_delta;
	long size_delta;           /* bytes added (zeros) or cut */
	bool drop;                 /* leave it out */
	void (*mod)(uint8_t *data, size_t len);
};

static void rewrite(struct fx *f, const struct edit *ed)
{
	struct snap_reader r;
	struct snap_writer w;
	char err[512];
	bool found = false;

	assert_int_equal(snap_parse(&r, f->state, f->state_len, err, sizeof(err)), 0);
	assert_int_equal(unlinkat(f->dirfd, SNAP_STATE_FILE, 0), 0);
	assert_int_equal(snap_writer_open(&w, f->dirfd, SNAP_STATE_FILE, &r.info, err,
					  sizeof(err)), 0);
	for (uint32_t i = 0; i < r.nsections; i++) {
		const struct snap_section *s = &r.sections[i];
		bool hit = !strcmp(s->type, ed->type) && s->index == ed->index;
		size_t len = s->length;
		uint8_t *data;

		if (hit) {
			found = true;
			if (ed->drop)
				continue;
			len = (size_t)((long)len + ed->size_delta);
		}
		data = calloc(1, len + 1);
		assert_non_null(data);
		memcpy(data, s->data, len < s->length ? len : s->length);
		if (hit && ed->mod)
			ed->mod(data, len);
		assert_int_equal(snap_writer_add(&w, hit && ed->new_type ? ed->new_type : s->type,
						 s->version + (hit ? (uint32_t)ed->version_delta : 0),
						 s->index, data, len, err, sizeof(err)), 0);
		free(data);
	}
	assert_true(found);
	assert_int_equal(snap_writer_finish(&w, err, sizeof(err)), 0);
	snap_reader_free(&r);
}

/* ---- tests ---- */

static void test_valid_accepted(void **state)
{
	struct fx *f = *state;
	struct machine_restore m;
	struct digest before, after;
	char err[512] = "";

	take_digest(f, &before);
	assert_int_equal(machine_restore_open(&m, f->snap, &f->cfg, err, sizeof(err)), 0);
	assert_int_equal(m.m.ncpus, NCPUS);
	assert_int_equal(m.m.memory, SNAP_FIX_MEMORY);
	assert_int_equal(m.m.ndisks, 1);
	assert_int_equal(m.m.ndevices, snap_count(&m.rd, "dev:serial") +
			 snap_count(&m.rd, "dev:i8042") + snap_count(&m.rd, "dev:acpi-pm") +
			 snap_count(&m.rd, "dev:pci-host") + snap_count(&m.rd, "dev:virtio-blk"));
	assert_true(m.m.ndevices >= 2);
	assert_non_null(m.config);
	machine_restore_close(&m);
	machine_restore_close(&m);          /* twice is safe */
	take_digest(f, &after);
	assert_memory_equal(&before, &after, sizeof(before));
}

static void test_bit_flip_every_section(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = malloc(f->state_len);
	struct snap_reader r;
	char err[512];

	assert_non_null(buf);
	assert_int_equal(snap_parse(&r, f->state, f->state_len, err, sizeof(err)), 0);
	assert_true(r.nsections >= 2 * NCPUS + 5);
	for (uint32_t i = 0; i < r.nsections; i++) {
		const struct snap_section *s = &r.sections[i];
		size_t at = (size_t)(s->data - f->state);

		assert_true(s->length > 0);
		/* In the payload: its first, middle and last byte. */
		for (int k = 0; k < 3; k++) {
			size_t off = at + (k == 0 ? 0 : k == 1 ? s->length / 2 : s->length - 1);

			memcpy(buf, f->state, f->state_len);
			buf[off] ^= (uint8_t)(1u << (i % 8));
			put_state(f, buf, f->state_len);
			expect_refused(f, -EINVAL, "payload CRC mismatch");
		}
		/* In its header (its type name). */
		memcpy(buf, f->state, f->state_len);
		buf[s->offset + 1] ^= 0x01;
		put_state(f, buf, f->state_len);
		expect_refused(f, -EINVAL, "header CRC mismatch");
	}
	snap_reader_free(&r);
	put_state(f, f->state, f->state_len);
	expect_ok(f, &f->cfg);
	free(buf);
}

static void test_truncated(void **state)
{
	struct fx *f = *state;

	for (unsigned int k = 0; k < 100; k++) {
		size_t len = (size_t)((uint64_t)f->state_len * k / 100) + (k % 7);

		put_state(f, f->state, len);
		expect_refused(f, -EINVAL, NULL);
	}
	put_state(f, f->state, f->state_len - 1);
	expect_refused(f, -EINVAL, "truncated");
	put_state(f, f->state, 0);
	expect_refused(f, -EINVAL, "truncated");
}

static void test_trailing_bytes(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = calloc(1, f->state_len + 1);

	assert_non_null(buf);
	memcpy(buf, f->state, f->state_len);
	put_state(f, buf, f->state_len + 1);
	expect_refused(f, -EINVAL, "trailing");
	free(buf);
}

static void test_magic_and_version(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = malloc(f->state_len);

	assert_non_null(buf);
	memcpy(buf, f->state, f->state_len);
	buf[0] = 'X';
	put_state(f, buf, f->state_len);
	expect_refused(f, -EINVAL, "bad magic");
	memcpy(buf, f->state, f->state_len);
	buf[8]++;                              /* format version 2 */
	put_state(f, buf, f->state_len);
	expect_refused(f, -EPROTO, "format version 2");
	free(buf);
}

static void test_config_differs(void **state)
{
	struct fx *f = *state;
	struct vm_config c;
	char err[256];

	assert_int_equal(vmconfig_copy(&c, &f->cfg), 0);
	c.cpus = 3;
	expect_refused_cfg(f, &c, -EINVAL, "2 vCPUs and 64 MiB");
	c.cpus = 1;
	expect_refused_cfg(f, &c, -EINVAL, "vCPU");
	c.cpus = NCPUS;
	c.memory = 128ULL << 20;
	expect_refused_cfg(f, &c, -EINVAL, "128 MiB");
	c.memory = SNAP_FIX_MEMORY;
	c.nested = true;
	expect_refused_cfg(f, &c, -EINVAL, "--nested");
	c.nested = false;
	expect_ok(f, &c);

	/* An extra disk, no disk, another disk. */
	assert_int_equal(vmconfig_add_device(&c, &virtio_blk_class,
					     json_pack("{s:s, s:b}", "path", f->other,
						       "readonly", 0), err, sizeof(err)), 0);
	expect_refused_cfg(f, &c, -EINVAL, "devices");
	vmconfig_remove_class(&c, &virtio_blk_class);
	expect_refused_cfg(f, &c, -EINVAL, "devices");
	assert_int_equal(vmconfig_add_device(&c, &virtio_blk_class,
					     json_pack("{s:s, s:b}", "path", f->other,
						       "readonly", 0), err, sizeof(err)), 0);
	expect_refused_cfg(f, &c, -EINVAL, "device 1 virtio-blk");
	/* The same path read-only is another device too. */
	vmconfig_remove_class(&c, &virtio_blk_class);
	assert_int_equal(vmconfig_add_device(&c, &virtio_blk_class,
					     json_pack("{s:s, s:b}", "path", f->disk,
						       "readonly", 1), err, sizeof(err)), 0);
	expect_refused_cfg(f, &c, -EINVAL, "device 1 virtio-blk");
	vmconfig_free(&c);
}

static void test_config_section_bad(void **state)
{
	struct fx *f = *state;
	struct edit not_json = { .type = "config", .size_delta = -1 };

	rewrite(f, &not_json);
	expect_refused(f, -EINVAL, "configuration is not valid");
}

static void mod_bad_magic(uint8_t *data, size_t len)
{
	assert_true(len >= 4);
	data[0] ^= 0x01;
}

static void mod_msr_twice(uint8_t *data, size_t len)
{
	struct x86_vcpu_state s;

	assert_int_equal(len, sizeof(s));
	memcpy(&s, data, sizeof(s));
	s.msrs[1].index = s.msrs[0].index;
	memcpy(data, &s, sizeof(s));
}

static void mod_zero_khz(uint8_t *data, size_t len)
{
	struct x86_vm_state s;

	assert_int_equal(len, sizeof(s));
	memcpy(&s, data, sizeof(s));
	s.tsc_khz = 0;
	memcpy(data, &s, sizeof(s));
}

static void mod_nent_big(uint8_t *data, size_t len)
{
	struct kvm_cpuid2 c;

	assert_true(len >= sizeof(c));
	memcpy(&c, data, sizeof(c));
	c.nent = 0xffffffffu;
	memcpy(data, &c, sizeof(c));
}

static void mod_machine_flags(uint8_t *data, size_t len)
{
	struct snap_machine m;

	assert_int_equal(len, sizeof(m));
	memcpy(&m, data, sizeof(m));
	m.flags |= 1u << 30;
	memcpy(data, &m, sizeof(m));
}

static void mod_machine_no_disk(uint8_t *data, size_t len)
{
	struct snap_machine m;

	assert_int_equal(len, sizeof(m));
	memcpy(&m, data, sizeof(m));
	m.ndisks = 0;
	memcpy(data, &m, sizeof(m));
}

static void test_vcpu_vm_cpuid_machine_bad(void **state)
{
	struct fx *f = *state;
	const struct edit edits[] = {
		{ .type = "vcpu", .index = 1, .mod = mod_bad_magic },
		{ .type = "vcpu", .index = 0, .mod = mod_msr_twice },
		{ .type = "vcpu", .index = 0, .size_delta = -8 },
		{ .type = "vcpu", .index = 1, .version_delta = 1 },
		{ .type = "vm", .mod = mod_zero_khz },
		{ .type = "cpuid", .index = 1, .mod = mod_nent_big },
		{ .type = "cpuid", .index = 0, .size_delta = 4 },
		{ .type = "machine", .mod = mod_machine_flags },
		{ .type = "machine", .size_delta = 8 },
		{ .type = "vcpu", .index = 1, .drop = true },
		{ .type = "vm", .drop = true },
		{ .type = "machine", .drop = true },
		{ .type = "config", .drop = true },
	};
	const char *const has[] = {
		"vCPU 1: invalid vCPU state: not a vCPU state (magic",
		"vCPU 0: invalid vCPU state: MSR 0x10 twice",
		"section vcpu 0 is",
		"section vcpu 1 is version 2",
		"invalid VM state: TSC frequency",
		"vCPU 1: the CPUID section is malformed",
		"vCPU 0: the CPUID section is malformed",
		"unknown flags",
		"section machine 0 is",
		"1 vcpu",
		"no vm section",
		"no machine section",
		"no config section",
	};

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		rewrite(f, &edits[i]);
		expect_refused(f, -EINVAL, has[i]);
	}
}

static void test_device_sections(void **state)
{
	struct fx *f = *state;
	const struct edit edits[] = {
		{ .type = "dev:serial", .new_type = "dev:floppy" },
		{ .type = "dev:i8042", .version_delta = 1 },
		{ .type = "dev:virtio-blk", .size_delta = 8 },
		{ .type = "dev:virtio-blk", .size_delta = -4 },
		{ .type = "dev:pci-host", .size_delta = -(long)pci_host_class.state_size },
		{ .type = "dev:serial", .drop = true },
	};
	const char *const has[] = {
		"device class 'floppy'",
		"i8042 0: state version",
		"virtio-blk 0: state version",
		"virtio-blk 0: state version",
		"pci-host 0: state version",
		"does not match its sections",
	};

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		rewrite(f, &edits[i]);
		expect_refused(f, -EINVAL, has[i]);
	}
}

/* A snapshot that lists no identity for a disk the VM has: it could not
 * tell whether the disk changed since. */
static void test_disk_identity_missing(void **state)
{
	struct fx *f = *state;
	struct edit drop = { .type = "disk", .drop = true };
	struct edit none = { .type = "machine", .mod = mod_machine_no_disk };

	rewrite(f, &drop);
	expect_refused(f, -EINVAL, "disks 1/0");
	put_state(f, f->state, f->state_len);
	/* Both the section and the count gone. */
	rewrite(f, &drop);
	free(f->state);
	f->state = read_file(f->dirfd, SNAP_STATE_FILE, &f->state_len);
	rewrite(f, &none);
	expect_refused(f, -EINVAL, f->disk);
}

static void test_disk_changed(void **state)
{
	struct fx *f = *state;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 1000000000 } };
	struct timespec pause = { .tv_nsec = 30 * 1000 * 1000 };
	int fd;

	expect_ok(f, &f->cfg);
	assert_int_equal(utimensat(AT_FDCWD, f->disk, ts, 0), 0);
	expect_refused(f, -ESTALE, f->disk);
	expect_refused(f, -ESTALE, "modified since the snapshot: mtime");

	/* A write (of the same bytes: only its time says). */
	teardown(state);
	assert_int_equal(setup(state), 0);
	f = *state;
	nanosleep(&pause, NULL);
	fd = open(f->disk, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xab", 1, 100), 1);
	close(fd);
	expect_refused(f, -ESTALE, f->disk);

	/* Grown. */
	fd = open(f->disk, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 << 20), 0);
	close(fd);
	expect_refused(f, -ESTALE, "size 2097152 bytes, was 1048576");

	/* Replaced by another file, then gone. */
	assert_int_equal(rename(f->other, f->disk), 0);
	expect_refused(f, -ESTALE, "replaced");
	assert_int_equal(unlink(f->disk), 0);
	expect_refused(f, -ESTALE, "gone");
}

static void mod_copied(uint8_t *data, size_t len)
{
	struct snap_disk_identity id;

	assert_int_equal(len, sizeof(id));
	memcpy(&id, data, sizeof(id));
	id.copied = 1;
	memcpy(data, &id, sizeof(id));
}

static void mod_copied_bad(uint8_t *data, size_t len)
{
	struct snap_disk_identity id;

	assert_int_equal(len, sizeof(id));
	memcpy(&id, data, sizeof(id));
	id.copied = 2;
	memcpy(data, &id, sizeof(id));
}

static void mod_path_unterminated(uint8_t *data, size_t len)
{
	struct snap_disk_identity id;

	assert_int_equal(len, sizeof(id));
	memcpy(&id, data, sizeof(id));
	memset(id.path, 'a', sizeof(id.path));
	memcpy(data, &id, sizeof(id));
}

/* With --with-disks: the copy must be there, of its size; then the disk
 * itself may have changed. */
static void test_disk_copied(void **state)
{
	struct fx *f = *state;
	struct edit copied = { .type = "disk", .mod = mod_copied };
	struct edit bad = { .type = "disk", .mod = mod_copied_bad };
	struct edit unterminated = { .type = "disk", .mod = mod_path_unterminated };
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 1000000000 } };
	char copy[PATH_MAX + 16];

	rewrite(f, &bad);
	expect_refused(f, -EINVAL, "disk 0");
	rewrite(f, &unterminated);
	expect_refused(f, -EINVAL, "disk 0");
	rewrite(f, &copied);
	expect_refused(f, -EINVAL, "the copy of disk 0");
	snprintf(copy, sizeof(copy), "%s/disk-0.img", f->snap);
	make_file(copy, (1 << 20) - 512, 0xab);
	expect_refused(f, -EINVAL, "not the size it was saved at");
	assert_int_equal(truncate(copy, 1 << 20), 0);
	assert_int_equal(utimensat(AT_FDCWD, f->disk, ts, 0), 0);
	expect_ok(f, &f->cfg);
	assert_int_equal(unlink(copy), 0);
	assert_int_equal(symlink(f->disk, copy), 0);
	expect_refused(f, -EINVAL, "the copy of disk 0");
}

static void test_memory_file(void **state)
{
	struct fx *f = *state;

	assert_int_equal(renameat(f->dirfd, SNAP_MEMORY_FILE, f->dirfd, "memory.real"), 0);
	expect_refused(f, -ENOENT, "no memory file");
	assert_int_equal(symlinkat("memory.real", f->dirfd, SNAP_MEMORY_FILE), 0);
	expect_refused(f, -ELOOP, "memory");
	assert_int_equal(unlinkat(f->dirfd, SNAP_MEMORY_FILE, 0), 0);
	assert_int_equal(mkdirat(f->dirfd, SNAP_MEMORY_FILE, 0700), 0);
	expect_refused(f, -EINVAL, "not a regular file");
	assert_int_equal(unlinkat(f->dirfd, SNAP_MEMORY_FILE, AT_REMOVEDIR), 0);
	/* A FIFO must not hang the open (the alarm fails the test if it does). */
	assert_int_equal(mkfifoat(f->dirfd, SNAP_MEMORY_FILE, 0600), 0);
	alarm(20);
	expect_refused(f, -EINVAL, "not a regular file");
	alarm(0);
	assert_int_equal(unlinkat(f->dirfd, SNAP_MEMORY_FILE, 0), 0);
	assert_int_equal(renameat(f->dirfd, "memory.real", f->dirfd, SNAP_MEMORY_FILE), 0);
	expect_ok(f, &f->cfg);
	/* Truncated, then grown. */
	{
		int fd = openat(f->dirfd, SNAP_MEMORY_FILE, O_WRONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)SNAP_FIX_MEMORY - 4096), 0);
		expect_refused(f, -EINVAL, "is 67104768 bytes");
		assert_int_equal(ftruncate(fd, (off_t)SNAP_FIX_MEMORY + 1), 0);
		expect_refused(f, -EINVAL, "is 67108865 bytes");
		assert_int_equal(ftruncate(fd, 0), 0);
		expect_refused(f, -EINVAL, "is 0 bytes");
		close(fd);
	}
}

static void test_state_file(void **state)
{
	struct fx *f = *state;
	char gone[PATH_MAX + 8];

	assert_int_equal(renameat(f->dirfd, SNAP_STATE_FILE, f->dirfd, "state.real"), 0);
	expect_refused(f, -ENOENT, "no snapshot");
	assert_int_equal(symlinkat("state.real", f->dirfd, SNAP_STATE_FILE), 0);
	expect_refused(f, -ELOOP, "symbolic link");
	assert_int_equal(unlinkat(f->dirfd, SNAP_STATE_FILE, 0), 0);
	assert_int_equal(mkfifoat(f->dirfd, SNAP_STATE_FILE, 0600), 0);
	alarm(20);
	expect_refused(f, -EINVAL, "not a regular file");
	alarm(0);
	assert_int_equal(unlinkat(f->dirfd, SNAP_STATE_FILE, 0), 0);
	assert_int_equal(renameat(f->dirfd, "state.real", f->dirfd, SNAP_STATE_FILE), 0);
	expect_ok(f, &f->cfg);

	/* No directory at all. */
	snprintf(gone, sizeof(gone), "%s/none", f->root);
	{
		struct machine_restore m;
		char err[512] = "";

		assert_int_equal(machine_restore_open(&m, gone, &f->cfg, err, sizeof(err)), -ENOENT);
		assert_non_null(strstr(err, gone));
		assert_null(strchr(err, '\n'));
		machine_restore_close(&m);
		assert_int_equal(machine_restore_open(&m, f->disk, &f->cfg, err, sizeof(err)),
				 -ENOTDIR);
		machine_restore_close(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bit_flip_every_section, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_magic_and_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_differs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_section_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vcpu_vm_cpuid_machine_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_identity_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
