/* libmicrohttpd's function table (mhd_lazy.h). */
#include "lazy/lazylib.h"
#include "lazy/mhd_lazy.h"

struct mhd_lazy_fns mhd_lazy;

#define MHD_LAZY_NAME(n) "MHD_" #n,
static const char *const mhd_lazy_names[] = { MHD_LAZY_FNS(MHD_LAZY_NAME) };

static struct lazylib mhd_lazy_lib =
	LAZYLIB_INIT("libmicrohttpd.so.12", "libmicrohttpd12", mhd_lazy_names,
		     (void **)&mhd_lazy, sizeof(mhd_lazy) / sizeof(void *));

int mhd_lazy_load(char *err, size_t errlen)
{
	_Static_assert(sizeof(mhd_lazy) / sizeof(void *) ==
		       sizeof(mhd_lazy_names) / sizeof(mhd_lazy_names[0]), "one name per slot");
	return lazylib_load(&mhd_lazy_lib, err, errlen);
}
