/* Unit tests for the ACPI PM1a blocks and reset register (src/hw/acpi_pm.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hw/acpi_pm.h"

#define OFF_STS   0x0
#define OFF_EN    0x2
#define OFF_CNT   0x4
#define OFF_RESET 0x8

#define SLP_EN      (1u << 13)
#define SLP_TYP(t)  ((unsigned int)(t) << 10)

struct ctx {
	struct acpi_pm pm;
	int stops;
	enum vm_stop_reason reason;
	int sci_calls;         /* how many times the SCI line was driven */
	int sci;               /* its last level; -1: never driven */
	unsigned int sci_irq;
};

static struct ctx g;

static void on_stop(void *opaque, enum vm_stop_reason reason)
{
	struct ctx *c = opaque;

	c->stops++;
	c->reason = reason;
}

static void on_sci(void *opaque, unsigned int irq, int level)
{
	struct ctx *c = opaque;

	c->sci_calls++;
	c->sci = level;
	c->sci_irq = irq;
}

static int setup(void **state)
{
	memset(&g, 0, sizeof(g));
	g.sci = -1;
	acpi_pm_init(&g.pm, on_stop, &g);
	acpi_pm_set_sci(&g.pm, on_sci, &g);
	*state = &g;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	acpi_pm_destroy(&c->pm);
	return 0;
}

static void wr(struct ctx *c, uint64_t off, uint32_t len, uint32_t val)
{
	uint8_t d[4] = { (uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16),
			 (uint8_t)(val >> 24) };

	acpi_pm_io(&c->pm, off, d, len, true);
}

static uint32_t rd(struct ctx *c, uint64_t off, uint32_t len)
{
	uint8_t d[4] = { 0x11, 0x22, 0x33, 0x44 };

	acpi_pm_io(&c->pm, off, d, len, false);
	if (len == 1)
		return d[0];
	if (len == 2)
		return (uint32_t)d[0] | (uint32_t)d[1] << 8;
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 |
	       (uint32_t)d[3] << 24;
}

static void test_s5_powers_off_once(void **state)
{
	struct ctx *c = *state;

	/* what ACPICA does for _S5: write SLP_TYP, then SLP_TYP | SLP_EN */
	wr(c, OFF_CNT, 2, ACPI_PM1_CNT_SCI_EN | SLP_TYP(ACPI_S5_SLP_TYP));
	assert_int_equal(c->stops, 0);
	wr(c, OFF_CNT, 2, ACPI_PM1_CNT_SCI_EN | SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN);
	assert_int_equal(c->stops, 1);
	assert_int_equal(c->reason, VM_STOP_POWEROFF);
	/* SLP_EN reads back 0, SLP_TYP is kept */
	assert_int_equal(rd(c, OFF_CNT, 2), ACPI_PM1_CNT_SCI_EN | SLP_TYP(ACPI_S5_SLP_TYP));
	/* unrelated accesses afterwards do not stop it again */
	(void)rd(c, OFF_CNT, 2);
	wr(c, OFF_EN, 2, 0);
	assert_int_equal(c->stops, 1);
}

static void test_s5_byte_writes(void **state)
{
	struct ctx *c = *state;

	/* low byte only: SLP_EN lives in the high byte, no stop */
	wr(c, OFF_CNT, 1, 0xff);
	assert_int_equal(c->stops, 0);
	/* high byte at offset 5: SLP_TYP=5 (bits 12:10) | SLP_EN (bit 13) */
	wr(c, OFF_CNT + 1, 1, (SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN) >> 8);
	assert_int_equal(c->stops, 1);
	assert_int_equal(c->reason, VM_STOP_POWEROFF);
	/* the low byte written earlier is kept (less the write-only bits) */
	assert_int_equal(rd(c, OFF_CNT, 1), 0xfb);
}

static void test_s5_wide_write(void **state)
{
	struct ctx *c = *state;

	/* a 4-byte write at 4 covers PM1_CNT and two unused bytes */
	wr(c, OFF_CNT, 4, 0xffff0000u | SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN);
	assert_int_equal(c->stops, 1);
	assert_int_equal(c->reason, VM_STOP_POWEROFF);
	assert_int_equal(rd(c, OFF_CNT, 4), 0xffff0000u | ACPI_PM1_CNT_SCI_EN |
					    SLP_TYP(ACPI_S5_SLP_TYP));
}

