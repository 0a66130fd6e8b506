/* Unit tests of src/registry/registry*.c: the SQLite registry of VM
 * definitions and states, in temp dirs: records, every transition,
 * persistence, schema versions, damaged and locked databases, and races
 * between threads and processes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry/registry.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"

#define MIB (1ULL << 20)

#include "registry_fixture.h"

/* A definition with every kind of device, so that a round trip checks them. */
static void make_def(struct vm_config *d, const char *name)
{
	char text[2048], err[256];
	json_t *j;

	snprintf(text, sizeof(text),
		 "{\"name\":\"%s\",\"kernel\":\"/boot/vmlinuz-%s\",\"initrd\":\"/boot/initrd-%s\","
		 "\"cmdline\":\"console=ttyS0 quiet\",\"cpus\":2,\"memory_bytes\":%llu,"
		 "\"nested\":true,\"max_depth\":3,\"rng\":true,"
		 "\"disks\":[{\"path\":\"/var/img/%s-root.img\",\"readonly\":false},"
		 "{\"path\":\"/var/img/%s-data.img\",\"readonly\":true}],"
		 "\"nics\":[{\"backend\":\"user\",\"tap\":null,\"mac\":\"02:4e:56:00:00:01\","
		 "\"mac_spoofing\":false,\"allowed_macs\":[\"02:00:00:00:00:07\"],"
		 "\"forwards\":[{\"proto\":\"tcp\",\"host_port\":8080,\"guest_port\":80},"
		 "{\"proto\":\"tcp\",\"host_port\":2222,\"guest_port\":22}]},"
		 "{\"backend\":\"tap\",\"tap\":\"tap-%.8s\",\"mac\":\"02:4e:56:00:00:02\","
		 "\"mac_spoofing\":true,\"allowed_macs\":[],\"forwards\":[]}]}",
		 name, name, name, (unsigned long long)(1024 * MIB), name, name, name);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	vmconfig_free(d);   /* d is zeroed or a definition */
	if (vmconfig_from_json(j, d, err, sizeof(err)))
		fail_msg("make_def: %s", err);
	json_decref(j);
}

