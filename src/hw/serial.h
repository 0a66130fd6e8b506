/* An 8250/16550A UART (COM1 by default): the guest's console.
 *
 * The register model is pure state: port accesses in, bytes out through
 * `out`, the interrupt line through `irq`. Host input is queued with
 * serial_rx_push() from any thread. All entry points take the device lock.
 */
#ifndef NESTVM_HW_SERIAL_H
#define NESTVM_HW_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/device.h"
#include "hw/hw.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ  4
#define SERIAL_NR_PORTS  8
#define SERIAL_FIFO_SIZE 16    /* the 16550A's FIFO depth, what the guest sees */
#define SERIAL_RX_BUF    4096  /* host-side input queue behind the FIFO */

/* Write `len` bytes the guest transmitted. Called with the device lock held. */
typedef void (*serial_out_fn)(void *opaque, const uint8_t *buf, size_t len);

/* The guest-visible state: the registers and the receive queue (what the
 * guest has yet to read). Plain data, saved and restored as it is
 * (serial_class, version SERIAL_STATE_VERSION). */
struct serial_state {
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
	uint8_t thr_irq;       /* THRE interrupt pending (cleared by IIR read or THR write) */
	uint8_t pad;
	uint32_t rx_head, rx_count;
	uint8_t rx[SERIAL_RX_BUF]; /* FIFO plus host-side backlog, a ring from rx_head */
};

#define SERIAL_STATE_VERSION 1

struct serial8250 {
	pthread_mutex_t lock;
	struct serial_state st;
	int irq_level;         /* level currently driven on the line (derived from st) */
	unsigned int irq;
	irq_line_fn irq_fn;
	void *irq_opaque;
	serial_out_fn out_fn;
	void *out_opaque;
	bool rx_held;          /* quiesced: serial_rx_push takes nothing (runtime, not guest state) */
	uint64_t tx_bytes;     /* bytes the guest sent (runtime, for `show`) */
};

/* The device class (src/vmm/device.h): dev is a struct serial8250 *. */
struct device_class;
extern const struct device_class serial_class;

void serial_init(struct serial8250 *s, unsigned int irq, irq_line_fn irq_fn, void *irq_opaque,
		 serial_out_fn out_fn, void *out_opaque);
void serial_destroy(struct serial8250 *s);

/* iobus handler: offset from the base port (masked to 0..7), 1-byte
 * accesses. A wider access acts on the register at `offset` with its low
 * byte only; a read fills the higher bytes with 0xff. len 0 does nothing. */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* The registers as the guest sees them, for `nestvm show` (a new object;
 * NULL when out of memory). Any thread. */
struct json_t;
struct json_t *serial_describe_json(struct serial8250 *s);

/* Queue host input for the guest; returns how many bytes were accepted
 * (fewer than len when the queue is full). This is flow control, not an
 * overrun: the caller keeps the rest and retries, and LSR.OE is not set. */
size_t serial_rx_push(struct serial8250 *s, const uint8_t *buf, size_t len);

/* The quiesce point's hooks (device_class quiesce/resume; dev is the
 * struct serial8250): while quiesced, serial_rx_push accepts no byte, so
 * the console threads keep their input (they retry) and the UART's state
 * does not change; the guest side is stopped with the vCPUs. Any thread. */
void serial_quiesce(void *dev);
void serial_resume(void *dev);

/* Free space in the host-side input queue. */
size_t serial_rx_space(struct serial8250 *s);

/* The board's COM1 (0x3f8, IRQ 4; its output to h->console_out). */
extern const struct device_class serial_class;

#endif
