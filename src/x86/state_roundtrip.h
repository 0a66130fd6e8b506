/* The in-place state round trip: a live check of x86/cpu_state.h. For
 * every vCPU, on its own thread: read its whole state, load it back
 * (X86_STATE_LOAD_RUNTIME), read it again and compare byte for byte (what
 * moves by itself excepted: see x86_vcpu_state_compare); vCPU 0 does the
 * same for the VM's state. The VM is paused around it (when it was not
 * already), so no vCPU sends another an interrupt between a read and the
 * load that would overwrite it; the guest then goes on as before.
 *
 * Threads: any thread but a vCPU's (it uses vm_pause and vm_vcpu_call_all). */
#ifndef NESTVM_X86_STATE_ROUNDTRIP_H
#define NESTVM_X86_STATE_ROUNDTRIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmm/vm.h"

struct x86_roundtrip_vcpu {
	bool answered;           /* its thread ran the round trip */
	int rc;                  /* 0: read, loaded, read again, equal */
	char err[256];
	uint64_t bytes_compared;
	bool guest_mode;         /* nested state: KVM_STATE_NESTED_GUEST_MODE when read */
	uint16_t nested_format;  /* KVM_STATE_NESTED_FORMAT_* */
	uint32_t nested_size;    /* bytes of nested state (0: none) */
	uint32_t nmsrs;
	uint32_t nskipped;       /* MSRs KVM refused to read */
	uint32_t first_skipped;  /* the first of them */
	uint32_t xsave_size;
	bool sregs2;
	bool xsave2;
};

struct x86_roundtrip_vm {
	bool done;
	uint64_t bytes_compared;
	bool clock_written;      /* KVM_SET_CLOCK was issued (KVM_CLOCK_REALTIME read) */
	uint32_t tsc_khz;
};

/* out: vm->ncpus entries. 0 when every vCPU's round trip and the VM's
 * matched; else -errno with the first failure in err (out says which). */
int x86_state_roundtrip(struct vm *vm, struct x86_roundtrip_vcpu *out,
			struct x86_roundtrip_vm *vm_out, char *err, size_t errlen);

/* x86_state_roundtrip as the control API's answer: {"ok": true, "vcpus":
 * [{"index", "bytes_compared", "guest_mode", "nested_format",
 * "nested_state_size", "msr_count", "msrs_skipped", "xsave_size", "sregs2",
 * "xsave2"}], "vm": {"bytes_compared", "clock_written", "tsc_khz"}}. NULL
 * with err when it failed or did not match. */
json_t *x86_state_roundtrip_json(struct vm *vm, char *err, size_t errlen);

#endif
