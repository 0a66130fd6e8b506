/* Unit tests for the 8250/16550A UART model (src/hw/serial.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hw/serial.h"

/* Register offsets and bits, spelled out here independently of the model. */
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define IIR_NONE 0x01
#define IIR_THRE 0x02
#define IIR_RDA  0x04
#define IIR_RLS  0x06

struct ctx {
	struct serial8250 s;
	uint8_t out[256];
	size_t out_len;
	int out_calls;
	int irq_calls;
	int level;
	unsigned int irq;
};

static void on_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct ctx *c = opaque;

	c->out_calls++;
	for (size_t i = 0; i < len && c->out_len < sizeof(c->out); i++)
		c->out[c->out_len++] = buf[i];
}

static void on_irq(void *opaque, unsigned int irq, int level)
{
	struct ctx *c = opaque;

	c->irq_calls++;
	c->irq = irq;
	c->level = level;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	serial_init(&c->s, SERIAL_COM1_IRQ, on_irq, c, on_out, c);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	serial_destroy(&c->s);
	free(c);
	return 0;
}

static void wr(struct ctx *c, uint64_t off, uint8_t val)
{
	serial_io(&c->s, off, &val, 1, true);
}

static uint8_t rd(struct ctx *c, uint64_t off)
{
	uint8_t v = 0x5a;

	serial_io(&c->s, off, &v, 1, false);
	return v;
}

static void test_tx_reaches_out_fn(void **state)
{
	struct ctx *c = *state;

	wr(c, THR, 'h');
	wr(c, THR, 'i');
	wr(c, THR, '\n');
	assert_int_equal(c->out_len, 3);
	assert_int_equal(c->out_calls, 3);
	assert_memory_equal(c->out, "hi\n", 3);
	/* transmit is instant: THRE and TEMT always set */
	assert_int_equal(rd(c, LSR) & 0x60, 0x60);
	/* IER bit1 never set and OUT2 off: no interrupt activity */
	assert_int_equal(c->irq_calls, 0);
}

static void test_dlab_switching(void **state)
{
	struct ctx *c = *state;

	wr(c, IER, 0x05);
	wr(c, LCR, 0x83); /* DLAB, 8N1 */
	wr(c, DLL, 0x01);
	wr(c, DLM, 0x02);
	assert_int_equal(c->out_len, 0); /* DLL write is not a transmit */
	assert_int_equal(rd(c, DLL), 0x01);
	assert_int_equal(rd(c, DLM), 0x02);
	assert_int_equal(rd(c, LCR), 0x83);

	wr(c, LCR, 0x03);
	assert_int_equal(rd(c, IER), 0x05); /* IER untouched by the DLM write */
	wr(c, THR, 'x');
	assert_int_equal(c->out_len, 1);
	assert_int_equal(c->out[0], 'x');

	wr(c, LCR, 0x80);
	assert_int_equal(rd(c, DLL), 0x01); /* divisor kept */
	assert_int_equal(rd(c, DLM), 0x02);
}

static void test_scratch(void **state)
{
	struct ctx *c = *state;

	wr(c, SCR, 0xa5);
	assert_int_equal(rd(c, SCR), 0xa5);
	wr(c, SCR, 0x5a);
	assert_int_equal(rd(c, SCR), 0x5a);
	wr(c, LCR, 0x80); /* DLAB does not affect the scratch register */
	assert_int_equal(rd(c, SCR), 0x5a);
}

static void test_lsr_and_msr_idle(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(rd(c, MSR), 0xb0); /* DCD | DSR | CTS */
	assert_int_equal(rd(c, IIR), IIR_NONE);
	/* LSR and MSR are read-only */
	wr(c, LSR, 0xff);
	wr(c, MSR, 0x00);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(rd(c, MSR), 0xb0);
}

