/* Unit tests for the minimal i8042 controller (src/hw/i8042.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hw/i8042.h"

#define STS_OBF 0x01
#define STS_IBF 0x02
#define STS_SYS 0x04
#define STS_CMD 0x08

struct ctx {
	struct i8042 k;
	int stops;
	enum vm_stop_reason reason;
};

static struct ctx g;

static void on_stop(void *opaque, enum vm_stop_reason reason)
{
	struct ctx *c = opaque;

	c->stops++;
	c->reason = reason;
}

static int setup(void **state)
{
	memset(&g, 0, sizeof(g));
	i8042_init(&g.k, on_stop, &g);
	*state = &g;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	i8042_destroy(&c->k);
	return 0;
}

static void cmd(struct ctx *c, uint8_t v)
{
	i8042_command_io(&c->k, 0, &v, 1, true);
}

static void data_w(struct ctx *c, uint8_t v)
{
	i8042_data_io(&c->k, 0, &v, 1, true);
}

static uint8_t status(struct ctx *c)
{
	uint8_t v = 0;

	i8042_command_io(&c->k, 0, &v, 1, false);
	return v;
}

static uint8_t data_r(struct ctx *c)
{
	uint8_t v = 0;

	i8042_data_io(&c->k, 0, &v, 1, false);
	return v;
}

/* Command, then the byte it puts in the output buffer. */
static uint8_t cmd_result(struct ctx *c, uint8_t v)
{
	cmd(c, v);
	assert_true(status(c) & STS_OBF);
	return data_r(c);
}

static void test_initial_status(void **state)
{
	struct ctx *c = *state;
	uint8_t st = status(c);

	assert_int_equal(st & STS_OBF, 0);
	assert_int_equal(st & STS_IBF, 0);
	assert_int_equal(st & STS_SYS, STS_SYS); /* past POST */
}

static void test_self_test(void **state)
{
	struct ctx *c = *state;

	/* clear the system flag through the CTR, self-test sets it again */
	cmd(c, 0x60);
	data_w(c, 0x00);
	assert_int_equal(status(c) & STS_SYS, 0);
	cmd(c, 0xaa);
	assert_int_equal(status(c) & (STS_OBF | STS_SYS), STS_OBF | STS_SYS);
	assert_int_equal(data_r(c), 0x55);
	assert_int_equal(status(c) & STS_OBF, 0);
	assert_int_equal(c->stops, 0);
}

static void test_ctr_round_trip(void **state)
{
	struct ctx *c = *state;

	cmd(c, 0x60);
	assert_int_equal(status(c) & STS_OBF, 0);
	data_w(c, 0x47);
	assert_int_equal(cmd_result(c, 0x20), 0x47);
	assert_true(status(c) & STS_SYS);
	cmd(c, 0x60);
	data_w(c, 0x31);
	assert_int_equal(cmd_result(c, 0x20), 0x31);
	assert_int_equal(status(c) & STS_SYS, 0);
	/* the CTR is consumed once: a later data byte goes to the keyboard */
	data_w(c, 0x99);
	assert_int_equal(cmd_result(c, 0x20), 0x31);
	assert_int_equal(c->stops, 0);
}

static void test_interface_tests(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(cmd_result(c, 0xab), 0x00);
	assert_int_equal(cmd_result(c, 0xa9), 0x00);
	assert_int_equal(status(c) & STS_OBF, 0);
}

static void test_enable_disable(void **state)
{
	struct ctx *c = *state;

	cmd(c, 0x60);
	data_w(c, 0x00);
	cmd(c, 0xad);
	assert_int_equal(cmd_result(c, 0x20), 0x10);
	cmd(c, 0xa7);
	assert_int_equal(cmd_result(c, 0x20), 0x30);
	cmd(c, 0xae);
	assert_int_equal(cmd_result(c, 0x20), 0x20);
	cmd(c, 0xa8);
	assert_int_equal(cmd_result(c, 0x20), 0x00);
}

static void test_fe_reboots(void **state)
{
	struct ctx *c = *state;
	int i;

	/* Linux's kbd reboot: wait for IBF clear, write 0xFE, 10 times */
	for (i = 0; i < 10 && c->stops == 0; i++) {
		int spins = 0;

		while ((status(c) & STS_IBF) && spins < 1000)
			spins++;
		assert_int_equal(spins, 0);
		cmd(c, I8042_CMD_RESET);
	}
	assert_int_equal(c->stops, 1);
	assert_int_equal(c->reason, VM_STOP_REBOOT);
}

