/* Minimal i8042 keyboard controller: the controller itself (self-tests, the
 * configuration byte, the output port) and its reset line, with no keyboard
 * or mouse behind it. Bytes written to the devices are dropped and nothing
 * raises an interrupt.
 *
 * Status register: bit0 output buffer full, bit1 input buffer full (never:
 * the controller consumes every write at once), bit2 system flag (mirrors
 * CTR bit2; set at start as firmware would leave it, and by self-test),
 * bit3 last write was a command, bit4 keyboard not inhibited.
 *
 * Accesses: the handlers act on the low byte at offset 0; a read fills any
 * further bytes with 0xff, and an access at offset != 0 reads all-ones and
 * is otherwise ignored.
 */
#include "hw/i8042.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vm.h"

#define I8042_STS_OBF      0x01
#define I8042_STS_SYS      0x04
#define I8042_STS_CMD      0x08
#define I8042_STS_UNLOCKED 0x10

#define I8042_CTR_KBDINT   0x01
#define I8042_CTR_SYS      0x04
#define I8042_CTR_KBDDIS   0x10
#define I8042_CTR_AUXDIS   0x20
#define I8042_CTR_XLATE    0x40

#define I8042_CMD_READ_CTR    0x20
#define I8042_CMD_WRITE_CTR   0x60
#define I8042_CMD_AUX_DISABLE 0xa7
#define I8042_CMD_AUX_ENABLE  0xa8
#define I8042_CMD_AUX_TEST    0xa9
#define I8042_CMD_SELF_TEST   0xaa
#define I8042_CMD_KBD_TEST    0xab
#define I8042_CMD_KBD_DISABLE 0xad
#define I8042_CMD_KBD_ENABLE  0xae
#define I8042_CMD_READ_OUTP   0xd0
#define I8042_CMD_WRITE_OUTP  0xd1

#define I8042_OUTP_RESET   0x01 /* 0 = assert the CPU reset line */
#define I8042_OUTP_A20     0x02

static void i8042_set_output(struct i8042 *k, uint8_t val)
{
	k->out = val;
	k->out_full = true;
}

static void i8042_set_ctr(struct i8042 *k, uint8_t val)
{
	k->ctr = val;
	if (val & I8042_CTR_SYS)
		k->status |= I8042_STS_SYS;
	else
		k->status &= (uint8_t)~I8042_STS_SYS;
}

/* Run a command byte; returns true when it asks for a reset. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->pending_cmd = 0;
	switch (cmd) {
	case I8042_CMD_READ_CTR:
		i8042_set_output(k, k->ctr);
		break;
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTP:
		k->pending_cmd = cmd;
		break;
	case I8042_CMD_SELF_TEST:
		i8042_set_ctr(k, k->ctr | I8042_CTR_SYS);
		i8042_set_output(k, 0x55);
		break;
	case I8042_CMD_AUX_TEST:
	case I8042_CMD_KBD_TEST:
		i8042_set_output(k, 0x00);
		break;
	case I8042_CMD_AUX_DISABLE:
		k->ctr |= I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_ENABLE:
		k->ctr &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_KBD_DISABLE:
		k->ctr |= I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_KBD_ENABLE:
		k->ctr &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_READ_OUTP:
		i8042_set_output(k, k->outp);
		break;
	default:
		/* 0xF0-0xFF pulse output-port bits low for a moment; bit0 is
		 * the reset line (0xFE is the classic reset). */
		if (cmd >= 0xf0 && !(cmd & 0x01))
			return true;
		break;
	}
	return false;
}

/* A byte written to the data port; returns true when it asks for a reset. */
static bool i8042_data(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	switch (cmd) {
	case I8042_CMD_WRITE_CTR:
		i8042_set_ctr(k, val);
		return false;
	case I8042_CMD_WRITE_OUTP:
		k->outp = val;
		return !(val & I8042_OUTP_RESET);
	default:
		return false; /* to the keyboard, and no keyboard is attached */
	}
}

static void i8042_fill(uint8_t *data, uint32_t len, uint8_t first)
{
	data[0] = first;
	memset(data + 1, 0xff, len - 1);
}

static void i8042_reset(struct i8042 *k)
{
	if (k->stop_fn)
		k->stop_fn(k->stop_opaque, VM_STOP_REBOOT);
}

void i8042_init(struct i8042 *k, vm_stop_fn stop_fn, void *stop_opaque)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->status = I8042_STS_SYS | I8042_STS_UNLOCKED;
	k->ctr = I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_AUXDIS | I8042_CTR_XLATE;
	k->outp = I8042_OUTP_RESET | I8042_OUTP_A20;
	k->stop_fn = stop_fn;
	k->stop_opaque = stop_opaque;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

/* One access to the data port (is_cmd false) or the command/status port. */
static void i8042_port_io(struct i8042 *k, bool is_cmd, uint64_t offset, uint8_t *data,
			  uint32_t len, bool is_write)
{
	bool reset = false;

	if (!len || !data)
		return;
	if (offset != 0) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&k->lock);
	if (is_write && is_cmd) {
		k->status |= I8042_STS_CMD;
		reset = i8042_command(k, data[0]);
	} else if (is_write) {
		k->status &= (uint8_t)~I8042_STS_CMD;
		reset = i8042_data(k, data[0]);
	} else if (is_cmd) {
		i8042_fill(data, len, (uint8_t)(k->status | (k->out_full ? I8042_STS_OBF : 0)));
	} else {
		i8042_fill(data, len, k->out);
		k->out_full = false;
	}
	pthread_mutex_unlock(&k->lock);
	if (reset)
		i8042_reset(k);
}

void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	i8042_port_io(opaque, false, offset, data, len, is_write);
}

void i8042_command_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	i8042_port_io(opaque, true, offset, data, len, is_write);
}

/* ---- the device class ---- */

static int i8042_create(const struct device_host *h, const json_t *cfg, void **dev, char *err,
			size_t errlen)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	int r;

	(void)cfg;
	*dev = NULL;
	if (!k)
		return -ENOMEM;
	i8042_init(k, vm_request_stop, h->vm);
	*dev = k;
	r = iobus_register(&h->vm->pio, I8042_DATA_PORT, 1, i8042_data_io, k, "i8042-data");
	if (!r)
		r = iobus_register(&h->vm->pio, I8042_COMMAND_PORT, 1, i8042_command_io, k,
				   "i8042-cmd");
	if (r)
		snprintf(err, errlen, "cannot register the i8042's ports: %s", strerror(-r));
	return r;
}

static void i8042_class_destroy(void *dev)
{
	if (!dev)
		return;
	i8042_destroy(dev);
	free(dev);
}

const struct device_class i8042_class = {
	.name = "i8042",
	.board = true,
	.create = i8042_create,
	.destroy = i8042_class_destroy,
};
