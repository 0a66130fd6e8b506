/* Inside the transport (transport.h): the connection, deadlines and the
 * byte I/O shared by its files. Not for use outside src/transport/.
 *
 *   endpoint.c  endpoint strings          psk.c     key files
 *   socket.c    listen, accept, connect   tls.c     GnuTLS sessions
 *   io.c        waits, byte I/O, close    frame.c   frames over a connection */
#ifndef NESTVM_TRANSPORT_TRANSPORT_PRIV_H
#define NESTVM_TRANSPORT_TRANSPORT_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lazy/gnutls_lazy.h"
#include "transport/transport.h"

#define XPORT_RBUF_SIZE  (64u << 10)   /* read-ahead for headers and small frames */
#define XPORT_TLS_CHUNK  16384         /* the largest TLS record's plaintext */
#define XPORT_BYE_MS     500           /* how long close waits to send TLS's close_notify */
#define XPORT_ERRMSG     256

struct xport_conn {
	int fd;
	bool tcp;                      /* shutdown and linger at close */
	/* TLS: NULL when plain. Read-only after the handshake. */
	gnutls_session_t tls;
	bool tls_up;                   /* the handshake completed: close says bye */
	gnutls_psk_server_credentials_t srv_cred;
	gnutls_psk_client_credentials_t cli_cred;
	uint8_t psk[XPORT_PSK_MAX_HEX / 2];   /* the server's key, for its callback */
	size_t psk_len;

	/* The sending thread's. */
	atomic_int send_timeout_ms;
	int send_err;                  /* sticky: a frame went out in part */
	char send_msg[XPORT_ERRMSG];
	uint8_t *obuf;                 /* TLS: pieces gathered into whole records */
	size_t olen;

	/* The receiving thread's. */
	int recv_err;                  /* sticky: the stream cannot be read on */
	char recv_msg[XPORT_ERRMSG];
	uint8_t *rbuf;                 /* read-ahead: rbuf[rpos..rend) not yet used */
	size_t rpos, rend;
	uint8_t hdr[XPORT_FRAME_HEADER];
	size_t hdr_have;               /* header bytes of the current frame so far */
	bool hdr_ok;                   /* magic and CRC checked, the fields below valid */
	uint32_t type, crc;
	uint64_t len;
	uint8_t *payload;
	size_t cap, have;              /* payload buffer size; bytes of this frame in it */

	atomic_uint_fast64_t sent, received;
};

/* Deadlines: a CLOCK_MONOTONIC time in ms, or -1 for none. */
int64_t xport_deadline(int timeout_ms);
/* ms left until deadline (0 when past), -1 for none. */
int xport_remaining_ms(int64_t deadline);
/* Wait for events on fd until deadline: 0 (ready, or an error or hang-up
 * the next I/O call will report), -ETIMEDOUT, or -errno. */
int xport_poll(int fd, short events, int64_t deadline);

/* A new connection owning fd (closed on failure: NULL). */
struct xport_conn *xport_conn_new(int fd, bool tcp);
/* Free without a bye (a failed handshake); NULL is fine. */
void xport_conn_free(struct xport_conn *c);
bool xport_fd_is_tcp(int fd);

/* Read up to len bytes by deadline: > 0 bytes, 0 the peer closed (EOF,
 * TLS close_notify or an end without one), -ECONNRESET (reset),
 * -ETIMEDOUT (err not set: the caller knows what it waited for), or
 * another -errno with err. */
ssize_t xport_read_some(struct xport_conn *c, void *buf, size_t len, int64_t deadline,
			char *err, size_t errlen);
/* Write every byte of iov (changed as it goes), each wait bounded by the
 * send timeout without progress. 0, or -ETIMEDOUT / -EPIPE / -errno with
 * err; *partial tells whether any byte of it went out (or TLS holds part
 * of a record: the stream cannot be used on). */
int xport_write_all(struct xport_conn *c, struct iovec *iov, int iovcnt, bool *partial,
		    char *err, size_t errlen);

/* TLS over c->fd: load the key, set up the session and run the handshake by
 * deadline. -EACCES "TLS handshake failed: ...", -ETIMEDOUT, -ENOENT (no
 * GnuTLS), or a key file's error. */
int xport_tls_start(struct xport_conn *c, bool server, const char *psk_file, int64_t deadline,
		    char *err, size_t errlen);
/* One TLS record's worth: > 0, 0 closed, -EAGAIN (wait, see
 * xport_tls_wants_write), -ECONNRESET, -errno with err. */
ssize_t xport_tls_recv(struct xport_conn *c, void *buf, size_t len, char *err, size_t errlen);
ssize_t xport_tls_send(struct xport_conn *c, const void *buf, size_t len, char *err, size_t errlen);
bool xport_tls_pending(struct xport_conn *c);
bool xport_tls_wants_write(struct xport_conn *c);
void xport_tls_bye(struct xport_conn *c);
void xport_tls_free(struct xport_conn *c);

#endif
