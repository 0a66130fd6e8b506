/* PCI configuration mechanism #1 on bus 0, with a host bridge at 00:00.0.
 *
 * Every device is single-function (header type 0): function != 0, bus != 0,
 * an empty slot, or a register past 0xff reads all-ones and drops writes.
 * Configuration accesses are applied byte by byte through the device's
 * wmask (writable bits) and w1cmask (write-1-to-clear bits), so any size
 * 1/2/4 at any offset that stays inside the 256 bytes works; BAR address
 * masking falls out of the BAR's wmask. After every write the effective
 * address of each implemented BAR (0 when its decode bit in the command
 * register is off) is compared with the one before, and bar_moved is called
 * for each that changed.
 */
#include "hw/pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/device.h"
#include <stdlib.h>

#include "vmm/log.h"
#include "vmm/vm.h"

#define PCI_VENDOR_ID       0x00
#define PCI_DEVICE_ID       0x02
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_REVISION_ID     0x08
#define PCI_CLASS_PROG      0x09
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER   0x0d
#define PCI_BASE_ADDRESS_0  0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID    0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE  0x3c
#define PCI_CAP_START       0x40

#define PCI_COMMAND_IO      0x0001
#define PCI_COMMAND_MEMORY  0x0002
/* IO, MEM, bus master, parity, SERR, INTx disable */
#define PCI_COMMAND_WMASK   0x0547
#define PCI_STATUS_CAP_LIST 0x0010
/* master data parity error, signalled/received target/master abort,
 * signalled SERR, detected parity error */
#define PCI_STATUS_W1C      0xf900

#define PCI_BAR_IO          0x1u
#define PCI_BAR_MEM_64      0x4u

#define PCI_CONF1_ENABLE    0x80000000u

