/* Unit tests of src/x86/bzimage.c and src/x86/boot.c on synthetic bzImages:
 * header validation, the e820 map, the fit checks and the loaded layout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/guest_mem.h"
#include "x86/acpi.h"
#include "x86/boot.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* The synthetic image: 4 setup sectors after the boot sector, 8 KiB of
 * "kernel", a header of protocol 2.15 pointing at a version string. */
#define SETUP_SECTS   4
#define SETUP_SIZE    ((SETUP_SECTS + 1) * 512)
#define KERNEL_LEN    8192
#define IMG_LEN       (SETUP_SIZE + KERNEL_LEN)
#define PREF_ADDRESS  0x1000000ULL        /* 16 MiB */
#define INIT_SIZE     (8 * MIB)
#define VERSION_PTR   0x300               /* string at 0x500 */
#define VERSION       "6.1.0-nestvm-test (builder@host) #1 SMP PREEMPT_DYNAMIC"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t kernel_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* A valid 64-bit bzImage of `len` bytes (at least SETUP_SIZE + 16). */
static void build_image(uint8_t *img, size_t len)
{
	memset(img, 0, len);
	img[0x1f1] = SETUP_SECTS;
	put32(img + 0x1f4, (uint32_t)((len - SETUP_SIZE) / 16));   /* syssize */
	put16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;                 /* jmp: the header ends at 0x202 + 0x6a */
	img[0x201] = 0x6a;
	memcpy(img + 0x202, "HdrS", 4);
	put16(img + 0x206, 0x020f);        /* protocol 2.15 */
	put16(img + 0x20e, VERSION_PTR);
	img[0x211] = LOADED_HIGH;
	put32(img + 0x22c, 0x7fffffff);    /* initrd_addr_max */
	put16(img + 0x236, XLF_KERNEL_64);
	put32(img + 0x238, 2048);          /* cmdline_size */
	put64(img + 0x258, PREF_ADDRESS);
	put32(img + 0x260, (uint32_t)INIT_SIZE);
	memcpy(img + 0x200 + VERSION_PTR, VERSION, sizeof(VERSION));
	for (size_t i = SETUP_SIZE; i < len; i++)
		img[i] = kernel_byte(i - SETUP_SIZE);
}

static uint8_t img[IMG_LEN];
static struct bzimage_info info;
static char err[256];

static int parse_img(size_t len)
{
	memset(err, 0, sizeof(err));
	return bzimage_parse(img, len, &info, err, sizeof(err));
}

static void assert_rejected(size_t len, const char *want_msg)
{
	assert_int_equal(parse_img(len), -EINVAL);
	assert_string_equal(err, want_msg);
}

/* ---- bzimage_parse ---- */

static void test_parse_good_image(void **state)
{
	(void)state;
	build_image(img, IMG_LEN);
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_int_equal(info.protocol, 0x020f);
	assert_int_equal(info.setup_size, SETUP_SIZE);
	assert_int_equal(info.kernel_size, KERNEL_LEN);
	assert_int_equal(info.initrd_addr_max, 0x7fffffff);
	assert_int_equal(info.cmdline_max, 2048);
	assert_int_equal(info.pref_address, PREF_ADDRESS);
	assert_int_equal(info.init_size, INIT_SIZE);
	assert_string_equal(info.version, VERSION);

	/* The oldest protocol accepted, and a file longer than syssize says. */
	put16(img + 0x206, BOOT_MIN_PROTOCOL);
	put32(img + 0x1f4, 16);
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_int_equal(info.protocol, 0x020c);
	assert_int_equal(info.kernel_size, KERNEL_LEN);
}

static void test_parse_header_defaults(void **state)
{
	(void)state;
	/* setup_sects 0 means 4; pref_address 0 means 16 MiB; cmdline_size 0
	 * means the old 255-byte limit. */
	build_image(img, IMG_LEN);
	img[0x1f1] = 0;
	put64(img + 0x258, 0);
	put32(img + 0x238, 0);
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_int_equal(info.setup_size, 5 * 512);
	assert_int_equal(info.pref_address, 0x1000000);
	assert_int_equal(info.cmdline_max, 255);

	/* One setup sector: the kernel starts at 1 KiB. */
	build_image(img, IMG_LEN);
	img[0x1f1] = 1;
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_int_equal(info.setup_size, 1024);
	assert_int_equal(info.kernel_size, IMG_LEN - 1024);
}

