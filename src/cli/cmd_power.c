/* Running VMs: nestvm start, stop, kill, pause, resume, console. */
#include "cli/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/options.h"
#include "cli/vmctl.h"
#include "control/console_sock.h"
#include "control/spawn.h"
#include "vmm/log.h"

#define POWER_START_TIMEOUT_S   120
#define POWER_STOP_TIMEOUT_S    60
#define POWER_API_TIMEOUT_MS    10000
#define POWER_KILL_WAIT_MS      10000

struct power_args {
	const char *dir;
	const char *name;
	int timeout_s;       /* stop --timeout */
	bool help;
};

/* "NAME [--timeout S] [--state-dir DIR]"; `timeout` says whether --timeout
 * is accepted. */
static int power_parse(int argc, char **argv, const char *cmd, bool timeout,
		       struct power_args *a)
{
	char err[256];

	memset(a, 0, sizeof(*a));
	a->timeout_s = POWER_STOP_TIMEOUT_S;
	if (vmctl_take_state_dir(&argc, argv, &a->dir, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		unsigned int t;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			a->help = true;
		} else if (timeout && strcmp(argv[i], "--timeout") == 0) {
			if (i + 1 >= argc ||
			    options_parse_uint("--timeout", argv[i + 1], 0, 86400, &t, err,
					       sizeof(err))) {
				log_error("%s", i + 1 >= argc ? "--timeout needs seconds" : err);
				return EXIT_USAGE;
			}
			a->timeout_s = (int)t;
			i++;
		} else if (argv[i][0] == '-') {
			log_error("unknown option '%s' (nestvm %s --help)", argv[i], cmd);
			return EXIT_USAGE;
		} else if (!a->name) {
			a->name = argv[i];
		} else {
			log_error("unexpected argument '%s' (nestvm %s --help)", argv[i], cmd);
			return EXIT_USAGE;
		}
	}
	if (!a->help && !a->name) {
		log_error("%s needs a VM name: nestvm %s NAME", cmd, cmd);
		return EXIT_USAGE;
	}
	return 0;
}

static void power_print_state(struct vmctl *c)
{
	char err[256];

	if (registry_get(c->reg, c->rec.name, &c->rec, err, sizeof(err)) == 0)
		printf("'%s' is %s%s%s\n", c->rec.name, vm_state_name(c->rec.state),
		       c->rec.reason[0] ? ": " : "", c->rec.reason);
}

/* ---- start ---- */

static int power_start_finish(struct vmctl *c, int r, const struct vmproc_report *rep,
			      const struct vmproc_restore *rs)
{
	const char *verb = rs && rs->incoming ? "receive" : rs ? "restore" : "start";
	char err[512];

	if (r == -ETIMEDOUT) {
		log_error("'%s' did not report ready within %d s; its log: %s", c->rec.name,
			  POWER_START_TIMEOUT_S, c->paths.vmm_log);
		return EXIT_VMM_ERROR;
	}
	if (rep->said && rep->ok && rs && rs->incoming) {
		printf("'%s' migrated in: running here (pid %d); console: nestvm console %s\n",
		       c->rec.name, rep->pid, c->rec.name);
		return 0;
	}
	if (rep->said && rep->ok && rs) {
		printf("restored '%s' from %s: running (pid %d); console: nestvm console %s\n",
		       c->rec.name, rs->dir, rep->pid, c->rec.name);
		return 0;
	}
	if (rep->said && rep->ok) {
		printf("started '%s' (pid %d); console: nestvm console %s; serial log: %s\n",
		       c->rec.name, rep->pid, c->rec.name, c->paths.console_log);
		return 0;
	}
	if (rep->said) {
		log_error("cannot %s '%s': %s", verb, c->rec.name, rep->msg);
		return rep->status;
	}
	/* No word: it died before it could say. Record that. */
	vm_process_wait_gone(&c->paths, 2000);
	if (registry_get(c->reg, c->rec.name, &c->rec, err, sizeof(err)) == 0)
		vm_reconcile(c->reg, &c->paths, &c->rec, err, sizeof(err));
	log_error("cannot %s '%s': its process ended without a word; its log: %s", verb,
		  c->rec.name, c->paths.vmm_log);
	return EXIT_VMM_ERROR;
}

