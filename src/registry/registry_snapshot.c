/* The registry's snapshot records (schema 3, table snapshots): which
 * snapshot directories nestvm wrote for a VM, and what each holds. The
 * files themselves are the snapshot code's; a record goes with its VM
 * (ON DELETE CASCADE). */
#include "registry/registry_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_COLUMNS "vm, dir, created, size, memory_size, with_disks, stopped, " \
			 "nested_guest_running"

/* A name and a directory the table may hold: a VM name that fits, an
 * absolute dir that fits (both NUL-terminated within their arrays). */
static int registry_snapshot_check_key(const char *vm, const char *dir, char *err,
				       size_t errlen)
{
	if (!vm || !*vm || strnlen(vm, VMCFG_NAME_MAX + 1) > VMCFG_NAME_MAX)
		return registry_fail(-EINVAL, err, errlen, "a snapshot record needs a VM name of "
				     "1-%d characters", VMCFG_NAME_MAX);
	if (!dir || dir[0] != '/')
		return registry_fail(-EINVAL, err, errlen, "a snapshot of '%s' needs an absolute "
				     "directory (got '%s')", vm, dir ? dir : "");
	if (strnlen(dir, SNAPSHOT_DIR_MAX) >= SNAPSHOT_DIR_MAX)
		return registry_fail(-ENAMETOOLONG, err, errlen, "the snapshot directory of '%s' "
				     "is longer than %d bytes", vm, SNAPSHOT_DIR_MAX - 1);
	return 0;
}

/* Inside a transaction: -ENOENT ("no VM named 'x'") unless vm is defined. */
static int registry_snapshot_vm_exists(struct registry *r, const char *vm, char *err,
				       size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	rc = registry_query(r, &st, "SELECT 1 FROM vms WHERE name = ?", err, errlen, "s", vm);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return registry_fail(-ENOENT, err, errlen, "no VM named '%s'", vm);
	return registry_sql_err(r, rc, "reading the VMs", err, errlen);
}

/* A row of SNAPSHOT_COLUMNS into *s. */
static int registry_snapshot_load(struct registry *r, sqlite3_stmt *st,
				  struct snapshot_record *s, char *err, size_t errlen)
{
	int64_t size, mem;

	memset(s, 0, sizeof(*s));
	size = sqlite3_column_int64(st, 3);
	mem = sqlite3_column_int64(st, 4);
	if (!registry_col_text(st, 0, s->vm, sizeof(s->vm)) ||
	    !registry_col_text(st, 1, s->dir, sizeof(s->dir)) || size < 0 || mem < 0)
		return registry_fail(-ENOTRECOVERABLE, err, errlen, "the state database %s holds a "
				     "damaged snapshot record of '%s': restore a backup, or "
				     "delete the record", r->path, s->vm[0] ? s->vm : "?");
	s->created = sqlite3_column_int64(st, 2);
	s->size = (uint64_t)size;
	s->memory_size = (uint64_t)mem;
	s->with_disks = sqlite3_column_int(st, 5) != 0;
	s->stopped = sqlite3_column_int(st, 6) != 0;
	s->nested_guest_running = sqlite3_column_int(st, 7) != 0;
	return 0;
}

/* ---- writing ---- */

static int registry_snapshot_add_locked(struct registry *r, const struct snapshot_record *s,
					char *err, size_t errlen)
{
	int rc = registry_snapshot_vm_exists(r, s->vm, err, errlen);

	if (rc)
		return rc;
	/* An upsert, not INSERT OR REPLACE: the same (vm, dir) is one record. */
	return registry_exec(r, "INSERT INTO snapshots (" SNAPSHOT_COLUMNS ") "
			     "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (vm, dir) DO UPDATE SET "
			     "created = excluded.created, size = excluded.size, "
			     "memory_size = excluded.memory_size, with_disks = excluded.with_disks, "
			     "stopped = excluded.stopped, "
			     "nested_guest_running = excluded.nested_guest_running",
			     err, errlen, "ssIIIiii", s->vm, s->dir, s->created, (int64_t)s->size,
			     (int64_t)s->memory_size, (int)s->with_disks, (int)s->stopped,
			     (int)s->nested_guest_running);
}

int registry_snapshot_add(struct registry *r, const struct snapshot_record *s, char *err,
			  size_t errlen)
{
	int rc = registry_snapshot_check_key(s->vm, s->dir, err, errlen);

	if (rc)
		return rc;
	if (s->size > INT64_MAX || s->memory_size > INT64_MAX)
		return registry_fail(-ERANGE, err, errlen, "the snapshot of '%s' in %s: a size "
				     "beyond 2^63 bytes", s->vm, s->dir);
	rc = registry_begin(r, true, err, errlen);
	if (rc)
		return rc;
	return registry_write(r, registry_snapshot_add_locked(r, s, err, errlen), err, errlen);
}

