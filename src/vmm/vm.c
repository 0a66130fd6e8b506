#include "vmm/vm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "vmm/evloop.h"
#include "vmm/log.h"
#include "vmm/thread.h"

#define VM_TSS_ADDR          0xfffbd000ULL
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ULL

static int vm_err(char *err, size_t errlen, const char *what)
{
	int e = errno;
	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

static int vm_set_memory(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region r = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->mem.low_size,
		.userspace_addr = (uintptr_t)vm->mem.host,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return vm_err(err, errlen, "KVM_SET_USER_MEMORY_REGION (low RAM)");
	if (vm->mem.size > vm->mem.low_size) {
		r.slot = 1;
		r.guest_phys_addr = GUEST_MEM_HIGH_START;
		r.memory_size = vm->mem.size - vm->mem.low_size;
		r.userspace_addr = (uintptr_t)(vm->mem.host + vm->mem.low_size);
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return vm_err(err, errlen, "KVM_SET_USER_MEMORY_REGION (high RAM)");
	}
	return 0;
}

static int vm_create_vcpus(struct vm *vm, char *err, size_t errlen)
{
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	if (max > 0 && vm->ncpus > (unsigned int)max) {
		snprintf(err, errlen, "--cpus %u is more than this host's KVM allows (%d)",
			 vm->ncpus, max);
		return -EINVAL;
	}
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return vm_err(err, errlen, "allocating vCPUs");
	for (unsigned int i = 0; i < vm->ncpus; i++)
		vm->vcpus[i].stats_fd = -1;  /* before any failure: vm_destroy closes it */
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		v->vm = vm;
		v->index = i;
		if (vm->nested_state_size > 0) {
			v->nested_buf = calloc(1, (size_t)vm->nested_state_size);
			if (!v->nested_buf)
				return vm_err(err, errlen, "allocating the nested state buffer");
		}
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
		if (v->fd < 0)
			return vm_err(err, errlen, "KVM_CREATE_VCPU");
		v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			return vm_err(err, errlen, "mmap of the vCPU run area");
		}
		vcpu_stats_open(v);
	}
	return 0;
}

/* The lock and condition variable of pause and vCPU requests; the condition
 * uses the monotonic clock for its timeouts. */
static int vm_ctl_init(struct vm *vm, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	int r;

	r = pthread_mutex_init(&vm->ctl_lock, NULL);
	if (r) {
		snprintf(err, errlen, "pthread_mutex_init: %s", strerror(r));
		return -r;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	r = pthread_cond_init(&vm->ctl_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (r) {
		pthread_mutex_destroy(&vm->ctl_lock);
		snprintf(err, errlen, "pthread_cond_init: %s", strerror(r));
		return -r;
	}
	vm->ctl_ready = true;
	return 0;
}

int vm_create(struct vm *vm, int kvm_fd, unsigned int ncpus, uint64_t mem_size, char *err,
	      size_t errlen)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t idmap = VM_IDENTITY_MAP_ADDR;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = kvm_fd;
	vm->vm_fd = -1;
	vm->ncpus = ncpus;
	iobus_init(&vm->pio);
	iobus_init(&vm->mmio);
	pthread_mutex_init(&vm->coalesced_lock, NULL);
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return vm_err(err, errlen, "eventfd");
	r = vm_ctl_init(vm, err, errlen);
	if (r)
		return r;
	vm->run_size = (size_t)ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return vm_err(err, errlen, "KVM_CREATE_VM");
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VM_TSS_ADDR) < 0)
		return vm_err(err, errlen, "KVM_SET_TSS_ADDR");
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return vm_err(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return vm_err(err, errlen, "KVM_CREATE_IRQCHIP");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return vm_err(err, errlen, "KVM_CREATE_PIT2");
	/* Pending exceptions reported with their payload (CR2, DR6) apart,
	 * so a vCPU's events can be saved and loaded exactly, also while it
	 * runs a nested guest (x86/cpu_state.h). */
	if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_EXCEPTION_PAYLOAD) > 0) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_EXCEPTION_PAYLOAD, .args = { 1 } };

		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			return vm_err(err, errlen, "KVM_ENABLE_CAP (KVM_CAP_EXCEPTION_PAYLOAD)");
		vm->exception_payload = true;
	}
	/* The largest nested state this KVM returns (0: none), to size each
	 * vCPU's KVM_GET_NESTED_STATE buffer once. */
	r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NESTED_STATE);
	vm->nested_state_size = r > (int)sizeof(struct kvm_nested_state) ? r : 0;
	r = guest_mem_alloc(&vm->mem, mem_size);
	if (r) {
		snprintf(err, errlen, "cannot allocate %llu MiB of guest RAM: %s",
			 (unsigned long long)(mem_size >> 20), strerror(-r));
		return r;
	}
	r = vm_set_memory(vm, err, errlen);
	if (r)
		return r;
	return vm_create_vcpus(vm, err, errlen);
}

