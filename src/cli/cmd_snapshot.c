/* Snapshots from the command line: nestvm snapshot NAME DIR, nestvm
 * restore NAME DIR (machine/snapshot.h does the work in the VM process;
 * `snapshot delete` and `list --snapshots` are in cmd_snapshot_list.c). */
#include "cli/commands.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/vmctl.h"
#include "config/vmconfig.h"
#include "control/spawn.h"
#include "vmm/log.h"

#define SNAPSHOT_API_TIMEOUT_MS (15 * 60 * 1000)

struct snap_args {
	const char *dir_opt;         /* --state-dir */
	const char *name;
	const char *dir;
	bool stop, with_disks, json, eager, help;
};

static const char snapshot_usage[] =
	"usage: nestvm snapshot NAME DIR [--stop] [--with-disks] [--json] [--state-dir DIR]\n"
	"       nestvm snapshot delete NAME DIR\n\n"
	"Save the running (or paused) VM NAME into DIR (new, or empty): every vCPU's\n"
	"state (nested state too, while its own guests run), the irqchip, timers,\n"
	"clock, every device, and guest RAM as a sparse file. The guest is stopped\n"
	"while it is written, then goes on.\n"
	"      --stop        leave the VM stopped, saved (nestvm restore NAME DIR)\n"
	"      --with-disks  copy its disk images into DIR too (reflink when the\n"
	"                    filesystem can): a checkpoint to restore any number of times;\n"
	"                    without it a restore needs the disks unchanged\n"
	"      --json        the result as JSON\n";

static const char restore_usage[] =
	"usage: nestvm restore NAME DIR [--eager] [--state-dir DIR]\n\n"
	"Start the stopped VM NAME from the snapshot in DIR: it goes on where it was\n"
	"saved, its own guests too. The snapshot is checked first (its sections, the\n"
	"VM's vCPUs, memory and devices, this host's CPU and KVM, the disks); a\n"
	"snapshot that does not fit is refused and nothing is changed. Guest RAM is\n"
	"mapped from the snapshot and read as the guest touches it.\n"
	"      --eager       read guest RAM in before the VM starts\n";

static int snap_parse_args(int argc, char **argv, const char *cmd, struct snap_args *a)
{
	char err[256];

	memset(a, 0, sizeof(*a));
	if (vmctl_take_state_dir(&argc, argv, &a->dir_opt, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		bool snap = strcmp(cmd, "snapshot") == 0;

		if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0)
			a->help = true;
		else if (snap && strcmp(o, "--stop") == 0)
			a->stop = true;
		else if (snap && strcmp(o, "--with-disks") == 0)
			a->with_disks = true;
		else if (snap && strcmp(o, "--json") == 0)
			a->json = true;
		else if (!snap && strcmp(o, "--eager") == 0)
			a->eager = true;
		else if (o[0] == '-') {
			log_error("unknown option '%s' (nestvm %s --help)", o, cmd);
			return EXIT_USAGE;
		} else if (!a->name)
			a->name = o;
		else if (!a->dir)
			a->dir = o;
		else {
			log_error("unexpected argument '%s' (nestvm %s --help)", o, cmd);
			return EXIT_USAGE;
		}
	}
	if (!a->help && (!a->name || !a->dir)) {
		log_error("%s needs a VM name and a directory: nestvm %s NAME DIR", cmd, cmd);
		return EXIT_USAGE;
	}
	return 0;
}

/* DIR made absolute: resolved when it exists, else its parent resolved
 * (which must exist) and its last component added. */