int vmctl_start(struct vmctl *c, const struct vmproc_restore *rs)
{
	struct vm_transition t = { .reason = "", .pid = -1, .last_exit = -1 };
	const char *name = c->rec.name;
	struct vmproc_report rep;
	int live_fd, r, status;
	enum vm_state next;
	char err[1024];

	if (vm_state_next(c->rec.state, VM_OP_START, &next)) {
		vm_state_refusal(name, c->rec.state, VM_OP_START, NULL, err, sizeof(err));
		log_error("%s", err);
		return EXIT_REFUSED;
	}
	live_fd = vm_live_lock(&c->paths);
	if (live_fd < 0) {
		log_error(live_fd == -EWOULDBLOCK ? "a nestvm process still runs '%s': nestvm kill %s"
			  : "cannot lock '%s': %s", name,
			  live_fd == -EWOULDBLOCK ? name : strerror(-live_fd));
		return EXIT_VMM_ERROR;
	}
	r = registry_transition(c->reg, name, VM_OP_START, &t, NULL, err, sizeof(err));
	if (r) {
		log_error("%s", err);
		close(live_fd);
		return vmctl_status(r);
	}
	/* An incoming VM's process is forked without exec: it must not inherit
	 * an open SQLite connection (SQLite's own rule: never across fork),
	 * so the registry is closed around the fork and opened again. */
	if (rs && rs->incoming) {
		registry_close(c->reg);
		c->reg = NULL;
	}
	r = vmproc_spawn(c->state_dir, &c->paths, name, live_fd, rs,
			 rs && rs->incoming ? rs->timeout_s : POWER_START_TIMEOUT_S, &rep, err,
			 sizeof(err));
	if (!c->reg && registry_open(&c->reg, c->state_dir, err, sizeof(err))) {
		log_error("%s", err);
		close(live_fd);
		return EXIT_VMM_ERROR;
	}
	close(live_fd);          /* the VM process holds it now */
	if (r && r != -ETIMEDOUT) {
		log_error("%s", err);
		t.reason = "start failed: cannot create the VM process";
		registry_transition(c->reg, name, VM_OP_EXITED, &t, NULL, err, sizeof(err));
		return EXIT_VMM_ERROR;
	}
	status = power_start_finish(c, r, &rep, rs);
	return status;
}

int cmd_start(int argc, char **argv)
{
	struct power_args a;
	struct vmctl c;
	int status;

	status = power_parse(argc, argv, "start", false, &a);
	if (status || a.help) {
		if (a.help)
			puts("usage: nestvm start NAME [--state-dir DIR]\n\n"
			     "Boot the VM in the background, as its own nestvm process. Its serial\n"
			     "console goes to a log file and to `nestvm console NAME`.");
		return status;
	}
	status = vmctl_open(&c, a.dir, a.name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		return status;
	status = vmctl_start(&c, NULL);
	vmctl_close(&c);
	return status;
}

/* ---- stop and kill ---- */

static int power_action(struct vmctl *c, const char *action, char *err, size_t errlen)
{
	json_t *body = json_pack("{s:s}", "action", action), *reply = NULL;
	long status = 0;
	int r;

	r = api_client_request(c->paths.api, "POST", "/v1/vm/actions", body, POWER_API_TIMEOUT_MS,
			       &status, &reply, err, errlen);
	json_decref(body);
	if (r == 0 && status != 200) {
		json_t *e = reply ? json_object_get(reply, "error") : NULL;

		snprintf(err, errlen, "%s", json_is_string(e) ? json_string_value(e) :
			 "the VM's API refused the request");
		r = status == 409 ? -EPERM : -EIO;
	}
	json_decref(reply);
	return r;
}

/* Is `pid` still this VM's process? (pids are reused) */
static bool power_pid_is_vm(pid_t pid, const char *name)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;
	bool seen_cmd = false;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *s = buf; s < buf + n; s += strlen(s) + 1) {
		if (strcmp(s, "vm-process") == 0)
			seen_cmd = true;
		else if (seen_cmd && s + strlen(s) + 1 >= buf + n)
			return strcmp(s, name) == 0;
		/* An incoming migration's VM process is `nestvm receive NAME ...`
		 * forked without exec (spawn.h). */
		else if (strcmp(s, "receive") == 0 && s + strlen(s) + 1 < buf + n)
			return strcmp(s + strlen(s) + 1, name) == 0;
	}
	return false;
}

