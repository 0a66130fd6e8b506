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
#include <string.h>

#include "vmm/device.h"
#include <stdlib.h>

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
	k->st.out = val;
	k->st.out_full = true;
}

static void i8042_set_ctr(struct i8042 *k, uint8_t val)
{
	k->st.ctr = val;
	if (val & I8042_CTR_SYS)
		k->st.status |= I8042_STS_SYS;
	else
		k->st.status &= (uint8_t)~I8042_STS_SYS;
}

/* Run a command byte; returns true when it asks for a reset. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->st.pending_cmd = 0;
	switch (cmd) {
	case I8042_CMD_READ_CTR:
		i8042_set_output(k, k->st.ctr);
		break;
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTP:
		k->st.pending_cmd = cmd;
		break;
	case I8042_CMD_SELF_TEST:
		i8042_set_ctr(k, k->st.ctr | I8042_CTR_SYS);
		i8042_set_output(k, 0x55);
		break;
	case I8042_CMD_AUX_TEST:
	case I8042_CMD_KBD_TEST:
		i8042_set_output(k, 0x00);
		break;
	case I8042_CMD_AUX_DISABLE:
		k->st.ctr |= I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_ENABLE:
		k->st.ctr &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_KBD_DISABLE:
		k->st.ctr |= I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_KBD_ENABLE:
		k->st.ctr &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_READ_OUTP:
		i8042_set_output(k, k->st.outp);
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
	uint8_t cmd = k->st.pending_cmd;

	k->st.pending_cmd = 0;
	switch (cmd) {
	case I8042_CMD_WRITE_CTR:
		i8042_set_ctr(k, val);
		return false;
	case I8042_CMD_WRITE_OUTP:
		k->st.outp = val;
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
	k->st.status = I8042_STS_SYS | I8042_STS_UNLOCKED;
	k->st.ctr = I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_AUXDIS | I8042_CTR_XLATE;
	k->st.outp = I8042_OUTP_RESET | I8042_OUTP_A20;
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
		k->st.status |= I8042_STS_CMD;
		reset = i8042_command(k, data[0]);
	} else if (is_write) {
		k->st.status &= (uint8_t)~I8042_STS_CMD;
		reset = i8042_data(k, data[0]);
	} else if (is_cmd) {
		i8042_fill(data, len, (uint8_t)(k->st.status | (k->st.out_full ? I8042_STS_OBF : 0)));
	} else {
		i8042_fill(data, len, k->st.out);
		k->st.out_full = false;
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

/* ---- device state (src/vmm/device.h) ----
 *
 * struct i8042_state as it is. Nothing raises an interrupt, so nothing is
 * re-driven after a restore. */

#define I8042_STS_KEPT (I8042_STS_SYS | I8042_STS_CMD | I8042_STS_UNLOCKED)

static int i8042_state_check(const struct i8042_state *st, char *err, size_t errlen)
{
	if (st->status & ~I8042_STS_KEPT) {
		snprintf(err, errlen, "i8042: status 0x%02x has bits beyond 0x%02x (OBF comes from "
			 "out_full)", st->status, I8042_STS_KEPT);
		return -EINVAL;
	}
	if (!(st->status & I8042_STS_UNLOCKED)) {
		snprintf(err, errlen, "i8042: status 0x%02x lacks the keyboard-unlocked bit",
			 st->status);
		return -EINVAL;
	}
	if (!(st->status & I8042_STS_SYS) != !(st->ctr & I8042_CTR_SYS)) {
		snprintf(err, errlen, "i8042: status 0x%02x and ctr 0x%02x disagree on the system "
			 "flag", st->status, st->ctr);
		return -EINVAL;
	}
	if (st->pending_cmd && st->pending_cmd != I8042_CMD_WRITE_CTR &&
	    st->pending_cmd != I8042_CMD_WRITE_OUTP) {
		snprintf(err, errlen, "i8042: pending_cmd 0x%02x is not a command that waits for "
			 "data", st->pending_cmd);
		return -EINVAL;
	}
	if (st->out_full > 1) {
		snprintf(err, errlen, "i8042: out_full %u is not 0 or 1", st->out_full);
		return -EINVAL;
	}
	return 0;
}

static void i8042_save(void *dev, void *state)
{
	struct i8042 *k = dev;

	pthread_mutex_lock(&k->lock);
	memcpy(state, &k->st, sizeof(k->st));
	pthread_mutex_unlock(&k->lock);
}

static int i8042_restore(void *dev, const void *state, size_t size, uint32_t version, char *err,
			 size_t errlen)
{
	struct i8042 *k = dev;
	struct i8042_state st;
	int r;

	r = device_state_check_header(&i8042_class, size, version, err, errlen);
	if (r)
		return r;
	memcpy(&st, state, sizeof(st));
	r = i8042_state_check(&st, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&k->lock);
	k->st = st;
	pthread_mutex_unlock(&k->lock);
	return 0;
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
	.quiesce = NULL,      /* no thread: its accesses run on vCPU threads */
	.resume = NULL,
	.state_version = I8042_STATE_VERSION,
	.state_size = sizeof(struct i8042_state),
	.save = i8042_save,
	.restore = i8042_restore,
	.board = true,
	.create = i8042_create,
	.destroy = i8042_class_destroy,
};
