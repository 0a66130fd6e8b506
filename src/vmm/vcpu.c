/* The vCPU thread: KVM_RUN and one switch over the exit reason; between
 * two KVM_RUNs, the requests of other threads (park while paused, run a
 * function posted by vm_vcpu_call_all): see docs/design.md, "Pause and requests". */
#include "vmm/vm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/kvm_stats.h"
#include "vmm/log.h"

#define VCPU_EFER_SVME (1ull << 12)

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

void vcpu_stats_open(struct vcpu *v)
{
	static const char *const names[] = { "nested_run", "guest_mode" };
	uint64_t pos[2];
	int r;

	v->stat_nested_run = v->stat_guest_mode = KVM_STATS_NONE;
	v->stats_fd = ioctl(v->fd, KVM_GET_STATS_FD, NULL);
	if (v->stats_fd < 0) {
		log_debug("vCPU %u: no binary statistics (KVM_GET_STATS_FD: %s)", v->index,
			  strerror(errno));
		v->stats_fd = -1;
		return;
	}
	r = kvm_stats_locate(v->stats_fd, names, pos, 2);
	if (r)
		log_debug("vCPU %u: unreadable KVM statistics: %s", v->index, strerror(-r));
	v->stat_nested_run = pos[0];
	v->stat_guest_mode = pos[1];
}

/* Read the vCPU's nested state with its own thread (the ioctls take the
 * vCPU mutex that KVM_RUN holds); a vcpu_call_fn, run without ctl_lock.
 * The answer goes to ((struct vcpu_nested_status *)opaque)[v->index]. */
int vcpu_sample_nested(struct vcpu *v, void *opaque, char *err, size_t errlen)
{
	struct vcpu_nested_status *st = (struct vcpu_nested_status *)opaque + v->index;
	struct kvm_nested_state *ns = v->nested_buf;
	struct kvm_sregs sregs;

	memset(st, 0, sizeof(*st));
	st->nested_runs = UINT64_MAX;
	st->guest_mode_stat = -1;
	st->nested_state_supported = v->vm->nested_state_size > 0;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
		return -EIO;
	}
	st->efer = sregs.efer;
	/* Without nested state (or on SVM) EFER.SVME is the answer; an Intel
	 * guest never sets it. */
	st->virt_enabled = (sregs.efer & VCPU_EFER_SVME) != 0;
	if (ns) {
		memset(ns, 0, sizeof(*ns));
		ns->size = (uint32_t)v->vm->nested_state_size;
		if (ioctl(v->fd, KVM_GET_NESTED_STATE, ns) < 0) {
			snprintf(err, errlen, "KVM_GET_NESTED_STATE: %s", strerror(errno));
			return -EIO;
		}
		st->format = ns->format;
		st->guest_mode = (ns->flags & KVM_STATE_NESTED_GUEST_MODE) != 0;
		if (ns->format == KVM_STATE_NESTED_FORMAT_VMX)
			st->virt_enabled = ns->hdr.vmx.vmxon_pa != -1ull;
		/* In guest mode the registers are the nested guest's (its EFER
		 * need not have SVME); our guest did VMRUN/VMLAUNCH, so it has
		 * virtualization on. */
		if (st->guest_mode)
			st->virt_enabled = true;
	}
	st->sampled = true;
	return 0;
}

/* Run the call posted for this vCPU; ctl_lock held, dropped around the
 * function so other threads are not held up by its ioctls. */
static void vcpu_answer_call(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct vcpu_call *c = v->call;
	int rc;

	c->state = VCPU_CALL_RUNNING;
	c->err[0] = '\0';
	pthread_mutex_unlock(&vm->ctl_lock);
	rc = c->fn(v, c->opaque, c->err, sizeof(c->err));
	pthread_mutex_lock(&vm->ctl_lock);
	c->rc = rc;
	c->state = VCPU_CALL_DONE;
	v->call = NULL;
	pthread_cond_broadcast(&vm->ctl_cond);
}

/* Between two KVM_RUNs: answer requests, and park while the VM is paused
 * (answering requests while parked too), until resumed or stopping. */
static void vcpu_service(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->ctl_lock);
	for (;;) {
		if (v->call && v->call->state == VCPU_CALL_POSTED) {
			vcpu_answer_call(v);
			continue;
		}
		if (!vm->paused || vm_stopping(vm))
			break;
		if (!v->parked) {
			v->parked = true;
			vm->nparked++;
			pthread_cond_broadcast(&vm->ctl_cond);
		}
		pthread_cond_wait(&vm->ctl_cond, &vm->ctl_lock);
	}
	if (v->parked) {
		v->parked = false;
		vm->nparked--;
	}
	/* Every request posted so far is answered. A later one is posted
	 * under this lock and kicks after this store, so the next KVM_RUN
	 * returns at once for it. The stop kick needs no lock: the loop reads
	 * the stop flag after this store. */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->ctl_lock);
}

/* Tell requesters whether this thread can be kicked and will answer. */
static void vcpu_set_running(struct vcpu *v, bool running)
{
	pthread_mutex_lock(&v->vm->ctl_lock);
	v->running = running;
	if (!running)
		v->exited = true;
	pthread_cond_broadcast(&v->vm->ctl_cond);
	pthread_mutex_unlock(&v->vm->ctl_lock);
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	vcpu_set_running(v, true);
	for (;;) {
		vcpu_service(v);
		if (vm_stopping(v->vm))
			break;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vm_fail(v->vm, VM_STOP_ERROR, "vCPU %u: KVM_RUN failed: %s", v->index,
				strerror(errno));
			break;
		}
		vcpu_handle_exit(v);
	}
	vcpu_set_running(v, false);
	return NULL;
}
