/* Unit tests of `nestvm check`'s verdicts (src/nested/check.c) over
 * hand-built struct host_probe values: a ready AMD and Intel host, and each
 * way a machine can fall short, asserted by check id, status and the words
 * of the reason and the fix. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "nested/check.h"

#define UNL NEST_DEPTH_UNLIMITED

struct run {
	struct check_result r[CHECK_MAX];
	int n;
};

/* ---- made-up machines ----------------------------------------------------- */

static void probe_common(struct host_probe *p)
{
	static const char *const names[PROBE_CAP_COUNT] = {
		[PROBE_CAP_NESTED_STATE] = "NESTED_STATE",
		[PROBE_CAP_EXCEPTION_PAYLOAD] = "EXCEPTION_PAYLOAD",
		[PROBE_CAP_HYPERV_EVMCS] = "HYPERV_ENLIGHTENED_VMCS",
		[PROBE_CAP_MAX_VCPUS] = "MAX_VCPUS",
		[PROBE_CAP_IRQCHIP] = "IRQCHIP",
		[PROBE_CAP_IOEVENTFD] = "IOEVENTFD",
		[PROBE_CAP_IRQFD] = "IRQFD",
	};

	memset(p, 0, sizeof(*p));
	p->level.level = 0;
	p->level.level_exact = true;
	p->level.remaining = UNL;
	snprintf(p->dev_path, sizeof(p->dev_path), "/dev/kvm");
	p->dev_exists = true;
	p->dev_errno = 0;
	p->api_version = 12;
	for (int i = 0; i < PROBE_CAP_COUNT; i++)
		p->caps[i] = (struct probe_cap){ names[i], 1 };
	p->caps[PROBE_CAP_MAX_VCPUS].value = 1024;
	p->kvm_offers_virt = true;
}

/* Bare-metal AMD EPYC, kvm_amd nested=1 npt=1, everything in place. */
static void probe_amd_ready(struct host_probe *p)
{
	probe_common(p);
	p->vendor = CPU_VENDOR_AMD;
	snprintf(p->vendor_id, sizeof(p->vendor_id), "AuthenticAMD");
	snprintf(p->brand, sizeof(p->brand), "AMD EPYC 7R13 Processor");
	p->svm = true;
	p->npt = true;
	p->module = "kvm_amd";
	snprintf(p->nested_param, sizeof(p->nested_param), "1");
	snprintf(p->paging_param, sizeof(p->paging_param), "1");
	p->kvm_offers_npt = true;
	p->caps[PROBE_CAP_NESTED_STATE].value = 4224;
}

/* Bare-metal Intel Xeon, kvm_intel nested=Y ept=Y. */
static void probe_intel_ready(struct host_probe *p)
{
	probe_common(p);
	p->vendor = CPU_VENDOR_INTEL;
	snprintf(p->vendor_id, sizeof(p->vendor_id), "GenuineIntel");
	snprintf(p->brand, sizeof(p->brand), "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz");
	p->vmx = true;
	p->module = "kvm_intel";
	snprintf(p->nested_param, sizeof(p->nested_param), "Y");
	snprintf(p->paging_param, sizeof(p->paging_param), "Y");
	p->kvm_offers_npt = false;   /* EPT is not in CPUID */
	p->caps[PROBE_CAP_NESTED_STATE].value = 8320;
}

/* This machine is a guest of some hypervisor (`sig`), or of nestvm. */
static void under(struct host_probe *p, unsigned int level, bool nestvm, const char *sig,
		  uint32_t remaining)
{
	p->level.level = level;
	p->level.under_hypervisor = true;
	p->level.under_nestvm = nestvm;
	p->level.level_exact = nestvm;
	snprintf(p->level.hv_signature, sizeof(p->level.hv_signature), "%s", sig);
	p->level.remaining = remaining;
	p->level.exposed = nestvm && (p->vmx || p->svm);
}

/* ---- running and reading the checks --------------------------------------- */

