#include "machine/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
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
	if (pipe2(c->wake, O_CLOEXEC) < 0)
		return -errno;
	if (c->is_tty)
		console_set_raw(c);
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

void console_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;

	while (len > 0) {
		ssize_t n = write(c->out_fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;  /* output gone (closed pipe): the guest keeps running */
		buf += n;
		len -= (size_t)n;
	}
}
