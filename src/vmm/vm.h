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
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "vmm/stop.h"
#include "vmm/guest_mem.h"
#include "vmm/iobus.h"

struct vcpu_stats {
	uint64_t exits;       /* exits to userspace, all reasons */
	uint64_t exits_io;
	uint64_t exits_mmio;
	uint64_t exits_other;
};

/* A vCPU's nested-virtualization state, sampled live (vm_nested_status). */
struct vcpu_nested_status {
	bool sampled;           /* false: this vCPU could not be sampled (error in detail) */
	uint64_t efer;          /* from KVM_GET_SREGS: in guest mode, the nested guest's EFER */
	bool virt_enabled;      /* AMD: EFER.SVME (bit 12); Intel: VMXON done (nested state's vmx.vmxon_pa != -1ull); always in guest mode */
	bool guest_mode;        /* KVM_STATE_NESTED_GUEST_MODE: it was running a nested guest when sampled */
	bool nested_state_supported; /* KVM_CAP_NESTED_STATE > 0 */
	uint16_t format;        /* KVM_STATE_NESTED_FORMAT_SVM / _VMX */
	uint64_t nested_runs;   /* KVM's per-vCPU "nested_run" statistic (binary stats, KVM_GET_STATS_FD on the vCPU fd, Linux 5.14+); UINT64_MAX when unavailable */
	int guest_mode_stat;    /* KVM's "guest_mode" statistic, read after the sample: 1 or 0; -1 when unavailable */
};

struct vcpu;

/* A function a vCPU's own thread runs for another thread (vm_vcpu_call_all):
 * 0, or -errno with a message in err. It runs outside KVM_RUN and without
 * ctl_lock, so it may issue any vCPU ioctl; it must not wait for other
 * vCPUs. */
typedef int (*vcpu_call_fn)(struct vcpu *v, void *opaque, char *err, size_t errlen);

enum vcpu_call_state {
	VCPU_CALL_POSTED = 1,   /* waiting for the vCPU thread */
	VCPU_CALL_RUNNING,      /* the vCPU thread runs it */
	VCPU_CALL_DONE,         /* it ran: rc, err */
	VCPU_CALL_WITHDRAWN,    /* never ran: the vCPU did not take it in time, or its thread ended */
};

/* One posted call (the requester's memory; under ctl_lock). */
struct vcpu_call {
	vcpu_call_fn fn;
	void *opaque;
	enum vcpu_call_state state;
	int rc;
	char err[256];
};

/* What vm_vcpu_call_all reports per vCPU. */
struct vcpu_call_result {
	bool answered;          /* fn ran on the vCPU's thread */
	int rc;                 /* its return value (-ETIMEDOUT when not answered) */
	char err[256];          /* its message, or why it did not run */
};

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	struct vcpu_stats stats;
	int stats_fd;              /* KVM_GET_STATS_FD, -1 when the kernel has none */
	uint64_t stat_nested_run;  /* its positions in stats_fd, KVM_STATS_NONE if absent */
	uint64_t stat_guest_mode;
	void *nested_buf;          /* KVM_GET_NESTED_STATE buffer, vm->nested_state_size bytes */
	/* Under vm->ctl_lock: */
	bool running;              /* its thread is in its loop: it can be kicked */
	bool exited;               /* its thread left its loop: it answers nothing more */
	bool parked;               /* counted in vm->nparked */
	struct vcpu_call *call;    /* posted for this vCPU, NULL when none */
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
	int nested_state_size;   /* KVM_CAP_NESTED_STATE: the largest state; 0 none */
	/* Pause and vCPU requests (docs/design.md, "Pause and requests"). */
	pthread_mutex_t ctl_lock;
	pthread_cond_t ctl_cond; /* CLOCK_MONOTONIC; broadcast on every change */
	bool ctl_ready;          /* lock and cond initialised */
	bool paused;             /* under ctl_lock */
	unsigned int nparked;    /* under ctl_lock: vCPUs parked */
	bool call_busy;          /* under ctl_lock: a vm_vcpu_call_all is in flight */
	bool exception_payload;  /* KVM_CAP_EXCEPTION_PAYLOAD enabled at creation */
	/* Coalesced port writes (vm_coalesce_pio): KVM queues them in this
	 * ring, shared by all vCPUs, instead of exiting; NULL when unused. */
	struct kvm_coalesced_mmio_ring *coalesced_ring;
	pthread_mutex_t coalesced_lock;
	uint64_t coalesced_writes;  /* writes replayed from the ring */
	/* The control plane's work on the main thread (vm_set_control). */
	int ctl_fd;
	void (*ctl_fn)(void *opaque);
	void *ctl_opaque;
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

