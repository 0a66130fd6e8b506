/* The registry's schema and its migrations.
 *
 * PRAGMA user_version is the schema version. registry_migrations[i] takes
 * the schema from version i to i + 1; a new version is one more entry at
 * the end (ALTER TABLE ... ADD COLUMN, a new table), never an edit of an
 * old one, since databases out there went through the old ones. All steps
 * run in one transaction with the new user_version, so a crash leaves the
 * old schema or the new one, never half of it. */
#include "registry/registry_priv.h"

#include <errno.h>
#include <stdio.h>

static const char *const registry_migrations[] = {
	/* 0 → 1: the initial schema. Children keep their order in `position`
	 * and go with their VM (ON DELETE CASCADE, foreign_keys=ON). STRICT
	 * tables refuse a value of the wrong type instead of storing it. */
	"CREATE TABLE vms ("
	"  id            INTEGER PRIMARY KEY,"
	"  name          TEXT NOT NULL UNIQUE,"
	"  kernel        TEXT NOT NULL,"
	"  initrd        TEXT NOT NULL DEFAULT '',"
	"  cmdline       TEXT NOT NULL,"
	"  cpus          INTEGER NOT NULL CHECK (cpus BETWEEN 1 AND 255),"
	"  memory        INTEGER NOT NULL CHECK (memory > 0),"
	"  nested        INTEGER NOT NULL CHECK (nested IN (0, 1)),"
	"  max_depth     INTEGER NOT NULL DEFAULT 0 CHECK (max_depth >= 0),"
	"  rng           INTEGER NOT NULL CHECK (rng IN (0, 1)),"
	"  state         TEXT NOT NULL DEFAULT 'stopped' CHECK (state IN ('stopped',"
	"                'starting', 'running', 'paused', 'stopping', 'crashed')),"
	"  reason        TEXT NOT NULL DEFAULT '',"
	"  pid           INTEGER NOT NULL DEFAULT 0,"
	"  created       INTEGER NOT NULL,"
	"  state_changed INTEGER NOT NULL,"
	"  started       INTEGER NOT NULL DEFAULT 0,"
	"  last_exit     INTEGER NOT NULL DEFAULT -1"
	") STRICT;"
	"CREATE TABLE vm_disks ("
	"  vm_id    INTEGER NOT NULL REFERENCES vms(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL,"
	"  path     TEXT NOT NULL,"
	"  readonly INTEGER NOT NULL CHECK (readonly IN (0, 1)),"
	"  PRIMARY KEY (vm_id, position)"
	") STRICT;"
	"CREATE TABLE vm_nics ("
	"  id           INTEGER PRIMARY KEY,"
	"  vm_id        INTEGER NOT NULL REFERENCES vms(id) ON DELETE CASCADE,"
	"  position     INTEGER NOT NULL,"
	"  backend      TEXT NOT NULL CHECK (backend IN ('user', 'tap')),"
	"  tap          TEXT NOT NULL DEFAULT '',"
	"  mac          TEXT NOT NULL,"
	"  mac_spoofing INTEGER NOT NULL CHECK (mac_spoofing IN (0, 1)),"
	"  UNIQUE (vm_id, position)"
	") STRICT;"
	"CREATE TABLE vm_nic_forwards ("
	"  nic_id     INTEGER NOT NULL REFERENCES vm_nics(id) ON DELETE CASCADE,"
	"  position   INTEGER NOT NULL,"
	"  proto      TEXT NOT NULL DEFAULT 'tcp' CHECK (proto IN ('tcp')),"
	"  host_port  INTEGER NOT NULL CHECK (host_port BETWEEN 1 AND 65535),"
	"  guest_port INTEGER NOT NULL CHECK (guest_port BETWEEN 1 AND 65535),"
	"  PRIMARY KEY (nic_id, position)"
	") STRICT;"
	"CREATE TABLE vm_nic_allowed_macs ("
	"  nic_id   INTEGER NOT NULL REFERENCES vm_nics(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL,"
	"  mac      TEXT NOT NULL,"
	"  PRIMARY KEY (nic_id, position)"
	") STRICT;"
	/* Indexes on the foreign keys: a cascade looks children up by them. */
	"CREATE INDEX vm_nics_vm ON vm_nics(vm_id);",

	/* 1 → 2: one VM configuration (config/vmconfig.h). The definition is
	 * the JSON of vmconfig_to_json() in `config` (the registry queries
	 * only name and the state columns); the columns and child tables of
	 * version 1 are folded into it, in their positions, and dropped. The
	 * human "memory" is left out: memory_bytes is the truth. */
	"CREATE TABLE vms2 ("
	"  id            INTEGER PRIMARY KEY,"
	"  name          TEXT NOT NULL UNIQUE,"
	"  config        TEXT NOT NULL CHECK (json_valid(config) AND"
	"                json_type(config) = 'object' AND json_extract(config, '$.name') = name),"
	"  state         TEXT NOT NULL DEFAULT 'stopped' CHECK (state IN ('stopped',"
	"                'starting', 'running', 'paused', 'stopping', 'crashed')),"
	"  reason        TEXT NOT NULL DEFAULT '',"
	"  pid           INTEGER NOT NULL DEFAULT 0,"
	"  created       INTEGER NOT NULL,"
	"  state_changed INTEGER NOT NULL,"
	"  started       INTEGER NOT NULL DEFAULT 0,"
	"  last_exit     INTEGER NOT NULL DEFAULT -1"
	") STRICT;"
	"INSERT INTO vms2 (id, name, config, state, reason, pid, created, state_changed, started,"
	"                  last_exit)"
	" SELECT v.id, v.name, json_object("
	"   'name', v.name, 'kernel', v.kernel, 'initrd', nullif(v.initrd, ''),"
	"   'cmdline', v.cmdline, 'cpus', v.cpus, 'memory_bytes', v.memory,"
	"   'nested', json(iif(v.nested, 'true', 'false')),"
	"   'max_depth', nullif(v.max_depth, 0),"
	"   'disks', json((SELECT json_group_array(json_object('path', d.path,"
	"              'readonly', json(iif(d.readonly, 'true', 'false'))))"
	"             FROM (SELECT * FROM vm_disks WHERE vm_id = v.id ORDER BY position) d)),"
	"   'nics', json((SELECT json_group_array(json_object('backend', n.backend,"
	"              'tap', nullif(n.tap, ''), 'mac', n.mac,"
	"              'mac_spoofing', json(iif(n.mac_spoofing, 'true', 'false')),"
	"              'allowed_macs', json((SELECT json_group_array(a.mac) FROM (SELECT * FROM"
	"                 vm_nic_allowed_macs WHERE nic_id = n.id ORDER BY position) a)),"
	"              'forwards', json((SELECT json_group_array(json_object('proto', f.proto,"
	"                 'host_port', f.host_port, 'guest_port', f.guest_port)) FROM (SELECT *"
	"                 FROM vm_nic_forwards WHERE nic_id = n.id ORDER BY position) f))))"
	"            FROM (SELECT * FROM vm_nics WHERE vm_id = v.id ORDER BY position) n)),"
	"   'rng', json(iif(v.rng, 'true', 'false'))),"
	"   v.state, v.reason, v.pid, v.created, v.state_changed, v.started, v.last_exit"
	" FROM vms v;"
	"DROP TABLE vm_nic_forwards;"
	"DROP TABLE vm_nic_allowed_macs;"
	"DROP TABLE vm_nics;"
	"DROP TABLE vm_disks;"
	"DROP TABLE vms;"
	"ALTER TABLE vms2 RENAME TO vms;",

	/* 2 → 3: the snapshots nestvm wrote (registry_snapshot.c). A record
	 * goes with its VM (ON DELETE CASCADE on vms.name, which is UNIQUE;
	 * foreign_keys=ON). Beware in a later migration: with foreign keys on,
	 * dropping or rebuilding vms deletes every snapshot record, so such a
	 * step must copy them aside and back. */
	"CREATE TABLE snapshots ("
	"  vm                   TEXT NOT NULL REFERENCES vms(name)"
	"                       ON DELETE CASCADE ON UPDATE CASCADE,"
	"  dir                  TEXT NOT NULL CHECK (substr(dir, 1, 1) = '/'),"
	"  created              INTEGER NOT NULL,"
	"  size                 INTEGER NOT NULL CHECK (size >= 0),"
	"  memory_size          INTEGER NOT NULL CHECK (memory_size >= 0),"
	"  with_disks           INTEGER NOT NULL CHECK (with_disks IN (0, 1)),"
	"  stopped              INTEGER NOT NULL CHECK (stopped IN (0, 1)),"
	"  nested_guest_running INTEGER NOT NULL CHECK (nested_guest_running IN (0, 1)),"
	"  PRIMARY KEY (vm, dir)"
	") STRICT;",
};

