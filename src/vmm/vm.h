/* A virtual machine: KVM VM and vCPU file descriptors, guest memory, the
 * I/O buses and the stop protocol.
 *
 * Threads: the main thread sets everything up, starts one thread per vCPU,
 * then waits for a stop request (from a device, a vCPU exit, the console or
 * a signal). It then kicks every vCPU out of KVM_RUN, joins them and tears
 * the VM down. See docs/design.md.
 */
#ifndef NESTVM_VMM_VM_H
#define NESTVM_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "hw/hw.h"
#include "vmm/guest_mem.h"
#include "vmm/iobus.h"

struct vcpu_stats {
	uint64_t exits;       /* exits to userspace, all reasons */
	uint64_t exits_io;
	uint64_t exits_mmio;
	uint64_t exits_other;
};

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	struct vcpu_stats stats;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	struct guest_mem mem;
	struct iobus pio;
	struct iobus mmio;
	unsigned int ncpus;
	struct vcpu *vcpus;
	atomic_int stop_reason;  /* enum vm_stop_reason; NONE while running */
	int stop_signal;         /* for VM_STOP_SIGNAL */
	int stop_efd;            /* eventfd the main thread waits on */
	char stop_detail[512];   /* what happened, for VM_STOP_ERROR / TRIPLE_FAULT */
	/* Coalesced port writes (vm_coalesce_pio): KVM queues them in this
	 * ring, shared by all vCPUs, instead of exiting; NULL when unused. */
	struct kvm_coalesced_mmio_ring *coalesced_ring;
	pthread_mutex_t coalesced_lock;
	uint64_t coalesced_writes;  /* writes replayed from the ring */
};

/* Create the KVM VM: in-kernel irqchip and PIT, guest memory, `ncpus`
 * vCPUs. `kvm_fd` is taken over. Returns 0 or -errno with err set. */
int vm_create(struct vm *vm, int kvm_fd, unsigned int ncpus, uint64_t mem_size, char *err,
	      size_t errlen);
void vm_destroy(struct vm *vm);

/* Let KVM queue the guest's writes to ports [port, port+len) instead of
 * exiting to nestvm for each: they are replayed on the port bus, in order,
 * before the next exit of any vCPU is handled (vm_coalesced_drain). Only for
 * a register whose writes have no effect until a later access that exits
 * anyway (a read, or a write elsewhere), such as the PCI configuration
 * address at 0xCF8. Reads of those ports still exit. 0, or -errno (e.g.
 * -ENOTSUP when KVM lacks KVM_CAP_COALESCED_PIO: the writes then exit as
 * before). Call after vm_create, before the vCPUs run. */
int vm_coalesce_pio(struct vm *vm, uint16_t port, uint32_t len);

/* Replay the queued writes (every vCPU thread, before handling an exit). */
void vm_coalesced_drain(struct vm *vm);

/* Drive a GSI (irq_line_fn for devices; opaque is the struct vm). */
void vm_irq_line(void *opaque, unsigned int irq, int level);

/* Ask the VM to stop (vm_stop_fn; opaque is the struct vm). */
void vm_request_stop(void *opaque, enum vm_stop_reason reason);

/* Same, recording what went wrong. */
void vm_fail(struct vm *vm, enum vm_stop_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline bool vm_stopping(struct vm *vm)
{
	return atomic_load(&vm->stop_reason) != VM_STOP_NONE;
}

/* Block the terminating signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) in the
 * calling thread, so every thread it creates inherits the mask and vm_run()
 * reads them from a signalfd. Call before starting any thread. */
void vm_block_term_signals(void);

/* Start the vCPU threads, wait for a stop request or a terminating signal,
 * stop and join the vCPUs. Returns the stop reason. */
enum vm_stop_reason vm_run(struct vm *vm);

/* vCPU thread body (vcpu.c). */
void *vcpu_thread(void *arg);
/* Make a vCPU leave KVM_RUN (vcpu.c). */
void vcpu_kick(struct vcpu *v);
/* Install the no-op handler of the kick signal (vcpu.c). */
int vcpu_signals_init(void);

#endif
