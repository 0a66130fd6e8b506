/* x86 vCPU and VM state as plain, versioned data (no pointers, no fds):
 * what KVM holds of a vCPU (registers, FPU/XSAVE, MSRs, LAPIC, pending
 * events, nested state) and of the VM (PIC, IOAPIC, PIT, clock, TSC
 * frequency), read and written with KVM's ioctls.
 *
 * Threads: x86_vcpu_state_get/_set, x86_vcpu_tsc_khz_* and x86_vm_state_get/
 * _set (which reads the TSC frequency on a vCPU) must run on the vCPU's own
 * thread (the vCPU ioctls take the vCPU mutex that KVM_RUN holds): use
 * vm_vcpu_call_all. x86_cpu_caps_probe, the checks and the comparisons run
 * anywhere; the checks and comparisons are pure (unit-tested).
 *
 * Load order (x86_vcpu_state_set), after QEMU's kvm_arch_put_registers and
 * the kernel selftests' vcpu_load_state: on Intel the VMX capability MSRs
 * and IA32_FEATURE_CONTROL, SREGS2 (EFER.SVME / CR4.VMXE must be set before
 * nested state), VCPU_EVENTS (SMM state, before nested state), nested state,
 * XSAVE, XCRS, LAPIC, the other MSRs (after LAPIC: setting it clears the
 * TSC deadline), VCPU_EVENTS again, MP_STATE, DEBUGREGS, REGS.
 */
#ifndef NESTVM_X86_CPU_STATE_H
#define NESTVM_X86_CPU_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#define X86_VCPU_STATE_MAGIC    0x53435658u  /* "XVCS" */
#define X86_VCPU_STATE_VERSION  1
#define X86_STATE_MAX_MSRS      512
#define X86_STATE_MAX_SKIPPED   128
#define X86_STATE_XSAVE_LEGACY  4096         /* struct kvm_xsave: KVM_GET_XSAVE */
#define X86_STATE_XSAVE_MAX     16384        /* KVM_CAP_XSAVE2's size at most (AMX: 11008) */
#define X86_STATE_NESTED_MAX    16384        /* KVM_CAP_NESTED_STATE at most (VMX: 8320, SVM: 4224) */

/* x86_vcpu_state.flags */
#define X86_VCPU_HAS_SREGS2     (1u << 0)    /* sregs2 holds the segment registers, else sregs */
#define X86_VCPU_HAS_XSAVE2     (1u << 1)    /* read with KVM_GET_XSAVE2 (xsave_size bytes) */
#define X86_VCPU_HAS_XCRS       (1u << 2)
#define X86_VCPU_HAS_NESTED     (1u << 3)    /* nested holds KVM_GET_NESTED_STATE's answer */
#define X86_VCPU_FLAGS_KNOWN    0xfu

/* MSRs that the VMX capability range covers (Intel; KVM's feature MSRs). */
#define X86_MSR_FEATURE_CONTROL 0x3au
#define X86_MSR_VMX_FIRST       0x480u
#define X86_MSR_VMX_LAST        0x491u
#define X86_MSR_TSC             0x10u
#define X86_MSR_SYSENTER_ESP    0x175u
#define X86_MSR_SYSENTER_EIP    0x176u

/* One vCPU. Fixed size; the variable parts are bounded arrays with their
 * counts: msrs[nmsrs], skipped[nskipped], xsave[xsave_size],
 * nested[nested_size]; bytes beyond them are zero. */
