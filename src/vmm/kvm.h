/* Opening /dev/kvm, with a diagnosis that names the cause and the fix when
 * it is not usable. */
#ifndef NESTVM_VMM_KVM_H
#define NESTVM_VMM_KVM_H

#include <stddef.h>

#define KVM_DEVICE_DEFAULT "/dev/kvm"
#define KVM_DEVICE_ENV     "NESTVM_KVM_DEVICE"  /* overrides the path (tests) */

/* Path of the KVM device: $NESTVM_KVM_DEVICE or /dev/kvm. */
const char *kvm_device_path(void);

/* "vmx", "svm", or NULL: what /proc/cpuinfo (or `cpuinfo_path`) says this
 * machine's CPUs offer. */
const char *kvm_host_virt_flag(const char *cpuinfo_path);

/* Open and check the KVM device (API version 12, the capabilities nestvm
 * needs). Returns the fd, or -errno with the reason and the fix in err. */
int kvm_open(char *err, size_t errlen);

#endif