int vm_coalesce_pio(struct vm *vm, uint16_t port, uint32_t len)
{
	struct kvm_coalesced_mmio_zone zone = { .addr = port, .size = len, .pio = 1 };
	long page = sysconf(_SC_PAGESIZE);
	int off;

	if (!vm->vcpus || !vm->vcpus[0].run)
		return -EINVAL;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) <= 0)
		return -ENOTSUP;
	/* The ring's page offset in every vCPU's mmap area. */
	off = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	if (off <= 0 || page <= 0 || (size_t)(off + 1) * (size_t)page > vm->run_size)
		return -ENOTSUP;
	if (ioctl(vm->vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) < 0)
		return -errno;
	vm->coalesced_ring = (struct kvm_coalesced_mmio_ring *)((uint8_t *)vm->vcpus[0].run +
								   (size_t)off * (size_t)page);
	return 0;
}

void vm_coalesced_drain(struct vm *vm)
{
	struct kvm_coalesced_mmio_ring *ring = vm->coalesced_ring;
	uint32_t max;

	if (!ring || __atomic_load_n(&ring->first, __ATOMIC_ACQUIRE) ==
			     __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
		return;
	max = (uint32_t)((sysconf(_SC_PAGESIZE) - sizeof(*ring)) / sizeof(struct kvm_coalesced_mmio));
	pthread_mutex_lock(&vm->coalesced_lock);
	for (uint32_t first = ring->first; first != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
	     first = (first + 1) % max) {
		struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[first % max];
		uint8_t data[8];
		uint32_t len = e->len <= sizeof(data) ? e->len : sizeof(data);

		memcpy(data, e->data, len);
		if (e->pio)
			iobus_dispatch(&vm->pio, e->phys_addr, data, len, true);
		else
			iobus_dispatch(&vm->mmio, e->phys_addr, data, len, true);
		vm->coalesced_writes++;
		/* Hand the slot back only once it has been used. */
		__atomic_store_n(&ring->first, (first + 1) % max, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vm->coalesced_lock);
}

void vm_destroy(struct vm *vm)
{
	for (unsigned int i = 0; vm->vcpus && i < vm->ncpus; i++) {
		if (vm->vcpus[i].run)
			munmap(vm->vcpus[i].run, vm->run_size);
		if (vm->vcpus[i].fd > 0)
			close(vm->vcpus[i].fd);
		if (vm->vcpus[i].stats_fd >= 0)
			close(vm->vcpus[i].stats_fd);
		free(vm->vcpus[i].nested_buf);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	guest_mem_free(&vm->mem);
	iobus_destroy(&vm->pio);
	iobus_destroy(&vm->mmio);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	vm->vm_fd = vm->kvm_fd = vm->stop_efd = -1;
	if (vm->ctl_ready) {
		pthread_cond_destroy(&vm->ctl_cond);
		pthread_mutex_destroy(&vm->ctl_lock);
		vm->ctl_ready = false;
	}
	vm->coalesced_ring = NULL;
}

void vm_irq_line(void *opaque, unsigned int irq, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		vm_fail(vm, VM_STOP_ERROR, "KVM_IRQ_LINE %u: %s", irq, strerror(errno));
}

void vm_request_stop(void *opaque, enum vm_stop_reason reason)
{
	struct vm *vm = opaque;
	int expected = VM_STOP_NONE;

	if (atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)reason))
		evloop_signal_fd(vm->stop_efd);
}

void vm_fail(struct vm *vm, enum vm_stop_reason reason, const char *fmt, ...)
{
	int expected = VM_STOP_NONE;
	va_list ap;

	/* Claim the stop first so only the winning thread writes the detail. */
	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)VM_STOP_ERROR))
		return;
	va_start(ap, fmt);
	vsnprintf(vm->stop_detail, sizeof(vm->stop_detail), fmt, ap);
	va_end(ap);
	atomic_store(&vm->stop_reason, (int)reason);
	evloop_signal_fd(vm->stop_efd);
}

