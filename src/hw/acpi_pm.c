/* ACPI fixed hardware: PM1a event block, PM1a control block, reset register.
 *
 * Layout of the block at ACPI_PM_BASE:
 *   0x0 PM1_STS (2, write-1-to-clear)   0x2 PM1_EN (2)
 *   0x4 PM1_CNT (2)                      0x8 reset register (1, write-only)
 * everything else reads 0xff and ignores writes.
 *
 * Accesses are decoded byte lane by byte lane, so any width at any offset
 * works: a 4-byte access at 0 covers STS and EN, a 1-byte write at 5 is the
 * high byte of PM1_CNT (merged with the current low byte). The side effects
 * of a PM1_CNT write are evaluated once on the merged 16-bit value, and the
 * reset register fires whenever its byte lane is written with
 * ACPI_RESET_VALUE, whatever the access width.
 *
 * The system is in ACPI mode from the start (no SMI_CMD): SCI_EN reads 1.
 * SLP_EN reads 0. SLP_EN with SLP_TYP == ACPI_S5_SLP_TYP powers off; SLP_EN
 * with any other SLP_TYP (S1-S4 sleep) is ignored: nestvm does not sleep,
 * the write just stores SLP_TYP and the guest carries on as if woken.
 *
 * Events: the only PM1_STS bit the platform ever sets is PWRBTN_STS, when
 * the host presses the power button (acpi_pm_power_button). As the spec has
 * it, the status bit is set whatever PWRBTN_EN says; the SCI is asserted
 * while a status bit and its enable bit are both set (a level interrupt:
 * GSI 9, active high per the MADT), and drops when the guest writes 1 to the
 * status bit or clears the enable. PM1_EN keeps every bit the guest writes
 * (ACPICA reads GBL_EN back to decide the global lock is there), but only
 * PWRBTN takes part in the SCI. SCI_EN is hard-wired to 1, so the SCI never
 * turns into an SMI.
 */
#include "hw/acpi_pm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/device.h"
#include <stdlib.h>

#include "vmm/vm.h"

#define ACPI_PM1_STS_OFF   0x0
#define ACPI_PM1_EN_OFF    0x2
#define ACPI_PM1_CNT_OFF   0x4
#define ACPI_RESET_OFF     (ACPI_RESET_PORT - ACPI_PM_BASE)

/* GBL_RLS is write-only; SLP_EN reads as 0. */
#define ACPI_PM1_CNT_WO (ACPI_PM1_CNT_GBL_RLS | ACPI_PM1_CNT_SLP_EN)

struct acpi_pm_write {
	uint16_t sts_clear;
	uint16_t en;
	uint16_t cnt;
	bool cnt_written;
	bool reset_written;
	uint8_t reset_val;
};

static uint16_t acpi_pm_cnt_value(const struct acpi_pm *pm)
{
	return (uint16_t)((pm->st.pm1_cnt & ~ACPI_PM1_CNT_WO) | ACPI_PM1_CNT_SCI_EN);
}

static uint16_t acpi_pm_set_byte(uint16_t reg, unsigned int hi, uint8_t val)
{
	if (hi)
		return (uint16_t)((reg & 0x00ff) | (val << 8));
	return (uint16_t)((reg & 0xff00) | val);
}

static uint8_t acpi_pm_read_byte(const struct acpi_pm *pm, uint64_t off)
{
	switch (off) {
	case ACPI_PM1_STS_OFF:
	case ACPI_PM1_STS_OFF + 1:
		return (uint8_t)(pm->st.pm1_sts >> (8 * (off & 1)));
	case ACPI_PM1_EN_OFF:
	case ACPI_PM1_EN_OFF + 1:
		return (uint8_t)(pm->st.pm1_en >> (8 * (off & 1)));
	case ACPI_PM1_CNT_OFF:
	case ACPI_PM1_CNT_OFF + 1:
		return (uint8_t)(acpi_pm_cnt_value(pm) >> (8 * (off & 1)));
	case ACPI_RESET_OFF:
		return 0;
	default:
		return 0xff;
	}
}