static void test_parse_rejects_elf(void **state)
{
	static const char msg[] = "is an ELF file (an uncompressed vmlinux?): nestvm boots "
				  "a bzImage such as /boot/vmlinuz-*";

	(void)state;
	build_image(img, IMG_LEN);
	memcpy(img, "\x7f" "ELF", 4);
	assert_rejected(IMG_LEN, msg);
	assert_rejected(4, msg);          /* even when it is tiny */
}

static void test_parse_rejects_too_small(void **state)
{
	static const char msg[] = "is too small to be a Linux bzImage (truncated?)";

	(void)state;
	build_image(img, IMG_LEN);
	assert_rejected(0, msg);
	assert_rejected(3, msg);
	assert_rejected(0x267, msg);      /* one byte short of init_size's end */
}

static void test_parse_rejects_no_signature(void **state)
{
	static const char msg[] = "is not a Linux bzImage (no boot sector signature "
				  "or no \"HdrS\" setup header)";

	(void)state;
	build_image(img, IMG_LEN);
	memcpy(img + 0x202, "HdrT", 4);
	assert_rejected(IMG_LEN, msg);
	build_image(img, IMG_LEN);
	put16(img + 0x1fe, 0x55aa);
	assert_rejected(IMG_LEN, msg);
	memset(img, 0, IMG_LEN);
	assert_rejected(IMG_LEN, msg);
}

static void test_parse_rejects_old_protocol(void **state)
{
	(void)state;
	build_image(img, IMG_LEN);
	put16(img + 0x206, 0x020b);
	assert_rejected(IMG_LEN, "uses boot protocol 2.11; nestvm needs 2.12 or later (Linux 3.8+)");
	put16(img + 0x206, 0x0201);
	assert_rejected(IMG_LEN, "uses boot protocol 2.01; nestvm needs 2.12 or later (Linux 3.8+)");
}

static void test_parse_rejects_flags(void **state)
{
	(void)state;
	build_image(img, IMG_LEN);
	put16(img + 0x236, XLF_KERNEL_64 ^ 0xffff);   /* every flag but the one needed */
	assert_rejected(IMG_LEN, "has no 64-bit entry point (a 32-bit kernel?)");

	build_image(img, IMG_LEN);
	img[0x211] = (uint8_t)~LOADED_HIGH;
	assert_rejected(IMG_LEN, "is a zImage that loads low; nestvm needs a bzImage");
}

static void test_parse_rejects_truncated(void **state)
{
	(void)state;
	/* The file ends inside (or right at the end of) its setup code. */
	build_image(img, IMG_LEN);
	assert_rejected(SETUP_SIZE, "is truncated: it ends inside its setup code");
	assert_rejected(SETUP_SIZE - 1, "is truncated: it ends inside its setup code");
	img[0x1f1] = 200;
	assert_rejected(IMG_LEN, "is truncated: it ends inside its setup code");

	/* syssize (16-byte units) promises more kernel than the file has. */
	build_image(img, IMG_LEN);
	put32(img + 0x1f4, KERNEL_LEN / 16 + 1);
	assert_rejected(IMG_LEN, "is truncated: its header says 8208 bytes of kernel, the file "
				 "has 8192");
	build_image(img, IMG_LEN);
	assert_rejected(IMG_LEN - 1, "is truncated: its header says 8192 bytes of kernel, the "
				     "file has 8191");
	build_image(img, IMG_LEN);
	put32(img + 0x1f4, 0xffffffff);   /* no 32-bit overflow in syssize * 16 */
	assert_rejected(IMG_LEN, "is truncated: its header says 68719476720 bytes of kernel, "
				 "the file has 8192");

	build_image(img, IMG_LEN);
	put32(img + 0x1f4, 0);
	assert_rejected(IMG_LEN, "has an empty protected-mode kernel (syssize 0)");
}

