/* bzImage validation: everything in the image is untrusted input. */
#include "x86/boot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BZ_MIN_LEN         0x268     /* through init_size (protocol 2.10+) */
#define BZ_DEFAULT_PREF    0x1000000ULL

static uint16_t bz_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t bz_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static uint64_t bz_le64(const uint8_t *p)
{
	return (uint64_t)bz_le32(p) | ((uint64_t)bz_le32(p + 4) << 32);
}

static int bz_fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -EINVAL;
}

/* Copy the NUL-terminated, printable version string the header points at. */
static void bz_read_version(const uint8_t *img, size_t setup_size, struct bzimage_info *info)
{
	uint16_t ptr = bz_le16(img + 0x20e);
	size_t off = (size_t)ptr + 0x200, i;

	info->version[0] = '\0';
	if (ptr == 0 || off >= setup_size)
		return;
	for (i = 0; i + 1 < sizeof(info->version) && off + i < setup_size; i++) {
		uint8_t ch = img[off + i];
		if (ch == '\0')
			break;
		if (ch < 0x20 || ch > 0x7e) {
			info->version[0] = '\0';
			return;
		}
		info->version[i] = (char)ch;
	}
	info->version[i] = '\0';
}

int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info, char *err,
		  size_t errlen)
{
	unsigned int setup_sects;
	uint32_t syssize;
	uint8_t loadflags;
	uint16_t xloadflags;

	memset(info, 0, sizeof(*info));
	if (len >= 4 && memcmp(img, "\x7f" "ELF", 4) == 0)
		return bz_fail(err, errlen, "is an ELF file (an uncompressed vmlinux?): nestvm boots "
				   "a bzImage such as /boot/vmlinuz-*");
	if (len < BZ_MIN_LEN)
		return bz_fail(err, errlen, "is too small to be a Linux bzImage (truncated?)");
	if (bz_le16(img + 0x1fe) != 0xaa55 || memcmp(img + 0x202, "HdrS", 4) != 0)
		return bz_fail(err, errlen, "is not a Linux bzImage (no boot sector signature "
				   "or no \"HdrS\" setup header)");
	info->protocol = bz_le16(img + 0x206);
	if (info->protocol < BOOT_MIN_PROTOCOL) {
		snprintf(err, errlen, "uses boot protocol %u.%02u; nestvm needs 2.12 or later "
			 "(Linux 3.8+)", info->protocol >> 8, info->protocol & 0xff);
		return -EINVAL;
	}
	loadflags = img[0x211];
	xloadflags = bz_le16(img + 0x236);
	if (!(loadflags & LOADED_HIGH))
		return bz_fail(err, errlen, "is a zImage that loads low; nestvm needs a bzImage");
	if (!(xloadflags & XLF_KERNEL_64))
		return bz_fail(err, errlen, "has no 64-bit entry point (a 32-bit kernel?)");

	setup_sects = img[0x1f1] ? img[0x1f1] : 4;
	info->setup_size = (size_t)(setup_sects + 1) * 512;
	if (info->setup_size >= len)
		return bz_fail(err, errlen, "is truncated: it ends inside its setup code");
	info->kernel_size = len - info->setup_size;
	syssize = bz_le32(img + 0x1f4);
	if ((uint64_t)syssize * 16 > info->kernel_size) {
		snprintf(err, errlen, "is truncated: its header says %llu bytes of kernel, "
			 "the file has %zu", (unsigned long long)syssize * 16, info->kernel_size);
		return -EINVAL;
	}
	if (syssize == 0)
		return bz_fail(err, errlen, "has an empty protected-mode kernel (syssize 0)");
	info->initrd_addr_max = bz_le32(img + 0x22c);
	info->cmdline_max = bz_le32(img + 0x238);
	info->pref_address = bz_le64(img + 0x258);
	info->init_size = bz_le32(img + 0x260);
	if (info->pref_address == 0)
		info->pref_address = BZ_DEFAULT_PREF;
	if (info->init_size == 0 || info->init_size > (1u << 30))
		return bz_fail(err, errlen, "has an implausible init_size in its header");
	if (info->cmdline_max == 0)
		info->cmdline_max = 255;
	bz_read_version(img, info->setup_size, info);
	return 0;
}
