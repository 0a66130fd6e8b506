/* TLS with a pre-shared key over a connection's fd (GnuTLS, loaded on first
 * use). Both ends hold the same key (xport_psk_load) under the identity
 * XPORT_PSK_IDENTITY; no certificates. The handshake and every record run
 * on the non-blocking fd, waits in poll by a deadline (io.c). */
#include "transport/transport_priv.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

static _Atomic(const char *) xport_priority;

void xport_tls_set_priority(const char *priority)
{
	atomic_store(&xport_priority, priority);
}

static const char *xport_tls_priority(void)
{
	const char *p = atomic_load(&xport_priority);

	return p ? p : XPORT_TLS_PRIORITY;
}

/* The server's key for the identity the client names; GnuTLS frees it. */
static int xport_tls_server_key(gnutls_session_t s, const char *identity, gnutls_datum_t *key)
{
	struct xport_conn *c = gnutls_session_get_ptr(s);

	if (!c || strcmp(identity, XPORT_PSK_IDENTITY) != 0)
		return -1;
	key->data = gnutls_malloc(c->psk_len);
	if (!key->data)
		return -1;
	memcpy(key->data, c->psk, c->psk_len);
	key->size = (unsigned int)c->psk_len;
	return 0;
}

static int xport_tls_server_cred(struct xport_conn *c)
{
	int r = gnutls_psk_allocate_server_credentials(&c->srv_cred);

	if (r < 0)
		return r;
	gnutls_psk_set_server_credentials_function(c->srv_cred, xport_tls_server_key);
	/* DHE-PSK under TLS 1.2 needs groups; RFC 7919's, not generated ones. */
	r = gnutls_psk_set_server_known_dh_params(c->srv_cred, GNUTLS_SEC_PARAM_HIGH);
	if (r < 0)
		return r;
	gnutls_session_set_ptr(c->tls, c);
	return gnutls_credentials_set(c->tls, GNUTLS_CRD_PSK, c->srv_cred);
}

static int xport_tls_client_cred(struct xport_conn *c)
{
	gnutls_datum_t key = { .data = c->psk, .size = (unsigned int)c->psk_len };
	int r = gnutls_psk_allocate_client_credentials(&c->cli_cred);

	if (r < 0)
		return r;
	/* GnuTLS keeps its own copy; ours goes at once. */
	r = gnutls_psk_set_client_credentials(c->cli_cred, XPORT_PSK_IDENTITY, &key, GNUTLS_PSK_KEY_RAW);
	explicit_bzero(c->psk, sizeof(c->psk));
	c->psk_len = 0;
	if (r < 0)
		return r;
	return gnutls_credentials_set(c->tls, GNUTLS_CRD_PSK, c->cli_cred);
}

static int xport_tls_session(struct xport_conn *c, bool server, char *err, size_t errlen)
{
	/* NO_SIGNAL: GnuTLS sends with MSG_NOSIGNAL; NO_TICKETS: nothing is
	 * ever resumed, so the server sends no tickets. */
	unsigned int flags = (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK |
			     GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS;
	const char *prio = xport_tls_priority(), *where = NULL;
	int r = gnutls_init(&c->tls, flags);

	if (r < 0) {
		c->tls = NULL;
		snprintf(err, errlen, "cannot start TLS: %s", gnutls_strerror(r));
		return -ENOMEM;
	}
	r = gnutls_priority_set_direct(c->tls, prio, &where);
	if (r < 0) {
		snprintf(err, errlen, "GnuTLS refuses the priority string '%s' at '%s': %s", prio,
			 where ? where : "", gnutls_strerror(r));
		return -EINVAL;
	}
	r = server ? xport_tls_server_cred(c) : xport_tls_client_cred(c);
	if (r < 0) {
		snprintf(err, errlen, "cannot set up the TLS key: %s", gnutls_strerror(r));
		return -ENOMEM;
	}
	gnutls_transport_set_int2(c->tls, c->fd, c->fd);
	return 0;
}

/* One line for a handshake GnuTLS gave up on: the peer's alert when it
 * sent one. A wrong key shows as "illegal parameter" (TLS 1.3: the PSK
 * binder does not verify) or "decrypt error" (1.2: the Finished message)
 * on the side that finds out, and as that alert on the other. */
static int xport_tls_failed(struct xport_conn *c, int r, char *err, size_t errlen)
{
	char why[160];
	size_t n;

	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
		snprintf(why, sizeof(why), "the peer refused it (alert: %s)",
			 gnutls_alert_get_name(gnutls_alert_get(c->tls)));
	else
		snprintf(why, sizeof(why), "%s", gnutls_strerror(r));
	n = strlen(why);
	if (n > 0 && why[n - 1] == '.')
		why[n - 1] = '\0';
	snprintf(err, errlen, "TLS handshake failed: %s (do both ends use the same --psk-file?)",
		 why);
	/* GnuTLS does not tell the peer by itself; one try, we are leaving. */
	if (r != GNUTLS_E_FATAL_ALERT_RECEIVED)
		gnutls_alert_send_appropriate(c->tls, r);
	return -EACCES;
}

static int xport_tls_handshake(struct xport_conn *c, int64_t deadline, char *err, size_t errlen)
{
	for (;;) {
		int r = gnutls_handshake(c->tls);
		short ev;

		if (r == 0)
			return 0;
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(r))
			return xport_tls_failed(c, r, err, errlen);
		/* Again, interrupted, or a warning alert: go on, by the deadline. */
		ev = gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN;
		r = xport_remaining_ms(deadline) == 0 ? -ETIMEDOUT : 0;
		if (r == 0 && !xport_tls_pending(c))
			r = xport_poll(c->fd, ev, deadline);
		if (r == -ETIMEDOUT) {
			snprintf(err, errlen, "TLS handshake timed out: the peer said nothing more "
				 "(is it a nestvm with --psk-file?)");
			return r;
		}
		if (r < 0) {
			snprintf(err, errlen, "TLS handshake: cannot wait for the peer: %s", strerror(-r));
			return r;
		}
	}
}

