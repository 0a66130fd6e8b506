/* The registry's database: where it lives, opening it safely, turning
 * SQLite's errors into -errno and one clear line, and transactions. */
#include "registry/registry_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int registry_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- the state directory ---- */

static int registry_dir_join(char *out, size_t len, const char *a, const char *b, char *err,
			     size_t errlen)
{
	if ((size_t)snprintf(out, len, "%s%s", a, b) >= len)
		return registry_fail(-ENAMETOOLONG, err, errlen, "the state directory %s%s is too "
				     "long", a, b);
	return 0;
}

int registry_state_dir(const char *opt, char *out, size_t len, char *err, size_t errlen)
{
	const char *env = getenv("NESTVM_STATE_DIR");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (opt && *opt)
		return registry_dir_join(out, len, opt, "", err, errlen);
	if (env && *env)
		return registry_dir_join(out, len, env, "", err, errlen);
	if (geteuid() == 0)
		return registry_dir_join(out, len, "/var/lib/nestvm", "", err, errlen);
	/* The XDG spec says a relative $XDG_STATE_HOME is invalid: ignore it. */
	if (xdg && xdg[0] == '/')
		return registry_dir_join(out, len, xdg, "/nestvm", err, errlen);
	if (home && *home)
		return registry_dir_join(out, len, home, "/.local/state/nestvm", err, errlen);
	return registry_fail(-EINVAL, err, errlen, "cannot choose a state directory: HOME is "
			     "not set (use --state-dir DIR or NESTVM_STATE_DIR)");
}

/* mkdir -p, each new level mode 0700: the database says which VMs exist
 * and the sockets below it control them. */
static int registry_mkdirs(const char *dir, char *err, size_t errlen)
{
	char path[VMCFG_PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return registry_fail(-ENAMETOOLONG, err, errlen, "the state directory %s is too "
				     "long", dir);
	for (char *p = path + 1;; p++) {
		bool end = *p == '\0';

		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return registry_fail(-errno, err, errlen, "cannot create the state directory "
					     "%s: %s", path, strerror(errno));
		if (end)
			break;
		*p = '/';
	}
	if (stat(dir, &st) != 0)
		return registry_fail(-errno, err, errlen, "the state directory %s: %s", dir,
				     strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return registry_fail(-ENOTDIR, err, errlen, "the state directory %s is not a "
				     "directory", dir);
	/* SQLite also creates the -wal and -shm files beside the database. */
	if (access(dir, W_OK | X_OK) != 0)
		return registry_fail(-errno, err, errlen, "the state directory %s is not "
				     "writable (%s): fix its permissions or use --state-dir DIR",
				     dir, strerror(errno));
	return 0;
}

/* ---- errors ---- */

static int registry_sys_errno(struct registry *r, int dflt)
{
	int e = r->db ? sqlite3_system_errno(r->db) : 0;

	return e > 0 ? e : dflt;
}

int registry_sql_err(struct registry *r, int rc, const char *doing, char *err, size_t errlen)
{
	const char *why = r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc);
	int e;

	switch (rc & 0xff) {
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return registry_fail(-ENOTRECOVERABLE, err, errlen, "the state database %s is not "
				     "a valid SQLite database (%s): move it away to start afresh, "
				     "or restore a backup", r->path, why);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return registry_fail(-EBUSY, err, errlen, "the state database %s is locked by "
				     "another process (waited %d ms while %s): try again",
				     r->path, r->busy_ms, doing);
	case SQLITE_READONLY:
		return registry_fail(-EROFS, err, errlen, "the state database %s is read-only "
				     "(%s): check its permissions and those of %s", r->path, why,
				     r->dir);
	case SQLITE_CANTOPEN:
		e = registry_sys_errno(r, EACCES);
		return registry_fail(-e, err, errlen, "cannot open the state database %s: %s",
				     r->path, strerror(e));
	case SQLITE_FULL:
		return registry_fail(-ENOSPC, err, errlen, "the state database %s: the disk is "
				     "full while %s", r->path, doing);
	case SQLITE_NOMEM:
		return registry_fail(-ENOMEM, err, errlen, "out of memory while %s", doing);
	case SQLITE_IOERR:
		e = registry_sys_errno(r, EIO);
		return registry_fail(-e, err, errlen, "I/O error on the state database %s while "
				     "%s: %s (%s)", r->path, doing, why, strerror(e));
	case SQLITE_CONSTRAINT:
		return registry_fail(-EINVAL, err, errlen, "the state database %s refused %s: %s",
				     r->path, doing, why);
	default:
		return registry_fail(-EIO, err, errlen, "the state database %s failed while %s: "
				     "%s", r->path, doing, why);
	}
}

/* ---- statements ---- */

static int registry_bindv(sqlite3_stmt *st, const char *types, va_list ap)
{
	int rc = SQLITE_OK;

	for (int i = 1; types && types[i - 1] && rc == SQLITE_OK; i++) {
		switch (types[i - 1]) {
		case 's': rc = sqlite3_bind_text(st, i, va_arg(ap, const char *), -1,
						 SQLITE_TRANSIENT); break;
		case 'i': rc = sqlite3_bind_int(st, i, va_arg(ap, int)); break;
		case 'I': rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t)); break;
		default: rc = SQLITE_MISUSE; break;
		}
	}
	return rc;
}

