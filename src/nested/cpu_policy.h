/* CPU policy as data: tables of (leaf, subleaf, register, mask, value) rules
 * applied to KVM's supported CPUID before it becomes a guest's CPUID.
 *
 * Nested virtualization off: the guest sees no VMX (leaf 1 ECX[5]) and no
 * SVM (leaf 0x80000001 ECX[2], leaf 0x8000000A), whatever the host's KVM
 * offers, so kvm_intel/kvm_amd refuse to load inside. On: the guest sees
 * what the host's KVM reports for nesting, unchanged. */
#ifndef NESTVM_NESTED_CPU_POLICY_H
#define NESTVM_NESTED_CPU_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#define CPUID_ANY_SUBLEAF 0xffffffffu

enum cpuid_reg { CPUID_EAX = 0, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_rule {
	uint32_t leaf;
	uint32_t subleaf;    /* CPUID_ANY_SUBLEAF: every subleaf */
	enum cpuid_reg reg;
	uint32_t mask;       /* the bits this rule decides */
	uint32_t value;      /* their new value (bits outside mask ignored) */
	const char *what;
};

struct cpuid_policy {
	const char *name;
	const struct cpuid_rule *rules;
	size_t count;
};

enum cpu_vendor { CPU_VENDOR_OTHER = 0, CPU_VENDOR_INTEL, CPU_VENDOR_AMD };

/* Feature bits nestvm reads. */
#define CPUID_1_ECX_VMX          (1u << 5)
#define CPUID_80000001_ECX_SVM   (1u << 2)
#define CPUID_8000000A_EDX_NPT   (1u << 0)

/* The vendor from leaf 0's signature (or CPU_VENDOR_OTHER). */
enum cpu_vendor cpu_policy_vendor(const struct kvm_cpuid2 *cpuid);

/* The policy for nested on/off. */
const struct cpuid_policy *cpu_policy_nested(bool on);

/* Apply every rule to matching entries; returns how many bits changed. */
unsigned int cpu_policy_apply(struct kvm_cpuid2 *cpuid, const struct cpuid_policy *p);

/* Does this CPUID offer hardware virtualization to its owner? Sets *ept_npt
 * to whether nested paging is visible (NPT for AMD; for Intel, EPT is not
 * in CPUID, so it is reported as unknown: false). */
bool cpu_policy_has_virt(const struct kvm_cpuid2 *cpuid, bool *npt);

/* Read a register of an entry (0 when the entry is absent). */
uint32_t cpuid_get(const struct kvm_cpuid2 *cpuid, uint32_t leaf, uint32_t subleaf,
		   enum cpuid_reg reg);

#endif
