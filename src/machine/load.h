/* Reading the files a VM boots from (kernel, initrd). */
#ifndef NESTVM_MACHINE_LOAD_H
#define NESTVM_MACHINE_LOAD_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole regular file of at most `max` bytes. Returns 0, or -errno
 * with a message naming `what` and `path` in err. */
int machine_load_file(const char *what, const char *path, uint64_t max, uint8_t **buf,
		      size_t *len, char *err, size_t errlen);

#endif