/* Linux 8250 autoconfig() and autoconfig_16550a(), in order. */
static void test_linux_probe_16550a(void **state)
{
	struct ctx *c = *state;
	uint8_t scratch, scratch2, scratch3, save_mcr, save_lcr, status1, iersave;

	/* IER test */
	scratch = rd(c, IER);
	wr(c, IER, 0);
	scratch2 = rd(c, IER) & 0x0f;
	wr(c, IER, 0x0f);
	scratch3 = rd(c, IER) & 0x0f;
	wr(c, IER, scratch);
	assert_int_equal(scratch2, 0);
	assert_int_equal(scratch3, 0x0f);

	/* loopback test */
	save_mcr = rd(c, MCR);
	save_lcr = rd(c, LCR);
	wr(c, MCR, 0x10 | 0x0a);
	status1 = rd(c, MSR) & 0xf0;
	wr(c, MCR, save_mcr);
	assert_int_equal(status1, 0x90); /* DCD | CTS */

	/* FIFO type */
	wr(c, LCR, 0xbf);
	wr(c, 2, 0);      /* EFR (is FCR here) */
	wr(c, LCR, 0);
	wr(c, FCR, 0x01);
	assert_int_equal(rd(c, IIR) >> 6, 3);
	wr(c, FCR, 0xe7); /* older kernels' probe value */
	assert_int_equal(rd(c, IIR) & 0xc0, 0xc0);

	/* autoconfig_16550a: no EFR under either LCR conf mode */
	wr(c, LCR, 0x80);
	assert_int_not_equal(rd(c, 2), 0);
	wr(c, LCR, 0xbf);
	assert_int_not_equal(rd(c, 2), 0);
	/* NS SuperIO test: bank-2 EXCR1 must not follow MCR LOOP */
	wr(c, LCR, 0);
	status1 = rd(c, MCR);
	wr(c, LCR, 0xe0);
	assert_int_equal((rd(c, 2) ^ status1) & 0x10, 0);
	wr(c, LCR, 0);
	wr(c, MCR, status1 ^ 0x10);
	wr(c, LCR, 0xe0);
	scratch = rd(c, 2);
	wr(c, LCR, 0);
	wr(c, MCR, status1);
	assert_int_equal((scratch ^ status1) & 0x10, 0);
	/* IER UUE bit (XScale) must not stick */
	iersave = rd(c, IER);
	wr(c, IER, iersave | 0x40);
	assert_int_equal(rd(c, IER) & 0x40, 0);
	wr(c, IER, iersave);

	wr(c, LCR, save_lcr);
	/* startup: clear FIFOs, LSR must not be 0xff */
	wr(c, FCR, 0x01);
	wr(c, FCR, 0x07);
	wr(c, FCR, 0);
	(void)rd(c, LSR);
	(void)rd(c, RBR);
	(void)rd(c, IIR);
	(void)rd(c, MSR);
	assert_int_not_equal(rd(c, LSR), 0xff);
	assert_int_equal(rd(c, IIR) & 0xc0, 0); /* FIFO disabled again */
	assert_int_equal(c->out_len, 0); /* nothing transmitted during probe */
}

static void test_fifo_bits_in_iir(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rd(c, IIR), 0x01);
	wr(c, FCR, 0x01);
	assert_int_equal(rd(c, IIR), 0xc1);
	wr(c, IER, 0x02);
	assert_int_equal(rd(c, IIR), 0xc2);
	assert_int_equal(rd(c, IIR), 0xc1);
	wr(c, FCR, 0x00);
	assert_int_equal(rd(c, IIR), 0x01);
}

/* Linux serial8250_do_startup()'s THRE re-assertion test must not flag a bug. */
static void test_linux_thre_test(void **state)
{
	struct ctx *c = *state;
	uint8_t iir1, iir;

	wr(c, LCR, 0x03);
	wr(c, IER, 0x02);
	iir1 = rd(c, IIR);
	wr(c, IER, 0);
	wr(c, IER, 0x02);
	iir = rd(c, IIR);
	wr(c, IER, 0);
	assert_int_equal(iir1 & 0x01, 0);
	assert_int_equal(iir & 0x01, 0);
	assert_true(rd(c, LSR) & 0x40);
}