static void test_parse_rejects_init_size(void **state)
{
	static const char msg[] = "has an implausible init_size in its header";

	(void)state;
	build_image(img, IMG_LEN);
	put32(img + 0x260, 0);
	assert_rejected(IMG_LEN, msg);
	put32(img + 0x260, (1u << 30) + 1);
	assert_rejected(IMG_LEN, msg);
	put32(img + 0x260, 1u << 30);
	assert_int_equal(parse_img(IMG_LEN), 0);
}

static void test_parse_version_string(void **state)
{
	char long_version[200];

	(void)state;
	/* No pointer: no version. */
	build_image(img, IMG_LEN);
	put16(img + 0x20e, 0);
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_string_equal(info.version, "");

	/* A control character or a non-ASCII byte: not a version string. */
	build_image(img, IMG_LEN);
	img[0x200 + VERSION_PTR + 5] = '\n';
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_string_equal(info.version, "");
	build_image(img, IMG_LEN);
	img[0x200 + VERSION_PTR + 5] = 0xc3;
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_string_equal(info.version, "");

	/* Pointing past the setup code (into the kernel): ignored. */
	build_image(img, IMG_LEN);
	put16(img + 0x20e, SETUP_SIZE - 0x200);
	memcpy(img + SETUP_SIZE, "kernel", 7);
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_string_equal(info.version, "");
	put16(img + 0x20e, 0xffff);
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_string_equal(info.version, "");

	/* Running into the end of the setup code: cut there. */
	build_image(img, IMG_LEN);
	put16(img + 0x20e, SETUP_SIZE - 0x200 - 3);
	memcpy(img + SETUP_SIZE - 3, "abc", 3);
	img[SETUP_SIZE] = 'd';
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_string_equal(info.version, "abc");

	/* Longer than the buffer: truncated, terminated. */
	build_image(img, IMG_LEN);
	memset(long_version, 'v', sizeof(long_version) - 1);
	long_version[sizeof(long_version) - 1] = '\0';
	memcpy(img + 0x200 + VERSION_PTR, long_version, sizeof(long_version));
	assert_int_equal(parse_img(IMG_LEN), 0);
	assert_int_equal(strlen(info.version), sizeof(info.version) - 1);
	assert_memory_equal(info.version, long_version, sizeof(info.version) - 1);
}

/* ---- boot_e820_build ---- */

static uint64_t entry_end(const struct boot_e820_entry *e)
{
	return e->addr + e->size;
}

static void check_e820(uint64_t ram_size, unsigned int want_n)
{
	struct boot_e820_entry e[E820_MAX_ENTRIES_ZEROPAGE];
	uint64_t low = ram_size < GUEST_MEM_HOLE_START ? ram_size : GUEST_MEM_HOLE_START;
	uint64_t ram = 0, high_ram = 0;
	unsigned int n, i;
	int acpi_reserved = 0;

	n = boot_e820_build(ram_size, e, E820_MAX_ENTRIES_ZEROPAGE);
	assert_int_equal(n, want_n);

	/* Low RAM at 0 up to the EBDA, then reserved up to 640 KiB. */
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, BOOT_EBDA_START);
	assert_int_equal(e[0].type, BOOT_E820_RAM);
	assert_int_equal(e[1].addr, BOOT_EBDA_START);
	assert_int_equal(entry_end(&e[1]), 0xa0000);
	assert_int_equal(e[1].type, BOOT_E820_RESERVED);

	for (i = 0; i < n; i++) {
		assert_true(e[i].size > 0);
		assert_true(e[i].type == BOOT_E820_RAM || e[i].type == BOOT_E820_RESERVED);
		if (i + 1 < n)  /* sorted, not overlapping */
			assert_true(entry_end(&e[i]) <= e[i + 1].addr);
		/* Nothing in the 3-4 GiB hole. */
		assert_true(entry_end(&e[i]) <= GUEST_MEM_HOLE_START ||
			    e[i].addr >= GUEST_MEM_HIGH_START);
		if (e[i].type == BOOT_E820_RESERVED && e[i].addr <= ACPI_TABLES_BASE &&
		    entry_end(&e[i]) >= ACPI_TABLES_BASE + ACPI_TABLES_SIZE)
			acpi_reserved = 1;
		if (e[i].type != BOOT_E820_RAM)
			continue;
		/* RAM only where guest_mem has it. */
		if (e[i].addr < GUEST_MEM_HIGH_START) {
			assert_true(entry_end(&e[i]) <= low);
		} else {
			assert_int_equal(e[i].addr, GUEST_MEM_HIGH_START);
			high_ram += e[i].size;
		}
		ram += e[i].size;
	}
	assert_true(acpi_reserved);
	/* All of it is RAM except the legacy area from the EBDA to 1 MiB (VGA
	 * window, option ROMs, the ACPI tables, the BIOS). */
	assert_int_equal(ram, ram_size - (BOOT_HIGH_LOAD_ADDR - BOOT_EBDA_START));
	assert_int_equal(high_ram, ram_size - low);
	/* RAM resumes at 1 MiB and runs to the end of low memory. */
	assert_int_equal(e[3].addr, BOOT_HIGH_LOAD_ADDR);
	assert_int_equal(entry_end(&e[3]), low);
	assert_int_equal(e[3].type, BOOT_E820_RAM);
}

