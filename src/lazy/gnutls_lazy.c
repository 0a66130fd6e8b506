/* GnuTLS's function table (gnutls_lazy.h). */
#include "lazy/lazylib.h"
#include "lazy/gnutls_lazy.h"

struct gnutls_lazy_fns gnutls_lazy;

#define GNUTLS_LAZY_NAME(n) "gnutls_" #n,
static const char *const gnutls_lazy_names[] = { GNUTLS_LAZY_FNS(GNUTLS_LAZY_NAME) };

static struct lazylib gnutls_lazy_lib =
	LAZYLIB_INIT("libgnutls.so.30", "libgnutls30", gnutls_lazy_names,
		     (void **)&gnutls_lazy, sizeof(gnutls_lazy) / sizeof(void *));

int gnutls_lazy_load(char *err, size_t errlen)
{
	_Static_assert(sizeof(gnutls_lazy) / sizeof(void *) ==
		       sizeof(gnutls_lazy_names) / sizeof(gnutls_lazy_names[0]), "one name per slot");
	return lazylib_load(&gnutls_lazy_lib, err, errlen);
}