static void test_thre_lifecycle(void **state)
{
	struct ctx *c = *state;

	wr(c, IER, 0x02);                       /* 0 -> 1: pending */
	assert_int_equal(rd(c, IIR), IIR_THRE);
	assert_int_equal(rd(c, IIR), IIR_NONE); /* the read cleared it */
	wr(c, IER, 0x02);                       /* no transition: not re-armed */
	assert_int_equal(rd(c, IIR), IIR_NONE);
	wr(c, THR, 'a');                        /* sent at once: THR empty again */
	assert_int_equal(rd(c, IIR), IIR_THRE);
	assert_int_equal(rd(c, IIR), IIR_NONE);
	wr(c, THR, 'b');
	wr(c, IER, 0);                          /* masked, not reported */
	assert_int_equal(rd(c, IIR), IIR_NONE);
	wr(c, IER, 0x02);                       /* 0 -> 1 re-arms */
	assert_int_equal(rd(c, IIR), IIR_THRE);
	assert_int_equal(c->out_len, 2);
}

static void test_iir_priorities(void **state)
{
	struct ctx *c = *state;
	uint8_t byte = 'q';
	uint8_t big[SERIAL_RX_BUF];

	wr(c, IER, 0x07);
	assert_int_equal(rd(c, IER), 0x07);
	/* THRE pending; data arrives: RDA outranks THRE */
	assert_int_equal(serial_rx_push(&c->s, &byte, 1), 1);
	assert_int_equal(rd(c, IIR), IIR_RDA);
	/* a full queue from the host is flow control, not an overrun */
	memset(big, 'z', sizeof(big));
	assert_int_equal(serial_rx_push(&c->s, big, sizeof(big)), SERIAL_RX_BUF - 1);
	assert_int_equal(rd(c, IIR), IIR_RDA);
	/* a loopback byte into the full queue is lost: line status outranks RDA */
	wr(c, MCR, 0x10);
	wr(c, THR, 'L');
	wr(c, MCR, 0x00);
	assert_int_equal(rd(c, IIR), IIR_RLS);
	assert_int_equal(rd(c, LSR) & 0x03, 0x03); /* OE | DR; read clears OE */
	assert_int_equal(rd(c, IIR), IIR_RDA);
	/* drain the queue: THRE, still pending underneath, shows up */
	assert_int_equal(rd(c, RBR), 'q');
	for (size_t i = 1; i < SERIAL_RX_BUF; i++)
		assert_int_equal(rd(c, RBR), 'z');
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(rd(c, IIR), IIR_THRE);
	assert_int_equal(rd(c, IIR), IIR_NONE);
}

/* Quiesced (the quiesce point), the UART takes no host input and its
 * state does not move; resumed, it takes it again. */
static void test_quiesce_holds_input(void **state)
{
	struct ctx *c = *state;
	uint8_t in[3] = { 'a', 'b', 'c' };

	wr(c, IER, 0x01);
	serial_quiesce(&c->s);
	assert_int_equal(serial_rx_push(&c->s, in, sizeof(in)), 0);
	assert_int_equal(rd(c, LSR) & 0x01, 0);        /* no data ready */
	assert_int_equal(rd(c, IIR), IIR_NONE);
	serial_resume(&c->s);
	assert_int_equal(serial_rx_push(&c->s, in, sizeof(in)), 3);
	assert_int_equal(rd(c, IIR), IIR_RDA);
	assert_int_equal(rd(c, RBR), 'a');
}

static void test_rls_needs_ier_bit2(void **state)
{
	struct ctx *c = *state;
	uint8_t big[SERIAL_RX_BUF + 1];

	memset(big, 1, sizeof(big));
	wr(c, IER, 0x01);
	assert_int_equal(serial_rx_push(&c->s, big, sizeof(big)), SERIAL_RX_BUF);
	wr(c, MCR, 0x10);
	wr(c, THR, 2);                         /* lost: OE */
	wr(c, MCR, 0x00);
	assert_int_equal(rd(c, IIR), IIR_RDA); /* OE set, but RLS not enabled */
	wr(c, IER, 0x05);
	assert_int_equal(rd(c, IIR), IIR_RLS);
}

