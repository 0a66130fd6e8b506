/* The terminal side of the guest's serial console: output to stdout, input
 * from stdin on a thread of its own, raw mode and the escape key on a tty. */
#ifndef NESTVM_VMM_CONSOLE_H
#define NESTVM_VMM_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "hw/hw.h"
#include "hw/serial.h"

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A, then 'x' quits, Ctrl-A sends one Ctrl-A */

enum console_action { CONSOLE_NONE = 0, CONSOLE_QUIT };

/* Escape-key state machine (pure). */
struct console_escape {
	bool pending;
};

/* Filter `n` input bytes into out (room for n bytes), returning how many go
 * to the guest in *out_n. Stops at a quit request and returns CONSOLE_QUIT. */
enum console_action console_escape_filter(struct console_escape *st, const uint8_t *in,
					  size_t n, uint8_t *out, size_t *out_n);

struct console {
	int in_fd;
	int out_fd;
	bool is_tty;
	bool raw;
	struct termios saved;
	int wake[2];           /* pipe to stop the input thread */
	pthread_t thread;
	bool started;
	struct console_escape esc;
	struct serial8250 *serial;
	vm_stop_fn stop_fn;
	void *stop_opaque;
};

/* Set up (raw mode when in_fd is a terminal) and start the input thread. */
int console_start(struct console *c, int in_fd, int out_fd, struct serial8250 *serial,
		  vm_stop_fn stop_fn, void *stop_opaque);
/* Stop the input thread and restore the terminal. */
void console_stop(struct console *c);

/* serial_out_fn: write guest output to the console's out_fd. */
void console_write(void *opaque, const uint8_t *buf, size_t len);

#endif