static void test_e820_64m(void **state)
{
	(void)state;
	check_e820(64 * MIB, 4);
}

static void test_e820_3g(void **state)
{
	(void)state;
	check_e820(3 * GIB, 4);
}

static void test_e820_4g(void **state)
{
	struct boot_e820_entry e[8];

	(void)state;
	check_e820(4 * GIB, 5);
	assert_int_equal(boot_e820_build(4 * GIB, e, 8), 5);
	assert_int_equal(e[4].addr, 4 * GIB);
	assert_int_equal(e[4].size, 1 * GIB);
}

static void test_e820_8g(void **state)
{
	struct boot_e820_entry e[8];

	(void)state;
	check_e820(8 * GIB, 5);
	check_e820(3 * GIB + 4096, 5);
	assert_int_equal(boot_e820_build(8 * GIB, e, 8), 5);
	assert_int_equal(e[3].size, 3 * GIB - MIB);
	assert_int_equal(e[4].addr, 4 * GIB);
	assert_int_equal(e[4].size, 5 * GIB);
}

static void test_e820_respects_max(void **state)
{
	struct boot_e820_entry e[4];

	(void)state;
	memset(e, 0xee, sizeof(e));
	assert_int_equal(boot_e820_build(8 * GIB, e, 2), 2);
	assert_int_equal(e[1].type, BOOT_E820_RESERVED);
	assert_int_equal(e[2].type, 0xeeeeeeee);   /* untouched */
	assert_int_equal(boot_e820_build(8 * GIB, e, 0), 0);
}

/* ---- boot_check_fit ---- */

static struct bzimage_info fit_info(void)
{
	return (struct bzimage_info){
		.protocol = 0x020f,
		.setup_size = SETUP_SIZE,
		.kernel_size = 6 * MIB,
		.initrd_addr_max = 0x7fffffff,
		.cmdline_max = 255,
		.pref_address = PREF_ADDRESS,
		.init_size = (uint32_t)INIT_SIZE,   /* unpacked: 16 MiB to 24 MiB */
	};
}

static int fit(const struct bzimage_info *bi, uint64_t mem, size_t initrd, size_t cmdline)
{
	memset(err, 0, sizeof(err));
	return boot_check_fit(bi, mem, initrd, cmdline, err, sizeof(err));
}

static void test_fit_ok(void **state)
{
	struct bzimage_info bi = fit_info();

	(void)state;
	assert_int_equal(fit(&bi, 64 * MIB, 0, 0), 0);
	assert_int_equal(fit(&bi, 64 * MIB, 0, 255), 0);          /* the kernel's limit */
	assert_int_equal(fit(&bi, 24 * MIB, 0, 13), 0);           /* exactly enough */
	assert_int_equal(fit(&bi, 64 * MIB, 40 * MIB, 13), 0);    /* initrd from 24 MiB */
	assert_int_equal(fit(&bi, 8 * GIB, 2 * GIB - 24 * MIB, 13), 0);  /* up to 2 GiB */
	assert_string_equal(err, "");
}

