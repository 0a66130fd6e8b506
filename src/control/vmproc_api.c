/* The VM process's API (see vmproc.h and actions.h): the API thread turns
 * each request into an action and queues it; the main thread carries it
 * out here, between two waits of vm_run. */
#include "control/vmproc_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hw/serial.h"
#include "machine/migrate.h"
#include "machine/snapshot.h"
#include "transport/transport.h"
#include "vmm/log.h"
#include "x86/state_roundtrip.h"

#define VMPROC_NESTED_SAMPLE_MS 200

/* ---- carried out on the main thread ---- */

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
		      "enabled", p->rec.cfg.nested,
		      "guest_level", level,
		      "extensions_exposed", r->plan.expose,
		      "max_depth", p->rec.cfg.max_depth ? json_integer(p->rec.cfg.max_depth) :
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

/* The process's own view; with the machine's pieces when one runs. */
static json_t *vmproc_describe_json(struct vmproc *p, struct runner *live, char *err,
				    size_t errlen)
{
	json_t *j;

	pthread_mutex_lock(&p->lock);
	j = json_pack("{s:s, s:s, s:i, s:I, s:i, s:o}",
		      "name", p->rec.name,
		      "state", vm_state_name(p->state),
		      "pid", (int)getpid(),
		      "uptime_s", (json_int_t)(time(NULL) - p->started),
		      "boots", (int)p->boots,
		      "config", vmconfig_to_json(&p->rec.cfg));
	pthread_mutex_unlock(&p->lock);
	if (j && live) {
		json_t *nested = vmproc_nested_json(p, live, err, errlen);

		json_object_set_new(j, "nested", nested ? nested : json_null());
		json_object_set_new(j, "exits", vmproc_exits_json(live));
		json_object_set_new(j, "vcpus_paused", json_boolean(vm_is_paused(&live->vm)));
		if (runner_serial(live))
			json_object_set_new(j, "serial", serial_describe_json(runner_serial(live)));
	}
	if (!j)
		snprintf(err, errlen, "out of memory");
	return j;
}

static int vmproc_do_pause(struct vmproc *p, char *err, size_t errlen)
{
	int e;

	if (p->state != VM_STATE_RUNNING) {
		vm_state_refusal(p->rec.name, p->state, VM_OP_PAUSE, NULL, err, errlen);
		return 409;
	}
	e = machine_quiesce(&p->quiesce, err, errlen);
	if (e) {
		char why[ACTION_ERR_MAX - 16];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "cannot pause: %s", why);
		return 409;
	}
	if (vmproc_transition(p, VM_OP_PAUSE, "paused by request", -1, err, errlen)) {
		machine_resume(&p->quiesce);
		return 409;
	}
	return 0;
}

static int vmproc_do_resume(struct vmproc *p, char *err, size_t errlen)
{
	if (p->state != VM_STATE_PAUSED) {
		vm_state_refusal(p->rec.name, p->state, VM_OP_RESUME, NULL, err, errlen);
		return 409;
	}
	if (vmproc_transition(p, VM_OP_RESUME, "", -1, err, errlen))
		return 409;
	machine_resume(&p->quiesce);
	return 0;
}

/* The ACPI power button: the guest's OS shuts down (a paused guest is
 * resumed first, or it could not). `nestvm stop` waits for the process to
 * end and forces it off after its --timeout. */
static int vmproc_do_shutdown(struct vmproc *p, char *err, size_t errlen)
{
	if (p->state == VM_STATE_STOPPING) {
		platform_power_button(&p->live->plat);   /* pressed again */
		return 0;
	}
	if (p->state != VM_STATE_RUNNING && p->state != VM_STATE_PAUSED) {
		vm_state_refusal(p->rec.name, p->state, VM_OP_STOP, NULL, err, errlen);
		return 409;
	}
	if (vmproc_transition(p, VM_OP_STOP, "the ACPI power button was pressed (nestvm stop)",
			      -1, err, errlen))
		return 409;
	p->stop_requested = true;
	if (machine_is_quiesced(&p->quiesce))
		machine_resume(&p->quiesce);
	platform_power_button(&p->live->plat);
	return 0;
}

/* The VM's configuration as the registry keeps it (compact, sorted). */
static char *vmproc_config_json(const struct vmproc *p)
{
	json_t *j = vmconfig_to_json(&p->rec.cfg);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	return s;
}

/* A snapshot into a.snap.dir (machine/snapshot.h); recorded in the
 * registry; with stop, the VM then ends, saved. */
