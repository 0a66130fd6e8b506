#include "x86/cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_MISC_ENABLE       0x1a0
#define MISC_ENABLE_FAST_STRING    (1ULL << 0)
#define APIC_LVT0                  0x350
#define APIC_LVT1                  0x360
#define APIC_MODE_NMI              0x4
#define APIC_MODE_EXTINT           0x7

struct kvm_cpuid2 *x86_cpuid_get_supported(int kvm_fd)
{
	unsigned int nent = 128;

	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG || nent >= 4096)
			return NULL;
		nent *= 2;
	}
}

struct kvm_cpuid_entry2 *x86_cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function,
					uint32_t index)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

/* Leaves 0xB and 0x1F: one thread per core, `ncpus` cores in one package. */
static void x86_cpuid_set_ext_topology(struct kvm_cpuid_entry2 *e, unsigned int index,
				       unsigned int ncpus, unsigned int core_shift)
{
	e->edx = index;
	switch (e->index) {
	case 0: /* SMT level */
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (1u << 8) | 0;
		break;
	case 1: /* core level */
		e->eax = core_shift;
		e->ebx = ncpus;
		e->ecx = (2u << 8) | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index & 0xff;
		break;
	}
}

void x86_cpuid_set_topology(struct kvm_cpuid2 *cpuid, unsigned int index, unsigned int ncpus)
{
	unsigned int shift = 0, logical;

	while ((1u << shift) < ncpus)
		shift++;
	/* EBX[23:16] of leaf 1 has 8 bits: 256 (above 128 vCPUs) would spill
	 * into the APIC ID; 255 still rounds up to the same 8 bits of core ID. */
	logical = (1u << shift) > 0xff ? 0xff : (1u << shift);
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 0x1:
			e->ebx = (e->ebx & 0xffff) | (index << 24) | (logical << 16);
			if (ncpus > 1)
				e->edx |= 1u << 28;  /* HTT: EBX[23:16] is valid */
			else
				e->edx &= ~(1u << 28);
			break;
		case 0x4:
			e->eax = (e->eax & 0x3ffffff) | (((1u << shift) - 1) << 26);
			e->eax &= ~(0xfffu << 14);  /* one thread shares each cache level */
			break;
		case 0xb:
		case 0x1f:
			x86_cpuid_set_ext_topology(e, index, ncpus, shift);
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xf0ffu) | (shift << 12) | (ncpus - 1);
			break;
		case 0x8000001e:
			e->eax = index;
			e->ebx = index & 0xff;  /* core id; one thread per core */
			e->ecx = 0;             /* node 0 */
			break;
		default:
			break;
		}
	}
}

void x86_cpuid_set_hypervisor_bits(struct kvm_cpuid2 *cpuid, bool tsc_deadline)
{
	struct kvm_cpuid_entry2 *e = x86_cpuid_find(cpuid, 0x1, 0);

	if (!e)
		return;
	e->ecx |= 1u << 31;          /* hypervisor present */
	if (tsc_deadline)
		e->ecx |= 1u << 24;  /* TSC-deadline timer */
}

static int x86_cpu_set_msrs(int vcpu_fd)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} msrs;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = 1;
	msrs.e[0].index = MSR_IA32_MISC_ENABLE;
	msrs.e[0].data = MISC_ENABLE_FAST_STRING;
	if (ioctl(vcpu_fd, KVM_SET_MSRS, &msrs) != 1)
		return -EIO;
	return 0;
}

static void x86_lapic_set_lvt(struct kvm_lapic_state *lapic, unsigned int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &lapic->regs[reg], sizeof(v));
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&lapic->regs[reg], &v, sizeof(v));
}

/* LINT0 to ExtINT and LINT1 to NMI: the PC's "virtual wire" wiring that lets
 * 8259 interrupts through until the guest switches to the IOAPIC. */
static int x86_cpu_set_lapic(int vcpu_fd)
{
	struct kvm_lapic_state lapic;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	x86_lapic_set_lvt(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
	x86_lapic_set_lvt(&lapic, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

int x86_cpu_init(int vcpu_fd, const struct kvm_cpuid2 *cpuid)
{
	int r;

	if (ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
		return -errno;
	r = x86_cpu_set_msrs(vcpu_fd);
	if (r)
		return r;
	return x86_cpu_set_lapic(vcpu_fd);
}

static void x86_seg_flat(struct kvm_segment *s, uint16_t selector, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = selector;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->s = 1;
	s->g = 1;
	s->l = code ? 1 : 0;
	s->db = code ? 0 : 1;
}

int x86_cpu_set_boot_regs(int vcpu_fd, const struct boot_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	x86_seg_flat(&sregs.cs, BOOT_CS_SELECTOR, 0xb, 1);
	x86_seg_flat(&sregs.ds, BOOT_DS_SELECTOR, 0x3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = entry->gdt_base;
	sregs.gdt.limit = entry->gdt_limit;
	sregs.idt.base = entry->idt_base;
	sregs.idt.limit = entry->idt_limit;
	sregs.cr0 = 0x80000011;  /* PG | ET | PE */
	sregs.cr3 = entry->cr3;
	sregs.cr4 = 0x20;        /* PAE */
	sregs.efer = 0x500;      /* LMA | LME */
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = entry->rip;
	regs.rsi = entry->rsi;
	regs.rsp = regs.rbp = entry->rsp;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

void x86_host_vendor(char *out, size_t len)
{
	uint32_t a = 0, b, c, d;
	char v[13];

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d));
	memcpy(v, &b, 4);
	memcpy(v + 4, &d, 4);
	memcpy(v + 8, &c, 4);
	v[12] = '\0';
	snprintf(out, len, "%s", v);
}
