/* Live migration from the command line (docs/migration.md): nestvm
 * migrate NAME --to ADDR (the VM process does the work, machine/migrate.h),
 * nestvm receive NAME --listen ADDR, nestvm migration-key FILE. */
#include "cli/commands.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/vmctl.h"
#include "config/vmconfig.h"
#include "control/spawn.h"
#include "machine/migrate.h"
#include "transport/transport.h"
#include "vmm/log.h"

#define MIGRATE_DEFAULT_TIMEOUT_S 600
#define RECEIVE_DEFAULT_WAIT_S    3600

struct mig_args {
	const char *dir_opt;           /* --state-dir */
	const char *name;
	const char *addr;              /* --to / --listen */
	const char *psk_file;
	unsigned long max_downtime_ms, timeout_s, wait_s;
	bool allow_remote, json, help;
};

static const char migrate_usage[] =
	"usage: nestvm migrate NAME --to unix:PATH|tcp:HOST:PORT [--psk-file FILE]\n"
	"                      [--max-downtime MS] [--timeout S] [--json] [--state-dir DIR]\n\n"
	"Move the running VM NAME, with the guests it runs itself, to a nestvm waiting\n"
	"with `nestvm receive`. Memory is copied while the guest runs, then again what\n"
	"it wrote meanwhile, until the rest fits --max-downtime; then the guest stops,\n"
	"the last pages and every vCPU's and device's state go over, and it goes on\n"
	"there. Until the destination says it runs the VM, it keeps running here: on\n"
	"any failure it goes on here. Disks stay where they are (the same path on\n"
	"both sides: shared storage).\n"
	"      --to ADDR          unix:PATH, or tcp:HOST:PORT (needs --psk-file)\n"
	"      --psk-file FILE    TLS with this pre-shared key (nestvm migration-key FILE)\n"
	"      --max-downtime MS  the longest the guest may be stopped (default 300)\n"
	"      --timeout S        give up (the VM runs on here) after S seconds (default 600)\n"
	"      --json             the result as JSON\n";

static const char receive_usage[] =
	"usage: nestvm receive NAME --listen unix:PATH|tcp:ADDR:PORT [--psk-file FILE]\n"
	"                      [--allow-remote] [--timeout S] [--state-dir DIR]\n\n"
	"Wait for one VM sent by `nestvm migrate`, define it as NAME from what the\n"
	"source sends (refused, before any memory is sent, when NAME exists here with\n"
	"another definition or this host cannot give the VM its CPU features and KVM\n"
	"state) and run it here. Exits 0 once it runs here.\n"
	"      --listen ADDR      unix:PATH (created mode 0600), or tcp:ADDR:PORT (needs\n"
	"                         --psk-file; loopback only unless --allow-remote)\n"
	"      --psk-file FILE    TLS with this pre-shared key\n"
	"      --allow-remote     listen on an address other than loopback\n"
	"      --timeout S        wait at most S seconds for the source (default 3600)\n";

static int mig_number(const char *opt, const char *v, unsigned long lo, unsigned long hi,
		      unsigned long *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = v ? strtoul(v, &end, 10) : 0;
	if (!v || !*v || *end || errno || n < lo || n > hi) {
		log_error("%s needs a whole number from %lu to %lu", opt, lo, hi);
		return EXIT_USAGE;
	}
	*out = n;
	return 0;
}

