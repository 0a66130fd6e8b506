/* libslirp (and with it GLib: 1.5 MiB resident), loaded when a VM has a
 * user-mode NIC (lazylib.h): include this instead of <slirp/libslirp.h>;
 * net_slirp_open() calls slirp_lazy_load() first. */
#ifndef NESTVM_LAZY_SLIRP_LAZY_H
#define NESTVM_LAZY_SLIRP_LAZY_H

#include <stddef.h>
#include <slirp/libslirp.h>

#define SLIRP_LAZY_FNS(X) \
	X(new) X(cleanup) X(input) X(add_hostfwd) X(pollfds_fill) X(pollfds_poll)

struct slirp_lazy_fns {
#define SLIRP_LAZY_SLOT(n) __typeof__(&slirp_##n) n;
	SLIRP_LAZY_FNS(SLIRP_LAZY_SLOT)
#undef SLIRP_LAZY_SLOT
};
extern struct slirp_lazy_fns slirp_lazy;

int slirp_lazy_load(char *err, size_t errlen);

#define slirp_new slirp_lazy.new
#define slirp_cleanup slirp_lazy.cleanup
#define slirp_input slirp_lazy.input
#define slirp_add_hostfwd slirp_lazy.add_hostfwd
#define slirp_pollfds_fill slirp_lazy.pollfds_fill
#define slirp_pollfds_poll slirp_lazy.pollfds_poll

#endif