static void run_checks(const struct host_probe *p, struct run *out)
{
	memset(out, 0x5a, sizeof(*out));
	out->n = check_host(p, out->r, CHECK_MAX);
	assert_in_range(out->n, 1, CHECK_MAX);
	for (int i = 0; i < out->n; i++) {
		const struct check_result *r = &out->r[i];

		assert_non_null(r->id);
		assert_in_range(r->status, CHECK_PASS, CHECK_FAIL);
		assert_true(strlen(r->reason) > 0);
		assert_true(strlen(r->reason) < sizeof(r->reason));
		assert_true(strlen(r->fix) < sizeof(r->fix));
		/* every result says why; a pass has nothing to fix */
		if (r->status == CHECK_PASS)
			assert_string_equal(r->fix, "");
		/* ids are unique */
		for (int j = 0; j < i; j++)
			assert_string_not_equal(out->r[j].id, r->id);
	}
}

static const struct check_result *find(const struct run *run, const char *id)
{
	for (int i = 0; i < run->n; i++)
		if (strcmp(run->r[i].id, id) == 0)
			return &run->r[i];
	return NULL;
}

static void contains(const char *what, const char *id, const char *s, const char *sub)
{
	if (!strstr(s, sub))
		fail_msg("%s of %s: \"%s\" lacks \"%s\"", what, id, s, sub);
}

/* Check `id` is there with `st`, its reason containing `reason` and its fix
 * `fix` (NULL: not asked; "": must be empty). */
static const struct check_result *expect(const struct run *run, const char *id,
					 enum check_status st, const char *reason, const char *fix)
{
	const struct check_result *r = find(run, id);

	if (!r)
		fail_msg("no result for check %s", id);
	if (r->status != st)
		fail_msg("%s: %s, expected %s (%s)", id, check_status_name(r->status),
			 check_status_name(st), r->reason);
	if (reason)
		contains("reason", id, r->reason, reason);
	if (fix && !*fix)
		assert_string_equal(r->fix, "");
	else if (fix)
		contains("fix", id, r->fix, fix);
	return r;
}

static void expect_absent(const struct run *run, const char *id)
{
	const struct check_result *r = find(run, id);

	if (r)
		fail_msg("check %s ran: %s %s", id, check_status_name(r->status), r->reason);
}

static int count_status(const struct run *run, enum check_status st)
{
	int n = 0;

	for (int i = 0; i < run->n; i++)
		n += run->r[i].status == st;
	return n;
}

/* ---- ready hosts ---------------------------------------------------------- */

static void test_amd_ready(void **state)
{
	struct host_probe p;
	struct run run;

	(void)state;
	probe_amd_ready(&p);
	run_checks(&p, &run);
	assert_int_equal(run.n, 7);
	assert_int_equal(count_status(&run, CHECK_PASS), 7);
	expect(&run, "cpu-virtualization", CHECK_PASS, "AMD SVM", "");
	expect(&run, "kvm-module", CHECK_PASS, "kvm_amd is loaded", "");
	expect(&run, "kvm-nested", CHECK_PASS, "kvm_amd nested=1", "");
	expect(&run, "dev-kvm", CHECK_PASS, "/dev/kvm opens (API 12)", "");
	expect(&run, "guest-extensions", CHECK_PASS, "SVM", "");
	expect(&run, "nested-paging", CHECK_PASS, "NPT", "");
	expect(&run, "nested-state", CHECK_PASS, "KVM_CAP_NESTED_STATE=4224", "");
	expect_absent(&run, "depth-limit");   /* not a guest of nestvm */
	assert_true(check_ready(run.r, run.n));
	/* in order: cpu, module, its parameter, the device, what KVM offers */
	assert_string_equal(run.r[0].id, "cpu-virtualization");
	assert_string_equal(run.r[1].id, "kvm-module");
	assert_string_equal(run.r[2].id, "kvm-nested");
	assert_string_equal(run.r[3].id, "dev-kvm");
}

