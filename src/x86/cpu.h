/* x86 vCPU state: CPUID, MSRs, local APIC and the registers of the boot CPU. */
#ifndef NESTVM_X86_CPU_H
#define NESTVM_X86_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "x86/boot.h"

/* KVM_GET_SUPPORTED_CPUID, grown until it fits. Returns a malloc()ed list or
 * NULL with errno set. */
struct kvm_cpuid2 *x86_cpuid_get_supported(int kvm_fd);

/* Adjust a copy of the supported CPUID for vCPU `index` of `ncpus`:
 * APIC IDs and topology leaves. Pure: unit-tested. */
void x86_cpuid_set_topology(struct kvm_cpuid2 *cpuid, unsigned int index, unsigned int ncpus);

/* What KVM leaves out of its supported list because the VMM must decide:
 * the "running under a hypervisor" bit (leaf 1 ECX[31]) that makes Linux look
 * for KVM's paravirtual leaves (kvm-clock, PV EOI, ...), and the TSC-deadline
 * timer when the in-kernel LAPIC has it. Pure: unit-tested. */
void x86_cpuid_set_hypervisor_bits(struct kvm_cpuid2 *cpuid, bool tsc_deadline);

/* Find an entry (NULL when absent). */
struct kvm_cpuid_entry2 *x86_cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function,
					uint32_t index);

/* Per-vCPU setup every vCPU gets: CPUID, MSRs, LAPIC LINT0/LINT1 wiring.
 * Returns 0 or -errno. */
int x86_cpu_init(int vcpu_fd, const struct kvm_cpuid2 *cpuid);

/* The host CPU's vendor string (CPUID leaf 0: "AuthenticAMD"), NUL-terminated. */
void x86_host_vendor(char *out, size_t len);

/* Registers of the boot vCPU at the kernel's 64-bit entry point. */
int x86_cpu_set_boot_regs(int vcpu_fd, const struct boot_entry *entry);

#endif
