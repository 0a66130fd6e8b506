/* The VM process (see vmproc.h): set-up, the boot loop, readiness and the
 * records of how it ran. The API's actions are in vmproc_api.c. */
#include "control/vmproc_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/exit_status.h"
#include "machine/migrate.h"
#include "machine/pause.h"
#include "vmm/log.h"

int vmproc_transition(struct vmproc *p, enum vm_op op, const char *reason, int last_exit,
		      char *err, size_t errlen)
{
	struct vm_transition t = { .reason = reason, .pid = getpid(), .last_exit = last_exit };
	enum vm_state to;
	int r;

	r = registry_transition(p->reg, p->rec.name, op, &t, NULL, err, errlen);
	if (r == 0 && vm_state_next(p->state, op, &to) == 0) {
		pthread_mutex_lock(&p->lock);
		p->state = to;
		pthread_mutex_unlock(&p->lock);
	}
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

/* ---- runner hooks (main thread) ---- */

static int vmproc_on_devices(struct runner *r, void *opaque, char *err, size_t errlen)
{
	struct vmproc *p = opaque;

	if (p->cs_started) {
		console_sock_set_serial(&p->cs, runner_serial(r));
		return 0;
	}
	if (console_sock_start(&p->cs, p->paths.console, p->log_fd, runner_serial(r), err, errlen))
		return -1;
	p->cs_started = true;
	return 0;
}

/* The first start in the registry (an incoming VM: once GO came, before
 * the source hears that it runs here, machine/migrate.h). */
static void vmproc_record_started(struct vmproc *p)
{
	char from[200] = "", err[512];

	if (p->incoming)
		snprintf(from, sizeof(from), "migrated from %s", p->incoming->from);
	if (vmproc_transition(p, VM_OP_STARTED, from, -1, err, sizeof(err)))
		log_warn("cannot record the start: %s", err);
	p->started_recorded = true;
}

static void vmproc_on_go(void *opaque)
{
	vmproc_record_started(opaque);
}

static void vmproc_on_ready(struct runner *r, void *opaque)
{
	struct vmproc *p = opaque;
	char err[512];

	if (machine_pause_setup(&p->quiesce, r, err, sizeof(err))) {
		/* Pause will not be offered (the queue serves the rest). */
		log_warn("%s", err);
		machine_quiesce_init(&p->quiesce, &r->vm, NULL);
	}
	p->live = r;
	pthread_mutex_lock(&p->lock);
	p->boots++;
	pthread_mutex_unlock(&p->lock);
	/* From here on the API's requests are carried out on this thread,
	 * inside vm_run's wait. */
	vm_set_control(&r->vm, action_queue_fd(&p->actions), vmproc_actions_run, p);
	action_queue_set_open(&p->actions, true);
	if (p->boots == 1) {
		if (!p->started_recorded)
			vmproc_record_started(p);
		vmproc_report_ready(p, 0, NULL);
	}
	log_info("'%s' boot %u: vCPUs starting", p->rec.name, p->boots);
}

/* Move the last run's logs aside so each start begins a fresh pair; a
 * restore or an incoming migration goes on in the same console log (the
 * guest's output goes on). */
static int vmproc_open_logs(struct vmproc *p, char *err, size_t errlen)
{
	char old[VMDIR_PATH_MAX + 4];
	bool goes_on = p->restore_dir || p->incoming;   /* the guest's output goes on */
	int trunc = goes_on ? 0 : O_TRUNC;

	if (!goes_on) {
		snprintf(old, sizeof(old), "%s.1", p->paths.console_log);
		rename(p->paths.console_log, old);
	}
	p->log_fd = open(p->paths.console_log, O_WRONLY | O_CREAT | trunc | O_APPEND | O_CLOEXEC,
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
	hooks.restore_dir = p->restore_dir;
	hooks.restore_eager = p->restore_eager;
	hooks.incoming = p->incoming;
	if ((p->restore_dir || p->incoming) && p->log_fd >= 0) {
		char line[API_SNAPSHOT_DIR_MAX + 64];
		int n = p->restore_dir ?
			snprintf(line, sizeof(line), "\r\n[nestvm: restoring from %s]\r\n",
				 p->restore_dir) :
			snprintf(line, sizeof(line), "\r\n[nestvm: migrating in from %s]\r\n",
				 p->incoming->from);

		if (n > 0 && write(p->log_fd, line, (size_t)n) < 0)
			log_warn("console log: %s", strerror(errno));
	}
	for (;;) {
		status = runner_run(r, &p->rec.cfg, &hooks, err, errlen);
		/* A reboot after a restore (or a migration) boots the kernel. */
		hooks.restore_dir = NULL;
		hooks.incoming = NULL;
		/* Requests still queued will not be carried out by this machine. */
		action_queue_set_open(&p->actions, false);
		p->live = NULL;
		if (p->cs_started)
			console_sock_set_serial(&p->cs, NULL);  /* the UART is freed next */
		runner_stop_text(r, why, sizeof(why));
		runner_free(r);
		if (r->stop_reason != VM_STOP_REBOOT || p->stop_requested || p->boots == 0)
			break;
		log_info("'%s': the guest rebooted: booting it again", p->rec.name);
	}
	free(r);
	if (!err[0] && status != 0)
		snprintf(err, errlen, "%s", why);
	if (status == 0 && p->migrated_to[0])
		snprintf(err, errlen, "migrated to %.280s", p->migrated_to);
	else if (status == 0 && p->saved_to[0])
		snprintf(err, errlen, "saved to %.400s (nestvm snapshot --stop): nestvm restore %s %.400s",
			 p->saved_to, p->rec.name, p->saved_to);
	else if (status == 0 && p->forced)
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

static int vmproc_setup(struct vmproc *p, char *err, size_t errlen)
{
	struct api_ops ops;
	int r;

	r = vm_paths_get(p->state_dir, p->rec.name, &p->paths, err, errlen);
	if (!r)
		r = registry_open(&p->reg, p->state_dir, err, errlen);
	if (!r)
		r = registry_get(p->reg, p->rec.name, &p->rec, err, errlen);
	if (r)
		return r;
	p->state = p->rec.state;
	if (p->state != VM_STATE_STARTING) {
		snprintf(err, errlen, "'%s' is %s, not starting: use nestvm start %s",
			 p->rec.name, vm_state_name(p->state), p->rec.name);
		return -EPERM;
	}
	runner_set_verbosity(1);
	r = vmproc_open_logs(p, err, errlen);
	if (r)
		return r;
	vmproc_api_ops(p, &ops);
	return api_server_start(&p->api, p->paths.api, &ops, err, errlen);
}

int vmproc_main(const struct vmproc_args *a)
{
	struct vmproc *p = calloc(1, sizeof(*p));
	char err[1024] = "";
	int status, r;

	if (!p) {
		close(a->lock_fd);
		return EXIT_VMM_ERROR;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->log_fd = -1;
	p->ready_fd = a->ready_fd;
	snprintf(p->state_dir, sizeof(p->state_dir), "%s", a->state_dir);
	snprintf(p->rec.name, sizeof(p->rec.name), "%s", a->name);
	p->restore_dir = a->restore_dir;
	p->restore_eager = a->restore_eager;
	p->incoming = a->incoming;
	if (p->incoming) {
		p->incoming->on_go = vmproc_on_go;
		p->incoming->go_opaque = p;
	}
	runner_set_verbosity(1);
	/* Before the API and console threads exist, so that they inherit the
	 * mask and SIGTERM reaches the VM's signalfd, not a default handler. */
	vm_block_term_signals();
	p->started = time(NULL);
	r = action_queue_init(&p->actions);
	if (r)
		snprintf(err, sizeof(err), "cannot create the action queue: %s", strerror(-r));
	if (r || vmproc_setup(p, err, sizeof(err))) {
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
		api_server_stop(p->api);   /* after it, no API thread submits */
	action_queue_destroy(&p->actions);
	if (p->cs_started)
		console_sock_stop(&p->cs);
	if (p->log_fd >= 0)
		close(p->log_fd);
	if (p->reg)
		registry_close(p->reg);
	pthread_mutex_destroy(&p->lock);
	/* The liveness lock goes last: once it is free, the records are final. */
	close(a->lock_fd);
	free(p);
	return status;
}
