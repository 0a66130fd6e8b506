/* ACPI tables: build them into a buffer and read them back the way a guest
 * does, from the RSDP through the XSDT to every table. Offsets below are
 * taken from the ACPI 6.0 specification, independently of src/x86/acpi.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hw/acpi_pm.h"
#include "x86/acpi.h"

static uint8_t tables[ACPI_TABLES_SIZE];

struct parsed {
	const uint8_t *buf;
	size_t used;
	uint64_t base;
	const uint8_t *xsdt, *fadt, *madt, *dsdt;
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* Guest physical address -> pointer into the buffer; the whole range must
 * lie within [base, base + used). */
static const uint8_t *gpa_ptr(const struct parsed *t, uint64_t gpa, size_t len)
{
	assert_true(gpa >= t->base);
	assert_true(gpa - t->base <= t->used);
	assert_true(len <= t->used - (gpa - t->base));
	return t->buf + (gpa - t->base);
}

/* Map a table with a standard header and check length and checksum. */
static const uint8_t *map_table(const struct parsed *t, uint64_t gpa, const char *sig)
{
	const uint8_t *h = gpa_ptr(t, gpa, 36);
	uint32_t len = rd32(h + 4);

	assert_memory_equal(h, sig, 4);
	assert_true(len >= 36);
	h = gpa_ptr(t, gpa, len);
	assert_int_equal(acpi_checksum(h, len), 0);
	assert_int_equal(gpa % 8, 0);
	return h;
}

static void check_oem(const uint8_t *h)
{
	assert_memory_equal(h + 10, "NESTVM", 6);
	assert_memory_equal(h + 16, "NESTVM  ", 8);
	assert_memory_equal(h + 28, "NSTV", 4);
}

/* Build for `ncpus` at `base`, then walk RSDP -> XSDT -> FADT/MADT -> DSDT. */
static void build_and_parse(struct parsed *t, unsigned int ncpus, uint64_t base)
{
	struct acpi_config cfg = { .ncpus = ncpus };
	const uint8_t *rsdp;
	uint32_t xlen;
	size_t i, n;

	memset(tables, 0xa5, sizeof(tables));
	memset(t, 0, sizeof(*t));
	assert_int_equal(acpi_tables_build(tables, sizeof(tables), base, &cfg, &t->used), 0);
	assert_true(t->used <= sizeof(tables));
	t->buf = tables;
	t->base = base;

	rsdp = gpa_ptr(t, base, 36);
	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(acpi_checksum(rsdp, 20), 0);
	assert_int_equal(rsdp[15], 2);
	assert_int_equal(rd32(rsdp + 20), 36);
	assert_int_equal(acpi_checksum(rsdp, 36), 0);
	assert_memory_equal(rsdp + 9, "NESTVM", 6);
	assert_int_equal(rd32(rsdp + 16), 0);   /* no RSDT */

	t->xsdt = map_table(t, rd64(rsdp + 24), "XSDT");
	check_oem(t->xsdt);
	xlen = rd32(t->xsdt + 4);
	assert_int_equal((xlen - 36) % 8, 0);
	n = (xlen - 36) / 8;
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		uint64_t gpa = rd64(t->xsdt + 36 + 8 * i);
		const uint8_t *h = gpa_ptr(t, gpa, 36);

		if (!memcmp(h, "FACP", 4)) {
			assert_null(t->fadt);
			t->fadt = map_table(t, gpa, "FACP");
		} else if (!memcmp(h, "APIC", 4)) {
			assert_null(t->madt);
			t->madt = map_table(t, gpa, "APIC");
		} else {
			fail_msg("unexpected table %.4s in the XSDT", (const char *)h);
		}
	}
	assert_non_null(t->fadt);
	assert_non_null(t->madt);
	check_oem(t->fadt);
	check_oem(t->madt);
	t->dsdt = map_table(t, rd64(t->fadt + 140), "DSDT");
}

static void test_checksum(void **state)
{
	const uint8_t bytes[] = { 1, 2, 3, 0xfa };

	(void)state;
	assert_int_equal(acpi_checksum(bytes, 0), 0);
	assert_int_equal(acpi_checksum(bytes, 3), 6);
	assert_int_equal(acpi_checksum(bytes, 4), 0);
}

static void test_walk(void **state)
{
	static const unsigned int counts[] = { 1, 2, 4, 255 };
	struct parsed t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		build_and_parse(&t, counts[i], ACPI_TABLES_BASE);
}

