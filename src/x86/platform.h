/* The PC board nestvm emulates: COM1, an i8042 (for resets), ACPI fixed
 * hardware, PCI configuration space; the in-kernel irqchip and PIT come
 * from KVM. platform_boot() loads the kernel and sets up every vCPU. */
#ifndef NESTVM_X86_PLATFORM_H
#define NESTVM_X86_PLATFORM_H

#include <stddef.h>

#include "hw/acpi_pm.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "hw/serial.h"
#include "nested/level.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "vmm/evloop.h"
#include "vmm/irq.h"
#include "vmm/vm.h"
#include "x86/boot.h"

/* Optional devices. */
struct platform_config {
	bool rng;            /* virtio-rng */
	unsigned int n_disks;
	const struct blk_config *disks;
	unsigned int n_nics;
	const struct net_config *nics;
};

#define PLATFORM_MAX_DISKS 8
#define PLATFORM_MAX_NICS  4

struct platform {
	struct serial8250 serial;
	struct i8042 i8042;
	struct acpi_pm acpi_pm;
	struct pci_bus pci;
	struct irq_router irq;
	struct evloop loop;          /* the I/O thread for virtio devices */
	struct virtio_rng *rng;
	struct virtio_blk *disks[PLATFORM_MAX_DISKS];
	struct virtio_net *nics[PLATFORM_MAX_NICS];
	bool initialised;
};

/* Create the devices and put them on vm's buses. Guest serial output goes
 * to out_fn(out_opaque, ...). */
int platform_init(struct platform *p, struct vm *vm, const struct platform_config *cfg,
		  serial_out_fn out_fn, void *out_opaque, char *err, size_t errlen);
/* Start / stop the I/O thread (around vm_run). */
int platform_start(struct platform *p);
void platform_destroy(struct platform *p);

/* Press the ACPI power button (any thread, while the VM exists): a guest
 * with a button driver (Linux: button.ko, then acpid or logind) shuts down
 * cleanly; one without ignores it. platform_power_button_fn takes the struct
 * platform as a void * (console_set_power_fn, API callbacks). */
void platform_power_button(struct platform *p);
void platform_power_button_fn(void *opaque);

/* Write the ACPI tables, load kernel/initrd/command line (req->rsdp_addr is
 * filled in here), configure every vCPU (CPUID from the nested plan `g`) and
 * point the first at the kernel. -ENOTSUP when `g` asks for extensions the
 * host cannot give. */
int platform_boot(struct vm *vm, struct boot_request *req, const struct nest_guest *g, char *err,
		  size_t errlen);

#endif
