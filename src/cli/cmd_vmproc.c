/* `nestvm vm-process`: the background process of a VM that `nestvm start`
 * launched (not for users: start runs it, detached, with its liveness lock
 * and a pipe to report readiness on).
 *
 *   nestvm vm-process --state-dir DIR --ready-fd N --lock-fd M NAME
 *
 * It boots the VM from its definition in the registry, with the serial
 * console on a socket and in console.log, serves the control API, and
 * records every state change: running once the vCPUs start, paused and
 * stopping through the API, and how it ended (stopped or crashed, with the
 * reason and its exit status). A reboot of the guest boots it again in the
 * same process, as a machine reboots. */
#include "cli/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/runner.h"
#include "lifecycle/vmdir.h"
#include "registry/registry.h"
#include "vmm/console_sock.h"
#include "vmm/log.h"
#include "x86/state_roundtrip.h"

#define VMPROC_NESTED_SAMPLE_MS 200

struct vmproc {
	char state_dir[VMDIR_PATH_MAX];
	struct vm_paths paths;
	struct registry *reg;
	pthread_mutex_t reg_lock;      /* one registry connection, API and main thread */
	struct vm_record rec;          /* the definition as started */
	struct run_options opt;
	int ready_fd;                  /* -1 once readiness was reported */
	int log_fd;                    /* console.log */
	struct console_sock cs;
	bool cs_started;
	struct api_server *api;
	time_t started;
	unsigned int boots;

	/* The VM of the current boot, for the API thread: NULL between boots. */
	pthread_mutex_t lock;
	struct runner *live;
	enum vm_state state;           /* as last recorded */
	bool stop_requested;           /* shutdown/poweroff asked: no reboot loop */
	bool forced;                   /* poweroff action */
};

static int vmproc_transition(struct vmproc *p, enum vm_op op, const char *reason, int last_exit,
			     char *err, size_t errlen)
{
	struct vm_transition t = { .reason = reason, .pid = getpid(), .last_exit = last_exit };
	enum vm_state to;
	int r;

	pthread_mutex_lock(&p->reg_lock);
	r = registry_transition(p->reg, p->rec.def.name, op, &t, NULL, err, errlen);
	pthread_mutex_unlock(&p->reg_lock);
	if (r == 0 && vm_state_next(p->state, op, &to) == 0)
		p->state = to;
	return r;
}

/* Tell `nestvm start` how the start went: "OK <pid>" or "ERR <status> <message>". */
static void vmproc_report_ready(struct vmproc *p, int status, const char *msg)
{
	char line[1200];
	int n;

	if (p->ready_fd < 0)
		return;
	if (status == 0)
		n = snprintf(line, sizeof(line), "OK %d\n", (int)getpid());
	else
		n = snprintf(line, sizeof(line), "ERR %d %s\n", status, msg);
	if (n > 0 && write(p->ready_fd, line, (size_t)n) < 0)
		log_warn("cannot report readiness to nestvm start: %s", strerror(errno));
	close(p->ready_fd);
	p->ready_fd = -1;
}

/* ---- the API's view (called on the API server's thread) ---- */

static json_t *vmproc_exits_json(struct runner *r)
{
	uint64_t all = 0, io = 0, mmio = 0, other = 0;

	for (unsigned int i = 0; i < r->vm.ncpus; i++) {
		struct vcpu_stats *s = &r->vm.vcpus[i].stats;

		/* Counters of running vCPU threads: a relaxed snapshot. */
		all += __atomic_load_n(&s->exits, __ATOMIC_RELAXED);
		io += __atomic_load_n(&s->exits_io, __ATOMIC_RELAXED);
		mmio += __atomic_load_n(&s->exits_mmio, __ATOMIC_RELAXED);
		other += __atomic_load_n(&s->exits_other, __ATOMIC_RELAXED);
	}
	return json_pack("{s:I, s:I, s:I, s:I}", "total", (json_int_t)all, "port_io",
			 (json_int_t)io, "mmio", (json_int_t)mmio, "other", (json_int_t)other);
}

