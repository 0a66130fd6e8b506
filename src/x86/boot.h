/* x86-64 Linux boot protocol (Documentation/x86/boot.rst): load a bzImage
 * and its initrd into guest memory, build the zero page (boot_params) with
 * the e820 map and command line, and identity-mapped page tables plus a GDT
 * so the boot vCPU starts at the kernel's 64-bit entry point. */
#ifndef NESTVM_X86_BOOT_H
#define NESTVM_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

#include "vmm/guest_mem.h"

/* Guest-physical layout of what the VMM writes before the kernel runs. */
#define BOOT_GDT_ADDR        0x500ULL
#define BOOT_IDT_ADDR        0x520ULL
#define BOOT_ZERO_PAGE_ADDR  0x7000ULL
#define BOOT_STACK_TOP       0x8ff0ULL
#define BOOT_PML4_ADDR       0x9000ULL
#define BOOT_PDPT_ADDR       0xa000ULL
#define BOOT_PD_ADDR         0xb000ULL   /* 4 pages: identity map of 4 GiB */
#define BOOT_CMDLINE_ADDR    0x20000ULL
#define BOOT_CMDLINE_MAX     0x10000ULL
#define BOOT_EBDA_START      0x9fc00ULL
#define BOOT_HIGH_LOAD_ADDR  0x100000ULL /* protected-mode kernel at 1 MiB */
#define BOOT_ENTRY64_OFFSET  0x200ULL
#define BOOT_CS_SELECTOR     0x10
#define BOOT_DS_SELECTOR     0x18

#define BOOT_E820_RAM        1
#define BOOT_E820_RESERVED   2
#define BOOT_MIN_PROTOCOL    0x020c      /* 2.12: 64-bit entry, xloadflags */
#define BOOT_SETUP_HDR_OFFSET 0x1f1     /* struct setup_header in the image */

/* What a bzImage's setup header says, after validation. */
struct bzimage_info {
	uint16_t protocol;
	size_t setup_size;        /* bytes of real-mode setup (incl. boot sector) */
	size_t kernel_size;       /* bytes of protected-mode kernel */
	uint32_t initrd_addr_max; /* highest address the initrd may end at, minus 1 */
	uint32_t cmdline_max;     /* longest command line, without the NUL */
	uint64_t pref_address;    /* where the kernel will decompress to */
	uint32_t init_size;       /* bytes it needs there */
	char version[128];        /* kernel version string, if the image has one */
};

/* Check that `img` is a bootable 64-bit bzImage and describe it. On failure
 * returns -EINVAL (not a bzImage, truncated, too old) with a message in err. */
int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info, char *err,
		  size_t errlen);

/* Will this kernel, an initrd of initrd_len bytes (0: none) and a command
 * line of cmdline_len bytes fit in mem_size bytes of guest RAM? 0, or
 * -ENOSPC / -E2BIG with the reason in err. */
int boot_check_fit(const struct bzimage_info *info, uint64_t mem_size, size_t initrd_len,
		   size_t cmdline_len, char *err, size_t errlen);

/* Build the e820 map for `ram_size` bytes laid out as in guest_mem.h.
 * Returns the number of entries written (at most `max`). */
unsigned int boot_e820_build(uint64_t ram_size, struct boot_e820_entry *e, unsigned int max);

/* Where the boot vCPU starts. */
struct boot_entry {
	uint64_t rip;
	uint64_t rsi;          /* zero page */
	uint64_t rsp;
	uint64_t cr3;
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint64_t idt_base;
	uint16_t idt_limit;
	uint64_t initrd_addr;  /* 0 when none */
};

struct boot_request {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd;  /* NULL when none */
	size_t initrd_len;
	const char *cmdline;
	uint64_t rsdp_addr;     /* 0 when no ACPI */
};

/* Load everything into guest memory. Returns 0 or -EINVAL/-ENOSPC/-E2BIG
 * with a message in err (the kernel or initrd does not fit, the command line
 * is too long). */
int boot_load(const struct guest_mem *mem, const struct boot_request *req,
	      struct boot_entry *entry, char *err, size_t errlen);

#endif
