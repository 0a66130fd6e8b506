/* nestvm info / nestvm check: where this machine stands for nesting. */
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "nested/check.h"
#include "nested/probe.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "x86/cpu.h"

static const char *info_yes(bool b)
{
	return b ? "yes" : "no";
}

static void info_level_text(const struct nest_level *l, char *buf, size_t len)
{
	if (!l->under_hypervisor)
		snprintf(buf, len, "L0 (bare metal: no hypervisor below)");
	else if (l->under_nestvm)
		snprintf(buf, len, "L%u (a guest of nestvm running at L%u)", l->level, l->level - 1);
	else
		snprintf(buf, len, "L1 (under hypervisor \"%s\"; levels below it cannot be seen)",
			 l->hv_signature);
}

static void info_depth_text(const struct nest_level *l, char *buf, size_t len)
{
	if (l->remaining == NEST_DEPTH_UNLIMITED)
		snprintf(buf, len, "no limit");
	else if (l->remaining == 0)
		snprintf(buf, len, "0: this machine may not run VMs (--max-depth set above)");
	else
		snprintf(buf, len, "%u level%s may nest below this machine", l->remaining,
			 l->remaining == 1 ? "" : "s");
}

static json_t *info_json(const struct host_probe *p)
{
	json_t *caps = json_object();

	for (int i = 0; i < PROBE_CAP_COUNT; i++)
		json_object_set_new(caps, p->caps[i].name, json_integer(p->caps[i].value));
	return json_pack("{s:i, s:b, s:b, s:s, s:s?, s:s, s:b, s:b, s:b, s:s?, s:s, s:s, s:b, "
			 "s:s, s:b, s:s, s:b, s:b, s:o, s:i}",
			 "level", (int)p->level.level, "under_hypervisor", p->level.under_hypervisor,
			 "under_nestvm", p->level.under_nestvm, "hypervisor", p->level.hv_signature,
			 "vendor", p->vendor_id[0] ? p->vendor_id : NULL, "brand", p->brand,
			 "vmx", p->vmx, "svm", p->svm, "npt", p->npt, "kvm_module", p->module,
			 "nested_param", p->nested_param, "paging_param", p->paging_param,
			 "pvm", p->pvm, "kvm_device", p->dev_path, "kvm_usable", p->dev_errno == 0,
			 "kvm_error", p->dev_errno ? p->dev_error : "",
			 "kvm_offers_virt", p->kvm_offers_virt, "kvm_offers_npt", p->kvm_offers_npt,
			 "capabilities", caps, "depth_remaining",
			 p->level.remaining == NEST_DEPTH_UNLIMITED ? -1 : (int)p->level.remaining);
}

static void info_print(const struct host_probe *p)
{
	char buf[256];

	info_level_text(&p->level, buf, sizeof(buf));
	printf("level:          %s\n", buf);
	printf("cpu:            %s%s%s\n", p->vendor_id, p->brand[0] ? ", " : "", p->brand);
	printf("vmx:            %s\n", info_yes(p->vmx));
	printf("svm:            %s\n", info_yes(p->svm));
	if (p->svm)
		printf("nested paging:  %s (npt)\n", info_yes(p->npt));
	else if (p->vmx)
		printf("nested paging:  %s (ept, from %s)\n",
		       info_yes(probe_param_on(p->paging_param)),
		       p->module ? "kvm_intel's ept parameter" : "unknown: kvm_intel not loaded");
	else
		printf("nested paging:  no\n");
	if (p->dev_errno == 0)
		printf("/dev/kvm:       usable (%s, API %d)\n", p->dev_path, p->api_version);
	else
		printf("/dev/kvm:       %s (%s)\n", p->dev_exists ? "not usable" : "missing",
		       p->dev_path);
	if (p->module)
		printf("kvm module:     %s nested=%s %s=%s\n", p->module,
		       p->nested_param[0] ? p->nested_param : "?",
		       strcmp(p->module, "kvm_intel") == 0 ? "ept" : "npt",
		       p->paging_param[0] ? p->paging_param : "?");
	else
		printf("kvm module:     none loaded%s\n", p->pvm ? " (kvm_pvm: software PVM)" : "");
	if (p->dev_errno == 0) {
		printf("guests get:     %s, nested paging %s\n",
		       p->kvm_offers_virt ? (p->vmx ? "VMX" : "SVM") : "no VMX/SVM",
		       info_yes(p->kvm_offers_npt || (p->vmx && probe_param_on(p->paging_param))));
		printf("kvm caps:      ");
		for (int i = 0; i < PROBE_CAP_COUNT; i++)
			printf(" %s=%d", p->caps[i].name, p->caps[i].value);
		printf("\n");
	}
	info_depth_text(&p->level, buf, sizeof(buf));
	printf("max depth:      %s\n", buf);
}

