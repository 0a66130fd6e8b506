/* 8250/16550A UART model.
 *
 * Transmit is instant: a THR write goes straight to out_fn (or, in loopback,
 * into the receive queue), so LSR always reports THRE|TEMT and the THRE
 * interrupt is re-armed by every THR write. The receive side is one ring
 * buffer (the guest-visible FIFO plus the host backlog). Host input is
 * flow-controlled: serial_rx_push() accepts what fits and the caller keeps
 * the rest, so it never causes an overrun; LSR.OE is only set when a byte
 * is really lost (a loopback THR write into a full queue). No modem-status
 * changes are ever generated, so the modem-status interrupt never fires.
 *
 * Accesses: offset is masked to 0..7; an access of len > 1 acts on the
 * register at `offset` with the low byte only, and reads fill the higher
 * bytes with 0xff. len 0 does nothing.
 */
#include "hw/serial.h"

#include <jansson.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/device.h"
#include <stdlib.h>

#include "vmm/vm.h"

enum {
	UART_RBR = 0, /* THR, DLL */
	UART_IER = 1, /* DLM */
	UART_IIR = 2, /* FCR */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define UART_IER_RDI   0x01
#define UART_IER_THRI  0x02
#define UART_IER_RLSI  0x04
#define UART_IER_MASK  0x0f

#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_FIFO   0xc0

#define UART_FCR_FE    0x01
#define UART_FCR_RFR   0x02
#define UART_FCR_KEEP  0xc9 /* trigger level, DMA mode, enable */

#define UART_LCR_DLAB  0x80

#define UART_MCR_DTR   0x01
#define UART_MCR_RTS   0x02
#define UART_MCR_OUT1  0x04
#define UART_MCR_OUT2  0x08
#define UART_MCR_LOOP  0x10
#define UART_MCR_MASK  0x1f

#define UART_LSR_DR    0x01
#define UART_LSR_OE    0x02
#define UART_LSR_ERR   0x1e /* OE, PE, FE, BI: the line-status interrupt sources */
#define UART_LSR_THRE  0x20
#define UART_LSR_TEMT  0x40

#define UART_MSR_CTS   0x10
#define UART_MSR_DSR   0x20
#define UART_MSR_RI    0x40
#define UART_MSR_DCD   0x80

static uint8_t serial_compute_iir(const struct serial8250 *s)
{
	if ((s->st.ier & UART_IER_RLSI) && (s->st.lsr & UART_LSR_ERR))
		return UART_IIR_RLSI;
	if ((s->st.ier & UART_IER_RDI) && s->st.rx_count)
		return UART_IIR_RDI;
	if ((s->st.ier & UART_IER_THRI) && s->st.thr_irq)
		return UART_IIR_THRI;
	return UART_IIR_NO_INT;
}

static uint8_t serial_compute_msr(const struct serial8250 *s)
{
	uint8_t msr = 0;

	if (!(s->st.mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	if (s->st.mcr & UART_MCR_OUT2)
		msr |= UART_MSR_DCD;
	if (s->st.mcr & UART_MCR_OUT1)
		msr |= UART_MSR_RI;
	if (s->st.mcr & UART_MCR_RTS)
		msr |= UART_MSR_CTS;
	if (s->st.mcr & UART_MCR_DTR)
		msr |= UART_MSR_DSR;
	return msr;
}

/* Recompute IIR/MSR and drive the line if its level changed. */
static void serial_update(struct serial8250 *s)
{
	int level;

	s->st.iir = serial_compute_iir(s);
	s->st.msr = serial_compute_msr(s);
	level = !(s->st.iir & UART_IIR_NO_INT) && (s->st.mcr & UART_MCR_OUT2);
	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->irq_fn)
		s->irq_fn(s->irq_opaque, s->irq, level);
}

/* Append one byte to the receive queue; false when it is full. */
static bool serial_rx_put(struct serial8250 *s, uint8_t b)
{
	if (s->st.rx_count >= SERIAL_RX_BUF)
		return false;
	s->st.rx[(s->st.rx_head + s->st.rx_count) % SERIAL_RX_BUF] = b;
	s->st.rx_count++;
	return true;
}

static uint8_t serial_rx_get(struct serial8250 *s)
{
	uint8_t b;

	if (!s->st.rx_count)
		return 0;
	b = s->st.rx[s->st.rx_head];
	s->st.rx_head = (s->st.rx_head + 1) % SERIAL_RX_BUF;
	s->st.rx_count--;
	return b;
}

static void serial_rx_clear(struct serial8250 *s)
{
	s->st.rx_head = 0;
	s->st.rx_count = 0;
}

static void serial_write_thr(struct serial8250 *s, uint8_t val)
{
	if (s->st.mcr & UART_MCR_LOOP) {
		if (!serial_rx_put(s, val))
			s->st.lsr |= UART_LSR_OE; /* the byte is lost: overrun */
	}
	else if (s->out_fn)
		s->out_fn(s->out_opaque, &val, 1);
	s->tx_bytes++;
	/* Transmission completes at once: THR is empty again. */
	s->st.thr_irq = true;
}

static void serial_write_ier(struct serial8250 *s, uint8_t val)
{
	val &= UART_IER_MASK;
	if ((val & UART_IER_THRI) && !(s->st.ier & UART_IER_THRI))
		s->st.thr_irq = true;
	s->st.ier = val;
}

static void serial_write_fcr(struct serial8250 *s, uint8_t val)
{
	if (val & UART_FCR_RFR)
		serial_rx_clear(s);
	s->st.fcr = (val & UART_FCR_FE) ? (val & UART_FCR_KEEP) : 0;
}

static void serial_write_reg(struct serial8250 *s, unsigned int reg, uint8_t val)
{
	bool dlab = s->st.lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_RBR:
		if (dlab)
			s->st.dll = val;
		else
			serial_write_thr(s, val);
		break;
	case UART_IER:
		if (dlab)
			s->st.dlm = val;
		else
			serial_write_ier(s, val);
		break;
	case UART_IIR:
		serial_write_fcr(s, val);
		break;
	case UART_LCR:
		s->st.lcr = val;
		break;
	case UART_MCR:
		s->st.mcr = val & UART_MCR_MASK;
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only (factory test registers on real parts) */
	case UART_SCR:
		s->st.scr = val;
		break;
	}
}

static uint8_t serial_read_iir(struct serial8250 *s)
{
	uint8_t iir = serial_compute_iir(s);

	if (iir == UART_IIR_THRI)
		s->st.thr_irq = false;
	if (s->st.fcr & UART_FCR_FE)
		iir |= UART_IIR_FIFO;
	return iir;
}

static uint8_t serial_read_lsr(struct serial8250 *s)
{
	uint8_t lsr = s->st.lsr | UART_LSR_THRE | UART_LSR_TEMT;

	if (s->st.rx_count)
		lsr |= UART_LSR_DR;
	s->st.lsr &= (uint8_t)~UART_LSR_ERR; /* error bits clear on read */
	return lsr;
}

static uint8_t serial_read_reg(struct serial8250 *s, unsigned int reg)
{
	bool dlab = s->st.lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_RBR:
		return dlab ? s->st.dll : serial_rx_get(s);
	case UART_IER:
		return dlab ? s->st.dlm : s->st.ier;
	case UART_IIR:
		return serial_read_iir(s);
	case UART_LCR:
		return s->st.lcr;
	case UART_MCR:
		return s->st.mcr;
	case UART_LSR:
		return serial_read_lsr(s);
	case UART_MSR:
		return serial_compute_msr(s);
	default:
		return s->st.scr;
	}
}

