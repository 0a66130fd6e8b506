/* nestvm check NAME [--fix [--yes] [--stop]] [--json]: what must change for
 * VM NAME to run a hypervisor inside, and (--fix) the changes made. */
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/options.h"
#include "cli/vmctl.h"
#include "lifecycle/vm_check.h"
#include "nested/probe.h"
#include "vmm/log.h"

struct checkvm_args {
	const char *dir, *name;
	bool fix, yes, stop, json;
	int timeout_s;
};

static const char checkvm_usage[] =
	"usage: nestvm check NAME [--fix [--yes] [--stop [--timeout S]]] [--json]\n"
	"\n"
	"What must change for VM NAME to run a hypervisor inside: nested virtualization\n"
	"off, a --max-depth of 1, less than 1 GiB of memory, no way for nested guests to\n"
	"reach a network, the VM running (changes need it stopped), and this host's own\n"
	"readiness (nestvm check). Exit status 0 when nothing blocks a hypervisor inside.\n"
	"\n"
	"  --fix          show the changes, ask for confirmation, and apply them\n"
	"  --yes          do not ask\n"
	"  --stop         stop a running VM first (gracefully, forced after --timeout S,\n"
	"                 default 60); without it a running VM is left alone\n"
	"  --json         findings as JSON (no changes)\n"
	"  --state-dir DIR\n";

