#include "nested/cpu_policy.h"

#include <string.h>

static const struct cpuid_rule cpu_rules_nested_off[] = {
	{ 0x1, CPUID_ANY_SUBLEAF, CPUID_ECX, CPUID_1_ECX_VMX, 0, "Intel VMX" },
	{ 0x80000001, CPUID_ANY_SUBLEAF, CPUID_ECX, CPUID_80000001_ECX_SVM, 0, "AMD SVM" },
	{ 0x8000000a, CPUID_ANY_SUBLEAF, CPUID_EAX, 0xffffffffu, 0, "SVM revision" },
	{ 0x8000000a, CPUID_ANY_SUBLEAF, CPUID_EBX, 0xffffffffu, 0, "SVM ASIDs" },
	{ 0x8000000a, CPUID_ANY_SUBLEAF, CPUID_ECX, 0xffffffffu, 0, "SVM reserved" },
	{ 0x8000000a, CPUID_ANY_SUBLEAF, CPUID_EDX, 0xffffffffu, 0,
	  "SVM features (NPT, NRIPS, ...)" },
};

static const struct cpuid_policy cpu_policy_off = {
	"nested virtualization off", cpu_rules_nested_off,
	sizeof(cpu_rules_nested_off) / sizeof(cpu_rules_nested_off[0]),
};

/* On: KVM's supported CPUID already holds exactly what it can nest. */
static const struct cpuid_policy cpu_policy_on = { "nested virtualization on", NULL, 0 };

const struct cpuid_policy *cpu_policy_nested(bool on)
{
	return on ? &cpu_policy_on : &cpu_policy_off;
}

static uint32_t *cpuid_reg_ptr(struct kvm_cpuid_entry2 *e, enum cpuid_reg reg)
{
	switch (reg) {
	case CPUID_EAX: return &e->eax;
	case CPUID_EBX: return &e->ebx;
	case CPUID_ECX: return &e->ecx;
	case CPUID_EDX:
	default: return &e->edx;
	}
}

unsigned int cpu_policy_apply(struct kvm_cpuid2 *cpuid, const struct cpuid_policy *p)
{
	unsigned int changed = 0;

	for (size_t r = 0; r < p->count; r++) {
		const struct cpuid_rule *rule = &p->rules[r];
		for (uint32_t i = 0; i < cpuid->nent; i++) {
			struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
			uint32_t *v, nv;

			if (e->function != rule->leaf)
				continue;
			if (rule->subleaf != CPUID_ANY_SUBLEAF && e->index != rule->subleaf)
				continue;
			v = cpuid_reg_ptr(e, rule->reg);
			nv = (*v & ~rule->mask) | (rule->value & rule->mask);
			changed += (unsigned int)__builtin_popcount(*v ^ nv);
			*v = nv;
		}
	}
	return changed;
}

uint32_t cpuid_get(const struct kvm_cpuid2 *cpuid, uint32_t leaf, uint32_t subleaf,
		   enum cpuid_reg reg)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 e = cpuid->entries[i];
		if (e.function != leaf)
			continue;
		if ((e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e.index != subleaf)
			continue;
		return *cpuid_reg_ptr(&e, reg);
	}
	return 0;
}

enum cpu_vendor cpu_policy_vendor(const struct kvm_cpuid2 *cpuid)
{
	char sig[12];
	uint32_t b = cpuid_get(cpuid, 0, 0, CPUID_EBX), d = cpuid_get(cpuid, 0, 0, CPUID_EDX),
		 c = cpuid_get(cpuid, 0, 0, CPUID_ECX);

	memcpy(sig, &b, 4);
	memcpy(sig + 4, &d, 4);
	memcpy(sig + 8, &c, 4);
	if (memcmp(sig, "GenuineIntel", 12) == 0)
		return CPU_VENDOR_INTEL;
	if (memcmp(sig, "AuthenticAMD", 12) == 0 || memcmp(sig, "HygonGenuine", 12) == 0)
		return CPU_VENDOR_AMD;
	return CPU_VENDOR_OTHER;
}

bool cpu_policy_has_virt(const struct kvm_cpuid2 *cpuid, bool *npt)
{
	bool vmx = cpuid_get(cpuid, 1, 0, CPUID_ECX) & CPUID_1_ECX_VMX;
	bool svm = cpuid_get(cpuid, 0x80000001, 0, CPUID_ECX) & CPUID_80000001_ECX_SVM;

	*npt = svm && (cpuid_get(cpuid, 0x8000000a, 0, CPUID_EDX) & CPUID_8000000A_EDX_NPT);
	return vmx || svm;
}