/* Pause: every vCPU leaves KVM_RUN and parks; returns once all are parked
 * (a vCPU whose thread has not started yet parks as it starts). 0;
 * -EALREADY when already paused; -ECANCELED when the VM is stopping;
 * -ETIMEDOUT when not every vCPU parked within VM_PAUSE_TIMEOUT_MS (the pause
 * is then undone); -EDEADLK from a vCPU thread. Any thread but a vCPU's.
 * The guest's clock is not stopped: it sees the paused time pass. */
#define VM_PAUSE_TIMEOUT_MS 5000
int vm_pause(struct vm *vm);
/* Let parked vCPUs run again. 0; -EALREADY when not paused. */
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);

/* Run fn(v, opaque, ...) on every vCPU's own thread, in parallel: each is
 * kicked out of KVM_RUN for it, or runs it from its parking place (paused),
 * or as its thread starts. Waits for all of them, at most timeout_ms for a
 * vCPU to take its call (a call a vCPU has taken is waited for to its end:
 * it is off KVM_RUN, in ioctls); a call not taken in time is withdrawn, so
 * fn never runs after this returns. One call at a time per VM: a second
 * requester waits for the first (within timeout_ms, else -EBUSY). res (NULL,
 * or vm->ncpus entries) gets each vCPU's answer. 0 when every vCPU ran fn
 * and it returned 0; else the first failure (-ETIMEDOUT for a vCPU that did
 * not answer, fn's -errno), err naming the vCPU; -ECANCELED when the VM
 * stopped first; -EDEADLK from a vCPU thread. Any thread but a vCPU's. */
int vm_vcpu_call_all(struct vm *vm, vcpu_call_fn fn, void *opaque, unsigned int timeout_ms,
		     struct vcpu_call_result *res, char *err, size_t errlen);

/* Sample every vCPU's nested state: each vCPU's own thread answers (the
 * ioctls take the vCPU mutex, which KVM_RUN holds), through
 * vm_vcpu_call_all. A vCPU that does not answer within
 * VM_SAMPLE_TIMEOUT_MS, or whose ioctls fail, is reported with sampled =
 * false. out has vm->ncpus entries. 0 when every vCPU was sampled;
 * -ETIMEDOUT or -EIO when some were not (out still filled, err names the
 * first); -ECANCELED when the VM is stopping. Any thread but a vCPU's. */
#define VM_SAMPLE_TIMEOUT_MS 2000
int vm_nested_status(struct vm *vm, struct vcpu_nested_status *out, char *err, size_t errlen);

/* Only KVM's "nested_run" counter of every vCPU (out: ncpus entries,
 * UINT64_MAX where unavailable): no kick, cheap, any thread. Sample twice to
 * tell how many VMRUN/VMLAUNCHes the guest's own guests made in between.
 * 0; -ENOTSUP when no vCPU has the statistic. */
int vm_nested_runs(struct vm *vm, uint64_t *out);

/* Block the terminating signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) in the
 * calling thread, so every thread it creates inherits the mask and vm_run()
 * reads them from a signalfd. Call before starting any thread. */
void vm_block_term_signals(void);

/* Let the thread that runs vm_run() do other work while it waits: when
 * `fd` is readable, vm_run calls fn(opaque) on that thread (fn must make
 * fd unreadable again, e.g. read its eventfd). The VM process hands its API
 * actions to the main thread this way (src/control/). Set before vm_run;
 * fn NULL: none. */
void vm_set_control(struct vm *vm, int fd, void (*fn)(void *opaque), void *opaque);

/* Start the vCPU threads, wait for a stop request or a terminating signal
 * (serving the control fd meanwhile), stop and join the vCPUs. Returns the
 * stop reason. */
enum vm_stop_reason vm_run(struct vm *vm);

/* vCPU thread body (vcpu.c). */
void *vcpu_thread(void *arg);
/* Make a vCPU leave KVM_RUN (vcpu.c). */
void vcpu_kick(struct vcpu *v);
/* Open the vCPU's stats fd and find its counters (vcpu.c); never fails:
 * what is missing reads as unavailable. */
void vcpu_stats_open(struct vcpu *v);
/* vcpu_call_fn sampling v's nested status into ((struct
 * vcpu_nested_status *)opaque)[v->index] (vcpu.c). */
int vcpu_sample_nested(struct vcpu *v, void *opaque, char *err, size_t errlen);
/* Install the no-op handler of the kick signal (vcpu.c). */
int vcpu_signals_init(void);

#endif
