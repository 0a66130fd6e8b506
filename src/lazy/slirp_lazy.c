/* libslirp's function table (slirp_lazy.h). */
#include "lazy/lazylib.h"
#include "lazy/slirp_lazy.h"

struct slirp_lazy_fns slirp_lazy;

#define SLIRP_LAZY_NAME(n) "slirp_" #n,
static const char *const slirp_lazy_names[] = { SLIRP_LAZY_FNS(SLIRP_LAZY_NAME) };

static struct lazylib slirp_lazy_lib =
	LAZYLIB_INIT("libslirp.so.0", "libslirp0", slirp_lazy_names, (void **)&slirp_lazy,
		     sizeof(slirp_lazy) / sizeof(void *));

int slirp_lazy_load(char *err, size_t errlen)
{
	_Static_assert(sizeof(slirp_lazy) / sizeof(void *) ==
		       sizeof(slirp_lazy_names) / sizeof(slirp_lazy_names[0]), "one name per slot");
	return lazylib_load(&slirp_lazy_lib, err, errlen);
}
