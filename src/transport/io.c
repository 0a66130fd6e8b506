/* Deadlines, waits and byte I/O of a connection (transport_priv.h), and its
 * end. Every fd is non-blocking: a call waits only in poll, and only until
 * its deadline, so no peer can hang us. */
#include "transport/transport_priv.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t xport_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t xport_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : xport_now_ms() + timeout_ms;
}

int xport_remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - xport_now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

int xport_poll(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int r = poll(&p, 1, xport_remaining_ms(deadline));

		if (r > 0)
			return (p.revents & POLLNVAL) ? -EBADF : 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

bool xport_fd_is_tcp(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

struct xport_conn *xport_conn_new(int fd, bool tcp)
{
	struct xport_conn *c = calloc(1, sizeof(*c));

	if (c)
		c->rbuf = malloc(XPORT_RBUF_SIZE);
	if (!c || !c->rbuf) {
		free(c);
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->tcp = tcp;
	atomic_init(&c->send_timeout_ms, XPORT_SEND_TIMEOUT_DEFAULT_MS);
	atomic_init(&c->sent, 0);
	atomic_init(&c->received, 0);
	return c;
}

void xport_conn_free(struct xport_conn *c)
{
	if (!c)
		return;
	xport_tls_free(c);
	if (c->fd >= 0)
		close(c->fd);
	free(c->obuf);
	free(c->rbuf);
	free(c->payload);
	free(c);
}

/* TCP only: our FIN after everything we sent, then read until the peer's
 * end (or a short bound). A TCP socket closed with unread data makes the
 * kernel send a reset and drop what it still had to send; a Unix socket
 * has delivered everything already. */
static void xport_linger(struct xport_conn *c)
{
	int64_t deadline = xport_deadline(XPORT_LINGER_MS);
	char sink[4096];

	if (shutdown(c->fd, SHUT_WR) < 0)
		return;
	/* Bounded even against a peer that never stops sending. */
	while (xport_remaining_ms(deadline) > 0) {
		ssize_t n = read(c->fd, sink, sizeof(sink));

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
		if (n < 0 && errno == EAGAIN && xport_poll(c->fd, POLLIN, deadline) < 0)
			return;
	}
}

void xport_close(struct xport_conn *c)
{
	if (!c)
		return;
	if (c->tls_up)
		xport_tls_bye(c);
	if (c->tcp)
		xport_linger(c);
	xport_conn_free(c);
}

static ssize_t xport_plain_read(struct xport_conn *c, void *buf, size_t len, char *err, size_t errlen)
{
	for (;;) {
		ssize_t n = read(c->fd, buf, len);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == ECONNRESET)
			return -ECONNRESET;
		n = -errno;
		snprintf(err, errlen, "cannot read from the peer: %s", strerror(errno));
		return n;
	}
}

ssize_t xport_read_some(struct xport_conn *c, void *buf, size_t len, int64_t deadline,
			char *err, size_t errlen)
{
	for (;;) {
		ssize_t n = c->tls ? xport_tls_recv(c, buf, len, err, errlen)
				   : xport_plain_read(c, buf, len, err, errlen);
		short ev = POLLIN;
		int r;

		if (n != -EAGAIN)
			return n;
		/* GnuTLS may hold decrypted bytes the socket no longer shows. */
		if (c->tls && xport_tls_pending(c))
			continue;
		if (xport_remaining_ms(deadline) == 0)
			return -ETIMEDOUT;
		/* A TLS 1.3 key update read here may have its answer to send. */
		if (c->tls && xport_tls_wants_write(c))
			ev |= POLLOUT;
		r = xport_poll(c->fd, ev, deadline);
		if (r < 0) {
			if (r != -ETIMEDOUT)
				snprintf(err, errlen, "cannot wait for the peer: %s", strerror(-r));
			return r;
		}
	}
}

static int xport_send_error(int e, int timeout_ms, char *err, size_t errlen)
{
	if (e == EPIPE || e == ECONNRESET) {
		snprintf(err, errlen, "cannot send: the peer closed the connection");
		return -EPIPE;
	}
	if (e == ETIMEDOUT) {
		snprintf(err, errlen, "cannot send: the peer read nothing for %d ms", timeout_ms);
		return -ETIMEDOUT;
	}
	snprintf(err, errlen, "cannot send: %s", strerror(e));
	return -e;
}

/* Drop n written bytes from the front of iov. */
static void xport_iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

static int xport_plain_write(struct xport_conn *c, struct iovec *iov, int cnt, bool *partial,
			     char *err, size_t errlen)
{
	int tmo = atomic_load(&c->send_timeout_ms);
	int64_t deadline = xport_deadline(tmo);

	xport_iov_advance(&iov, &cnt, 0);
	while (cnt > 0) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)(cnt < IOV_MAX ? cnt : IOV_MAX) };
		/* MSG_NOSIGNAL: a peer that is gone is -EPIPE, not SIGPIPE. */
		ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (n > 0) {
			*partial = true;
			xport_iov_advance(&iov, &cnt, (size_t)n);
			deadline = xport_deadline(tmo);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return xport_send_error(errno, tmo, err, errlen);
		r = xport_poll(c->fd, POLLOUT, deadline);
		if (r < 0)
			return xport_send_error(-r, tmo, err, errlen);
	}
	return 0;
}

/* Send c->obuf as TLS records. GnuTLS wants a send that said "again" to be
 * repeated with the same bytes: the loop does exactly that. */
static int xport_tls_flush(struct xport_conn *c, int tmo, char *err, size_t errlen)
{
	int64_t deadline = xport_deadline(tmo);
	size_t off = 0;

	while (off < c->olen) {
		ssize_t n = xport_tls_send(c, c->obuf + off, c->olen - off, err, errlen);
		int r;

		if (n > 0) {
			off += (size_t)n;
			deadline = xport_deadline(tmo);
			continue;
		}
		if (n != -EAGAIN)
			return (int)n;
		r = xport_poll(c->fd, POLLOUT, deadline);
		if (r < 0)
			return xport_send_error(-r, tmo, err, errlen);
	}
	c->olen = 0;
	return 0;
}

/* The pieces gathered into whole records: a 24-byte header is not a
 * record of its own, nor is each page of a batch. */
static int xport_tls_write(struct xport_conn *c, struct iovec *iov, int cnt, bool *partial,
			   char *err, size_t errlen)
{
	int tmo = atomic_load(&c->send_timeout_ms);
	int r;

	if (!c->obuf && !(c->obuf = malloc(XPORT_TLS_CHUNK))) {
		snprintf(err, errlen, "cannot send: out of memory");
		return -ENOMEM;
	}
	c->olen = 0;
	for (int i = 0; i < cnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left > 0) {
			size_t n = XPORT_TLS_CHUNK - c->olen;

			if (n > left)
				n = left;
			memcpy(c->obuf + c->olen, p, n);
			c->olen += n;
			p += n;
			left -= n;
			if (c->olen == XPORT_TLS_CHUNK) {
				*partial = true;
				r = xport_tls_flush(c, tmo, err, errlen);
				if (r < 0)
					return r;
			}
		}
	}
	*partial = true;
	return xport_tls_flush(c, tmo, err, errlen);
}

int xport_write_all(struct xport_conn *c, struct iovec *iov, int iovcnt, bool *partial,
		    char *err, size_t errlen)
{
	*partial = false;
	if (c->tls)
		return xport_tls_write(c, iov, iovcnt, partial, err, errlen);
	return xport_plain_write(c, iov, iovcnt, partial, err, errlen);
}
