/* memhash PID SIZE: hash the guest RAM of the nestvm process PID, found in
 * /proc/PID/maps as the one private anonymous read-write mapping of
 * exactly SIZE bytes, read through /proc/PID/mem. Prints
 * "<hash> <start>-<end>"; exit 1 (with why) when there is no such mapping
 * or more than one, or it cannot be read. For the rig's quiesce payload:
 * equal hashes a second apart mean nothing wrote guest memory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static int find_ram(int pid, uint64_t size, uint64_t *start)
{
	char path[64], line[512];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "memhash: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		uint64_t a, b, off;
		char perms[8], dev[16];
		unsigned long inode;
		int n = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %15s %lu %n", &a, &b,
			   perms, &off, dev, &inode, &n) < 6)
			continue;
		if (b - a != size || strncmp(perms, "rw-p", 4) != 0 || inode != 0)
			continue;
		if (line[n] != '\0' && line[n] != '\n')
			continue;           /* named: [heap], [stack], ... */
		*start = a;
		found++;
	}
	fclose(f);
	if (found != 1)
		fprintf(stderr, "memhash: %d anonymous mappings of %" PRIu64 " bytes in %s\n",
			found, size, path);
	return found == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	uint64_t size, start, h = 0xcbf29ce484222325ULL;
	char path[64];
	uint64_t *buf;
	int pid, fd;

	if (argc != 3) {
		fprintf(stderr, "usage: memhash PID SIZE\n");
		return 2;
	}
	pid = atoi(argv[1]);
	size = strtoull(argv[2], NULL, 0);
	if (pid <= 0 || size == 0 || size % CHUNK) {
		fprintf(stderr, "memhash: bad PID or SIZE (a multiple of 1 MiB)\n");
		return 2;
	}
	if (find_ram(pid, size, &start))
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY);
	buf = malloc(CHUNK);
	if (fd < 0 || !buf) {
		fprintf(stderr, "memhash: %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (uint64_t off = 0; off < size; off += CHUNK) {
		ssize_t n = pread(fd, buf, CHUNK, (off_t)(start + off));

		if (n != (ssize_t)CHUNK) {
			fprintf(stderr, "memhash: read at 0x%" PRIx64 ": %s\n", start + off,
				n < 0 ? strerror(errno) : "short");
			return 1;
		}
		for (size_t i = 0; i < CHUNK / 8; i++) {
			h ^= buf[i] + i;
			h *= 0x100000001b3ULL;
			h ^= h >> 29;
		}
	}
	printf("%016" PRIx64 " %" PRIx64 "-%" PRIx64 "\n", h, start, start + size);
	return 0;
}
