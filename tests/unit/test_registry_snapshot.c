/* Unit tests of src/registry/registry_snapshot.c: the snapshot records of
 * schema 3, in temp dirs: add, list, get, delete, a second add of the same
 * (vm, dir) replacing the first, unknown VMs and snapshots, records going
 * with their VM, bad keys, and the migration of a schema 2 database. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/registry.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

#define REGISTRY_FIXTURE_PREFIX "/tmp/nestvm-regsnap-XXXXXX"
#include "registry_fixture.h"

static void create(struct fixture *f, const char *name)
{
	struct vm_config d = { 0 };
	char text[512], err[256];
	json_t *j;

	snprintf(text, sizeof(text), "{\"name\":\"%s\",\"kernel\":\"/boot/vmlinuz-%s\","
		 "\"cmdline\":\"console=ttyS0\",\"cpus\":1,\"memory_bytes\":%llu,"
		 "\"nested\":true,\"rng\":false,\"disks\":[],\"nics\":[]}", name, name,
		 (unsigned long long)(512 * MIB));
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	if (vmconfig_from_json(j, &d, err, sizeof(err)))
		fail_msg("vmconfig_from_json: %s", err);
	json_decref(j);
	if (registry_create(f->r, &d, f->err, sizeof(f->err)))
		fail_msg("registry_create(%s): %s", name, f->err);
	vmconfig_free(&d);
}

static struct snapshot_record snap(const char *vm, const char *dir, int64_t created,
				   uint64_t size)
{
	struct snapshot_record s = { .created = created, .size = size,
				     .memory_size = 512 * MIB, .with_disks = true,
				     .stopped = false, .nested_guest_running = true };

	snprintf(s.vm, sizeof(s.vm), "%s", vm);
	snprintf(s.dir, sizeof(s.dir), "%s", dir);
	return s;
}

static void add(struct fixture *f, const struct snapshot_record *s)
{
	if (registry_snapshot_add(f->r, s, f->err, sizeof(f->err)))
		fail_msg("registry_snapshot_add(%s, %s): %s", s->vm, s->dir, f->err);
}

static void assert_snap_equal(const struct snapshot_record *a, const struct snapshot_record *b)
{
	assert_string_equal(a->vm, b->vm);
	assert_string_equal(a->dir, b->dir);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->memory_size, b->memory_size);
	assert_int_equal(a->with_disks, b->with_disks);
	assert_int_equal(a->stopped, b->stopped);
	assert_int_equal(a->nested_guest_running, b->nested_guest_running);
}

static size_t count(struct fixture *f, const char *vm)
{
	struct snapshot_record *v = NULL;
	size_t n = 0;

	if (registry_snapshot_list(f->r, vm, &v, &n, f->err, sizeof(f->err)))
		fail_msg("registry_snapshot_list(%s): %s", vm, f->err);
	free(v);
	return n;
}

/* ---- records ---- */

static void test_schema(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(registry_schema_version(), 3);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 3);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
			 "AND name = 'snapshots'"), 1);
}

