/* VM definitions: nestvm create, list, show, set, delete. */
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/options.h"
#include "cli/vmctl.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "vmm/log.h"

#define SHOW_API_TIMEOUT_MS 5000

static const char *vm_usage_create(void)
{
	return "usage: nestvm create NAME [run options]\n"
	       "\n"
	       "Define a VM named NAME (1-63 characters: letters, digits, '.', '_', '-') with\n"
	       "the options of `nestvm run` (see nestvm run --help): --kernel is required;\n"
	       "paths are stored absolute. The VM is created stopped: nestvm start NAME.\n"
	       "\n"
	       "  --state-dir DIR   where definitions live (default: $NESTVM_STATE_DIR, else\n"
	       "                    /var/lib/nestvm for root, ~/.local/state/nestvm otherwise)\n";
}

/* Split "NAME [options]": argv[1] is the name unless it is an option. */
static const char *vm_take_name(int argc, char **argv, const char *cmd)
{
	if (argc < 2 || argv[1][0] == '-') {
		log_error("%s needs a VM name: nestvm %s NAME (nestvm %s --help)", cmd, cmd, cmd);
		return NULL;
	}
	return argv[1];
}

static bool vm_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static int vm_state_dir_arg(int *argc, char **argv, const char **dir)
{
	char err[256];

	if (vmctl_take_state_dir(argc, argv, dir, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	return 0;
}

/* "NAME [--state-dir DIR]" and nothing else (show, delete): 0 with *dir
 * and *name set; -1 when --help printed `usage`; EXIT_USAGE on an error,
 * already reported. */
static int vm_parse_name_only(int argc, char **argv, const char *cmd, const char *usage,
			      const char **dir, const char **name)
{
	if (vm_state_dir_arg(&argc, argv, dir))
		return EXIT_USAGE;
	if (vm_wants_help(argc, argv)) {
		puts(usage);
		return -1;
	}
	*name = vm_take_name(argc, argv, cmd);
	if (!*name)
		return EXIT_USAGE;
	if (argc > 2) {
		log_error("unexpected argument '%s' (nestvm %s --help)", argv[2], cmd);
		return EXIT_USAGE;
	}
	return 0;
}

int cmd_create(int argc, char **argv)
{
	struct run_options opt;
	struct vm_config *d;
	struct vmctl c;
	const char *dir, *name;
	char err[1024] = "";
	int r, status;

	if (vm_state_dir_arg(&argc, argv, &dir))
		return EXIT_USAGE;
	if (vm_wants_help(argc, argv)) {
		fputs(vm_usage_create(), stdout);
		return 0;
	}
	name = vm_take_name(argc, argv, "create");
	if (!name)
		return EXIT_USAGE;
	memset(&opt, 0, sizeof(opt));
	if (vmconfig_check_name(name, err, sizeof(err)) ||
	    options_parse_run(argc - 1, argv + 1, &opt, err, sizeof(err)) ||
	    vmconfig_set_string(&opt.cfg.name, name) ||
	    vmconfig_resolve_paths(&opt.cfg, err, sizeof(err)) ||
	    vmconfig_check(&opt.cfg, err, sizeof(err))) {
		log_error("%s", err);
		options_free(&opt);
		return EXIT_USAGE;
	}
	d = &opt.cfg;
	status = vmctl_open(&c, dir, name, VMCTL_LOCK);
	if (status) {
		options_free(&opt);
		return status;
	}
	r = registry_create(c.reg, d, err, sizeof(err));
	if (r)
		log_error("%s", err);
	else
		printf("created '%s' (stopped): %u vCPU%s, %llu MiB, nested %s; start it with "
		       "nestvm start %s\n", name, d->cpus, d->cpus == 1 ? "" : "s",
		       (unsigned long long)(d->memory >> 20), d->nested ? "on" : "off", name);
	vmctl_close(&c);
	options_free(&opt);
	return vmctl_status(r);
}

static void vm_iso_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm))
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *vm_time_json(int64_t t)
{
	char buf[32];

	if (t <= 0)
		return json_null();
	vm_iso_time(t, buf, sizeof(buf));
	return json_string(buf);
}