static int mig_parse(int argc, char **argv, bool send, struct mig_args *a)
{
	const char *cmd = send ? "migrate" : "receive", *addr_opt = send ? "--to" : "--listen";
	char err[256];

	memset(a, 0, sizeof(*a));
	if (vmctl_take_state_dir(&argc, argv, &a->dir_opt, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int st = 0;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			a->help = true;
			continue;
		}
		if (!strcmp(o, addr_opt) || !strcmp(o, "--psk-file")) {
			if (!v || !*v) {
				log_error("%s needs a value (nestvm %s --help)", o, cmd);
				return EXIT_USAGE;
			}
			*(!strcmp(o, "--psk-file") ? &a->psk_file : &a->addr) = v;
			i++;
		} else if (send && !strcmp(o, "--max-downtime")) {
			st = mig_number(o, v, 1, 60000, &a->max_downtime_ms);
			i++;
		} else if (!strcmp(o, "--timeout")) {
			st = mig_number(o, v, 1, 86400, send ? &a->timeout_s : &a->wait_s);
			i++;
		} else if (send && !strcmp(o, "--json")) {
			a->json = true;
		} else if (!send && !strcmp(o, "--allow-remote")) {
			a->allow_remote = true;
		} else if (o[0] == '-') {
			log_error("unknown option '%s' (nestvm %s --help)", o, cmd);
			return EXIT_USAGE;
		} else if (!a->name) {
			a->name = o;
		} else {
			log_error("unexpected argument '%s' (nestvm %s --help)", o, cmd);
			return EXIT_USAGE;
		}
		if (st)
			return st;
	}
	if (!a->help && (!a->name || !a->addr)) {
		log_error("%s needs a VM name and %s: nestvm %s NAME %s ADDR", cmd, addr_opt, cmd,
			  addr_opt);
		return EXIT_USAGE;
	}
	return 0;
}

/* The key file as an absolute path (the VM process has another cwd). */
static int mig_abs_psk(const char *psk, char *out, size_t len)
{
	char buf[PATH_MAX];

	if (!psk) {
		out[0] = '\0';
		return 0;
	}
	if (!realpath(psk, buf)) {
		log_error("the key file %s: %s", psk, strerror(errno));
		return EXIT_USAGE;
	}
	snprintf(out, len, "%s", buf);
	return 0;
}

static void mig_print(const char *name, json_t *reply)
{
	printf("'%s' migrated to %s: running there; %d rounds, %lld pages (%.1f MiB sent at "
	       "%.1f MiB/s), %.0f ms in all, guest stopped %.0f ms%s\n", name,
	       json_string_value(json_object_get(reply, "to")),
	       (int)json_integer_value(json_object_get(reply, "rounds")),
	       (long long)json_integer_value(json_object_get(reply, "pages")),
	       (double)json_integer_value(json_object_get(reply, "bytes")) / 1048576.0,
	       json_real_value(json_object_get(reply, "mbytes_per_s")),
	       json_real_value(json_object_get(reply, "total_ms")),
	       json_real_value(json_object_get(reply, "downtime_ms")),
	       json_is_true(json_object_get(reply, "nested_guest_running")) ?
	       "; its nested guests went with it" : "");
}

