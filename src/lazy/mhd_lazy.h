/* libmicrohttpd, loaded on first use (lazylib.h): include this instead of
 * <microhttpd.h>; api_server_start() calls mhd_lazy_load() first. */
#ifndef NESTVM_LAZY_MHD_LAZY_H
#define NESTVM_LAZY_MHD_LAZY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>

#define MHD_LAZY_FNS(X) \
	X(start_daemon) X(stop_daemon) X(lookup_connection_value) \
	X(create_response_from_buffer) X(add_response_header) X(queue_response) \
	X(destroy_response)

struct mhd_lazy_fns {
#define MHD_LAZY_SLOT(n) __typeof__(&MHD_##n) n;
	MHD_LAZY_FNS(MHD_LAZY_SLOT)
#undef MHD_LAZY_SLOT
};
extern struct mhd_lazy_fns mhd_lazy;

int mhd_lazy_load(char *err, size_t errlen);

#define MHD_start_daemon mhd_lazy.start_daemon
#define MHD_stop_daemon mhd_lazy.stop_daemon
#define MHD_lookup_connection_value mhd_lazy.lookup_connection_value
#define MHD_create_response_from_buffer mhd_lazy.create_response_from_buffer
#define MHD_add_response_header mhd_lazy.add_response_header
#define MHD_queue_response mhd_lazy.queue_response
#define MHD_destroy_response mhd_lazy.destroy_response

#endif
