#include "nested/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct check_ctx {
	struct check_result *out;
	int n, max;
};

static void check_add(struct check_ctx *c, const char *id, enum check_status st,
		      const char *fix, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void check_add(struct check_ctx *c, const char *id, enum check_status st,
		      const char *fix, const char *fmt, ...)
{
	struct check_result *r;
	va_list ap;

	if (c->n >= c->max)
		return;
	r = &c->out[c->n++];
	r->id = id;
	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	snprintf(r->fix, sizeof(r->fix), "%s", fix ? fix : "");
}

static const char *check_module_name(const struct host_probe *p)
{
	if (p->module)
		return p->module;
	if (p->vendor == CPU_VENDOR_INTEL || p->vmx)
		return "kvm_intel";
	return "kvm_amd";
}

/* The KVM module cannot load on a CPU that shows neither VMX nor SVM (the
 * kernel refuses: "VMX not supported"): its modprobe fix comes after the
 * CPU's (seen on the Intel rig host, in a guest started without --nested). */
static const char *check_after_cpu(const struct host_probe *p)
{
	if (p->vmx || p->svm)
		return "";
	return strcmp(check_module_name(p), "kvm_amd") == 0
		       ? ", once the CPU shows SVM (cpu-virtualization)"
		       : ", once the CPU shows VMX (cpu-virtualization)";
}

static void check_cpu(const struct host_probe *p, struct check_ctx *c)
{
	const char *ext = p->vmx ? "Intel VMX" : "AMD SVM";

	if (p->vmx || p->svm) {
		check_add(c, "cpu-virtualization", CHECK_PASS, NULL, "the CPU offers %s", ext);
		return;
	}
	if (p->level.under_nestvm)
		check_add(c, "cpu-virtualization", CHECK_FAIL,
			  "stop this VM and start it with nested virtualization on: nestvm run "
			  "--nested (or --expose-virtualization-extensions); keep --max-depth above 1",
			  "the CPU shows neither VMX nor SVM: the nestvm at L%u started this VM "
			  "without --nested (or a --max-depth hid them)", p->level.level - 1);
	else if (p->level.under_hypervisor)
		check_add(c, "cpu-virtualization", CHECK_FAIL,
			  "turn on nested virtualization for this VM at its hypervisor while the VM "
			  "is stopped: EC2 NestedVirtualization=enabled (C8i/M8i/R8i), Hyper-V "
			  "Set-VMProcessor -VMName NAME -ExposeVirtualizationExtensions $true, KVM "
			  "hosts -cpu host with nested=1, nestvm run --nested",
			  "the CPU shows neither VMX nor SVM: this VM's hypervisor (\"%s\") does not "
			  "expose virtualization extensions", p->level.hv_signature);
	else
		check_add(c, "cpu-virtualization", CHECK_FAIL,
			  "enable Intel VT-x or AMD-V (SVM) in the firmware (BIOS/UEFI) setup",
			  "the CPU shows neither VMX nor SVM: virtualization is off in the firmware "
			  "or the CPU lacks it");
}

static void check_module(const struct host_probe *p, struct check_ctx *c)
{
	char fix[256];
	const char *m = check_module_name(p);

	if (p->pvm && !p->module) {
		check_add(c, "kvm-module", CHECK_FAIL,
			  "use a machine with hardware virtualization and kvm_intel/kvm_amd",
			  "only kvm_pvm (software KVM for PVM guest kernels) is loaded");
		return;
	}
	if (p->module) {
		check_add(c, "kvm-module", CHECK_PASS, NULL, "%s is loaded", p->module);
		return;
	}
	snprintf(fix, sizeof(fix), "modprobe %s nested=1%s", m, check_after_cpu(p));
	check_add(c, "kvm-module", CHECK_FAIL, fix, "no KVM module (%s) is loaded", m);
}

static void check_nested_param(const struct host_probe *p, struct check_ctx *c)
{
	char fix[512];
	const char *m = check_module_name(p);

	if (!p->module)
		return;
	if (probe_param_on(p->nested_param)) {
		check_add(c, "kvm-nested", CHECK_PASS, NULL, "%s nested=%s", m, p->nested_param);
		return;
	}
	snprintf(fix, sizeof(fix), "modprobe -r %s && modprobe %s nested=1\n"
		 "to keep it: echo \"options %s nested=1\" > /etc/modprobe.d/kvm-nested.conf",
		 m, m, m);
	check_add(c, "kvm-nested", CHECK_FAIL, fix,
		  "%s is loaded with nested=%s: its guests get no %s", m,
		  p->nested_param[0] ? p->nested_param : "(absent)", p->vmx ? "VMX" : "SVM");
}

static void check_device(const struct host_probe *p, struct check_ctx *c)
{
	char fix[256];

	if (p->dev_errno == 0) {
		check_add(c, "dev-kvm", CHECK_PASS, NULL, "%s opens (API %d)", p->dev_path,
			  p->api_version);
		return;
	}
	if (!p->dev_exists) {
		snprintf(fix, sizeof(fix), "modprobe %s%s", check_module_name(p), check_after_cpu(p));
		check_add(c, "dev-kvm", CHECK_FAIL, fix, "%s does not exist", p->dev_path);
	} else if (p->dev_errno == 13 || p->dev_errno == 1) {
		check_add(c, "dev-kvm", CHECK_FAIL,
			  "sudo usermod -aG kvm $USER, then log in again (or run as root)",
			  "permission denied opening %s", p->dev_path);
	} else {
		check_add(c, "dev-kvm", CHECK_FAIL, NULL, "%s is not usable: %.*s", p->dev_path,
			  (int)strcspn(p->dev_error, "\n"), p->dev_error);
	}
}

static void check_kvm_offers(const struct host_probe *p, struct check_ctx *c)
{
	const char *m = check_module_name(p);
	char fix[256];

	if (p->dev_errno != 0)
		return;
	snprintf(fix, sizeof(fix), "modprobe -r %s && modprobe %s nested=1", m, m);
	if (p->kvm_offers_virt)
		check_add(c, "guest-extensions", CHECK_PASS, NULL,
			  "KVM offers %s to its guests", p->vmx ? "VMX" : "SVM");
	else
		check_add(c, "guest-extensions", CHECK_FAIL, fix,
			  "KVM offers no VMX or SVM to its guests (KVM_GET_SUPPORTED_CPUID)");
	if (p->kvm_offers_virt && (p->vmx ? probe_param_on(p->paging_param) : p->kvm_offers_npt))
		check_add(c, "nested-paging", CHECK_PASS, NULL, "nested guests get %s",
			  p->vmx ? "EPT" : "NPT");
	else if (p->kvm_offers_virt)
		check_add(c, "nested-paging", CHECK_WARN,
			  p->vmx ? "modprobe -r kvm_intel && modprobe kvm_intel nested=1 ept=1"
				 : "modprobe -r kvm_amd && modprobe kvm_amd nested=1 npt=1",
			  "nested guests get no %s: they fall back to shadow paging, much slower",
			  p->vmx ? "EPT" : "NPT");
	if (p->caps[PROBE_CAP_NESTED_STATE].value > 0)
		check_add(c, "nested-state", CHECK_PASS, NULL,
			  "KVM_CAP_NESTED_STATE=%d: nested state can be read and saved",
			  p->caps[PROBE_CAP_NESTED_STATE].value);
	else
		check_add(c, "nested-state", CHECK_WARN, "use Linux 5.0 or later on this machine",
			  "KVM lacks KVM_CAP_NESTED_STATE: no live nested status or snapshots");
}

static void check_depth(const struct host_probe *p, struct check_ctx *c)
{
	if (!p->level.under_nestvm)
		return;
	if (p->level.remaining == 0)
		check_add(c, "depth-limit", CHECK_FAIL,
			  "stop the VM at the level above and raise its --max-depth",
			  "this machine is L%u, the deepest level the --max-depth set above it "
			  "allows: it may not run VMs of its own", p->level.level);
	else if (p->level.remaining == 1)
		check_add(c, "depth-limit", CHECK_PASS, NULL,
			  "VMs may run here, but they get no virtualization extensions (the "
			  "--max-depth set above)");
	else if (p->level.remaining == NEST_DEPTH_UNLIMITED)
		check_add(c, "depth-limit", CHECK_PASS, NULL, "no depth limit");
	else
		check_add(c, "depth-limit", CHECK_PASS, NULL, "%u more levels may nest below here",
			  p->level.remaining);
}

int check_host(const struct host_probe *p, struct check_result *out, int max)
{
	struct check_ctx c = { out, 0, max };

	memset(out, 0, sizeof(*out) * (size_t)max);
	check_cpu(p, &c);
	check_module(p, &c);
	check_nested_param(p, &c);
	check_device(p, &c);
	check_kvm_offers(p, &c);
	check_depth(p, &c);
	return c.n;
}

bool check_ready(const struct check_result *r, int n)
{
	for (int i = 0; i < n; i++)
		if (r[i].status == CHECK_FAIL)
			return false;
	return true;
}

const char *check_status_name(enum check_status s)
{
	switch (s) {
	case CHECK_PASS: return "PASS";
	case CHECK_WARN: return "WARN";
	case CHECK_FAIL:
	default: return "FAIL";
	}
}