void vm_set_control(struct vm *vm, int fd, void (*fn)(void *opaque), void *opaque)
{
	vm->ctl_fd = fn ? fd : -1;
	vm->ctl_fn = fn;
	vm->ctl_opaque = opaque;
}

/* Wait for a stop request or a terminating signal; serve the control fd. */
static void vm_wait_for_stop(struct vm *vm, int sig_fd)
{
	struct pollfd pfd[3] = {
		{ .fd = vm->stop_efd, .events = POLLIN },
		{ .fd = sig_fd, .events = POLLIN },
		{ .fd = vm->ctl_fn ? vm->ctl_fd : -1, .events = POLLIN },
	};

	while (!vm_stopping(vm)) {
		pfd[2].revents = 0;
		if (poll(pfd, 3, -1) < 0 && errno != EINTR) {
			vm_fail(vm, VM_STOP_ERROR, "poll: %s", strerror(errno));
			break;
		}
		if (sig_fd >= 0 && (pfd[1].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
				vm->stop_signal = (int)si.ssi_signo;
				vm_request_stop(vm, VM_STOP_SIGNAL);
			}
		}
		if (pfd[2].revents & POLLIN && !vm_stopping(vm))
			vm->ctl_fn(vm->ctl_opaque);
	}
}

static void vm_term_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
}

void vm_block_term_signals(void)
{
	sigset_t term;

	vm_term_signals(&term);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
}

enum vm_stop_reason vm_run(struct vm *vm)
{
	sigset_t term;
	int sig_fd, r;

	/* Terminating signals are read from a signalfd by this thread; every
	 * thread created below inherits the blocked mask. */
	vm_block_term_signals();
	vm_term_signals(&term);
	sig_fd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vcpu_signals_init() < 0)
		vm_fail(vm, VM_STOP_ERROR, "cannot install the vCPU kick signal handler");

	for (unsigned int i = 0; i < vm->ncpus && !vm_stopping(vm); i++) {
		r = vmm_thread_create(&vm->vcpus[i].thread, vcpu_thread, &vm->vcpus[i]);
		if (r) {
			vm_fail(vm, VM_STOP_ERROR, "cannot start vCPU thread %u: %s", i, strerror(r));
			break;
		}
		vm->vcpus[i].started = true;
	}
	vm_wait_for_stop(vm, sig_fd);
	/* Under ctl_lock, so that a parked vCPU (or a vm_pause/vm_nested_status
	 * waiter) cannot miss the stop between checking it and sleeping. */
	pthread_mutex_lock(&vm->ctl_lock);
	pthread_cond_broadcast(&vm->ctl_cond);
	for (unsigned int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].started)
			vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->ctl_lock);
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].started)
			pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].started = false;
	}
	if (sig_fd >= 0)
		close(sig_fd);
	return (enum vm_stop_reason)atomic_load(&vm->stop_reason);
}