static void test_intel_ready(void **state)
{
	struct host_probe p;
	struct run run;

	(void)state;
	probe_intel_ready(&p);
	run_checks(&p, &run);
	assert_int_equal(run.n, 7);
	assert_int_equal(count_status(&run, CHECK_PASS), 7);
	expect(&run, "cpu-virtualization", CHECK_PASS, "Intel VMX", "");
	expect(&run, "kvm-module", CHECK_PASS, "kvm_intel is loaded", "");
	expect(&run, "kvm-nested", CHECK_PASS, "kvm_intel nested=Y", "");
	expect(&run, "guest-extensions", CHECK_PASS, "VMX", "");
	expect(&run, "nested-paging", CHECK_PASS, "EPT", "");
	expect(&run, "nested-state", CHECK_PASS, "8320", "");
	assert_true(check_ready(run.r, run.n));
}

/* An L1 guest of nestvm started with --nested: ready, with the depth check. */
static void test_nestvm_guest_ready(void **state)
{
	struct host_probe p;
	struct run run;

	(void)state;
	probe_intel_ready(&p);
	under(&p, 1, true, "KVMKVMKVM", UNL);
	run_checks(&p, &run);
	assert_int_equal(run.n, 8);
	expect(&run, "depth-limit", CHECK_PASS, "no depth limit", "");
	assert_true(check_ready(run.r, run.n));

	p.level.remaining = 1;
	run_checks(&p, &run);
	expect(&run, "depth-limit", CHECK_PASS, "no virtualization extensions", "");
	assert_true(check_ready(run.r, run.n));

	p.level.remaining = 4;
	run_checks(&p, &run);
	expect(&run, "depth-limit", CHECK_PASS, "4 more levels", "");
	assert_true(check_ready(run.r, run.n));
}

/* ---- the CPU ------------------------------------------------------------------ */

static void test_bare_metal_no_virt(void **state)
{
	struct host_probe p;
	struct run run;
	const struct check_result *r;

	(void)state;
	probe_amd_ready(&p);
	p.svm = p.npt = false;
	run_checks(&p, &run);
	r = expect(&run, "cpu-virtualization", CHECK_FAIL, "neither VMX nor SVM", "firmware");
	contains("reason", r->id, r->reason, "firmware");
	contains("fix", r->id, r->fix, "BIOS/UEFI");
	contains("fix", r->id, r->fix, "VT-x");
	contains("fix", r->id, r->fix, "AMD-V");
	assert_null(strstr(r->fix, "--nested"));
	assert_false(check_ready(run.r, run.n));

	probe_intel_ready(&p);
	p.vmx = false;
	run_checks(&p, &run);
	expect(&run, "cpu-virtualization", CHECK_FAIL, "firmware", "BIOS/UEFI");
	assert_false(check_ready(run.r, run.n));
}

static void test_unknown_hypervisor_no_virt(void **state)
{
	struct host_probe p;
	struct run run;
	const struct check_result *r;

	(void)state;
	probe_intel_ready(&p);
	p.vmx = false;
	under(&p, 1, false, "Microsoft Hv", UNL);
	run_checks(&p, &run);
	r = expect(&run, "cpu-virtualization", CHECK_FAIL, "\"Microsoft Hv\"",
		   "NestedVirtualization");
	contains("fix", r->id, r->fix, "ExposeVirtualizationExtensions");
	contains("fix", r->id, r->fix, "while the VM is stopped");
	assert_null(strstr(r->fix, "firmware"));
	expect_absent(&run, "depth-limit");
	assert_false(check_ready(run.r, run.n));

	/* same under QEMU TCG, say */
	probe_amd_ready(&p);
	p.svm = p.npt = false;
	under(&p, 1, false, "TCGTCGTCGTCG", UNL);
	run_checks(&p, &run);
	expect(&run, "cpu-virtualization", CHECK_FAIL, "TCGTCGTCGTCG",
	       "ExposeVirtualizationExtensions");
}

