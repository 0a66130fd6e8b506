/* Guest physical memory: one host mapping, split around the 32-bit PCI hole.
 *
 * RAM below GUEST_MEM_HOLE_START is mapped at guest-physical 0; the rest, if
 * any, at GUEST_MEM_HIGH_START (4 GiB). Every access the VMM makes on the
 * guest's behalf goes through guest_mem_ptr(), which checks the whole range.
 */
#ifndef NESTVM_VMM_GUEST_MEM_H
#define NESTVM_VMM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_HOLE_START 0xC0000000ULL  /* 3 GiB: PCI MMIO, IOAPIC, LAPIC */
#define GUEST_MEM_HIGH_START 0x100000000ULL /* 4 GiB */

struct guest_mem {
	uint8_t *host;     /* start of the host mapping of all guest RAM */
	uint64_t size;     /* bytes of guest RAM */
	uint64_t low_size; /* bytes mapped at GPA 0 (<= GUEST_MEM_HOLE_START) */
	/* While a migration tracks them (vmm/dirty_log.h): a bit per page the
	 * VMM's devices wrote; NULL otherwise. Set and read atomically. */
	unsigned long *dev_dirty;
};

/* Set up the layout for `size` bytes over an existing host buffer. */
void guest_mem_init_layout(struct guest_mem *m, uint8_t *host, uint64_t size);

/* mmap() anonymous memory for `size` bytes; returns 0 or -errno. */
int guest_mem_alloc(struct guest_mem *m, uint64_t size);
void guest_mem_free(struct guest_mem *m);

/* Host pointer for [gpa, gpa+len), or NULL when any byte of it is not RAM
 * (outside memory, inside the hole, or straddling either). len 0 is valid
 * when gpa itself is inside a RAM region or at its end. */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* A device is about to write [p, p+len) (a host pointer guest_mem_ptr gave):
 * mark its pages when dirty pages are tracked. Any thread. */
void guest_mem_mark(const struct guest_mem *m, const void *p, uint64_t len);

/* Copy into / out of guest memory; -EFAULT when out of range. */
int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len);
int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len);

#endif