static void test_irq_line_levels(void **state)
{
	struct ctx *c = *state;
	uint8_t byte = 'k';

	/* OUT2 clear: sources pending, but the line stays low */
	wr(c, IER, 0x03);
	assert_int_equal(rd(c, IIR), IIR_THRE);
	wr(c, THR, '.');
	assert_int_equal(c->irq_calls, 0);

	wr(c, MCR, 0x08); /* OUT2: THRE still pending -> line up */
	assert_int_equal(c->irq_calls, 1);
	assert_int_equal(c->level, 1);
	assert_int_equal(c->irq, SERIAL_COM1_IRQ);
	wr(c, SCR, 1);    /* unrelated access: no call */
	(void)rd(c, LSR);
	assert_int_equal(c->irq_calls, 1);

	assert_int_equal(rd(c, IIR), IIR_THRE); /* clears: line down */
	assert_int_equal(c->irq_calls, 2);
	assert_int_equal(c->level, 0);
	(void)rd(c, IIR);
	assert_int_equal(c->irq_calls, 2);

	serial_rx_push(&c->s, &byte, 1);        /* RDA: up */
	assert_int_equal(c->irq_calls, 3);
	assert_int_equal(c->level, 1);
	wr(c, THR, '!');                        /* THRE too: still up, no call */
	assert_int_equal(c->irq_calls, 3);
	assert_int_equal(rd(c, RBR), 'k');      /* THRE remains: still up */
	assert_int_equal(c->irq_calls, 3);
	assert_int_equal(rd(c, IIR), IIR_THRE); /* nothing left: down */
	assert_int_equal(c->irq_calls, 4);
	assert_int_equal(c->level, 0);

	wr(c, THR, '?');                        /* up again */
	assert_int_equal(c->irq_calls, 5);
	assert_int_equal(c->level, 1);
	wr(c, MCR, 0x00);                       /* OUT2 off: down */
	assert_int_equal(c->irq_calls, 6);
	assert_int_equal(c->level, 0);
	wr(c, IER, 0x00);
	wr(c, MCR, 0x08);                       /* nothing enabled: stays down */
	assert_int_equal(c->irq_calls, 6);
}