static void acpi_pm_write_byte(struct acpi_pm_write *w, uint64_t off, uint8_t val)
{
	switch (off) {
	case ACPI_PM1_STS_OFF:
	case ACPI_PM1_STS_OFF + 1:
		w->sts_clear = acpi_pm_set_byte(w->sts_clear, off & 1, val);
		break;
	case ACPI_PM1_EN_OFF:
	case ACPI_PM1_EN_OFF + 1:
		w->en = acpi_pm_set_byte(w->en, off & 1, val);
		break;
	case ACPI_PM1_CNT_OFF:
	case ACPI_PM1_CNT_OFF + 1:
		w->cnt = acpi_pm_set_byte(w->cnt, off & 1, val);
		w->cnt_written = true;
		break;
	case ACPI_RESET_OFF:
		w->reset_written = true;
		w->reset_val = val;
		break;
	default:
		break;
	}
}

/* Drive the SCI from the status and enable bits; called with the lock held
 * so that the levels reach the irqchip in the order they were computed. */
static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	bool level = (pm->st.pm1_sts & pm->st.pm1_en & ACPI_PM1_STS_PWRBTN) != 0;

	if (level == pm->sci_level || !pm->sci_fn)
		return;
	pm->sci_level = level;
	pm->sci_fn(pm->sci_opaque, ACPI_SCI_IRQ, level);
}

/* Apply a decoded write; returns the stop reason it asks for, if any. */
static enum vm_stop_reason acpi_pm_apply(struct acpi_pm *pm, const struct acpi_pm_write *w)
{
	enum vm_stop_reason stop = VM_STOP_NONE;

	pm->st.pm1_sts &= (uint16_t)~w->sts_clear;
	pm->st.pm1_en = w->en;
	if (w->cnt_written) {
		unsigned int typ = (w->cnt & ACPI_PM1_CNT_SLP_TYP_MASK) >>
				   ACPI_PM1_CNT_SLP_TYP_SHIFT;

		pm->st.pm1_cnt = (uint16_t)((w->cnt & ~ACPI_PM1_CNT_WO) | ACPI_PM1_CNT_SCI_EN);
		if ((w->cnt & ACPI_PM1_CNT_SLP_EN) && typ == ACPI_S5_SLP_TYP)
			stop = VM_STOP_POWEROFF;
	}
	if (w->reset_written && w->reset_val == ACPI_RESET_VALUE)
		stop = VM_STOP_REBOOT;
	return stop;
}

void acpi_pm_init(struct acpi_pm *pm, vm_stop_fn stop_fn, void *stop_opaque)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->st.pm1_cnt = ACPI_PM1_CNT_SCI_EN;
	pm->stop_fn = stop_fn;
	pm->stop_opaque = stop_opaque;
}

void acpi_pm_set_sci(struct acpi_pm *pm, irq_line_fn fn, void *opaque)
{
	pthread_mutex_lock(&pm->lock);
	pm->sci_fn = fn;
	pm->sci_opaque = opaque;
	pm->sci_level = false;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->st.pm1_sts |= ACPI_PM1_STS_PWRBTN;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}

void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct acpi_pm *pm = opaque;
	enum vm_stop_reason stop = VM_STOP_NONE;
	uint32_t i;

	if (!data)
		return;
	pthread_mutex_lock(&pm->lock);
	if (is_write) {
		struct acpi_pm_write w = { .en = pm->st.pm1_en, .cnt = pm->st.pm1_cnt };

		for (i = 0; i < len && offset < ACPI_PM_LEN && i < ACPI_PM_LEN - offset; i++)
			acpi_pm_write_byte(&w, offset + i, data[i]);
		stop = acpi_pm_apply(pm, &w);
		acpi_pm_update_sci(pm);
	} else {
		for (i = 0; i < len; i++) {
			bool inside = offset < ACPI_PM_LEN && i < ACPI_PM_LEN - offset;
			data[i] = inside ? acpi_pm_read_byte(pm, offset + i) : 0xff;
		}
	}
	pthread_mutex_unlock(&pm->lock);
	if (stop != VM_STOP_NONE && pm->stop_fn)
		pm->stop_fn(pm->stop_opaque, stop);
}