static void test_fit_cmdline_too_long(void **state)
{
	struct bzimage_info bi = fit_info();

	(void)state;
	assert_int_equal(fit(&bi, 64 * MIB, 0, 256), -E2BIG);
	assert_string_equal(err, "the command line is 256 bytes; this kernel accepts at most 255");
	/* A kernel that takes more is still held to what the VMM has room for. */
	bi.cmdline_max = 1u << 20;
	assert_int_equal(fit(&bi, 64 * MIB, 0, BOOT_CMDLINE_MAX - 1), 0);
	assert_int_equal(fit(&bi, 64 * MIB, 0, BOOT_CMDLINE_MAX), -E2BIG);
}

static void test_fit_kernel_too_big(void **state)
{
	struct bzimage_info bi = fit_info();

	(void)state;
	assert_int_equal(fit(&bi, 24 * MIB - 4096, 0, 0), -ENOSPC);
	bi.init_size = 60 * MIB;
	assert_int_equal(fit(&bi, 64 * MIB, 0, 0), -ENOSPC);
	assert_string_equal(err, "guest RAM (64 MiB) is too small for this kernel: it unpacks to "
				 "60 MiB at 16 MiB: use a larger --memory");
	/* The compressed image at 1 MiB counts too. */
	bi = fit_info();
	bi.kernel_size = 70 * MIB;
	assert_int_equal(fit(&bi, 64 * MIB, 0, 0), -ENOSPC);
	assert_int_equal(fit(&bi, 71 * MIB, 0, 0), 0);
	/* Only low memory counts: the kernel must end below 3 GiB. */
	bi = fit_info();
	bi.pref_address = 3 * GIB - 4 * MIB;
	assert_int_equal(fit(&bi, 8 * GIB, 0, 0), -ENOSPC);
}

static void test_fit_initrd_larger_than_ram(void **state)
{
	struct bzimage_info bi = fit_info();

	(void)state;
	assert_int_equal(fit(&bi, 64 * MIB, 65 * MIB, 13), -ENOSPC);
	assert_string_equal(err, "the initrd (65 MiB) is larger than guest RAM (64 MiB): use a "
				 "larger --memory");
}

static void test_fit_initrd_beside_kernel(void **state)
{
	struct bzimage_info bi = fit_info();

	(void)state;
	/* 64 MiB - 24 MiB of kernel leaves exactly 40 MiB; the initrd start is
	 * rounded down to a page, so one byte more takes a page more. */
	assert_int_equal(fit(&bi, 64 * MIB, 40 * MIB, 0), 0);
	assert_int_equal(fit(&bi, 64 * MIB, 40 * MIB + 1, 0), -ENOSPC);
	assert_int_equal(fit(&bi, 64 * MIB, 41 * MIB, 0), -ENOSPC);
	assert_string_equal(err, "the kernel (24 MiB once unpacked) and the initrd (41 MiB) do "
				 "not both fit in 64 MiB of guest RAM: use a larger --memory");

	/* The initrd must end below initrd_addr_max + 1 (here 32 MiB) however
	 * much RAM there is. */
	bi.initrd_addr_max = 32 * MIB - 1;
	assert_int_equal(fit(&bi, 1 * GIB, 8 * MIB, 0), 0);
	assert_int_equal(fit(&bi, 1 * GIB, 9 * MIB, 0), -ENOSPC);
	assert_int_equal(fit(&bi, 1 * GIB, 33 * MIB, 0), -ENOSPC);

	/* ... and below the 3 GiB hole: RAM above 4 GiB does not help. */
	bi = fit_info();
	bi.initrd_addr_max = 0xffffffff;
	assert_int_equal(fit(&bi, 8 * GIB, 3 * GIB - 24 * MIB, 0), 0);
	assert_int_equal(fit(&bi, 8 * GIB, 3 * GIB, 0), -ENOSPC);
}

/* ---- boot_load ---- */

#define GUEST_SIZE (128 * MIB)

struct guest {
	uint8_t *host;
	struct guest_mem mem;
};