static void test_add_get_list_delete(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record a = snap("web", "/srv/snap/web-1", 1700000000, 3 * GIB + 17);
	struct snapshot_record b = snap("web", "/srv/snap/web-0", 1700000100, 12345);
	struct snapshot_record c = snap("db", "/srv/snap/db", 1600000000, 1);
	struct snapshot_record got = { 0 }, *v = NULL;
	size_t n = 0;

	create(f, "web");
	create(f, "db");
	assert_int_equal(registry_snapshot_list(f->r, "web", &v, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	free(v);
	b.with_disks = false;
	b.stopped = true;
	b.nested_guest_running = false;
	b.memory_size = 0;
	add(f, &a);
	add(f, &b);
	add(f, &c);
	reopen(f);   /* on disk, not only in this connection */
	assert_int_equal(registry_snapshot_get(f->r, "web", a.dir, &got, f->err, sizeof(f->err)),
			 0);
	assert_snap_equal(&got, &a);
	assert_int_equal(registry_snapshot_get(f->r, "web", b.dir, &got, f->err, sizeof(f->err)),
			 0);
	assert_snap_equal(&got, &b);
	/* get may be handed its own output's fields. */
	assert_int_equal(registry_snapshot_get(f->r, got.vm, got.dir, &got, f->err,
					       sizeof(f->err)), 0);
	assert_snap_equal(&got, &b);
	/* Oldest first, whatever the order of dir or of adding; only the VM's own. */
	assert_int_equal(registry_snapshot_list(f->r, "web", &v, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 2);
	assert_snap_equal(&v[0], &a);
	assert_snap_equal(&v[1], &b);
	free(v);
	assert_int_equal(count(f, "db"), 1);
	/* Delete removes that record only. */
	assert_int_equal(registry_snapshot_delete(f->r, "web", a.dir, f->err, sizeof(f->err)), 0);
	assert_int_equal(registry_snapshot_get(f->r, "web", a.dir, &got, f->err, sizeof(f->err)),
			 -ENOENT);
	assert_int_equal(count(f, "web"), 1);
	assert_int_equal(count(f, "db"), 1);
	assert_int_equal(registry_snapshot_delete(f->r, "web", a.dir, f->err, sizeof(f->err)),
			 -ENOENT);
	assert_non_null(strstr(f->err, "no snapshot of 'web' in /srv/snap/web-1"));
}

static void test_same_dir_replaces(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record a = snap("web", "/srv/snap/web", 1700000000, 100);
	struct snapshot_record b = snap("web", "/srv/snap/web", 1700000500, 200);
	struct snapshot_record *v = NULL;
	size_t n = 0;

	create(f, "web");
	add(f, &a);
	b.with_disks = false;
	b.stopped = true;
	b.nested_guest_running = false;
	b.memory_size = 1 * GIB;
	add(f, &b);
	assert_int_equal(registry_snapshot_list(f->r, "web", &v, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_snap_equal(&v[0], &b);
	free(v);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM snapshots"), 1);
}

static void test_unknown_vm(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record a = snap("ghost", "/srv/snap/ghost", 1700000000, 1), got;
	struct snapshot_record *v = (struct snapshot_record *)&got;
	size_t n = 7;

	create(f, "web");
	assert_int_equal(registry_snapshot_add(f->r, &a, f->err, sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "no VM named 'ghost'"));
	assert_int_equal(registry_snapshot_list(f->r, "ghost", &v, &n, f->err, sizeof(f->err)),
			 -ENOENT);
	assert_non_null(strstr(f->err, "no VM named 'ghost'"));
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(registry_snapshot_get(f->r, "ghost", a.dir, &got, f->err,
					       sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "no VM named 'ghost'"));
	assert_int_equal(registry_snapshot_delete(f->r, "ghost", a.dir, f->err, sizeof(f->err)),
			 -ENOENT);
	assert_non_null(strstr(f->err, "no VM named 'ghost'"));
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM snapshots"), 0);
}

static void test_unknown_snapshot(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record a = snap("web", "/srv/snap/a", 1700000000, 1), got;

	create(f, "web");
	add(f, &a);
	assert_int_equal(registry_snapshot_get(f->r, "web", "/srv/snap/b", &got, f->err,
					       sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "no snapshot of 'web' in /srv/snap/b"));
	/* The dir is compared as given: no normalizing in the registry. */
	assert_int_equal(registry_snapshot_get(f->r, "web", "/srv/snap/a/", &got, f->err,
					       sizeof(f->err)), -ENOENT);
	assert_int_equal(registry_snapshot_delete(f->r, "web", "/srv/snap/b", f->err,
						  sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "no snapshot of 'web' in /srv/snap/b"));
	assert_int_equal(count(f, "web"), 1);
}

static void test_bad_keys(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record a = snap("web", "relative/dir", 1700000000, 1), got;
	char *long_dir = malloc(SNAPSHOT_DIR_MAX + 8);

	create(f, "web");
	assert_int_equal(registry_snapshot_add(f->r, &a, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "absolute"));
	assert_int_equal(registry_snapshot_get(f->r, "web", "", &got, f->err, sizeof(f->err)),
			 -EINVAL);
	a = snap("web", "/ok", 1700000000, (uint64_t)INT64_MAX + 1);
	assert_int_equal(registry_snapshot_add(f->r, &a, f->err, sizeof(f->err)), -ERANGE);
	/* A dir that fills its array without a NUL. */
	a = snap("web", "/ok", 1700000000, 1);
	memset(a.dir, 'a', sizeof(a.dir));
	a.dir[0] = '/';
	assert_int_equal(registry_snapshot_add(f->r, &a, f->err, sizeof(f->err)), -ENAMETOOLONG);
	assert_non_null(long_dir);
	memset(long_dir, 'b', SNAPSHOT_DIR_MAX + 7);
	long_dir[0] = '/';
	long_dir[SNAPSHOT_DIR_MAX + 7] = '\0';
	assert_int_equal(registry_snapshot_delete(f->r, "web", long_dir, f->err, sizeof(f->err)),
			 -ENAMETOOLONG);
	free(long_dir);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM snapshots"), 0);
}

/* Deleting a VM deletes its records, by registry_delete and by the DELETE
 * transition; another VM's stay, and a new VM of the same name has none. */
static void test_deleted_with_vm(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record s;

	create(f, "web");
	create(f, "db");
	create(f, "old");
	s = snap("web", "/srv/snap/w1", 1, 1);
	add(f, &s);
	s = snap("web", "/srv/snap/w2", 2, 1);
	add(f, &s);
	s = snap("db", "/srv/snap/d1", 3, 1);
	add(f, &s);
	s = snap("old", "/srv/snap/o1", 4, 1);
	add(f, &s);
	assert_int_equal(registry_delete(f->r, "web", f->err, sizeof(f->err)), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM snapshots WHERE vm = 'web'"), 0);
	assert_int_equal(count(f, "db"), 1);
	assert_int_equal(registry_transition(f->r, "old", VM_OP_DELETE, NULL, NULL, f->err,
					     sizeof(f->err)), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM snapshots WHERE vm = 'old'"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM snapshots"), 1);
	create(f, "web");
	assert_int_equal(count(f, "web"), 0);
}

/* A refused delete (the VM is not stopped) keeps the records. */
static void test_refused_delete_keeps_records(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record s = snap("web", "/srv/snap/w1", 1, 1);

	create(f, "web");
	add(f, &s);
	assert_int_equal(registry_transition(f->r, "web", VM_OP_START, NULL, NULL, f->err,
					     sizeof(f->err)), 0);
	assert_int_equal(registry_delete(f->r, "web", f->err, sizeof(f->err)), -EPERM);
	assert_int_equal(count(f, "web"), 1);
}

/* A database of schema 2 (as the previous nestvm left it: no snapshots
 * table) is migrated on open; its VMs are kept. */
static void test_migrate_from_2(void **state)
{
	struct fixture *f = *state;
	struct snapshot_record s = snap("web", "/srv/snap/w1", 1, 1);
	struct vm_record rec = { 0 };

	create(f, "web");
	registry_close(f->r);
	f->r = NULL;
	raw_exec(f->db, "DROP TABLE snapshots; PRAGMA user_version = 2");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name = "
			 "'snapshots'"), 0);
	reopen(f);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 3);
	assert_int_equal(registry_get(f->r, "web", &rec, f->err, sizeof(f->err)), 0);
	assert_string_equal(rec.cfg.kernel, "/boot/vmlinuz-web");
	vm_record_free(&rec);
	assert_int_equal(count(f, "web"), 0);
	add(f, &s);
	assert_int_equal(count(f, "web"), 1);
	/* The cascade holds on a migrated database too. */
	assert_int_equal(registry_delete(f->r, "web", f->err, sizeof(f->err)), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM snapshots"), 0);
	/* And it is not migrated twice. */
	reopen(f);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 3);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_schema),
		T(test_add_get_list_delete),
		T(test_same_dir_replaces),
		T(test_unknown_vm),
		T(test_unknown_snapshot),
		T(test_bad_keys),
		T(test_deleted_with_vm),
		T(test_refused_delete_keeps_records),
		T(test_migrate_from_2),
	};

	setenv("NESTVM_DB_BUSY_MS", "300", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
