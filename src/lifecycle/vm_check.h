/* `nestvm check NAME`: what must change for this VM to run a hypervisor
 * inside (what Hyper-V's Enable-NestedVm script checks, and more), each
 * finding with its reason, the command that fixes it, and the change
 * `check NAME --fix` applies. Pure over the definition and state, so every
 * verdict is unit-tested. */
#ifndef NESTVM_LIFECYCLE_VM_CHECK_H
#define NESTVM_LIFECYCLE_VM_CHECK_H

#include <stdbool.h>

#include "lifecycle/state.h"
#include "nested/check.h"
#include "config/vmconfig.h"

/* A Linux L1 running KVM needs its own kernel and page cache plus its
 * guests' RAM: 1 GiB runs one small nested guest. (Hyper-V's script asks
 * 4 GB for a Windows L1.) */
#define VM_CHECK_MEMORY_MIN (1ULL << 30)

enum vm_fix {
	VM_FIX_NONE = 0,
	VM_FIX_NESTED_ON,      /* set --nested on */
	VM_FIX_MEMORY,         /* set --memory VM_CHECK_MEMORY_MIN */
	VM_FIX_MAX_DEPTH,      /* set --max-depth none */
	VM_FIX_ADD_NIC,        /* add a user-mode NIC (NAT) */
	VM_FIX_SPOOFING,       /* --mac-spoofing on for NIC `nic` (a tap) */
	VM_FIX_STOP,           /* the VM must stop before the others apply */
};

struct vm_check_item {
	struct check_result r; /* id, PASS/WARN/FAIL, reason, fix (a command) */
	enum vm_fix fix;
	unsigned int nic;
};

#define VM_CHECK_MAX 16

/* The findings for d in state st. Returns how many were written. */
int vm_check_def(const struct vm_config *d, enum vm_state st, struct vm_check_item *out, int max);

/* Apply the definition changes of the items (not STOP) to d; returns how
 * many changed something. */
int vm_check_apply(struct vm_config *d, const struct vm_check_item *it, int n);

/* One line per change between a and b ("nested: off -> on"), into buf. */
void vm_check_diff(const struct vm_config *a, const struct vm_config *b, char *buf, size_t len);

#endif
