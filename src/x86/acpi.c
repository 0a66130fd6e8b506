/* ACPI tables for the guest: RSDP, XSDT, FADT, MADT and the iasl-compiled
 * DSDT, laid out one after the other from `base`.
 *
 * Tables are written field by field, little-endian, at the offsets the ACPI
 * 6.0 specification gives; fields not written stay zero. Only what the guest
 * needs is filled in: no RSDT (XSDT only, RSDP revision 2), no PM timer, no
 * GPE blocks. The FACS is there because a platform with fixed hardware must
 * have one: its PM1_EN.GBL_EN bit sticks (hw/acpi_pm.c), so ACPICA declares
 * the global lock present and would take it in the FACS.
 */
#include "x86/acpi.h"

#include <errno.h>
#include <string.h>

#include "hw/acpi_pm.h"
#include "dsdt.hex"

#define ACPI_OEM_ID        "NESTVM"
#define ACPI_OEM_TABLE_ID  "NESTVM  "
#define ACPI_OEM_REVISION  1
#define ACPI_CREATOR_ID    "NSTV"
#define ACPI_CREATOR_REV   1
#define ACPI_TABLE_ALIGN   16
#define ACPI_FACS_ALIGN    64

/* Common table header (ACPI 6.0 5.2.6). */
#define HDR_SIGNATURE      0
#define HDR_LENGTH         4
#define HDR_REVISION       8
#define HDR_CHECKSUM       9
#define HDR_OEM_ID         10
#define HDR_OEM_TABLE_ID   16
#define HDR_OEM_REVISION   24
#define HDR_CREATOR_ID     28
#define HDR_CREATOR_REV    32
#define HDR_LEN            36

/* RSDP (5.2.5.3). */
#define RSDP_SIGNATURE     0
#define RSDP_CHECKSUM      8
#define RSDP_OEM_ID        9
#define RSDP_REVISION      15
#define RSDP_LENGTH        20
#define RSDP_XSDT_ADDR     24
#define RSDP_EXT_CHECKSUM  32
#define RSDP_V1_LEN        20
#define RSDP_LEN           36

/* FACS (5.2.10), version 2; no checksum. The global lock starts free. */
#define FACS_SIGNATURE     0
#define FACS_LENGTH        4
#define FACS_VERSION       32
#define FACS_VERSION_2     2
#define FACS_LEN           64

/* FADT (5.2.9), revision 6. */
#define FADT_REVISION      6
#define FADT_MINOR_REV     0
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT          40
#define FADT_SCI_INT       46
#define FADT_PM1A_EVT_BLK  56
#define FADT_PM1A_CNT_BLK  64
#define FADT_PM1_EVT_LEN   88
#define FADT_PM1_CNT_LEN   89
#define FADT_P_LVL2_LAT    96
#define FADT_P_LVL3_LAT    98
#define FADT_IAPC_BOOT     109
#define FADT_FLAGS         112
#define FADT_RESET_REG     116
#define FADT_RESET_VALUE   128
#define FADT_MINOR_VERSION 131
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT        140
#define FADT_X_PM1A_EVT    148
#define FADT_X_PM1A_CNT    172
#define FADT_HYPERVISOR_ID 268
#define FADT_LEN           276

/* FADT Flags. PWR_BUTTON clear: the power button is a fixed-feature button
 * (PWRBTN_STS/PWRBTN_EN in PM1, hw/acpi_pm.c), so Linux creates a LNXPWRBN
 * device, its button driver enables PWRBTN_EN and turns a press into a
 * KEY_POWER input event. SLP_BUTTON set: there is no sleep button (Linux
 * creates no LNXSLPBN and never enables its PM1 event). */
#define FADT_F_WBINVD        (1u << 0)
#define FADT_F_PROC_C1       (1u << 2)
#define FADT_F_SLP_BUTTON    (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)

/* IA-PC boot architecture flags. LEGACY_DEVICES and 8042 clear: Linux skips
 * PnPBIOS and the i8042 probe (reset through port 0x64 still works). */
#define IAPC_VGA_NOT_PRESENT (1u << 2)
#define IAPC_PCIE_ASPM_CTRL  (1u << 4)
#define IAPC_CMOS_RTC_ABSENT (1u << 5)

/* P_LVL2_LAT > 100 and P_LVL3_LAT > 1000: C2/C3 not supported. */
#define FADT_NO_C2_LAT 0x0fff
#define FADT_NO_C3_LAT 0x0fff

/* Generic Address Structure (5.2.3.2). */
#define GAS_LEN            12
#define GAS_SPACE_IO       1
#define GAS_ACCESS_BYTE    1
#define GAS_ACCESS_WORD    2

