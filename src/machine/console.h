/* The terminal side of the guest's serial console: output to stdout, input
 * from stdin on a thread of its own, raw mode on a tty, and the escape key
 * on any input (a tty or a pipe: `printf '\001p' | nestvm run ...` presses
 * the power button). */
#ifndef NESTVM_MACHINE_CONSOLE_H
#define NESTVM_MACHINE_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "hw/hw.h"
#include "hw/serial.h"
#include "vmm/term_filter.h"

/* Ctrl-A, then: 'x' quits, 'p' presses the ACPI power button, Ctrl-A sends
 * one Ctrl-A; any other byte goes to the guest (the Ctrl-A is dropped). */
#define CONSOLE_ESCAPE 0x01

enum console_action { CONSOLE_NONE = 0, CONSOLE_QUIT, CONSOLE_POWER_BUTTON };

#define CONSOLE_OUT_RING     (256 * 1024)  /* guest output waiting for its reader */
#define CONSOLE_OUT_DRAIN_MS 1000          /* how long console_stop lets it drain */
#define CONSOLE_OUT_WAIT_MS  100           /* a full queue waited on before dropping */

/* Escape-key state machine (pure). */
struct console_escape {
	bool pending;
};

/* Filter `n` input bytes into out (room for n bytes), returning how many go
 * to the guest in *out_n. Stops at a quit request and returns CONSOLE_QUIT
 * (*out_n: the bytes before it). Otherwise filters everything and returns
 * CONSOLE_POWER_BUTTON when the bytes held at least one Ctrl-A p (several in
 * one call are one press: the guest sees a status bit, not a count), else
 * CONSOLE_NONE. */
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
	bool out_tty;          /* out_fd is a terminal: guest output passes out_filter */
	struct term_filter out_filter;  /* under the UART's lock (console_write's caller) */
	/* Guest output is queued here by console_write (a vCPU thread, holding
	 * the UART's lock) and written to out_fd by the output thread, so a
	 * reader that stops reading never blocks a vCPU for long: a full queue
	 * is waited on for CONSOLE_OUT_WAIT_MS, then the reader counts as
	 * stalled and output is dropped and counted until it has read half. */
	pthread_mutex_t out_lock;
	pthread_cond_t out_cond;   /* the output thread waits for output */
	pthread_cond_t out_room;   /* console_write waits for room (CLOCK_MONOTONIC) */
	bool out_stalled;
	uint8_t *out_ring;     /* CONSOLE_OUT_RING bytes */
	size_t out_head, out_len;
	uint64_t out_dropped;  /* bytes dropped: queue full, or the output gone */
	bool out_stop;         /* console_stop: drain for CONSOLE_OUT_DRAIN_MS, then end */
	bool out_gone;         /* out_fd failed (a closed pipe): output is discarded */
	pthread_t out_thread;
	bool out_started;
	struct serial8250 *serial;
	vm_stop_fn stop_fn;
	void *stop_opaque;
	void (*power_fn)(void *);  /* Ctrl-A p (console_set_power_fn); NULL: none */
	void *power_opaque;
};

/* What Ctrl-A p does: fn(opaque) on the console's input thread (e.g.
 * platform_power_button_fn with the struct platform). Call after
 * console_start (which clears it), from any thread; fn NULL, or never set:
 * Ctrl-A p only logs a warning. */
void console_set_power_fn(struct console *c, void (*fn)(void *), void *opaque);

/* Set up (raw mode when in_fd is a terminal) and start the input thread. */
int console_start(struct console *c, int in_fd, int out_fd, struct serial8250 *serial,
		  vm_stop_fn stop_fn, void *stop_opaque);
/* Stop the input thread, let queued output drain (CONSOLE_OUT_DRAIN_MS at
 * most: a reader that stopped reading does not hold up the VM's end), stop
 * the output thread and restore the terminal. out_dropped stays readable. */
void console_stop(struct console *c);

/* serial_out_fn: queue guest output for the console's out_fd (written there
 * directly before console_start); to a terminal through the terminal filter
 * (vmm/term_filter.h), so the guest cannot drive the operator's terminal.
 * Never blocks on the reader. */
void console_write(void *opaque, const uint8_t *buf, size_t len);

#endif