static void test_fadt(void **state)
{
	struct parsed t;
	const uint8_t *f, *g;
	uint32_t flags;
	uint16_t iapc;

	(void)state;
	build_and_parse(&t, 2, ACPI_TABLES_BASE);
	f = t.fadt;
	assert_int_equal(rd32(f + 4), 276);
	assert_int_equal(f[8], 6);
	assert_int_equal(rd32(f + 36), rd64(f + 132));    /* FACS == X_FACS */
	assert_int_equal(rd32(f + 40), rd64(f + 140));    /* DSDT == X_DSDT */
	assert_int_equal(rd16(f + 46), ACPI_SCI_IRQ);
	assert_int_equal(rd32(f + 48), 0);                /* SMI_CMD */
	assert_int_equal(rd32(f + 56), ACPI_PM1_EVT_PORT);
	assert_int_equal(rd32(f + 60), 0);                /* PM1b */
	assert_int_equal(rd32(f + 64), ACPI_PM1_CNT_PORT);
	assert_int_equal(rd32(f + 76), 0);                /* PM timer */
	assert_int_equal(rd32(f + 80), 0);                /* GPE0 */
	assert_int_equal(rd32(f + 84), 0);                /* GPE1 */
	assert_int_equal(f[88], ACPI_PM1_EVT_LEN);
	assert_int_equal(f[89], ACPI_PM1_CNT_LEN);
	assert_int_equal(f[91], 0);                       /* PM_TMR_LEN */
	assert_int_equal(f[92], 0);
	assert_int_equal(f[93], 0);

	iapc = rd16(f + 109);
	assert_int_equal(iapc & (1u << 1), 0);            /* no 8042 */
	assert_int_not_equal(iapc & (1u << 2), 0);        /* no VGA */
	assert_int_equal(iapc & (1u << 3), 0);            /* MSI ok */
	assert_int_not_equal(iapc & (1u << 5), 0);        /* no CMOS RTC */

	flags = rd32(f + 112);
	assert_int_not_equal(flags & (1u << 10), 0);      /* RESET_REG_SUP */
	assert_int_equal(flags & (1u << 20), 0);          /* HW_REDUCED_ACPI */
	assert_int_equal(flags & (1u << 4), 0);           /* PWR_BUTTON clear: fixed button */
	assert_int_not_equal(flags & (1u << 5), 0);       /* SLP_BUTTON set: none */

	g = f + 116;                                      /* RESET_REG */
	assert_int_equal(g[0], 1);
	assert_int_equal(g[1], 8);
	assert_int_equal(g[2], 0);
	assert_int_equal(rd64(g + 4), ACPI_RESET_PORT);
	assert_int_equal(f[128], ACPI_RESET_VALUE);

	g = f + 148;                                      /* X_PM1a_EVT_BLK */
	assert_int_equal(g[0], 1);
	assert_int_equal(g[1], ACPI_PM1_EVT_LEN * 8);
	assert_int_equal(rd64(g + 4), ACPI_PM1_EVT_PORT);
	assert_int_equal(rd64(f + 160 + 4), 0);           /* X_PM1b_EVT_BLK */
	g = f + 172;                                      /* X_PM1a_CNT_BLK */
	assert_int_equal(g[0], 1);
	assert_int_equal(g[1], ACPI_PM1_CNT_LEN * 8);
	assert_int_equal(rd64(g + 4), ACPI_PM1_CNT_PORT);
	assert_int_equal(rd64(f + 208 + 4), 0);           /* X_PM_TMR_BLK */
	assert_int_equal(rd64(f + 220 + 4), 0);           /* X_GPE0_BLK */
	assert_memory_equal(f + 268, "NESTVM\0\0", 8);    /* hypervisor vendor */
}

/* The FACS (no header checksum): 64-byte aligned, version 2, lock free. */
static void test_facs(void **state)
{
	struct parsed t;
	const uint8_t *facs;
	uint64_t gpa;
	size_t i;

	(void)state;
	build_and_parse(&t, 1, ACPI_TABLES_BASE);
	gpa = rd64(t.fadt + 132);
	assert_int_equal(gpa % 64, 0);
	facs = gpa_ptr(&t, gpa, 64);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(rd32(facs + 4), 64);
	assert_int_equal(rd32(facs + 16), 0);             /* global lock */
	assert_int_equal(rd32(facs + 20), 0);             /* flags */
	assert_int_equal(facs[32], 2);
	for (i = 33; i < 64; i++)
		assert_int_equal(facs[i], 0);

	build_and_parse(&t, 1, 0x100000000ULL);
	assert_int_equal(rd32(t.fadt + 36), 0);
	assert_int_equal(rd64(t.fadt + 132) % 64, 0);
}

