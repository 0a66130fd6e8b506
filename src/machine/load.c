#include "machine/load.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int machine_load_file(const char *what, const char *path, uint64_t max, uint8_t **buf,
		      size_t *len, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *p;
	size_t got = 0;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s is not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s %s is %llu MiB, more than the %llu MiB it may be",
			 what, path, (unsigned long long)st.st_size >> 20,
			 (unsigned long long)max >> 20);
		close(fd);
		return -EFBIG;
	}
	if (st.st_size == 0) {
		snprintf(err, errlen, "%s %s is empty", what, path);
		close(fd);
		return -EINVAL;
	}
	p = malloc((size_t)st.st_size);
	if (!p) {
		close(fd);
		snprintf(err, errlen, "out of memory reading %s %s", what, path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			snprintf(err, errlen, "reading %s %s: %s", what, path,
				 n < 0 ? strerror(e) : "file shrank while being read");
			free(p);
			close(fd);
			return -e;
		}
		got += (size_t)n;
	}
	close(fd);
	*buf = p;
	*len = got;
	return 0;
}