static void pci_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void pci_put32(uint8_t *p, uint32_t v)
{
	pci_put16(p, (uint16_t)v);
	pci_put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t pci_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t pci_all_ones(int size)
{
	if (size == 1)
		return 0xff;
	if (size == 2)
		return 0xffff;
	return 0xffffffffu;
}

void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		     uint16_t subsys_id)
{
	memset(dev, 0, sizeof(*dev));
	pci_put16(dev->config + PCI_VENDOR_ID, vendor);
	pci_put16(dev->config + PCI_DEVICE_ID, device);
	dev->config[PCI_REVISION_ID] = revision;
	dev->config[PCI_CLASS_PROG] = (uint8_t)class_code;
	dev->config[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	dev->config[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	pci_put16(dev->config + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	pci_put16(dev->config + PCI_SUBSYSTEM_ID, subsys_id);
	pci_put16(dev->wmask + PCI_COMMAND, PCI_COMMAND_WMASK);
	pci_put16(dev->w1cmask + PCI_STATUS, PCI_STATUS_W1C);
	dev->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	dev->wmask[PCI_LATENCY_TIMER] = 0xff;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

static bool pci_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static bool pci_bar_slot_free(const struct pci_device *dev, int bar, bool is_64)
{
	if (bar > 0 && dev->bar_is_64[bar - 1] && dev->bar_size[bar - 1])
		return false;
	if (is_64 && dev->bar_size[bar + 1])
		return false;
	return true;
}

int pci_device_set_bar(struct pci_device *dev, int bar, uint64_t size, bool is_io,
		       bool is_64)
{
	uint64_t mask = ~(size - 1);
	uint8_t *reg;

	if (!dev || bar < 0 || bar >= PCI_NUM_BARS || !pci_is_pow2(size))
		return -EINVAL;
	if (is_io && (is_64 || size < 4 || size > 0x10000))
		return -EINVAL;
	if (!is_io && (size < 16 || (!is_64 && size > 0x80000000u)))
		return -EINVAL;
	if (is_64 && bar == PCI_NUM_BARS - 1)
		return -EINVAL;
	if (!pci_bar_slot_free(dev, bar, is_64))
		return -EINVAL;

	reg = dev->config + PCI_BASE_ADDRESS_0 + 4 * bar;
	if (dev->bar_is_64[bar] && !is_64) {
		/* re-declared narrower: release the old upper half */
		pci_put32(reg + 4, 0);
		pci_put32(dev->wmask + PCI_BASE_ADDRESS_0 + 4 * (bar + 1), 0);
	}
	dev->bar_size[bar] = size;
	dev->bar_is_io[bar] = is_io;
	dev->bar_is_64[bar] = is_64;
	pci_put32(reg, is_io ? PCI_BAR_IO : is_64 ? PCI_BAR_MEM_64 : 0);
	pci_put32(dev->wmask + PCI_BASE_ADDRESS_0 + 4 * bar, (uint32_t)mask);
	if (is_64) {
		pci_put32(reg + 4, 0);
		pci_put32(dev->wmask + PCI_BASE_ADDRESS_0 + 4 * (bar + 1),
			  (uint32_t)(mask >> 32));
	}
	return 0;
}

uint64_t pci_device_bar_addr(const struct pci_device *dev, int bar)
{
	uint16_t cmd;
	uint64_t addr;
	const uint8_t *reg;

	if (!dev || bar < 0 || bar >= PCI_NUM_BARS || !dev->bar_size[bar])
		return 0;
	cmd = (uint16_t)(dev->config[PCI_COMMAND] | dev->config[PCI_COMMAND + 1] << 8);
	reg = dev->config + PCI_BASE_ADDRESS_0 + 4 * bar;
	if (dev->bar_is_io[bar])
		return (cmd & PCI_COMMAND_IO) ? (pci_get32(reg) & ~0x3u) : 0;
	if (!(cmd & PCI_COMMAND_MEMORY))
		return 0;
	addr = pci_get32(reg) & ~0xfu;
	if (dev->bar_is_64[bar])
		addr |= (uint64_t)pci_get32(reg + 4) << 32;
	return addr;
}

int pci_device_add_cap(struct pci_device *dev, const uint8_t *cap, uint8_t len)
{
	unsigned int off = dev->cap_free ? dev->cap_free : PCI_CAP_START;
	unsigned int last = dev->cap_last;

	if (!dev || !cap || len < 2)
		return -EINVAL;
	off = (off + 3) & ~3u;
	if (off + len > PCI_CONF_SPACE)
		return -ENOSPC;
	memcpy(dev->config + off, cap, len);
	dev->config[off + 1] = 0;
	if (last)
		dev->config[last + 1] = (uint8_t)off;
	else
		dev->config[PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->cap_last = (uint8_t)off;
	dev->cap_free = (uint16_t)(off + len);
	return (int)off;
}

void pci_bus_init(struct pci_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->lock, NULL);
	pci_device_init(&bus->host_bridge, PCI_HOST_BRIDGE_VENDOR, PCI_HOST_BRIDGE_DEVICE,
			PCI_HOST_BRIDGE_CLASS, 0, 0, 0);
	bus->host_bridge.slot = 0;
	bus->slots[0] = &bus->host_bridge;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
}

static int pci_bus_free_slot(const struct pci_bus *bus)
{
	int i;

	for (i = 1; i < PCI_MAX_SLOTS; i++)
		if (!bus->slots[i])
			return i;
	return -ENOSPC;
}

int pci_bus_add(struct pci_bus *bus, struct pci_device *dev, int slot)
{
	if (!dev || slot < 0 || slot >= PCI_MAX_SLOTS)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	if (slot == 0)
		slot = pci_bus_free_slot(bus);
	else if (bus->slots[slot])
		slot = -EBUSY;
	if (slot > 0) {
		bus->slots[slot] = dev;
		dev->slot = (uint8_t)slot;
	}
	pthread_mutex_unlock(&bus->lock);
	return slot;
}

/* The device an access names, or NULL when it reads as all-ones. */
static struct pci_device *pci_bus_lookup(struct pci_bus *bus, uint8_t busno, uint8_t slot,
					 uint8_t func, unsigned int offset, int size)
{
	if (busno != 0 || func != 0 || slot >= PCI_MAX_SLOTS)
		return NULL;
	if (size != 1 && size != 2 && size != 4)
		return NULL;
	if (offset >= PCI_CONF_SPACE || (unsigned int)size > PCI_CONF_SPACE - offset)
		return NULL;
	return bus->slots[slot];
}

static void pci_bar_addrs(const struct pci_device *dev, uint64_t addr[PCI_NUM_BARS])
{
	int i;

	for (i = 0; i < PCI_NUM_BARS; i++)
		addr[i] = pci_device_bar_addr(dev, i);
}

static void pci_notify_bars(struct pci_device *dev, const uint64_t old[PCI_NUM_BARS])
{
	int i;

	for (i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t now = pci_device_bar_addr(dev, i);

		if (dev->bar_size[i] && now != old[i] && dev->bar_moved)
			dev->bar_moved(dev, i, old[i], now);
	}
}

static uint32_t pci_conf_read_locked(struct pci_bus *bus, uint8_t busno, uint8_t slot,
				     uint8_t func, unsigned int offset, int size)
{
	struct pci_device *dev = pci_bus_lookup(bus, busno, slot, func, offset, size);
	uint32_t val = 0;
	int i;

	if (!dev)
		return pci_all_ones(size);
	for (i = 0; i < size; i++)
		val |= (uint32_t)dev->config[offset + i] << (8 * i);
	return val;
}

/* Apply a write; returns the device written, NULL when none was. */
static struct pci_device *pci_conf_write_locked(struct pci_bus *bus, uint8_t busno, uint8_t slot,
						uint8_t func, unsigned int offset, int size,
						uint32_t value)
{
	struct pci_device *dev = pci_bus_lookup(bus, busno, slot, func, offset, size);
	uint64_t old[PCI_NUM_BARS];
	int i;

	if (!dev)
		return NULL;
	pci_bar_addrs(dev, old);
	for (i = 0; i < size; i++) {
		unsigned int o = offset + i;
		uint8_t b = (uint8_t)(value >> (8 * i));
		uint8_t w = dev->wmask[o];

		dev->config[o] = (uint8_t)((dev->config[o] & ~w) | (b & w));
		dev->config[o] &= (uint8_t)~(b & dev->w1cmask[o]);
	}
	pci_notify_bars(dev, old);
	return dev;
}

/* After the bus lock is released. */
static void pci_conf_written(struct pci_device *dev, unsigned int offset, int size)
{
	if (dev && dev->conf_written)
		dev->conf_written(dev, offset, size);
}

uint32_t pci_conf_read(struct pci_bus *bus, uint8_t busno, uint8_t slot, uint8_t func,
		       uint16_t offset, int size)
{
	uint32_t val;

	pthread_mutex_lock(&bus->lock);
	val = pci_conf_read_locked(bus, busno, slot, func, offset, size);
	pthread_mutex_unlock(&bus->lock);
	return val;
}

void pci_conf_write(struct pci_bus *bus, uint8_t busno, uint8_t slot, uint8_t func,
		    uint16_t offset, int size, uint32_t value)
{
	struct pci_device *dev;

	pthread_mutex_lock(&bus->lock);
	dev = pci_conf_write_locked(bus, busno, slot, func, offset, size, value);
	pthread_mutex_unlock(&bus->lock);
	pci_conf_written(dev, offset, size);
}

static void pci_fill_ones(uint8_t *data, uint32_t len)
{
	memset(data, 0xff, len);
}

void pci_conf_addr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;

	if (!len || !data)
		return;
	if (offset != 0 || len != 4) {
		if (!is_write)
			pci_fill_ones(data, len);
		return;
	}
	pthread_mutex_lock(&bus->lock);
	if (is_write)
		bus->conf_addr = pci_get32(data) & ~0x3u;
	else
		pci_put32(data, bus->conf_addr);
	pthread_mutex_unlock(&bus->lock);
}

void pci_conf_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	struct pci_device *written = NULL;
	uint32_t ca, val;
	unsigned int reg, i;
	uint8_t busno, slot, func;

	if (!len || !data)
		return;
	if ((len != 1 && len != 2 && len != 4) || offset >= 4 || len > 4 - offset) {
		if (!is_write)
			pci_fill_ones(data, len);
		return;
	}
	pthread_mutex_lock(&bus->lock);
	ca = bus->conf_addr;
	busno = (uint8_t)(ca >> 16);
	slot = (ca >> 11) & 0x1f;
	func = (ca >> 8) & 0x7;
	/* bits 27:24 are AMD-style extended register bits: >= 0x100, absent */
	reg = (unsigned int)offset + (ca & 0xfc) + ((ca >> 16) & 0xf00);
	if (!(ca & PCI_CONF1_ENABLE)) {
		if (!is_write)
			pci_fill_ones(data, len);
	} else if (is_write) {
		val = 0;
		for (i = 0; i < len; i++)
			val |= (uint32_t)data[i] << (8 * i);
		written = pci_conf_write_locked(bus, busno, slot, func, reg, (int)len, val);
	} else {
		val = pci_conf_read_locked(bus, busno, slot, func, reg, (int)len);
		for (i = 0; i < len; i++)
			data[i] = (uint8_t)(val >> (8 * i));
	}
	pthread_mutex_unlock(&bus->lock);
	pci_conf_written(written, reg, (int)len);
}

void pci_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	uint64_t addr = PCI_MMIO_BASE + offset;
	struct pci_device *hit = NULL;
	int hit_bar = -1;
	uint64_t hit_off = 0;

	pthread_mutex_lock(&bus->lock);
	for (int s = 1; s < PCI_MAX_SLOTS && !hit; s++) {
		struct pci_device *dev = bus->slots[s];
		uint64_t bars[PCI_NUM_BARS];

		if (!dev || !dev->bar_io)
			continue;
		pci_bar_addrs(dev, bars);
		for (int b = 0; b < PCI_NUM_BARS; b++) {
			if (!dev->bar_size[b] || dev->bar_is_io[b] || !bars[b])
				continue;
			if (addr >= bars[b] && addr - bars[b] < dev->bar_size[b] &&
			    len <= dev->bar_size[b] - (addr - bars[b])) {
				hit = dev;
				hit_bar = b;
				hit_off = addr - bars[b];
				break;
			}
		}
	}
	pthread_mutex_unlock(&bus->lock);
	if (hit)
		hit->bar_io(hit, hit_bar, hit_off, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
}

uint32_t pci_device_conf_read(struct pci_bus *bus, const struct pci_device *dev, uint16_t offset,
			      int size)
{
	uint32_t v = 0;

	if (size < 1 || size > 4 || offset + (unsigned int)size > PCI_CONF_SPACE)
		return 0xffffffffu;
	pthread_mutex_lock(&bus->lock);
	for (int i = 0; i < size; i++)
		v |= (uint32_t)dev->config[offset + i] << (8 * i);
	pthread_mutex_unlock(&bus->lock);
	return v;
}

/* ---- device state (src/vmm/device.h) ----
 *
 * Save copies the latch and every present function's configuration space.
 * Restore checks that the same slots are present and that no bit differs
 * from the live device's outside its writable (wmask) and write-1-to-clear
 * bits, so IDs, BAR types and sizes, the capability chain and every
 * read-only field are the board's own and BAR addresses are aligned to
 * their size; then it loads the spaces and tells each function about
 * every BAR that moved (bar_moved: a virtio function re-registers its
 * notification ioeventfds there). */

static void pci_host_save(void *dev, void *state)
{
	struct pci_bus *bus = dev;
	struct pci_host_state *st = state;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&bus->lock);
	st->conf_addr = bus->conf_addr;
	for (int s = 0; s < PCI_MAX_SLOTS; s++) {
		if (!bus->slots[s])
			continue;
		st->present |= 1u << s;
		memcpy(st->config[s], bus->slots[s]->config, PCI_CONF_SPACE);
	}
	pthread_mutex_unlock(&bus->lock);
}

static int pci_host_check(const struct pci_bus *bus, const struct pci_host_state *st, char *err,
			  size_t errlen)
{
	if (st->conf_addr & 0x3u) {
		snprintf(err, errlen, "pci-host: conf_addr 0x%08x has bits 1:0 set", st->conf_addr);
		return -EINVAL;
	}
	for (int s = 0; s < PCI_MAX_SLOTS; s++) {
		const struct pci_device *d = bus->slots[s];
		bool want = st->present & (1u << s);

		if (want != (d != NULL)) {
			snprintf(err, errlen, "pci-host: present: slot %d is %s in the state but %s "
				 "on this board", s, want ? "filled" : "empty",
				 d ? "filled" : "empty");
			return -EINVAL;
		}
		if (!d) {
			for (int o = 0; o < PCI_CONF_SPACE; o++) {
				if (st->config[s][o]) {
					snprintf(err, errlen, "pci-host: config of empty slot %d is "
						 "not zero (offset 0x%02x)", s, o);
					return -EINVAL;
				}
			}
			continue;
		}
		for (int o = 0; o < PCI_CONF_SPACE; o++) {
			uint8_t fixed = (uint8_t)~(d->wmask[o] | d->w1cmask[o]);

			if ((st->config[s][o] ^ d->config[o]) & fixed) {
				snprintf(err, errlen, "pci-host: config of slot %d offset 0x%02x is "
					 "0x%02x, but its read-only bits (0x%02x) hold 0x%02x", s, o,
					 st->config[s][o], fixed, d->config[o] & fixed);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int pci_host_restore(void *dev, const void *state, size_t size, uint32_t version,
			    char *err, size_t errlen)
{
	struct pci_bus *bus = dev;
	const struct pci_host_state *st = state;
	int r;

	r = device_state_check_header(&pci_host_class, size, version, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&bus->lock);
	r = pci_host_check(bus, st, err, errlen);
	if (r == 0) {
		bus->conf_addr = st->conf_addr;
		for (int s = 0; s < PCI_MAX_SLOTS; s++) {
			struct pci_device *d = bus->slots[s];
			uint64_t old[PCI_NUM_BARS];

			if (!d)
				continue;
			pci_bar_addrs(d, old);
			memcpy(d->config, st->config[s], PCI_CONF_SPACE);
			pci_notify_bars(d, old);
		}
	}
	pthread_mutex_unlock(&bus->lock);
	return r;
}

/* ---- the device class: the host bridge and bus 0 ---- */

static int pci_host_create(const struct device_host *h, const json_t *cfg, void **dev, char *err,
			   size_t errlen)
{
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	int r;

	(void)cfg;
	*dev = NULL;
	if (!bus)
		return -ENOMEM;
	pci_bus_init(bus);
	*dev = bus;
	r = iobus_register(&h->vm->pio, PCI_CONF_ADDR_PORT, 4, pci_conf_addr_io, bus, "pci-addr");
	if (!r)
		r = iobus_register(&h->vm->pio, PCI_CONF_DATA_PORT, 4, pci_conf_data_io, bus,
				   "pci-data");
	if (r) {
		snprintf(err, errlen, "cannot register the PCI configuration ports: %s",
			 strerror(-r));
		return r;
	}
	/* The guest's PCI configuration cycles are an address write to 0xCF8,
	 * then a data access at 0xCFC that exits anyway: queue the address
	 * writes in KVM's coalesced ring rather than exit for each (half the
	 * exits of a stock kernel's boot, whose early PCI scans make ~16,000
	 * configuration reads). Without KVM_CAP_COALESCED_PIO they exit. */
	r = vm_coalesce_pio(h->vm, PCI_CONF_ADDR_PORT, 4);
	if (r && r != -ENOTSUP)
		log_warn("PCI configuration address writes will exit: %s", strerror(-r));
	r = iobus_register(&h->vm->mmio, PCI_MMIO_BASE, PCI_MMIO_SIZE, pci_mmio_io, bus,
			   "pci-mmio");
	if (r)
		snprintf(err, errlen, "cannot register the PCI MMIO window: %s", strerror(-r));
	return r;
}

static void pci_host_destroy(void *dev)
{
	if (!dev)
		return;
	pci_bus_destroy(dev);
	free(dev);
}

const struct device_class pci_host_class = {
	.name = "pci-host",
	.quiesce = NULL,      /* no thread: configuration accesses run on vCPU threads */
	.resume = NULL,
	.state_version = PCI_HOST_STATE_VERSION,
	.state_size = sizeof(struct pci_host_state),
	.save = pci_host_save,
	.restore = pci_host_restore,
	.board = true,
	.create = pci_host_create,
	.destroy = pci_host_destroy,
};