static void test_nestvm_guest_without_nested(void **state)
{
	struct host_probe p;
	struct run run;
	const struct check_result *r;

	(void)state;
	probe_intel_ready(&p);
	p.vmx = false;
	under(&p, 2, true, "KVMKVMKVM", UNL);
	run_checks(&p, &run);
	r = expect(&run, "cpu-virtualization", CHECK_FAIL, "the nestvm at L1", "--nested");
	contains("fix", r->id, r->fix, "nestvm run");
	contains("fix", r->id, r->fix, "--max-depth");
	contains("reason", r->id, r->reason, "without --nested");
	assert_null(strstr(r->fix, "firmware"));
	assert_null(strstr(r->fix, "Hyper-V"));
	expect(&run, "depth-limit", CHECK_PASS, NULL, "");
	assert_false(check_ready(run.r, run.n));

	/* an L3 says which level above it left them off */
	under(&p, 3, true, "KVMKVMKVM", 2);
	run_checks(&p, &run);
	expect(&run, "cpu-virtualization", CHECK_FAIL, "the nestvm at L2", "--nested");
}

/* ---- the KVM module and its nested parameter ------------------------------ */

static void test_amd_nested_param_off(void **state)
{
	static const char *const off[] = { "0", "N", "n", "" };
	struct host_probe p;
	struct run run;

	(void)state;
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		const struct check_result *r;

		probe_amd_ready(&p);
		snprintf(p.nested_param, sizeof(p.nested_param), "%s", off[i]);
		run_checks(&p, &run);
		expect(&run, "kvm-module", CHECK_PASS, "kvm_amd", "");
		r = expect(&run, "kvm-nested", CHECK_FAIL, "its guests get no SVM",
			   "modprobe -r kvm_amd && modprobe kvm_amd nested=1");
		contains("fix", r->id, r->fix, "/etc/modprobe.d");
		contains("fix", r->id, r->fix, "options kvm_amd nested=1");
		assert_null(strstr(r->fix, "kvm_intel"));
		contains("reason", r->id, r->reason, off[i][0] ? off[i] : "(absent)");
		assert_false(check_ready(run.r, run.n));
	}
	/* with nested=0 KVM also offers its guests no SVM */
	probe_amd_ready(&p);
	snprintf(p.nested_param, sizeof(p.nested_param), "0");
	p.kvm_offers_virt = p.kvm_offers_npt = false;
	run_checks(&p, &run);
	expect(&run, "kvm-nested", CHECK_FAIL, "nested=0", "modprobe kvm_amd nested=1");
	expect(&run, "guest-extensions", CHECK_FAIL, "no VMX or SVM",
	       "modprobe -r kvm_amd && modprobe kvm_amd nested=1");
	expect_absent(&run, "nested-paging");
}

static void test_intel_nested_param_off(void **state)
{
	struct host_probe p;
	struct run run;
	const struct check_result *r;

	(void)state;
	probe_intel_ready(&p);
	snprintf(p.nested_param, sizeof(p.nested_param), "N");
	run_checks(&p, &run);
	r = expect(&run, "kvm-nested", CHECK_FAIL, "kvm_intel is loaded with nested=N",
		   "modprobe -r kvm_intel && modprobe kvm_intel nested=1");
	contains("reason", r->id, r->reason, "VMX");
	contains("fix", r->id, r->fix, "/etc/modprobe.d");
	contains("fix", r->id, r->fix, "options kvm_intel nested=1");
	assert_null(strstr(r->fix, "kvm_amd"));
	assert_false(check_ready(run.r, run.n));
}

static void test_nested_param_on_spellings(void **state)
{
	static const char *const on[] = { "1", "Y", "y" };
	struct host_probe p;
	struct run run;

	(void)state;
	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		probe_amd_ready(&p);
		snprintf(p.nested_param, sizeof(p.nested_param), "%s", on[i]);
		run_checks(&p, &run);
		expect(&run, "kvm-nested", CHECK_PASS, on[i], "");
	}
}