#define REGISTRY_SCHEMA_VERSION \
	((int)(sizeof(registry_migrations) / sizeof(registry_migrations[0])))

int registry_schema_version(void)
{
	return REGISTRY_SCHEMA_VERSION;
}

/* A single integer from a query with no parameters. */
static int registry_query_int(struct registry *r, const char *sql, int *out, char *err,
			      size_t errlen)
{
	sqlite3_stmt *st;
	int rc = registry_query(r, &st, sql, err, errlen, NULL);

	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = 0;
	} else {
		rc = registry_sql_err(r, rc, "reading the schema", err, errlen);
	}
	sqlite3_finalize(st);
	return rc;
}

static int registry_check_version(struct registry *r, int v, char *err, size_t errlen)
{
	int tables = 0, rc;

	if (v > REGISTRY_SCHEMA_VERSION)
		return registry_fail(-EPROTO, err, errlen, "the state database %s was written by a "
				     "newer nestvm (schema version %d; this one knows up to %d): "
				     "use that nestvm, or move the file away to start afresh",
				     r->path, v, REGISTRY_SCHEMA_VERSION);
	if (v < 0)
		return registry_fail(-ENOTRECOVERABLE, err, errlen, "the state database %s has "
				     "schema version %d: move it away to start afresh, or restore "
				     "a backup", r->path, v);
	if (v > 0)
		return 0;
	/* Version 0 is an empty database, or some other program's. */
	rc = registry_query_int(r, "SELECT count(*) FROM sqlite_schema", &tables, err, errlen);
	if (!rc && tables > 0)
		rc = registry_fail(-ENOTRECOVERABLE, err, errlen, "%s is an SQLite database, but "
				   "not nestvm's (it has tables and no schema version): move it "
				   "away, or choose another --state-dir", r->path);
	return rc;
}

