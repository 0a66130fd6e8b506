/* SQLite, loaded on first use (lazylib.h): include this instead of
 * <sqlite3.h>, call sqlite_lazy_load() before the first sqlite3_* call
 * (registry_open does), and use the usual names. */
#ifndef NESTVM_LAZY_SQLITE_LAZY_H
#define NESTVM_LAZY_SQLITE_LAZY_H

#include <stddef.h>
#include <sqlite3.h>

#define SQLITE_LAZY_FNS(X) \
	X(open_v2) X(close_v2) X(busy_timeout) X(extended_result_codes) X(exec) \
	X(prepare_v2) X(step) X(finalize) X(bind_int) X(bind_int64) X(bind_text) \
	X(column_int) X(column_int64) X(column_text) X(column_bytes) X(errmsg) X(errstr) \
	X(system_errno) X(get_autocommit) X(last_insert_rowid) X(changes)

struct sqlite_lazy_fns {
#define SQLITE_LAZY_SLOT(n) __typeof__(&sqlite3_##n) n;
	SQLITE_LAZY_FNS(SQLITE_LAZY_SLOT)
#undef SQLITE_LAZY_SLOT
};
extern struct sqlite_lazy_fns sqlite_lazy;

int sqlite_lazy_load(char *err, size_t errlen);

#define sqlite3_open_v2 sqlite_lazy.open_v2
#define sqlite3_close_v2 sqlite_lazy.close_v2
#define sqlite3_busy_timeout sqlite_lazy.busy_timeout
#define sqlite3_extended_result_codes sqlite_lazy.extended_result_codes
#define sqlite3_exec sqlite_lazy.exec
#define sqlite3_prepare_v2 sqlite_lazy.prepare_v2
#define sqlite3_step sqlite_lazy.step
#define sqlite3_finalize sqlite_lazy.finalize
#define sqlite3_bind_int sqlite_lazy.bind_int
#define sqlite3_bind_int64 sqlite_lazy.bind_int64
#define sqlite3_bind_text sqlite_lazy.bind_text
#define sqlite3_column_int sqlite_lazy.column_int
#define sqlite3_column_int64 sqlite_lazy.column_int64
#define sqlite3_column_text sqlite_lazy.column_text
#define sqlite3_column_bytes sqlite_lazy.column_bytes
#define sqlite3_errmsg sqlite_lazy.errmsg
#define sqlite3_errstr sqlite_lazy.errstr
#define sqlite3_system_errno sqlite_lazy.system_errno
#define sqlite3_get_autocommit sqlite_lazy.get_autocommit
#define sqlite3_last_insert_rowid sqlite_lazy.last_insert_rowid
#define sqlite3_changes sqlite_lazy.changes

#endif
