/* The client side of a background VM's console socket: `nestvm console
 * NAME` (console_sock_attach in console_sock.h). */
#include "control/console_sock.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/term_filter.h"
#include "vmm/unix_sock.h"

enum console_attach_end { ATTACH_DETACHED = 0, ATTACH_CLOSED = 1 };

/* NAME in <state dir>/vms/NAME/console.sock: the socket's directory. */
static const char *console_attach_name(const char *path, char *buf, size_t n)
{
	const char *slash = strrchr(path, '/');
	const char *start;
	size_t len;

	if (!slash || slash == path)
		return path;
	start = slash;
	while (start > path && start[-1] != '/')
		start--;
	len = (size_t)(slash - start);
	if (len == 0 || len >= n || (len == 1 && start[0] == '.'))
		return path;
	memcpy(buf, start, len);
	buf[len] = '\0';
	return buf;
}

static int console_attach_write_all(int fd, const uint8_t *buf, size_t len, bool sock)
{
	while (len > 0) {
		ssize_t n = sock ? send(fd, buf, len, MSG_NOSIGNAL) : write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The VM's output to out_fd, through tf (guest bytes bound for a terminal;
 * NULL: out_fd is not one). ATTACH_CLOSED when the VM's side is gone. */
static int console_attach_output(int sock, int out_fd, struct term_filter *tf, char *err,
				 size_t errlen)
{
	uint8_t buf[4096], shown[sizeof(buf) + TERM_FILTER_HOLD];
	ssize_t n = read(sock, buf, sizeof(buf));
	int r;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return -EAGAIN;
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return ATTACH_CLOSED;
	if (n < 0) {
		r = -errno;
		snprintf(err, errlen, "console socket: %s", strerror(-r));
		return r;
	}
	if (tf)
		r = console_attach_write_all(out_fd, shown, term_filter_run(tf, buf, (size_t)n, shown),
					     false);
	else
		r = console_attach_write_all(out_fd, buf, (size_t)n, false);
	if (r < 0)
		snprintf(err, errlen, "cannot write the console's output: %s", strerror(-r));
	return r < 0 ? r : -EAGAIN;
}

/* in_fd to the VM, up to the detach key. ATTACH_DETACHED on the key or at
 * the end of in_fd, ATTACH_CLOSED if the VM's side is gone. */
static int console_attach_input(int sock, int in_fd, char *err, size_t errlen)
{
	uint8_t buf[1024];
	ssize_t n = read(in_fd, buf, sizeof(buf));
	const uint8_t *key;
	size_t len;
	int r;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return -EAGAIN;
	if (n < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot read input: %s", strerror(-r));
		return r;
	}
	if (n == 0)
		return ATTACH_DETACHED;
	key = memchr(buf, CONSOLE_SOCK_DETACH, (size_t)n);
	len = key ? (size_t)(key - buf) : (size_t)n;
	r = console_attach_write_all(sock, buf, len, true);
	if (r == -EPIPE || r == -ECONNRESET)
		return ATTACH_CLOSED;
	if (r < 0) {
		snprintf(err, errlen, "console socket: %s", strerror(-r));
		return r;
	}
	return key ? ATTACH_DETACHED : -EAGAIN;
}

/* Relay both ways until one side ends: ATTACH_DETACHED, ATTACH_CLOSED, or
 * -errno. The VM's output is handled first, so what it printed before
 * closing is shown. */
static int console_attach_relay(int sock, int in_fd, int out_fd, char *err, size_t errlen)
{
	struct term_filter tf;
	bool tty = isatty(out_fd);

	term_filter_init(&tf);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = sock, .events = POLLIN },
			{ .fd = in_fd, .events = POLLIN },
		};
		int r;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			snprintf(err, errlen, "poll: %s", strerror(-r));
			return r;
		}
		if (p[0].revents) {
			r = console_attach_output(sock, out_fd, tty ? &tf : NULL, err, errlen);
			if (r != -EAGAIN)
				return r;
		}
		if (p[1].revents) {
			r = console_attach_input(sock, in_fd, err, errlen);
			if (r != -EAGAIN)
				return r;
		}
	}
}

int console_sock_attach(const char *path, int in_fd, int out_fd, char *err, size_t errlen)
{
	struct termios saved, raw;
	bool restore = false, tty = isatty(in_fd);
	char namebuf[256];
	const char *name = console_attach_name(path, namebuf, sizeof(namebuf));
	int sock, r;

	sock = unix_sock_connect(path, err, errlen);
	if (sock < 0)
		return sock;
	if (tty && tcgetattr(in_fd, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		raw.c_oflag |= OPOST | ONLCR;  /* our own notes still end lines right */
		restore = tcsetattr(in_fd, TCSANOW, &raw) == 0;
	}
	if (tty)
		fprintf(stderr, "[attached to %s's console; Ctrl-] detaches]\r\n", name);
	r = console_attach_relay(sock, in_fd, out_fd, err, errlen);
	if (restore)
		tcsetattr(in_fd, TCSANOW, &saved);
	close(sock);
	if (r == ATTACH_DETACHED)
		fprintf(stderr, "%s[detached from %s's console]\n", tty ? "\r\n" : "", name);
	else if (r == ATTACH_CLOSED)
		fprintf(stderr, "%s[%s's console closed: the VM ended]\n", tty ? "\r\n" : "", name);
	return r < 0 ? r : 0;
}