static int snap_abs_dir(const char *dir, char *out, size_t len)
{
	char buf[PATH_MAX], copy[PATH_MAX], copy2[PATH_MAX], *parent, *base;

	if (realpath(dir, buf)) {
		snprintf(out, len, "%s", buf);
		return 0;
	}
	if (errno != ENOENT || strlen(dir) >= sizeof(copy)) {
		log_error("snapshot directory %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", dir);
	snprintf(copy2, sizeof(copy2), "%s", dir);
	parent = dirname(copy);
	base = basename(copy2);
	if (!realpath(parent, buf)) {
		log_error("snapshot directory %s: its parent %s: %s", dir, parent, strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(out, len, "%s/%s", strcmp(buf, "/") ? buf : "", base) >= len) {
		log_error("snapshot directory %s: the path is too long", dir);
		return -1;
	}
	return 0;
}

static void snap_print(const char *name, json_t *reply)
{
	char sz[32], mem[32], ram[32];
	json_int_t size = json_integer_value(json_object_get(reply, "size"));
	json_int_t m = json_integer_value(json_object_get(reply, "memory_size"));
	json_int_t r = json_integer_value(json_object_get(reply, "ram"));
	bool nested = json_is_true(json_object_get(reply, "nested_guest_running"));
	bool stopped = json_is_true(json_object_get(reply, "stopped"));
	int disks = (int)json_integer_value(json_object_get(reply, "disks"));

	vmconfig_format_size((uint64_t)size, sz, sizeof(sz));
	vmconfig_format_size((uint64_t)m, mem, sizeof(mem));
	vmconfig_format_size((uint64_t)r, ram, sizeof(ram));
	printf("snapshot of '%s' written to %s: %s (memory %s of %s RAM%s%s), nested guest "
	       "running: %s; guest stopped for %.0f ms; '%s' is %s\n", name,
	       json_string_value(json_object_get(reply, "dir")), sz, mem, ram,
	       json_is_true(json_object_get(reply, "with_disks")) ? ", disks copied" : "",
	       disks && !json_is_true(json_object_get(reply, "with_disks")) ?
	       ", disks recorded" : "", nested ? "yes" : "no",
	       json_real_value(json_object_get(reply, "guest_stopped_ms")), name,
	       stopped ? "stopped" : "running");
}

static int snap_take(struct vmctl *c, const struct snap_args *a, const char *dir)
{
	json_t *body = json_pack("{s:s, s:b, s:b}", "dir", dir, "stop", a->stop, "with_disks",
				 a->with_disks), *reply = NULL;
	long status = 0;
	char err[1024];
	int r;

	if (c->rec.state != VM_STATE_RUNNING && c->rec.state != VM_STATE_PAUSED) {
		log_error("cannot take a snapshot of '%s': it is %s (a snapshot needs a running or "
			  "paused VM)", a->name, vm_state_name(c->rec.state));
		json_decref(body);
		return EXIT_REFUSED;
	}
	r = api_client_request(c->paths.api, "POST", "/v1/vm/snapshot", body,
			       SNAPSHOT_API_TIMEOUT_MS, &status, &reply, err, sizeof(err));
	json_decref(body);
	if (r) {
		log_error("cannot reach '%s': %s", a->name, err);
		return EXIT_VMM_ERROR;
	}
	if (status != 200) {
		const char *msg = json_string_value(json_object_get(reply, "error"));

		log_error("cannot take a snapshot of '%s': %s", a->name, msg ? msg : "failed");
		json_decref(reply);
		return status == 409 ? EXIT_REFUSED : status == 400 ? EXIT_USAGE : EXIT_VMM_ERROR;
	}
	if (a->stop)
		vm_process_wait_gone(&c->paths, 30000);
	if (a->json) {
		json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		snap_print(a->name, reply);
	}
	json_decref(reply);
	return 0;
}

int cmd_snapshot(int argc, char **argv)
{
	struct snap_args a;
	char dir[PATH_MAX];
	struct vmctl c;
	int status;

	if (argc > 1 && strcmp(argv[1], "delete") == 0)
		return cmd_snapshot_delete(argc - 1, argv + 1);
	status = snap_parse_args(argc, argv, "snapshot", &a);
	if (status || a.help) {
		if (a.help)
			fputs(snapshot_usage, stdout);
		return status;
	}
	if (snap_abs_dir(a.dir, dir, sizeof(dir)))
		return EXIT_USAGE;
	status = vmctl_open(&c, a.dir_opt, a.name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		return status;
	status = snap_take(&c, &a, dir);
	vmctl_close(&c);
	return status;
}

int cmd_restore(int argc, char **argv)
{
	struct vmproc_restore rs;
	struct snap_args a;
	char dir[PATH_MAX];
	struct vmctl c;
	int status;

	status = snap_parse_args(argc, argv, "restore", &a);
	if (status || a.help) {
		if (a.help)
			fputs(restore_usage, stdout);
		return status;
	}
	if (!realpath(a.dir, dir)) {
		log_error("cannot restore '%s' from %s: %s", a.name, a.dir, strerror(errno));
		return EXIT_USAGE;
	}
	status = vmctl_open(&c, a.dir_opt, a.name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		return status;
	rs.dir = dir;
	rs.eager = a.eager;
	status = vmctl_start(&c, &rs);
	vmctl_close(&c);
	return status;
}
