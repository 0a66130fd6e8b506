/* The VM side of a background VM's console socket (console_sock.h). */
#include "control/console_sock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/evloop.h"
#include "vmm/log.h"
#include "vmm/thread.h"

#define CONSOLE_SOCK_RETRY_MS 10   /* while the UART's input queue is full */

static const char console_sock_busy_msg[] = "nestvm: too many console clients attached\r\n";

/* ---- output: vCPU thread, UART lock held, cs->lock held ---- */

static void console_sock_log(struct console_sock *cs, const uint8_t *buf, size_t len)
{
	while (cs->log_fd >= 0 && len > 0) {
		ssize_t n = write(cs->log_fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!cs->log_failed)
				log_warn("console log: %s; output not logged from here on",
					 n < 0 ? strerror(errno) : "short write");
			cs->log_failed = true;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void console_sock_ring_add(struct console_sock *cs, const uint8_t *buf, size_t len)
{
	if (len >= CONSOLE_SOCK_RING) {
		buf += len - CONSOLE_SOCK_RING;
		len = CONSOLE_SOCK_RING;
	}
	while (len > 0) {
		size_t n = CONSOLE_SOCK_RING - cs->ring_head;

		if (n > len)
			n = len;
		memcpy(cs->ring + cs->ring_head, buf, n);
		cs->ring_head = (cs->ring_head + n) % CONSOLE_SOCK_RING;
		cs->ring_len = cs->ring_len + n > CONSOLE_SOCK_RING ? CONSOLE_SOCK_RING
								     : cs->ring_len + n;
		buf += n;
		len -= n;
	}
}

/* What the socket does not take now is lost for this client: waiting would
 * stall the guest's vCPU on someone's terminal. A broken client is shut
 * down; the thread sees the hang-up and closes it. */
static void console_sock_send(struct console_sock *cs, struct console_sock_client *cl,
			      const uint8_t *buf, size_t len)
{
	ssize_t n = send(cl->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		shutdown(cl->fd, SHUT_RDWR);
		return;
	}
	if (n < 0)
		n = 0;
	cl->dropped += len - (size_t)n;
	cs->dropped += len - (size_t)n;
}

void console_sock_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct console_sock *cs = opaque;

	pthread_mutex_lock(&cs->lock);
	console_sock_log(cs, buf, len);
	console_sock_ring_add(cs, buf, len);
	for (size_t i = 0; i < CONSOLE_SOCK_CLIENTS; i++)
		if (cs->clients[i].fd >= 0)
			console_sock_send(cs, &cs->clients[i], buf, len);
	pthread_mutex_unlock(&cs->lock);
}

size_t console_sock_clients(struct console_sock *cs)
{
	size_t n;

	pthread_mutex_lock(&cs->lock);
	n = cs->nclients;
	pthread_mutex_unlock(&cs->lock);
	return n;
}

/* ---- the thread: clients come and go, their input goes to the UART ---- */

/* The ring, oldest byte first. Called with cs->lock held, so no output
 * falls between the replay and the client joining the list. */
static void console_sock_replay(struct console_sock *cs, struct console_sock_client *cl)
{
	size_t start = (cs->ring_head + CONSOLE_SOCK_RING - cs->ring_len) % CONSOLE_SOCK_RING;
	size_t first = CONSOLE_SOCK_RING - start;

	if (first > cs->ring_len)
		first = cs->ring_len;
	console_sock_send(cs, cl, cs->ring + start, first);
	if (cs->ring_len > first)
		console_sock_send(cs, cl, cs->ring, cs->ring_len - first);
}

static void console_sock_accept(struct console_sock *cs)
{
	int fd = accept4(cs->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct console_sock_client *cl = NULL;

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("console socket: accept: %s", strerror(errno));
		return;
	}
	pthread_mutex_lock(&cs->lock);
	for (size_t i = 0; i < CONSOLE_SOCK_CLIENTS && !cl; i++)
		if (cs->clients[i].fd < 0)
			cl = &cs->clients[i];
	if (cl) {
		memset(cl, 0, sizeof(*cl));
		cl->fd = fd;
		console_sock_replay(cs, cl);
		cs->nclients++;
	}
	pthread_mutex_unlock(&cs->lock);
	if (!cl) {
		if (send(fd, console_sock_busy_msg, sizeof(console_sock_busy_msg) - 1,
			 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("console socket: %s", strerror(errno));
		close(fd);
		return;
	}
	log_debug("console client attached on fd %d", fd);
}

static void console_sock_drop(struct console_sock *cs, struct console_sock_client *cl)
{
	pthread_mutex_lock(&cs->lock);
	if (cl->dropped)
		log_info("console client detached; it missed %llu bytes of output",
			 (unsigned long long)cl->dropped);
	close(cl->fd);
	cl->fd = -1;
	cl->pend_len = 0;
	cs->nclients--;
	pthread_mutex_unlock(&cs->lock);
}

/* Give the UART what it takes of the client's pending input; true when
 * none is left. */
static bool console_sock_feed(struct console_sock *cs, struct console_sock_client *cl)
{
	size_t n = 0;

	/* serial_lock keeps the UART alive while we push into it; between two
	 * boots there is none and input waits. */
	pthread_mutex_lock(&cs->serial_lock);
	if (cs->serial)
		n = serial_rx_push(cs->serial, cl->pend + cl->pend_off, cl->pend_len);
	pthread_mutex_unlock(&cs->serial_lock);

	cl->pend_off += n;
	cl->pend_len -= n;
	if (cl->pend_len == 0)
		cl->pend_off = 0;
	return cl->pend_len == 0;
}

static void console_sock_read(struct console_sock *cs, struct console_sock_client *cl)
{
	ssize_t n = read(cl->fd, cl->pend, sizeof(cl->pend));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		console_sock_drop(cs, cl);
		return;
	}
	cl->pend_off = 0;
	cl->pend_len = (size_t)n;
	console_sock_feed(cs, cl);
}

/* One pollfd per client. A client whose input the UART has not taken yet
 * is left out (fd -1) until it has: we read no more from it meanwhile,
 * which is the flow control, and its hang-up must not wake us in a loop.
 * Returns the poll timeout. */
static int console_sock_poll_set(struct console_sock *cs, struct pollfd *p)
{
	int timeout = -1;

	for (size_t i = 0; i < CONSOLE_SOCK_CLIENTS; i++) {
		struct console_sock_client *cl = &cs->clients[i];

		p[i] = (struct pollfd){ .fd = -1 };
		if (cl->fd < 0)
			continue;
		if (cl->pend_len && !console_sock_feed(cs, cl)) {
			timeout = CONSOLE_SOCK_RETRY_MS;
			continue;
		}
		p[i].fd = cl->fd;
		p[i].events = POLLIN;
	}
	return timeout;
}

static void *console_sock_thread(void *arg)
{
	struct console_sock *cs = arg;
	struct pollfd p[2 + CONSOLE_SOCK_CLIENTS];

	for (;;) {
		int timeout = console_sock_poll_set(cs, p + 2);

		p[0] = (struct pollfd){ .fd = cs->wake_efd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = cs->listen_fd, .events = POLLIN };
		if (poll(p, 2 + CONSOLE_SOCK_CLIENTS, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("console socket: poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		for (size_t i = 0; i < CONSOLE_SOCK_CLIENTS; i++)
			if (p[2 + i].fd >= 0 && p[2 + i].revents)
				console_sock_read(cs, &cs->clients[i]);
		if (p[1].revents & POLLIN)
			console_sock_accept(cs);
	}
	return NULL;
}

/* ---- start, stop ---- */

void console_sock_set_serial(struct console_sock *cs, struct serial8250 *serial)
{
	pthread_mutex_lock(&cs->serial_lock);
	cs->serial = serial;
	pthread_mutex_unlock(&cs->serial_lock);
}

int console_sock_start(struct console_sock *cs, const char *path, int log_fd,
		       struct serial8250 *serial, char *err, size_t errlen)
{
	int r;

	memset(cs, 0, sizeof(*cs));
	pthread_mutex_init(&cs->lock, NULL);
	pthread_mutex_init(&cs->serial_lock, NULL);
	cs->log_fd = log_fd;
	cs->serial = serial;
	cs->wake_efd = -1;
	for (size_t i = 0; i < CONSOLE_SOCK_CLIENTS; i++)
		cs->clients[i].fd = -1;
	cs->listen_fd = unix_sock_listen(path, &cs->id, err, errlen);
	if (cs->listen_fd < 0)
		return cs->listen_fd;
	/* unix_sock_listen checked that it fits. */
	snprintf(cs->path, sizeof(cs->path), "%s", path);
	cs->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cs->wake_efd < 0) {
		r = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-r));
		goto err;
	}
	r = -vmm_thread_create(&cs->thread, console_sock_thread, cs);
	if (r) {
		snprintf(err, errlen, "cannot start the console thread: %s", strerror(-r));
		goto err;
	}
	cs->started = true;
	return 0;
err:
	console_sock_stop(cs);
	return r;
}

void console_sock_stop(struct console_sock *cs)
{
	if (cs->started) {
		evloop_signal_fd(cs->wake_efd);
		pthread_join(cs->thread, NULL);
		cs->started = false;
	}
	pthread_mutex_lock(&cs->lock);
	for (size_t i = 0; i < CONSOLE_SOCK_CLIENTS; i++) {
		if (cs->clients[i].fd >= 0) {
			close(cs->clients[i].fd);
			cs->clients[i].fd = -1;
		}
	}
	cs->nclients = 0;
	pthread_mutex_unlock(&cs->lock);
	if (cs->dropped)
		log_info("console: %llu bytes of output were dropped for slow clients",
			 (unsigned long long)cs->dropped);
	if (cs->listen_fd >= 0) {
		close(cs->listen_fd);
		cs->listen_fd = -1;
		unix_sock_unlink(cs->path, &cs->id);
	}
	if (cs->wake_efd >= 0) {
		close(cs->wake_efd);
		cs->wake_efd = -1;
	}
}
