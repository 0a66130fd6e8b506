/* The runner: one VM from run options to its end (see runner.h). */
#include "machine/runner.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "machine/exit_status.h"
#include "machine/load.h"
#include "machine/migrate.h"
#include "machine/snapshot.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "x86/cpu.h"

#define KERNEL_MAX_BYTES (256ULL << 20)

/* Where the guest will stand: its level, and whether it gets VMX/SVM. */
static void run_plan_nesting(struct runner *c)
{
	char here[8], guest[8];

	nest_level_detect(&c->here, nest_cpuid_native);
	nest_guest_plan(&c->here, c->cfg.max_depth, c->cfg.nested, &c->plan);
	nest_level_name(c->here.level, here, sizeof(here));
	nest_level_name(c->plan.level, guest, sizeof(guest));
	if (c->plan.capped && c->cfg.max_depth == 1)
		log_warn("--nested: not exposing virtualization extensions: --max-depth 1 lets "
			 "this guest run no guests of its own");
	else if (c->plan.capped)
		log_warn("--nested: not exposing virtualization extensions: this nestvm runs at %s, "
			 "the last level allowed to run a hypervisor's guests (a --max-depth set "
			 "above it), so %s gets no VMX/SVM", here, guest);
	log_info("the guest runs at %s, virtualization extensions %s", guest,
		 c->plan.expose ? "exposed" : "hidden");
}

void runner_set_verbosity(int v)
{
	log_set_level(v < 0 ? LOG_ERROR : v == 0 ? LOG_WARN : v == 1 ? LOG_INFO : LOG_DEBUG);
}

/* Files and sizes first: they are the user's mistakes, reported before KVM
 * is even opened. */
static int run_load_inputs(struct runner *c, bool restore, char *err, size_t errlen)
{
	char sz[32], ram[32];
	struct sysinfo si;
	int r;

	if (sysinfo(&si) == 0 && c->cfg.memory > (uint64_t)si.totalram * si.mem_unit) {
		vmconfig_format_size(c->cfg.memory, sz, sizeof(sz));
		vmconfig_format_size((uint64_t)si.totalram * si.mem_unit, ram, sizeof(ram));
		snprintf(err, errlen, "--memory %s is more than this host's RAM (%s)", sz, ram);
		return -EINVAL;
	}
	if (restore)
		return 0;   /* the kernel is in the snapshot's memory */
	r = machine_load_file("kernel", c->cfg.kernel, KERNEL_MAX_BYTES, &c->kernel,
			  &c->kernel_len, err, errlen);
	if (r)
		return r;
	{
		char why[256];
		if (bzimage_parse(c->kernel, c->kernel_len, &c->info, why, sizeof(why))) {
			snprintf(err, errlen, "kernel %s %s", c->cfg.kernel, why);
			return -EINVAL;
		}
	}
	if (c->cfg.initrd) {
		r = machine_load_file("initrd", c->cfg.initrd, c->cfg.memory, &c->initrd,
				  &c->initrd_len, err, errlen);
		if (r == -EFBIG) {
			vmconfig_format_size(c->cfg.memory, sz, sizeof(sz));
			snprintf(err, errlen, "initrd %s is larger than guest RAM (%s): use a "
				 "larger --memory", c->cfg.initrd, sz);
		}
		if (r)
			return r;
	}
	return boot_check_fit(&c->info, c->cfg.memory, c->initrd_len, strlen(c->cfg.cmdline),
			      err, errlen);
}

static const char *run_signal_name(int sig)
{
	const char *s = sigabbrev_np(sig);
	return s ? s : "?";
}

static void run_print_stats(const struct vm *vm)
{
	struct vcpu_stats t = { 0 };

	for (unsigned int i = 0; i < vm->ncpus; i++) {
		t.exits += vm->vcpus[i].stats.exits;
		t.exits_io += vm->vcpus[i].stats.exits_io;
		t.exits_mmio += vm->vcpus[i].stats.exits_mmio;
		t.exits_other += vm->vcpus[i].stats.exits_other;
	}
	log_info("exits to userspace: %llu (port I/O %llu, MMIO %llu, other %llu); "
		 "coalesced port writes: %llu", (unsigned long long)t.exits,
		 (unsigned long long)t.exits_io, (unsigned long long)t.exits_mmio,
		 (unsigned long long)t.exits_other, (unsigned long long)vm->coalesced_writes);
}