void serial_init(struct serial8250 *s, unsigned int irq, irq_line_fn irq_fn, void *irq_opaque,
		 serial_out_fn out_fn, void *out_opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->irq = irq;
	s->irq_fn = irq_fn;
	s->irq_opaque = irq_opaque;
	s->out_fn = out_fn;
	s->out_opaque = out_opaque;
	s->st.dll = 0x0c; /* 9600 baud, as firmware would leave it */
	s->st.iir = UART_IIR_NO_INT;
	s->st.msr = serial_compute_msr(s);
}

void serial_destroy(struct serial8250 *s)
{
	pthread_mutex_destroy(&s->lock);
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct serial8250 *s = opaque;
	unsigned int reg = (unsigned int)(offset & 7);

	if (!len || !data)
		return;
	pthread_mutex_lock(&s->lock);
	if (is_write) {
		serial_write_reg(s, reg, data[0]);
	} else {
		data[0] = serial_read_reg(s, reg);
		memset(data + 1, 0xff, len - 1);
	}
	serial_update(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_rx_push(struct serial8250 *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	if (s->rx_held) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	while (n < len && serial_rx_put(s, buf[n]))
		n++;
	serial_update(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void serial_hold(struct serial8250 *s, bool held)
{
	pthread_mutex_lock(&s->lock);
	s->rx_held = held;
	pthread_mutex_unlock(&s->lock);
}

void serial_quiesce(void *dev)
{
	serial_hold(dev, true);
}

void serial_resume(void *dev)
{
	serial_hold(dev, false);
}

size_t serial_rx_space(struct serial8250 *s)
{
	size_t space;

	pthread_mutex_lock(&s->lock);
	space = SERIAL_RX_BUF - s->st.rx_count;
	pthread_mutex_unlock(&s->lock);
	return space;
}

/* ---- device state (src/vmm/device.h) ----
 *
 * The saved state is struct serial_state as it is. IIR and MSR are derived
 * registers: a state whose IIR or MSR disagrees with what the other
 * registers make of them is one the device cannot be in. The interrupt
 * line is driven again from the restored registers. Transmit is instant,
 * so nothing is ever half-sent. */

static int serial_state_check(const struct serial_state *st, char *err, size_t errlen)
{
	uint8_t iir, msr;
	struct serial8250 tmp;

	if (st->ier & ~UART_IER_MASK) {
		snprintf(err, errlen, "serial: ier 0x%02x has bits beyond 0x%02x", st->ier,
			 UART_IER_MASK);
		return -EINVAL;
	}
	if (st->mcr & ~UART_MCR_MASK) {
		snprintf(err, errlen, "serial: mcr 0x%02x has bits beyond 0x%02x", st->mcr,
			 UART_MCR_MASK);
		return -EINVAL;
	}
	if (st->fcr && (!(st->fcr & UART_FCR_FE) || (st->fcr & ~UART_FCR_KEEP))) {
		snprintf(err, errlen, "serial: fcr 0x%02x is not a FIFO control value the UART keeps",
			 st->fcr);
		return -EINVAL;
	}
	if (st->lsr & ~UART_LSR_ERR) {
		snprintf(err, errlen, "serial: lsr 0x%02x has bits beyond the error bits 0x%02x",
			 st->lsr, UART_LSR_ERR);
		return -EINVAL;
	}
	if (st->thr_irq > 1) {
		snprintf(err, errlen, "serial: thr_irq %u is not 0 or 1", st->thr_irq);
		return -EINVAL;
	}
	if (st->pad) {
		snprintf(err, errlen, "serial: pad byte is %u, not 0", st->pad);
		return -EINVAL;
	}
	if (st->rx_head >= SERIAL_RX_BUF) {
		snprintf(err, errlen, "serial: rx_head %u is beyond the %u-byte buffer", st->rx_head,
			 SERIAL_RX_BUF);
		return -EINVAL;
	}
	if (st->rx_count > SERIAL_RX_BUF) {
		snprintf(err, errlen, "serial: rx_count %u is beyond the %u-byte buffer",
			 st->rx_count, SERIAL_RX_BUF);
		return -EINVAL;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.st = *st;
	iir = serial_compute_iir(&tmp);
	msr = serial_compute_msr(&tmp);
	if (st->iir != iir) {
		snprintf(err, errlen, "serial: iir 0x%02x does not match the pending interrupt "
			 "(0x%02x)", st->iir, iir);
		return -EINVAL;
	}
	if (st->msr != msr) {
		snprintf(err, errlen, "serial: msr 0x%02x does not match mcr (0x%02x)", st->msr, msr);
		return -EINVAL;
	}
	return 0;
}

static void serial_save(void *dev, void *state)
{
	struct serial8250 *s = dev;

	pthread_mutex_lock(&s->lock);
	memcpy(state, &s->st, sizeof(s->st));
	pthread_mutex_unlock(&s->lock);
}

static int serial_restore(void *dev, const void *state, size_t size, uint32_t version, char *err,
			  size_t errlen)
{
	struct serial8250 *s = dev;
	struct serial_state st;
	int r;

	r = device_state_check_header(&serial_class, size, version, err, errlen);
	if (r)
		return r;
	memcpy(&st, state, sizeof(st));
	r = serial_state_check(&st, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	s->st = st;
	s->irq_level = -1;    /* drive the line whatever it was */
	serial_update(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- the device class ---- */

static int serial_create(const struct device_host *h, const json_t *cfg, void **dev, char *err,
			 size_t errlen)
{
	struct serial8250 *s = calloc(1, sizeof(*s));
	int r;

	(void)cfg;
	*dev = NULL;
	if (!s)
		return -ENOMEM;
	serial_init(s, SERIAL_COM1_IRQ, vm_irq_line, h->vm, h->console_out, h->console_opaque);
	*dev = s;
	r = iobus_register(&h->vm->pio, SERIAL_COM1_BASE, SERIAL_NR_PORTS, serial_io, s, "serial");
	if (r)
		snprintf(err, errlen, "cannot register serial at port 0x%x: %s", SERIAL_COM1_BASE,
			 strerror(-r));
	return r;
}

static void serial_class_destroy(void *dev)
{
	if (!dev)
		return;
	serial_destroy(dev);
	free(dev);
}

const struct device_class serial_class = {
	.name = "serial",
	/* Port accesses run on vCPU threads (parked by the machine); host
	 * input comes from the console threads: held while quiesced. */
	.quiesce = serial_quiesce,
	.resume = serial_resume,
	.state_version = SERIAL_STATE_VERSION,
	.state_size = sizeof(struct serial_state),
	.save = serial_save,
	.restore = serial_restore,
	.board = true,
	.create = serial_create,
	.destroy = serial_class_destroy,
};

json_t *serial_describe_json(struct serial8250 *s)
{
	json_t *j;

	pthread_mutex_lock(&s->lock);
	j = json_pack("{s:i, s:i, s:i, s:i, s:b, s:i, s:I}", "ier", s->st.ier, "iir", s->st.iir,
		      "lsr", s->st.lsr, "mcr", s->st.mcr, "thr_irq", s->st.thr_irq != 0,
		      "irq_level", s->irq_level, "tx_bytes", (json_int_t)s->tx_bytes);
	pthread_mutex_unlock(&s->lock);
	return j;
}