static void test_no_module(void **state)
{
	struct host_probe p;
	struct run run;

	(void)state;
	/* AMD, nothing loaded, hence no /dev/kvm either */
	probe_amd_ready(&p);
	p.module = NULL;
	p.nested_param[0] = p.paging_param[0] = '\0';
	p.dev_exists = false;
	p.dev_errno = ENOENT;
	run_checks(&p, &run);
	expect(&run, "cpu-virtualization", CHECK_PASS, NULL, "");
	expect(&run, "kvm-module", CHECK_FAIL, "no KVM module (kvm_amd) is loaded",
	       "modprobe kvm_amd nested=1");
	expect_absent(&run, "kvm-nested");
	expect(&run, "dev-kvm", CHECK_FAIL, "/dev/kvm does not exist", "modprobe kvm_amd");
	expect_absent(&run, "guest-extensions");
	expect_absent(&run, "nested-paging");
	expect_absent(&run, "nested-state");
	assert_false(check_ready(run.r, run.n));

	/* Intel */
	probe_intel_ready(&p);
	p.module = NULL;
	p.dev_exists = false;
	p.dev_errno = ENOENT;
	run_checks(&p, &run);
	expect(&run, "kvm-module", CHECK_FAIL, "(kvm_intel)", "modprobe kvm_intel nested=1");
	expect(&run, "dev-kvm", CHECK_FAIL, NULL, "modprobe kvm_intel");

	/* an unknown vendor: the module follows the extension the CPU shows */
	probe_intel_ready(&p);
	p.vendor = CPU_VENDOR_OTHER;
	p.module = NULL;
	run_checks(&p, &run);
	expect(&run, "kvm-module", CHECK_FAIL, "kvm_intel", "modprobe kvm_intel nested=1");
	probe_amd_ready(&p);
	p.vendor = CPU_VENDOR_OTHER;
	p.module = NULL;
	run_checks(&p, &run);
	expect(&run, "kvm-module", CHECK_FAIL, "kvm_amd", "modprobe kvm_amd nested=1");
}

/* A CPU with neither VMX nor SVM (an Intel guest started without --nested,
 * seen on the Intel rig host): the module cannot load yet, so its modprobe
 * fixes say they come after cpu-virtualization's. */
static void test_no_virt_module_fix_after_cpu(void **state)
{
	struct host_probe p;
	struct run run;
	const struct check_result *r;

	(void)state;
	probe_intel_ready(&p);
	p.vmx = false;
	p.module = NULL;
	p.nested_param[0] = p.paging_param[0] = '\0';
	p.dev_exists = false;
	p.dev_errno = ENOENT;
	under(&p, 1, true, "KVMKVMKVM", UNL);
	run_checks(&p, &run);
	expect(&run, "cpu-virtualization", CHECK_FAIL, "without --nested", "--nested");
	r = expect(&run, "kvm-module", CHECK_FAIL, "(kvm_intel)",
		   "modprobe kvm_intel nested=1, once the CPU shows VMX (cpu-virtualization)");
	assert_null(strstr(r->fix, "SVM"));
	expect(&run, "dev-kvm", CHECK_FAIL, "does not exist",
	       "modprobe kvm_intel, once the CPU shows VMX (cpu-virtualization)");
	assert_false(check_ready(run.r, run.n));

	probe_amd_ready(&p);
	p.svm = p.npt = false;
	p.module = NULL;
	p.dev_exists = false;
	p.dev_errno = ENOENT;
	run_checks(&p, &run);
	expect(&run, "kvm-module", CHECK_FAIL, "(kvm_amd)",
	       "modprobe kvm_amd nested=1, once the CPU shows SVM (cpu-virtualization)");
	expect(&run, "dev-kvm", CHECK_FAIL, NULL, "modprobe kvm_amd, once the CPU shows SVM");

	/* with the extension there, the plain modprobe */
	probe_intel_ready(&p);
	p.module = NULL;
	p.dev_exists = false;
	p.dev_errno = ENOENT;
	run_checks(&p, &run);
	r = expect(&run, "kvm-module", CHECK_FAIL, NULL, "modprobe kvm_intel nested=1");
	assert_null(strstr(r->fix, "once"));
	r = expect(&run, "dev-kvm", CHECK_FAIL, NULL, "modprobe kvm_intel");
	assert_null(strstr(r->fix, "once"));
}

