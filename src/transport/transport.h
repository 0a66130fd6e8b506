/* The transport of live migration: one stream between the source (`nestvm
 * migrate NAME --to ENDPOINT`) and the destination (`nestvm receive NAME
 * --listen ENDPOINT`), over a Unix socket or TCP, optionally (for TCP
 * always) in TLS with a pre-shared key, carrying framed, checksummed
 * messages. The migration logic above it decides what the frames mean.
 *
 * Frames (docs/migration.md, "Transport"): every message is one frame, a
 * 24-byte header, little-endian,
 *
 *   0  magic "NVMF"
 *   4  u32 type              (the layer above defines the values)
 *   8  u64 payload length    (at most XPORT_FRAME_MAX)
 *   16 u32 CRC-32 of the payload (zlib's crc32)
 *   20 u32 CRC-32 of header bytes 0..19
 *
 * then the payload. The CRCs catch a peer that is not nestvm and damage
 * on a path without TLS; TLS (when on) authenticates every byte anyway.
 *
 * Every wait (connect, accept, handshake, send, receive, close) is poll on
 * a non-blocking fd with a deadline, EINTR retried; no call raises SIGPIPE;
 * every fd is close-on-exec. Errors are -errno with one line in err.
 *
 * Threads: a connection may be used by one sending thread and one
 * receiving thread at the same time (their state is apart; GnuTLS allows
 * it), never by two senders or two receivers, and xport_close only when
 * neither is in a call. Different connections are independent.
 *
 * GnuTLS is loaded on first use (src/lazy/gnutls_lazy.h): a process that
 * never uses TLS never maps it.
 *
 * Layer 0: knows nothing of VMs; uses lazy/ and vmm/ (Unix sockets, log). */
#ifndef NESTVM_TRANSPORT_TRANSPORT_H
#define NESTVM_TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* ---- endpoints ---- */

enum xport_kind { XPORT_UNIX = 1, XPORT_TCP = 2 };

struct xport_endpoint {
	enum xport_kind kind;
	char path[108];      /* unix: the socket path as given */
	char host[256];      /* tcp: host name or address, without [] */
	uint16_t port;       /* tcp: 1..65535 (xport_listen also takes 0: any free port) */
};

/* "unix:PATH" (PATH non-empty, shorter than sun_path) or "tcp:HOST:PORT"
 * ("tcp:[::1]:4444" for IPv6; an address with ':' must be in brackets).
 * 0, or -EINVAL with one line in err naming what is wrong and the
 * accepted forms. */
int xport_endpoint_parse(const char *s, struct xport_endpoint *ep, char *err, size_t errlen);

/* "unix:/x" / "tcp:127.0.0.1:4444" / "tcp:[::1]:4444" back into buf (for
 * messages and registry reasons); always NUL-terminated, cut to len. */
void xport_endpoint_format(const struct xport_endpoint *ep, char *buf, size_t len);

/* ---- security ---- */

struct xport_security {
	const char *psk_file;  /* TLS pre-shared key file; required for TCP, optional for unix (then TLS too) */
	bool allow_remote;     /* listen: a TCP address other than loopback is refused unless set */
};

#define XPORT_PSK_IDENTITY  "nestvm"   /* the PSK identity both ends use */
#define XPORT_PSK_MIN_HEX   32         /* at least 128 bits */
#define XPORT_PSK_MAX_HEX   512        /* at most 256 bytes */

/* Create a key file: 64 hex chars (32 random bytes, getrandom) + newline,
 * mode 0600, O_EXCL|O_NOFOLLOW (an existing file or link is never
 * replaced: -EEXIST). 0 or -errno with err; nothing left behind on error. */
int xport_psk_create(const char *path, char *err, size_t errlen);

/* Read and check a key file as the handshake will: a regular file (opened
 * O_NOFOLLOW), no access for group or others (else -EACCES naming `chmod
 * 600`), hex digits only after trimming whitespace, an even number of them,
 * XPORT_PSK_MIN_HEX..XPORT_PSK_MAX_HEX. Decodes the key into key (room for
 * XPORT_PSK_MAX_HEX / 2 bytes) and its length into *keylen; key may be NULL
 * to check only. 0 or -errno with err. */