/* MADT (5.2.12), revision 4 (ACPI 6.0). */
#define MADT_REVISION      4
#define MADT_LAPIC_ADDR    36
#define MADT_FLAGS         40
#define MADT_ENTRIES       44
#define MADT_PCAT_COMPAT   (1u << 0)

#define MADT_LAPIC         0
#define MADT_LAPIC_LEN     8
#define MADT_LAPIC_ENABLED (1u << 0)
#define MADT_IOAPIC        1
#define MADT_IOAPIC_LEN    12
#define MADT_ISO           2
#define MADT_ISO_LEN       10
#define MADT_ISO_LEVEL_HIGH 0x000d  /* trigger level (11b), polarity high (01b) */
#define MADT_LAPIC_NMI     4
#define MADT_LAPIC_NMI_LEN 6
#define MADT_ALL_CPUS      0xff

#define XSDT_REVISION      1
#define XSDT_ENTRIES       2   /* FADT, MADT */

static void acpi_put8(uint8_t *p, size_t off, uint8_t v)
{
	p[off] = v;
}

static void acpi_put16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void acpi_put32(uint8_t *p, size_t off, uint32_t v)
{
	acpi_put16(p, off, (uint16_t)v);
	acpi_put16(p, off + 2, (uint16_t)(v >> 16));
}

static void acpi_put64(uint8_t *p, size_t off, uint64_t v)
{
	acpi_put32(p, off, (uint32_t)v);
	acpi_put32(p, off + 4, (uint32_t)(v >> 32));
}

/* Copy the characters of `s` (no terminator) into a fixed-width field. */
static void acpi_put_str(uint8_t *p, size_t off, const char *s)
{
	memcpy(p + off, s, strlen(s));
}

static void acpi_put_gas(uint8_t *p, size_t off, uint8_t space, uint8_t bit_width,
			 uint8_t access_size, uint64_t addr)
{
	acpi_put8(p, off, space);
	acpi_put8(p, off + 1, bit_width);
	acpi_put8(p, off + 2, 0);   /* bit offset */
	acpi_put8(p, off + 3, access_size);
	acpi_put64(p, off + 4, addr);
}

uint8_t acpi_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return sum;
}

/* Make the `len` bytes at `p` sum to 0 through the byte at `csum_off`. */
static void acpi_fix_checksum(uint8_t *p, size_t len, size_t csum_off)
{
	p[csum_off] = 0;
	p[csum_off] = (uint8_t)-acpi_checksum(p, len);
}

static void acpi_put_header(uint8_t *p, const char *sig, uint32_t len, uint8_t rev)
{
	acpi_put_str(p, HDR_SIGNATURE, sig);
	acpi_put32(p, HDR_LENGTH, len);
	acpi_put8(p, HDR_REVISION, rev);
	acpi_put_str(p, HDR_OEM_ID, ACPI_OEM_ID);
	acpi_put_str(p, HDR_OEM_TABLE_ID, ACPI_OEM_TABLE_ID);
	acpi_put32(p, HDR_OEM_REVISION, ACPI_OEM_REVISION);
	acpi_put_str(p, HDR_CREATOR_ID, ACPI_CREATOR_ID);
	acpi_put32(p, HDR_CREATOR_REV, ACPI_CREATOR_REV);
}

static void acpi_build_rsdp(uint8_t *p, uint64_t xsdt)
{
	acpi_put_str(p, RSDP_SIGNATURE, "RSD PTR ");
	acpi_put_str(p, RSDP_OEM_ID, ACPI_OEM_ID);
	acpi_put8(p, RSDP_REVISION, 2);
	acpi_put32(p, RSDP_LENGTH, RSDP_LEN);
	acpi_put64(p, RSDP_XSDT_ADDR, xsdt);
	acpi_fix_checksum(p, RSDP_V1_LEN, RSDP_CHECKSUM);
	acpi_fix_checksum(p, RSDP_LEN, RSDP_EXT_CHECKSUM);
}

static size_t acpi_xsdt_len(void)
{
	return HDR_LEN + XSDT_ENTRIES * 8;
}

static void acpi_build_xsdt(uint8_t *p, uint64_t fadt, uint64_t madt)
{
	size_t len = acpi_xsdt_len();

	acpi_put_header(p, "XSDT", (uint32_t)len, XSDT_REVISION);
	acpi_put64(p, HDR_LEN, fadt);
	acpi_put64(p, HDR_LEN + 8, madt);
	acpi_fix_checksum(p, len, HDR_CHECKSUM);
}

static void acpi_build_facs(uint8_t *p)
{
	acpi_put_str(p, FACS_SIGNATURE, "FACS");
	acpi_put32(p, FACS_LENGTH, FACS_LEN);
	acpi_put8(p, FACS_VERSION, FACS_VERSION_2);
}