/* ---- list ---- */

static int vm_list_reconcile(struct vmctl *c, struct vm_record *rec)
{
	struct vm_paths p;
	char err[512];
	int fd;

	if (!vm_state_active(rec->state) ||
	    vm_paths_get(c->state_dir, rec->name, &p, err, sizeof(err)))
		return 0;
	fd = vm_oplock_take(&p, rec->name, 0, err, sizeof(err));
	if (fd < 0)
		return 0;  /* a command is working on it: it will record the truth */
	if (vm_reconcile(c->reg, &p, rec, err, sizeof(err)))
		log_warn("%s", err);
	close(fd);
	return 0;
}

static void vm_list_table(const struct vm_record *v, size_t n)
{
	printf("%-20s %-9s %5s %9s %-6s %-5s %-5s %s\n", "NAME", "STATE", "CPUS", "MEMORY",
	       "NESTED", "DISKS", "NICS", "REASON");
	for (size_t i = 0; i < n; i++) {
		char mem[32];

		const struct vm_config *d = &v[i].cfg;

		vmconfig_format_size(d->memory, mem, sizeof(mem));
		printf("%-20s %-9s %5u %9s %-6s %-5u %-5u %s\n", v[i].name,
		       vm_state_name(v[i].state), d->cpus, mem, d->nested ? "on" : "off",
		       vmconfig_count(d, &virtio_blk_class), vmconfig_count(d, &virtio_net_class),
		       v[i].reason);
	}
}

int cmd_list(int argc, char **argv)
{
	struct vm_record *v = NULL;
	struct vmctl c;
	const char *dir;
	bool json = false;
	char err[1024];
	size_t n = 0;
	int r;

	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--snapshots", 11) == 0)
			return cmd_list_snapshots(argc, argv);
	if (vm_state_dir_arg(&argc, argv, &dir))
		return EXIT_USAGE;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			puts("usage: nestvm list [--json] [--state-dir DIR]\n"
			     "       nestvm list --snapshots NAME [--json] [--state-dir DIR]\n\n"
			     "Every defined VM with its state (a VM whose process died shows as "
			     "crashed);\nwith --snapshots, the snapshots of VM NAME "
			     "(nestvm list --snapshots --help).");
			return 0;
		} else {
			log_error("unknown option '%s' (nestvm list --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	r = vmctl_open(&c, dir, NULL, 0);
	if (r)
		return r;
	r = registry_list(c.reg, &v, &n, err, sizeof(err));
	if (r) {
		log_error("%s", err);
		vmctl_close(&c);
		return EXIT_VMM_ERROR;
	}
	for (size_t i = 0; i < n; i++)
		vm_list_reconcile(&c, &v[i]);
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o}", "name",
				v[i].name, "state", vm_state_name(v[i].state), "reason",
				v[i].reason, "config", vmconfig_to_json(&v[i].cfg)));
		json_dumpf(a, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(a);
	} else {
		vm_list_table(v, n);
	}
	registry_list_free(v, n);
	vmctl_close(&c);
	return 0;
}

/* ---- show ---- */

/* What the running VM's process says about itself (GET /v1/vm). */
static json_t *vm_show_live(const struct vmctl *c)
{
	char err[512];
	json_t *reply = NULL;
	long status = 0;
	int r;

	r = api_client_request(c->paths.api, "GET", "/v1/vm", NULL, SHOW_API_TIMEOUT_MS, &status,
			       &reply, err, sizeof(err));
	if (r)
		return json_pack("{s:s}", "error", err);
	if (status != 200 || !reply) {
		json_t *e = json_pack("{s:s, s:i}", "error", "the VM's API answered with an error",
				      "status", (int)status);

		if (reply)
			json_object_set_new(e, "reply", reply);
		return e;
	}
	return reply;
}