static void test_rx_push_and_drain(void **state)
{
	struct ctx *c = *state;

	wr(c, MCR, 0x0b); /* DTR | RTS | OUT2, as Linux sets it */
	wr(c, IER, 0x01);
	assert_int_equal(c->irq_calls, 0);
	assert_int_equal(serial_rx_push(&c->s, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(serial_rx_space(&c->s), SERIAL_RX_BUF - 3);
	assert_int_equal(c->irq_calls, 1);
	assert_int_equal(c->level, 1);
	assert_int_equal(rd(c, LSR), 0x61);
	assert_int_equal(rd(c, IIR), IIR_RDA);
	assert_int_equal(rd(c, RBR), 'a');
	assert_int_equal(rd(c, RBR), 'b');
	assert_int_equal(c->irq_calls, 1);
	assert_int_equal(rd(c, RBR), 'c');
	assert_int_equal(c->irq_calls, 2);
	assert_int_equal(c->level, 0);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(rd(c, IIR), IIR_NONE);
	assert_int_equal(serial_rx_space(&c->s), SERIAL_RX_BUF);
	/* reading an empty RBR is harmless */
	(void)rd(c, RBR);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(c->irq_calls, 2);
	assert_int_equal(serial_rx_push(&c->s, NULL, 0), 0);
	assert_int_equal(c->irq_calls, 2);
}

static void test_rx_full_and_wrap(void **state)
{
	struct ctx *c = *state;
	static uint8_t buf[SERIAL_RX_BUF + 100];
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	/* half, then drain some so the ring wraps */
	assert_int_equal(serial_rx_push(&c->s, buf, 100), 100);
	for (i = 0; i < 60; i++)
		assert_int_equal(rd(c, RBR), buf[i]);
	assert_int_equal(rd(c, LSR) & 0x02, 0);
	/* fill past the end: exactly the space is accepted; the caller keeps
	 * the rest (flow control), so no overrun is reported */
	assert_int_equal(serial_rx_space(&c->s), SERIAL_RX_BUF - 40);
	assert_int_equal(serial_rx_push(&c->s, buf + 100, SERIAL_RX_BUF),
			 SERIAL_RX_BUF - 40);
	assert_int_equal(serial_rx_space(&c->s), 0);
	assert_int_equal(rd(c, LSR), 0x61);
	assert_int_equal(serial_rx_push(&c->s, buf, 1), 0);
	assert_int_equal(rd(c, LSR), 0x61);
	/* a byte that is really lost (loopback into the full queue) is an overrun */
	wr(c, MCR, 0x10);
	wr(c, THR, 0xee);
	wr(c, MCR, 0x00);
	assert_int_equal(rd(c, LSR), 0x63);
	assert_int_equal(rd(c, LSR), 0x61); /* OE is cleared by the read */
	/* order survives the wrap */
	for (i = 60; i < SERIAL_RX_BUF + 60; i++)
		assert_int_equal(rd(c, RBR), buf[i]);
	assert_int_equal(rd(c, LSR), 0x60);
}

static void test_fcr_clears_rx(void **state)
{
	struct ctx *c = *state;

	wr(c, IER, 0x01);
	wr(c, MCR, 0x08);
	serial_rx_push(&c->s, (const uint8_t *)"xyz", 3);
	assert_int_equal(c->level, 1);
	wr(c, FCR, 0x01); /* enabling the FIFO alone keeps the data */
	assert_int_equal(rd(c, LSR) & 0x01, 1);
	wr(c, FCR, 0x03);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(serial_rx_space(&c->s), SERIAL_RX_BUF);
	assert_int_equal(rd(c, IIR), 0xc1);
	assert_int_equal(c->level, 0);
	assert_int_equal(c->irq_calls, 2);
}

static void test_loopback(void **state)
{
	struct ctx *c = *state;

	wr(c, MCR, 0x10);
	assert_int_equal(rd(c, MSR) & 0xf0, 0x00);
	wr(c, THR, 0x42);
	assert_int_equal(c->out_len, 0);     /* not on the wire */
	assert_int_equal(rd(c, LSR), 0x61);
	assert_int_equal(rd(c, RBR), 0x42);
	assert_int_equal(rd(c, LSR), 0x60);

	wr(c, MCR, 0x10 | 0x01);             /* DTR -> DSR */
	assert_int_equal(rd(c, MSR) & 0xf0, 0x20);
	wr(c, MCR, 0x10 | 0x02);             /* RTS -> CTS */
	assert_int_equal(rd(c, MSR) & 0xf0, 0x10);
	wr(c, MCR, 0x10 | 0x04);             /* OUT1 -> RI */
	assert_int_equal(rd(c, MSR) & 0xf0, 0x40);
	wr(c, MCR, 0x10 | 0x08);             /* OUT2 -> DCD */
	assert_int_equal(rd(c, MSR) & 0xf0, 0x80);
	wr(c, MCR, 0x1f);
	assert_int_equal(rd(c, MSR) & 0xf0, 0xf0);

	wr(c, MCR, 0x00);
	assert_int_equal(rd(c, MSR), 0xb0);
	wr(c, THR, 0x43);
	assert_int_equal(c->out_len, 1);
	assert_int_equal(c->out[0], 0x43);
	assert_int_equal(rd(c, LSR), 0x60);
}

static void test_loopback_overrun(void **state)
{
	struct ctx *c = *state;
	static uint8_t fill[SERIAL_RX_BUF];

	memset(fill, 0x11, sizeof(fill));
	assert_int_equal(serial_rx_push(&c->s, fill, sizeof(fill)), SERIAL_RX_BUF);
	assert_int_equal(rd(c, LSR), 0x61);
	wr(c, MCR, 0x10);
	wr(c, THR, 0x99);                    /* no room: dropped, OE */
	assert_int_equal(rd(c, LSR), 0x63);
	for (size_t i = 0; i < SERIAL_RX_BUF; i++)
		assert_int_equal(rd(c, RBR), 0x11);
	assert_int_equal(rd(c, LSR), 0x60);
}

static void test_hostile_offsets_and_lengths(void **state)
{
	struct ctx *c = *state;
	uint8_t d[8];

	/* offsets are masked to 0..7 */
	wr(c, 8 + SCR, 0x77);
	assert_int_equal(rd(c, SCR), 0x77);
	assert_int_equal(rd(c, UINT64_MAX), 0x77); /* & 7 == 7 */
	wr(c, 0x1000 + THR, 'w');
	assert_int_equal(c->out_len, 1);

	/* len 0 does nothing */
	d[0] = 0xee;
	serial_io(&c->s, THR, d, 0, true);
	serial_io(&c->s, SCR, d, 0, false);
	assert_int_equal(c->out_len, 1);
	assert_int_equal(d[0], 0xee);

	/* wide read: the register in the low byte, 0xff above */
	memset(d, 0, sizeof(d));
	serial_io(&c->s, SCR, d, 4, false);
	assert_int_equal(d[0], 0x77);
	assert_int_equal(d[1], 0xff);
	assert_int_equal(d[2], 0xff);
	assert_int_equal(d[3], 0xff);
	serial_io(&c->s, LSR, d, 8, false);
	assert_int_equal(d[0], 0x60);
	for (int i = 1; i < 8; i++)
		assert_int_equal(d[i], 0xff);

	/* wide write: only the low byte, only the addressed register */
	d[0] = 'A';
	d[1] = 0x0f;
	serial_io(&c->s, THR, d, 2, true);
	assert_int_equal(c->out_len, 2);
	assert_int_equal(c->out[1], 'A');
	assert_int_equal(rd(c, IER), 0);
	d[0] = 0x0e;
	d[1] = 0xff;
	d[2] = 0xff;
	d[3] = 0xff;
	serial_io(&c->s, IER, d, 4, true);
	assert_int_equal(rd(c, IER), 0x0e);
	assert_int_equal(rd(c, LCR), 0x00);

	/* junk in reserved register bits */
	wr(c, IER, 0xff);
	assert_int_equal(rd(c, IER), 0x0f);
	wr(c, MCR, 0xff);
	assert_int_equal(rd(c, MCR), 0x1f);
	wr(c, MCR, 0);

	/* every register, every value, both directions: nothing breaks */
	for (unsigned int off = 0; off < 16; off++)
		for (unsigned int v = 0; v < 256; v++) {
			wr(c, off, (uint8_t)v);
			(void)rd(c, off);
		}
	wr(c, LCR, 0x03);
	wr(c, MCR, 0x00);
	assert_int_equal(rd(c, MSR), 0xb0);
}

struct pusher {
	struct serial8250 *s;
	size_t total;
};

static void *push_thread(void *arg)
{
	struct pusher *p = arg;
	size_t sent = 0;

	while (sent < p->total) {
		uint8_t chunk[64];
		size_t n = sizeof(chunk);

		/* like the console: push blindly, keep what was refused */
		if (n > p->total - sent)
			n = p->total - sent;
		for (size_t i = 0; i < n; i++)
			chunk[i] = (uint8_t)(sent + i);
		sent += serial_rx_push(p->s, chunk, n);
	}
	return NULL;
}

static void test_rx_push_from_thread(void **state)
{
	struct ctx *c = *state;
	struct pusher p = { &c->s, 200000 };
	pthread_t t;
	size_t got = 0;

	assert_int_equal(pthread_create(&t, NULL, push_thread, &p), 0);
	while (got < p.total) {
		if (!(rd(c, LSR) & 0x01))
			continue;
		assert_int_equal(rd(c, RBR), (uint8_t)got);
		got++;
	}
	pthread_join(t, NULL);
	/* refused bytes are flow control: nothing lost, no overrun */
	assert_int_equal(rd(c, LSR), 0x60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tx_reaches_out_fn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dlab_switching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lsr_and_msr_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_probe_16550a, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_bits_in_iir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_thre_test, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rls_needs_ier_bit2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_line_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_push_and_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_full_and_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fcr_clears_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_offsets_and_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_push_from_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_holds_input, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