static int vmproc_do_snapshot(struct vmproc *p, struct vmproc_action *a)
{
	struct machine_snapshot_req req = {
		.dir = a->snap.dir, .stop = a->snap.stop, .with_disks = a->snap.with_disks,
		.mem_fd = p->live->mem_fd,
	};
	struct machine_snapshot_result res;
	struct snapshot_record rec;
	char *cfg, err[ACTION_ERR_MAX];
	int r;

	if (p->state != VM_STATE_RUNNING && p->state != VM_STATE_PAUSED) {
		vm_state_refusal(p->rec.name, p->state, VM_OP_PAUSE, NULL, a->err, sizeof(a->err));
		return 409;
	}
	cfg = vmproc_config_json(p);
	if (!cfg) {
		snprintf(a->err, sizeof(a->err), "out of memory");
		return 500;
	}
	req.config_json = cfg;
	r = machine_snapshot_save(&p->live->vm, &p->live->plat, &p->quiesce, &req, &res, a->err,
				  sizeof(a->err));
	free(cfg);
	if (r)
		return r == -EEXIST || r == -EINVAL || r == -ENOENT || r == -EACCES ||
		       r == -ENOTDIR ? 400 : 500;
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.vm, sizeof(rec.vm), "%s", p->rec.name);
	snprintf(rec.dir, sizeof(rec.dir), "%s", a->snap.dir);
	rec.created = time(NULL);
	rec.size = res.state_bytes + res.memory_bytes + res.disk_blocks;
	rec.memory_size = res.memory_bytes;
	rec.with_disks = a->snap.with_disks;
	rec.stopped = a->snap.stop;
	rec.nested_guest_running = res.nested_guest_running;
	if (registry_snapshot_add(p->reg, &rec, err, sizeof(err)))
		log_warn("the snapshot in %s is not recorded in the registry: %s", a->snap.dir, err);
	a->reply = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:i, s:b, s:b, s:b, s:b, s:f, s:f}",
			     "dir", a->snap.dir,
			     "size", (json_int_t)rec.size,
			     "state_size", (json_int_t)res.state_bytes,
			     "memory_size", (json_int_t)res.memory_bytes,
			     "ram", (json_int_t)p->live->vm.mem.size,
			     "disk_size", (json_int_t)res.disk_bytes,
			     "disks", (int)res.ndisks,
			     "with_disks", a->snap.with_disks,
			     "reflinked", res.ndisks && res.reflinked,
			     "stopped", a->snap.stop,
			     "nested_guest_running", res.nested_guest_running,
			     "guest_stopped_ms", res.quiesced_ms,
			     "total_ms", res.total_ms);
	if (a->snap.stop) {
		/* Saved: the VM ends here (its vCPUs are parked; the stop wakes them). */
		snprintf(p->saved_to, sizeof(p->saved_to), "%s", a->snap.dir);
		p->stop_requested = true;
		vm_request_stop(&p->live->vm, VM_STOP_USER_QUIT);
	}
	return a->reply ? 0 : 500;
}

/* Under the emulated AMD host of the tests (QEMU 7.2's software SVM, the
 * 6.1 kernel's KVM), a guest running its own guest crashed in most
 * migrations while kvm.eager_page_split was on (it splits the huge pages
 * of guest RAM when dirty logging starts), never with it off
 * (docs/migration.md, "Known problem"): say so in the VM's log. */
static void vmproc_warn_eager_split(const struct vmproc *p)
{
	char v[8] = "";
	FILE *f;

	if (!p->rec.cfg.nested)
		return;
	f = fopen("/sys/module/kvm/parameters/eager_page_split", "re");
	if (!f)
		return;
	if (!fgets(v, sizeof(v), f))
		v[0] = '\0';
	fclose(f);
	if (v[0] == 'Y')
		log_warn("migration: kvm.eager_page_split is on; with a nested guest running, "
			 "guests crashed under it on the emulated AMD host of nestvm's tests "
			 "(docs/migration.md); echo N > /sys/module/kvm/parameters/eager_page_split "
			 "turns it off");
}

/* Live migration to a.mig.to (machine/migrate.h); on success the VM ends
 * here, running there. */
