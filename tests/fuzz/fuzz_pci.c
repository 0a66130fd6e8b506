/* Fuzz target: PCI configuration mechanism #1 (src/hw/pci.c) on guest port
 * accesses to 0xCF8 and 0xCFC-0xCFF, with the host bridge and a function
 * with a 32-bit and a 64-bit memory BAR, an I/O BAR and a capability (BAR
 * sizing, masks, write-1-to-clear bits), and accesses to the MMIO window. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "hw/pci.h"

static void bar_io(struct pci_device *dev, int bar, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	if (bar < 0 || bar >= PCI_NUM_BARS || offset >= dev->bar_size[bar] || len > 8)
		abort();
	if (!is_write)
		for (uint32_t i = 0; i < len; i++)
			data[i] = (uint8_t)(offset + i);
}

static void bar_moved(struct pci_device *dev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	(void)dev;
	(void)old_addr;
	(void)new_addr;
	if (bar < 0 || bar >= PCI_NUM_BARS)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t cap[16] = { 0x11 };   /* an MSI-X-shaped capability */
	struct pci_bus bus;
	struct pci_device dev;
	struct fuzz_access a;

	pci_bus_init(&bus);
	pci_device_init(&dev, 0x1af4, 0x1042, 0x010000, 1, 0x1af4, 2);
	dev.bar_io = bar_io;
	dev.bar_moved = bar_moved;
	if (pci_device_set_bar(&dev, 0, 0x8000, false, true) || pci_device_set_bar(&dev, 2, 0x1000, false, false) ||
	    pci_device_set_bar(&dev, 3, 0x20, true, false) || pci_device_add_cap(&dev, cap, sizeof(cap)) < 0 ||
	    pci_bus_add(&bus, &dev, 0) < 0)
		abort();
	while (fuzz_next_access(&data, &size, &a)) {
		switch (a.offset >> 14) {
		case 0:
			pci_conf_addr_io(&bus, a.offset & 3, a.data, a.len > 4 ? 4 : a.len, a.is_write);
			break;
		case 1:
			pci_conf_data_io(&bus, a.offset & 3, a.data, a.len > 4 ? 4 : a.len, a.is_write);
			break;
		default: {
			/* a config write aimed at our device, then an MMIO access */
			uint32_t addr = 0x80000000u | (1u << 11) | ((a.offset & 0xfc));
			uint8_t av[4] = { (uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16),
					  (uint8_t)(addr >> 24) };
			pci_conf_addr_io(&bus, 0, av, 4, true);
			pci_conf_data_io(&bus, a.offset & 3, a.data, a.len > 4 ? 4 : a.len, a.is_write);
			pci_mmio_io(&bus, ((uint64_t)a.data[0] << 16 | a.offset) % PCI_MMIO_SIZE, a.data,
				    a.len, a.is_write);
			break;
		}
		}
	}
	pci_bus_destroy(&bus);
	return 0;
}
