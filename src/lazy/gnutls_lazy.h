/* GnuTLS, loaded on first use (lazylib.h): include this instead of
 * <gnutls/gnutls.h>; the migration transport (src/transport/) calls
 * gnutls_lazy_load() before its first TLS session, so `nestvm run` and
 * every command that migrates nothing never map GnuTLS and its libraries
 * (nettle, gmp, p11-kit, ...).
 *
 * gnutls_malloc is a variable (a function pointer the library owns), not a
 * function: its slot holds the variable's address, and the name maps to
 * what it points at, so a PSK key handed to GnuTLS is allocated by the
 * allocator that GnuTLS will free it with. */
#ifndef NESTVM_LAZY_GNUTLS_LAZY_H
#define NESTVM_LAZY_GNUTLS_LAZY_H

#include <stddef.h>
#include <gnutls/gnutls.h>

#define GNUTLS_LAZY_FNS(X) \
	X(init) X(deinit) X(priority_set_direct) X(credentials_set) \
	X(psk_allocate_server_credentials) X(psk_free_server_credentials) \
	X(psk_set_server_credentials_function) X(psk_set_server_known_dh_params) \
	X(psk_allocate_client_credentials) X(psk_free_client_credentials) \
	X(psk_set_client_credentials) X(transport_set_int2) X(session_set_ptr) \
	X(session_get_ptr) X(handshake) X(record_send) X(record_recv) \
	X(record_check_pending) X(record_get_direction) X(bye) X(strerror) \
	X(error_is_fatal) X(alert_get) X(alert_get_name) X(alert_send_appropriate) X(protocol_get_version) \
	X(protocol_get_name) X(cipher_get) X(cipher_get_name) X(malloc)

struct gnutls_lazy_fns {
#define GNUTLS_LAZY_SLOT(n) __typeof__(&gnutls_##n) n;
	GNUTLS_LAZY_FNS(GNUTLS_LAZY_SLOT)
#undef GNUTLS_LAZY_SLOT
};
extern struct gnutls_lazy_fns gnutls_lazy;

int gnutls_lazy_load(char *err, size_t errlen);

#define gnutls_init gnutls_lazy.init
#define gnutls_deinit gnutls_lazy.deinit
#define gnutls_priority_set_direct gnutls_lazy.priority_set_direct
#define gnutls_credentials_set gnutls_lazy.credentials_set
#define gnutls_psk_allocate_server_credentials gnutls_lazy.psk_allocate_server_credentials
#define gnutls_psk_free_server_credentials gnutls_lazy.psk_free_server_credentials
#define gnutls_psk_set_server_credentials_function gnutls_lazy.psk_set_server_credentials_function
#define gnutls_psk_set_server_known_dh_params gnutls_lazy.psk_set_server_known_dh_params
#define gnutls_psk_allocate_client_credentials gnutls_lazy.psk_allocate_client_credentials
#define gnutls_psk_free_client_credentials gnutls_lazy.psk_free_client_credentials
#define gnutls_psk_set_client_credentials gnutls_lazy.psk_set_client_credentials
#define gnutls_transport_set_int2 gnutls_lazy.transport_set_int2
#define gnutls_session_set_ptr gnutls_lazy.session_set_ptr
#define gnutls_session_get_ptr gnutls_lazy.session_get_ptr
#define gnutls_handshake gnutls_lazy.handshake
#define gnutls_record_send gnutls_lazy.record_send
#define gnutls_record_recv gnutls_lazy.record_recv
#define gnutls_record_check_pending gnutls_lazy.record_check_pending
#define gnutls_record_get_direction gnutls_lazy.record_get_direction
#define gnutls_bye gnutls_lazy.bye
#define gnutls_strerror gnutls_lazy.strerror
#define gnutls_error_is_fatal gnutls_lazy.error_is_fatal
#define gnutls_alert_get gnutls_lazy.alert_get
#define gnutls_alert_get_name gnutls_lazy.alert_get_name
#define gnutls_alert_send_appropriate gnutls_lazy.alert_send_appropriate
#define gnutls_protocol_get_version gnutls_lazy.protocol_get_version
#define gnutls_protocol_get_name gnutls_lazy.protocol_get_name
#define gnutls_cipher_get gnutls_lazy.cipher_get
#define gnutls_cipher_get_name gnutls_lazy.cipher_get_name
#define gnutls_malloc (*gnutls_lazy.malloc)

#endif