int cmd_migrate(int argc, char **argv)
{
	char psk[PATH_MAX], err[1024];
	struct xport_endpoint ep;
	struct mig_args a;
	json_t *body, *reply = NULL;
	struct vmctl c;
	long http = 0;
	int status, r;

	status = mig_parse(argc, argv, true, &a);
	if (status || a.help) {
		if (a.help)
			fputs(migrate_usage, stdout);
		return status;
	}
	if (xport_endpoint_parse(a.addr, &ep, err, sizeof(err))) {
		log_error("--to %s: %s", a.addr, err);
		return EXIT_USAGE;
	}
	if (ep.kind == XPORT_TCP && !a.psk_file) {
		log_error("--to %s: a TCP migration needs --psk-file (TLS with a pre-shared key: "
			  "nestvm migration-key FILE makes one)", a.addr);
		return EXIT_USAGE;
	}
	if (mig_abs_psk(a.psk_file, psk, sizeof(psk)))
		return EXIT_USAGE;
	status = vmctl_open(&c, a.dir_opt, a.name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		return status;
	if (c.rec.state != VM_STATE_RUNNING) {
		log_error("cannot migrate '%s': it is %s (a migration needs a running VM)", a.name,
			  vm_state_name(c.rec.state));
		vmctl_close(&c);
		return EXIT_REFUSED;
	}
	body = json_pack("{s:s}", "to", a.addr);
	if (psk[0])
		json_object_set_new(body, "psk_file", json_string(psk));
	if (a.max_downtime_ms)
		json_object_set_new(body, "max_downtime_ms", json_integer((json_int_t)a.max_downtime_ms));
	if (a.timeout_s)
		json_object_set_new(body, "timeout_s", json_integer((json_int_t)a.timeout_s));
	r = api_client_request(c.paths.api, "POST", "/v1/vm/migrate", body,
			       (long)((a.timeout_s ? a.timeout_s : MIGRATE_DEFAULT_TIMEOUT_S) + 300) *
			       1000, &http, &reply, err, sizeof(err));
	json_decref(body);
	if (r) {
		log_error("cannot reach '%s': %s", a.name, err);
		vmctl_close(&c);
		return EXIT_VMM_ERROR;
	}
	if (http != 200) {
		const char *msg = json_string_value(json_object_get(reply, "error"));

		log_error("cannot migrate '%s' (it runs on here): %s", a.name, msg ? msg : "failed");
		json_decref(reply);
		vmctl_close(&c);
		return http == 409 ? EXIT_REFUSED : http == 400 ? EXIT_USAGE : EXIT_VMM_ERROR;
	}
	vm_process_wait_gone(&c.paths, 30000);
	if (a.json) {
		json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		mig_print(a.name, reply);
	}
	json_decref(reply);
	vmctl_close(&c);
	return 0;
}

/* The definition the source sent, named NAME: created here, or the same
 * as NAME's. *created says which. 0 or an exit status (refused: the
 * source is told). */
static int recv_define(struct vmctl *c, struct machine_incoming *in, const char *name,
		       const char *config_json, bool exists, bool *created)
{
	struct vm_config cfg;
	json_error_t jerr;
	json_t *j = json_loads(config_json, JSON_REJECT_DUPLICATES, &jerr), *mine = NULL;
	char err[1024];
	int r;

	*created = false;
	if (!j || vmconfig_from_json(j, &cfg, err, sizeof(err))) {
		snprintf(err, sizeof(err), "the VM's definition from the source is not valid");
		json_decref(j);
		machine_incoming_refuse(in, err);
		log_error("%s", err);
		return EXIT_USAGE;
	}
	json_decref(j);
	r = vmconfig_set_string(&cfg.name, name) ? -ENOMEM : 0;
	if (!r && exists) {
		json_t *theirs = vmconfig_to_json(&cfg);

		mine = vmconfig_to_json(&c->rec.cfg);
		if (!theirs || !mine || !json_equal(theirs, mine)) {
			snprintf(err, sizeof(err), "'%s' exists at the destination with another "
				 "definition: delete it there or receive under another name", name);
			r = -EEXIST;
		}
		json_decref(theirs);
		json_decref(mine);
	} else if (!r) {
		r = registry_create(c->reg, &cfg, err, sizeof(err));
		*created = r == 0;
	}
	if (!r && !exists)
		r = registry_get(c->reg, name, &c->rec, err, sizeof(err));
	vmconfig_free(&cfg);
	if (r) {
		machine_incoming_refuse(in, err);
		log_error("cannot receive '%s': %s", name, err);
		return r == -EEXIST ? EXIT_REFUSED : EXIT_USAGE;
	}
	return 0;
}

/* Listen, take one connection, read its offer. 0 or an exit status. */
static int recv_accept(const struct mig_args *a, const struct xport_security *sec,
		       struct machine_incoming *in, char **config_json)
{
	struct xport_endpoint ep;
	char err[1024];
	int lfd, r;

	if (xport_endpoint_parse(a->addr, &ep, err, sizeof(err))) {
		log_error("--listen %s: %s", a->addr, err);
		return EXIT_USAGE;
	}
	lfd = xport_listen(&ep, sec, err, sizeof(err));
	if (lfd < 0) {
		log_error("cannot listen on %s: %s", a->addr, err);
		return lfd == -EINVAL || lfd == -EPERM || lfd == -EADDRINUSE ? EXIT_USAGE :
		       EXIT_VMM_ERROR;
	}
	printf("waiting for '%s' on %s\n", a->name, a->addr);
	fflush(stdout);
	r = xport_accept(lfd, sec, (int)(a->wait_s ? a->wait_s : RECEIVE_DEFAULT_WAIT_S) * 1000,
			 &in->conn, err, sizeof(err));
	xport_unlisten(&ep, lfd);
	if (r) {
		log_error("no VM came on %s: %s", a->addr, err);
		return r == -ETIMEDOUT ? EXIT_VMM_ERROR : EXIT_USAGE;
	}
	snprintf(in->from, sizeof(in->from), "the source (on %s)", a->addr);
	r = machine_incoming_hello(in, config_json, err, sizeof(err));
	if (r) {
		log_error("cannot receive '%s': %s", a->name, err);
		return r == -EPROTO || r == -EINVAL ? EXIT_USAGE : EXIT_VMM_ERROR;
	}
	return 0;
}

/* Did the incoming VM take over here before its process died (recorded
 * running at GO), or did it never run (still starting, stopped with the
 * refusal, or found dead while starting)? */
static bool recv_took_over(const struct vm_record *rec)
{
	if (rec->state == VM_STATE_STARTING || rec->state == VM_STATE_STOPPED)
		return false;
	return !(rec->state == VM_STATE_CRASHED &&
		 strncmp(rec->reason, "its start did not complete", 26) == 0);
}

int cmd_receive(int argc, char **argv)
{
	struct machine_incoming in = { 0 };
	struct vmproc_restore rs = { 0 };
	struct xport_security sec;
	char psk[PATH_MAX], err[512], *config_json = NULL;
	struct mig_args a;
	struct vmctl c;
	bool exists, created = false;
	int status;

	status = mig_parse(argc, argv, false, &a);
	if (status || a.help) {
		if (a.help)
			fputs(receive_usage, stdout);
		return status;
	}
	if (mig_abs_psk(a.psk_file, psk, sizeof(psk)))
		return EXIT_USAGE;
	sec.psk_file = psk[0] ? psk : NULL;
	sec.allow_remote = a.allow_remote;
	status = vmctl_open(&c, a.dir_opt, a.name, VMCTL_LOCK);
	if (status)
		return status;
	exists = registry_get(c.reg, a.name, &c.rec, err, sizeof(err)) == 0;
	if (exists)
		vm_reconcile(c.reg, &c.paths, &c.rec, err, sizeof(err));
	if (exists && c.rec.state != VM_STATE_STOPPED && c.rec.state != VM_STATE_CRASHED) {
		log_error("cannot receive '%s': it is %s here", a.name, vm_state_name(c.rec.state));
		vmctl_close(&c);
		return EXIT_REFUSED;
	}
	status = recv_accept(&a, &sec, &in, &config_json);
	if (!status)
		status = recv_define(&c, &in, a.name, config_json, exists, &created);
	free(config_json);
	if (!status) {
		rs.incoming = &in;
		rs.timeout_s = 3600;
		status = vmctl_start(&c, &rs);
		if (status && created) {
			/* Nothing half-made stays behind, unless the VM had taken
			 * over here (GO came: it was recorded running) and then
			 * died: that record says what became of it. */
			vm_process_wait_gone(&c.paths, 60000);
			vm_record_free(&c.rec);
			if (registry_get(c.reg, a.name, &c.rec, err, sizeof(err)) == 0 &&
			    recv_took_over(&c.rec))
				vm_reconcile(c.reg, &c.paths, &c.rec, err, sizeof(err));
			else if (registry_delete(c.reg, a.name, err, sizeof(err)) == 0)
				vm_dir_remove(&c.paths);
			else
				log_warn("'%s' could not be removed: %s", a.name, err);
		}
	}
	/* The VM process has its own copy of the stream: only the socket here. */
	if (in.conn)
		close(xport_fd(in.conn));
	machine_incoming_free(&in);
	vmctl_close(&c);
	return status;
}

int cmd_migration_key(int argc, char **argv)
{
	char err[512];

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		puts("usage: nestvm migration-key FILE\n\n"
		     "Write a new random TLS pre-shared key (256 bits, hex) to FILE, mode 0600,\n"
		     "for `nestvm migrate --psk-file` and `nestvm receive --psk-file`: copy it to\n"
		     "the other host by a safe channel.");
		return 0;
	}
	if (argc != 2) {
		log_error("usage: nestvm migration-key FILE");
		return EXIT_USAGE;
	}
	if (xport_psk_create(argv[1], err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	printf("wrote a new migration key to %s (mode 0600)\n", argv[1]);
	return 0;
}
