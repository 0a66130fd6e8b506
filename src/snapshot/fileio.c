/* Whole reads and writes (snapshot/fileio.h). */
#include "snapshot/fileio.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

int snap_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int snap_pio_all(int fd, void *buf, size_t n, off_t off, bool write)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t k = write ? pwrite(fd, p, n, off) : pread(fd, p, n, off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}