static int registry_snapshot_delete_locked(struct registry *r, const char *vm, const char *dir,
					   char *err, size_t errlen)
{
	int rc = registry_snapshot_vm_exists(r, vm, err, errlen);

	if (!rc)
		rc = registry_exec(r, "DELETE FROM snapshots WHERE vm = ? AND dir = ?", err, errlen,
				   "ss", vm, dir);
	if (!rc && sqlite3_changes(r->db) == 0)
		rc = registry_fail(-ENOENT, err, errlen, "no snapshot of '%s' in %s", vm, dir);
	return rc;
}

int registry_snapshot_delete(struct registry *r, const char *vm, const char *dir, char *err,
			     size_t errlen)
{
	int rc = registry_snapshot_check_key(vm, dir, err, errlen);

	if (rc)
		return rc;
	rc = registry_begin(r, true, err, errlen);
	if (rc)
		return rc;
	return registry_write(r, registry_snapshot_delete_locked(r, vm, dir, err, errlen), err,
			      errlen);
}

/* ---- reading ---- */

static int registry_snapshot_get_locked(struct registry *r, const char *vm, const char *dir,
					struct snapshot_record *out, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = registry_snapshot_vm_exists(r, vm, err, errlen);

	if (rc)
		return rc;
	rc = registry_query(r, &st, "SELECT " SNAPSHOT_COLUMNS " FROM snapshots "
			    "WHERE vm = ? AND dir = ?", err, errlen, "ss", vm, dir);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = registry_snapshot_load(r, st, out, err, errlen);
	else if (rc == SQLITE_DONE)
		rc = registry_fail(-ENOENT, err, errlen, "no snapshot of '%s' in %s", vm, dir);
	else
		rc = registry_sql_err(r, rc, "reading a snapshot record", err, errlen);
	sqlite3_finalize(st);
	return rc;
}

int registry_snapshot_get(struct registry *r, const char *vm_in, const char *dir_in,
			  struct snapshot_record *out, char *err, size_t errlen)
{
	/* vm_in and dir_in may point into *out, which loading overwrites. */
	char vm[VMCFG_NAME_MAX + 1], *dir;
	int rc = registry_snapshot_check_key(vm_in, dir_in, err, errlen);

	if (rc)
		return rc;
	snprintf(vm, sizeof(vm), "%s", vm_in);
	dir = strdup(dir_in);
	if (!dir)
		return registry_fail(-ENOMEM, err, errlen, "out of memory");
	rc = registry_begin(r, false, err, errlen);
	if (!rc) {
		rc = registry_snapshot_get_locked(r, vm, dir, out, err, errlen);
		registry_rollback(r);   /* a read: nothing to commit */
	}
	free(dir);
	return rc;
}

static int registry_snapshot_rows(struct registry *r, sqlite3_stmt *st,
				  struct snapshot_record **out, size_t *n, char *err,
				  size_t errlen)
{
	size_t cap = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			struct snapshot_record *p;

			cap = cap ? cap * 2 : 4;
			p = realloc(*out, cap * sizeof(**out));
			if (!p)
				return registry_fail(-ENOMEM, err, errlen, "out of memory");
			*out = p;
		}
		rc = registry_snapshot_load(r, st, &(*out)[*n], err, errlen);
		if (rc)
			return rc;
		(*n)++;
	}
	return rc == SQLITE_DONE ? 0 : registry_sql_err(r, rc, "listing snapshots", err, errlen);
}

static int registry_snapshot_list_locked(struct registry *r, const char *vm,
					 struct snapshot_record **out, size_t *n, char *err,
					 size_t errlen)
{
	sqlite3_stmt *st;
	int rc = registry_snapshot_vm_exists(r, vm, err, errlen);

	if (rc)
		return rc;
	rc = registry_query(r, &st, "SELECT " SNAPSHOT_COLUMNS " FROM snapshots WHERE vm = ? "
			    "ORDER BY created, dir", err, errlen, "s", vm);
	if (rc)
		return rc;
	rc = registry_snapshot_rows(r, st, out, n, err, errlen);
	sqlite3_finalize(st);
	return rc;
}

int registry_snapshot_list(struct registry *r, const char *vm, struct snapshot_record **out,
			   size_t *n, char *err, size_t errlen)
{
	int rc;

	*out = NULL;
	*n = 0;
	if (!vm || !*vm || strnlen(vm, VMCFG_NAME_MAX + 1) > VMCFG_NAME_MAX)
		return registry_fail(-EINVAL, err, errlen, "listing snapshots needs a VM name of "
				     "1-%d characters", VMCFG_NAME_MAX);
	rc = registry_begin(r, false, err, errlen);
	if (rc)
		return rc;
	rc = registry_snapshot_list_locked(r, vm, out, n, err, errlen);
	registry_rollback(r);
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}
