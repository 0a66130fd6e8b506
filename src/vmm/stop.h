/* Why a VM stops, and the two callbacks devices get from the VMM without
 * depending on it: drive an interrupt line, ask the VM to stop. Devices
 * (hw/, virtio/) see these through hw/hw.h. */
#ifndef NESTVM_VMM_STOP_H
#define NESTVM_VMM_STOP_H

enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_POWEROFF,     /* guest powered off (ACPI S5) */
	VM_STOP_REBOOT,       /* guest asked for a reset (i8042, ACPI reset register) */
	VM_STOP_USER_QUIT,    /* the escape key on the console */
	VM_STOP_SIGNAL,       /* SIGINT/SIGTERM/SIGHUP to the VMM */
	VM_STOP_TRIPLE_FAULT, /* KVM_EXIT_SHUTDOWN */
	VM_STOP_ERROR,        /* KVM failure or internal error */
};

/* Set interrupt line `irq` (a GSI) to `level` (0 or 1). */
typedef void (*irq_line_fn)(void *opaque, unsigned int irq, int level);

/* Ask the VM to stop. Safe from any thread, any number of times; the first
 * reason wins. */
typedef void (*vm_stop_fn)(void *opaque, enum vm_stop_reason reason);

#endif