int xport_psk_load(const char *path, uint8_t *key, size_t *keylen, char *err, size_t errlen);

/* TLS 1.3, else 1.2; PSK key exchanges only, (EC)DHE first (forward
 * secrecy). AES-128-GCM first: TLS 1.3 ties an external PSK to SHA-256, so
 * its SHA-384 suite (AES-256-GCM, first in NORMAL) is out, and GnuTLS's
 * next would be ChaCha20-Poly1305, about 5 times slower than AES-GCM on a
 * CPU with AES-NI (110 against 600 MiB/s here), which every x86 KVM host
 * has. */
#define XPORT_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-PSK:+DHE-PSK:+PSK:" \
			   "-CIPHER-ALL:+AES-128-GCM:+CHACHA20-POLY1305:+AES-256-GCM"
/* The GnuTLS priority string of later handshakes (NULL: the default,
 * XPORT_TLS_PRIORITY). For tests and interoperability checks; not
 * thread-safe against handshakes running meanwhile. The string is not
 * copied. */
void xport_tls_set_priority(const char *priority);

/* ---- listening (destination) ---- */

/* unix: socket created with mode 0600 (umask around bind, then chmod and a
 * check of the mode), an existing non-socket file refused (-EEXIST), a
 * stale socket (nobody listening: connect gives ECONNREFUSED) replaced, a
 * live one refused (-EADDRINUSE).
 * tcp: SO_REUSEADDR, bind; a TCP endpoint without psk_file refused
 * (-EINVAL, message names --psk-file); a non-loopback address refused
 * (-EPERM, message says to pass --allow-remote) unless sec->allow_remote.
 * A psk_file (either kind) is checked here too (xport_psk_load), so a bad
 * key is reported before anyone connects. sec may be NULL (unix, no TLS).
 * Returns the listening fd (>= 0, non-blocking, CLOEXEC) or -errno. */
int xport_listen(const struct xport_endpoint *ep, const struct xport_security *sec, char *err, size_t errlen);

/* The local port a TCP listener (or connection) is bound to (for a listen
 * on port 0), or -errno. */
int xport_listen_port(int lfd);

/* Remove a unix listener's socket file, if it is still the socket lfd is
 * bound to (no-op for tcp). Does not close lfd: the caller does. */
void xport_unlisten(const struct xport_endpoint *ep, int lfd);

/* ---- connections ---- */

struct xport_conn; /* opaque: fd, optional GnuTLS session, buffers, byte counters */

/* Bound of a server handshake when accept is given timeout_ms -1: a client
 * that connects and then says nothing must not hold the listener forever. */
#define XPORT_HANDSHAKE_DEFAULT_MS 30000

/* Wait up to timeout_ms (-1: forever) for one connection, then (with a
 * psk_file) the TLS server handshake (PSK, TLS 1.3 where GnuTLS offers it,
 * also 1.2 PSK), also bounded by timeout_ms (by XPORT_HANDSHAKE_DEFAULT_MS
 * when it is -1). A failed handshake (a wrong key, a peer without TLS):
 * -EACCES with "TLS handshake failed: ..."; one that runs out of time
 * -ETIMEDOUT. 0 with *out, or -errno (-ETIMEDOUT: nobody came). */
int xport_accept(int lfd, const struct xport_security *sec, int timeout_ms, struct xport_conn **out,
		 char *err, size_t errlen);

/* Connect (source), then the TLS client handshake when sec->psk_file;
 * both within timeout_ms (-1: no bound but the kernel's; host names are
 * resolved before, by getaddrinfo, unbounded). TCP needs a psk_file
 * (-EINVAL). Nobody listening: -ECONNREFUSED (unix: -ENOENT when there is
 * no socket file); a failed handshake -EACCES as in xport_accept. */
int xport_connect(const struct xport_endpoint *ep, const struct xport_security *sec, int timeout_ms,
		  struct xport_conn **out, char *err, size_t errlen);

