/* ACPI fixed hardware: PM1a event and control blocks and the reset register,
 * at the I/O ports the FADT (x86/acpi.c) names. A write of SLP_TYP=S5 with
 * SLP_EN powers the VM off; a write of ACPI_RESET_VALUE to the reset register
 * resets it (nestvm ends the VM on reset: a reboot is an exit). The fixed
 * power button: acpi_pm_power_button() sets PWRBTN_STS, and the SCI (GSI 9,
 * level) is high while PWRBTN_STS and PWRBTN_EN are both set. */
#ifndef NESTVM_HW_ACPI_PM_H
#define NESTVM_HW_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"
#include "hw/hw.h"

#define ACPI_PM_BASE        0x600
#define ACPI_PM_LEN         0x20
#define ACPI_PM1_EVT_PORT   (ACPI_PM_BASE + 0x0) /* 4 bytes: PM1_STS(2), PM1_EN(2) */
#define ACPI_PM1_EVT_LEN    4
#define ACPI_PM1_CNT_PORT   (ACPI_PM_BASE + 0x4) /* 2 bytes */
#define ACPI_PM1_CNT_LEN    2
#define ACPI_RESET_PORT     (ACPI_PM_BASE + 0x8) /* 1 byte */
#define ACPI_RESET_VALUE    0x01
#define ACPI_SCI_IRQ        9
#define ACPI_S5_SLP_TYP     5   /* must match _S5 in src/x86/dsdt.asl */

#define ACPI_PM1_CNT_SCI_EN   (1u << 0)
#define ACPI_PM1_CNT_GBL_RLS  (1u << 2)  /* write-only, reads 0 */
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK  (7u << 10)
#define ACPI_PM1_CNT_SLP_EN   (1u << 13)

/* PM1_STS / PM1_EN bits (ACPI 6.0 4.8.3.1): only the power button is ever
 * raised here. */
#define ACPI_PM1_STS_PWRBTN   (1u << 8)  /* write-1-to-clear */
#define ACPI_PM1_EN_PWRBTN    (1u << 8)

/* The guest-visible state (acpi_pm_class, version ACPI_PM_STATE_VERSION). */
struct acpi_pm_state {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
};

#define ACPI_PM_STATE_VERSION 1

struct acpi_pm {
	pthread_mutex_t lock;
	struct acpi_pm_state st;
	vm_stop_fn stop_fn;
	void *stop_opaque;
	irq_line_fn sci_fn;      /* NULL: no SCI wired (the status bits still work) */
	void *sci_opaque;
	bool sci_level;          /* what the SCI line was last driven to (derived from st) */
};

/* The device class (src/vmm/device.h): dev is a struct acpi_pm *. */
struct device_class;
extern const struct device_class acpi_pm_class;

void acpi_pm_init(struct acpi_pm *pm, vm_stop_fn stop_fn, void *stop_opaque);
/* Wire the SCI: fn(opaque, ACPI_SCI_IRQ, level). Call before the guest runs. */
void acpi_pm_set_sci(struct acpi_pm *pm, irq_line_fn fn, void *opaque);
void acpi_pm_destroy(struct acpi_pm *pm);
/* Press the fixed power button (any thread): sets PWRBTN_STS; the SCI goes
 * high if the guest enabled PWRBTN_EN, and stays high until the guest clears
 * the status bit (write 1) or the enable bit. */
void acpi_pm_power_button(struct acpi_pm *pm);
/* iobus handler for [ACPI_PM_BASE, ACPI_PM_BASE + ACPI_PM_LEN). Any width
 * at any offset, decoded byte lane by byte lane (see acpi_pm.c); unused
 * offsets read 0xff. SLP_EN with an SLP_TYP other than S5 is ignored.
 * stop_fn is called after the device lock is dropped. */
void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* The board's ACPI fixed hardware (ports 0x600-0x61f, SCI). */
extern const struct device_class acpi_pm_class;

#endif
