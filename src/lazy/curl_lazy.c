/* libcurl's function table (curl_lazy.h). */
#include "lazy/lazylib.h"
#include "lazy/curl_lazy.h"

struct curl_lazy_fns curl_lazy;

#define CURL_LAZY_NAME(n) "curl_" #n,
static const char *const curl_lazy_names[] = { CURL_LAZY_FNS(CURL_LAZY_NAME) };

static struct lazylib curl_lazy_lib =
	LAZYLIB_INIT("libcurl.so.4", "libcurl4", curl_lazy_names, (void **)&curl_lazy,
		     sizeof(curl_lazy) / sizeof(void *));

int curl_lazy_load(char *err, size_t errlen)
{
	_Static_assert(sizeof(curl_lazy) / sizeof(void *) ==
		       sizeof(curl_lazy_names) / sizeof(curl_lazy_names[0]), "one name per slot");
	return lazylib_load(&curl_lazy_lib, err, errlen);
}
