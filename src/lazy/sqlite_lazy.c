/* SQLite's function table (sqlite_lazy.h). */
#include "lazy/lazylib.h"
#include "lazy/sqlite_lazy.h"

struct sqlite_lazy_fns sqlite_lazy;

#define SQLITE_LAZY_NAME(n) "sqlite3_" #n,
static const char *const sqlite_lazy_names[] = { SQLITE_LAZY_FNS(SQLITE_LAZY_NAME) };

static struct lazylib sqlite_lazy_lib =
	LAZYLIB_INIT("libsqlite3.so.0", "libsqlite3-0", sqlite_lazy_names, (void **)&sqlite_lazy,
		     sizeof(sqlite_lazy) / sizeof(void *));

int sqlite_lazy_load(char *err, size_t errlen)
{
	_Static_assert(sizeof(sqlite_lazy) / sizeof(void *) ==
		       sizeof(sqlite_lazy_names) / sizeof(sqlite_lazy_names[0]),
		       "one name per slot");
	return lazylib_load(&sqlite_lazy_lib, err, errlen);
}
