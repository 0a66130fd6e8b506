/* What this machine offers for nested virtualization: its CPU (as CPUID
 * shows it here), its KVM module and parameters, /dev/kvm and the KVM
 * capabilities that matter for nesting. Gathered once; `nestvm info` prints
 * it and `nestvm check` judges it. */
#ifndef NESTVM_NESTED_PROBE_H
#define NESTVM_NESTED_PROBE_H

#include <stdbool.h>

#include "nested/cpu_policy.h"
#include "nested/level.h"

#define PROBE_SYSFS_ENV "NESTVM_SYSFS"  /* root instead of /sys (tests) */

struct probe_cap {
	const char *name;
	int value;       /* KVM_CHECK_EXTENSION's answer; -1 when not asked */
};

enum { PROBE_CAP_NESTED_STATE, PROBE_CAP_EXCEPTION_PAYLOAD, PROBE_CAP_HYPERV_EVMCS,
       PROBE_CAP_MAX_VCPUS, PROBE_CAP_IRQCHIP, PROBE_CAP_IOEVENTFD, PROBE_CAP_IRQFD,
       PROBE_CAP_COUNT };

struct host_probe {
	struct nest_level level;
	enum cpu_vendor vendor;
	char vendor_id[13];
	char brand[49];
	bool vmx, svm;           /* this machine's CPUID */
	bool npt;                /* AMD nested paging in CPUID */
	/* the KVM module */
	const char *module;      /* "kvm_intel", "kvm_amd" or NULL */
	char nested_param[16];   /* /sys/module/<module>/parameters/nested, "" if none */
	char paging_param[16];   /* .../ept or .../npt */
	bool pvm;                /* kvm_pvm loaded: software KVM */
	/* /dev/kvm */
	char dev_path[256];
	bool dev_exists;
	int dev_errno;           /* 0: opened */
	char dev_error[512];     /* kvm_open()'s explanation */
	int api_version;
	bool kvm_offers_virt;    /* KVM_GET_SUPPORTED_CPUID has VMX/SVM for guests */
	bool kvm_offers_npt;
	struct probe_cap caps[PROBE_CAP_COUNT];
};

void host_probe_run(struct host_probe *p);

/* "1"/"Y" style module parameter truth. */
bool probe_param_on(const char *v);

#endif
