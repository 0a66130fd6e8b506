/* A minimal i8042 keyboard controller at ports 0x60 and 0x64: enough for the
 * guest's "reset through the keyboard controller" (command 0xFE), which
 * nestvm treats as a reboot request and so as the end of the VM. */
#ifndef NESTVM_HW_I8042_H
#define NESTVM_HW_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"
#include "hw/hw.h"

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET    0xfe

/* The guest-visible state (i8042_class, version I8042_STATE_VERSION). */
struct i8042_state {
	uint8_t status;       /* SYS, CMD, UNLOCKED (OBF comes from out_full) */
	uint8_t ctr;          /* controller configuration ("command byte") */
	uint8_t pending_cmd;  /* command waiting for its data byte, or 0 */
	uint8_t out;          /* output buffer */
	uint8_t out_full;     /* 0 or 1 */
	uint8_t outp;         /* output port (bit0 reset line, bit1 A20) */
};

#define I8042_STATE_VERSION 1

struct i8042 {
	pthread_mutex_t lock;
	struct i8042_state st;
	vm_stop_fn stop_fn;
	void *stop_opaque;
};

/* The device class (src/vmm/device.h): dev is a struct i8042 *. */
struct device_class;
extern const struct device_class i8042_class;

void i8042_init(struct i8042 *k, vm_stop_fn stop_fn, void *stop_opaque);
void i8042_destroy(struct i8042 *k);
/* iobus handlers: one for the data port, one for the command/status port
 * (1-byte regions: offset 0; wider reads fill the higher bytes with 0xff).
 * stop_fn(VM_STOP_REBOOT) is called after the device lock is dropped. */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void i8042_command_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* The board's i8042 (ports 0x60, 0x64): resets. */
extern const struct device_class i8042_class;

#endif