/* ---- device state (src/vmm/device.h) ----
 *
 * struct acpi_pm_state as it is; the SCI is driven again from the restored
 * status and enable bits. */

static int acpi_pm_state_check(const struct acpi_pm_state *st, char *err, size_t errlen)
{
	if (st->pm1_sts & ~ACPI_PM1_STS_PWRBTN) {
		snprintf(err, errlen, "acpi-pm: pm1_sts 0x%04x has bits the platform never sets "
			 "(only 0x%04x)", st->pm1_sts, ACPI_PM1_STS_PWRBTN);
		return -EINVAL;
	}
	if (!(st->pm1_cnt & ACPI_PM1_CNT_SCI_EN) || (st->pm1_cnt & ACPI_PM1_CNT_WO)) {
		snprintf(err, errlen, "acpi-pm: pm1_cnt 0x%04x: SCI_EN must be set and GBL_RLS, "
			 "SLP_EN clear", st->pm1_cnt);
		return -EINVAL;
	}
	return 0;
}

static void acpi_pm_save(void *dev, void *state)
{
	struct acpi_pm *pm = dev;

	pthread_mutex_lock(&pm->lock);
	memcpy(state, &pm->st, sizeof(pm->st));
	pthread_mutex_unlock(&pm->lock);
}

static int acpi_pm_restore(void *dev, const void *state, size_t size, uint32_t version,
			   char *err, size_t errlen)
{
	struct acpi_pm *pm = dev;
	struct acpi_pm_state st;
	int r;

	r = device_state_check_header(&acpi_pm_class, size, version, err, errlen);
	if (r)
		return r;
	memcpy(&st, state, sizeof(st));
	r = acpi_pm_state_check(&st, err, errlen);
	if (r)
		return r;
	pthread_mutex_lock(&pm->lock);
	pm->st = st;
	/* Drive the SCI whatever it was. */
	pm->sci_level = !(pm->st.pm1_sts & pm->st.pm1_en & ACPI_PM1_STS_PWRBTN);
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

/* ---- the device class ---- */

static int acpi_pm_create(const struct device_host *h, const json_t *cfg, void **dev, char *err,
			  size_t errlen)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int r;

	(void)cfg;
	*dev = NULL;
	if (!pm)
		return -ENOMEM;
	acpi_pm_init(pm, vm_request_stop, h->vm);
	acpi_pm_set_sci(pm, vm_irq_line, h->vm);
	*dev = pm;
	r = iobus_register(&h->vm->pio, ACPI_PM_BASE, ACPI_PM_LEN, acpi_pm_io, pm, "acpi-pm");
	if (r)
		snprintf(err, errlen, "cannot register acpi-pm at port 0x%x: %s", ACPI_PM_BASE,
			 strerror(-r));
	return r;
}

static void acpi_pm_class_destroy(void *dev)
{
	if (!dev)
		return;
	acpi_pm_destroy(dev);
	free(dev);
}

const struct device_class acpi_pm_class = {
	.name = "acpi-pm",
	.quiesce = NULL,      /* no thread: accesses on vCPU threads, the button on the main one */
	.resume = NULL,
	.state_version = ACPI_PM_STATE_VERSION,
	.state_size = sizeof(struct acpi_pm_state),
	.save = acpi_pm_save,
	.restore = acpi_pm_restore,
	.board = true,
	.create = acpi_pm_create,
	.destroy = acpi_pm_class_destroy,
};