/* Live nested status: sregs and nested state sampled by each vCPU, and
 * KVM's nested VMRUN/VMLAUNCH counter sampled twice, so "a nested guest is
 * running right now" does not depend on catching it in guest mode. */
static json_t *vmproc_nested_json(struct vmproc *p, struct runner *r, char *err, size_t errlen)
{
	unsigned int n = r->vm.ncpus;
	struct vcpu_nested_status *st = calloc(n, sizeof(*st));
	uint64_t *before = calloc(n, sizeof(*before)), *after = calloc(n, sizeof(*after));
	struct timespec pause = { 0, VMPROC_NESTED_SAMPLE_MS * 1000000L };
	bool runs_ok, any_virt = false, any_guest = false;
	uint64_t delta = 0;
	char level[8];
	json_t *vcpus, *j = NULL;

	if (!st || !before || !after) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	runs_ok = vm_nested_runs(&r->vm, before) == 0;
	nanosleep(&pause, NULL);
	runs_ok = runs_ok && vm_nested_runs(&r->vm, after) == 0;
	if (vm_nested_status(&r->vm, st, err, errlen))
		goto out;
	vcpus = json_array();
	for (unsigned int i = 0; i < n; i++) {
		uint64_t d = runs_ok && after[i] != UINT64_MAX && after[i] >= before[i] ?
			after[i] - before[i] : 0;
		json_t *v = json_pack("{s:i, s:b}", "index", (int)i, "sampled", st[i].sampled);

		delta += d;
		any_virt |= st[i].sampled && st[i].virt_enabled;
		any_guest |= st[i].sampled && st[i].guest_mode;
		if (st[i].sampled) {
			json_object_set_new(v, "efer", json_integer((json_int_t)st[i].efer));
			json_object_set_new(v, "virtualization_enabled",
					    json_boolean(st[i].virt_enabled));
			json_object_set_new(v, "in_nested_guest", json_boolean(st[i].guest_mode));
		}
		json_object_set_new(v, "nested_runs", st[i].nested_runs == UINT64_MAX ?
				    json_null() : json_integer((json_int_t)st[i].nested_runs));
		json_array_append_new(vcpus, v);
	}
	nest_level_name(r->plan.level, level, sizeof(level));
	j = json_pack("{s:b, s:s, s:b, s:o, s:b, s:b, s:o, s:i, s:o}",
		      "enabled", p->rec.def.nested,
		      "guest_level", level,
		      "extensions_exposed", r->plan.expose,
		      "max_depth", p->rec.def.max_depth ? json_integer(p->rec.def.max_depth) :
				   json_null(),
		      "virtualization_enabled", any_virt,
		      "nested_guest_running", any_guest || delta > 0,
		      "nested_runs_in_sample", runs_ok ? json_integer((json_int_t)delta) :
					      json_null(),
		      "sample_ms", VMPROC_NESTED_SAMPLE_MS,
		      "vcpus", vcpus);
out:
	free(st);
	free(before);
	free(after);
	return j;
}

static json_t *vmproc_api_nested(void *opaque, char *err, size_t errlen)
{
	struct vmproc *p = opaque;
	json_t *j = NULL;

	pthread_mutex_lock(&p->lock);
	if (!p->live)
		snprintf(err, errlen, "the VM is between boots");
	else
		j = vmproc_nested_json(p, p->live, err, errlen);
	pthread_mutex_unlock(&p->lock);
	return j;
}

static json_t *vmproc_api_describe(void *opaque, char *err, size_t errlen)
{
	struct vmproc *p = opaque;
	json_t *j;

	pthread_mutex_lock(&p->lock);
	j = json_pack("{s:s, s:s, s:i, s:I, s:i, s:o}",
		      "name", p->rec.def.name,
		      "state", vm_state_name(p->state),
		      "pid", (int)getpid(),
		      "uptime_s", (json_int_t)(time(NULL) - p->started),
		      "boots", (int)p->boots,
		      "config", vmdef_to_json(&p->rec.def));
	if (j && p->live) {
		json_t *nested = vmproc_nested_json(p, p->live, err, errlen);

		json_object_set_new(j, "nested", nested ? nested : json_null());
		json_object_set_new(j, "exits", vmproc_exits_json(p->live));
		json_object_set_new(j, "vcpus_paused", json_boolean(vm_is_paused(&p->live->vm)));
	}
	pthread_mutex_unlock(&p->lock);
	if (!j)
		snprintf(err, errlen, "out of memory");
	return j;
}

