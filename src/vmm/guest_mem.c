#include "vmm/guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void guest_mem_init_layout(struct guest_mem *m, uint8_t *host, uint64_t size)
{
	m->host = host;
	m->size = size;
	m->low_size = size < GUEST_MEM_HOLE_START ? size : GUEST_MEM_HOLE_START;
}

int guest_mem_alloc(struct guest_mem *m, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Guest RAM is never part of a core dump of the VMM. */
	madvise(p, size, MADV_DONTDUMP);
	guest_mem_init_layout(m, p, size);
	return 0;
}

void guest_mem_free(struct guest_mem *m)
{
	if (m->host)
		munmap(m->host, m->size);
	m->host = NULL;
	m->size = m->low_size = 0;
}

void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t high_size = m->size - m->low_size;

	if (gpa <= m->low_size && len <= m->low_size - gpa)
		return m->host + gpa;
	if (gpa >= GUEST_MEM_HIGH_START) {
		uint64_t off = gpa - GUEST_MEM_HIGH_START;
		if (off <= high_size && len <= high_size - off)
			return m->host + m->low_size + off;
	}
	return NULL;
}

int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len)
{
	void *dst = guest_mem_ptr(m, gpa, len);
	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len)
{
	const void *src = guest_mem_ptr(m, gpa, len);
	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}
