#include "vmm/guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void guest_mem_init_layout(struct guest_mem *m, uint8_t *host, uint64_t size)
{
	m->host = host;
	m->size = size;
	m->low_size = size < GUEST_MEM_HOLE_START ? size : GUEST_MEM_HOLE_START;
	m->dev_dirty = NULL;   /* not tracked until a migration starts */
}

/* Guest RAM starts on a 2 MiB boundary of the host's address space, so
 * that guest-physical and host-virtual addresses agree modulo 2 MiB and KVM
 * can map the guest with 2 MiB pages wherever the host backs it with
 * transparent huge pages: one nested page fault per 2 MiB instead of 512.
 * (Unaligned, the stock kernel's boot took ~30,000 nested page faults
 * instead of ~1,700.) */
#define GUEST_MEM_ALIGN (2ULL << 20)

int guest_mem_alloc(struct guest_mem *m, uint64_t size)
{
	uint64_t span = size + GUEST_MEM_ALIGN, head, tail;
	uint8_t *raw, *p;

	if (span < size)
		return -ENOMEM;
	raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return -errno;
	p = (uint8_t *)(((uintptr_t)raw + GUEST_MEM_ALIGN - 1) & ~(uintptr_t)(GUEST_MEM_ALIGN - 1));
	head = (uint64_t)(p - raw);
	tail = span - head - size;
	if (head)
		munmap(raw, head);
	if (tail)
		munmap(p + size, tail);
	/* Huge pages where the host allows them (THP "madvise" mode), and
	 * guest RAM is never part of a core dump of the VMM. */
	madvise(p, size, MADV_HUGEPAGE);
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

void guest_mem_mark(const struct guest_mem *m, const void *p, uint64_t len)
{
	unsigned long *bits = __atomic_load_n(&m->dev_dirty, __ATOMIC_ACQUIRE);
	uint64_t off, first, last;
	const unsigned int w = 8 * sizeof(unsigned long);

	if (!bits || !len || (const uint8_t *)p < m->host)
		return;
	off = (uint64_t)((const uint8_t *)p - m->host);
	if (off >= m->size)
		return;
	if (len > m->size - off)
		len = m->size - off;
	first = off / 4096;
	last = (off + len - 1) / 4096;
	for (uint64_t i = first; i <= last; i++)
		__atomic_fetch_or(&bits[i / w], 1UL << (i % w), __ATOMIC_RELAXED);
}

int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len)
{
	void *dst = guest_mem_ptr(m, gpa, len);
	if (!dst)
		return -EFAULT;
	guest_mem_mark(m, dst, len);
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
