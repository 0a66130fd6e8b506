/* The registry's records: VM definitions and their states. Every change is
 * one BEGIN IMMEDIATE transaction that reads the current state, asks
 * lifecycle/state.c, and writes; readers see one consistent snapshot. */
#include "registry/registry_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VM_COLUMNS "id, name, kernel, initrd, cmdline, cpus, memory, nested, max_depth, rng, " \
		   "state, reason, pid, created, state_changed, started, last_exit"

static int registry_damaged(struct registry *r, const char *name, const char *what, char *err,
			    size_t errlen)
{
	return registry_fail(-ENOTRECOVERABLE, err, errlen, "the state database %s holds a "
			     "damaged record of '%s' (%s): restore a backup, or delete the VM",
			     r->path, name, what);
}

/* A text column into buf; false when it does not fit. */
static bool registry_col_text(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (!t || (size_t)n >= len || memchr(t, '\0', (size_t)n))
		return false;
	memcpy(buf, t, (size_t)n);
	buf[n] = '\0';
	return true;
}

static void registry_mac_text(const uint8_t *m, char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* ---- reading ---- */

static int registry_step_err(struct registry *r, int rc, const char *name, char *err,
			     size_t errlen)
{
	char doing[96];

	snprintf(doing, sizeof(doing), "reading '%s'", name);
	return registry_sql_err(r, rc, doing, err, errlen);
}

static int registry_load_disks(struct registry *r, int64_t id, struct vm_def *d, char *err,
			       size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	rc = registry_query(r, &st, "SELECT path, readonly FROM vm_disks WHERE vm_id = ? "
			    "ORDER BY position", err, errlen, "I", id);
	while (!rc && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct blk_config *b = &d->disks[d->n_disks];

		rc = 0;
		if (d->n_disks >= OPT_MAX_DISKS ||
		    !registry_col_text(st, 0, b->path, sizeof(b->path)))
			rc = registry_damaged(r, d->name, "disks", err, errlen);
		b->readonly = sqlite3_column_int(st, 1) != 0;
		d->n_disks++;
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = registry_step_err(r, rc, d->name, err, errlen);
	sqlite3_finalize(st);
	return rc;
}

/* Forwards and allowed MACs of one NIC. */
static int registry_load_nic_lists(struct registry *r, int64_t nic_id, const char *name,
				   struct net_config *n, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char mac[18];
	int rc;

	rc = registry_query(r, &st, "SELECT host_port, guest_port FROM vm_nic_forwards "
			    "WHERE nic_id = ? ORDER BY position", err, errlen, "I", nic_id);
	while (!rc && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = n->n_forwards >= NET_MAX_FORWARDS ? registry_damaged(r, name, "forwards", err,
									  errlen) : 0;
		if (!rc)
			n->forwards[n->n_forwards++] = (struct net_forward){
				(uint16_t)sqlite3_column_int(st, 0),
				(uint16_t)sqlite3_column_int(st, 1) };
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rc > 0 ? registry_step_err(r, rc, name, err, errlen) : rc;
	rc = registry_query(r, &st, "SELECT mac FROM vm_nic_allowed_macs WHERE nic_id = ? "
			    "ORDER BY position", err, errlen, "I", nic_id);
	while (!rc && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = 0;
		if (n->n_allowed >= NET_MAX_ALLOWED || !registry_col_text(st, 0, mac, sizeof(mac)) ||
		    net_parse_mac(mac, n->allowed[n->n_allowed++]))
			rc = registry_damaged(r, name, "allowed MACs", err, errlen);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rc > 0 ? registry_step_err(r, rc, name, err, errlen) : rc;
	return 0;
}

static int registry_load_nic(struct registry *r, sqlite3_stmt *st, struct vm_def *d, char *err,
			     size_t errlen)
{
	struct net_config *n = &d->nics[d->n_nics];
	char backend[8], mac[18];

	if (d->n_nics >= OPT_MAX_NICS || !registry_col_text(st, 1, backend, sizeof(backend)) ||
	    !registry_col_text(st, 2, n->tap_name, sizeof(n->tap_name)) ||
	    !registry_col_text(st, 3, mac, sizeof(mac)) || net_parse_mac(mac, n->mac))
		return registry_damaged(r, d->name, "NICs", err, errlen);
	n->backend = strcmp(backend, "tap") == 0 ? NET_BACKEND_TAP : NET_BACKEND_USER;
	n->mac_spoofing = sqlite3_column_int(st, 4) != 0;
	d->n_nics++;
	return registry_load_nic_lists(r, sqlite3_column_int64(st, 0), d->name, n, err, errlen);
}

static int registry_load_nics(struct registry *r, int64_t id, struct vm_def *d, char *err,
			      size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	rc = registry_query(r, &st, "SELECT id, backend, tap, mac, mac_spoofing FROM vm_nics "
			    "WHERE vm_id = ? ORDER BY position", err, errlen, "I", id);
	while (!rc && (rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = registry_load_nic(r, st, d, err, errlen);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = registry_step_err(r, rc, d->name, err, errlen);
	sqlite3_finalize(st);
	return rc;
}

/* A row of VM_COLUMNS, and its children, into *rec. */
static int registry_load_record(struct registry *r, sqlite3_stmt *st, struct vm_record *rec,
				char *err, size_t errlen)
{
	struct vm_def *d = &rec->def;
	int64_t id = sqlite3_column_int64(st, 0);
	char state[16];
	int rc;

	memset(rec, 0, sizeof(*rec));
	if (!registry_col_text(st, 1, d->name, sizeof(d->name)))
		return registry_damaged(r, "?", "name", err, errlen);
	if (!registry_col_text(st, 2, d->kernel, sizeof(d->kernel)) ||
	    !registry_col_text(st, 3, d->initrd, sizeof(d->initrd)) ||
	    !registry_col_text(st, 4, d->cmdline, sizeof(d->cmdline)) ||
	    !registry_col_text(st, 10, state, sizeof(state)) ||
	    vm_state_parse(state, &rec->state) ||
	    !registry_col_text(st, 11, rec->reason, sizeof(rec->reason)))
		return registry_damaged(r, d->name, "fields", err, errlen);
	d->cpus = (unsigned int)sqlite3_column_int(st, 5);
	d->memory = (uint64_t)sqlite3_column_int64(st, 6);
	d->nested = sqlite3_column_int(st, 7) != 0;
	d->max_depth = (unsigned int)sqlite3_column_int(st, 8);
	d->rng = sqlite3_column_int(st, 9) != 0;
	rec->pid = sqlite3_column_int(st, 12);
	rec->created = sqlite3_column_int64(st, 13);
	rec->state_changed = sqlite3_column_int64(st, 14);
	rec->started = sqlite3_column_int64(st, 15);
	rec->last_exit = sqlite3_column_int(st, 16);
	rc = registry_load_disks(r, id, d, err, errlen);
	return rc ? rc : registry_load_nics(r, id, d, err, errlen);
}

int registry_get(struct registry *r, const char *name, struct vm_record *out, char *err,
		 size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

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
		rc = registry_load_record(r, st, &(*out)[*n], err, errlen);
		if (rc)
			return rc;
		(*n)++;
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
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* ---- writing ---- */

static int registry_insert_nic(struct registry *r, int64_t vm_id, unsigned int pos,
			       const struct net_config *n, char *err, size_t errlen)
{
	char mac[18];
	int64_t nic_id;
	int rc;

	registry_mac_text(n->mac, mac);
	rc = registry_exec(r, "INSERT INTO vm_nics (vm_id, position, backend, tap, mac, "
			   "mac_spoofing) VALUES (?, ?, ?, ?, ?, ?)", err, errlen, "Iisssi", vm_id,
			   (int)pos, n->backend == NET_BACKEND_TAP ? "tap" : "user", n->tap_name,
			   mac, (int)n->mac_spoofing);
	nic_id = sqlite3_last_insert_rowid(r->db);
	for (unsigned int i = 0; !rc && i < n->n_forwards && i < NET_MAX_FORWARDS; i++)
		rc = registry_exec(r, "INSERT INTO vm_nic_forwards (nic_id, position, proto, "
				   "host_port, guest_port) VALUES (?, ?, 'tcp', ?, ?)", err, errlen,
				   "Iiii", nic_id, (int)i, (int)n->forwards[i].host_port,
				   (int)n->forwards[i].guest_port);
	for (unsigned int i = 0; !rc && i < n->n_allowed && i < NET_MAX_ALLOWED; i++) {
		registry_mac_text(n->allowed[i], mac);
		rc = registry_exec(r, "INSERT INTO vm_nic_allowed_macs (nic_id, position, mac) "
				   "VALUES (?, ?, ?)", err, errlen, "Iis", nic_id, (int)i, mac);
	}
	return rc;
}

/* The disks and NICs of VM `vm_id`, replacing any it had. */
static int registry_write_children(struct registry *r, int64_t vm_id, const struct vm_def *d,
				   char *err, size_t errlen)
{
	int rc;

	if (d->n_disks > OPT_MAX_DISKS || d->n_nics > OPT_MAX_NICS)
		return registry_fail(-EINVAL, err, errlen, "too many disks or NICs");
	rc = registry_exec(r, "DELETE FROM vm_disks WHERE vm_id = ?", err, errlen, "I", vm_id);
	if (!rc)   /* their forwards and allowed MACs go by cascade */
		rc = registry_exec(r, "DELETE FROM vm_nics WHERE vm_id = ?", err, errlen, "I",
				   vm_id);
	for (unsigned int i = 0; !rc && i < d->n_disks; i++)
		rc = registry_exec(r, "INSERT INTO vm_disks (vm_id, position, path, readonly) "
				   "VALUES (?, ?, ?, ?)", err, errlen, "Iisi", vm_id, (int)i,
				   d->disks[i].path, (int)d->disks[i].readonly);
	for (unsigned int i = 0; !rc && i < d->n_nics; i++)
		rc = registry_insert_nic(r, vm_id, i, &d->nics[i], err, errlen);
	return rc;
}

static int registry_insert(struct registry *r, const struct vm_def *d, char *err,
			   size_t errlen)
{
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st;
	int rc;

	rc = registry_query(r, &st, "INSERT INTO vms (name, kernel, initrd, cmdline, cpus, memory, "
			    "nested, max_depth, rng, created, state_changed) VALUES (?, ?, ?, ?, "
			    "?, ?, ?, ?, ?, ?, ?)", err, errlen, "ssssiIiiiII", d->name, d->kernel,
			    d->initrd, d->cmdline, (int)d->cpus, (int64_t)d->memory, (int)d->nested,
			    (int)d->max_depth, (int)d->rng, now, now);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return registry_fail(-EEXIST, err, errlen, "a VM named '%s' already exists",
				     d->name);
	if (rc != SQLITE_DONE)
		return registry_sql_err(r, rc, "creating the VM", err, errlen);
	return registry_write_children(r, sqlite3_last_insert_rowid(r->db), d, err, errlen);
}

/* End a write transaction: commit what the body did when it returned 0,
 * else undo all of it. */
static int registry_write(struct registry *r, int rc, char *err, size_t errlen)
{
	if (rc) {
		registry_rollback(r);
		return rc;
	}
	return registry_commit(r, err, errlen);
}

int registry_create(struct registry *r, const struct vm_def *d, char *err, size_t errlen)
{
	int rc = vmdef_check_name(d->name, err, errlen);

	if (!rc)
		rc = registry_begin(r, true, err, errlen);
	if (rc)
		return rc;
	return registry_write(r, registry_insert(r, d, err, errlen), err, errlen);
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

static int registry_update_locked(struct registry *r, const struct vm_def *d, const char *what,
				  char *err, size_t errlen)
{
	enum vm_state from, to;
	int64_t id;
	int pid, rc;

	rc = registry_check_op(r, d->name, VM_OP_MODIFY, what, &id, &from, &to, &pid, err,
			       errlen);
	if (!rc)
		rc = registry_exec(r, "UPDATE vms SET kernel = ?, initrd = ?, cmdline = ?, cpus = ?, "
				   "memory = ?, nested = ?, max_depth = ?, rng = ? WHERE id = ?",
				   err, errlen, "sssiIiiiI", d->kernel, d->initrd, d->cmdline,
				   (int)d->cpus, (int64_t)d->memory, (int)d->nested,
				   (int)d->max_depth, (int)d->rng, id);
	return rc ? rc : registry_write_children(r, id, d, err, errlen);
}

int registry_update(struct registry *r, const struct vm_def *d, const char *what, char *err,
		    size_t errlen)
{
	int rc = registry_begin(r, true, err, errlen);

	if (rc)
		return rc;
	return registry_write(r, registry_update_locked(r, d, what, err, errlen), err, errlen);
}

static int registry_delete_locked(struct registry *r, const char *name, enum vm_state *from,
				  char *err, size_t errlen)
{
	enum vm_state to;
	int64_t id;
	int pid, rc;

	rc = registry_check_op(r, name, VM_OP_DELETE, NULL, &id, from, &to, &pid, err, errlen);
	/* The disks, NICs and their lists go by cascade. */
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
