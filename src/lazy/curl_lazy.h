/* libcurl, loaded on first use (lazylib.h): include this instead of
 * <curl/curl.h>; api_client_request() calls curl_lazy_load() first.
 * curl's GCC type-checking macros are off: they would wrap the names. */
#ifndef NESTVM_LAZY_CURL_LAZY_H
#define NESTVM_LAZY_CURL_LAZY_H

#include <stddef.h>
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#define CURL_LAZY_FNS(X) \
	X(global_init) X(easy_init) X(easy_setopt) X(easy_perform) X(easy_getinfo) \
	X(easy_cleanup) X(easy_strerror) X(slist_append) X(slist_free_all)

struct curl_lazy_fns {
#define CURL_LAZY_SLOT(n) __typeof__(&curl_##n) n;
	CURL_LAZY_FNS(CURL_LAZY_SLOT)
#undef CURL_LAZY_SLOT
};
extern struct curl_lazy_fns curl_lazy;

int curl_lazy_load(char *err, size_t errlen);

#define curl_global_init curl_lazy.global_init
#define curl_easy_init curl_lazy.easy_init
/* curl.h's checks that these get three arguments go: they would call the
 * library's symbol directly. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_setopt curl_lazy.easy_setopt
#define curl_easy_perform curl_lazy.easy_perform
#define curl_easy_getinfo curl_lazy.easy_getinfo
#define curl_easy_cleanup curl_lazy.easy_cleanup
#define curl_easy_strerror curl_lazy.easy_strerror
#define curl_slist_append curl_lazy.slist_append
#define curl_slist_free_all curl_lazy.slist_free_all

#endif
