/* Depth awareness: nestvm tells its guests who it is and how deep they are
 * through a hypervisor CPUID leaf of its own, beside KVM's:
 *
 *   0x40000000..01  KVM's leaves ("KVMKVMKVM"), untouched: kvm-clock etc.
 *   0x40000100      EAX = 0x40000101, EBX ECX EDX = "NestVMNestVM"
 *   0x40000101      EAX = the guest's level (2 for a guest of a nestvm at L1)
 *                   EBX = levels allowed below the guest (NEST_DEPTH_UNLIMITED)
 *                   ECX = flags (bit 0: virtualization extensions exposed)
 *                   EDX = nestvm version (major << 16 | minor << 8 | patch)
 *
 * Linux looks for KVM's signature at 0x40000000 + n * 0x100, so the leaf
 * at 0x40000100 hides nothing from it.
 */
#ifndef NESTVM_NESTED_LEVEL_H
#define NESTVM_NESTED_LEVEL_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#define NEST_LEAF_BASE        0x40000100u
#define NEST_LEAF_INFO        0x40000101u
#define NEST_SIGNATURE        "NestVMNestVM"
#define NEST_DEPTH_UNLIMITED  0xffffffffu
#define NEST_FLAG_EXPOSED     (1u << 0)
#define NEST_VERSION          0x000100u

/* Where the current machine (the one this process runs on) stands. */
struct nest_level {
	unsigned int level;      /* 0 = bare metal, 1 = under some hypervisor, ... */
	bool under_hypervisor;
	bool under_nestvm;
	bool level_exact;        /* false: an unknown hypervisor, deeper levels unseen */
	char hv_signature[13];   /* signature at 0x40000000, printable */
	uint32_t remaining;      /* levels allowed below this machine */
	bool exposed;            /* nestvm exposed extensions to this machine */
};

/* CPUID as a function, so detection is unit-tested with recorded answers. */
typedef void (*nest_cpuid_fn)(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);

/* The real CPUID instruction. */
void nest_cpuid_native(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);

void nest_level_detect(struct nest_level *out, nest_cpuid_fn cpuid);

/* What a guest created here gets, given this machine's level and the VM's
 * own --max-depth (0: no limit of its own) and --nested choice. */
struct nest_guest {
	unsigned int level;
	uint32_t remaining;      /* levels allowed below the guest */
	bool expose;             /* give it VMX/SVM */
	bool capped;             /* --nested asked, but a depth limit said no */
};

void nest_guest_plan(const struct nest_level *here, unsigned int max_depth, bool nested,
		     struct nest_guest *out);

/* Write the two leaves into cpuid, which has room for `cap` entries.
 * Returns 0 or -ENOSPC. */
int nest_leaf_add(struct kvm_cpuid2 *cpuid, uint32_t cap, const struct nest_guest *g);

/* "L2", "L3", ... */
void nest_level_name(unsigned int level, char *buf, unsigned long len);

#endif