static void test_pulse_commands(void **state)
{
	struct ctx *c = *state;
	unsigned int v;

	for (v = 0xf1; v <= 0xff; v += 2)
		cmd(c, (uint8_t)v);
	assert_int_equal(c->stops, 0);
	for (v = 0xf0; v <= 0xfe; v += 2)
		cmd(c, (uint8_t)v);
	assert_int_equal(c->stops, 8);
	assert_int_equal(c->reason, VM_STOP_REBOOT);
}

static void test_output_port_reset(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(cmd_result(c, 0xd0) & 0x01, 0x01);
	cmd(c, 0xd1);
	data_w(c, 0xdf);          /* reset line high, A20 on: no reset */
	assert_int_equal(c->stops, 0);
	assert_int_equal(cmd_result(c, 0xd0), 0xdf);
	cmd(c, 0xd1);
	assert_int_equal(c->stops, 0);
	data_w(c, 0xde);          /* bit0 low: reset */
	assert_int_equal(c->stops, 1);
	assert_int_equal(c->reason, VM_STOP_REBOOT);
	/* 0xD1 without its data byte, then a bare data byte with bit0 clear */
	data_w(c, 0x00);
	assert_int_equal(c->stops, 1);
}

static void test_command_replaces_pending(void **state)
{
	struct ctx *c = *state;

	cmd(c, 0xd1);
	cmd(c, 0x60);             /* replaces the pending 0xD1 */
	data_w(c, 0x02);          /* goes to the CTR, not the output port */
	assert_int_equal(c->stops, 0);
	assert_int_equal(cmd_result(c, 0x20), 0x02);
}

static void test_cmd_flag_and_data_reads(void **state)
{
	struct ctx *c = *state;

	cmd(c, 0xaa);
	assert_true(status(c) & STS_CMD);
	assert_int_equal(data_r(c), 0x55);
	/* empty buffer: the last byte again, OBF stays clear */
	assert_int_equal(data_r(c), 0x55);
	assert_int_equal(status(c) & STS_OBF, 0);
	data_w(c, 0xf4);          /* to the (absent) keyboard: dropped */
	assert_int_equal(status(c) & (STS_CMD | STS_OBF), 0);
	assert_int_equal(c->stops, 0);
}

static void test_hostile_accesses(void **state)
{
	struct ctx *c = *state;
	uint8_t d[4];
	unsigned int v;

	/* wide reads: the register in byte 0, 0xff above */
	cmd(c, 0xaa);
	memset(d, 0, sizeof(d));
	i8042_data_io(&c->k, 0, d, 4, false);
	assert_int_equal(d[0], 0x55);
	assert_int_equal(d[1], 0xff);
	assert_int_equal(d[3], 0xff);
	i8042_command_io(&c->k, 0, d, 2, false);
	assert_int_equal(d[0] & STS_OBF, 0);
	assert_int_equal(d[1], 0xff);
	/* offset != 0: all-ones, writes dropped */
	d[0] = I8042_CMD_RESET;
	i8042_command_io(&c->k, 1, d, 1, true);
	i8042_data_io(&c->k, 3, d, 1, true);
	i8042_command_io(&c->k, UINT64_MAX, d, 4, false);
	assert_int_equal(d[0], 0xff);
	/* len 0 */
	d[0] = I8042_CMD_RESET;
	i8042_command_io(&c->k, 0, d, 0, true);
	assert_int_equal(c->stops, 0);
	/* wide write: low byte only */
	d[0] = 0xaa;
	d[1] = 0xfe;
	i8042_command_io(&c->k, 0, d, 2, true);
	assert_int_equal(c->stops, 0);
	assert_int_equal(data_r(c), 0x55);
	/* every command byte, each followed by a data byte with bit0 set */
	for (v = 0; v < 0xf0; v++) {
		cmd(c, (uint8_t)v);
		data_w(c, 0xff);
		(void)data_r(c);
	}
	assert_int_equal(c->stops, 0);
	assert_int_equal(status(c) & STS_IBF, 0);
}

static void test_no_stop_fn(void **state)
{
	struct ctx *c = *state;

	i8042_destroy(&c->k);
	i8042_init(&c->k, NULL, NULL);
	cmd(c, I8042_CMD_RESET);
	cmd(c, 0xd1);
	data_w(c, 0x00);
	assert_int_equal(c->stops, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_initial_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_test, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctr_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interface_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fe_reboots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pulse_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_port_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_replaces_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_flag_and_data_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_stop_fn, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
