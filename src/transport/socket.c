/* Listening, accepting and connecting: Unix sockets only their owner can
 * reach (vmm/unix_sock.c makes them), TCP on loopback unless told
 * otherwise and always with a key. */
#include "transport/transport_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/unix_sock.h"

#define XPORT_BACKLOG   4
#define XPORT_RETRY_MS  10      /* a Unix listener's full backlog: try again after */

static const char *xport_psk_of(const struct xport_security *sec)
{
	return sec && sec->psk_file && sec->psk_file[0] ? sec->psk_file : NULL;
}

/* A key file named is checked (and GnuTLS found) before anyone connects. */
static int xport_check_key(const char *psk, char *err, size_t errlen)
{
	int r = gnutls_lazy_load(err, errlen);

	return r < 0 ? r : xport_psk_load(psk, NULL, NULL, err, errlen);
}

static int xport_need_key(const struct xport_endpoint *ep, const char *what, char *err, size_t errlen)
{
	char name[400];

	xport_endpoint_format(ep, name, sizeof(name));
	snprintf(err, errlen, "%s %s needs a key: pass --psk-file FILE (TLS with a pre-shared "
		 "key, the same file at both ends; docs/migration.md)", what, name);
	return -EINVAL;
}

static int xport_listen_unix(const struct xport_endpoint *ep, char *err, size_t errlen)
{
	int fd = unix_sock_listen(ep->path, NULL, err, errlen);
	struct stat st;

	if (fd < 0)
		return fd;
	/* unix_sock_listen binds under umask 077 and chmods; make sure. */
	if (lstat(ep->path, &st) < 0 || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0600) {
		snprintf(err, errlen, "socket %s did not come out with mode 0600", ep->path);
		unlink(ep->path);
		close(fd);
		return -EPERM;
	}
	return fd;
}

static int xport_resolve(const struct xport_endpoint *ep, bool passive, struct addrinfo **res,
			 char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	char port[8];
	int r;

	snprintf(port, sizeof(port), "%u", ep->port);
	r = getaddrinfo(ep->host, port, &hints, res);
	if (r != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", ep->host,
			 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -EADDRNOTAVAIL;
	}
	return 0;
}

static bool xport_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static int xport_bind_one(const struct addrinfo *ai)
{
	int one = 1;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, XPORT_BACKLOG) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int xport_listen_tcp(const struct xport_endpoint *ep, bool allow_remote, char *err,
			    size_t errlen)
{
	struct addrinfo *res, *ai;
	char name[400];
	int fd = -EADDRNOTAVAIL;

	xport_endpoint_format(ep, name, sizeof(name));
	if (xport_resolve(ep, true, &res, err, errlen) < 0)
		return -EADDRNOTAVAIL;
	for (ai = res; ai && !allow_remote; ai = ai->ai_next)
		if (!xport_is_loopback(ai->ai_addr)) {
			snprintf(err, errlen, "%s is not a loopback address: other machines could "
				 "connect; pass --allow-remote to listen there (the key still guards "
				 "it)", name);
			freeaddrinfo(res);
			return -EPERM;
		}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = xport_bind_one(ai);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s: %s", name, strerror(-fd));
	return fd;
}

int xport_listen(const struct xport_endpoint *ep, const struct xport_security *sec, char *err,
		 size_t errlen)
{
	const char *psk = xport_psk_of(sec);
	int r;

	if (ep->kind == XPORT_TCP && !psk)
		return xport_need_key(ep, "listening on", err, errlen);
	if (ep->kind != XPORT_TCP && ep->kind != XPORT_UNIX) {
		snprintf(err, errlen, "no endpoint to listen on");
		return -EINVAL;
	}
	if (psk && (r = xport_check_key(psk, err, errlen)) < 0)
		return r;
	if (ep->kind == XPORT_UNIX)
		return xport_listen_unix(ep, err, errlen);
	return xport_listen_tcp(ep, sec->allow_remote, err, errlen);
}

int xport_listen_port(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

void xport_unlisten(const struct xport_endpoint *ep, int lfd)
{
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);
	struct stat st;

	if (ep->kind != XPORT_UNIX || lfd < 0)
		return;
	/* Only the file lfd was bound to: never someone else's path. */
	memset(&sa, 0, sizeof(sa));
	if (getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0 || sa.sun_family != AF_UNIX ||
	    strncmp(sa.sun_path, ep->path, sizeof(sa.sun_path)) != 0)
		return;
	if (lstat(ep->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(ep->path);
}

static void xport_nodelay(int fd)
{
	int one = 1;

	/* Frames go out whole (sendmsg of header and payload, or full TLS
	 * records): no reason to wait for more. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A connection on lfd by deadline: its fd, or -errno with err. */
static int xport_accept_fd(int lfd, int timeout_ms, int64_t deadline, char *err, size_t errlen)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int r;

		if (fd >= 0)
			return fd;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			r = -errno;
			snprintf(err, errlen, "cannot accept a connection: %s", strerror(-r));
			return r;
		}
		r = xport_poll(lfd, POLLIN, deadline);
		if (r == -ETIMEDOUT)
			snprintf(err, errlen, "nobody connected within %d ms", timeout_ms);
		else if (r < 0)
			snprintf(err, errlen, "cannot wait for a connection: %s", strerror(-r));
		if (r < 0)
			return r;
	}
}

/* The connection's TLS, or plain when allowed; frees c on failure. */
static int xport_secure(struct xport_conn *c, bool server, const char *psk, int timeout_ms,
			struct xport_conn **out, char *err, size_t errlen)
{
	int r = 0;

