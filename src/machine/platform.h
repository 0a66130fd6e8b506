/* The PC board nestvm emulates: COM1, an i8042 (for resets), ACPI fixed
 * hardware, PCI configuration space; the in-kernel irqchip and PIT come
 * from KVM. platform_boot() loads the kernel and sets up every vCPU. */
#ifndef NESTVM_MACHINE_PLATFORM_H
#define NESTVM_MACHINE_PLATFORM_H

#include <stddef.h>

#include "config/vmconfig.h"
#include "hw/acpi_pm.h"
#include "hw/pci.h"
#include "hw/serial.h"
#include "nested/level.h"
#include "vmm/device.h"
#include "vmm/evloop.h"
#include "vmm/irq.h"
#include "vmm/vm.h"
#include "x86/boot.h"

/* Board devices plus at most VMCFG_MAX_DEVICES configured ones. */
#define PLATFORM_MAX_DEVICES (VMCFG_MAX_DEVICES + 8)

/* One device of the board: its class and its own object. */
struct platform_device {
	const struct device_class *cls;
	void *dev;
};

struct platform {
	struct irq_router irq;
	struct evloop loop;          /* the I/O thread for virtio devices */
	/* Every device, in creation order (the device table's): board devices,
	 * then the configured ones. Later code (save, restore, quiesce) walks
	 * it: n_devices entries of devices[]. */
	unsigned int n_devices;
	struct platform_device devices[PLATFORM_MAX_DEVICES];
	bool initialised;
};

/* Create the board's devices, then the configured ones of `cfg`, in table
 * order, and put them on vm's buses. Guest serial output goes to
 * out_fn(out_opaque, ...). */
int platform_init(struct platform *p, struct vm *vm, const struct vm_config *cfg,
		  serial_out_fn out_fn, void *out_opaque, char *err, size_t errlen);
/* Start / stop the I/O thread (around vm_run). */
int platform_start(struct platform *p);
void platform_destroy(struct platform *p);

/* Device i's place among the devices of its class (0, 1, ...): the index
 * of its state in a snapshot. */
unsigned int platform_class_index(const struct platform *p, unsigned int i);

/* The object of the first device of a class (NULL: none): the console
 * attaches to platform_device_of(p, &serial_class). */
void *platform_device_of(const struct platform *p, const struct device_class *cls);

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

/* The CPUID table vCPUs get on this host for the nested plan `g` (before
 * the per-vCPU topology): what a restore compares a snapshot's CPU with.
 * malloc()ed; NULL with a message when KVM cannot give what g asks. */
struct kvm_cpuid2 *platform_guest_cpuid(struct vm *vm, const struct nest_guest *g, char *err,
					size_t errlen);

#endif