struct x86_vcpu_state {
	uint32_t magic;              /* X86_VCPU_STATE_MAGIC */
	uint32_t version;            /* X86_VCPU_STATE_VERSION */
	uint32_t size;               /* sizeof(struct x86_vcpu_state) */
	uint32_t flags;              /* X86_VCPU_HAS_* */
	uint32_t xsave_size;         /* X86_STATE_XSAVE_LEGACY, or KVM_CAP_XSAVE2's size */
	uint32_t nested_size;        /* kvm_nested_state.size (at least its 128-byte header), 0 without */
	uint32_t nmsrs;
	uint32_t nskipped;           /* MSRs of KVM's lists that KVM refused to read */
	struct kvm_regs regs;
	struct kvm_sregs sregs;      /* without KVM_CAP_SREGS2 */
	struct kvm_sregs2 sregs2;    /* with it */
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_mp_state mp_state;
	uint32_t skipped[X86_STATE_MAX_SKIPPED];
	struct kvm_msr_entry msrs[X86_STATE_MAX_MSRS];
	uint8_t xsave[X86_STATE_XSAVE_MAX] __attribute__((aligned(64)));
	uint8_t nested[X86_STATE_NESTED_MAX] __attribute__((aligned(8)));
};

/* What this KVM offers, probed once per VM (any thread). */
struct x86_cpu_caps {
	bool sregs2;                 /* KVM_CAP_SREGS2 */
	bool xsave2;                 /* KVM_CAP_XSAVE2 (on the VM) */
	bool xcrs;                   /* KVM_CAP_XCRS */
	bool vmx;                    /* the feature list has the VMX capability MSRs */
	bool amd;                    /* the host CPU is AMD's (or Hygon's): SVM */
	uint32_t xsave_size;         /* bytes to read: KVM_CAP_XSAVE2's, else 4096 */
	uint32_t nested_max;         /* KVM_CAP_NESTED_STATE; 0 without */
	uint32_t nmsr_index;
	uint32_t msr_index[X86_STATE_MAX_MSRS]; /* to save: KVM_GET_MSR_INDEX_LIST, then (Intel)
						   the VMX capability MSRs and IA32_FEATURE_CONTROL
						   from KVM_GET_MSR_FEATURE_INDEX_LIST; no duplicates */
};

int x86_cpu_caps_probe(int kvm_fd, int vm_fd, struct x86_cpu_caps *caps, char *err,
		       size_t errlen);

/* How a state is loaded. FULL: into a vCPU that did not run that state
 * (restore, migration): everything. RUNTIME: back into the vCPU it was
 * read from, while its VM lives: leaves out the TSC (writing the value
 * read earlier would set the guest's TSC back by the time since) and, on
 * Intel, the VMX capability MSRs (KVM refuses to change them while the
 * vCPU is in VMX operation; nothing changes them after creation). */
enum x86_state_load {
	X86_STATE_LOAD_FULL,
	X86_STATE_LOAD_RUNTIME,
};

/* Read the whole state. MSRs that KVM refuses to read are left out and
 * listed in skipped. 0, or -errno naming the ioctl. */
int x86_vcpu_state_get(int vcpu_fd, const struct x86_cpu_caps *caps, struct x86_vcpu_state *s,
		       char *err, size_t errlen);

/* Check a state against this structure's limits and KVM's: magic,
 * version, size, flags, counts, sizes (nested state within KVM's maximum
 * and its header's size agreeing), zero padding beyond the counts. caps
 * may be NULL for the structural checks only. 0, or -EINVAL with the first
 * problem in err. Pure. */
int x86_vcpu_state_check(const struct x86_vcpu_state *s, const struct x86_cpu_caps *caps,
			 char *err, size_t errlen);

/* Load a state (checked first: nothing is written when the check fails)
 * in the order at the top of this file. 0, or -errno naming the ioctl
 * (and the MSR KVM refused). */
int x86_vcpu_state_set(int vcpu_fd, const struct x86_cpu_caps *caps,
		       const struct x86_vcpu_state *s, enum x86_state_load how, char *err,
		       size_t errlen);

