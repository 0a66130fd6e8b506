/* Loading a bzImage: zero page, e820, command line, initrd, page tables, GDT. */
#include "x86/boot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "x86/acpi.h"

#define MIB (1ULL << 20)

unsigned int boot_e820_build(uint64_t ram_size, struct boot_e820_entry *e, unsigned int max)
{
	struct guest_mem layout;
	struct boot_e820_entry all[5];
	unsigned int n = 0, i;

	guest_mem_init_layout(&layout, NULL, ram_size);
	all[n++] = (struct boot_e820_entry){ 0, BOOT_EBDA_START, BOOT_E820_RAM };
	all[n++] = (struct boot_e820_entry){ BOOT_EBDA_START, 0xa0000 - BOOT_EBDA_START,
					    BOOT_E820_RESERVED };
	all[n++] = (struct boot_e820_entry){ ACPI_TABLES_BASE, ACPI_TABLES_SIZE,
					    BOOT_E820_RESERVED };
	if (layout.low_size > BOOT_HIGH_LOAD_ADDR)
		all[n++] = (struct boot_e820_entry){ BOOT_HIGH_LOAD_ADDR,
						    layout.low_size - BOOT_HIGH_LOAD_ADDR,
						    BOOT_E820_RAM };
	if (ram_size > layout.low_size)
		all[n++] = (struct boot_e820_entry){ GUEST_MEM_HIGH_START,
						    ram_size - layout.low_size, BOOT_E820_RAM };
	for (i = 0; i < n && i < max; i++)
		e[i] = all[i];
	return i;
}

static void boot_write_page_tables(const struct guest_mem *mem)
{
	uint64_t *pml4 = guest_mem_ptr(mem, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_mem_ptr(mem, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = guest_mem_ptr(mem, BOOT_PD_ADDR, 4 * 4096);
	unsigned int i;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | 0x3;               /* present, writable */
	for (i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096ULL) | 0x3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;  /* present, writable, 2 MiB page */
}

static void boot_write_gdt(const struct guest_mem *mem, struct boot_entry *entry)
{
	static const uint64_t gdt[] = {
		0x0000000000000000ULL,  /* null */
		0x0000000000000000ULL,  /* unused */
		0x00af9b000000ffffULL,  /* 0x10: 64-bit code, flat */
		0x00cf93000000ffffULL,  /* 0x18: data, flat */
	};

	guest_mem_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt));
	memset(guest_mem_ptr(mem, BOOT_IDT_ADDR, 8), 0, 8);
	entry->gdt_base = BOOT_GDT_ADDR;
	entry->gdt_limit = sizeof(gdt) - 1;
	entry->idt_base = BOOT_IDT_ADDR;
	entry->idt_limit = 7;
}

/* The initrd goes as high as the kernel allows: its end is this address. */
static uint64_t boot_initrd_top(const struct bzimage_info *info, const struct guest_mem *layout)
{
	uint64_t top = layout->low_size;

	if ((uint64_t)info->initrd_addr_max + 1 < top)
		top = (uint64_t)info->initrd_addr_max + 1;
	return top;
}

/* bzimage_parse() made sure the image extends past its setup code (at least
 * 1 KiB), so the header bytes (which end by 0x301) are inside it. */
static void boot_write_zero_page(const struct guest_mem *mem, const struct boot_request *req,
				 uint64_t initrd_addr)
{
	struct boot_params *bp = guest_mem_ptr(mem, BOOT_ZERO_PAGE_ADDR, sizeof(*bp));
	size_t hdr_end = 0x202 + (size_t)req->kernel[0x201];
	size_t hdr_len = hdr_end - BOOT_SETUP_HDR_OFFSET;

	memset(bp, 0, sizeof(*bp));
	if (hdr_len > sizeof(bp->hdr))
		hdr_len = sizeof(bp->hdr);
	memcpy(&bp->hdr, req->kernel + BOOT_SETUP_HDR_OFFSET, hdr_len);
	bp->hdr.type_of_loader = 0xff;
	bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	bp->hdr.ramdisk_image = (uint32_t)initrd_addr;
	bp->hdr.ramdisk_size = (uint32_t)req->initrd_len;
	bp->hdr.code32_start = (uint32_t)BOOT_HIGH_LOAD_ADDR;
	bp->acpi_rsdp_addr = req->rsdp_addr;
	bp->e820_entries = (uint8_t)boot_e820_build(mem->size, bp->e820_table,
						    E820_MAX_ENTRIES_ZEROPAGE);
}