static void test_pvm_only(void **state)
{
	struct host_probe p;
	struct run run;
	const struct check_result *r;

	(void)state;
	probe_intel_ready(&p);
	p.vmx = false;
	under(&p, 1, false, "KVMKVMKVM", UNL);
	p.module = NULL;
	p.nested_param[0] = '\0';
	p.pvm = true;
	run_checks(&p, &run);
	r = expect(&run, "kvm-module", CHECK_FAIL, "only kvm_pvm", "hardware virtualization");
	contains("fix", r->id, r->fix, "kvm_intel/kvm_amd");
	assert_null(strstr(r->fix, "modprobe"));
	expect_absent(&run, "kvm-nested");
	assert_false(check_ready(run.r, run.n));

	/* kvm_pvm beside a hardware module is no problem */
	probe_intel_ready(&p);
	p.pvm = true;
	run_checks(&p, &run);
	expect(&run, "kvm-module", CHECK_PASS, "kvm_intel is loaded", "");
	assert_true(check_ready(run.r, run.n));
}

/* ---- /dev/kvm ----------------------------------------------------------------- */

static void test_dev_kvm_missing(void **state)
{
	struct host_probe p;
	struct run run;

	(void)state;
	probe_amd_ready(&p);
	p.dev_exists = false;
	p.dev_errno = ENOENT;
	run_checks(&p, &run);
	expect(&run, "kvm-module", CHECK_PASS, NULL, "");
	expect(&run, "dev-kvm", CHECK_FAIL, "/dev/kvm does not exist", "modprobe kvm_amd");
	/* nothing KVM offers can be known without the device */
	expect_absent(&run, "guest-extensions");
	expect_absent(&run, "nested-paging");
	expect_absent(&run, "nested-state");
	assert_int_equal(run.n, 4);
	assert_false(check_ready(run.r, run.n));

	/* another path (NESTVM_KVM_DEVICE, say) is named as it is */
	snprintf(p.dev_path, sizeof(p.dev_path), "/tmp/nestvm-test/kvm");
	run_checks(&p, &run);
	expect(&run, "dev-kvm", CHECK_FAIL, "/tmp/nestvm-test/kvm does not exist", NULL);
}

static void test_dev_kvm_permission(void **state)
{
	static const int errs[] = { EACCES, EPERM };
	struct host_probe p;
	struct run run;

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		probe_intel_ready(&p);
		p.dev_errno = errs[i];
		snprintf(p.dev_error, sizeof(p.dev_error), "open /dev/kvm: %s", strerror(errs[i]));
		run_checks(&p, &run);
		expect(&run, "dev-kvm", CHECK_FAIL, "permission denied opening /dev/kvm",
		       "usermod -aG kvm");
		expect_absent(&run, "guest-extensions");
		assert_false(check_ready(run.r, run.n));
	}
}

static void test_dev_kvm_other_error(void **state)
{
	struct host_probe p;
	struct run run;
	const struct check_result *r;

	(void)state;
	probe_amd_ready(&p);
	p.dev_errno = ENXIO;
	snprintf(p.dev_error, sizeof(p.dev_error),
		 "KVM_GET_API_VERSION returned 11, not 12\nsecond line of the explanation");
	run_checks(&p, &run);
	r = expect(&run, "dev-kvm", CHECK_FAIL, "/dev/kvm is not usable: KVM_GET_API_VERSION "
		   "returned 11, not 12", "");
	/* only the explanation's first line */
	assert_null(strstr(r->reason, "second line"));
	assert_null(strchr(r->reason, '\n'));
	assert_false(check_ready(run.r, run.n));

	/* an explanation longer than the reason is cut, not overflowed */
	memset(p.dev_error, 'x', sizeof(p.dev_error) - 1);
	p.dev_error[sizeof(p.dev_error) - 1] = '\0';
	run_checks(&p, &run);
	r = expect(&run, "dev-kvm", CHECK_FAIL, "xxxx", "");
	assert_int_equal(strlen(r->reason), sizeof(r->reason) - 1);
}