static int vmproc_action_pause(struct vmproc *p, struct runner *r, char *err, size_t errlen)
{
	int e;

	if (p->state != VM_STATE_RUNNING) {
		vm_state_refusal(p->rec.def.name, p->state, VM_OP_PAUSE, NULL, err, errlen);
		return 409;
	}
	e = vm_pause(&r->vm);
	if (e) {
		snprintf(err, errlen, "cannot pause: %s", e == -ECANCELED ? "the VM is stopping" :
			 strerror(-e));
		return 409;
	}
	if (vmproc_transition(p, VM_OP_PAUSE, "paused by request", -1, err, errlen)) {
		vm_resume(&r->vm);
		return 409;
	}
	return 0;
}

static int vmproc_action_resume(struct vmproc *p, struct runner *r, char *err, size_t errlen)
{
	if (p->state != VM_STATE_PAUSED) {
		vm_state_refusal(p->rec.def.name, p->state, VM_OP_RESUME, NULL, err, errlen);
		return 409;
	}
	if (vmproc_transition(p, VM_OP_RESUME, "", -1, err, errlen))
		return 409;
	vm_resume(&r->vm);
	return 0;
}

/* The ACPI power button: the guest's OS shuts down (a paused guest is
 * resumed first, or it could not). `nestvm stop` waits for the process to
 * end and forces it off after its --timeout. */
static int vmproc_action_shutdown(struct vmproc *p, struct runner *r, char *err, size_t errlen)
{
	if (p->state == VM_STATE_STOPPING) {
		platform_power_button(&r->plat);   /* pressed again */
		return 0;
	}
	if (p->state != VM_STATE_RUNNING && p->state != VM_STATE_PAUSED) {
		vm_state_refusal(p->rec.def.name, p->state, VM_OP_STOP, NULL, err, errlen);
		return 409;
	}
	if (vmproc_transition(p, VM_OP_STOP, "the ACPI power button was pressed (nestvm stop)",
			      -1, err, errlen))
		return 409;
	p->stop_requested = true;
	if (vm_is_paused(&r->vm))
		vm_resume(&r->vm);
	platform_power_button(&r->plat);
	return 0;
}

static int vmproc_api_action(void *opaque, enum api_action a, char *err, size_t errlen)
{
	struct vmproc *p = opaque;
	int status = 0;

	pthread_mutex_lock(&p->lock);
	if (!p->live) {
		snprintf(err, errlen, "the VM is between boots: try again");
		status = 409;
	} else if (a == API_ACTION_PAUSE) {
		status = vmproc_action_pause(p, p->live, err, errlen);
	} else if (a == API_ACTION_RESUME) {
		status = vmproc_action_resume(p, p->live, err, errlen);
	} else if (a == API_ACTION_SHUTDOWN) {
		status = vmproc_action_shutdown(p, p->live, err, errlen);
	} else {
		p->stop_requested = true;
		p->forced = true;
		vm_request_stop(&p->live->vm, VM_STOP_USER_QUIT);
	}
	pthread_mutex_unlock(&p->lock);
	return status;
}

/* POST /v1/vm/actions {"action": "state-roundtrip"}: a running or paused
 * VM's vCPU and VM state read, loaded back and compared in place. */