int xport_tls_start(struct xport_conn *c, bool server, const char *psk_file, int64_t deadline,
		    char *err, size_t errlen)
{
	int r = gnutls_lazy_load(err, errlen);

	if (r < 0)
		return r;
	r = xport_psk_load(psk_file, c->psk, &c->psk_len, err, errlen);
	if (r < 0)
		return r;
	r = xport_tls_session(c, server, err, errlen);
	if (r < 0)
		return r;
	r = xport_tls_handshake(c, deadline, err, errlen);
	if (r < 0)
		return r;
	c->tls_up = true;
	return 0;
}

ssize_t xport_tls_recv(struct xport_conn *c, void *buf, size_t len, char *err, size_t errlen)
{
	for (;;) {
		ssize_t n = gnutls_record_recv(c->tls, buf, len);

		if (n >= 0)
			return n;             /* 0: close_notify */
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_AGAIN)
			return -EAGAIN;
		/* An end without close_notify is a peer that died: as EOF. A
		 * cut in a frame still shows, by the frame's length. */
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (n == GNUTLS_E_PULL_ERROR)
			return -ECONNRESET;
		/* A warning alert, a renegotiation asked for: read on, but by
		 * way of the caller's deadline, so a flood of them ends too. */
		if (!gnutls_error_is_fatal((int)n))
			return -EAGAIN;
		/* A record that fails its MAC is tampering, not a bad frame. */
		snprintf(err, errlen, "TLS: %s", gnutls_strerror((int)n));
		return -EIO;
	}
}

ssize_t xport_tls_send(struct xport_conn *c, const void *buf, size_t len, char *err, size_t errlen)
{
	for (;;) {
		ssize_t n = gnutls_record_send(c->tls, buf, len);

		if (n >= 0)
			return n;
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_AGAIN)
			return -EAGAIN;
		if (n == GNUTLS_E_PUSH_ERROR) {
			snprintf(err, errlen, "cannot send: the peer closed the connection");
			return -EPIPE;
		}
		snprintf(err, errlen, "cannot send: TLS: %s", gnutls_strerror((int)n));
		return -EIO;
	}
}

bool xport_tls_pending(struct xport_conn *c)
{
	return gnutls_record_check_pending(c->tls) > 0;
}

bool xport_tls_wants_write(struct xport_conn *c)
{
	return gnutls_record_get_direction(c->tls) == 1;
}

/* close_notify, so the peer can tell our end from a cut; bounded, for a
 * peer that reads nothing. */
void xport_tls_bye(struct xport_conn *c)
{
	int64_t deadline = xport_deadline(XPORT_BYE_MS);

	for (;;) {
		int r = gnutls_bye(c->tls, GNUTLS_SHUT_WR);

		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
			return;
		if (xport_poll(c->fd, gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN,
			       deadline) < 0)
			return;
	}
}

void xport_tls_free(struct xport_conn *c)
{
	if (c->tls)
		gnutls_deinit(c->tls);
	if (c->srv_cred)
		gnutls_psk_free_server_credentials(c->srv_cred);
	if (c->cli_cred)
		gnutls_psk_free_client_credentials(c->cli_cred);
	c->tls = NULL;
	c->srv_cred = NULL;
	c->cli_cred = NULL;
	explicit_bzero(c->psk, sizeof(c->psk));
	c->psk_len = 0;
}

bool xport_is_tls(const struct xport_conn *c)
{
	return c && c->tls;
}

const char *xport_tls_version(const struct xport_conn *c)
{
	if (!c || !c->tls)
		return NULL;
	return gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls));
}

const char *xport_tls_cipher(const struct xport_conn *c)
{
	if (!c || !c->tls)
		return NULL;
	return gnutls_cipher_get_name(gnutls_cipher_get(c->tls));
}

int xport_fd(const struct xport_conn *c)
{
	return c ? c->fd : -1;
}