static int vmproc_do_migrate(struct vmproc *p, struct vmproc_action *a)
{
	struct xport_security sec = { .psk_file = a->mig.psk_file[0] ? a->mig.psk_file : NULL };
	struct machine_migrate_req req = {
		.to = a->mig.to, .max_downtime_ms = a->mig.max_downtime_ms,
		.timeout_s = a->mig.timeout_s, .mem_fd = p->live->mem_fd,
	};
	struct machine_migrate_result res;
	struct xport_endpoint ep;
	struct xport_conn *conn = NULL;
	char *cfg;
	int r;

	if (p->state != VM_STATE_RUNNING) {
		vm_state_refusal(p->rec.name, p->state, VM_OP_PAUSE, NULL, a->err, sizeof(a->err));
		return 409;
	}
	if (xport_endpoint_parse(a->mig.to, &ep, a->err, sizeof(a->err)))
		return 400;
	r = xport_connect(&ep, &sec, 30000, &conn, a->err, sizeof(a->err));
	if (r)
		return r == -EINVAL || r == -EACCES || r == -ENOENT ? 400 : 502;
	cfg = vmproc_config_json(p);
	if (!cfg) {
		xport_close(conn);
		snprintf(a->err, sizeof(a->err), "out of memory");
		return 500;
	}
	req.conn = conn;
	req.config_json = cfg;
	vmproc_warn_eager_split(p);
	r = machine_migrate_send(&p->live->vm, &p->live->plat, &p->quiesce, &req, &res, a->err,
				 sizeof(a->err));
	free(cfg);
	xport_close(conn);
	if (r)
		return r == -ECONNREFUSED ? 409 : r == -ETIMEDOUT ? 504 : 502;
	a->reply = json_pack("{s:s, s:i, s:I, s:I, s:I, s:f, s:f, s:f, s:i, s:b, s:b}",
			     "to", a->mig.to, "rounds", (int)res.rounds,
			     "pages", (json_int_t)res.pages, "last_pages", (json_int_t)res.last_pages,
			     "bytes", (json_int_t)res.bytes, "total_ms", res.total_ms,
			     "downtime_ms", res.downtime_ms, "mbytes_per_s", res.mbytes_per_s,
			     "throttle_pct", (int)res.throttle_pct,
			     "nested_guest_running", res.nested_guest_running, "tls",
			     sec.psk_file != NULL);
	/* Running there: the VM ends here (its vCPUs are parked; the stop wakes them). */
	snprintf(p->migrated_to, sizeof(p->migrated_to), "%s", a->mig.to);
	p->stop_requested = true;
	vm_request_stop(&p->live->vm, VM_STOP_USER_QUIT);
	return a->reply ? 0 : 500;
}

static void vmproc_do(struct vmproc *p, struct vmproc_action *a)
{
	switch (a->kind) {
	case VMPROC_ACT_DESCRIBE:
		a->reply = vmproc_describe_json(p, p->live, a->err, sizeof(a->err));
		break;
	case VMPROC_ACT_NESTED:
		a->reply = vmproc_nested_json(p, p->live, a->err, sizeof(a->err));
		break;
	case VMPROC_ACT_PAUSE:
		a->status = vmproc_do_pause(p, a->err, sizeof(a->err));
		break;
	case VMPROC_ACT_RESUME:
		a->status = vmproc_do_resume(p, a->err, sizeof(a->err));
		break;
	case VMPROC_ACT_SHUTDOWN:
		a->status = vmproc_do_shutdown(p, a->err, sizeof(a->err));
		break;
	case VMPROC_ACT_STATE_ROUNDTRIP:
		if (p->state != VM_STATE_RUNNING && p->state != VM_STATE_PAUSED) {
			snprintf(a->err, sizeof(a->err), "the VM is %s", vm_state_name(p->state));
			a->status = 409;
			break;
		}
		a->reply = x86_state_roundtrip_json(&p->live->vm, a->err, sizeof(a->err));
		a->status = a->reply ? 0 : 500;
		break;
	case VMPROC_ACT_SNAPSHOT:
		a->status = vmproc_do_snapshot(p, a);
		break;
	case VMPROC_ACT_MIGRATE:
		a->status = vmproc_do_migrate(p, a);
		break;
	case VMPROC_ACT_POWEROFF:
	default:
		p->stop_requested = true;
		p->forced = true;
		/* A quiesced machine stops too: the stop wakes parked vCPUs,
		 * and tearing down wakes the parked loop and backends. */
		vm_request_stop(&p->live->vm, VM_STOP_USER_QUIT);
		break;
	}
}

void vmproc_actions_run(void *opaque)
{
	struct vmproc *p = opaque;
	struct vmproc_action *a;

	while ((a = action_queue_take(&p->actions))) {
		if (p->live)
			vmproc_do(p, a);
		else
			a->status = -ECANCELED;   /* cannot happen: the queue is open while live */
		log_debug("API action %s: %d", vmproc_action_name(a->kind), a->status);
		action_queue_done(&p->actions, a);
	}
}

/* ---- the API thread's side: parse, queue, wait ---- */

static int vmproc_submit(struct vmproc *p, struct vmproc_action *a)
{
	int r = action_queue_submit(&p->actions, a, ACTION_SUBMIT_TIMEOUT_MS);

	if (r == -ETIMEDOUT)
		snprintf(a->err, sizeof(a->err), "the VM process did not take the request within "
			 "%d s: try again", ACTION_SUBMIT_TIMEOUT_MS / 1000);
	else if (r == -ECANCELED)
		snprintf(a->err, sizeof(a->err), "the VM is between boots: try again");
	return r;
}

