#include "machine/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/thread.h"

enum console_action console_escape_filter(struct console_escape *st, const uint8_t *in,
					  size_t n, uint8_t *out, size_t *out_n)
{
	enum console_action act = CONSOLE_NONE;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t ch = in[i];

		if (st->pending) {
			st->pending = false;
			if (ch == 'x' || ch == 'X') {
				*out_n = o;
				return CONSOLE_QUIT;
			}
			if (ch == 'p' || ch == 'P') {
				act = CONSOLE_POWER_BUTTON;
				continue;
			}
			if (ch == CONSOLE_ESCAPE) {
				out[o++] = CONSOLE_ESCAPE;
				continue;
			}
			/* Not a command: drop the escape, pass the byte on. */
			out[o++] = ch;
			continue;
		}
		if (ch == CONSOLE_ESCAPE) {
			st->pending = true;
			continue;
		}
		out[o++] = ch;
	}
	*out_n = o;
	return act;
}

/* The terminal to put back if nestvm exits without console_stop(). */
static struct termios console_saved_termios;
static int console_saved_fd = -1;

static void console_restore_atexit(void)
{
	if (console_saved_fd >= 0)
		tcsetattr(console_saved_fd, TCSANOW, &console_saved_termios);
}

static void console_set_raw(struct console *c)
{
	struct termios t;
	static bool atexit_done;

	if (tcgetattr(c->in_fd, &c->saved) < 0)
		return;
	t = c->saved;
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR;  /* keep "\n" -> "\r\n" for our own messages */
	if (tcsetattr(c->in_fd, TCSANOW, &t) < 0)
		return;
	c->raw = true;
	console_saved_termios = c->saved;
	console_saved_fd = c->in_fd;
	if (!atexit_done) {
		atexit(console_restore_atexit);
		atexit_done = true;
	}
}

/* Hand bytes to the UART, waiting while its queue is full. */
static bool console_feed(struct console *c, const uint8_t *buf, size_t n)
{
	while (n > 0) {
		size_t done = serial_rx_push(c->serial, buf, n);
		buf += done;
		n -= done;
		if (n > 0) {
			struct pollfd p = { .fd = c->wake[0], .events = POLLIN };
			if (poll(&p, 1, 5) > 0)
				return false;  /* asked to stop */
		}
	}
	return true;
}

/* Guards power_fn/power_opaque of every console: set by the owner's thread,
 * read by the input thread (a static lock: console_start zeroes the struct). */
static pthread_mutex_t console_power_lock = PTHREAD_MUTEX_INITIALIZER;

void console_set_power_fn(struct console *c, void (*fn)(void *), void *opaque)
{
	pthread_mutex_lock(&console_power_lock);
	c->power_fn = fn;
	c->power_opaque = opaque;
	pthread_mutex_unlock(&console_power_lock);
}

static void console_power_button(struct console *c)
{
	void (*fn)(void *);
	void *opaque;

	pthread_mutex_lock(&console_power_lock);
	fn = c->power_fn;
	opaque = c->power_opaque;
	pthread_mutex_unlock(&console_power_lock);
	if (!fn) {
		log_warn("Ctrl-A p: this VM has no power button to press");
		return;
	}
	log_info("Ctrl-A p: pressing the power button");
	fn(opaque);
}

static void *console_thread(void *arg)
{
	struct console *c = arg;
	uint8_t in[256], out[256];

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->in_fd, .events = POLLIN },
			{ .fd = c->wake[0], .events = POLLIN },
		};
		enum console_action act;
		ssize_t n;
		size_t out_n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		n = read(c->in_fd, in, sizeof(in));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;  /* end of input: the guest keeps running */
		/* The escape applies to a pipe as well as a tty, so scripts can
		 * press the power button or quit. */
		act = console_escape_filter(&c->esc, in, (size_t)n, out, &out_n);
		if (act == CONSOLE_QUIT) {
			console_feed(c, out, out_n);
			c->stop_fn(c->stop_opaque, VM_STOP_USER_QUIT);
			break;
		}
		if (!console_feed(c, out, out_n))
			break;
		if (act == CONSOLE_POWER_BUTTON)
			console_power_button(c);
	}
	return NULL;
}

