/* The registry's records: VM definitions and their states. Every change is
 * one BEGIN IMMEDIATE transaction that reads the current state, asks
 * lifecycle/state.c, and writes; readers see one consistent snapshot. */
#include "registry/registry_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VM_COLUMNS "id, name, config, state, reason, pid, created, state_changed, started, " \
		   "last_exit"

static int registry_damaged(struct registry *r, const char *name, const char *what, char *err,
			    size_t errlen)
{
	return registry_fail(-ENOTRECOVERABLE, err, errlen, "the state database %s holds a "
			     "damaged record of '%s' (%s): restore a backup, or delete the VM",
			     r->path, name, what);
}

/* ---- reading ---- */

void vm_record_free(struct vm_record *rec)
{
	vmconfig_free(&rec->cfg);
}

void registry_list_free(struct vm_record *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		vm_record_free(&v[i]);
	free(v);
}

static int registry_step_err(struct registry *r, int rc, const char *name, char *err,
			     size_t errlen)
{
	char doing[96];

	snprintf(doing, sizeof(doing), "reading '%s'", name);
	return registry_sql_err(r, rc, doing, err, errlen);
}

/* A row of VM_COLUMNS into *rec (freed first). */
static int registry_load_record(struct registry *r, sqlite3_stmt *st, struct vm_record *rec,
				char *err, size_t errlen)
{
	const char *text = (const char *)sqlite3_column_text(st, 2);
	char state[16], why[512];
	json_error_t jerr;
	json_t *j;
	int rc;

	vm_record_free(rec);
	memset(rec, 0, sizeof(*rec));
	if (!registry_col_text(st, 1, rec->name, sizeof(rec->name)))
		return registry_damaged(r, "?", "name", err, errlen);
	if (!registry_col_text(st, 3, state, sizeof(state)) || vm_state_parse(state, &rec->state) ||
	    !registry_col_text(st, 4, rec->reason, sizeof(rec->reason)))
		return registry_damaged(r, rec->name, "fields", err, errlen);
	rec->pid = sqlite3_column_int(st, 5);
	rec->created = sqlite3_column_int64(st, 6);
	rec->state_changed = sqlite3_column_int64(st, 7);
	rec->started = sqlite3_column_int64(st, 8);
	rec->last_exit = sqlite3_column_int(st, 9);
	j = text ? json_loads(text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!j)
		return registry_damaged(r, rec->name, "its configuration is not JSON", err, errlen);
	rc = vmconfig_from_json(j, &rec->cfg, why, sizeof(why));
	json_decref(j);
	if (!rc && strcmp(rec->cfg.name, rec->name) != 0) {
		snprintf(why, sizeof(why), "the name in its configuration differs");
		rc = -EINVAL;
	}
	if (rc)
		return registry_damaged(r, rec->name, why, err, errlen);
	return 0;
}

int registry_get(struct registry *r, const char *name_in, struct vm_record *out, char *err,
		 size_t errlen)
{
	char name[VMCFG_NAME_MAX + 2];
	sqlite3_stmt *st;
	int rc;

	/* name_in may be out->name, which loading overwrites. */
	snprintf(name, sizeof(name), "%s", name_in);
	rc = registry_begin(r, false, err, errlen);
	if (rc)
		return rc;
	rc = registry_query(r, &st, "SELECT " VM_COLUMNS " FROM vms WHERE name = ?", err, errlen,
			    "s", name);
	if (!rc) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			rc = registry_load_record(r, st, out, err, errlen);
		else if (rc == SQLITE_DONE)
			rc = registry_fail(-ENOENT, err, errlen, "no VM named '%s'", name);
		else
			rc = registry_step_err(r, rc, name, err, errlen);
		sqlite3_finalize(st);
	}
	registry_rollback(r);   /* a read: nothing to commit */
	return rc;
}

static int registry_list_rows(struct registry *r, sqlite3_stmt *st, struct vm_record **out,
			      size_t *n, char *err, size_t errlen)
{
	size_t cap = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			struct vm_record *p;

			cap = cap ? cap * 2 : 8;
			p = realloc(*out, cap * sizeof(**out));
			if (!p)
				return registry_fail(-ENOMEM, err, errlen, "out of memory");
			*out = p;
		}
		memset(&(*out)[*n], 0, sizeof(**out));
		rc = registry_load_record(r, st, &(*out)[*n], err, errlen);
		(*n)++;
		if (rc)
			return rc;
	}
	return rc == SQLITE_DONE ? 0 : registry_sql_err(r, rc, "listing VMs", err, errlen);
}