static json_t *vmproc_api_describe(void *opaque, char *err, size_t errlen)
{
	struct vmproc *p = opaque;
	struct vmproc_action a = { .kind = VMPROC_ACT_DESCRIBE };
	int r = vmproc_submit(p, &a);

	/* No machine runs (between boots, before the first): the process's
	 * own records, which the main thread changes under p->lock, answer. */
	if (r == -ECANCELED)
		return vmproc_describe_json(p, NULL, err, errlen);
	if (r == 0 && a.reply)
		return a.reply;
	snprintf(err, errlen, "%s", a.err);
	return NULL;
}

static json_t *vmproc_api_nested(void *opaque, char *err, size_t errlen)
{
	struct vmproc *p = opaque;
	struct vmproc_action a = { .kind = VMPROC_ACT_NESTED };

	if (vmproc_submit(p, &a) == 0 && a.reply)
		return a.reply;
	snprintf(err, errlen, "%s", a.err);
	return NULL;
}

static int vmproc_api_action(void *opaque, enum api_action act, char *err, size_t errlen)
{
	static const enum vmproc_action_kind kinds[API_ACTION_COUNT] = {
		[API_ACTION_PAUSE] = VMPROC_ACT_PAUSE,
		[API_ACTION_RESUME] = VMPROC_ACT_RESUME,
		[API_ACTION_SHUTDOWN] = VMPROC_ACT_SHUTDOWN,
		[API_ACTION_POWEROFF] = VMPROC_ACT_POWEROFF,
	};
	struct vmproc *p = opaque;
	struct vmproc_action a = { .kind = VMPROC_ACT_POWEROFF };
	int r;

	if ((unsigned int)act >= API_ACTION_COUNT || api_action_has_data(act)) {
		snprintf(err, errlen, "unknown action");
		return 400;
	}
	a.kind = kinds[act];
	r = vmproc_submit(p, &a);
	if (r == 0 && a.status == 0)
		return 0;
	snprintf(err, errlen, "%s", a.err);
	return r == -ECANCELED ? 409 : r ? 500 : a.status;
}

/* POST /v1/vm/actions {"action": "state-roundtrip"}: a running or paused
 * VM's vCPU and VM state read, loaded back and compared in place, on the
 * main thread (which asks each vCPU's own thread for its part). */
static int vmproc_api_action_data(void *opaque, enum api_action act, json_t **out, char *err,
				  size_t errlen)
{
	struct vmproc *p = opaque;
	struct vmproc_action a = { .kind = VMPROC_ACT_STATE_ROUNDTRIP };
	int r;

	*out = NULL;
	if (act != API_ACTION_STATE_ROUNDTRIP) {
		snprintf(err, errlen, "no data for this action");
		return 500;
	}
	r = vmproc_submit(p, &a);
	if (r == 0 && a.status == 0 && a.reply) {
		*out = a.reply;
		return 0;
	}
	json_decref(a.reply);
	snprintf(err, errlen, "%s", a.err);
	return r == -ECANCELED ? 409 : r ? 500 : a.status ? a.status : 500;
}

/* Submit a (its kind and arguments set, heap: its arguments are large)
 * and hand back its reply or its status. */
static int vmproc_api_submit_heap(struct vmproc *p, struct vmproc_action *a, json_t **out,
				  char *err, size_t errlen)
{
	int r = vmproc_submit(p, a);
	if (r == 0 && a->status == 0 && a->reply) {
		*out = a->reply;
		free(a);
		return 0;
	}
	json_decref(a->reply);
	snprintf(err, errlen, "%s", a->err);
	r = r == -ECANCELED ? 409 : r ? 500 : a->status ? a->status : 500;
	free(a);
	return r;
}

/* POST /v1/vm/snapshot: on the main thread, which quiesces the machine. */
static int vmproc_api_snapshot(void *opaque, const struct api_snapshot_req *req, json_t **out,
			       char *err, size_t errlen)
{
	struct vmproc_action *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return 500;
	}
	a->kind = VMPROC_ACT_SNAPSHOT;
	a->snap = *req;
	return vmproc_api_submit_heap(opaque, a, out, err, errlen);
}

/* POST /v1/vm/migrate: on the main thread, for as long as it takes. */
static int vmproc_api_migrate(void *opaque, const struct api_migrate_req *req, json_t **out,
			      char *err, size_t errlen)
{
	struct vmproc_action *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return 500;
	}
	a->kind = VMPROC_ACT_MIGRATE;
	a->mig = *req;
	return vmproc_api_submit_heap(opaque, a, out, err, errlen);
}

void vmproc_api_ops(struct vmproc *p, struct api_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	ops->opaque = p;
	ops->describe = vmproc_api_describe;
	ops->nested = vmproc_api_nested;
	ops->action = vmproc_api_action;
	ops->action_data = vmproc_api_action_data;
	ops->snapshot = vmproc_api_snapshot;
	ops->migrate = vmproc_api_migrate;
}