static uint64_t console_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Add buf to the output queue. A full queue is waited on, for a slow
 * reader, for CONSOLE_OUT_WAIT_MS; a reader that did not make room in that
 * time counts as stalled: its output is dropped (and counted) without
 * waiting until it has read the queue down to half. */
static void console_queue(struct console *c, const uint8_t *buf, size_t len)
{
	size_t room, n, tail, first;

	pthread_mutex_lock(&c->out_lock);
	if (c->out_len + len > CONSOLE_OUT_RING && !c->out_stalled && !c->out_gone) {
		struct timespec until = vmm_deadline_ms(CONSOLE_OUT_WAIT_MS);

		while (c->out_len + len > CONSOLE_OUT_RING && !c->out_gone && !c->out_stop)
			if (pthread_cond_timedwait(&c->out_room, &c->out_lock, &until) == ETIMEDOUT) {
				c->out_stalled = true;
				break;
			}
	}
	if (c->out_gone) {
		c->out_dropped += len;
		pthread_mutex_unlock(&c->out_lock);
		return;
	}
	room = CONSOLE_OUT_RING - c->out_len;
	n = len < room ? len : room;
	c->out_dropped += len - n;
	tail = (c->out_head + c->out_len) % CONSOLE_OUT_RING;
	first = n < CONSOLE_OUT_RING - tail ? n : CONSOLE_OUT_RING - tail;
	memcpy(c->out_ring + tail, buf, first);
	memcpy(c->out_ring, buf + first, n - first);
	c->out_len += n;
	pthread_cond_signal(&c->out_cond);
	pthread_mutex_unlock(&c->out_lock);
}

/* The output thread: queue -> out_fd, a page at a time once out_fd is
 * writable (poll with a timeout, so it never sleeps in write() on a reader
 * that stopped, and console_stop can end it). */
static void *console_out_thread(void *arg)
{
	struct console *c = arg;
	uint8_t buf[4096];
	uint64_t deadline = 0;

	pthread_mutex_lock(&c->out_lock);
	for (;;) {
		struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };
		size_t n;
		ssize_t w;
		int pr;

		while (!c->out_len && !c->out_stop)
			pthread_cond_wait(&c->out_cond, &c->out_lock);
		if (c->out_stop) {
			if (!deadline)
				deadline = console_now_ms() + CONSOLE_OUT_DRAIN_MS;
			if (!c->out_len || console_now_ms() >= deadline)
				break;
		}
		n = c->out_len < sizeof(buf) ? c->out_len : sizeof(buf);
		if (n > CONSOLE_OUT_RING - c->out_head)
			n = CONSOLE_OUT_RING - c->out_head;
		memcpy(buf, c->out_ring + c->out_head, n);
		pthread_mutex_unlock(&c->out_lock);
		pr = poll(&p, 1, 100);
		w = 0;
		if (pr > 0 && (p.revents & POLLOUT)) {
			w = write(c->out_fd, buf, n);
			if (w < 0 && (errno == EINTR || errno == EAGAIN))
				w = 0;
		} else if (pr > 0) {
			w = -1;   /* POLLERR, POLLHUP: the reader is gone */
		}
		pthread_mutex_lock(&c->out_lock);
		if (w < 0) {
			c->out_gone = true;
			pthread_cond_broadcast(&c->out_room);
			c->out_dropped += c->out_len;
			c->out_len = 0;
			continue;
		}
		c->out_head = (c->out_head + (size_t)w) % CONSOLE_OUT_RING;
		c->out_len -= (size_t)w;
		if (c->out_stalled && c->out_len <= CONSOLE_OUT_RING / 2)
			c->out_stalled = false;
		if (w > 0)
			pthread_cond_broadcast(&c->out_room);
	}
	c->out_dropped += c->out_len;
	c->out_len = 0;
	pthread_mutex_unlock(&c->out_lock);
	return NULL;
}

