#include "nested/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm/kvm.h"
#include "x86/cpu.h"

bool probe_param_on(const char *v)
{
	return v[0] == '1' || v[0] == 'Y' || v[0] == 'y';
}

static const char *probe_sysfs(void)
{
	const char *r = getenv(PROBE_SYSFS_ENV);
	return r && *r ? r : "/sys";
}

/* Read a short sysfs value; false when absent. */
static bool probe_read(const char *rel, char *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", probe_sysfs(), rel);
	f = fopen(path, "r");
	buf[0] = '\0';
	if (!f)
		return false;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

static bool probe_exists(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", probe_sysfs(), rel);
	return access(path, F_OK) == 0;
}

static void probe_cpu(struct host_probe *p)
{
	uint32_t r[4];

	nest_cpuid_native(0, 0, r);
	memcpy(p->vendor_id, &r[1], 4);
	memcpy(p->vendor_id + 4, &r[3], 4);
	memcpy(p->vendor_id + 8, &r[2], 4);
	p->vendor_id[12] = '\0';
	if (strcmp(p->vendor_id, "GenuineIntel") == 0)
		p->vendor = CPU_VENDOR_INTEL;
	else if (strcmp(p->vendor_id, "AuthenticAMD") == 0 || strcmp(p->vendor_id, "HygonGenuine") == 0)
		p->vendor = CPU_VENDOR_AMD;
	nest_cpuid_native(1, 0, r);
	p->vmx = r[2] & CPUID_1_ECX_VMX;
	nest_cpuid_native(0x80000000, 0, r);
	if (r[0] >= 0x80000004) {
		for (uint32_t l = 0; l < 3; l++) {
			nest_cpuid_native(0x80000002 + l, 0, r);
			memcpy(p->brand + 16 * l, r, 16);
		}
		p->brand[48] = '\0';
	}
	nest_cpuid_native(0x80000001, 0, r);
	p->svm = r[2] & CPUID_80000001_ECX_SVM;
	if (p->svm) {
		nest_cpuid_native(0x8000000a, 0, r);
		p->npt = r[3] & CPUID_8000000A_EDX_NPT;
	}
	/* trim the brand string's padding */
	char *b = p->brand;
	while (*b == ' ')
		b++;
	memmove(p->brand, b, strlen(b) + 1);
}

static void probe_module(struct host_probe *p)
{
	if (probe_exists("module/kvm_intel")) {
		p->module = "kvm_intel";
		probe_read("module/kvm_intel/parameters/nested", p->nested_param,
			   sizeof(p->nested_param));
		probe_read("module/kvm_intel/parameters/ept", p->paging_param,
			   sizeof(p->paging_param));
	} else if (probe_exists("module/kvm_amd")) {
		p->module = "kvm_amd";
		probe_read("module/kvm_amd/parameters/nested", p->nested_param,
			   sizeof(p->nested_param));
		probe_read("module/kvm_amd/parameters/npt", p->paging_param,
			   sizeof(p->paging_param));
	}
	p->pvm = probe_exists("module/kvm_pvm");
}

static void probe_kvm(struct host_probe *p)
{
	static const struct { int cap; const char *name; } caps[PROBE_CAP_COUNT] = {
		[PROBE_CAP_NESTED_STATE] = { KVM_CAP_NESTED_STATE, "NESTED_STATE" },
		[PROBE_CAP_EXCEPTION_PAYLOAD] = { KVM_CAP_EXCEPTION_PAYLOAD, "EXCEPTION_PAYLOAD" },
		[PROBE_CAP_HYPERV_EVMCS] = { KVM_CAP_HYPERV_ENLIGHTENED_VMCS,
					     "HYPERV_ENLIGHTENED_VMCS" },
		[PROBE_CAP_MAX_VCPUS] = { KVM_CAP_MAX_VCPUS, "MAX_VCPUS" },
		[PROBE_CAP_IRQCHIP] = { KVM_CAP_IRQCHIP, "IRQCHIP" },
		[PROBE_CAP_IOEVENTFD] = { KVM_CAP_IOEVENTFD, "IOEVENTFD" },
		[PROBE_CAP_IRQFD] = { KVM_CAP_IRQFD, "IRQFD" },
	};
	struct stat st;
	struct kvm_cpuid2 *sup;
	int fd;

	for (int i = 0; i < PROBE_CAP_COUNT; i++)
		p->caps[i] = (struct probe_cap){ caps[i].name, -1 };
	snprintf(p->dev_path, sizeof(p->dev_path), "%s", kvm_device_path());
	p->dev_exists = stat(p->dev_path, &st) == 0;
	fd = kvm_open(p->dev_error, sizeof(p->dev_error));
	if (fd < 0) {
		p->dev_errno = -fd;
		return;
	}
	p->api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
	for (int i = 0; i < PROBE_CAP_COUNT; i++)
		p->caps[i].value = ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap);
	sup = x86_cpuid_get_supported(fd);
	if (sup) {
		p->kvm_offers_virt = cpu_policy_has_virt(sup, &p->kvm_offers_npt);
		free(sup);
	}
	close(fd);
}

void host_probe_run(struct host_probe *p)
{
	memset(p, 0, sizeof(*p));
	nest_level_detect(&p->level, nest_cpuid_native);
	probe_cpu(p);
	probe_module(p);
	probe_kvm(p);
}