static int run_report(struct runner *c, enum vm_stop_reason reason)
{
	run_print_stats(&c->vm);
	switch (reason) {
	case VM_STOP_POWEROFF:
		log_info("the guest powered off");
		return EXIT_GUEST_DONE;
	case VM_STOP_REBOOT:
		log_info("the guest rebooted: nestvm ends the VM on a reboot");
		return EXIT_GUEST_DONE;
	case VM_STOP_USER_QUIT:
		log_warn("quit from the console (Ctrl-A x)");
		return EXIT_GUEST_DONE;
	case VM_STOP_SIGNAL:
		log_warn("stopped by SIG%s", run_signal_name(c->vm.stop_signal));
		return 128 + c->vm.stop_signal;
	case VM_STOP_TRIPLE_FAULT:
		log_error("%s", c->vm.stop_detail);
		return EXIT_GUEST_CRASH;
	case VM_STOP_ERROR:
	case VM_STOP_NONE:
	default:
		log_error("%s", c->vm.stop_detail[0] ? c->vm.stop_detail : "internal error");
		return EXIT_VMM_ERROR;
	}
}

/* The I/O thread, the console, then the vCPUs until the VM stops. */
static int run_start_and_wait(struct runner *c, const struct runner_hooks *h, char *err,
			      size_t errlen)
{
	int r;

	r = platform_start(&c->plat);
	if (r) {
		snprintf(err, errlen, "cannot start the I/O thread: %s", strerror(-r));
		return EXIT_VMM_ERROR;
	}
	if (!h->out_fn) {
		r = console_start(&c->con, STDIN_FILENO, STDOUT_FILENO, runner_serial(c),
				  vm_request_stop, &c->vm);
		if (r) {
			snprintf(err, errlen, "cannot start the console: %s", strerror(-r));
			return EXIT_VMM_ERROR;
		}
		/* After console_start, which clears the struct: Ctrl-A p. */
		console_set_power_fn(&c->con, platform_power_button_fn, &c->plat);
		c->con_used = true;
	}
	log_info("booting %s%s%s with %u vCPU%s and %llu MiB%s", c->cfg.kernel,
		 c->info.version[0] ? ", " : "", c->info.version, c->cfg.cpus,
		 c->cfg.cpus == 1 ? "" : "s", (unsigned long long)(c->cfg.memory >> 20),
		 c->con.is_tty ? " (Ctrl-A x quits)" : "");
	if (h->on_ready)
		h->on_ready(c, h->opaque);
	c->stop_reason = vm_run(&c->vm);
	r = run_report(c, c->stop_reason);
	if (c->con_used)
		console_stop(&c->con);
	c->con_used = false;
	err[0] = '\0';
	return r;
}

/* Restore, first half (after vm_create, before the devices): the snapshot
 * checked in full, against this VM and this host; disks copied back;
 * memory mapped. */
static int run_restore_prepare(struct runner *c, const struct runner_hooks *h, char *err,
			       size_t errlen)
{
	struct kvm_cpuid2 *host;
	int r;

	host = platform_guest_cpuid(&c->vm, &c->plan, err, errlen);
	if (!host)
		return EXIT_NO_KVM;
	/* What vCPU 0 would get here (HTT and the topology leaves). */
	x86_cpuid_set_topology(host, 0, c->cfg.cpus);
	r = machine_restore_prepare(c->restore, &c->vm, host, &c->cfg, h->restore_eager,
				    &c->mem_fd, err, errlen);
	free(host);
	if (r == -ENOTSUP)
		return EXIT_NO_KVM;
	return r ? EXIT_USAGE : 0;
}