static void test_other_sleep_states_ignored(void **state)
{
	struct ctx *c = *state;

	for (unsigned int typ = 0; typ < 8; typ++) {
		if (typ == ACPI_S5_SLP_TYP)
			continue;
		wr(c, OFF_CNT, 2, SLP_TYP(typ) | SLP_EN);
		assert_int_equal(rd(c, OFF_CNT, 2), ACPI_PM1_CNT_SCI_EN | SLP_TYP(typ));
	}
	assert_int_equal(c->stops, 0);
	/* S5 without SLP_EN does nothing either */
	wr(c, OFF_CNT, 2, SLP_TYP(ACPI_S5_SLP_TYP));
	assert_int_equal(c->stops, 0);
}

static void test_sci_en_always_set(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rd(c, OFF_CNT, 2) & ACPI_PM1_CNT_SCI_EN, ACPI_PM1_CNT_SCI_EN);
	wr(c, OFF_CNT, 2, 0);
	assert_int_equal(rd(c, OFF_CNT, 2), ACPI_PM1_CNT_SCI_EN);
	wr(c, OFF_CNT, 1, 0);
	assert_int_equal(rd(c, OFF_CNT, 1), ACPI_PM1_CNT_SCI_EN);
	/* GBL_RLS (bit 2) is write-only */
	wr(c, OFF_CNT, 2, ACPI_PM1_CNT_GBL_RLS | 0x2);
	assert_int_equal(rd(c, OFF_CNT, 2), ACPI_PM1_CNT_SCI_EN | 0x2);
	assert_int_equal(c->stops, 0);
}

static void test_reset_register(void **state)
{
	struct ctx *c = *state;
	static const uint8_t others[] = { 0x00, 0x02, 0x06, 0x0e, 0xfe, 0xff };

	for (size_t i = 0; i < sizeof(others); i++)
		wr(c, OFF_RESET, 1, others[i]);
	assert_int_equal(c->stops, 0);
	assert_int_equal(rd(c, OFF_RESET, 1), 0);
	wr(c, OFF_RESET + 1, 1, ACPI_RESET_VALUE); /* wrong offset */
	wr(c, OFF_RESET - 1, 1, ACPI_RESET_VALUE);
	assert_int_equal(c->stops, 0);
	wr(c, OFF_RESET, 1, ACPI_RESET_VALUE);
	assert_int_equal(c->stops, 1);
	assert_int_equal(c->reason, VM_STOP_REBOOT);
	assert_int_equal(ACPI_RESET_PORT - ACPI_PM_BASE, OFF_RESET);
}

static void test_reset_register_wide(void **state)
{
	struct ctx *c = *state;

	/* byte lanes: a wider write whose offset-8 lane holds the value resets */
	wr(c, OFF_RESET, 2, 0xff00u | ACPI_RESET_VALUE);
	assert_int_equal(c->stops, 1);
	assert_int_equal(c->reason, VM_STOP_REBOOT);
	wr(c, OFF_RESET, 4, 0x01010100u); /* lane 8 is 0x00 */
	assert_int_equal(c->stops, 1);
}

static void test_sts_write_one_to_clear(void **state)
{
	struct ctx *c = *state;

	c->pm.st.pm1_sts = 0x8121; /* WAK, PWRBTN, GBL, TMR: as if raised */
	assert_int_equal(rd(c, OFF_STS, 2), 0x8121);
	wr(c, OFF_STS, 2, 0x0000);
	assert_int_equal(rd(c, OFF_STS, 2), 0x8121);
	wr(c, OFF_STS, 2, 0x0001);
	assert_int_equal(rd(c, OFF_STS, 2), 0x8120);
	wr(c, OFF_STS + 1, 1, 0x80);
	assert_int_equal(rd(c, OFF_STS, 2), 0x0120);
	/* 4-byte access at 0: STS in the low half, EN in the high half */
	wr(c, OFF_STS, 4, 0x0100u << 16 | 0x0100u);
	assert_int_equal(rd(c, OFF_STS, 2), 0x0020);
	assert_int_equal(rd(c, OFF_EN, 2), 0x0100);
	assert_int_equal(rd(c, OFF_STS, 4), 0x0100u << 16 | 0x0020u);
	assert_int_equal(c->stops, 0);
}