/* ---- what KVM offers its guests --------------------------------------------- */

static void test_kvm_offers_no_virt(void **state)
{
	struct host_probe p;
	struct run run;

	(void)state;
	probe_amd_ready(&p);
	p.kvm_offers_virt = false;
	p.kvm_offers_npt = false;
	run_checks(&p, &run);
	expect(&run, "kvm-nested", CHECK_PASS, NULL, "");
	expect(&run, "guest-extensions", CHECK_FAIL, "KVM_GET_SUPPORTED_CPUID",
	       "modprobe -r kvm_amd && modprobe kvm_amd nested=1");
	expect_absent(&run, "nested-paging");
	expect(&run, "nested-state", CHECK_PASS, NULL, "");
	assert_false(check_ready(run.r, run.n));

	probe_intel_ready(&p);
	p.kvm_offers_virt = false;
	run_checks(&p, &run);
	expect(&run, "guest-extensions", CHECK_FAIL, "no VMX or SVM",
	       "modprobe -r kvm_intel && modprobe kvm_intel nested=1");
	assert_false(check_ready(run.r, run.n));
}

static void test_no_npt_is_a_warning(void **state)
{
	struct host_probe p;
	struct run run;
	const struct check_result *r;

	(void)state;
	probe_amd_ready(&p);
	p.kvm_offers_npt = false;
	run_checks(&p, &run);
	r = expect(&run, "nested-paging", CHECK_WARN, "no NPT", "kvm_amd nested=1 npt=1");
	contains("reason", r->id, r->reason, "shadow paging");
	assert_int_equal(count_status(&run, CHECK_WARN), 1);
	assert_int_equal(count_status(&run, CHECK_FAIL), 0);
	assert_true(check_ready(run.r, run.n));
}

static void test_no_ept_is_a_warning(void **state)
{
	static const char *const off[] = { "N", "0", "" };
	struct host_probe p;
	struct run run;

	(void)state;
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		probe_intel_ready(&p);
		snprintf(p.paging_param, sizeof(p.paging_param), "%s", off[i]);
		run_checks(&p, &run);
		expect(&run, "nested-paging", CHECK_WARN, "no EPT",
		       "modprobe -r kvm_intel && modprobe kvm_intel nested=1 ept=1");
		assert_true(check_ready(run.r, run.n));
	}
	/* Intel's EPT comes from the ept parameter, not from kvm_offers_npt */
	probe_intel_ready(&p);
	p.kvm_offers_npt = true;
	p.paging_param[0] = '\0';
	run_checks(&p, &run);
	expect(&run, "nested-paging", CHECK_WARN, "EPT", NULL);
}

static void test_no_nested_state_is_a_warning(void **state)
{
	static const int values[] = { 0, -1 };
	struct host_probe p;
	struct run run;

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		probe_amd_ready(&p);
		p.caps[PROBE_CAP_NESTED_STATE].value = values[i];
		run_checks(&p, &run);
		expect(&run, "nested-state", CHECK_WARN, "KVM_CAP_NESTED_STATE", "Linux 5.0");
		assert_int_equal(count_status(&run, CHECK_WARN), 1);
		assert_true(check_ready(run.r, run.n));
	}
}

/* ---- the depth limit ----------------------------------------------------------- */

static void test_depth_limit_reached(void **state)
{
	struct host_probe p;
	struct run run;
	const struct check_result *r;

	(void)state;
	probe_intel_ready(&p);
	under(&p, 3, true, "KVMKVMKVM", 0);
	run_checks(&p, &run);
	r = expect(&run, "depth-limit", CHECK_FAIL, "this machine is L3", "--max-depth");
	contains("fix", r->id, r->fix, "level above");
	assert_int_equal(count_status(&run, CHECK_FAIL), 1);
	assert_false(check_ready(run.r, run.n));

	/* AMD the same */
	probe_amd_ready(&p);
	under(&p, 2, true, "KVMKVMKVM", 0);
	run_checks(&p, &run);
	expect(&run, "depth-limit", CHECK_FAIL, "L2", "raise its --max-depth");
	assert_false(check_ready(run.r, run.n));
}