static void guest_new(struct guest *g, uint64_t size)
{
	g->host = malloc(size);
	assert_non_null(g->host);
	memset(g->host, 0xcc, size);  /* garbage everywhere: the loader must clear */
	guest_mem_init_layout(&g->mem, g->host, size);
}

static void guest_delete(struct guest *g)
{
	free(g->host);
	g->host = NULL;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void test_load_layout(void **state)
{
	static const char cmdline[] = "console=ttyS0 root=/dev/vda rw";
	const size_t initrd_len = 3 * MIB + 123;
	struct boot_entry entry;
	struct guest g;
	uint8_t *initrd = malloc(initrd_len);
	const struct boot_params *bp;
	struct boot_e820_entry want_e820[E820_MAX_ENTRIES_ZEROPAGE];
	unsigned int want_n, i;
	uint64_t ramdisk;
	const uint8_t *pml4, *pdpt, *pd;

	(void)state;
	assert_non_null(initrd);
	for (size_t j = 0; j < initrd_len; j++)
		initrd[j] = (uint8_t)(j * 13 + 1);
	build_image(img, IMG_LEN);
	guest_new(&g, GUEST_SIZE);
	struct boot_request req = {
		.kernel = img, .kernel_len = IMG_LEN,
		.initrd = initrd, .initrd_len = initrd_len,
		.cmdline = cmdline, .rsdp_addr = ACPI_TABLES_BASE,
	};
	memset(&entry, 0, sizeof(entry));
	assert_int_equal(boot_load(&g.mem, &req, &entry, err, sizeof(err)), 0);

	/* The protected-mode kernel at 1 MiB. */
	assert_memory_equal(g.host + BOOT_HIGH_LOAD_ADDR, img + SETUP_SIZE, KERNEL_LEN);

	/* The zero page: the image's setup header, then what the loader sets. */
	bp = (const struct boot_params *)(g.host + BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(bp->hdr.setup_sects, SETUP_SECTS);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);   /* "HdrS" */
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.loadflags, LOADED_HIGH);
	assert_int_equal(bp->hdr.xloadflags, XLF_KERNEL_64);
	assert_int_equal(bp->hdr.pref_address, PREF_ADDRESS);
	assert_int_equal(bp->hdr.init_size, INIT_SIZE);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.code32_start, BOOT_HIGH_LOAD_ADDR);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	assert_string_equal((const char *)g.host + BOOT_CMDLINE_ADDR, cmdline);
	assert_int_equal(bp->acpi_rsdp_addr, ACPI_TABLES_BASE);
	/* Everything else cleared, not left as it was in memory. */
	assert_int_equal(bp->sentinel, 0);
	assert_int_equal(bp->ext_ramdisk_image, 0);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_int_equal(bp->screen_info.orig_video_isVGA, 0);

	/* The initrd: page aligned, as high as it can go, past the kernel. */
	ramdisk = bp->hdr.ramdisk_image;
	assert_int_equal(bp->hdr.ramdisk_size, initrd_len);
	assert_int_equal(ramdisk % 4096, 0);
	assert_int_equal(ramdisk, (GUEST_SIZE - initrd_len) & ~0xfffULL);
	assert_true(ramdisk >= PREF_ADDRESS + INIT_SIZE);
	assert_true(ramdisk + initrd_len <= GUEST_SIZE);
	assert_memory_equal(g.host + ramdisk, initrd, initrd_len);
	assert_int_equal(entry.initrd_addr, ramdisk);

	/* The e820 map. */
	want_n = boot_e820_build(GUEST_SIZE, want_e820, E820_MAX_ENTRIES_ZEROPAGE);
	assert_int_equal(bp->e820_entries, want_n);
	assert_int_equal(want_n, 4);
	for (i = 0; i < want_n; i++) {
		assert_int_equal(bp->e820_table[i].addr, want_e820[i].addr);
		assert_int_equal(bp->e820_table[i].size, want_e820[i].size);
		assert_int_equal(bp->e820_table[i].type, want_e820[i].type);
	}
	assert_int_equal(bp->e820_table[want_n].size, 0);

	/* Page tables: 4 GiB identity-mapped with 2 MiB pages. */
	pml4 = g.host + BOOT_PML4_ADDR;
	pdpt = g.host + BOOT_PDPT_ADDR;
	pd = g.host + BOOT_PD_ADDR;
	assert_int_equal(get64(pml4), BOOT_PDPT_ADDR | 0x3);
	for (i = 1; i < 512; i++)
		assert_int_equal(get64(pml4 + 8 * i), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(get64(pdpt + 8 * i), (BOOT_PD_ADDR + 4096 * i) | 0x3);
	for (i = 4; i < 512; i++)
		assert_int_equal(get64(pdpt + 8 * i), 0);
	for (i = 0; i < 4 * 512; i++)
		assert_int_equal(get64(pd + 8 * i), ((uint64_t)i * 2 * MIB) | 0x83);

	/* GDT: flat 64-bit code at 0x10 (L set, D clear), flat data at 0x18. */
	assert_int_equal(get64(g.host + BOOT_GDT_ADDR + BOOT_CS_SELECTOR), 0x00af9b000000ffffULL);
	assert_int_equal(get64(g.host + BOOT_GDT_ADDR + BOOT_DS_SELECTOR), 0x00cf93000000ffffULL);
	assert_true(get64(g.host + BOOT_GDT_ADDR + BOOT_CS_SELECTOR) & (1ULL << 53));
	assert_false(get64(g.host + BOOT_GDT_ADDR + BOOT_CS_SELECTOR) & (1ULL << 54));
	assert_int_equal(get64(g.host + BOOT_IDT_ADDR), 0);
	assert_int_equal(entry.gdt_base, BOOT_GDT_ADDR);
	assert_int_equal(entry.gdt_limit, 4 * 8 - 1);
	assert_int_equal(entry.idt_base, BOOT_IDT_ADDR);
	assert_int_equal(entry.idt_limit, 7);

	/* The boot vCPU. */
	assert_int_equal(entry.rip, 0x100200);
	assert_int_equal(entry.rsi, BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(entry.rsp, BOOT_STACK_TOP);
	assert_int_equal(entry.cr3, BOOT_PML4_ADDR);

	guest_delete(&g);
	free(initrd);
}

static void test_load_without_initrd(void **state)
{
	struct boot_entry entry;
	struct guest g;
	const struct boot_params *bp;

	(void)state;
	build_image(img, IMG_LEN);
	guest_new(&g, 64 * MIB);
	struct boot_request req = { .kernel = img, .kernel_len = IMG_LEN, .cmdline = "" };
	entry.initrd_addr = 1;
	assert_int_equal(boot_load(&g.mem, &req, &entry, err, sizeof(err)), 0);
	bp = (const struct boot_params *)(g.host + BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(bp->hdr.ramdisk_image, 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0);
	assert_int_equal(bp->acpi_rsdp_addr, 0);
	assert_int_equal(entry.initrd_addr, 0);
	assert_int_equal(g.host[BOOT_CMDLINE_ADDR], '\0');
	guest_delete(&g);
}

static void test_load_initrd_below_addr_max(void **state)
{
	static const uint8_t initrd[5000] = { 1, 2, 3 };
	struct boot_entry entry;
	struct guest g;
	const struct boot_params *bp;

	(void)state;
	build_image(img, IMG_LEN);
	put32(img + 0x22c, 64 * MIB - 1);
	guest_new(&g, GUEST_SIZE);
	struct boot_request req = {
		.kernel = img, .kernel_len = IMG_LEN,
		.initrd = initrd, .initrd_len = sizeof(initrd), .cmdline = "quiet",
	};
	assert_int_equal(boot_load(&g.mem, &req, &entry, err, sizeof(err)), 0);
	bp = (const struct boot_params *)(g.host + BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(bp->hdr.ramdisk_image, 64 * MIB - 8192);
	assert_int_equal(entry.initrd_addr, 64 * MIB - 8192);
	assert_memory_equal(g.host + 64 * MIB - 8192, initrd, sizeof(initrd));
	guest_delete(&g);
}

static void test_load_copies_only_the_header(void **state)
{
	struct boot_entry entry;
	struct guest g;
	const struct boot_params *bp;

	(void)state;
	/* A header that (by its jump) ends at 0x246: the fields after it in
	 * the image are not setup-header fields of this kernel. */
	build_image(img, IMG_LEN);
	img[0x201] = 0x44;
	guest_new(&g, 64 * MIB);
	struct boot_request req = { .kernel = img, .kernel_len = IMG_LEN, .cmdline = "x" };
	assert_int_equal(boot_load(&g.mem, &req, &entry, err, sizeof(err)), 0);
	bp = (const struct boot_params *)(g.host + BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(bp->hdr.cmdline_size, 2048);     /* at 0x238: inside */
	assert_int_equal(bp->hdr.pref_address, 0);       /* at 0x258: outside */
	assert_int_equal(bp->hdr.init_size, 0);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	guest_delete(&g);
}

static void test_load_errors(void **state)
{
	uint8_t initrd[64] = { 0 };
	char long_cmdline[300];
	struct boot_entry entry;
	struct guest g;

	(void)state;
	build_image(img, IMG_LEN);
	guest_new(&g, 64 * MIB);
	struct boot_request req = { .kernel = img, .kernel_len = IMG_LEN, .cmdline = "" };

	/* Not a bzImage. */
	img[0x1fe] = 0;
	assert_int_equal(boot_load(&g.mem, &req, &entry, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a Linux bzImage"));
	build_image(img, IMG_LEN);

	/* Command line over the kernel's cmdline_size. */
	put32(img + 0x238, sizeof(long_cmdline) - 2);
	memset(long_cmdline, 'a', sizeof(long_cmdline) - 1);
	long_cmdline[sizeof(long_cmdline) - 1] = '\0';
	req.cmdline = long_cmdline;
	assert_int_equal(boot_load(&g.mem, &req, &entry, err, sizeof(err)), -E2BIG);
	req.cmdline = "";

	/* An initrd larger than RAM. */
	req.initrd = initrd;
	req.initrd_len = 65 * MIB;
	assert_int_equal(boot_load(&g.mem, &req, &entry, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "larger than guest RAM"));
	guest_delete(&g);

	/* RAM smaller than the unpacked kernel. */
	guest_new(&g, 20 * MIB);
	req.initrd = NULL;
	req.initrd_len = 0;
	assert_int_equal(boot_load(&g.mem, &req, &entry, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "too small for this kernel"));
	/* Nothing was written: the failure comes before any copy. */
	assert_int_equal(g.host[BOOT_HIGH_LOAD_ADDR], 0xcc);
	assert_int_equal(g.host[BOOT_ZERO_PAGE_ADDR], 0xcc);
	assert_int_equal(g.host[BOOT_PML4_ADDR], 0xcc);
	guest_delete(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good_image),
		cmocka_unit_test(test_parse_header_defaults),
		cmocka_unit_test(test_parse_rejects_elf),
		cmocka_unit_test(test_parse_rejects_too_small),
		cmocka_unit_test(test_parse_rejects_no_signature),
		cmocka_unit_test(test_parse_rejects_old_protocol),
		cmocka_unit_test(test_parse_rejects_flags),
		cmocka_unit_test(test_parse_rejects_truncated),
		cmocka_unit_test(test_parse_rejects_init_size),
		cmocka_unit_test(test_parse_version_string),
		cmocka_unit_test(test_e820_64m),
		cmocka_unit_test(test_e820_3g),
		cmocka_unit_test(test_e820_4g),
		cmocka_unit_test(test_e820_8g),
		cmocka_unit_test(test_e820_respects_max),
		cmocka_unit_test(test_fit_ok),
		cmocka_unit_test(test_fit_cmdline_too_long),
		cmocka_unit_test(test_fit_kernel_too_big),
		cmocka_unit_test(test_fit_initrd_larger_than_ram),
		cmocka_unit_test(test_fit_initrd_beside_kernel),
		cmocka_unit_test(test_load_layout),
		cmocka_unit_test(test_load_without_initrd),
		cmocka_unit_test(test_load_initrd_below_addr_max),
		cmocka_unit_test(test_load_copies_only_the_header),
		cmocka_unit_test(test_load_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
