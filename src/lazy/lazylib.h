/* Libraries loaded on first use (dlopen), not at process start.
 *
 * libslirp (with GLib, 1.5 MiB resident) is needed only by a VM with a
 * user-mode NIC (slirp_lazy.h). And `nestvm run` needs none of the control
 * plane's libraries: SQLite (the
 * registry), libmicrohttpd (the API server) and libcurl (its client) with
 * their dependencies (GnuTLS, OpenSSL, Kerberos, LDAP, ...) are about 7 MiB
 * of resident memory and 30-odd libraries for the dynamic loader to map,
 * relocate and initialise in every VMM process. So they are opened only by
 * the commands that use them, through a table of function pointers per
 * library (sqlite_lazy.h, mhd_lazy.h, curl_lazy.h): code keeps calling the
 * libraries' own names, which those headers map to the table. GnuTLS
 * (gnutls_lazy.h) is needed only by a live migration with TLS
 * (src/transport/).
 *
 * The list of libraries is also what the rig copies into its images
 * (`nestvm version --libs`). */
#ifndef NESTVM_LAZY_LAZYLIB_H
#define NESTVM_LAZY_LAZYLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct lazylib {
	const char *soname;          /* "libcurl.so.4" */
	const char *package;         /* the Debian package that ships it */
	const char *const *names;    /* symbols, in the order of `slots` */
	void **slots;
	size_t count;
	pthread_mutex_t lock;
	bool tried;
	int status;                  /* 0 loaded, -errno failed */
	char err[320];
};

#define LAZYLIB_INIT(so, pkg, nm, sl, n) \
	{ .soname = (so), .package = (pkg), .names = (nm), .slots = (sl), .count = (n), \
	  .lock = PTHREAD_MUTEX_INITIALIZER }

/* Open the library and resolve every symbol, once (thread-safe; a failure
 * is remembered). 0, or -ENOENT / -ENOSYS with a message naming the library
 * and the package to install. */
int lazylib_load(struct lazylib *l, char *err, size_t errlen);

/* The libraries nestvm loads on demand, NULL-terminated. */
extern const char *const lazylib_sonames[];

#endif