static void test_dsdt_is_aml(void **state)
{
	struct parsed t;
	const uint8_t *aml;
	size_t len;

	(void)state;
	build_and_parse(&t, 1, ACPI_TABLES_BASE);
	aml = acpi_dsdt_aml(&len);
	assert_int_equal(rd32(t.dsdt + 4), len);
	assert_memory_equal(t.dsdt, aml, len);
	assert_int_equal(acpi_checksum(aml, len), 0);
	assert_int_equal(t.dsdt[8], 2);                   /* 64-bit integers */
}

static void check_madt(unsigned int ncpus)
{
	bool seen[256] = { false };
	struct parsed t;
	const uint8_t *m;
	uint32_t len, off;
	unsigned int lapics = 0, ioapics = 0, sci_iso = 0, nmis = 0, ioapic_id = 0;
	unsigned int i;

	build_and_parse(&t, ncpus, ACPI_TABLES_BASE);
	m = t.madt;
	len = rd32(m + 4);
	assert_true(m[8] >= 4);
	assert_int_equal(rd32(m + 36), 0xfee00000u);
	assert_int_equal(rd32(m + 40) & 1, 1);            /* PCAT_COMPAT */

	for (off = 44; off < len; off += m[off + 1]) {
		const uint8_t *e = m + off;

		assert_true(off + 2 <= len);
		assert_true(e[1] >= 2);
		assert_true(off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_true(e[3] < ncpus);
			assert_false(seen[e[3]]);
			seen[e[3]] = true;
			assert_int_equal(e[2], e[3]);
			assert_int_equal(rd32(e + 4) & 1, 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			ioapic_id = e[2];
			assert_int_equal(rd32(e + 4), 0xfec00000u);
			assert_int_equal(rd32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);
			/* no IRQ0 override: KVM routes the PIT to pin 0 */
			assert_int_not_equal(e[3], 0);
			if (e[3] == ACPI_SCI_IRQ) {
				assert_int_equal(rd32(e + 4), ACPI_SCI_IRQ);
				assert_int_equal(rd16(e + 8), 0x000d);
				sci_iso++;
			}
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_int_equal(off, len);
	assert_int_equal(lapics, ncpus);
	for (i = 0; i < ncpus; i++)
		assert_true(seen[i]);
	assert_int_equal(ioapics, 1);
	assert_false(seen[ioapic_id]);
	assert_int_equal(sci_iso, 1);
	assert_int_equal(nmis, 1);
}

static void test_madt(void **state)
{
	(void)state;
	check_madt(1);
	check_madt(2);
	check_madt(8);
	check_madt(ACPI_MAX_CPUS);
}

static void test_bad_config(void **state)
{
	struct acpi_config cfg = { .ncpus = 0 };
	size_t used = 12345;

	(void)state;
	assert_int_equal(acpi_tables_build(tables, sizeof(tables), ACPI_TABLES_BASE, &cfg, &used),
			 -EINVAL);
	cfg.ncpus = ACPI_MAX_CPUS + 1;
	assert_int_equal(acpi_tables_build(tables, sizeof(tables), ACPI_TABLES_BASE, &cfg, &used),
			 -EINVAL);
	cfg.ncpus = 1;
	assert_int_equal(acpi_tables_build(tables, sizeof(tables), ACPI_TABLES_BASE + 8, &cfg,
					   &used), -EINVAL);
	assert_int_equal(used, 12345);
}

static void test_too_small(void **state)
{
	struct acpi_config cfg = { .ncpus = 4 };
	size_t used = 0, small = 12345;

	(void)state;
	assert_int_equal(acpi_tables_build(tables, sizeof(tables), ACPI_TABLES_BASE, &cfg, &used),
			 0);
	memset(tables, 0xa5, sizeof(tables));
	assert_int_equal(acpi_tables_build(tables, used - 1, ACPI_TABLES_BASE, &cfg, &small),
			 -ENOSPC);
	assert_int_equal(small, 12345);
	assert_int_equal(tables[0], 0xa5);                /* nothing written */
	assert_int_equal(acpi_tables_build(tables, 0, ACPI_TABLES_BASE, &cfg, &small), -ENOSPC);
	assert_int_equal(acpi_tables_build(tables, used, ACPI_TABLES_BASE, &cfg, &small), 0);
	assert_int_equal(small, used);
}

/* Above 4 GiB the 32-bit DSDT pointer is left 0 and X_DSDT carries it. */
static void test_high_base(void **state)
{
	struct parsed t;

	(void)state;
	build_and_parse(&t, 2, 0x100000000ULL);
	assert_int_equal(rd32(t.fadt + 40), 0);
	assert_true(rd64(t.fadt + 140) > 0x100000000ULL);
}

/* AML integer constants: ZeroOp, OneOp, OnesOp and the Byte/Word/DWord/QWord
 * prefixes. Returns the bytes consumed, or 0. */
static size_t aml_int(const uint8_t *p, size_t avail, uint64_t *v)
{
	size_t n = 0, i;

	if (!avail)
		return 0;
	switch (p[0]) {
	case 0x00: *v = 0; return 1;
	case 0x01: *v = 1; return 1;
	case 0xff: *v = UINT64_MAX; return 1;
	case 0x0a: n = 1; break;
	case 0x0b: n = 2; break;
	case 0x0c: n = 4; break;
	case 0x0e: n = 8; break;
	default: return 0;
	}
	if (avail < 1 + n)
		return 0;
	*v = 0;
	for (i = 0; i < n; i++)
		*v |= (uint64_t)p[1 + i] << (8 * i);
	return 1 + n;
}

/* PkgLength: returns its encoded size, or 0. */
static size_t aml_pkglen(const uint8_t *p, size_t avail, size_t *len)
{
	size_t follow, i;

	if (!avail)
		return 0;
	follow = p[0] >> 6;
	if (avail < 1 + follow)
		return 0;
	if (!follow) {
		*len = p[0] & 0x3f;
		return 1;
	}
	*len = p[0] & 0x0f;
	for (i = 0; i < follow; i++)
		*len |= (size_t)p[1 + i] << (4 + 8 * i);
	return 1 + follow;
}

/* If a Package of `n` integers starts at `p`, store them and return true. */
static bool aml_int_package(const uint8_t *p, size_t avail, uint64_t *vals, size_t n)
{
	size_t pos = 1, plen, k, i;

	if (avail < 3 || p[0] != 0x12)
		return false;
	k = aml_pkglen(p + pos, avail - pos, &plen);
	if (!k || plen > avail - 1)
		return false;
	pos += k;
	if (pos >= avail || p[pos] != n)
		return false;
	pos++;
	for (i = 0; i < n; i++) {
		k = aml_int(p + pos, avail - pos, &vals[i]);
		if (!k)
			return false;
		pos += k;
	}
	return pos == 1 + plen;
}

static void test_dsdt_s5(void **state)
{
	const uint8_t *aml;
	uint64_t v[4];
	size_t len, i, found = 0;

	(void)state;
	aml = acpi_dsdt_aml(&len);
	for (i = 36; i + 4 < len; i++) {
		/* NameOp "_S5_" Package () { SLP_TYPa, SLP_TYPb, 0, 0 } */
		if (aml[i] != 0x08 || memcmp(aml + i + 1, "_S5_", 4))
			continue;
		assert_true(aml_int_package(aml + i + 5, len - i - 5, v, 4));
		assert_int_equal(v[0], ACPI_S5_SLP_TYP);
		found++;
	}
	assert_int_equal(found, 1);
}

/* Every _PRT entry { slot << 16 | 0xFFFF, pin, 0, GSI } agrees with
 * acpi_pci_irq_gsi(), and slots 1..31 x INTA..INTD are all there once. */
static void test_dsdt_prt(void **state)
{
	unsigned int seen[32][4];
	const uint8_t *aml;
	uint64_t v[4];
	size_t len, i, entries = 0;
	unsigned int slot, pin;

	(void)state;
	memset(seen, 0, sizeof(seen));
	aml = acpi_dsdt_aml(&len);
	assert_non_null(memmem(aml, len, "_PRT", 4));
	for (i = 36; i < len; i++) {
		if (!aml_int_package(aml + i, len - i, v, 4) || (v[0] & 0xffff) != 0xffff)
			continue;
		slot = (unsigned int)(v[0] >> 16);
		assert_true(slot >= 1 && slot <= 31);
		assert_true(v[1] <= 3);
		pin = (unsigned int)v[1];
		assert_int_equal(v[2], 0);
		assert_int_equal(v[3], acpi_pci_irq_gsi(slot, pin));
		assert_true(v[3] >= 16 && v[3] < X86_IOAPIC_PINS);
		seen[slot][pin]++;
		entries++;
	}
	assert_int_equal(entries, 31 * 4);
	for (slot = 1; slot < 32; slot++)
		for (pin = 0; pin < 4; pin++)
			assert_int_equal(seen[slot][pin], 1);
	assert_int_equal(acpi_pci_irq_gsi(0, 0), 0);
	assert_int_equal(acpi_pci_irq_gsi(32, 0), 0);
	assert_int_equal(acpi_pci_irq_gsi(1, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_facs),
		cmocka_unit_test(test_dsdt_is_aml),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_high_base),
		cmocka_unit_test(test_dsdt_s5),
		cmocka_unit_test(test_dsdt_prt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