static int vmproc_api_action_data(void *opaque, enum api_action a, json_t **out, char *err,
				  size_t errlen)
{
	struct vmproc *p = opaque;
	int status = 0;

	*out = NULL;
	pthread_mutex_lock(&p->lock);
	if (a != API_ACTION_STATE_ROUNDTRIP) {
		snprintf(err, errlen, "no data for this action");
		status = 500;
	} else if (!p->live) {
		snprintf(err, errlen, "the VM is between boots: try again");
		status = 409;
	} else if (p->state != VM_STATE_RUNNING && p->state != VM_STATE_PAUSED) {
		snprintf(err, errlen, "the VM is %s", vm_state_name(p->state));
		status = 409;
	} else {
		*out = x86_state_roundtrip_json(&p->live->vm, err, errlen);
		status = *out ? 0 : 500;
	}
	pthread_mutex_unlock(&p->lock);
	return status;
}

/* ---- runner hooks (main thread) ---- */

static int vmproc_on_devices(struct runner *r, void *opaque, char *err, size_t errlen)
{
	struct vmproc *p = opaque;

	if (p->cs_started) {
		console_sock_set_serial(&p->cs, &r->plat.serial);
		return 0;
	}
	if (console_sock_start(&p->cs, p->paths.console, p->log_fd, &r->plat.serial, err, errlen))
		return -1;
	p->cs_started = true;
	return 0;
}

static void vmproc_on_ready(struct runner *r, void *opaque)
{
	struct vmproc *p = opaque;
	char err[512];

	pthread_mutex_lock(&p->lock);
	p->live = r;
	p->boots++;
	pthread_mutex_unlock(&p->lock);
	if (p->boots == 1) {
		if (vmproc_transition(p, VM_OP_STARTED, "", -1, err, sizeof(err)))
			log_warn("cannot record the start: %s", err);
		vmproc_report_ready(p, 0, NULL);
	}
	log_info("'%s' boot %u: vCPUs starting", p->rec.def.name, p->boots);
}

/* Move the last run's logs aside so each start begins a fresh pair. */
static int vmproc_open_logs(struct vmproc *p, char *err, size_t errlen)
{
	char old[VMDIR_PATH_MAX + 4];

	snprintf(old, sizeof(old), "%s.1", p->paths.console_log);
	rename(p->paths.console_log, old);
	p->log_fd = open(p->paths.console_log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
			 0600);
	if (p->log_fd < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot create the console log in %.900s: %s",
			 p->paths.dir, strerror(e));
		return -e;
	}
	return 0;
}

/* Boot, and boot again after a guest reboot, until the VM really ends. */
static int vmproc_boot_loop(struct vmproc *p, char *err, size_t errlen)
{
	struct runner_hooks hooks = {
		.out_fn = console_sock_write, .out_opaque = &p->cs,
		.on_devices = vmproc_on_devices, .on_ready = vmproc_on_ready, .opaque = p,
	};
	struct runner *r = calloc(1, sizeof(*r));
	char why[600];
	int status;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return EXIT_VMM_ERROR;
	}
	for (;;) {
		status = runner_run(r, &p->opt, &hooks, err, errlen);
		pthread_mutex_lock(&p->lock);
		p->live = NULL;
		pthread_mutex_unlock(&p->lock);
		if (p->cs_started)
			console_sock_set_serial(&p->cs, NULL);  /* the UART is freed next */
		runner_stop_text(r, why, sizeof(why));
		runner_free(r);
		if (r->stop_reason != VM_STOP_REBOOT || p->stop_requested || p->boots == 0)
			break;
		log_info("'%s': the guest rebooted: booting it again", p->rec.def.name);
	}
	free(r);
	if (!err[0] && status != 0)
		snprintf(err, errlen, "%s", why);
	if (status == 0 && p->forced)
		snprintf(err, errlen, "%s", p->state == VM_STATE_STOPPING ?
			 "forced off: the guest did not shut down in time" :
			 "powered off by request (nestvm kill)");
	else if (status == 0)
		snprintf(err, errlen, "%s", why);
	return status;
}

