#include "vmm/iobus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void iobus_init(struct iobus *bus)
{
	memset(bus, 0, sizeof(*bus));
}

void iobus_destroy(struct iobus *bus)
{
	free(bus->regions);
	memset(bus, 0, sizeof(*bus));
}

/* Index of the first region whose base is > addr. */
static size_t iobus_upper_bound(const struct iobus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bus->regions[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, io_handler_fn fn,
		   void *opaque, const char *name)
{
	size_t pos;

	if (len == 0 || base + len < base || !fn)
		return -EINVAL;
	pos = iobus_upper_bound(bus, base);
	if (pos > 0) {
		const struct io_region *prev = &bus->regions[pos - 1];
		if (prev->base + prev->len > base)
			return -EEXIST;
	}
	if (pos < bus->count && bus->regions[pos].base < base + len)
		return -EEXIST;
	if (bus->count == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 16;
		struct io_region *r = realloc(bus->regions, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		bus->regions = r;
		bus->cap = cap;
	}
	memmove(&bus->regions[pos + 1], &bus->regions[pos],
		(bus->count - pos) * sizeof(bus->regions[0]));
	bus->regions[pos] = (struct io_region){ base, len, fn, opaque, name };
	bus->count++;
	return 0;
}

const struct io_region *iobus_find(const struct iobus *bus, uint64_t addr, uint32_t len)
{
	size_t pos = iobus_upper_bound(bus, addr);
	const struct io_region *r;

	if (pos == 0)
		return NULL;
	r = &bus->regions[pos - 1];
	if (addr - r->base >= r->len || len > r->len - (addr - r->base))
		return NULL;
	return r;
}

bool iobus_dispatch(const struct iobus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		    bool is_write)
{
	const struct io_region *r = iobus_find(bus, addr, len);

	if (!r)
		return false;
	r->fn(r->opaque, addr - r->base, data, len, is_write);
	return true;
}