static int registry_queryv(struct registry *r, sqlite3_stmt **st, const char *sql, char *err,
			   size_t errlen, const char *types, va_list ap)
{
	int rc = sqlite3_prepare_v2(r->db, sql, -1, st, NULL);

	if (rc == SQLITE_OK)
		rc = registry_bindv(*st, types, ap);
	if (rc != SQLITE_OK) {
		rc = registry_sql_err(r, rc, "preparing a statement", err, errlen);
		sqlite3_finalize(*st);
		*st = NULL;
		return rc;
	}
	return 0;
}

int registry_query(struct registry *r, sqlite3_stmt **st, const char *sql, char *err,
		   size_t errlen, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = registry_queryv(r, st, sql, err, errlen, types, ap);
	va_end(ap);
	return rc;
}

int registry_exec(struct registry *r, const char *sql, char *err, size_t errlen,
		  const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = registry_queryv(r, &st, sql, err, errlen, types, ap);
	va_end(ap);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	rc = rc == SQLITE_DONE ? 0 : registry_sql_err(r, rc, "writing", err, errlen);
	sqlite3_finalize(st);
	return rc;
}

bool registry_col_text(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (!t || (size_t)n >= len || memchr(t, '\0', (size_t)n))
		return false;
	memcpy(buf, t, (size_t)n);
	buf[n] = '\0';
	return true;
}

/* ---- transactions ---- */

int registry_begin(struct registry *r, bool write, char *err, size_t errlen)
{
	int rc = sqlite3_exec(r->db, write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return registry_sql_err(r, rc, write ? "starting a change" : "starting to read",
					err, errlen);
	return 0;
}

int registry_commit(struct registry *r, char *err, size_t errlen)
{
	int rc = sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		rc = registry_sql_err(r, rc, "committing", err, errlen);
		registry_rollback(r);
		return rc;
	}
	return 0;
}

int registry_write(struct registry *r, int rc, char *err, size_t errlen)
{
	if (rc) {
		registry_rollback(r);
		return rc;
	}
	return registry_commit(r, err, errlen);
}

void registry_rollback(struct registry *r)
{
	/* Harmless when SQLite already rolled back (after an I/O error). */
	if (!sqlite3_get_autocommit(r->db))
		sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- opening ---- */

/* NESTVM_DB_BUSY_MS overrides the 10 s a writer waits for another (tests
 * use a short one). */
static int registry_busy_ms(void)
{
	const char *s = getenv("NESTVM_DB_BUSY_MS");
	char *end;
	long v;

	if (!s || !isdigit((unsigned char)*s))
		return REGISTRY_BUSY_MS_DEFAULT;
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 3600 * 1000)
		return REGISTRY_BUSY_MS_DEFAULT;
	return (int)v;
}

/* The first statements: SQLite opens any file lazily, so a file that is
 * not a database is found here, not by sqlite3_open_v2(). */
static int registry_configure(struct registry *r, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	sqlite3_busy_timeout(r->db, r->busy_ms);
	rc = registry_query(r, &st, "PRAGMA journal_mode=WAL", err, errlen, NULL);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return registry_sql_err(r, rc, "opening", err, errlen);
	/* FULL: a commit is on disk (WAL fsync'ed) before it returns. */
	rc = registry_exec(r, "PRAGMA synchronous=FULL", err, errlen, NULL);
	if (!rc)
		rc = registry_exec(r, "PRAGMA foreign_keys=ON", err, errlen, NULL);
	return rc;
}

int registry_open(struct registry **out, const char *state_dir, char *err, size_t errlen)
{
	struct registry *r;
	int rc;

	*out = NULL;
	rc = sqlite_lazy_load(err, errlen);
	if (rc)
		return rc;
	rc = registry_mkdirs(state_dir, err, errlen);
	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return registry_fail(-ENOMEM, err, errlen, "out of memory");
	r->busy_ms = registry_busy_ms();
	snprintf(r->dir, sizeof(r->dir), "%s", state_dir);
	snprintf(r->path, sizeof(r->path), "%s/%s", state_dir, REGISTRY_DB_NAME);
	rc = sqlite3_open_v2(r->path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		rc = registry_sql_err(r, rc, "opening", err, errlen);
		goto fail;
	}
	sqlite3_extended_result_codes(r->db, 1);
	rc = registry_configure(r, err, errlen);
	if (rc)
		goto fail;
	rc = registry_migrate(r, err, errlen);
	if (rc)
		goto fail;
	*out = r;
	return 0;
fail:
	registry_close(r);
	return rc;
}

void registry_close(struct registry *r)
{
	if (!r)
		return;
	/* The last connection to close checkpoints the WAL into the database. */
	sqlite3_close_v2(r->db);
	free(r);
}

const char *registry_dir(const struct registry *r)
{
	return r->dir;
}