static int checkvm_parse(int argc, char **argv, struct checkvm_args *a)
{
	static const struct option longopts[] = {
		{ "fix", no_argument, NULL, 'f' }, { "yes", no_argument, NULL, 'y' },
		{ "stop", no_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	unsigned int t;
	int c;

	memset(a, 0, sizeof(*a));
	a->timeout_s = 60;
	if (vmctl_take_state_dir(&argc, argv, &a->dir, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': a->fix = true; break;
		case 'y': a->yes = true; break;
		case 's': a->stop = true; break;
		case 'j': a->json = true; break;
		case 't':
			if (options_parse_uint("--timeout", optarg, 0, 86400, &t, err, sizeof(err))) {
				log_error("%s", err);
				return EXIT_USAGE;
			}
			a->timeout_s = (int)t;
			break;
		case 'h':
			fputs(checkvm_usage, stdout);
			return -1;
		default:
			log_error("unknown option or missing value '%s' (nestvm check --help)",
				  argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("check takes one VM name (nestvm check --help)");
		return EXIT_USAGE;
	}
	a->name = argv[optind];
	if ((a->yes || a->stop) && !a->fix) {
		log_error("--yes and --stop go with --fix");
		return EXIT_USAGE;
	}
	if (a->fix && a->json) {
		log_error("--fix and --json do not go together: look first (--json), then fix");
		return EXIT_USAGE;
	}
	return 0;
}

/* The host must be able to nest too: one finding summing up `nestvm check`. */
static int checkvm_host(struct vm_check_item *it, const char *name)
{
	struct check_result r[CHECK_MAX];
	struct host_probe p;
	int n;

	memset(it, 0, sizeof(*it));
	host_probe_run(&p);
	n = check_host(&p, r, CHECK_MAX);
	it->r.id = "host";
	if (check_ready(r, n)) {
		it->r.status = CHECK_PASS;
		snprintf(it->r.reason, sizeof(it->r.reason), "this host can run nested-capable VMs");
		return 0;
	}
	it->r.status = CHECK_FAIL;
	for (int i = 0; i < n; i++) {
		if (r[i].status == CHECK_FAIL) {
			snprintf(it->r.reason, sizeof(it->r.reason), "this host cannot give '%s' "
				 "VMX/SVM: %s", name, r[i].reason);
			break;
		}
	}
	snprintf(it->r.fix, sizeof(it->r.fix), "nestvm check   (the host's own checks and fixes)");
	return 1;
}

static void checkvm_print(const struct vm_check_item *it, int n, bool json, const char *name)
{
	bool ready = true;

	for (int i = 0; i < n; i++)
		ready &= it[i].r.status != CHECK_FAIL;
	if (json) {
		json_t *arr = json_array(), *j;

		for (int i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "id",
				it[i].r.id, "status", check_status_name(it[i].r.status), "reason",
				it[i].r.reason, "fix", it[i].r.fix));
		j = json_pack("{s:s, s:b, s:o}", "name", name, "ready", ready, "checks", arr);
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
		return;
	}
	printf("nestvm check %s: can this VM run a hypervisor inside?\n", name);
	for (int i = 0; i < n; i++) {
		printf("%s  %-13s %s\n", check_status_name(it[i].r.status), it[i].r.id,
		       it[i].r.reason);
		if (it[i].r.status != CHECK_PASS && it[i].r.fix[0])
			printf("      fix: %s\n", it[i].r.fix);
	}
	printf("result: %s\n", ready ? "ready: a hypervisor can run inside" :
	       "not ready: fix the FAIL lines (nestvm check NAME --fix does the VM's)");
}

static bool checkvm_confirm(void)
{
	char line[16];

	printf("Apply these changes? [y/N] ");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

static int checkvm_fix(struct vmctl *c, struct vm_check_item *it, int n,
		       const struct checkvm_args *a)
{
	struct vm_config cfg, *d = &cfg;
	char diff[1024], err[512];
	int status = 0, r;

	if (vmconfig_copy(d, &c->rec.cfg))
		return EXIT_VMM_ERROR;
	if (!vm_check_apply(d, it, n)) {
		printf("nothing in '%s's definition to change\n", a->name);
		vmconfig_free(d);
		return 0;
	}
	vm_check_diff(&c->rec.cfg, d, diff, sizeof(diff));
	printf("Changes for '%s':\n%s", a->name, diff);
	if (vm_state_active(c->rec.state) && !a->stop) {
		log_error("'%s' is %s: these changes need it stopped; add --stop to stop it first "
			  "(or nestvm stop %s)", a->name, vm_state_name(c->rec.state), a->name);
		vmconfig_free(d);
		return EXIT_REFUSED;
	}
	if (vm_state_active(c->rec.state))
		printf("'%s' will be stopped first (graceful, forced after %d s)\n", a->name,
		       a->timeout_s);
	if (!a->yes && !(isatty(STDIN_FILENO) && checkvm_confirm())) {
		printf("%s\n", isatty(STDIN_FILENO) ? "nothing changed" :
		       "nothing changed: not a terminal to confirm on; add --yes");
		vmconfig_free(d);
		return EXIT_REFUSED;
	}
	if (vm_state_active(c->rec.state)) {
		status = vmctl_stop(c, a->timeout_s);
		if (status == 0)
			status = registry_get(c->reg, a->name, &c->rec, err, sizeof(err)) ?
				 EXIT_VMM_ERROR : 0;
	}
	if (status == 0) {
		r = registry_update(c->reg, d, "its definition", err, sizeof(err));
		if (r)
			log_error("%s", err);
		else
			printf("applied; start it with: nestvm start %s\n", a->name);
		status = vmctl_status(r);
	}
	vmconfig_free(d);
	return status;
}

int cmd_check_vm(int argc, char **argv)
{
	struct vm_check_item it[VM_CHECK_MAX];
	struct checkvm_args a;
	struct vmctl c;
	int status, n, fails = 0;

	status = checkvm_parse(argc, argv, &a);
	if (status)
		return status < 0 ? 0 : status;
	status = vmctl_open(&c, a.dir, a.name, (a.fix ? VMCTL_LOCK : VMCTL_TRYLOCK) | VMCTL_GET);
	if (status)
		return status;
	n = vm_check_def(&c.rec.cfg, c.rec.state, it, VM_CHECK_MAX - 1);
	fails += checkvm_host(&it[n++], a.name);
	for (int i = 0; i < n - 1; i++)
		fails += it[i].r.status == CHECK_FAIL;
	checkvm_print(it, n, a.json, a.name);
	if (a.fix)
		status = checkvm_fix(&c, it, n, &a);
	vmctl_close(&c);
	if (status)
		return status;
	if (a.fix) {
		/* After a successful fix only the host can still be in the way. */
		return it[n - 1].r.status == CHECK_FAIL ? 1 : 0;
	}
	return fails ? 1 : 0;
}
