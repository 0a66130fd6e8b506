/* Whole reads and writes for the snapshot files: loops over short
 * transfers and EINTR, so a caller sees all of it or an error. */
#ifndef NESTVM_SNAPSHOT_FILEIO_H
#define NESTVM_SNAPSHOT_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* write() all n bytes at the file position. 0, or -errno (-EIO when the
 * file takes no more). */
int snap_write_all(int fd, const void *buf, size_t n);
/* pwrite() (write) or pread() (!write) all n bytes at off. 0, or -errno
 * (-EIO at the end of the file or when it takes no more). */
int snap_pio_all(int fd, void *buf, size_t n, off_t off, bool write);

#endif
