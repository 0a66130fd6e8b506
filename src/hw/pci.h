/* PCI configuration space through configuration mechanism #1 (ports 0xCF8
 * address, 0xCFC-0xCFF data) on bus 0, with a host bridge at 00:00.0.
 *
 * A device is a 256-byte configuration space plus masks saying which bits
 * the guest may write. BARs are sized the standard way (write all-ones, read
 * back the size mask). Later virtio-pci devices register here and get told
 * when a BAR moves, so they can remap their MMIO regions.
 */
#ifndef NESTVM_HW_PCI_H
#define NESTVM_HW_PCI_H

#include "vmm/device.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_CONF_ADDR_PORT 0xcf8
#define PCI_CONF_DATA_PORT 0xcfc
#define PCI_CONF_SPACE     256
#define PCI_MAX_SLOTS      32
#define PCI_NUM_BARS       6

/* The host bridge at 00:00.0: a Q35-like Intel id, class "host bridge"
 * (Linux's conf1 sanity check looks for that class on bus 0). */
#define PCI_HOST_BRIDGE_VENDOR 0x8086
#define PCI_HOST_BRIDGE_DEVICE 0x29c0
#define PCI_HOST_BRIDGE_CLASS  0x060000

/* 32-bit MMIO window the DSDT's PCI0 _CRS hands out (below the IOAPIC). */
#define PCI_MMIO_BASE 0xc0000000u
#define PCI_MMIO_SIZE 0x3ec00000u   /* up to 0xfec00000 */

struct pci_device;

/* An access the guest made inside one of the device's memory or I/O BARs
 * (offset from the BAR's start). Called without the bus lock. */
typedef void (*pci_bar_io_fn)(struct pci_device *dev, int bar, uint64_t offset, uint8_t *data,
			      uint32_t len, bool is_write);

/* Called after the guest moves BAR `bar` (address 0 = disabled by the
 * command register or not yet placed). Called with the bus lock held. */
typedef void (*pci_bar_moved_fn)(struct pci_device *dev, int bar, uint64_t old_addr,
				 uint64_t new_addr);

/* Called after the guest wrote `size` bytes at `offset` of the device's
 * configuration space (the new bytes are in place), without the bus lock:
 * it may call pci_device_conf_read. A device watches a register it must
 * act on (MSI-X message control: pending vectors go out when unmasked). */
typedef void (*pci_conf_written_fn)(struct pci_device *dev, unsigned int offset, int size);

struct pci_device {
	uint8_t config[PCI_CONF_SPACE];
	uint8_t wmask[PCI_CONF_SPACE];   /* 1 bits the guest may change */
	uint8_t w1cmask[PCI_CONF_SPACE]; /* 1 bits that are write-1-to-clear */
	uint64_t bar_size[PCI_NUM_BARS]; /* 0 = BAR not implemented */
	bool bar_is_io[PCI_NUM_BARS];
	bool bar_is_64[PCI_NUM_BARS];    /* takes this BAR and the next */
	pci_bar_moved_fn bar_moved;
	pci_bar_io_fn bar_io;            /* MMIO accesses routed by pci_mmio_io() */
	pci_conf_written_fn conf_written;/* optional, after a configuration write */
	void *opaque;                    /* the device model behind it */
	uint8_t slot;
	uint8_t cap_last;                /* offset of the last capability, 0 = none */
	uint16_t cap_free;               /* first free offset for the next one, 0 = 0x40 */
};

struct pci_bus {
	pthread_mutex_t lock;
	uint32_t conf_addr;              /* last value written to 0xCF8 */
	struct pci_device *slots[PCI_MAX_SLOTS];
	struct pci_device host_bridge;
};

/* The guest-visible state of the bus (pci_host_class, version
 * PCI_HOST_STATE_VERSION): the conf1 address latch and the configuration
 * space of every function (BAR placement, command register, capabilities
 * such as MSI-X control). Which slots are filled and every read-only bit
 * are the board's: a restore must find the same ones. A function's own
 * device state (a virtio transport) is saved by that device's class. */
struct pci_host_state {
	uint32_t conf_addr;
	uint32_t present;                /* bit s: slot s holds a function */
	uint8_t config[PCI_MAX_SLOTS][PCI_CONF_SPACE];
};

#define PCI_HOST_STATE_VERSION 1

/* The device class (src/vmm/device.h): dev is a struct pci_bus *. */
struct device_class;
extern const struct device_class pci_host_class;

/* Initialise the bus with its host bridge at slot 0. */
void pci_bus_init(struct pci_bus *bus);
void pci_bus_destroy(struct pci_bus *bus);

/* Fill a device's header: vendor, device, class (24-bit: base, sub, prog-if),
 * revision, subsystem IDs; sets sane masks for the command register. Zeroes
 * the whole struct first: set bar_moved, opaque and config[0x3d] (interrupt
 * pin) after it. */
void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		     uint16_t subsys_id);

/* Declare BAR `bar` of `size` bytes (a power of two >= 16, or >= 4 for I/O).
 * A 64-bit BAR uses bar and bar+1. -EINVAL on bad arguments. */
int pci_device_set_bar(struct pci_device *dev, int bar, uint64_t size, bool is_io,
		       bool is_64);

/* Current guest address of a BAR (0 when unplaced or decoding is off). */
uint64_t pci_device_bar_addr(const struct pci_device *dev, int bar);

/* Add a capability of `len` bytes (first byte: its ID; the next-pointer byte
 * is filled in) at the next free offset >= 0x40; returns its offset, or
 * -ENOSPC. Sets the capabilities-list status bit. */
int pci_device_add_cap(struct pci_device *dev, const uint8_t *cap, uint8_t len);

/* Put a device in a free slot (1..31), or `slot` when nonzero; returns the
 * slot or -EBUSY/-ENOSPC/-EINVAL. */
int pci_bus_add(struct pci_bus *bus, struct pci_device *dev, int slot);

/* Raw configuration access, as the guest makes it (size 1, 2 or 4; any
 * offset whose bytes all lie below 0x100, applied byte by byte through
 * wmask/w1cmask). Unknown bus/slot/function, another size or an offset past
 * the space reads as all-ones (of `size` bytes) and drops writes. */
uint32_t pci_conf_read(struct pci_bus *bus, uint8_t busno, uint8_t slot, uint8_t func,
		       uint16_t offset, int size);
void pci_conf_write(struct pci_bus *bus, uint8_t busno, uint8_t slot, uint8_t func,
		    uint16_t offset, int size, uint32_t value);

/* iobus handlers for 0xCF8 (4 bytes) and 0xCFC..0xCFF. Only a 4-byte access
 * at offset 0 reaches the address register (bits 1:0 read 0); anything else
 * there reads all-ones and is dropped. With the enable bit clear the data
 * port reads all-ones. Nothing here claims 0xCF9 (the PIIX/ICH reset control
 * register): a byte write there lands in the 0xCF8 region and is ignored. */
/* iobus handler for the whole 32-bit PCI MMIO window (PCI_MMIO_BASE,
 * PCI_MMIO_SIZE): finds the device whose enabled memory BAR holds the
 * address and hands it the access; all-ones / dropped otherwise. */
void pci_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Read a config-space value of a device under the bus lock (e.g. MSI-X
 * message control). */
uint32_t pci_device_conf_read(struct pci_bus *bus, const struct pci_device *dev, uint16_t offset,
			      int size);

void pci_conf_addr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void pci_conf_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* The board's PCI host: bus 0 (struct pci_bus), its configuration ports
 * and MMIO window. */
extern const struct device_class pci_host_class;

#endif
