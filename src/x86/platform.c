#include "x86/platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "nested/cpu_policy.h"
#include "vmm/log.h"
#include "x86/acpi.h"
#include "x86/cpu.h"

struct platform_port {
	uint64_t base, len;
	io_handler_fn fn;
	void *opaque;
	const char *name;
};

static int platform_add_virtio(struct platform *p, struct vm *vm, const struct platform_config *cfg,
			       char *err, size_t errlen)
{
	int r = iobus_register(&vm->mmio, PCI_MMIO_BASE, PCI_MMIO_SIZE, pci_mmio_io, &p->pci,
			       "pci-mmio");

	if (r) {
		snprintf(err, errlen, "cannot register the PCI MMIO window: %s", strerror(-r));
		return r;
	}
	for (unsigned int i = 0; i < cfg->n_disks && i < PLATFORM_MAX_DISKS; i++) {
		p->disks[i] = calloc(1, sizeof(*p->disks[i]));
		if (!p->disks[i])
			return -ENOMEM;
		p->disks[i]->fd = -1;
		r = virtio_blk_init(p->disks[i], &cfg->disks[i], vm, &p->pci, &p->irq, &p->loop,
				    err, errlen);
		if (r)
			return r;
	}
	for (unsigned int i = 0; i < cfg->n_nics && i < PLATFORM_MAX_NICS; i++) {
		r = virtio_net_create(&p->nics[i], &cfg->nics[i], vm, &p->pci, &p->irq, &p->loop,
				      err, errlen);
		if (r)
			return r;
	}
	if (cfg->rng) {
		p->rng = calloc(1, sizeof(*p->rng));
		r = p->rng ? virtio_rng_init(p->rng, vm, &p->pci, &p->irq, &p->loop) : -ENOMEM;
		if (r) {
			snprintf(err, errlen, "cannot create virtio-rng: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

int platform_init(struct platform *p, struct vm *vm, const struct platform_config *cfg,
		  serial_out_fn out_fn, void *out_opaque, char *err, size_t errlen)
{
	int r;

	serial_init(&p->serial, SERIAL_COM1_IRQ, vm_irq_line, vm, out_fn, out_opaque);
	i8042_init(&p->i8042, vm_request_stop, vm);
	acpi_pm_init(&p->acpi_pm, vm_request_stop, vm);
	acpi_pm_set_sci(&p->acpi_pm, vm_irq_line, vm);
	pci_bus_init(&p->pci);
	irq_router_init(&p->irq, vm->vm_fd);
	r = evloop_init(&p->loop);
	p->initialised = true;
	if (r) {
		snprintf(err, errlen, "cannot create the I/O loop: %s", strerror(-r));
		return r;
	}

	const struct platform_port ports[] = {
		{ SERIAL_COM1_BASE, SERIAL_NR_PORTS, serial_io, &p->serial, "serial" },
		{ I8042_DATA_PORT, 1, i8042_data_io, &p->i8042, "i8042-data" },
		{ I8042_COMMAND_PORT, 1, i8042_command_io, &p->i8042, "i8042-cmd" },
		{ ACPI_PM_BASE, ACPI_PM_LEN, acpi_pm_io, &p->acpi_pm, "acpi-pm" },
		{ PCI_CONF_ADDR_PORT, 4, pci_conf_addr_io, &p->pci, "pci-addr" },
		{ PCI_CONF_DATA_PORT, 4, pci_conf_data_io, &p->pci, "pci-data" },
	};
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		r = iobus_register(&vm->pio, ports[i].base, ports[i].len, ports[i].fn,
				       ports[i].opaque, ports[i].name);
		if (r) {
			snprintf(err, errlen, "cannot register %s at port 0x%llx: %s",
				 ports[i].name, (unsigned long long)ports[i].base, strerror(-r));
			return r;
		}
	}
	/* The guest's PCI configuration cycles are an address write to 0xCF8,
	 * then a data access at 0xCFC that exits anyway: queue the address
	 * writes in KVM's coalesced ring rather than exit for each (half the
	 * exits of a stock kernel's boot, whose early PCI scans make ~16,000
	 * configuration reads). Without KVM_CAP_COALESCED_PIO they exit. */
	r = vm_coalesce_pio(vm, PCI_CONF_ADDR_PORT, 4);
	if (r && r != -ENOTSUP)
		log_warn("PCI configuration address writes will exit: %s", strerror(-r));
	return platform_add_virtio(p, vm, cfg, err, errlen);
}

void platform_power_button(struct platform *p)
{
	acpi_pm_power_button(&p->acpi_pm);
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
	evloop_destroy(&p->loop);
	free(p->rng);
	for (unsigned int i = 0; i < PLATFORM_MAX_DISKS; i++) {
		if (p->disks[i])
			virtio_blk_destroy(p->disks[i]);
		free(p->disks[i]);
	}
	for (unsigned int i = 0; i < PLATFORM_MAX_NICS; i++)
		if (p->nics[i])
			virtio_net_destroy(p->nics[i]);
	irq_router_destroy(&p->irq);
	serial_destroy(&p->serial);
	i8042_destroy(&p->i8042);
	acpi_pm_destroy(&p->acpi_pm);
	pci_bus_destroy(&p->pci);
	p->initialised = false;
}

/* The CPUID every vCPU starts from: KVM's supported set, the nested policy,
 * nestvm's leaf, the hypervisor bits. Returns a malloc()ed table. */
static struct kvm_cpuid2 *platform_guest_cpuid(struct vm *vm, const struct nest_guest *g,
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
