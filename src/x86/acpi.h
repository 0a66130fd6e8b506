/* ACPI tables for the guest: RSDP, XSDT, FADT, MADT, DSDT.
 *
 * The stock Debian kernel finds its CPUs (MADT), its interrupt controller
 * (MADT IOAPIC), the PCI host bridge (DSDT PCI0, PNP0A03), how to power off
 * (FADT PM1a control block + DSDT _S5) and how to reset (FADT reset
 * register) from these. The DSDT is compiled from src/x86/dsdt.asl by iasl
 * at build time; the other tables are built here.
 */
#ifndef NESTVM_X86_ACPI_H
#define NESTVM_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_TABLES_BASE 0xe0000ULL   /* RSDP here, the tables after it */
#define ACPI_TABLES_SIZE 0x20000ULL   /* up to 1 MiB */
#define ACPI_MAX_CPUS    255

#define X86_LAPIC_BASE   0xfee00000ULL
#define X86_IOAPIC_BASE  0xfec00000ULL
#define X86_IOAPIC_PINS  24

struct acpi_config {
	unsigned int ncpus;  /* 1..ACPI_MAX_CPUS; APIC IDs 0..ncpus-1 */
};

/* Sum of bytes, for checksums: a valid table sums to 0. */
uint8_t acpi_checksum(const void *buf, size_t len);

/* Write every table into `buf`, which the guest sees at physical address
 * `base`. Returns 0 and sets *used, or -EINVAL (bad config) / -ENOSPC. The
 * RSDP is at `base` itself. */
int acpi_tables_build(uint8_t *buf, size_t size, uint64_t base, const struct acpi_config *cfg,
		      size_t *used);

/* The DSDT as compiled from src/x86/dsdt.asl (header included). */
const uint8_t *acpi_dsdt_aml(size_t *len);

/* PCI INTx routing declared by the DSDT's _PRT: the device in slot `slot`
 * (1..31) asserting pin `pin` (0..3 = INTA..INTD) raises IOAPIC input
 *	GSI = ACPI_PCI_GSI_BASE + (slot + pin) % ACPI_PCI_GSI_COUNT
 * The guest programs these inputs level-triggered, active-low (the _PRT
 * default); KVM's IOAPIC ignores polarity, so a device asserts its line with
 * level 1 and deasserts it with 0. Device models use this to pick the GSI
 * they drive. Slots out of range give 0 (no interrupt). */
#define ACPI_PCI_GSI_BASE  16
#define ACPI_PCI_GSI_COUNT 8
unsigned int acpi_pci_irq_gsi(unsigned int slot, unsigned int pin);

#endif