static void acpi_build_fadt(uint8_t *p, uint64_t facs, uint64_t dsdt)
{
	acpi_put_header(p, "FACP", FADT_LEN, FADT_REVISION);
	/* The 32-bit FACS and DSDT fields only where they can hold the
	 * address; the X_ fields always (ACPICA warns when both are set and
	 * differ). */
	if (facs <= UINT32_MAX)
		acpi_put32(p, FADT_FIRMWARE_CTRL, (uint32_t)facs);
	if (dsdt <= UINT32_MAX)
		acpi_put32(p, FADT_DSDT, (uint32_t)dsdt);
	acpi_put64(p, FADT_X_FIRMWARE_CTRL, facs);
	acpi_put16(p, FADT_SCI_INT, ACPI_SCI_IRQ);
	/* SMI_CMD, ACPI_ENABLE, ACPI_DISABLE: 0, no mode transition: the
	 * platform is always in ACPI mode. */
	acpi_put32(p, FADT_PM1A_EVT_BLK, ACPI_PM1_EVT_PORT);
	acpi_put32(p, FADT_PM1A_CNT_BLK, ACPI_PM1_CNT_PORT);
	acpi_put8(p, FADT_PM1_EVT_LEN, ACPI_PM1_EVT_LEN);
	acpi_put8(p, FADT_PM1_CNT_LEN, ACPI_PM1_CNT_LEN);
	/* No PM timer, no GPE blocks, no PM2: their fields stay 0. */
	acpi_put16(p, FADT_P_LVL2_LAT, FADT_NO_C2_LAT);
	acpi_put16(p, FADT_P_LVL3_LAT, FADT_NO_C3_LAT);
	acpi_put16(p, FADT_IAPC_BOOT,
		   IAPC_VGA_NOT_PRESENT | IAPC_PCIE_ASPM_CTRL | IAPC_CMOS_RTC_ABSENT);
	acpi_put32(p, FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
			       FADT_F_RESET_REG_SUP);
	acpi_put_gas(p, FADT_RESET_REG, GAS_SPACE_IO, 8, GAS_ACCESS_BYTE, ACPI_RESET_PORT);
	acpi_put8(p, FADT_RESET_VALUE, ACPI_RESET_VALUE);
	acpi_put8(p, FADT_MINOR_VERSION, FADT_MINOR_REV);
	acpi_put64(p, FADT_X_DSDT, dsdt);
	/* PM1 status/enable and control are 16-bit registers. */
	acpi_put_gas(p, FADT_X_PM1A_EVT, GAS_SPACE_IO, ACPI_PM1_EVT_LEN * 8, GAS_ACCESS_WORD,
		     ACPI_PM1_EVT_PORT);
	acpi_put_gas(p, FADT_X_PM1A_CNT, GAS_SPACE_IO, ACPI_PM1_CNT_LEN * 8, GAS_ACCESS_WORD,
		     ACPI_PM1_CNT_PORT);
	acpi_put_str(p, FADT_HYPERVISOR_ID, "NESTVM");  /* as a 64-bit LE value */
	acpi_fix_checksum(p, FADT_LEN, HDR_CHECKSUM);
}

static size_t acpi_madt_len(unsigned int ncpus)
{
	return MADT_ENTRIES + ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN + MADT_ISO_LEN +
	       MADT_LAPIC_NMI_LEN;
}

static size_t acpi_madt_put_lapic(uint8_t *p, size_t off, unsigned int cpu)
{
	acpi_put8(p, off, MADT_LAPIC);
	acpi_put8(p, off + 1, MADT_LAPIC_LEN);
	acpi_put8(p, off + 2, (uint8_t)cpu);   /* ACPI processor UID */
	acpi_put8(p, off + 3, (uint8_t)cpu);   /* APIC ID */
	acpi_put32(p, off + 4, MADT_LAPIC_ENABLED);
	return off + MADT_LAPIC_LEN;
}

static size_t acpi_madt_put_ioapic(uint8_t *p, size_t off, uint8_t id)
{
	acpi_put8(p, off, MADT_IOAPIC);
	acpi_put8(p, off + 1, MADT_IOAPIC_LEN);
	acpi_put8(p, off + 2, id);
	acpi_put32(p, off + 4, (uint32_t)X86_IOAPIC_BASE);
	acpi_put32(p, off + 8, 0);             /* GSI base */
	return off + MADT_IOAPIC_LEN;
}

static size_t acpi_madt_put_iso(uint8_t *p, size_t off, uint8_t irq, uint32_t gsi,
				uint16_t flags)
{
	acpi_put8(p, off, MADT_ISO);
	acpi_put8(p, off + 1, MADT_ISO_LEN);
	acpi_put8(p, off + 2, 0);              /* bus: ISA */
	acpi_put8(p, off + 3, irq);
	acpi_put32(p, off + 4, gsi);
	acpi_put16(p, off + 8, flags);
	return off + MADT_ISO_LEN;
}

