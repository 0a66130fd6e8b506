/* Fuzz target: machine_restore_open on a hostile snapshot. The input is
 * the state file of a snapshot directory made once (a sparse memory file
 * of the VM's size, the disk copy disk-0.img), restored into the fixed VM
 * of fuzz_restore.h; its seed (tests/fuzz/seeds, gen_restore_seed) is a
 * valid state file for it. Each input is tried twice: as it is, and with
 * its CRCs made right (header and every section whose length fits), so
 * that mutations get past the CRCs to the checks of the sections' contents.
 * A refusal must say why in one line, NUL-terminated; nothing may crash,
 * leak or draw a sanitizer report, and the directory's other files must
 * stay as they were. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz.h"
#include "fuzz_restore.h"

static char fz_dir[64];
static int fz_dirfd = -1;
static struct vm_config cfg;

static void cleanup(void)
{
	static const char *const names[] = { SNAP_STATE_FILE, SNAP_MEMORY_FILE, "disk-0.img" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlinkat(fz_dirfd, names[i], 0);
	close(fz_dirfd);
	rmdir(fz_dir);
	vmconfig_free(&cfg);
}

static void init_once(void)
{
	char err[512] = "";
	int fd;

	snprintf(fz_dir, sizeof(fz_dir), "/tmp/nestvm-fuzz-restore-XXXXXX");
	if (!mkdtemp(fz_dir) || (fz_dirfd = open(fz_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fuzz_restore_config(&cfg, err, sizeof(err)) ||
	    snap_fixture_write_memory(fz_dirfd, SNAP_MEMORY_FILE, cfg.memory, err, sizeof(err))) {
		fprintf(stderr, "fuzz_snapshot_restore: setup: %s\n", err[0] ? err : strerror(errno));
		abort();
	}
	fd = openat(fz_dirfd, "disk-0.img", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, SNAP_FIX_DISK_SIZE) < 0)
		abort();
	close(fd);
	atexit(cleanup);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* The header's CRC and, section after section while they fit, each
 * section's payload and header CRCs (layout: snapshot/format.c). */
static void fix_crcs(uint8_t *b, size_t len)
{
	size_t off = SNAP_HEADER_SIZE;
	uint64_t n;

	if (len < SNAP_HEADER_SIZE)
		return;
	n = get_le(b + 72, 4);
	put_le32(b + SNAP_HEADER_SIZE - 4, crc(b, SNAP_HEADER_SIZE - 4));
	for (uint64_t i = 0; i < n && len - off >= SNAP_SECTION_HEADER_SIZE; i++) {
		uint8_t *h = b + off;
		uint64_t plen = get_le(h + 32, 8);

		if (plen > len - off - SNAP_SECTION_HEADER_SIZE)
			break;
		put_le32(h + 40, crc(h + SNAP_SECTION_HEADER_SIZE, (size_t)plen));
		put_le32(h + SNAP_SECTION_HEADER_SIZE - 4, crc(h, SNAP_SECTION_HEADER_SIZE - 4));
		off += SNAP_SECTION_HEADER_SIZE + (size_t)plen;
	}
}

static void put_state(const uint8_t *data, size_t size)
{
	int fd = openat(fz_dirfd, SNAP_STATE_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;

	if (fd < 0)
		abort();
	while (done < size) {
		ssize_t k = write(fd, data + done, size - done);

		if (k <= 0)
			abort();
		done += (size_t)k;
	}
	close(fd);
}

static void try_restore(const uint8_t *data, size_t size)
{
	struct machine_restore m;
	char err[1024];
	struct stat st;
	int r;

	put_state(data, size);
	memset(err, 'x', sizeof(err));           /* no NUL: the callee must write one */
	r = machine_restore_open(&m, fz_dir, &cfg, err, sizeof(err));
	if (getenv("FUZZ_RESTORE_VERBOSE"))
		fprintf(stderr, "restore: %d %s\n", r, r ? err : "accepted");
	if (r > 0)
		abort();
	if (r < 0 && (!memchr(err, 0, sizeof(err)) || !err[0] || strchr(err, '\n')))
		abort();                         /* a refusal says why, in one line */
	machine_restore_close(&m);
	if (fstatat(fz_dirfd, SNAP_MEMORY_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    (uint64_t)st.st_size != cfg.memory ||
	    fstatat(fz_dirfd, "disk-0.img", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_size != SNAP_FIX_DISK_SIZE)
		abort();                         /* nothing else in the directory changed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	if (fz_dirfd < 0)
		init_once();
	try_restore(data, size);
	fixed = malloc(size ? size : 1);
	if (!fixed)
		return 0;
	if (size)
		memcpy(fixed, data, size);
	fix_crcs(fixed, size);
	if (size && memcmp(fixed, data, size))
		try_restore(fixed, size);
	free(fixed);
	return 0;
}