/* Compare two states of one vCPU byte for byte, except what moves while
 * the vCPU is out of KVM_RUN: the TSC, Hyper-V's VP runtime (0x40000010:
 * the vCPU thread's CPU time, which runs these ioctls) and reference counter
 * (0x40000020) MSRs (time), and the LAPIC's current timer count (TMCCT,
 * 0x390: KVM computes it from the time when read). With caps->amd, of
 * IA32_SYSENTER_ESP and _EIP (0x175, 0x176) only the low 32 bits: on AMD
 * KVM lets the guest's own writes through (the CPU keeps 64 bits) but keeps
 * 32 of a write from userspace (AMD's SYSENTER is 32-bit only: it faults in
 * long mode, so the high half is never used). caps may be NULL (all 64).
 * On SVM in guest mode, the busy bit of TR's attributes in the nested
 * state's saved VMCB: KVM keeps TR in vmcb01 while L2 runs and loads it
 * through SREGS with the busy bit forced on.
 * *compared: bytes compared. 0 equal; -EIO with the first difference in
 * err. Pure. */
int x86_vcpu_state_compare(const struct x86_vcpu_state *a, const struct x86_vcpu_state *b,
			   const struct x86_cpu_caps *caps, size_t *compared, char *err,
			   size_t errlen);

/* Is this one of the VMX capability MSRs KVM computes itself and refuses
 * from userspace (the non-true controls 0x481-0x484, CR0/CR4_FIXED1
 * 0x487/0x489)? A full load leaves them out. */
bool x86_msr_vmx_derived(uint32_t index);

/* Is this MSR one whose value moves by itself (time)? */
bool x86_msr_moves(uint32_t index);

/* ---- the VM ---- */

#define X86_VM_STATE_MAGIC    0x534d5658u  /* "XVMS" */
#define X86_VM_STATE_VERSION  1

struct x86_vm_state {
	uint32_t magic;              /* X86_VM_STATE_MAGIC */
	uint32_t version;            /* X86_VM_STATE_VERSION */
	uint32_t size;               /* sizeof(struct x86_vm_state) */
	uint32_t tsc_khz;            /* KVM_GET_TSC_KHZ of the vCPU it was read on */
	struct kvm_irqchip pic_master;  /* chip_id KVM_IRQCHIP_PIC_MASTER */
	struct kvm_irqchip pic_slave;   /* KVM_IRQCHIP_PIC_SLAVE */
	struct kvm_irqchip ioapic;      /* KVM_IRQCHIP_IOAPIC */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/* Read it; vcpu_fd (its own thread) answers the TSC frequency. */
int x86_vm_state_get(int vm_fd, int vcpu_fd, struct x86_vm_state *s, char *err, size_t errlen);

/* Magic, version, size, chip ids, PIT channel fields in range (mode 0-5, or
 * 0xff: never programmed, as KVM resets it). Pure. */
int x86_vm_state_check(const struct x86_vm_state *s, char *err, size_t errlen);

/* Load it: PIT2, PIC master, PIC slave, IOAPIC, the TSC frequency on
 * vcpu_fd (a full restore sets it on every vCPU: x86_vcpu_tsc_khz_set),
 * then the clock. RUNTIME writes the clock only when it was read with
 * KVM_CLOCK_REALTIME (KVM then adds the real time passed since the read;
 * without it the write would set the guest's clock back by that time):
 * *clock_written says. 0, or -errno naming the ioctl. */
int x86_vm_state_set(int vm_fd, int vcpu_fd, const struct x86_vm_state *s,
		     enum x86_state_load how, bool *clock_written, char *err, size_t errlen);

/* Compare, except what moves: the PIT channels' count_load_time (KVM_SET_PIT2
 * reloads every counter at the time of the write) and the clock's value,
 * its real time and host TSC (only its flags are compared). Pure. */
int x86_vm_state_compare(const struct x86_vm_state *a, const struct x86_vm_state *b,
			 size_t *compared, char *err, size_t errlen);

/* KVM_SET_TSC_KHZ on a vCPU (its own thread). 0 or -errno. */
int x86_vcpu_tsc_khz_set(int vcpu_fd, uint32_t khz, char *err, size_t errlen);

#endif
