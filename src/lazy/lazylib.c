/* Libraries loaded on first use (see lazylib.h). */
#include "lazy/lazylib.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *const lazylib_sonames[] = {
	"libsqlite3.so.0", "libmicrohttpd.so.12", "libcurl.so.4", "libslirp.so.0",
	"libgnutls.so.30", NULL,
};

static int lazylib_open(struct lazylib *l)
{
	/* RTLD_LOCAL: nothing of it leaks into the global namespace. */
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(l->err, sizeof(l->err), "cannot load %s (%s): install the Debian "
			 "package %s", l->soname, dlerror(), l->package);
		return -ENOENT;
	}
	for (size_t i = 0; i < l->count; i++) {
		l->slots[i] = dlsym(h, l->names[i]);
		if (!l->slots[i]) {
			snprintf(l->err, sizeof(l->err), "%s has no %s: a newer %s is needed",
				 l->soname, l->names[i], l->package);
			dlclose(h);
			return -ENOSYS;
		}
	}
	return 0;  /* the handle stays open for the life of the process */
}

int lazylib_load(struct lazylib *l, char *err, size_t errlen)
{
	int r;

	pthread_mutex_lock(&l->lock);
	if (!l->tried) {
		l->status = lazylib_open(l);
		l->tried = true;
	}
	r = l->status;
	if (r && err)
		snprintf(err, errlen, "%s", l->err);
	pthread_mutex_unlock(&l->lock);
	return r;
}
