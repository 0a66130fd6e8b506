/* Whole reads and writes (snapshot/fileio.h). */
#include "snapshot/fileio.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

/* off < 0: write() at the file position; else pwrite()/pread() at off. */
static int snap_io_loop(int fd, uint8_t *p, size_t n, off_t off, bool wr)
{
	while (n > 0) {
		ssize_t k = off < 0 ? write(fd, p, n) : wr ? pwrite(fd, p, n, off) :
			    pread(fd, p, n, off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
		if (off >= 0)
			off += k;
	}
	return 0;
}

int snap_write_all(int fd, const void *buf, size_t n)
{
	return snap_io_loop(fd, (uint8_t *)(uintptr_t)buf, n, -1, true);
}

int snap_pio_all(int fd, void *buf, size_t n, off_t off, bool write)
{
	return off < 0 ? -EINVAL : snap_io_loop(fd, buf, n, off, write);
}
