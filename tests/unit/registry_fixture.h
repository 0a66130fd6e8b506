/* The unit tests' registry fixture: a fresh state directory under /tmp
 * with an open registry (test_registry.c, test_registry_snapshot.c). */
#ifndef NESTVM_TESTS_REGISTRY_FIXTURE_H
#define NESTVM_TESTS_REGISTRY_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "registry/registry.h"

#ifndef REGISTRY_FIXTURE_PREFIX
#define REGISTRY_FIXTURE_PREFIX "/tmp/nestvm-registry-XXXXXX"
#endif

struct fixture {
	char tmp[64];            /* mkdtemp'ed */
	char dir[128];           /* tmp/state: the state dir, created by registry_open */
	char db[160];            /* dir/nestvm.db */
	struct registry *r;
	char err[512];
};

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->tmp, sizeof(f->tmp), REGISTRY_FIXTURE_PREFIX);
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/state", f->tmp);
	snprintf(f->db, sizeof(f->db), "%s/%s", f->dir, REGISTRY_DB_NAME);
	if (registry_open(&f->r, f->dir, f->err, sizeof(f->err))) {
		fprintf(stderr, "registry_open: %s\n", f->err);
		return -1;
	}
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	registry_close(f->r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static inline void reopen(struct fixture *f)
{
	registry_close(f->r);
	f->r = NULL;
	if (registry_open(&f->r, f->dir, f->err, sizeof(f->err)))
		fail_msg("registry_open: %s", f->err);
}

/* One SQL integer, through a connection of our own. */
static inline long long raw_int(const char *db, const char *sql)
{
	sqlite3 *c;
	sqlite3_stmt *st;
	long long v = -12345;

	assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(c));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(c);
	return v;
}

static inline void raw_exec(const char *db, const char *sql)
{
	sqlite3 *c;

	assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(c, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(c));
	sqlite3_close(c);
}

#endif
