/* The serial console of a VM that runs in the background (`nestvm start`):
 * guest output is appended to a log file and sent to every client attached
 * to a Unix socket (<state dir>/vms/NAME/console.sock, mode 0600); what a
 * client types goes to the UART. `nestvm console NAME` is the client side
 * (console_sock_attach), with Ctrl-] to detach.
 *
 * Threads: console_sock_write runs on the vCPU thread that wrote the THR
 * (with the UART's lock held) and never blocks on a client: a client that
 * does not read loses output (counted), the log and the others do not. One
 * thread of our own accepts clients and reads their input. */
#ifndef NESTVM_CONTROL_CONSOLE_SOCK_H
#define NESTVM_CONTROL_CONSOLE_SOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "hw/serial.h"
#include "vmm/unix_sock.h"

#define CONSOLE_SOCK_NAME     "console.sock"
#define CONSOLE_SOCK_RING     (16 * 1024)  /* output tail replayed to a new client */
#define CONSOLE_SOCK_CLIENTS  8            /* attached at once */
#define CONSOLE_SOCK_PEND     256          /* a client's input waiting for UART room */
#define CONSOLE_SOCK_DETACH   0x1d         /* Ctrl-], as telnet and virsh have it */

struct console_sock_client {
	int fd;                  /* -1: free slot */
	uint64_t dropped;        /* output bytes it could not take */
	uint8_t pend[CONSOLE_SOCK_PEND];   /* input read, not yet taken by the UART */
	size_t pend_off, pend_len;
};

struct console_sock {
	/* Guards the ring, the log, the clients' fds and counters. Taken
	 * inside the UART's lock (console_sock_write); never held while
	 * calling into the UART. */
	pthread_mutex_t lock;
	int listen_fd;
	int wake_efd;            /* tells the thread to stop */
	pthread_t thread;
	bool started;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct unix_sock_id id;
	int log_fd;              /* not ours: the caller opens and closes it */
	bool log_failed;         /* reported once */
	/* The UART input goes to; replaced between boots (a guest reboot makes
	 * a new one). serial_lock is held while pushing into it, and taken
	 * outside every other lock. */
	pthread_mutex_t serial_lock;
	struct serial8250 *serial;
	uint8_t ring[CONSOLE_SOCK_RING];
	size_t ring_head;        /* where the next byte goes */
	size_t ring_len;
	struct console_sock_client clients[CONSOLE_SOCK_CLIENTS];
	size_t nclients;
	uint64_t dropped;        /* output bytes lost to slow clients, in all */
};

/* Listen on `path` (see unix_sock_listen: a live socket there is
 * -EADDRINUSE, a stale one is replaced, any other file refused) and start
 * the thread. log_fd (-1 for none) gets every byte of output. 0 or -errno
 * with a message in err. */
int console_sock_start(struct console_sock *cs, const char *path, int log_fd,
		       struct serial8250 *serial, char *err, size_t errlen);
/* Stop the thread, disconnect the clients, unlink the socket. After it
 * console_sock_write still appends to the log (a late byte from a vCPU is
 * harmless) until the struct goes away. */
void console_sock_stop(struct console_sock *cs);

/* Point input at another UART (NULL: none; input waits). Returns when no
 * push into the old one is in progress, so the caller may free it. */
void console_sock_set_serial(struct console_sock *cs, struct serial8250 *serial);

/* serial_out_fn: to the log, the ring, and every client, never blocking. */
void console_sock_write(void *opaque, const uint8_t *buf, size_t len);

/* Clients attached now. */
size_t console_sock_clients(struct console_sock *cs);

/* The client side: connect to `path` and relay in_fd to the VM and its
 * output to out_fd until Ctrl-] is read from in_fd (a terminal or not),
 * in_fd ends (everything read before is sent first), or the VM's side
 * closes (the VM ended). A terminal in_fd is in raw mode meanwhile and
 * restored on every way out; a note goes to stderr. 0 on detach or close;
 * -ENOENT / -ECONNREFUSED when no VM listens there; -errno otherwise, with
 * a message in err. */
int console_sock_attach(const char *path, int in_fd, int out_fd, char *err, size_t errlen);

#endif