/* Make sure the process is gone: the API's poweroff, then SIGKILL. Records
 * a kill when nestvm had to SIGKILL it. */
static int power_force(struct vmctl *c, const char *why)
{
	struct vm_transition t = { .reason = why, .pid = -1, .last_exit = -1 };
	char err[512];

	if (!vm_process_alive(&c->paths))
		return 0;
	if (power_action(c, "poweroff", err, sizeof(err)) == 0 &&
	    vm_process_wait_gone(&c->paths, POWER_KILL_WAIT_MS))
		return 0;
	if (c->rec.pid > 0 && power_pid_is_vm(c->rec.pid, c->rec.name)) {
		kill(c->rec.pid, SIGKILL);
		if (!vm_process_wait_gone(&c->paths, POWER_KILL_WAIT_MS)) {
			log_error("'%s': its process %d survived SIGKILL", c->rec.name,
				  c->rec.pid);
			return EXIT_VMM_ERROR;
		}
	} else if (vm_process_alive(&c->paths)) {
		log_error("'%s': its process does not answer and is not pid %d: find it with "
			  "fuser %s", c->rec.name, c->rec.pid, c->paths.lock);
		return EXIT_VMM_ERROR;
	}
	/* EPERM: the process recorded its own end first. */
	if (registry_transition(c->reg, c->rec.name, VM_OP_KILL, &t, NULL, err,
				sizeof(err)) == -ENOENT)
		log_warn("%s", err);
	return 0;
}

static const char *power_usage_stop(void)
{
	return "usage: nestvm stop NAME [--timeout S] [--state-dir DIR]\n\n"
	       "Ask the guest to shut down (the ACPI power button), wait up to --timeout\n"
	       "seconds (default 60) for it to power off, then force it off.";
}

int vmctl_stop(struct vmctl *c, int timeout_s)
{
	const char *name = c->rec.name;
	char err[512], why[160];
	int status = 0, r;

	if (!vm_state_active(c->rec.state)) {
		printf("'%s' is already %s\n", name, vm_state_name(c->rec.state));
		return 0;
	}
	r = power_action(c, "shutdown", err, sizeof(err));
	if (r == -EPERM) {
		log_error("%s", err);
		return EXIT_REFUSED;
	}
	if (r)
		log_warn("'%s': %s; forcing it off", name, err);
	if (r || !vm_process_wait_gone(&c->paths, (long)timeout_s * 1000)) {
		if (!r)
			printf("'%s' did not shut down within %d s: forcing it off\n", name,
			       timeout_s);
		snprintf(why, sizeof(why), "forced off: the guest did not shut down within %d s",
			 timeout_s);
		status = power_force(c, why);
	}
	power_print_state(c);
	return status;
}