/* Highest address the unpacked kernel uses: it decompresses at pref_address
 * and needs init_size bytes there (and its compressed form sits at 1 MiB). */
static uint64_t boot_kernel_end(const struct bzimage_info *info)
{
	uint64_t end = info->pref_address + info->init_size;

	if (BOOT_HIGH_LOAD_ADDR + info->kernel_size > end)
		end = BOOT_HIGH_LOAD_ADDR + info->kernel_size;
	return end;
}

int boot_check_fit(const struct bzimage_info *info, uint64_t mem_size, size_t initrd_len,
		   size_t cmdline_len, char *err, size_t errlen)
{
	struct guest_mem layout;
	uint64_t kernel_end = boot_kernel_end(info), top;

	guest_mem_init_layout(&layout, NULL, mem_size);
	if (cmdline_len > info->cmdline_max || cmdline_len >= BOOT_CMDLINE_MAX) {
		snprintf(err, errlen, "the command line is %zu bytes; this kernel accepts at most %u",
			 cmdline_len, info->cmdline_max);
		return -E2BIG;
	}
	if (kernel_end > layout.low_size) {
		snprintf(err, errlen, "guest RAM (%llu MiB) is too small for this kernel: it "
			 "unpacks to %llu MiB at %llu MiB: use a larger --memory",
			 (unsigned long long)(mem_size / MIB),
			 (unsigned long long)(info->init_size / MIB),
			 (unsigned long long)(info->pref_address / MIB));
		return -ENOSPC;
	}
	if (!initrd_len)
		return 0;
	if (initrd_len > mem_size) {
		snprintf(err, errlen, "the initrd (%llu MiB) is larger than guest RAM (%llu MiB): "
			 "use a larger --memory", (unsigned long long)(initrd_len / MIB),
			 (unsigned long long)(mem_size / MIB));
		return -ENOSPC;
	}
	top = boot_initrd_top(info, &layout);
	if (initrd_len > top || ((top - initrd_len) & ~0xfffULL) < kernel_end) {
		snprintf(err, errlen, "the kernel (%llu MiB once unpacked) and the initrd "
			 "(%llu MiB) do not both fit in %llu MiB of guest RAM: use a larger "
			 "--memory", (unsigned long long)(kernel_end / MIB),
			 (unsigned long long)(initrd_len / MIB),
			 (unsigned long long)(mem_size / MIB));
		return -ENOSPC;
	}
	return 0;
}

int boot_load(const struct guest_mem *mem, const struct boot_request *req,
	      struct boot_entry *entry, char *err, size_t errlen)
{
	struct bzimage_info info;
	size_t cmdline_len = strlen(req->cmdline);
	uint64_t initrd_addr = 0;
	int r;

	r = bzimage_parse(req->kernel, req->kernel_len, &info, err, errlen);
	if (r)
		return r;
	r = boot_check_fit(&info, mem->size, req->initrd ? req->initrd_len : 0, cmdline_len,
			   err, errlen);
	if (r)
		return r;
	guest_mem_write(mem, BOOT_HIGH_LOAD_ADDR, req->kernel + info.setup_size, info.kernel_size);
	if (req->initrd) {
		initrd_addr = (boot_initrd_top(&info, mem) - req->initrd_len) & ~0xfffULL;
		guest_mem_write(mem, initrd_addr, req->initrd, req->initrd_len);
	}
	guest_mem_write(mem, BOOT_CMDLINE_ADDR, req->cmdline, cmdline_len + 1);
	boot_write_zero_page(mem, req, initrd_addr);
	boot_write_page_tables(mem);
	boot_write_gdt(mem, entry);
	entry->rip = BOOT_HIGH_LOAD_ADDR + BOOT_ENTRY64_OFFSET;
	entry->rsi = BOOT_ZERO_PAGE_ADDR;
	entry->rsp = BOOT_STACK_TOP;
	entry->cr3 = BOOT_PML4_ADDR;
	entry->initrd_addr = initrd_addr;
	return 0;
}