int registry_list(struct registry *r, struct vm_record **out, size_t *n, char *err,
		  size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	rc = registry_begin(r, false, err, errlen);
	if (rc)
		return rc;
	rc = registry_query(r, &st, "SELECT " VM_COLUMNS " FROM vms ORDER BY name", err, errlen,
			    NULL);
	if (!rc) {
		rc = registry_list_rows(r, st, out, n, err, errlen);
		sqlite3_finalize(st);
	}
	registry_rollback(r);
	if (rc) {
		registry_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* ---- writing ---- */

/* The stored text of a definition: checked, compact, keys in order. */
static char *registry_config_text(const struct vm_config *d, char *err, size_t errlen)
{
	json_t *j;
	char *text;

	if (!d->name || vmconfig_check(d, err, errlen)) {
		if (!d->name)
			registry_fail(-EINVAL, err, errlen, "a VM needs a name");
		return NULL;
	}
	j = vmconfig_to_json(d);
	if (j)
		json_object_del(j, "memory");   /* for people: memory_bytes is stored */
	text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!text)
		registry_fail(-ENOMEM, err, errlen, "out of memory");
	return text;
}

static int registry_insert(struct registry *r, const struct vm_config *d, const char *text,
			   char *err, size_t errlen)
{
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st;
	int rc;

	rc = registry_query(r, &st, "INSERT INTO vms (name, config, created, state_changed) "
			    "VALUES (?, ?, ?, ?)", err, errlen, "ssII", d->name, text, now, now);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return registry_fail(-EEXIST, err, errlen, "a VM named '%s' already exists",
				     d->name);
	if (rc != SQLITE_DONE)
		return registry_sql_err(r, rc, "creating the VM", err, errlen);
	return 0;
}

int registry_create(struct registry *r, const struct vm_config *d, char *err, size_t errlen)
{
	char *text = registry_config_text(d, err, errlen);
	int rc;

	if (!text)
		return -EINVAL;
	rc = registry_begin(r, true, err, errlen);
	if (!rc)
		rc = registry_write(r, registry_insert(r, d, text, err, errlen), err, errlen);
	free(text);
	return rc;
}

/* Inside a write transaction: the VM's id and state, and whether `op` is
 * allowed now (-EPERM with the refusal otherwise). */
static int registry_check_op(struct registry *r, const char *name, enum vm_op op,
			     const char *what, int64_t *id, enum vm_state *from,
			     enum vm_state *to, int *pid, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char state[16];
	int rc;

	rc = registry_query(r, &st, "SELECT id, state, pid FROM vms WHERE name = ?", err, errlen,
			    "s", name);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*pid = sqlite3_column_int(st, 2);
		rc = registry_col_text(st, 1, state, sizeof(state)) && !vm_state_parse(state, from)
			     ? 0 : registry_damaged(r, name, "state", err, errlen);
	} else if (rc == SQLITE_DONE) {
		rc = registry_fail(-ENOENT, err, errlen, "no VM named '%s'", name);
	} else {
		rc = registry_step_err(r, rc, name, err, errlen);
	}
	sqlite3_finalize(st);
	if (!rc && vm_state_next(*from, op, to) != 0) {
		vm_state_refusal(name, *from, op, what, err, errlen);
		rc = -EPERM;
	}
	return rc;
}

static int registry_update_locked(struct registry *r, const struct vm_config *d,
				  const char *text, const char *what, char *err, size_t errlen)
{
	enum vm_state from, to;
	int64_t id;
	int pid, rc;

	rc = registry_check_op(r, d->name, VM_OP_MODIFY, what, &id, &from, &to, &pid, err,
			       errlen);
	return rc ? rc : registry_exec(r, "UPDATE vms SET config = ? WHERE id = ?", err, errlen,
				       "sI", text, id);
}

int registry_update(struct registry *r, const struct vm_config *d, const char *what, char *err,
		    size_t errlen)
{
	char *text;
	int rc;

	if (!d->name)
		return registry_fail(-EINVAL, err, errlen, "a VM needs a name");
	rc = registry_begin(r, true, err, errlen);
	if (rc)
		return rc;
	text = registry_config_text(d, err, errlen);
	rc = text ? registry_update_locked(r, d, text, what, err, errlen) : -EINVAL;
	free(text);
	return registry_write(r, rc, err, errlen);
}