/* Restore, second half: every state loaded, then run. */
static int run_restored(struct runner *c, const struct runner_hooks *h, char *err,
			size_t errlen)
{
	int r = machine_restore_apply(c->restore, &c->vm, &c->plat, err, errlen);

	machine_restore_close(c->restore);
	free(c->restore);
	c->restore = NULL;
	free(c->kernel);
	free(c->initrd);
	c->kernel = c->initrd = NULL;
	if (r)
		return r == -ENOTSUP ? EXIT_NO_KVM : EXIT_USAGE;
	c->restored = true;
	log_info("restored from %s: %u vCPU%s, %llu MiB (memory %s)", h->restore_dir, c->cfg.cpus,
		 c->cfg.cpus == 1 ? "" : "s", (unsigned long long)(c->cfg.memory >> 20),
		 c->mem_fd >= 0 ? "mapped, read as the guest touches it" : "read in");
	return run_start_and_wait(c, h, err, errlen);
}

/* Incoming migration: the memory and the state from the stream, loaded;
 * the vCPUs start once the source lets go (GO). */
static int run_incoming(struct runner *c, const struct runner_hooks *h, char *err, size_t errlen)
{
	struct kvm_cpuid2 *host = platform_guest_cpuid(&c->vm, &c->plan, err, errlen);
	int r;

	if (!host) {
		machine_incoming_refuse(h->incoming, err);
		return EXIT_NO_KVM;
	}
	x86_cpuid_set_topology(host, 0, c->cfg.cpus);
	c->restore = calloc(1, sizeof(*c->restore));
	if (!c->restore) {
		free(host);
		snprintf(err, errlen, "out of memory");
		machine_incoming_refuse(h->incoming, err);
		return EXIT_VMM_ERROR;
	}
	r = machine_incoming_receive(h->incoming, &c->vm, host, &c->cfg, c->restore, err, errlen);
	free(host);
	if (!r) {
		r = machine_restore_apply(c->restore, &c->vm, &c->plat, err, errlen);
		if (r)
			machine_incoming_refuse(h->incoming, err);
	}
	machine_restore_close(c->restore);
	free(c->restore);
	c->restore = NULL;
	if (!r)
		r = machine_incoming_commit(h->incoming, err, errlen);
	if (r)
		return r == -ENOTSUP ? EXIT_NO_KVM : EXIT_USAGE;
	c->restored = true;
	log_info("received from %s: %u vCPU%s, %llu MiB, %llu pages", h->incoming->from,
		 c->cfg.cpus, c->cfg.cpus == 1 ? "" : "s",
		 (unsigned long long)(c->cfg.memory >> 20),
		 (unsigned long long)h->incoming->pages);
	return run_start_and_wait(c, h, err, errlen);
}

static int run_vm(struct runner *c, const struct runner_hooks *h, char *err, size_t errlen)
{
	struct boot_request req = {
		.kernel = c->kernel, .kernel_len = c->kernel_len,
		.initrd = c->initrd, .initrd_len = c->initrd_len,
		.cmdline = c->cfg.cmdline,
	};
	serial_out_fn out_fn = h->out_fn ? h->out_fn : console_write;
	void *out_opaque = h->out_fn ? h->out_opaque : &c->con;
	int kvm_fd, r;

	run_plan_nesting(c);
	/* Before any thread exists (I/O loop, slirp, console, vCPUs). */
	vm_block_term_signals();
	kvm_fd = kvm_open(err, errlen);
	if (kvm_fd < 0)
		return EXIT_NO_KVM;
	r = vm_create(&c->vm, kvm_fd, c->cfg.cpus, c->cfg.memory, err, errlen);
	c->vm_created = true;
	if (r)
		return r == -EINVAL ? EXIT_USAGE : EXIT_VMM_ERROR;
	if (h->restore_dir) {
		r = run_restore_prepare(c, h, err, errlen);
		if (r)
			return r;
	}
	r = platform_init(&c->plat, &c->vm, &c->cfg, out_fn, out_opaque, err, errlen);
	if (r) {
		/* A disk or NIC the user named that cannot be used is their input. */
		bool user = r == -ENOENT || r == -EACCES || r == -EINVAL || r == -EBUSY;
		return user ? EXIT_USAGE : EXIT_VMM_ERROR;
	}
	if (h->on_devices && h->on_devices(c, h->opaque, err, errlen))
		return EXIT_VMM_ERROR;
	if (h->restore_dir)
		return run_restored(c, h, err, errlen);
	if (h->incoming)
		return run_incoming(c, h, err, errlen);
	r = platform_boot(&c->vm, &req, &c->plan, err, errlen);
	/* The kernel and initrd are in guest RAM now (a reboot loads them
	 * again): their buffers (the kernel alone is ~8 MiB) need not stay
	 * resident for the VM's lifetime. */
	free(c->kernel);
	free(c->initrd);
	c->kernel = c->initrd = NULL;
	req.kernel = req.initrd = NULL;
	if (r == -ENOTSUP)
		return EXIT_NO_KVM;
	if (r)
		return (r == -ENOSPC || r == -E2BIG || r == -EINVAL) ? EXIT_USAGE : EXIT_VMM_ERROR;
	return run_start_and_wait(c, h, err, errlen);
}