static int console_out_start(struct console *c)
{
	int r;

	c->out_ring = malloc(CONSOLE_OUT_RING);
	if (!c->out_ring)
		return -ENOMEM;
	pthread_condattr_t ca;

	pthread_mutex_init(&c->out_lock, NULL);
	pthread_cond_init(&c->out_cond, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->out_room, &ca);
	pthread_condattr_destroy(&ca);
	r = vmm_thread_create(&c->out_thread, console_out_thread, c);
	if (r) {
		pthread_cond_destroy(&c->out_room);
		pthread_cond_destroy(&c->out_cond);
		pthread_mutex_destroy(&c->out_lock);
		free(c->out_ring);
		c->out_ring = NULL;
		return -r;
	}
	c->out_started = true;
	return 0;
}

static void console_out_stop(struct console *c)
{
	if (!c->out_started)
		return;
	pthread_mutex_lock(&c->out_lock);
	c->out_stop = true;
	pthread_cond_signal(&c->out_cond);
	pthread_cond_broadcast(&c->out_room);
	pthread_mutex_unlock(&c->out_lock);
	pthread_join(c->out_thread, NULL);
	c->out_started = false;
	pthread_cond_destroy(&c->out_room);
	pthread_cond_destroy(&c->out_cond);
	pthread_mutex_destroy(&c->out_lock);
	free(c->out_ring);
	c->out_ring = NULL;
	if (c->out_dropped)
		log_warn("%llu bytes of guest console output were dropped: its reader stopped "
			 "reading", (unsigned long long)c->out_dropped);
}

int console_start(struct console *c, int in_fd, int out_fd, struct serial8250 *serial,
		  vm_stop_fn stop_fn, void *stop_opaque)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->serial = serial;
	c->stop_fn = stop_fn;
	c->stop_opaque = stop_opaque;
	c->is_tty = isatty(in_fd);
	c->out_tty = isatty(out_fd);
	term_filter_init(&c->out_filter);
	if (pipe2(c->wake, O_CLOEXEC) < 0)
		return -errno;
	if (c->is_tty)
		console_set_raw(c);
	r = console_out_start(c);
	if (r) {
		console_stop(c);
		return r;
	}
	r = vmm_thread_create(&c->thread, console_thread, c);
	if (r) {
		console_stop(c);
		return -r;
	}
	c->started = true;
	return 0;
}

void console_stop(struct console *c)
{
	if (c->started) {
		if (write(c->wake[1], "x", 1) < 0)
			log_debug("console wake: %s", strerror(errno));
		pthread_join(c->thread, NULL);
		c->started = false;
	}
	console_out_stop(c);
	if (c->raw) {
		tcsetattr(c->in_fd, TCSANOW, &c->saved);
		c->raw = false;
		console_saved_fd = -1;
	}
	if (c->wake[0] > 0) {
		close(c->wake[0]);
		close(c->wake[1]);
		c->wake[0] = c->wake[1] = -1;
	}
}

/* Write all of buf to fd; gives up when the output is gone. */
static void console_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;  /* output gone (closed pipe): the guest keeps running */
		buf += n;
		len -= (size_t)n;
	}
}

static void console_put_direct(struct console *c, const uint8_t *buf, size_t len)
{
	console_write_all(c->out_fd, buf, len);
}

void console_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;
	uint8_t shown[256 + TERM_FILTER_HOLD];

	void (*put)(struct console *, const uint8_t *, size_t) =
		c->out_started ? console_queue : console_put_direct;

	if (!c->out_tty) {
		put(c, buf, len);
		return;
	}
	while (len > 0) {
		size_t chunk = len < 256 ? len : 256;

		put(c, shown, term_filter_run(&c->out_filter, buf, chunk, shown));
		buf += chunk;
		len -= chunk;
	}
}