/* A plain (no TLS) connection over a connected stream socket the caller
 * made (a socketpair for a local migration, tests, the fuzz target); the
 * connection owns fd from then on, also on error (closed). Made
 * non-blocking and close-on-exec. -ENOTSOCK for anything but a stream
 * socket. */
int xport_conn_from_fd(int fd, struct xport_conn **out, char *err, size_t errlen);

/* ---- frames ---- */

#define XPORT_FRAME_MAX    (64u << 20)   /* largest payload */
#define XPORT_FRAME_HEADER 24
#define XPORT_FRAME_MAGIC  "NVMF"        /* 4 bytes, no NUL */

/* One frame. A payload over XPORT_FRAME_MAX: -EFBIG, nothing sent. Waits
 * for the peer to read at most the send timeout without progress
 * (xport_set_send_timeout): -ETIMEDOUT. The peer gone: -EPIPE. After a
 * failure in the middle of a frame the stream is unusable: every later
 * send fails with the same error. */
int xport_send(struct xport_conn *c, uint32_t type, const void *data, size_t len, char *err, size_t errlen);

/* One frame from several pieces (a page batch: an index, then pages);
 * iovcnt >= 0, any number (sent IOV_MAX at a time). */
int xport_sendv(struct xport_conn *c, uint32_t type, const struct iovec *iov, int iovcnt,
		char *err, size_t errlen);

/* Next frame within timeout_ms (-1 forever). *data points into the
 * connection's own buffer, valid until the next xport_recv or xport_close
 * (NULL when *len is 0). A payload over max (<= XPORT_FRAME_MAX; more is
 * taken as XPORT_FRAME_MAX) is refused before reading it or allocating
 * anything for it (-EFBIG); a bad magic or header CRC -EPROTO "not a nestvm
 * migration stream ..."; a payload CRC mismatch -EBADMSG (the frame is
 * consumed: the next call reads the next one); the peer closing the
 * connection at a frame boundary -ECONNRESET "the peer closed the
 * connection", in the middle of a frame -EPIPE "the stream was cut ...";
 * timeout -ETIMEDOUT, and what arrived of a frame so far is kept: the next
 * call goes on with it. After -EFBIG, -EPROTO, -ECONNRESET, -EPIPE or
 * another error of the socket or TLS, every later call fails the same way. */
int xport_recv(struct xport_conn *c, uint32_t *type, const void **data, size_t *len, size_t max,
	       int timeout_ms, char *err, size_t errlen);

/* Send timeout for every later send (default 30 s; -1: none): a peer that
 * stops reading for that long gives -ETIMEDOUT, never a hang. It bounds
 * the time without progress, so a large frame on a slow but moving link
 * is not cut. */
#define XPORT_SEND_TIMEOUT_DEFAULT_MS 30000
void xport_set_send_timeout(struct xport_conn *c, int timeout_ms);

/* Frame bytes (headers and payloads; not TLS's own records), the same
 * count on both ends with or without TLS. Safe to read from any thread. */
uint64_t xport_bytes_sent(const struct xport_conn *c);
uint64_t xport_bytes_received(const struct xport_conn *c);

bool xport_is_tls(const struct xport_conn *c);
/* "TLS1.3", "TLS1.2", or NULL for a plain connection (for messages). */
const char *xport_tls_version(const struct xport_conn *c);
/* The record cipher, "AES-128-GCM", or NULL for a plain connection. */
const char *xport_tls_cipher(const struct xport_conn *c);

/* Tests: the bytes the receive buffer holds for payloads now (0 before the
 * first non-empty payload; never more than the largest frame received). */
size_t xport_recv_capacity(const struct xport_conn *c);

/* Close (TLS bye with a short bound, then, for TCP, a shutdown and up to
 * XPORT_LINGER_MS waiting for the peer's end, so that unread data does not
 * make the kernel reset the connection and drop what we sent last; then
 * close the fd); NULL is fine. */
#define XPORT_LINGER_MS 1000
void xport_close(struct xport_conn *c);
/* The connection's socket: a process that forks keeps the connection for
 * the child (which goes on with it, TLS state included) and closes only
 * the socket in the parent. -1 for NULL. */
int xport_fd(const struct xport_conn *c);

#endif