/* ---- everything wrong at once, and the API's edges ------------------------- */

static void test_everything_wrong(void **state)
{
	struct host_probe p;
	struct run run;

	(void)state;
	probe_common(&p);
	p.vendor = CPU_VENDOR_AMD;
	p.module = NULL;
	p.dev_exists = true;
	p.dev_errno = EACCES;
	run_checks(&p, &run);
	assert_int_equal(run.n, 3);
	expect(&run, "cpu-virtualization", CHECK_FAIL, NULL, "firmware");
	expect(&run, "kvm-module", CHECK_FAIL, NULL, "modprobe kvm_amd nested=1");
	expect(&run, "dev-kvm", CHECK_FAIL, NULL, "usermod -aG kvm");
	assert_int_equal(count_status(&run, CHECK_FAIL), 3);
	assert_false(check_ready(run.r, run.n));
}

/* Fewer slots than checks: no more results than slots, none written past. */
static void test_max_results(void **state)
{
	struct host_probe p;
	struct check_result r[4];
	int n;

	(void)state;
	probe_amd_ready(&p);
	under(&p, 2, true, "KVMKVMKVM", 3);
	memset(r, 0x5a, sizeof(r));
	n = check_host(&p, r, 2);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].id, "cpu-virtualization");
	assert_string_equal(r[1].id, "kvm-module");
	assert_int_equal(((unsigned char *)&r[2])[0], 0x5a);
	assert_int_equal(((unsigned char *)&r[3])[sizeof(r[3]) - 1], 0x5a);

	n = check_host(&p, r, 0);
	assert_int_equal(n, 0);
}

static void test_check_ready_and_names(void **state)
{
	struct check_result r[3];

	(void)state;
	memset(r, 0, sizeof(r));
	assert_true(check_ready(r, 0));
	r[0].status = CHECK_PASS;
	r[1].status = CHECK_WARN;
	r[2].status = CHECK_FAIL;
	assert_true(check_ready(r, 2));
	assert_false(check_ready(r, 3));
	assert_string_equal(check_status_name(CHECK_PASS), "PASS");
	assert_string_equal(check_status_name(CHECK_WARN), "WARN");
	assert_string_equal(check_status_name(CHECK_FAIL), "FAIL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_amd_ready),
		cmocka_unit_test(test_intel_ready),
		cmocka_unit_test(test_nestvm_guest_ready),
		cmocka_unit_test(test_bare_metal_no_virt),
		cmocka_unit_test(test_unknown_hypervisor_no_virt),
		cmocka_unit_test(test_nestvm_guest_without_nested),
		cmocka_unit_test(test_amd_nested_param_off),
		cmocka_unit_test(test_intel_nested_param_off),
		cmocka_unit_test(test_nested_param_on_spellings),
		cmocka_unit_test(test_no_module),
		cmocka_unit_test(test_no_virt_module_fix_after_cpu),
		cmocka_unit_test(test_pvm_only),
		cmocka_unit_test(test_dev_kvm_missing),
		cmocka_unit_test(test_dev_kvm_permission),
		cmocka_unit_test(test_dev_kvm_other_error),
		cmocka_unit_test(test_kvm_offers_no_virt),
		cmocka_unit_test(test_no_npt_is_a_warning),
		cmocka_unit_test(test_no_ept_is_a_warning),
		cmocka_unit_test(test_no_nested_state_is_a_warning),
		cmocka_unit_test(test_depth_limit_reached),
		cmocka_unit_test(test_everything_wrong),
		cmocka_unit_test(test_max_results),
		cmocka_unit_test(test_check_ready_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