static void test_en_read_write(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rd(c, OFF_EN, 2), 0);
	wr(c, OFF_EN, 2, 0x0521);
	assert_int_equal(rd(c, OFF_EN, 2), 0x0521);
	wr(c, OFF_EN + 1, 1, 0x01);
	assert_int_equal(rd(c, OFF_EN, 2), 0x0121);
	assert_int_equal(rd(c, OFF_EN + 1, 1), 0x01);
	wr(c, OFF_EN, 1, 0x00);
	assert_int_equal(rd(c, OFF_EN, 2), 0x0100);
	/* EN writes never touch STS */
	c->pm.st.pm1_sts = 0x0001;
	wr(c, OFF_EN, 2, 0xffff);
	assert_int_equal(rd(c, OFF_STS, 2), 0x0001);
}

static void test_unused_offsets(void **state)
{
	struct ctx *c = *state;
	uint8_t d[8];

	assert_int_equal(rd(c, 6, 2), 0xffff);
	assert_int_equal(rd(c, 9, 1), 0xff);
	assert_int_equal(rd(c, 0x1c, 4), 0xffffffffu);
	wr(c, 6, 2, 0);
	wr(c, 0x10, 4, 0);
	assert_int_equal(rd(c, 6, 2), 0xffff);
	assert_int_equal(rd(c, 0x10, 4), 0xffffffffu);
	/* an access straddling the end of the block */
	memset(d, 0, sizeof(d));
	acpi_pm_io(&c->pm, 0x1e, d, 4, false);
	for (int i = 0; i < 4; i++)
		assert_int_equal(d[i], 0xff);
	/* far outside, huge offsets, odd lengths, len 0: no crash, no effect */
	acpi_pm_io(&c->pm, UINT64_MAX, d, 4, false);
	assert_int_equal(d[0], 0xff);
	acpi_pm_io(&c->pm, UINT64_MAX - 1, d, 4, true);
	acpi_pm_io(&c->pm, 0x1000, d, 4, true);
	memset(d, 0, sizeof(d));
	acpi_pm_io(&c->pm, OFF_CNT, d, 0, false);
	assert_int_equal(d[0], 0);
	acpi_pm_io(&c->pm, OFF_STS, d, 8, false); /* STS, EN, CNT, unused */
	assert_int_equal(d[4], ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(d[6], 0xff);
	assert_int_equal(d[7], 0xff);
	acpi_pm_io(&c->pm, OFF_CNT + 1, d, 3, false);
	assert_int_equal(d[0], 0);
	assert_int_equal(d[1], 0xff);
	assert_int_equal(c->stops, 0);
	assert_int_equal(rd(c, OFF_CNT, 2), ACPI_PM1_CNT_SCI_EN);
}

static void test_no_stop_fn(void **state)
{
	struct ctx *c = *state;

	acpi_pm_destroy(&c->pm);
	acpi_pm_init(&c->pm, NULL, NULL);
	wr(c, OFF_CNT, 2, SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN);
	wr(c, OFF_RESET, 1, ACPI_RESET_VALUE);
	assert_int_equal(c->stops, 0);
}

#define PWRBTN ACPI_PM1_STS_PWRBTN

static void test_power_button_sets_sts(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rd(c, OFF_STS, 2), 0);
	acpi_pm_power_button(&c->pm);
	/* the status bit is set whether or not the event is enabled ... */
	assert_int_equal(rd(c, OFF_STS, 2), PWRBTN);
	assert_int_equal(rd(c, OFF_STS + 1, 1), PWRBTN >> 8);
	/* ... but with PWRBTN_EN clear no SCI is raised */
	assert_int_equal(c->sci_calls, 0);
	assert_int_equal(c->sci, -1);
	/* a second press while pending changes nothing */
	acpi_pm_power_button(&c->pm);
	assert_int_equal(rd(c, OFF_STS, 2), PWRBTN);
	assert_int_equal(c->sci_calls, 0);
	assert_int_equal(c->stops, 0);  /* the guest decides, nothing stops */
}

