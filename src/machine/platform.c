#include "machine/platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "devices/table.h"
#include "nested/cpu_policy.h"
#include "vmm/log.h"
#include "x86/acpi.h"
#include "x86/cpu.h"

/* One device through its class; its object joins p->devices even when
 * create fails half way, so platform_destroy() frees it. */
static int platform_create_one(struct platform *p, struct device_host *h,
			       const struct device_class *cls, const json_t *cfg, char *err,
			       size_t errlen)
{
	struct platform_device *d;
	int r;

	if (p->n_devices >= PLATFORM_MAX_DEVICES) {
		snprintf(err, errlen, "too many devices: at most %d", PLATFORM_MAX_DEVICES);
		return -E2BIG;
	}
	d = &p->devices[p->n_devices];
	d->cls = cls;
	d->dev = NULL;
	r = cls->create(h, cfg, &d->dev, err, errlen);
	if (d->dev)
		p->n_devices++;
	if (r && !err[0])
		snprintf(err, errlen, "cannot create %s: %s", cls->name, strerror(-r));
	return r;
}

/* Every configured device of one class. Configured devices are PCI
 * functions: each gets the next slot and that slot's INTx line (the
 * board's wiring, which its DSDT describes). */
static int platform_create_class(struct platform *p, struct device_host *h,
				 const struct device_class *cls, const struct vm_config *cfg,
				 unsigned int *next_slot, char *err, size_t errlen)
{
	int r = 0;

	h->index = 0;
	for (unsigned int i = 0; i < cfg->n_devices && !r; i++) {
		if (cfg->devices[i].cls != cls)
			continue;
		h->pci_slot = (int)*next_slot;
		h->intx_gsi = (int)acpi_pci_irq_gsi(*next_slot, 0);
		(*next_slot)++;
		r = platform_create_one(p, h, cls, cfg->devices[i].cfg, err, errlen);
		h->index++;
	}
	return r;
}

int platform_init(struct platform *p, struct vm *vm, const struct vm_config *cfg,
		  serial_out_fn out_fn, void *out_opaque, char *err, size_t errlen)
{
	struct device_host h = { .vm = vm, .irq = &p->irq, .loop = &p->loop, .intx_gsi = -1,
				 .console_out = out_fn, .console_opaque = out_opaque };
	unsigned int next_slot = 1;   /* slot 0: the host bridge */
	int r;

	memset(p, 0, sizeof(*p));
	irq_router_init(&p->irq, vm->vm_fd);
	r = evloop_init(&p->loop);
	p->initialised = true;
	if (r) {
		snprintf(err, errlen, "cannot create the I/O loop: %s", strerror(-r));
		return r;
	}
	err[0] = '\0';
	for (size_t t = 0; t < device_table_len; t++) {
		const struct device_class *cls = device_table[t];

		if (cls->board) {
			h.index = 0;
			h.pci_slot = 0;
			h.intx_gsi = -1;
			r = platform_create_one(p, &h, cls, NULL, err, errlen);
			if (!r && cls == &pci_host_class)
				h.pci = platform_device_of(p, cls);
		} else {
			r = platform_create_class(p, &h, cls, cfg, &next_slot, err, errlen);
		}
		if (r)
			return r;
	}
	return 0;
}

unsigned int platform_class_index(const struct platform *p, unsigned int i)
{
	unsigned int idx = 0;

	for (unsigned int j = 0; j < i; j++)
		idx += p->devices[j].cls == p->devices[i].cls;
	return idx;
}

void *platform_device_of(const struct platform *p, const struct device_class *cls)
{
	for (unsigned int i = 0; i < p->n_devices; i++)
		if (p->devices[i].cls == cls)
			return p->devices[i].dev;
	return NULL;
}

void platform_power_button(struct platform *p)
{
	struct acpi_pm *pm = platform_device_of(p, &acpi_pm_class);

	if (pm)
		acpi_pm_power_button(pm);
}

void platform_power_button_fn(void *opaque)
{
	platform_power_button(opaque);
}