static int registry_delete_locked(struct registry *r, const char *name, enum vm_state *from,
				  char *err, size_t errlen)
{
	enum vm_state to;
	int64_t id;
	int pid, rc;

	rc = registry_check_op(r, name, VM_OP_DELETE, NULL, &id, from, &to, &pid, err, errlen);
	return rc ? rc : registry_exec(r, "DELETE FROM vms WHERE id = ?", err, errlen, "I", id);
}

int registry_delete(struct registry *r, const char *name, char *err, size_t errlen)
{
	enum vm_state from;
	int rc = registry_begin(r, true, err, errlen);

	if (rc)
		return rc;
	return registry_write(r, registry_delete_locked(r, name, &from, err, errlen), err, errlen);
}

/* At most 255 bytes of reason (vm_record.reason), not cutting a UTF-8
 * character in two. */
static void registry_clip_reason(const char *in, char out[256])
{
	size_t n = strlen(in);

	if (n > 255) {
		n = 255;
		while (n > 0 && ((unsigned char)in[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, in, n);
	out[n] = '\0';
}

static int registry_transition_locked(struct registry *r, const char *name, enum vm_op op,
				      const struct vm_transition *t, enum vm_state *from,
				      char *err, size_t errlen)
{
	int64_t now = (int64_t)time(NULL), id;
	enum vm_state to;
	char reason[256];
	int pid, rc;

	rc = registry_check_op(r, name, op, NULL, &id, from, &to, &pid, err, errlen);
	if (rc)
		return rc;
	if (op == VM_OP_DELETE)
		return registry_exec(r, "DELETE FROM vms WHERE id = ?", err, errlen, "I", id);
	if (op == VM_OP_MODIFY || op == VM_OP_CONSOLE)
		return 0;   /* checks only: nothing changes */
	registry_clip_reason(t && t->reason ? t->reason : "", reason);
	if (!vm_state_active(to))
		pid = 0;   /* no process any more: a stale pid could name another one */
	else if (t && t->pid >= 0)
		pid = t->pid;
	/* -1 for last_exit and started means "keep": COALESCE(NULLIF(...)). */
	return registry_exec(r, "UPDATE vms SET state = ?, reason = ?, pid = ?, state_changed = ?, "
			     "started = COALESCE(NULLIF(?, -1), started), "
			     "last_exit = COALESCE(NULLIF(?, -1), last_exit) WHERE id = ?",
			     err, errlen, "ssiIIiI", vm_state_name(to), reason, pid, now,
			     op == VM_OP_START ? now : (int64_t)-1, t ? t->last_exit : -1, id);
}

int registry_transition(struct registry *r, const char *name, enum vm_op op,
			const struct vm_transition *t, enum vm_state *from, char *err,
			size_t errlen)
{
	enum vm_state before;
	int rc = registry_begin(r, true, err, errlen);

	if (rc)
		return rc;
	rc = registry_write(r, registry_transition_locked(r, name, op, t, &before, err, errlen),
			    err, errlen);
	if (!rc && from)
		*from = before;
	return rc;
}

/* ---- reconciling with the VM's process ---- */

int vm_reconcile(struct registry *reg, const struct vm_paths *p, struct vm_record *rec,
		 char *err, size_t errlen)
{
	struct vm_transition t = { .pid = -1, .last_exit = -1 };
	char reason[256];
	int r;

	if (!vm_state_active(rec->state) || vm_process_alive(p))
		return 0;
	if (rec->state == VM_STATE_STARTING)
		snprintf(reason, sizeof(reason), "its start did not complete: the nestvm process "
			 "ended before the guest ran (its log: nestvm.log beside console.log)");
	else
		snprintf(reason, sizeof(reason), "its nestvm process (pid %d) ended without "
			 "recording why: killed (kill -9?) or crashed (its log: nestvm.log)",
			 rec->pid);
	t.reason = reason;
	r = registry_transition(reg, rec->name, VM_OP_FAILED, &t, NULL, err, errlen);
	if (r == -EPERM)
		r = 0;  /* someone else recorded the end first */
	if (r)
		return r;
	return registry_get(reg, rec->name, rec, err, errlen);
}