	if (psk)
		r = xport_tls_start(c, server, psk,
				    xport_deadline(timeout_ms < 0 ? XPORT_HANDSHAKE_DEFAULT_MS : timeout_ms),
				    err, errlen);
	else if (c->tcp) {
		snprintf(err, errlen, "a TCP connection needs a key: pass --psk-file FILE");
		r = -EINVAL;
	}
	if (r < 0) {
		xport_conn_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int xport_accept(int lfd, const struct xport_security *sec, int timeout_ms, struct xport_conn **out,
		 char *err, size_t errlen)
{
	int fd = xport_accept_fd(lfd, timeout_ms, xport_deadline(timeout_ms), err, errlen);
	struct xport_conn *c;
	bool tcp;

	*out = NULL;
	if (fd < 0)
		return fd;
	tcp = xport_fd_is_tcp(fd);
	if (tcp)
		xport_nodelay(fd);
	c = xport_conn_new(fd, tcp);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return xport_secure(c, true, xport_psk_of(sec), timeout_ms, out, err, errlen);
}

static int xport_connect_error(const struct xport_endpoint *ep, int e, char *err, size_t errlen)
{
	char name[400];

	xport_endpoint_format(ep, name, sizeof(name));
	if (e == ENOENT)
		snprintf(err, errlen, "no socket at %s (is `nestvm receive` listening there?)", name);
	else if (e == ECONNREFUSED)
		snprintf(err, errlen, "nothing listens on %s (is `nestvm receive` running?)", name);
	else if (e == ETIMEDOUT)
		snprintf(err, errlen, "no answer from %s in time", name);
	else
		snprintf(err, errlen, "cannot connect to %s: %s", name, strerror(e));
	return -e;
}

/* A non-blocking connect finished by deadline: 0 or errno. */
static int xport_connect_wait(int fd, int64_t deadline)
{
	int e = 0;
	socklen_t el = sizeof(e);
	int r = xport_poll(fd, POLLOUT, deadline);

	if (r < 0)
		return -r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		return errno;
	return e;
}

/* connect(2) on a non-blocking socket by deadline: 0 or errno. A Unix
 * listener with a full backlog says EAGAIN: try again shortly. */
static int xport_connect_fd(int fd, const struct sockaddr *sa, socklen_t sl, int64_t deadline)
{
	for (;;) {
		int left;

		if (connect(fd, sa, sl) == 0 || errno == EISCONN)
			return 0;
		if (errno == EINPROGRESS || errno == EINTR)
			return xport_connect_wait(fd, deadline);
		if (errno != EAGAIN)
			return errno;
		left = xport_remaining_ms(deadline);
		if (left == 0)
			return ETIMEDOUT;
		poll(NULL, 0, left < 0 || left > XPORT_RETRY_MS ? XPORT_RETRY_MS : left);
	}
}

static int xport_connect_unix(const struct xport_endpoint *ep, int64_t deadline, char *err,
			      size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strnlen(ep->path, sizeof(ep->path));
	int fd, e;

	if (n == 0 || n >= sizeof(sa.sun_path))
		return xport_connect_error(ep, EINVAL, err, errlen);
	memcpy(sa.sun_path, ep->path, n);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return xport_connect_error(ep, errno, err, errlen);
	e = xport_connect_fd(fd, (struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1), deadline);
	if (e) {
		close(fd);
		return xport_connect_error(ep, e, err, errlen);
	}
	return fd;
}

static int xport_connect_tcp(const struct xport_endpoint *ep, int64_t deadline, char *err,
			     size_t errlen)
{
	struct addrinfo *res, *ai;
	int fd = -1, e = EADDRNOTAVAIL;

	if (xport_resolve(ep, false, &res, err, errlen) < 0)
		return -EADDRNOTAVAIL;
	for (ai = res; ai && e != ETIMEDOUT; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			e = errno;
			continue;
		}
		e = xport_connect_fd(fd, ai->ai_addr, ai->ai_addrlen, deadline);
		if (e == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return xport_connect_error(ep, e, err, errlen);
	xport_nodelay(fd);
	return fd;
}

int xport_connect(const struct xport_endpoint *ep, const struct xport_security *sec, int timeout_ms,
		  struct xport_conn **out, char *err, size_t errlen)
{
	const char *psk = xport_psk_of(sec);
	int64_t deadline = xport_deadline(timeout_ms);
	struct xport_conn *c;
	int fd, r;

	*out = NULL;
	if (ep->kind == XPORT_TCP && !psk)
		return xport_need_key(ep, "connecting to", err, errlen);
	if (ep->kind != XPORT_TCP && ep->kind != XPORT_UNIX) {
		snprintf(err, errlen, "no endpoint to connect to");
		return -EINVAL;
	}
	if (psk && (r = xport_check_key(psk, err, errlen)) < 0)
		return r;
	fd = ep->kind == XPORT_UNIX ? xport_connect_unix(ep, deadline, err, errlen)
				    : xport_connect_tcp(ep, deadline, err, errlen);
	if (fd < 0)
		return fd;
	c = xport_conn_new(fd, ep->kind == XPORT_TCP);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return xport_secure(c, false, psk, timeout_ms < 0 ? -1 : xport_remaining_ms(deadline),
			    out, err, errlen);
}

int xport_conn_from_fd(int fd, struct xport_conn **out, char *err, size_t errlen)
{
	int type = 0, fl;
	socklen_t tl = sizeof(type);
	struct xport_conn *c;

	*out = NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) {
		snprintf(err, errlen, "fd %d is not a stream socket", fd);
		close(fd);
		return -ENOTSOCK;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int r = -errno;

		snprintf(err, errlen, "cannot make fd %d non-blocking: %s", fd, strerror(-r));
		close(fd);
		return r;
	}
	c = xport_conn_new(fd, xport_fd_is_tcp(fd));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = c;
	return 0;
}