static void test_power_button_sci_when_enabled(void **state)
{
	struct ctx *c = *state;

	wr(c, OFF_EN, 2, ACPI_PM1_EN_PWRBTN);
	assert_int_equal(c->sci_calls, 0);
	acpi_pm_power_button(&c->pm);
	assert_int_equal(c->sci_calls, 1);
	assert_int_equal(c->sci, 1);
	assert_int_equal(c->sci_irq, ACPI_SCI_IRQ);
	/* level-triggered: stays up, and a second press is not a new edge */
	acpi_pm_power_button(&c->pm);
	assert_int_equal(c->sci_calls, 1);
	/* writing 0 or other bits to STS does not clear it */
	wr(c, OFF_STS, 2, 0x0000);
	wr(c, OFF_STS, 2, 0x8021);
	assert_int_equal(rd(c, OFF_STS, 2), PWRBTN);
	assert_int_equal(c->sci, 1);
	/* write 1 to clear: the status bit and the SCI drop */
	wr(c, OFF_STS, 2, PWRBTN);
	assert_int_equal(rd(c, OFF_STS, 2), 0);
	assert_int_equal(c->sci_calls, 2);
	assert_int_equal(c->sci, 0);
	/* enabled still: the next press raises it again */
	acpi_pm_power_button(&c->pm);
	assert_int_equal(c->sci_calls, 3);
	assert_int_equal(c->sci, 1);
	/* the byte-wide W1C of ACPICA's bit access works as well */
	wr(c, OFF_STS + 1, 1, PWRBTN >> 8);
	assert_int_equal(c->sci, 0);
	assert_int_equal(rd(c, OFF_STS, 2), 0);
}

static void test_power_button_enable_after_press(void **state)
{
	struct ctx *c = *state;

	acpi_pm_power_button(&c->pm);
	assert_int_equal(c->sci_calls, 0);
	/* enabling a pending event raises the SCI at once ... */
	wr(c, OFF_EN, 2, ACPI_PM1_EN_PWRBTN | 0x0020);
	assert_int_equal(c->sci, 1);
	/* ... clearing the enable drops it, the status stays */
	wr(c, OFF_EN, 2, 0x0020);
	assert_int_equal(c->sci, 0);
	assert_int_equal(rd(c, OFF_STS, 2), PWRBTN);
	assert_int_equal(c->sci_calls, 2);
	/* other enable bits with a pending power button: no SCI */
	wr(c, OFF_EN, 2, 0xfeff);
	assert_int_equal(c->sci, 0);
	/* one 4-byte write that clears STS and enables: nothing pending, no SCI */
	wr(c, OFF_STS, 4, (uint32_t)ACPI_PM1_EN_PWRBTN << 16 | PWRBTN);
	assert_int_equal(c->sci, 0);
	assert_int_equal(c->sci_calls, 2);
	assert_int_equal(rd(c, OFF_EN, 2), ACPI_PM1_EN_PWRBTN);
}

static void test_power_button_sci_en_hardwired(void **state)
{
	struct ctx *c = *state;

	/* the guest tries to leave ACPI mode: SCI_EN stays 1 and a press still
	 * becomes an SCI (never an SMI: there is no SMM here) */
	wr(c, OFF_CNT, 2, 0x0000);
	assert_int_equal(rd(c, OFF_CNT, 2), ACPI_PM1_CNT_SCI_EN);
	wr(c, OFF_EN, 2, ACPI_PM1_EN_PWRBTN);
	acpi_pm_power_button(&c->pm);
	assert_int_equal(c->sci, 1);
	assert_int_equal(c->stops, 0);
}

static void test_power_button_no_sci_fn(void **state)
{
	struct ctx *c = *state;

	acpi_pm_destroy(&c->pm);
	acpi_pm_init(&c->pm, on_stop, c);
	wr(c, OFF_EN, 2, ACPI_PM1_EN_PWRBTN);
	acpi_pm_power_button(&c->pm);
	assert_int_equal(rd(c, OFF_STS, 2), PWRBTN);
	assert_int_equal(c->sci_calls, 0);
	/* wiring it later drives the line to the current state */
	acpi_pm_set_sci(&c->pm, on_sci, c);
	assert_int_equal(c->sci, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_s5_powers_off_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_byte_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_wide_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_sleep_states_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sci_en_always_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_register_wide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sts_write_one_to_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_en_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unused_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_stop_fn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_button_sets_sts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_button_sci_when_enabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_button_enable_after_press, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_power_button_sci_en_hardwired, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_power_button_no_sci_fn, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