struct serial8250 *runner_serial(struct runner *r)
{
	return platform_device_of(&r->plat, &serial_class);
}

int runner_run(struct runner *r, const struct vm_config *cfg, const struct runner_hooks *h,
	       char *err, size_t errlen)
{
	static const struct runner_hooks none;

	memset(r, 0, sizeof(*r));
	err[0] = '\0';
	if (vmconfig_copy(&r->cfg, cfg)) {
		snprintf(err, errlen, "out of memory");
		return EXIT_VMM_ERROR;
	}
	r->mem_fd = -1;
	if (run_load_inputs(r, h && (h->restore_dir || h->incoming), err, errlen)) {
		if (h && h->incoming)
			machine_incoming_refuse(h->incoming, err);
		return EXIT_USAGE;
	}
	/* A snapshot is the user's input too: checked before KVM is opened. */
	if (h && h->restore_dir) {
		r->restore = calloc(1, sizeof(*r->restore));
		if (!r->restore) {
			snprintf(err, errlen, "out of memory");
			return EXIT_VMM_ERROR;
		}
		if (machine_restore_open(r->restore, h->restore_dir, &r->cfg, err, errlen))
			return EXIT_USAGE;
	}
	{
		int status = run_vm(r, h ? h : &none, err, errlen);

		/* An incoming VM that did not get to run: the source is told
		 * why (a second refusal after one already sent is harmless). */
		if (status && h && h->incoming && !r->restored && err[0])
			machine_incoming_refuse(h->incoming, err);
		return status;
	}
}

void runner_free(struct runner *r)
{
	if (r->con_used)
		console_stop(&r->con);
	platform_destroy(&r->plat);
	if (r->vm_created)
		vm_destroy(&r->vm);
	free(r->kernel);
	free(r->initrd);
	r->kernel = r->initrd = NULL;
	r->vm_created = false;
	if (r->restore) {
		machine_restore_close(r->restore);
		free(r->restore);
		r->restore = NULL;
	}
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	r->mem_fd = -1;
	vmconfig_free(&r->cfg);
}

const char *runner_stop_text(const struct runner *r, char *buf, size_t len)
{
	switch (r->stop_reason) {
	case VM_STOP_POWEROFF:
		snprintf(buf, len, "the guest powered off");
		break;
	case VM_STOP_REBOOT:
		snprintf(buf, len, "the guest rebooted");
		break;
	case VM_STOP_USER_QUIT:
		snprintf(buf, len, "stopped by request");
		break;
	case VM_STOP_SIGNAL:
		snprintf(buf, len, "stopped by SIG%s", run_signal_name(r->vm.stop_signal));
		break;
	case VM_STOP_TRIPLE_FAULT:
	case VM_STOP_ERROR:
		snprintf(buf, len, "%s", r->vm.stop_detail[0] ? r->vm.stop_detail : "internal error");
		break;
	case VM_STOP_NONE:
	default:
		snprintf(buf, len, "did not run");
		break;
	}
	return buf;
}
