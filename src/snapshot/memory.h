/* Guest RAM in a snapshot: one file, as large as guest RAM, sparse.
 *
 * Writing skips what needs no bytes: pages the process never touched
 * (/proc/self/pagemap: neither present nor swapped out) unless the RAM is itself mapped from an earlier
 * memory file (its data extents, SEEK_DATA, are candidates too), and pages
 * that are all zero. What is written lands at the same offset; the rest
 * stays a hole, so the file takes no more than the memory the guest
 * touched.
 *
 * Loading maps the file privately over guest RAM (MAP_FIXED): the guest
 * starts at once and pages come in as it touches them (copy on write:
 * the file never changes); or, eager, reads its data extents in.
 *
 * Layer: files and memory only. */
#ifndef NESTVM_SNAPSHOT_MEMORY_H
#define NESTVM_SNAPSHOT_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Write host[0, size) to a new file `name` in dirfd (O_EXCL, 0600), fsync.
 * src_fd: the file host is privately mapped from, or -1. *data: bytes
 * written. On failure the file is removed. 0 or -errno with a message. */
int snap_mem_write(int dirfd, const char *name, const uint8_t *host, uint64_t size, int src_fd,
		   uint64_t *data, char *err, size_t errlen);

/* Check that `name` in dirfd is a regular file of exactly `size` bytes
 * (O_NOFOLLOW). Returns its fd (O_RDONLY, O_CLOEXEC) or -errno with a
 * message ("memory file ... is N bytes, the VM has M"). */
int snap_mem_open(int dirfd, const char *name, uint64_t size, char *err, size_t errlen);

/* Put the file open at fd over host[0, size): mapped privately (fd stays
 * needed: the caller keeps it open while the mapping lives) or, eager,
 * read in. 0 or -errno with a message. */
int snap_mem_load(int fd, uint8_t *host, uint64_t size, bool eager, char *err, size_t errlen);

/* Set bit i of bits (unsigned long words) for each page i of host[0, size)
 * that may hold data: present or swapped out (/proc/self/pagemap), or
 * anywhere src_fd (the file host is privately mapped from, or -1) has
 * data; every page when pagemap cannot be read. Pages never touched are
 * zero: a receiver that starts from zeroed memory needs none of them. */
void snap_mem_candidates(const uint8_t *host, uint64_t size, int src_fd, unsigned long *bits);

/* Is this 4 KiB page all zero? Pure. */
bool snap_page_is_zero(const uint8_t *page);

#endif