/* Two configurations hold the same (their JSON is the same text). */
static void assert_config_equal(const struct vm_config *a, const struct vm_config *b)
{
	json_t *ja = vmconfig_to_json(a), *jb = vmconfig_to_json(b);
	char *ta = json_dumps(ja, JSON_COMPACT | JSON_SORT_KEYS);
	char *tb = json_dumps(jb, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(ta);
	assert_non_null(tb);
	assert_string_equal(ta, tb);
	free(ta);
	free(tb);
	json_decref(ja);
	json_decref(jb);
}

static void create(struct fixture *f, const char *name)
{
	struct vm_config d = { 0 };

	make_def(&d, name);
	if (registry_create(f->r, &d, f->err, sizeof(f->err)))
		fail_msg("registry_create(%s): %s", name, f->err);
	vmconfig_free(&d);
}

static enum vm_state state_of(struct fixture *f, const char *name)
{
	struct vm_record rec = { 0 };

	if (registry_get(f->r, name, &rec, f->err, sizeof(f->err)))
		fail_msg("registry_get(%s): %s", name, f->err);
	vm_record_free(&rec);
	return rec.state;
}

static void apply(struct fixture *f, const char *name, enum vm_op op)
{
	if (registry_transition(f->r, name, op, NULL, NULL, f->err, sizeof(f->err)))
		fail_msg("%s %s: %s", vm_op_name(op), name, f->err);
}

/* ---- the state directory ---- */

/* The XDG and HOME rules hold for users other than root. 0 when they do. */
static int state_dir_user_rules(void)
{
	char out[256], err[256];

	unsetenv("NESTVM_STATE_DIR");
	setenv("XDG_STATE_HOME", "/x/state", 1);
	setenv("HOME", "/home/u", 1);
	if (registry_state_dir(NULL, out, sizeof(out), err, sizeof(err)) ||
	    strcmp(out, "/x/state/nestvm"))
		return 1;
	setenv("XDG_STATE_HOME", "relative", 1);   /* invalid by the spec: ignored */
	if (registry_state_dir(NULL, out, sizeof(out), err, sizeof(err)) ||
	    strcmp(out, "/home/u/.local/state/nestvm"))
		return 2;
	unsetenv("XDG_STATE_HOME");
	if (registry_state_dir("", out, sizeof(out), err, sizeof(err)) ||
	    strcmp(out, "/home/u/.local/state/nestvm"))
		return 3;
	unsetenv("HOME");
	if (registry_state_dir(NULL, out, sizeof(out), err, sizeof(err)) != -EINVAL ||
	    !strstr(err, "HOME"))
		return 4;
	return 0;
}

static int run_as_nobody(int (*fn)(void))
{
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return fn();
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(100);
		_exit(fn());
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_state_dir(void **state)
{
	char out[256], err[256], small[8];
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	(void)state;
	setenv("NESTVM_STATE_DIR", "/env/dir", 1);
	assert_int_equal(registry_state_dir("/opt/dir", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "/opt/dir");
	assert_int_equal(registry_state_dir(NULL, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "/env/dir");
	unsetenv("NESTVM_STATE_DIR");
	if (geteuid() == 0) {
		assert_int_equal(registry_state_dir(NULL, out, sizeof(out), err, sizeof(err)), 0);
		assert_string_equal(out, "/var/lib/nestvm");
	}
	assert_int_equal(registry_state_dir("/a/long/dir", small, sizeof(small), err,
					    sizeof(err)), -ENAMETOOLONG);
	assert_int_equal(run_as_nobody(state_dir_user_rules), 0);
	if (home)
		setenv("HOME", home, 1);
	free(home);
}

static void test_open_creates_private_dir_and_wal_db(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	sqlite3 *c;
	sqlite3_stmt *s;

	assert_int_equal(stat(f->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(f->db, &st), 0);
	assert_string_equal(registry_dir(f->r), f->dir);
	/* 2: the definition is one JSON column (was a column or table a field);
	 * 3: the snapshot records (test_registry_snapshot.c). */
	assert_int_equal(registry_schema_version(), 3);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), registry_schema_version());
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
			 "AND name = 'vms'"), 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
			 "AND name LIKE 'vm\\_%' ESCAPE '\\'"), 0);
	assert_int_equal(sqlite3_open_v2(f->db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(c, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(c);
}

/* ---- records ---- */

static void test_create_get_list(void **state)
{
	struct fixture *f = *state;
	struct vm_record rec = { 0 }, *all;
	struct vm_config d = { 0 };
	int64_t now = (int64_t)time(NULL);
	size_t n;

	create(f, "web");
	create(f, "db");
	create(f, "cache");
	make_def(&d, "web");
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_config_equal(&rec.cfg, &d);
	assert_int_equal(rec.state, VM_STATE_STOPPED);
	assert_string_equal(rec.reason, "");
	assert_int_equal(rec.pid, 0);
	assert_true(rec.created >= now - 5 && rec.created <= now + 5);
	assert_int_equal(rec.state_changed, rec.created);
	assert_int_equal(rec.started, 0);
	assert_int_equal(rec.last_exit, -1);

	assert_int_equal(registry_list(f->r, &all, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(all[0].name, "cache");
	assert_string_equal(all[1].name, "db");
	assert_string_equal(all[2].name, "web");
	make_def(&d, "db");
	assert_config_equal(&all[1].cfg, &d);
	registry_list_free(all, n);
	vm_record_free(&rec);
	vmconfig_free(&d);
}

static void test_list_empty(void **state)
{
	struct fixture *f = *state;
	struct vm_record *all = (struct vm_record *)&all;
	size_t n = 99;

	assert_int_equal(registry_list(f->r, &all, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	registry_list_free(all, n);
}

static void test_duplicate_name(void **state)
{
	struct fixture *f = *state;
	struct vm_config d = { 0 };
	struct vm_record *all;
	size_t n;

	create(f, "web");
	make_def(&d, "web");
	d.cpus = 8;
	assert_int_equal(registry_create(f->r, &d, f->err, sizeof(f->err)), -EEXIST);
	assert_non_null(strstr(f->err, "'web' already exists"));
	assert_int_equal(registry_list(f->r, &all, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].cfg.cpus, 2);
	registry_list_free(all, n);
	/* Nothing half-written by the refused one. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM vms"), 1);
	assert_int_equal(raw_int(f->db, "SELECT config ->> '$.cpus' FROM vms"), 2);
	vmconfig_free(&d);
}

static void test_bad_definitions_refused(void **state)
{
	struct fixture *f = *state;
	struct vm_config d = { 0 };

	make_def(&d, "web");
	assert_int_equal(vmconfig_set_string(&d.name, "bad/name"), 0);
	assert_int_equal(registry_create(f->r, &d, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "bad/name"));
	make_def(&d, "web");
	d.cpus = 0;   /* vmconfig_check refuses it before SQL sees it */
	assert_int_equal(registry_create(f->r, &d, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "vCPUs"));
	free(d.name);
	d.name = NULL;
	d.cpus = 1;
	assert_int_equal(registry_create(f->r, &d, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "needs a name"));
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM vms"), 0);
	/* Behind it, the schema's CHECKs: JSON, an object, its name the row's. */
	{
		static const char *const bad[] = {
			"INSERT INTO vms (name, config, created, state_changed) "
			"VALUES ('x', 'not json', 0, 0)",
			"INSERT INTO vms (name, config, created, state_changed) "
			"VALUES ('x', '[1]', 0, 0)",
			"INSERT INTO vms (name, config, created, state_changed) "
			"VALUES ('x', '{\"name\":\"y\"}', 0, 0)",
		};
		sqlite3 *c;

		assert_int_equal(sqlite3_open(f->db, &c), SQLITE_OK);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_not_equal(sqlite3_exec(c, bad[i], NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(c);
	}
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM vms"), 0);
	/* The state column takes only the six states. */
	create(f, "web");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM vms"), 1);
	{
		sqlite3 *c;

		assert_int_equal(sqlite3_open(f->db, &c), SQLITE_OK);
		assert_int_not_equal(sqlite3_exec(c, "UPDATE vms SET state = 'bogus'", NULL, NULL,
						  NULL), SQLITE_OK);
		sqlite3_close(c);
	}
	vmconfig_free(&d);
}

static void test_unknown_name(void **state)
{
	struct fixture *f = *state;
	struct vm_record rec = { 0 };
	struct vm_config d = { 0 };

	create(f, "web");
	make_def(&d, "nope");
	assert_int_equal(registry_get(f->r, "nope", &rec, f->err, sizeof(f->err)), -ENOENT);
	assert_string_equal(f->err, "no VM named 'nope'");
	f->err[0] = '\0';
	assert_int_equal(registry_update(f->r, &d, NULL, f->err, sizeof(f->err)), -ENOENT);
	assert_string_equal(f->err, "no VM named 'nope'");
	assert_int_equal(registry_delete(f->r, "nope", f->err, sizeof(f->err)), -ENOENT);
	assert_int_equal(registry_transition(f->r, "nope", VM_OP_START, NULL, NULL, f->err,
					     sizeof(f->err)), -ENOENT);
	/* Names are bound, never pasted into SQL. */
	assert_int_equal(registry_get(f->r, "x' OR '1'='1", &rec, f->err, sizeof(f->err)),
			 -ENOENT);
	vm_record_free(&rec);
	vmconfig_free(&d);
}

static void test_update(void **state)
{
	struct fixture *f = *state;
	struct vm_record rec = { 0 };
	struct vm_config d = { 0 };

	create(f, "web");
	create(f, "db");
	make_def(&d, "web");
	d.cpus = 16;
	d.memory = 4096 * MIB;
	d.nested = false;
	free(d.initrd);
	d.initrd = NULL;
	/* One disk (read-only), one NIC with one forward and no allowed MAC,
	 * no rng. */
	json_decref(d.devices[1].cfg);
	memmove(&d.devices[1], &d.devices[2], (d.n_devices - 2) * sizeof(d.devices[0]));
	d.n_devices--;
	json_object_set_new(d.devices[0].cfg, "readonly", json_true());
	vmconfig_remove_class(&d, &virtio_rng_class);
	json_decref(d.devices[2].cfg);
	d.n_devices--;
	json_array_remove(json_object_get(d.devices[1].cfg, "forwards"), 1);
	json_array_clear(json_object_get(d.devices[1].cfg, "allowed_macs"));
	assert_int_equal(vmconfig_check(&d, f->err, sizeof(f->err)), 0);
	assert_int_equal(registry_update(f->r, &d, "vCPUs", f->err, sizeof(f->err)), 0);
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_config_equal(&rec.cfg, &d);
	assert_int_equal(vmconfig_count(&rec.cfg, &virtio_blk_class), 1);
	assert_int_equal(vmconfig_count(&rec.cfg, &virtio_net_class), 1);
	assert_int_equal(vmconfig_count(&rec.cfg, &virtio_rng_class), 0);
	/* web's stored definition changed; db's stayed. */
	assert_int_equal(raw_int(f->db, "SELECT json_array_length(config, '$.disks') FROM vms "
			 "WHERE name = 'web'"), 1);
	assert_int_equal(raw_int(f->db, "SELECT json_array_length(config, '$.nics[0].forwards') "
			 "FROM vms WHERE name = 'web'"), 1);
	assert_int_equal(raw_int(f->db, "SELECT json_array_length(config, '$.disks') FROM vms "
			 "WHERE name = 'db'"), 2);
	make_def(&d, "db");
	assert_int_equal(registry_get(f->r, "db", &rec, f->err, sizeof(f->err)), 0);
	assert_config_equal(&rec.cfg, &d);
	vm_record_free(&rec);
	vmconfig_free(&d);
}

static void test_update_refused_while_running(void **state)
{
	struct fixture *f = *state;
	struct vm_record rec = { 0 };
	struct vm_config d = { 0 };

	create(f, "web");
	apply(f, "web", VM_OP_START);
	apply(f, "web", VM_OP_STARTED);
	make_def(&d, "web");
	d.nested = false;
	assert_int_equal(registry_update(f->r, &d, "nested virtualization", f->err,
					 sizeof(f->err)), -EPERM);
	assert_string_equal(f->err, "cannot change nested virtualization of 'web' while it is "
			    "running: stop it first (nestvm stop web)");
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_true(rec.cfg.nested);
	assert_int_equal(rec.state, VM_STATE_RUNNING);
	/* After it crashed, it may change. */
	apply(f, "web", VM_OP_FAILED);
	assert_int_equal(registry_update(f->r, &d, "nested virtualization", f->err,
					 sizeof(f->err)), 0);
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_false(rec.cfg.nested);
	assert_int_equal(rec.state, VM_STATE_CRASHED);
	vm_record_free(&rec);
	vmconfig_free(&d);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct vm_record rec = { 0 };

	create(f, "web");
	create(f, "db");
	apply(f, "db", VM_OP_START);
	assert_int_equal(registry_delete(f->r, "db", f->err, sizeof(f->err)), -EPERM);
	assert_non_null(strstr(f->err, "cannot delete 'db' while it is starting"));
	assert_int_equal(registry_delete(f->r, "web", f->err, sizeof(f->err)), 0);
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), -ENOENT);
	/* Its definition went with it (one row); db's is left. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM vms"), 1);
	assert_int_equal(raw_int(f->db, "SELECT json_array_length(config, '$.disks') FROM vms "
			 "WHERE name = 'db'"), 2);
	assert_int_equal(registry_get(f->r, "db", &rec, f->err, sizeof(f->err)), 0);
	/* The name is free again. */
	create(f, "web");
	vm_record_free(&rec);
}

/* ---- transitions ---- */

/* How to bring a new VM into each state from STOPPED. */
static const enum vm_op path_to[VM_STATE_COUNT][4] = {
	[VM_STATE_STOPPED] = { VM_OP_COUNT },
	[VM_STATE_STARTING] = { VM_OP_START, VM_OP_COUNT },
	[VM_STATE_RUNNING] = { VM_OP_START, VM_OP_STARTED, VM_OP_COUNT },
	[VM_STATE_PAUSED] = { VM_OP_START, VM_OP_STARTED, VM_OP_PAUSE, VM_OP_COUNT },
	[VM_STATE_STOPPING] = { VM_OP_START, VM_OP_STARTED, VM_OP_STOP, VM_OP_COUNT },
	[VM_STATE_CRASHED] = { VM_OP_START, VM_OP_FAILED, VM_OP_COUNT },
};

static void assert_record_equal(const struct vm_record *a, const struct vm_record *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->state, b->state);
	assert_string_equal(a->reason, b->reason);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->state_changed, b->state_changed);
	assert_int_equal(a->started, b->started);
	assert_int_equal(a->last_exit, b->last_exit);
	assert_config_equal(&a->cfg, &b->cfg);
}

static void check_pair(struct fixture *f, enum vm_state s, enum vm_op op)
{
	struct vm_transition t = { .reason = "because", .pid = 4242, .last_exit = 7 };
	struct vm_record before = { 0 }, after = { 0 };
	enum vm_state want, from = VM_STATE_COUNT;
	char name[64], refusal[512];
	int r;

	snprintf(name, sizeof(name), "%s-%s", vm_state_name(s), vm_op_name(op));
	create(f, name);
	for (int i = 0; path_to[s][i] != VM_OP_COUNT; i++)
		apply(f, name, path_to[s][i]);
	assert_int_equal(registry_get(f->r, name, &before, f->err, sizeof(f->err)), 0);
	assert_int_equal(before.state, s);
	r = registry_transition(f->r, name, op, &t, &from, f->err, sizeof(f->err));
	if (vm_state_next(s, op, &want) != 0) {
		vm_state_refusal(name, s, op, NULL, refusal, sizeof(refusal));
		if (r != -EPERM || strcmp(f->err, refusal) != 0)
			fail_msg("%s: r=%d \"%s\", want -EPERM \"%s\"", name, r, f->err, refusal);
		assert_int_equal(registry_get(f->r, name, &after, f->err, sizeof(f->err)), 0);
		assert_record_equal(&before, &after);
		vm_record_free(&before);
		vm_record_free(&after);
		return;
	}
	if (r != 0)
		fail_msg("%s: refused: %s", name, f->err);
	assert_int_equal(from, s);
	r = registry_get(f->r, name, &after, f->err, sizeof(f->err));
	if (op == VM_OP_DELETE) {
		assert_int_equal(r, -ENOENT);
		vm_record_free(&before);
		vm_record_free(&after);
		return;
	}
	assert_int_equal(r, 0);
	assert_int_equal(after.state, want);
	if (op == VM_OP_MODIFY || op == VM_OP_CONSOLE) {
		assert_record_equal(&before, &after);   /* a check only */
		vm_record_free(&before);
		vm_record_free(&after);
		return;
	}
	assert_string_equal(after.reason, "because");
	assert_int_equal(after.pid, vm_state_active(want) ? 4242 : 0);
	assert_int_equal(after.last_exit, 7);
	assert_true(after.state_changed >= before.state_changed);
	if (op == VM_OP_START)
		assert_true(after.started >= before.created);
	else
		assert_int_equal(after.started, before.started);
	vm_record_free(&before);
	vm_record_free(&after);
}

static void test_every_transition(void **state)
{
	struct fixture *f = *state;

	for (int s = 0; s < VM_STATE_COUNT; s++)
		for (int op = 0; op < VM_OP_COUNT; op++)
			check_pair(f, (enum vm_state)s, (enum vm_op)op);
}

static void test_transition_fields(void **state)
{
	struct fixture *f = *state;
	struct vm_transition t = { .reason = "starting up", .pid = 1234, .last_exit = -1 };
	struct vm_record rec = { 0 };
	enum vm_state from;
	char longreason[400];

	create(f, "web");
	assert_int_equal(registry_transition(f->r, "web", VM_OP_START, &t, &from, f->err,
					     sizeof(f->err)), 0);
	assert_int_equal(from, VM_STATE_STOPPED);
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_int_equal(rec.pid, 1234);
	assert_true(rec.started > 0);
	assert_string_equal(rec.reason, "starting up");
	assert_int_equal(rec.last_exit, -1);

	t = (struct vm_transition){ .reason = NULL, .pid = -1, .last_exit = -1 };
	assert_int_equal(registry_transition(f->r, "web", VM_OP_STARTED, &t, &from, f->err,
					     sizeof(f->err)), 0);
	assert_int_equal(from, VM_STATE_STARTING);
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_int_equal(rec.pid, 1234);        /* kept */
	assert_string_equal(rec.reason, "");    /* NULL replaces it with "" */

	/* A reason longer than the record holds is cut at a character. */
	memset(longreason, 'a', sizeof(longreason));
	memcpy(longreason + 254, "\xc3\xa9", 2);   /* 'é' across the 255-byte limit */
	longreason[sizeof(longreason) - 1] = '\0';
	t = (struct vm_transition){ .reason = longreason, .pid = 99, .last_exit = 0 };
	assert_int_equal(registry_transition(f->r, "web", VM_OP_EXITED, &t, NULL, f->err,
					     sizeof(f->err)), 0);
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_int_equal(rec.state, VM_STATE_STOPPED);
	assert_int_equal(rec.pid, 0);           /* not active: cleared whatever was asked */
	assert_int_equal(rec.last_exit, 0);
	assert_int_equal(strlen(rec.reason), 254);

	/* NULL transition fields: keep pid and last_exit. */
	assert_int_equal(registry_transition(f->r, "web", VM_OP_START, NULL, NULL, f->err,
					     sizeof(f->err)), 0);
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_int_equal(rec.last_exit, 0);
	assert_int_equal(rec.pid, 0);
	vm_record_free(&rec);
}

/* ---- persistence and schema ---- */

static void test_persists_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct vm_transition t = { .reason = "r", .pid = 77, .last_exit = -1 };
	struct vm_record rec = { 0 };
	struct vm_config d = { 0 };

	create(f, "web");
	assert_int_equal(registry_transition(f->r, "web", VM_OP_START, &t, NULL, f->err,
					     sizeof(f->err)), 0);
	reopen(f);
	make_def(&d, "web");
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_config_equal(&rec.cfg, &d);
	assert_int_equal(rec.state, VM_STATE_STARTING);
	assert_int_equal(rec.pid, 77);
	/* Closed cleanly: the WAL was checkpointed into the database file. */
	registry_close(f->r);
	f->r = NULL;
	{
		char wal[200];

		snprintf(wal, sizeof(wal), "%s-wal", f->db);
		assert_int_equal(access(f->db, F_OK), 0);
		assert_int_equal(access(wal, F_OK), -1);
	}
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM vms WHERE state = 'starting'"), 1);
	reopen(f);
	vm_record_free(&rec);
	vmconfig_free(&d);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct registry *r2 = NULL;
	char sql[64];

	create(f, "web");
	registry_close(f->r);
	f->r = NULL;
	raw_exec(f->db, "PRAGMA user_version = 99");
	assert_int_equal(registry_open(&r2, f->dir, f->err, sizeof(f->err)), -EPROTO);
	assert_null(r2);
	assert_non_null(strstr(f->err, f->db));
	assert_non_null(strstr(f->err, "newer nestvm"));
	assert_non_null(strstr(f->err, "99"));
	/* Left as it was. */
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 99);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", registry_schema_version());
	raw_exec(f->db, sql);
	reopen(f);
}

static void test_foreign_database_refused(void **state)
{
	struct fixture *f = *state;
	struct registry *r2 = NULL;
	sqlite3 *c;

	registry_close(f->r);
	f->r = NULL;
	assert_int_equal(unlink(f->db), 0);
	assert_int_equal(sqlite3_open(f->db, &c), SQLITE_OK);
	assert_int_equal(sqlite3_exec(c, "CREATE TABLE photos (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(c);
	assert_int_equal(registry_open(&r2, f->dir, f->err, sizeof(f->err)), -ENOTRECOVERABLE);
	assert_non_null(strstr(f->err, "not nestvm's"));
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema"), 1);
}

/* ---- damaged, locked, unwritable ---- */

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void test_garbage_file(void **state)
{
	struct fixture *f = *state;
	struct registry *r2 = NULL;
	char garbage[8192], back[sizeof(garbage)];
	int fd;

	registry_close(f->r);
	f->r = NULL;
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)("not a database, just text\n"[i % 26]);
	write_file(f->db, garbage, sizeof(garbage));
	unlink(strcat(strcpy(back, f->db), "-wal"));
	assert_int_equal(registry_open(&r2, f->dir, f->err, sizeof(f->err)), -ENOTRECOVERABLE);
	assert_null(r2);
	assert_non_null(strstr(f->err, f->db));
	assert_non_null(strstr(f->err, "is not a valid SQLite database (file is not a database)"));
	assert_non_null(strstr(f->err, "move it away"));
	/* Not touched. */
	fd = open(f->db, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	close(fd);
	assert_memory_equal(garbage, back, sizeof(back));

	/* An empty file is a new database, not garbage. */
	write_file(f->db, "", 0);
	reopen(f);
	create(f, "web");
}

/* A real database cut short: whichever call first reads the lost pages
 * says so, and nothing crashes. */
static void test_truncated_database(void **state)
{
	struct fixture *f = *state;
	struct registry *r2 = NULL;
	struct vm_record *all = NULL;
	struct stat st;
	size_t n;
	int r;

	for (int i = 0; i < 60; i++) {
		char name[16];

		snprintf(name, sizeof(name), "vm%02d", i);
		create(f, name);
	}
	registry_close(f->r);
	f->r = NULL;
	assert_int_equal(stat(f->db, &st), 0);
	assert_true(st.st_size >= 8 * 4096);
	assert_int_equal(truncate(f->db, st.st_size / 2), 0);
	r = registry_open(&r2, f->dir, f->err, sizeof(f->err));
	if (r == 0) {
		r = registry_list(r2, &all, &n, f->err, sizeof(f->err));
		registry_close(r2);
		assert_null(all);
	}
	print_message("truncated: %s\n", f->err);
	assert_int_equal(r, -ENOTRECOVERABLE);
	assert_non_null(strstr(f->err, f->db));
	assert_non_null(strstr(f->err, "restore a backup"));
}

/* Page 1 is intact but the schema's text is overwritten. */
static void test_corrupt_schema(void **state)
{
	struct fixture *f = *state;
	struct registry *r2 = NULL;
	char page[4096];
	int fd;

	create(f, "web");
	registry_close(f->r);
	f->r = NULL;
	fd = open(f->db, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, page, sizeof(page), 0), (ssize_t)sizeof(page));
	/* The CREATE TABLE texts sit at the end of page 1. */
	memset(page + 1024, 0xa5, sizeof(page) - 1024);
	assert_int_equal(pwrite(fd, page, sizeof(page), 0), (ssize_t)sizeof(page));
	close(fd);
	assert_int_equal(registry_open(&r2, f->dir, f->err, sizeof(f->err)), -ENOTRECOVERABLE);
	print_message("corrupt schema: %s\n", f->err);
	assert_null(r2);
	assert_non_null(strstr(f->err, f->db));
}

static void test_locked_database(void **state)
{
	struct fixture *f = *state;
	struct timespec t0, t1;
	struct vm_record rec = { 0 };
	struct vm_config d = { 0 };
	sqlite3 *c;
	double ms;

	create(f, "web");
	assert_int_equal(sqlite3_open(f->db, &c), SQLITE_OK);
	assert_int_equal(sqlite3_exec(c, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	make_def(&d, "db");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(registry_create(f->r, &d, f->err, sizeof(f->err)), -EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ms >= 150 && ms < 5000);   /* NESTVM_DB_BUSY_MS=300 (main) */
	assert_non_null(strstr(f->err, f->db));
	assert_non_null(strstr(f->err, "is locked by another process"));
	print_message("locked after %.0f ms: %s\n", ms, f->err);
	assert_int_equal(registry_transition(f->r, "web", VM_OP_START, NULL, NULL, f->err,
					     sizeof(f->err)), -EBUSY);
	/* WAL: readers go on while a writer holds the lock. */
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_int_equal(rec.state, VM_STATE_STOPPED);
	assert_int_equal(sqlite3_exec(c, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(c);
	assert_int_equal(registry_create(f->r, &d, f->err, sizeof(f->err)), 0);
	vm_record_free(&rec);
	vmconfig_free(&d);
}

static char unwritable_dir[128];

/* Run as a user who may not write there. 0 when every check holds. */
static int unwritable_checks(void)
{
	struct registry *r = NULL;
	char err[512], sub[192];
	int rc;

	rc = registry_open(&r, unwritable_dir, err, sizeof(err));
	if (rc != -EACCES || r || !strstr(err, unwritable_dir) || !strstr(err, "not writable"))
		return 1;
	snprintf(sub, sizeof(sub), "%s/below", unwritable_dir);
	rc = registry_open(&r, sub, err, sizeof(err));
	if (rc != -EACCES || r || !strstr(err, sub) || !strstr(err, "cannot create"))
		return 2;
	return 0;
}

static void test_unwritable_dir(void **state)
{
	struct fixture *f = *state;
	struct registry *r2 = NULL;
	char file[160];

	assert_int_equal(chmod(f->tmp, 0755), 0);
	snprintf(unwritable_dir, sizeof(unwritable_dir), "%s/ro", f->tmp);
	assert_int_equal(mkdir(unwritable_dir, 0555), 0);
	assert_int_equal(run_as_nobody(unwritable_checks), 0);

	/* A file where the directory should be. */
	snprintf(file, sizeof(file), "%s/file", f->tmp);
	write_file(file, "x", 1);
	assert_int_equal(registry_open(&r2, file, f->err, sizeof(f->err)), -ENOTDIR);
	assert_non_null(strstr(f->err, file));
	strcat(file, "/sub");
	assert_int_equal(registry_open(&r2, file, f->err, sizeof(f->err)), -ENOTDIR);
	assert_null(r2);
}

/* ---- races ---- */

struct racer {
	const char *dir;
	pthread_barrier_t *barrier;
	int rc;
	char err[512];
};

static void *race_start(void *arg)
{
	struct racer *x = arg;
	struct registry *r;

	x->rc = registry_open(&r, x->dir, x->err, sizeof(x->err));
	pthread_barrier_wait(x->barrier);
	if (x->rc)
		return NULL;
	x->rc = registry_transition(r, "web", VM_OP_START, NULL, NULL, x->err, sizeof(x->err));
	registry_close(r);
	return NULL;
}

static void test_race_threads(void **state)
{
	struct fixture *f = *state;
	pthread_barrier_t barrier;

	create(f, "web");
	setenv("NESTVM_DB_BUSY_MS", "10000", 1);   /* losers wait for winners */
	for (int round = 0; round < 10; round++) {
		struct racer x[2] = { { .dir = f->dir, .barrier = &barrier },
				      { .dir = f->dir, .barrier = &barrier } };
		pthread_t th[2];

		pthread_barrier_init(&barrier, NULL, 2);
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&th[i], NULL, race_start, &x[i]), 0);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&barrier);
		if (!((x[0].rc == 0 && x[1].rc == -EPERM) || (x[0].rc == -EPERM && x[1].rc == 0)))
			fail_msg("round %d: %d (%s), %d (%s)", round, x[0].rc, x[0].err, x[1].rc,
				 x[1].err);
		assert_non_null(strstr(x[x[0].rc == 0 ? 1 : 0].err, "already starting"));
		assert_int_equal(state_of(f, "web"), VM_STATE_STARTING);
		apply(f, "web", VM_OP_KILL);
	}
	setenv("NESTVM_DB_BUSY_MS", "300", 1);
}

/* A child process: open, wait for the go byte, START. Exit 0 won, 1
 * refused, 2 anything else. */
static void race_child(const char *dir, int go)
{
	struct registry *r;
	char err[512], c;
	int rc = registry_open(&r, dir, err, sizeof(err));

	if (read(go, &c, 1) != 1 || rc)
		_exit(2);
	rc = registry_transition(r, "web", VM_OP_START, NULL, NULL, err, sizeof(err));
	registry_close(r);
	_exit(rc == 0 ? 0 : rc == -EPERM ? 1 : 2);
}

static void test_race_processes(void **state)
{
	struct fixture *f = *state;
	enum { N = 4 };

	create(f, "web");
	setenv("NESTVM_DB_BUSY_MS", "10000", 1);
	for (int round = 0; round < 3; round++) {
		int go[2], won = 0, refused = 0;
		pid_t pids[N];

		assert_int_equal(pipe(go), 0);
		for (int i = 0; i < N; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				close(go[1]);
				race_child(f->dir, go[0]);
			}
		}
		close(go[0]);
		usleep(100 * 1000);   /* let them open; the pipe releases them together */
		assert_int_equal(write(go[1], "gggg", N), N);
		close(go[1]);
		for (int i = 0; i < N; i++) {
			int status;

			assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
			assert_true(WIFEXITED(status));
			won += WEXITSTATUS(status) == 0;
			refused += WEXITSTATUS(status) == 1;
		}
		assert_int_equal(won, 1);
		assert_int_equal(refused, N - 1);
		assert_int_equal(state_of(f, "web"), VM_STATE_STARTING);
		apply(f, "web", VM_OP_KILL);
	}
	setenv("NESTVM_DB_BUSY_MS", "300", 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_dir),
		T(test_open_creates_private_dir_and_wal_db),
		T(test_create_get_list),
		T(test_list_empty),
		T(test_duplicate_name),
		T(test_bad_definitions_refused),
		T(test_unknown_name),
		T(test_update),
		T(test_update_refused_while_running),
		T(test_delete),
		T(test_every_transition),
		T(test_transition_fields),
		T(test_persists_across_reopen),
		T(test_newer_schema_refused),
		T(test_foreign_database_refused),
		T(test_garbage_file),
		T(test_truncated_database),
		T(test_corrupt_schema),
		T(test_locked_database),
		T(test_unwritable_dir),
		T(test_race_threads),
		T(test_race_processes),
	};

	/* A short busy timeout so that the locked case takes 0.3 s, not 10. */
	setenv("NESTVM_DB_BUSY_MS", "300", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