/* How the VM ended, in the registry. */
static void vmproc_record_end(struct vmproc *p, int status, const char *why)
{
	bool crashed = status == EXIT_GUEST_CRASH || status == EXIT_VMM_ERROR;
	char err[512];

	if (p->boots == 0) {
		/* It never ran: back to stopped, saying why the start failed. */
		char reason[600];

		/* The first line: the fix that follows it is for the user, now. */
		snprintf(reason, sizeof(reason), "start failed: %.*s", (int)strcspn(why, "\n"),
			 why);
		vmproc_report_ready(p, status, why);
		if (vmproc_transition(p, VM_OP_EXITED, reason, status, err, sizeof(err)))
			log_warn("cannot record the failed start: %s", err);
		return;
	}
	if (vmproc_transition(p, crashed ? VM_OP_FAILED : VM_OP_EXITED, why, status, err,
			      sizeof(err)))
		log_warn("cannot record the end of the VM: %s", err);
}

static int vmproc_parse(int argc, char **argv, struct vmproc *p, int *lock_fd)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "lock-fd", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	int c;

	p->ready_fd = -1;
	*lock_fd = -1;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 's': dir = optarg; break;
		case 'r': p->ready_fd = atoi(optarg); break;
		case 'l': *lock_fd = atoi(optarg); break;
		default: return -EINVAL;
		}
	}
	if (!dir || optind != argc - 1 || *lock_fd < 0)
		return -EINVAL;
	snprintf(p->state_dir, sizeof(p->state_dir), "%s", dir);
	snprintf(p->rec.def.name, sizeof(p->rec.def.name), "%s", argv[optind]);
	return 0;
}

static int vmproc_setup(struct vmproc *p, char *err, size_t errlen)
{
	static const struct api_ops ops_template = {
		.describe = vmproc_api_describe, .nested = vmproc_api_nested,
		.action = vmproc_api_action, .action_data = vmproc_api_action_data,
	};
	struct api_ops ops = ops_template;
	int r;

	r = vm_paths_get(p->state_dir, p->rec.def.name, &p->paths, err, errlen);
	if (!r)
		r = registry_open(&p->reg, p->state_dir, err, errlen);
	if (!r)
		r = registry_get(p->reg, p->rec.def.name, &p->rec, err, errlen);
	if (r)
		return r;
	p->state = p->rec.state;
	if (p->state != VM_STATE_STARTING) {
		snprintf(err, errlen, "'%s' is %s, not starting: use nestvm start %s",
			 p->rec.def.name, vm_state_name(p->state), p->rec.def.name);
		return -EPERM;
	}
	vmdef_to_options(&p->rec.def, &p->opt);
	p->opt.verbosity = 1;
	r = vmproc_open_logs(p, err, errlen);
	if (r)
		return r;
	ops.opaque = p;
	return api_server_start(&p->api, p->paths.api, &ops, err, errlen);
}

int cmd_vmproc(int argc, char **argv)
{
	struct vmproc *p = calloc(1, sizeof(*p));
	char err[1024] = "";
	int lock_fd, status;

	if (!p)
		return EXIT_VMM_ERROR;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->reg_lock, NULL);
	p->log_fd = -1;
	if (vmproc_parse(argc, argv, p, &lock_fd)) {
		log_error("vm-process is started by nestvm start, not by hand");
		free(p);
		return EXIT_USAGE;
	}
	runner_set_verbosity(1);
	/* Before the API and console threads exist, so that they inherit the
	 * mask and SIGTERM reaches the VM's signalfd, not a default handler. */
	vm_block_term_signals();
	p->started = time(NULL);
	if (vmproc_setup(p, err, sizeof(err))) {
		status = EXIT_VMM_ERROR;
		log_error("%s", err);
		if (p->reg && p->state == VM_STATE_STARTING)
			vmproc_record_end(p, status, err);
		vmproc_report_ready(p, status, err);
	} else {
		status = vmproc_boot_loop(p, err, sizeof(err));
		if (status != 0)
			log_error("%s", err);
		vmproc_record_end(p, status, err);
	}
	if (p->api)
		api_server_stop(p->api);
	if (p->cs_started)
		console_sock_stop(&p->cs);
	if (p->log_fd >= 0)
		close(p->log_fd);
	if (p->reg)
		registry_close(p->reg);
	/* The liveness lock goes last: once it is free, the records are final. */
	close(lock_fd);
	free(p);
	return status;
}