static int registry_migrate_locked(struct registry *r, char *err, size_t errlen)
{
	char sql[48];
	int v, rc;

	/* Again under the write lock: another process may have migrated. */
	rc = registry_query_int(r, "PRAGMA user_version", &v, err, errlen);
	if (!rc)
		rc = registry_check_version(r, v, err, errlen);
	for (; !rc && v < REGISTRY_SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(r->db, registry_migrations[v], NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return registry_sql_err(r, rc, "migrating the schema", err, errlen);
	}
	if (rc)
		return rc;
	/* PRAGMA takes no bound parameters; the number is our own constant. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", REGISTRY_SCHEMA_VERSION);
	return registry_exec(r, sql, err, errlen, NULL);
}

/* Preparing a statement on vms makes SQLite parse the whole schema: a
 * damaged one is found here, at open, rather than by some later command. */
static int registry_check_schema(struct registry *r, char *err, size_t errlen)
{
	int n;

	return registry_query_int(r, "SELECT count(*) FROM vms", &n, err, errlen);
}

int registry_migrate(struct registry *r, char *err, size_t errlen)
{
	int v, rc;

	rc = registry_query_int(r, "PRAGMA user_version", &v, err, errlen);
	if (rc)
		return rc;
	if (v == REGISTRY_SCHEMA_VERSION)   /* the common case: no write lock taken */
		return registry_check_schema(r, err, errlen);
	rc = registry_check_version(r, v, err, errlen);
	if (rc)
		return rc;
	rc = registry_begin(r, true, err, errlen);
	if (rc)
		return rc;
	rc = registry_migrate_locked(r, err, errlen);
	if (rc) {
		registry_rollback(r);
		return rc;
	}
	return registry_commit(r, err, errlen);
}