int platform_start(struct platform *p)
{
	return evloop_start(&p->loop);
}

void platform_destroy(struct platform *p)
{
	if (!p->initialised)
		return;
	/* The I/O thread first: it runs the virtio devices' work. */
	evloop_destroy(&p->loop);
	for (unsigned int i = p->n_devices; i > 0; i--)
		p->devices[i - 1].cls->destroy(p->devices[i - 1].dev);
	p->n_devices = 0;
	irq_router_destroy(&p->irq);
	p->initialised = false;
}

/* The CPUID every vCPU starts from: KVM's supported set, the nested policy,
 * nestvm's leaf, the hypervisor bits. Returns a malloc()ed table. */
struct kvm_cpuid2 *platform_guest_cpuid(struct vm *vm, const struct nest_guest *g,
					       char *err, size_t errlen)
{
	struct kvm_cpuid2 *supported = x86_cpuid_get_supported(vm->kvm_fd), *c;
	bool npt;

	if (!supported) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		return NULL;
	}
	if (g->expose && !cpu_policy_has_virt(supported, &npt)) {
		snprintf(err, errlen, "--nested: this host's KVM offers no VMX or SVM to its guests, "
			 "so the guest could not run a hypervisor.\n  Fix: turn nesting on in KVM "
			 "(modprobe -r kvm_amd && modprobe kvm_amd nested=1, or kvm_intel nested=1); "
			 "nestvm check says more");
		free(supported);
		return NULL;
	}
	c = calloc(1, sizeof(*c) + (supported->nent + 2) * sizeof(c->entries[0]));
	if (!c) {
		free(supported);
		return NULL;
	}
	memcpy(c, supported, sizeof(*c) + supported->nent * sizeof(c->entries[0]));
	free(supported);
	cpu_policy_apply(c, cpu_policy_nested(g->expose));
	nest_leaf_add(c, c->nent + 2, g);
	x86_cpuid_set_hypervisor_bits(c, ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
					       KVM_CAP_TSC_DEADLINE_TIMER) > 0);
	return c;
}

static int platform_setup_vcpus(struct vm *vm, const struct boot_entry *entry,
				const struct nest_guest *g, char *err, size_t errlen)
{
	struct kvm_cpuid2 *base = platform_guest_cpuid(vm, g, err, errlen), *cpuid;
	size_t bytes;
	int r = 0;

	if (!base)
		return -ENOTSUP;
	bytes = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	cpuid = malloc(bytes);
	if (!cpuid) {
		free(base);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < vm->ncpus && !r; i++) {
		memcpy(cpuid, base, bytes);
		x86_cpuid_set_topology(cpuid, i, vm->ncpus);
		r = x86_cpu_init(vm->vcpus[i].fd, cpuid);
		if (r)
			snprintf(err, errlen, "setting up vCPU %u: %s", i, strerror(-r));
	}
	if (!r) {
		r = x86_cpu_set_boot_regs(vm->vcpus[0].fd, entry);
		if (r)
			snprintf(err, errlen, "setting the boot vCPU's registers: %s", strerror(-r));
	}
	free(cpuid);
	free(base);
	return r;
}

int platform_boot(struct vm *vm, struct boot_request *req, const struct nest_guest *g, char *err,
		  size_t errlen)
{
	struct acpi_config acfg = { .ncpus = vm->ncpus };
	uint8_t *tables = guest_mem_ptr(&vm->mem, ACPI_TABLES_BASE, ACPI_TABLES_SIZE);
	struct boot_entry entry;
	size_t used;
	int r;

	r = acpi_tables_build(tables, ACPI_TABLES_SIZE, ACPI_TABLES_BASE, &acfg, &used);
	if (r) {
		snprintf(err, errlen, "building ACPI tables: %s", strerror(-r));
		return r;
	}
	req->rsdp_addr = ACPI_TABLES_BASE;
	r = boot_load(&vm->mem, req, &entry, err, errlen);
	if (r)
		return r;
	return platform_setup_vcpus(vm, &entry, g, err, errlen);
}
