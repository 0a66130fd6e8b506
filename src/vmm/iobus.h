/* Port-I/O and MMIO dispatch: a sorted table of address ranges, each owned by
 * one device callback. Devices register at setup time only; lookups on the
 * vCPU threads take no lock. Each device does its own locking. */
#ifndef NESTVM_VMM_IOBUS_H
#define NESTVM_VMM_IOBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* `offset` is relative to the region's base. `data` holds `len` bytes
 * (little endian): read from it on a write, fill it on a read. */
typedef void (*io_handler_fn)(void *opaque, uint64_t offset, uint8_t *data,
			      uint32_t len, bool is_write);

struct io_region {
	uint64_t base;
	uint64_t len;
	io_handler_fn fn;
	void *opaque;
	const char *name;
};

struct iobus {
	struct io_region *regions; /* sorted by base, never overlapping */
	size_t count;
	size_t cap;
};

void iobus_init(struct iobus *bus);
void iobus_destroy(struct iobus *bus);

/* 0, -EINVAL for an empty or wrapping range, -EEXIST when it overlaps a
 * registered one, -ENOMEM. */
int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, io_handler_fn fn,
		   void *opaque, const char *name);

/* The region holding all of [addr, addr+len), or NULL. */
const struct io_region *iobus_find(const struct iobus *bus, uint64_t addr, uint32_t len);

/* Hand an access to its device. Returns false when no device claims it; the
 * caller then reads all-ones and drops writes. */
bool iobus_dispatch(const struct iobus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		    bool is_write);

#endif