/* KVM_GET_SUPPORTED_CPUID as a table: "function index flags eax ebx ecx edx"
 * in hex, one entry a line (the format of tests/unit/fixtures/cpuid-*.txt). */
static int info_print_cpuid(void)
{
	char err[512];
	int fd = kvm_open(err, sizeof(err));
	struct kvm_cpuid2 *c;

	if (fd < 0) {
		log_error("%s", err);
		return EXIT_NO_KVM;
	}
	c = x86_cpuid_get_supported(fd);
	close(fd);
	if (!c) {
		log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		return EXIT_VMM_ERROR;
	}
	printf("# KVM_GET_SUPPORTED_CPUID: function index flags eax ebx ecx edx\n");
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		printf("%08x %x %x %08x %08x %08x %08x\n", e->function, e->index, e->flags, e->eax,
		       e->ebx, e->ecx, e->edx);
	}
	free(c);
	return 0;
}

/* Parse "[--json]"; returns 1 for --json, 0 without, -1 on bad usage. */
static int info_parse(int argc, char **argv, const char *usage)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "cpuid", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, json = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jh", longopts, NULL)) != -1) {
		if (c == 'j') {
			json = 1;
		} else if (c == 'c' && strcmp(argv[0], "info") == 0) {
			json = 3;
		} else if (c == 'h') {
			fputs(usage, stdout);
			return 2;
		} else {
			log_error("unknown option '%s'", argv[optind - 1]);
			fputs(usage, stderr);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return json;
}

int cmd_info(int argc, char **argv)
{
	static const char usage[] =
		"usage: nestvm info [--json | --cpuid]\n\n"
		"Where this machine stands for nested virtualization: its level (bare metal,\n"
		"an unknown hypervisor, or L1/L2/L3... under nestvm), CPU vendor, VMX/SVM and\n"
		"EPT/NPT, /dev/kvm, the KVM module's nested parameter and capabilities.\n"
		"--cpuid prints KVM's supported CPUID table instead.\n";
	struct host_probe p;
	int json = info_parse(argc, argv, usage);

	if (json < 0)
		return EXIT_USAGE;
	if (json == 2)
		return 0;
	if (json == 3)
		return info_print_cpuid();
	host_probe_run(&p);
	if (json) {
		json_t *j = info_json(&p);
		json_dumpf(j, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(j);
	} else {
		info_print(&p);
	}
	return 0;
}

int cmd_check(int argc, char **argv)
{
	static const char usage[] =
		"usage: nestvm check [--json]\n\n"
		"Can this machine run nested-capable VMs? Each check prints PASS, WARN or FAIL,\n"
		"the reason and the exact fix. Exit status 0 only when nested guests can be\n"
		"created here, 1 otherwise.\n";
	struct check_result r[CHECK_MAX];
	struct host_probe p;
	char lvl[256];
	int json = info_parse(argc, argv, usage), n, fails = 0;
	bool ready;

	if (json < 0)
		return EXIT_USAGE;
	if (json == 2)
		return 0;
	host_probe_run(&p);
	n = check_host(&p, r, CHECK_MAX);
	ready = check_ready(r, n);
	for (int i = 0; i < n; i++)
		fails += r[i].status == CHECK_FAIL;
	if (json) {
		json_t *arr = json_array(), *j;
		for (int i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "id", r[i].id,
							     "status", check_status_name(r[i].status),
							     "reason", r[i].reason, "fix", r[i].fix));
		j = json_pack("{s:b, s:i, s:o}", "ready", ready, "level", (int)p.level.level,
			      "checks", arr);
		json_dumpf(j, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(j);
		return ready ? 0 : 1;
	}
	info_level_text(&p.level, lvl, sizeof(lvl));
	printf("nestvm check: can this machine run nested-capable VMs?\n  this machine: %s\n", lvl);
	for (int i = 0; i < n; i++) {
		printf("%s  %-18s  %s\n", check_status_name(r[i].status), r[i].id, r[i].reason);
		if (r[i].status != CHECK_PASS && r[i].fix[0]) {
			char fix[sizeof(r[i].fix)], *line, *save = NULL;
			snprintf(fix, sizeof(fix), "%s", r[i].fix);
			for (line = strtok_r(fix, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
				printf("      fix: %s\n", line);
		}
	}
	if (ready)
		printf("result: ready: nested guests can be created here\n");
	else
		printf("result: not ready: %d problem%s to fix before nested guests can run here\n",
		       fails, fails == 1 ? "" : "s");
	return ready ? 0 : 1;
}
