/* Guest RAM in a snapshot (snapshot/memory.h). */
#include "snapshot/memory.h"
#include "snapshot/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_PAGE      4096u
#define SNAP_CHUNK     (2u << 20)          /* pagemap read and zero scan granularity */

bool snap_page_is_zero(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)(const void *)page;

	for (size_t i = 0; i < SNAP_PAGE / sizeof(*w); i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}

/* Does src_fd have data anywhere in [off, off+len)? */
static bool snap_src_has_data(int src_fd, uint64_t off, uint64_t len)
{
	off_t d;

	if (src_fd < 0)
		return false;
	d = lseek(src_fd, (off_t)off, SEEK_DATA);
	return d >= 0 && (uint64_t)d < off + len;
}

/* Write the non-zero pages of one chunk that may hold data; runs of
 * pages are written with one pwrite (the pass at p == len ends the last). */
static int snap_mem_chunk(int fd, const uint8_t *host, uint64_t off, uint64_t len,
			  const unsigned char *resident, bool all_candidates, uint64_t *data)
{
	uint64_t run_start = 0, run_len = 0;

	for (uint64_t p = 0; p <= len; p += SNAP_PAGE) {
		bool keep = p < len && (all_candidates || (resident[p / SNAP_PAGE] & 1)) &&
			    !snap_page_is_zero(host + off + p);
		int r;

		if (keep) {
			if (!run_len)
				run_start = off + p;
			run_len += SNAP_PAGE;
			continue;
		}
		if (!run_len)
			continue;
		r = snap_pio_all(fd, (void *)(uintptr_t)(host + run_start), run_len,
				 (off_t)run_start, true);
		if (r)
			return r;
		*data += run_len;
		run_len = 0;
	}
	return 0;
}

/* Which pages of [addr, addr+len) are present or swapped out, from
 * /proc/self/pagemap (bits 63 and 62 of each page's entry; readable
 * without privileges): resident[i] bit 0 for page i. -errno when it cannot
 * be read. */
static int snap_pages_in_use(int pm_fd, const uint8_t *addr, uint64_t len, unsigned char *resident,
			     uint64_t *entries)
{
	uint64_t n = len / SNAP_PAGE, off = (uint64_t)(uintptr_t)addr / SNAP_PAGE * 8;
	size_t want = (size_t)n * 8, got = 0;

	while (got < want) {
		ssize_t r = pread(pm_fd, (uint8_t *)entries + got, want - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		got += (size_t)r;
	}
	for (uint64_t i = 0; i < n; i++)
		resident[i] = (entries[i] >> 62) & 3 ? 1 : 0;
	return 0;
}

void snap_mem_candidates(const uint8_t *host, uint64_t size, int src_fd, unsigned long *bits)
{
	const unsigned int w = 8 * sizeof(unsigned long);
	unsigned char *resident = malloc(SNAP_CHUNK / SNAP_PAGE);
	uint64_t *entries = malloc(SNAP_CHUNK / SNAP_PAGE * 8);
	int pm_fd = resident && entries ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;

	for (uint64_t off = 0; off < size; off += SNAP_CHUNK) {
		uint64_t len = size - off < SNAP_CHUNK ? size - off : SNAP_CHUNK;
		bool all = pm_fd < 0 || snap_src_has_data(src_fd, off, len) ||
			   snap_pages_in_use(pm_fd, host + off, len, resident, entries);

		for (uint64_t p = 0; p < len; p += SNAP_PAGE) {
			uint64_t i = (off + p) / SNAP_PAGE;

			if (all || (resident[p / SNAP_PAGE] & 1))
				bits[i / w] |= 1UL << (i % w);
		}
	}
	if (pm_fd >= 0)
		close(pm_fd);
	free(resident);
	free(entries);
}

int snap_mem_write(int dirfd, const char *name, const uint8_t *host, uint64_t size, int src_fd,
		   uint64_t *data, char *err, size_t errlen)
{
	unsigned char *resident = malloc(SNAP_CHUNK / SNAP_PAGE);
	uint64_t *entries = malloc(SNAP_CHUNK / SNAP_PAGE * 8);
	int fd, pm_fd, r = 0;

	*data = 0;
	if (!resident || !entries) {
		free(resident);
		free(entries);
		snprintf(err, errlen, "memory file: out of memory");
		return -ENOMEM;
	}
	if (size % SNAP_PAGE || (uintptr_t)host % SNAP_PAGE) {
		free(resident);
		free(entries);
		snprintf(err, errlen, "memory file: guest RAM of %llu bytes is not whole pages",
			 (unsigned long long)size);
		return -EINVAL;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		free(resident);
		free(entries);
		snprintf(err, errlen, "cannot create the memory file %s: %s", name, strerror(-r));
		return r;
	}
	/* Without pagemap every page is looked at (slower, same result). */
	pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (ftruncate(fd, (off_t)size) < 0)
		r = -errno;
	for (uint64_t off = 0; !r && off < size; off += SNAP_CHUNK) {
		uint64_t len = size - off < SNAP_CHUNK ? size - off : SNAP_CHUNK;
		bool all = pm_fd < 0 || snap_src_has_data(src_fd, off, len);

		if (!all && snap_pages_in_use(pm_fd, host + off, len, resident, entries))
			all = true;
		r = snap_mem_chunk(fd, host, off, len, resident, all, data);
	}
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (pm_fd >= 0)
		close(pm_fd);
	free(resident);
	free(entries);
	close(fd);
	if (r) {
		unlinkat(dirfd, name, 0);
		snprintf(err, errlen, "writing the memory file %s: %s", name, strerror(-r));
	}
	return r;
}

int snap_mem_open(int dirfd, const char *name, uint64_t size, char *err, size_t errlen)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO put in its place must not hang the open. */
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, e == ENOENT ? "the snapshot has no memory file (%s)" :
			 "cannot open the memory file %s: %s", name, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "the memory file %s is not a regular file", name);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size != size) {
		close(fd);
		snprintf(err, errlen, "the memory file %s is %llu bytes, the snapshot's VM has "
			 "%llu bytes of RAM", name, (unsigned long long)st.st_size,
			 (unsigned long long)size);
		return -EINVAL;
	}
	return fd;
}

/* Eager: read every data extent in; holes stay as they are (zero). */
static int snap_mem_read_in(int fd, uint8_t *host, uint64_t size)
{
	uint64_t off = 0;

	while (off < size) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA), h;
		int r;

		if (d < 0)
			return errno == ENXIO ? 0 : -errno;
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if ((uint64_t)h > size)
			h = (off_t)size;
		r = snap_pio_all(fd, host + d, (size_t)(h - d), d, false);
		if (r)
			return r;
		off = (uint64_t)h;
	}
	return 0;
}

int snap_mem_load(int fd, uint8_t *host, uint64_t size, bool eager, char *err, size_t errlen)
{
	int r;

	if (eager) {
		r = snap_mem_read_in(fd, host, size);
		if (r)
			snprintf(err, errlen, "reading the memory file: %s", strerror(-r));
		return r;
	}
	if (mmap(host, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd,
		 0) == MAP_FAILED) {
		r = -errno;
		snprintf(err, errlen, "mapping the memory file: %s", strerror(-r));
		return r;
	}
	madvise(host, size, MADV_DONTDUMP);
	return 0;
}
