/* Which guest pages changed: KVM's dirty log for what the vCPUs write, and
 * a bitmap of its own for what nestvm's devices write into guest memory
 * (virtqueue buffers and used rings: KVM does not see those writes), for
 * live migration's pre-copy (docs/migration.md).
 *
 * Pages are numbered by their offset in guest RAM's host mapping
 * (vm->mem.host): page i is host + i * 4096, whichever memory slot holds
 * it. Bitmaps are arrays of unsigned long, bit i of word i / 64.
 *
 * KVM's log: KVM_MEM_LOG_DIRTY_PAGES on both RAM slots; with
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 a sync reads the log
 * (KVM_GET_DIRTY_LOG) and re-protects just the pages it found
 * (KVM_CLEAR_DIRTY_LOG) before the caller reads them, so a write after the
 * sync shows in the next one; without it KVM_GET_DIRTY_LOG does both.
 *
 * Threads: start, sync and stop on one thread (the VM process's main
 * thread); devices mark from any thread. */
#ifndef NESTVM_VMM_DIRTY_LOG_H
#define NESTVM_VMM_DIRTY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

#define DIRTY_PAGE 4096ULL
#define DIRTY_BITS (8 * sizeof(unsigned long))

struct vm;

struct dirty_log {
	uint64_t npages;          /* guest RAM pages */
	size_t nwords;            /* words of a bitmap of npages bits */
	unsigned long *slot_buf;  /* KVM_GET_DIRTY_LOG's buffer (the larger slot's size) */
	bool manual;              /* KVM_CLEAR_DIRTY_LOG in use */
	bool on;
};

/* A bitmap of n pages, zeroed (calloc): NULL when out of memory. */
unsigned long *dirty_bitmap_new(uint64_t npages);
static inline void dirty_bit_set(unsigned long *b, uint64_t i)
{
	b[i / DIRTY_BITS] |= 1UL << (i % DIRTY_BITS);
}
static inline bool dirty_bit_test(const unsigned long *b, uint64_t i)
{
	return (b[i / DIRTY_BITS] >> (i % DIRTY_BITS)) & 1;
}
uint64_t dirty_bitmap_count(const unsigned long *b, size_t nwords);

/* Turn KVM's log on for guest RAM (and the devices' marks: mem's bitmap).
 * 0 or -errno with a message; on failure nothing is left on. */
int dirty_log_start(struct dirty_log *d, struct vm *vm, char *err, size_t errlen);
/* OR the pages written since the last sync (or the start) into out
 * (npages bits); with devices, the devices' marks too (kept: a device may
 * write a buffer it took long ago, so those pages are sent again at the
 * end). 0 or -errno with a message. */
int dirty_log_sync(struct dirty_log *d, struct vm *vm, unsigned long *out, bool devices,
		   char *err, size_t errlen);
/* Off again (slots without the flag, the devices' bitmap freed). Call it
 * with the devices quiesced (machine/quiesce.h): a device thread could
 * otherwise be marking the bitmap as it goes. */
void dirty_log_stop(struct dirty_log *d, struct vm *vm);

#endif