static json_t *vm_record_json(const struct vmctl *c, const struct vm_record *rec)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "name", rec->name,
			      "state", vm_state_name(rec->state),
			      "reason", rec->reason,
			      "pid", rec->pid > 0 ? json_integer(rec->pid) : json_null(),
			      "created", vm_time_json(rec->created),
			      "state_changed", vm_time_json(rec->state_changed),
			      "started", vm_time_json(rec->started),
			      "last_exit", rec->last_exit >= 0 ? json_integer(rec->last_exit) :
					   json_null(),
			      "config", vmconfig_to_json(&rec->cfg));

	json_object_set_new(j, "files", json_pack("{s:s, s:s, s:s, s:s}",
		"console_log", c->paths.console_log, "nestvm_log", c->paths.vmm_log,
		"api_socket", c->paths.api, "console_socket", c->paths.console));
	return j;
}

int cmd_show(int argc, char **argv)
{
	struct vmctl c;
	const char *dir, *name;
	json_t *j;
	int status;

	status = vm_parse_name_only(argc, argv, "show",
		"usage: nestvm show NAME [--state-dir DIR]\n\n"
		"The VM's definition and state as JSON; while it runs, also what its process\n"
		"reports under \"live\": uptime, exits, and the live nested status (has the\n"
		"guest turned VMX/SVM on, is a nested guest running right now).", &dir, &name);
	if (status)
		return status < 0 ? 0 : status;
	status = vmctl_open(&c, dir, name, VMCTL_TRYLOCK | VMCTL_GET);
	if (status)
		return status;
	j = vm_record_json(&c, &c.rec);
	json_object_set_new(j, "live", vm_state_active(c.rec.state) ? vm_show_live(&c) :
			    json_null());
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
	vmctl_close(&c);
	return 0;
}

/* ---- delete ---- */

int cmd_delete(int argc, char **argv)
{
	struct vmctl c;
	const char *dir, *name;
	char err[1024];
	int r, status;

	status = vm_parse_name_only(argc, argv, "delete",
		"usage: nestvm delete NAME [--state-dir DIR]\n\n"
		"Remove a stopped (or crashed) VM's definition and its logs. Its disk images\n"
		"are left alone. Refused while the VM runs: stop it first.", &dir, &name);
	if (status)
		return status < 0 ? 0 : status;
	status = vmctl_open(&c, dir, name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		return status;
	r = registry_delete(c.reg, name, err, sizeof(err));
	if (r) {
		log_error("%s", err);
	} else {
		vm_dir_remove(&c.paths);
		printf("deleted '%s'\n", name);
	}
	vmctl_close(&c);
	return vmctl_status(r);
}

/* ---- set ---- */

int cmd_set(int argc, char **argv)
{
	struct set_options *s = calloc(1, sizeof(*s));
	struct vm_config d = { 0 };
	struct vmctl c;
	const char *dir = NULL, *name;
	char err[1024], what[256];
	bool was_nested;
	int r = -EINVAL, status = EXIT_USAGE;

	if (!s)
		goto out;
	if (vm_state_dir_arg(&argc, argv, &dir))
		goto out;
	if (vm_wants_help(argc, argv)) {
		fputs(options_set_usage(), stdout);
		status = 0;
		goto out;
	}
	name = vm_take_name(argc, argv, "set");
	if (!name)
		goto out;
	if (options_parse_set(argc - 1, argv + 1, s, err, sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	status = vmctl_open(&c, dir, name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		goto out;
	if (vmconfig_copy(&d, &c.rec.cfg)) {
		log_error("out of memory");
		vmctl_close(&c);
		status = EXIT_VMM_ERROR;
		goto out;
	}
	was_nested = d.nested;
	r = options_set_apply(&d, s, what, sizeof(what), err, sizeof(err));
	if (r) {
		/* A path or value the user gave: their input. */
		log_error("%s", err);
		vmctl_close(&c);
		status = EXIT_USAGE;
		goto out;
	}
	r = registry_update(c.reg, &d, what, err, sizeof(err));
	if (r) {
		log_error("%s", err);
	} else {
		printf("updated '%s': %s\n", name, what);
		if (s->has_nested && was_nested != d.nested)
			printf("nested virtualization is now %s (takes effect at the next start)\n",
			       d.nested ? "on" : "off");
	}
	status = vmctl_status(r);
	vmctl_close(&c);
out:
	if (s)
		options_set_free(s);
	free(s);
	vmconfig_free(&d);
	return status;
}
