#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/kvm.h>

#define KVM_DEMO_HINT "\n  (scripts/demo shows nestvm booting a guest inside an emulated host " \
		      "even without KVM here)"

const char *kvm_device_path(void)
{
	const char *p = getenv(KVM_DEVICE_ENV);
	return p && *p ? p : KVM_DEVICE_DEFAULT;
}

const char *kvm_host_virt_flag(const char *cpuinfo_path)
{
	FILE *f = fopen(cpuinfo_path ? cpuinfo_path : "/proc/cpuinfo", "r");
	const char *found = NULL;
	char line[4096];

	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		if (strstr(line, " vmx"))
			found = "vmx";
		else if (strstr(line, " svm"))
			found = "svm";
		break;
	}
	fclose(f);
	return found;
}

static int kvm_explain_missing(const char *path, char *err, size_t errlen)
{
	const char *flag = kvm_host_virt_flag(NULL);

	if (!flag)
		snprintf(err, errlen, "%s does not exist, and this machine's CPU offers no hardware "
			 "virtualization (no vmx or svm flag in /proc/cpuinfo).\n  Fix: on a cloud VM, "
			 "turn on nested virtualization for it (EC2: NestedVirtualization=enabled on "
			 "a stopped instance; Hyper-V: Set-VMProcessor -ExposeVirtualizationExtensions "
			 "$true); on bare metal, enable VT-x/AMD-V in the firmware." KVM_DEMO_HINT,
			 path);
	else
		snprintf(err, errlen, "%s does not exist although the CPU has %s: the KVM module "
			 "is not loaded.\n  Fix: modprobe %s" KVM_DEMO_HINT, path, flag,
			 strcmp(flag, "vmx") == 0 ? "kvm_intel" : "kvm_amd");
	return -ENOENT;
}

int kvm_open(char *err, size_t errlen)
{
	const char *path = kvm_device_path();
	struct stat st;
	int fd, version, e;

	if (stat(path, &st) < 0) {
		e = errno;
		if (e == ENOENT)
			return kvm_explain_missing(path, err, errlen);
		snprintf(err, errlen, "cannot reach %s: %s" KVM_DEMO_HINT, path, strerror(e));
		return -e;
	}
	if (!S_ISCHR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a character device, so it is not KVM" KVM_DEMO_HINT,
			 path);
		return -ENODEV;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == EACCES || e == EPERM)
			snprintf(err, errlen, "permission denied opening %s.\n  Fix: add yourself to "
				 "its group (sudo usermod -aG kvm $USER, then log in again) or run "
				 "as root", path);
		else
			snprintf(err, errlen, "cannot open %s: %s (is hardware virtualization "
				 "enabled and the kvm module loaded?)" KVM_DEMO_HINT, path,
				 strerror(e));
		return -e;
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version < 0) {
		snprintf(err, errlen, "%s is not a KVM device (KVM_GET_API_VERSION: %s)" KVM_DEMO_HINT,
			 path, strerror(errno));
		close(fd);
		return -ENODEV;
	}
	if (version != KVM_API_VERSION) {
		snprintf(err, errlen, "%s speaks KVM API version %d, nestvm needs %d", path,
			 version, KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	if (!kvm_host_virt_flag(NULL) && access("/sys/module/kvm_pvm", F_OK) == 0) {
		snprintf(err, errlen, "%s is PVM (module kvm_pvm), a software KVM without hardware "
			 "virtualization that runs only PVM-enabled guest kernels; nestvm needs "
			 "kvm_intel or kvm_amd" KVM_DEMO_HINT, path);
		close(fd);
		return -ENOTSUP;
	}
	static const struct { int cap; const char *name; } caps[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			snprintf(err, errlen, "this kernel's KVM lacks %s, which nestvm needs",
				 caps[i].name);
			close(fd);
			return -ENOTSUP;
		}
	}
	return fd;
}
