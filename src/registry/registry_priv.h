/* Inside the registry: the handle and the helpers its files share
 * (registry.c: opening, errors, transactions; registry_schema.c: the
 * schema and its migrations; registry_vm.c: the VM records;
 * registry_snapshot.c: the snapshot records). */
#ifndef NESTVM_REGISTRY_REGISTRY_PRIV_H
#define NESTVM_REGISTRY_REGISTRY_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lazy/sqlite_lazy.h"

#include "registry/registry.h"

#define REGISTRY_BUSY_MS_DEFAULT 10000   /* how long a writer waits for another */

struct registry {
	sqlite3 *db;
	int busy_ms;
	char dir[VMCFG_PATH_MAX];
	char path[VMCFG_PATH_MAX + sizeof("/" REGISTRY_DB_NAME)];
};

/* An SQLite result code as -errno, with a message naming the database and
 * what to do; `doing` says what failed ("reading 'web'"). */
int registry_sql_err(struct registry *r, int rc, const char *doing, char *err, size_t errlen);

int registry_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prepare `sql` and bind its parameters, one character of `types` each:
 * 's' const char *, 'i' int, 'I' int64_t. Only ever constant SQL: values
 * travel as bound parameters. 0 or -errno. */
int registry_query(struct registry *r, sqlite3_stmt **st, const char *sql, char *err,
		   size_t errlen, const char *types, ...);

/* The same, stepped to its end and finalized: for statements with no rows. */
int registry_exec(struct registry *r, const char *sql, char *err, size_t errlen,
		  const char *types, ...);

/* A text column into buf; false when it is NULL, holds a NUL or does not
 * fit. */
bool registry_col_text(sqlite3_stmt *st, int col, char *buf, size_t len);

/* One transaction: `write` takes the write lock at once (BEGIN IMMEDIATE),
 * so a read-then-write never fails half way on another writer. */
int registry_begin(struct registry *r, bool write, char *err, size_t errlen);
int registry_commit(struct registry *r, char *err, size_t errlen);
void registry_rollback(struct registry *r);
/* End a write transaction: commit what the body did when it returned 0
 * (rc), else undo all of it and return rc. */
int registry_write(struct registry *r, int rc, char *err, size_t errlen);

/* Bring the schema to registry_schema_version() (registry_schema.c). */
int registry_migrate(struct registry *r, char *err, size_t errlen);

#endif