int cmd_stop(int argc, char **argv)
{
	struct power_args a;
	struct vmctl c;
	int status;

	status = power_parse(argc, argv, "stop", true, &a);
	if (status || a.help) {
		if (a.help)
			puts(power_usage_stop());
		return status;
	}
	status = vmctl_open(&c, a.dir, a.name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		return status;
	status = vmctl_stop(&c, a.timeout_s);
	vmctl_close(&c);
	return status;
}

int cmd_kill(int argc, char **argv)
{
	struct power_args a;
	struct vmctl c;
	int status;

	status = power_parse(argc, argv, "kill", false, &a);
	if (status || a.help) {
		if (a.help)
			puts("usage: nestvm kill NAME [--state-dir DIR]\n\n"
			     "Power the VM off now, without asking the guest (like pulling the plug).");
		return status;
	}
	status = vmctl_open(&c, a.dir, a.name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		return status;
	if (!vm_state_active(c.rec.state)) {
		printf("'%s' is already %s\n", a.name, vm_state_name(c.rec.state));
		vmctl_close(&c);
		return 0;
	}
	status = power_force(&c, "killed (nestvm kill)");
	power_print_state(&c);
	vmctl_close(&c);
	return status;
}

/* ---- pause and resume ---- */

static int power_pause_resume(int argc, char **argv, const char *cmd, enum vm_op op)
{
	struct power_args a;
	struct vmctl c;
	char err[512];
	int status, r;

	status = power_parse(argc, argv, cmd, false, &a);
	if (status || a.help) {
		if (a.help)
			printf("usage: nestvm %s NAME [--state-dir DIR]\n\n%s\n", cmd,
			       op == VM_OP_PAUSE ?
			       "Quiesce the VM: its vCPUs, I/O thread and device backends stop;\n"
			       "nothing changes its memory, disks or devices until resume." :
			       "Run a paused VM again.");
		return status;
	}
	status = vmctl_open(&c, a.dir, a.name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		return status;
	if ((op == VM_OP_PAUSE && c.rec.state != VM_STATE_RUNNING) ||
	    (op == VM_OP_RESUME && c.rec.state != VM_STATE_PAUSED)) {
		vm_state_refusal(a.name, c.rec.state, op, NULL, err, sizeof(err));
		log_error("%s", err);
		vmctl_close(&c);
		return EXIT_REFUSED;
	}
	r = power_action(&c, cmd, err, sizeof(err));
	if (r)
		log_error("%s", err);
	else
		power_print_state(&c);
	vmctl_close(&c);
	return r == -EPERM ? EXIT_REFUSED : r ? EXIT_VMM_ERROR : 0;
}

int cmd_pause(int argc, char **argv)
{
	return power_pause_resume(argc, argv, "pause", VM_OP_PAUSE);
}

int cmd_resume(int argc, char **argv)
{
	return power_pause_resume(argc, argv, "resume", VM_OP_RESUME);
}

/* ---- console ---- */

int cmd_console(int argc, char **argv)
{
	struct power_args a;
	struct vmctl c;
	char err[512];
	int status;

	status = power_parse(argc, argv, "console", false, &a);
	if (status || a.help) {
		if (a.help)
			puts("usage: nestvm console NAME [--state-dir DIR]\n\n"
			     "Attach this terminal to the running VM's serial console. Ctrl-]\n"
			     "detaches (the VM keeps running); the last output is shown first.");
		return status;
	}
	/* No operation lock: attaching lasts, and must not hold up stop. */
	status = vmctl_open(&c, a.dir, a.name, VMCTL_TRYLOCK | VMCTL_GET);
	if (status)
		return status;
	if (!vm_state_active(c.rec.state)) {
		vm_state_refusal(a.name, c.rec.state, VM_OP_CONSOLE, NULL, err, sizeof(err));
		log_error("%s", err);
		vmctl_close(&c);
		return EXIT_REFUSED;
	}
	if (c.oplock >= 0) {
		close(c.oplock);
		c.oplock = -1;
	}
	if (console_sock_attach(c.paths.console, STDIN_FILENO, STDOUT_FILENO, err, sizeof(err))) {
		log_error("cannot attach to '%s': %s", a.name, err);
		status = EXIT_VMM_ERROR;
	}
	vmctl_close(&c);
	return status;
}
