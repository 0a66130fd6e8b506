/* The vCPU thread: KVM_RUN and one switch over the exit reason. */
#include "vmm/vm.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/log.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void vcpu_kick_handler(int sig)
{
	(void)sig; /* only here to make KVM_RUN return -EINTR */
}

int vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;  /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

void vcpu_kick(struct vcpu *v)
{
	/* immediate_exit covers a vCPU that is about to enter KVM_RUN; the
	 * signal one that is inside it. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	v->stats.exits_io++;
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (!iobus_dispatch(&v->vm->pio, run->io.port, data, run->io.size, is_write)) {
			if (!is_write)
				memset(data, 0xff, run->io.size);
			log_debug("vCPU %u: unclaimed port %s 0x%x size %u", v->index,
				  is_write ? "write" : "read", run->io.port, run->io.size);
		}
	}
}

static void vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	v->stats.exits_mmio++;
	if (!iobus_dispatch(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			    run->mmio.is_write)) {
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		log_debug("vCPU %u: unclaimed MMIO %s 0x%llx len %u", v->index,
			  run->mmio.is_write ? "write" : "read",
			  (unsigned long long)run->mmio.phys_addr, run->mmio.len);
	}
}

static void vcpu_handle_shutdown(struct vcpu *v)
{
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
		vm_fail(v->vm, VM_STOP_TRIPLE_FAULT,
			"the guest crashed: triple fault on vCPU %u (rip 0x%llx)", v->index,
			(unsigned long long)regs.rip);
	else
		vm_fail(v->vm, VM_STOP_TRIPLE_FAULT, "the guest crashed: triple fault on vCPU %u",
			v->index);
}

static void vcpu_handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(v->vm, VM_STOP_POWEROFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(v->vm, VM_STOP_REBOOT);
		break;
	default:
		vm_fail(v->vm, VM_STOP_ERROR, "vCPU %u: KVM system event %u", v->index,
			v->run->system_event.type);
		break;
	}
}

/* The one place that knows every exit reason. */
static void vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	/* Writes KVM queued (vm_coalesce_pio) happened before this exit. */
	vm_coalesced_drain(v->vm);
	v->stats.exits++;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(v);
		break;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(v);
		break;
	case KVM_EXIT_SHUTDOWN:
		vcpu_handle_shutdown(v);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		v->stats.exits_other++;
		vcpu_handle_system_event(v);
		break;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		v->stats.exits_other++;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vm_fail(v->vm, VM_STOP_ERROR, "vCPU %u: KVM could not enter the guest "
			"(hardware entry failure reason 0x%llx)", v->index,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vm_fail(v->vm, VM_STOP_ERROR, "vCPU %u: KVM internal error (suberror %u)",
			v->index, run->internal.suberror);
		break;
	default:
		vm_fail(v->vm, VM_STOP_ERROR, "vCPU %u: unexpected KVM exit reason %u", v->index,
			run->exit_reason);
		break;
	}
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	while (!vm_stopping(v->vm)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vm_fail(v->vm, VM_STOP_ERROR, "vCPU %u: KVM_RUN failed: %s", v->index,
				strerror(errno));
			break;
		}
		vcpu_handle_exit(v);
	}
	return NULL;
}
