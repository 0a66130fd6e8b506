/*
 * nestvm DSDT. Compiled at build time by iasl into build/gen/dsdt.hex
 * (dsdt_aml_code[]), which src/x86/acpi.c copies into guest memory.
 *
 * The platform: ACPI fixed hardware at I/O 0x600 (src/hw/acpi_pm.h), one PCI
 * host bridge (configuration mechanism #1 at 0xCF8, src/hw/pci.h) whose
 * devices interrupt through the IOAPIC. CPUs, the IOAPIC and the SCI come
 * from the MADT and FADT; there are no processor objects here, and no
 * PS/2 controller, RTC or VGA: the guest does not need them described.
 */
DefinitionBlock ("", "DSDT", 2, "NESTVM", "NESTVMDS", 1)
{
	/* S5 (soft off): SLP_TYPa, SLP_TYPb. Must match ACPI_S5_SLP_TYP. */
	Name (_S5, Package () { 5, 5, 0, 0 })

	Scope (\_SB)
	{
		Device (PCI0)
		{
			/* No _ADR: iasl rejects a device with both _HID and _ADR
			 * (warning 3073), and a root bridge is found by _HID. */
			Name (_HID, EisaId ("PNP0A03"))
			Name (_UID, Zero)
			Name (_SEG, Zero)
			Name (_BBN, Zero)

			Name (_CRS, ResourceTemplate ()
			{
				WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
					0x0000,	/* granularity */
					0x0000,	/* min */
					0x00FF,	/* max */
					0x0000,	/* translation */
					0x0100)	/* length */
				IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
				WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
					0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8)
				WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
					0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300)
				/* PCI_MMIO_BASE .. PCI_MMIO_BASE + PCI_MMIO_SIZE - 1 */
				DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed,
					NonCacheable, ReadWrite,
					0x00000000, 0xC0000000, 0xFEBFFFFF, 0x00000000, 0x3EC00000)
			})

			/*
			 * Interrupt routing: INTx of the device in slot S (1..31)
			 * goes straight to IOAPIC input
			 *	GSI = 16 + ((S + pin) % 8), pin 0..3 = INTA..INTD
			 * (level-triggered, active-low by PCI convention; no link
			 * devices, source 0). acpi_pci_irq_gsi() in
			 * src/x86/acpi.c computes the same; the unit test checks
			 * that they agree. Entries: { address (slot << 16 | 0xFFFF),
			 * pin, source, GSI }.
			 */
			Name (_PRT, Package ()
			{
				Package () { 0x0001FFFF, 0, 0, 17 },
				Package () { 0x0001FFFF, 1, 0, 18 },
				Package () { 0x0001FFFF, 2, 0, 19 },
				Package () { 0x0001FFFF, 3, 0, 20 },
				Package () { 0x0002FFFF, 0, 0, 18 },
				Package () { 0x0002FFFF, 1, 0, 19 },
				Package () { 0x0002FFFF, 2, 0, 20 },
				Package () { 0x0002FFFF, 3, 0, 21 },
				Package () { 0x0003FFFF, 0, 0, 19 },
				Package () { 0x0003FFFF, 1, 0, 20 },
				Package () { 0x0003FFFF, 2, 0, 21 },
				Package () { 0x0003FFFF, 3, 0, 22 },
				Package () { 0x0004FFFF, 0, 0, 20 },
				Package () { 0x0004FFFF, 1, 0, 21 },
				Package () { 0x0004FFFF, 2, 0, 22 },
				Package () { 0x0004FFFF, 3, 0, 23 },
				Package () { 0x0005FFFF, 0, 0, 21 },
				Package () { 0x0005FFFF, 1, 0, 22 },
				Package () { 0x0005FFFF, 2, 0, 23 },
				Package () { 0x0005FFFF, 3, 0, 16 },
				Package () { 0x0006FFFF, 0, 0, 22 },
				Package () { 0x0006FFFF, 1, 0, 23 },
				Package () { 0x0006FFFF, 2, 0, 16 },
				Package () { 0x0006FFFF, 3, 0, 17 },
				Package () { 0x0007FFFF, 0, 0, 23 },
				Package () { 0x0007FFFF, 1, 0, 16 },
				Package () { 0x0007FFFF, 2, 0, 17 },
				Package () { 0x0007FFFF, 3, 0, 18 },
				Package () { 0x0008FFFF, 0, 0, 16 },
				Package () { 0x0008FFFF, 1, 0, 17 },
				Package () { 0x0008FFFF, 2, 0, 18 },
				Package () { 0x0008FFFF, 3, 0, 19 },
				Package () { 0x0009FFFF, 0, 0, 17 },
				Package () { 0x0009FFFF, 1, 0, 18 },
				Package () { 0x0009FFFF, 2, 0, 19 },
				Package () { 0x0009FFFF, 3, 0, 20 },
				Package () { 0x000AFFFF, 0, 0, 18 },
				Package () { 0x000AFFFF, 1, 0, 19 },
				Package () { 0x000AFFFF, 2, 0, 20 },
				Package () { 0x000AFFFF, 3, 0, 21 },
				Package () { 0x000BFFFF, 0, 0, 19 },
				Package () { 0x000BFFFF, 1, 0, 20 },
				Package () { 0x000BFFFF, 2, 0, 21 },
				Package () { 0x000BFFFF, 3, 0, 22 },
				Package () { 0x000CFFFF, 0, 0, 20 },
				Package () { 0x000CFFFF, 1, 0, 21 },
				Package () { 0x000CFFFF, 2, 0, 22 },
				Package () { 0x000CFFFF, 3, 0, 23 },
				Package () { 0x000DFFFF, 0, 0, 21 },
				Package () { 0x000DFFFF, 1, 0, 22 },
				Package () { 0x000DFFFF, 2, 0, 23 },
				Package () { 0x000DFFFF, 3, 0, 16 },
				Package () { 0x000EFFFF, 0, 0, 22 },
				Package () { 0x000EFFFF, 1, 0, 23 },
				Package () { 0x000EFFFF, 2, 0, 16 },
				Package () { 0x000EFFFF, 3, 0, 17 },
				Package () { 0x000FFFFF, 0, 0, 23 },
				Package () { 0x000FFFFF, 1, 0, 16 },
				Package () { 0x000FFFFF, 2, 0, 17 },
				Package () { 0x000FFFFF, 3, 0, 18 },
				Package () { 0x0010FFFF, 0, 0, 16 },
				Package () { 0x0010FFFF, 1, 0, 17 },
				Package () { 0x0010FFFF, 2, 0, 18 },
				Package () { 0x0010FFFF, 3, 0, 19 },
				Package () { 0x0011FFFF, 0, 0, 17 },
				Package () { 0x0011FFFF, 1, 0, 18 },
				Package () { 0x0011FFFF, 2, 0, 19 },
				Package () { 0x0011FFFF, 3, 0, 20 },
				Package () { 0x0012FFFF, 0, 0, 18 },
				Package () { 0x0012FFFF, 1, 0, 19 },
				Package () { 0x0012FFFF, 2, 0, 20 },
				Package () { 0x0012FFFF, 3, 0, 21 },
				Package () { 0x0013FFFF, 0, 0, 19 },
				Package () { 0x0013FFFF, 1, 0, 20 },
				Package () { 0x0013FFFF, 2, 0, 21 },
				Package () { 0x0013FFFF, 3, 0, 22 },
				Package () { 0x0014FFFF, 0, 0, 20 },
				Package () { 0x0014FFFF, 1, 0, 21 },
				Package () { 0x0014FFFF, 2, 0, 22 },
				Package () { 0x0014FFFF, 3, 0, 23 },
				Package () { 0x0015FFFF, 0, 0, 21 },
				Package () { 0x0015FFFF, 1, 0, 22 },
				Package () { 0x0015FFFF, 2, 0, 23 },
				Package () { 0x0015FFFF, 3, 0, 16 },
				Package () { 0x0016FFFF, 0, 0, 22 },
				Package () { 0x0016FFFF, 1, 0, 23 },
				Package () { 0x0016FFFF, 2, 0, 16 },
				Package () { 0x0016FFFF, 3, 0, 17 },
				Package () { 0x0017FFFF, 0, 0, 23 },
				Package () { 0x0017FFFF, 1, 0, 16 },
				Package () { 0x0017FFFF, 2, 0, 17 },
				Package () { 0x0017FFFF, 3, 0, 18 },
				Package () { 0x0018FFFF, 0, 0, 16 },
				Package () { 0x0018FFFF, 1, 0, 17 },
				Package () { 0x0018FFFF, 2, 0, 18 },
				Package () { 0x0018FFFF, 3, 0, 19 },
				Package () { 0x0019FFFF, 0, 0, 17 },
				Package () { 0x0019FFFF, 1, 0, 18 },
				Package () { 0x0019FFFF, 2, 0, 19 },
				Package () { 0x0019FFFF, 3, 0, 20 },
				Package () { 0x001AFFFF, 0, 0, 18 },
				Package () { 0x001AFFFF, 1, 0, 19 },
				Package () { 0x001AFFFF, 2, 0, 20 },
				Package () { 0x001AFFFF, 3, 0, 21 },
				Package () { 0x001BFFFF, 0, 0, 19 },
				Package () { 0x001BFFFF, 1, 0, 20 },
				Package () { 0x001BFFFF, 2, 0, 21 },
				Package () { 0x001BFFFF, 3, 0, 22 },
				Package () { 0x001CFFFF, 0, 0, 20 },
				Package () { 0x001CFFFF, 1, 0, 21 },
				Package () { 0x001CFFFF, 2, 0, 22 },
				Package () { 0x001CFFFF, 3, 0, 23 },
				Package () { 0x001DFFFF, 0, 0, 21 },
				Package () { 0x001DFFFF, 1, 0, 22 },
				Package () { 0x001DFFFF, 2, 0, 23 },
				Package () { 0x001DFFFF, 3, 0, 16 },
				Package () { 0x001EFFFF, 0, 0, 22 },
				Package () { 0x001EFFFF, 1, 0, 23 },
				Package () { 0x001EFFFF, 2, 0, 16 },
				Package () { 0x001EFFFF, 3, 0, 17 },
				Package () { 0x001FFFFF, 0, 0, 23 },
				Package () { 0x001FFFFF, 1, 0, 16 },
				Package () { 0x001FFFFF, 2, 0, 17 },
				Package () { 0x001FFFFF, 3, 0, 18 }
			})
		}
	}
}