static size_t acpi_madt_put_lapic_nmi(uint8_t *p, size_t off)
{
	acpi_put8(p, off, MADT_LAPIC_NMI);
	acpi_put8(p, off + 1, MADT_LAPIC_NMI_LEN);
	acpi_put8(p, off + 2, MADT_ALL_CPUS);
	acpi_put16(p, off + 3, 0);             /* flags: bus defaults */
	acpi_put8(p, off + 5, 1);              /* LINT1 */
	return off + MADT_LAPIC_NMI_LEN;
}

/* No IRQ0 override: KVM's default routing wires the in-kernel PIT (IRQ 0)
 * to IOAPIC pin 0, so the ISA identity mapping holds. The SCI is
 * level-triggered, active-high, unlike the ISA default. */
static void acpi_build_madt(uint8_t *p, unsigned int ncpus)
{
	size_t len = acpi_madt_len(ncpus);
	size_t off = MADT_ENTRIES;
	unsigned int cpu;

	acpi_put_header(p, "APIC", (uint32_t)len, MADT_REVISION);
	acpi_put32(p, MADT_LAPIC_ADDR, (uint32_t)X86_LAPIC_BASE);
	acpi_put32(p, MADT_FLAGS, MADT_PCAT_COMPAT);
	for (cpu = 0; cpu < ncpus; cpu++)
		off = acpi_madt_put_lapic(p, off, cpu);
	/* IOAPIC ID: the first ID after the CPUs' (ncpus <= 255 fits). */
	off = acpi_madt_put_ioapic(p, off, (uint8_t)ncpus);
	off = acpi_madt_put_iso(p, off, ACPI_SCI_IRQ, ACPI_SCI_IRQ, MADT_ISO_LEVEL_HIGH);
	acpi_madt_put_lapic_nmi(p, off);
	acpi_fix_checksum(p, len, HDR_CHECKSUM);
}

const uint8_t *acpi_dsdt_aml(size_t *len)
{
	*len = sizeof(dsdt_aml_code);
	return dsdt_aml_code;
}

unsigned int acpi_pci_irq_gsi(unsigned int slot, unsigned int pin)
{
	if (slot < 1 || slot > 31 || pin > 3)
		return 0;
	return ACPI_PCI_GSI_BASE + (slot + pin) % ACPI_PCI_GSI_COUNT;
}

/* Offset (from `base`) of the next table of `len` bytes after `*off`, its
 * guest address aligned to `align` (a power of two). */
static size_t acpi_place(uint64_t base, size_t *off, size_t len, uint64_t align)
{
	uint64_t gpa = (base + *off + align - 1) & ~(align - 1);
	size_t at = (size_t)(gpa - base);

	*off = at + len;
	return at;
}

int acpi_tables_build(uint8_t *buf, size_t size, uint64_t base, const struct acpi_config *cfg,
		      size_t *used)
{
	size_t off = 0, xsdt, fadt, facs, madt, dsdt, madt_len;

	if (!buf || !cfg || !used || cfg->ncpus < 1 || cfg->ncpus > ACPI_MAX_CPUS)
		return -EINVAL;
	/* The RSDP must be 16-byte aligned; everything must lie below 2^64. */
	if (base % ACPI_TABLE_ALIGN || base + size < base)
		return -EINVAL;

	madt_len = acpi_madt_len(cfg->ncpus);
	acpi_place(base, &off, RSDP_LEN, ACPI_TABLE_ALIGN);
	xsdt = acpi_place(base, &off, acpi_xsdt_len(), ACPI_TABLE_ALIGN);
	fadt = acpi_place(base, &off, FADT_LEN, ACPI_TABLE_ALIGN);
	facs = acpi_place(base, &off, FACS_LEN, ACPI_FACS_ALIGN);
	madt = acpi_place(base, &off, madt_len, ACPI_TABLE_ALIGN);
	dsdt = acpi_place(base, &off, sizeof(dsdt_aml_code), ACPI_TABLE_ALIGN);
	if (off > size)
		return -ENOSPC;

	memset(buf, 0, off);
	acpi_build_rsdp(buf, base + xsdt);
	acpi_build_xsdt(buf + xsdt, base + fadt, base + madt);
	acpi_build_fadt(buf + fadt, base + facs, base + dsdt);
	acpi_build_facs(buf + facs);
	acpi_build_madt(buf + madt, cfg->ncpus);
	memcpy(buf + dsdt, dsdt_aml_code, sizeof(dsdt_aml_code));
	*used = off;
	return 0;
}
