/* KVM binary statistics: a bounds-checked parser over the bytes of the
 * stats file, and the two reads nestvm does on a vCPU's stats fd. */
#include "vmm/kvm_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* struct kvm_stats_header */
#define HDR_NAME_SIZE    4
#define HDR_NUM_DESC     8
#define HDR_DESC_OFFSET  16
#define HDR_DATA_OFFSET  20
/* struct kvm_stats_desc */
#define DESC_FLAGS       0
#define DESC_SIZE        6
#define DESC_OFFSET      8
#define DESC_NAME        16

#define STATS_TYPE_MASK  0xfu
#define STATS_TYPE_PEAK  0x2u  /* cumulative 0, instant 1, peak 2; then histograms */

static uint32_t stats_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t stats_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

struct stats_layout {
	uint32_t name_size, num_desc, desc_offset, data_offset;
	uint64_t desc_len;  /* bytes of one descriptor, name included */
	uint64_t end;       /* end of the descriptor block */
};

static int stats_layout(const uint8_t *blob, size_t len, struct stats_layout *l)
{
	if (!blob || len < KVM_STATS_HEADER_LEN)
		return -EINVAL;
	l->name_size = stats_get32(blob + HDR_NAME_SIZE);
	l->num_desc = stats_get32(blob + HDR_NUM_DESC);
	l->desc_offset = stats_get32(blob + HDR_DESC_OFFSET);
	l->data_offset = stats_get32(blob + HDR_DATA_OFFSET);
	if (l->name_size == 0 || l->name_size > KVM_STATS_NAME_MAX ||
	    l->num_desc > KVM_STATS_DESC_MAX)
		return -EINVAL;
	/* 64-bit: at most 65536 * (16 + 4096) + 2^32, no overflow */
	l->desc_len = KVM_STATS_DESC_LEN + (uint64_t)l->name_size;
	l->end = (uint64_t)l->desc_offset + (uint64_t)l->num_desc * l->desc_len;
	if (l->end > KVM_STATS_BYTES_MAX)
		return -EINVAL;
	return 0;
}

int kvm_stats_desc_end(const uint8_t *blob, size_t len, uint64_t *end)
{
	struct stats_layout l;
	int r = stats_layout(blob, len, &l);

	if (r)
		return r;
	*end = l.end;
	return 0;
}

/* Does the descriptor at d carry `name` (NUL-terminated within its field)? */
static int stats_name_is(const uint8_t *d, uint32_t name_size, const char *name)
{
	const char *n = (const char *)(d + DESC_NAME);

	if (!memchr(n, '\0', name_size))
		return 0;
	return strcmp(n, name) == 0;
}

int kvm_stats_find(const uint8_t *blob, size_t len, const char *name, uint64_t *pos)
{
	struct stats_layout l;
	int r = stats_layout(blob, len, &l);

	if (r)
		return r;
	if (l.end > len)
		return -EINVAL;
	for (uint32_t i = 0; i < l.num_desc; i++) {
		const uint8_t *d = blob + l.desc_offset + (uint64_t)i * l.desc_len;

		if (!stats_name_is(d, l.name_size, name))
			continue;
		if ((stats_get32(d + DESC_FLAGS) & STATS_TYPE_MASK) > STATS_TYPE_PEAK ||
		    stats_get16(d + DESC_SIZE) == 0)
			return -ENOENT;
		*pos = (uint64_t)l.data_offset + stats_get32(d + DESC_OFFSET);
		return 0;
	}
	return -ENOENT;
}

static uint64_t stats_get64(const uint8_t *p)
{
	return (uint64_t)stats_get32(p) | (uint64_t)stats_get32(p + 4) << 32;
}

int kvm_stats_value(const uint8_t *blob, size_t len, uint64_t pos, uint64_t *val)
{
	if (!blob || len < sizeof(uint64_t) || pos > len - sizeof(uint64_t))
		return -EINVAL;
	*val = stats_get64(blob + pos);
	return 0;
}

/* pread exactly n bytes at off. */
static int stats_pread(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

int kvm_stats_locate(int fd, const char *const *names, uint64_t *pos, size_t n)
{
	uint8_t hdr[KVM_STATS_HEADER_LEN], *blob;
	uint64_t end;
	int r;

	for (size_t i = 0; i < n; i++)
		pos[i] = KVM_STATS_NONE;
	r = stats_pread(fd, hdr, sizeof(hdr), 0);
	if (!r)
		r = kvm_stats_desc_end(hdr, sizeof(hdr), &end);
	if (r)
		return r;
	if (end < KVM_STATS_HEADER_LEN)
		end = KVM_STATS_HEADER_LEN;
	blob = malloc((size_t)end);
	if (!blob)
		return -ENOMEM;
	r = stats_pread(fd, blob, (size_t)end, 0);
	for (size_t i = 0; !r && i < n; i++) {
		int f = kvm_stats_find(blob, (size_t)end, names[i], &pos[i]);
		if (f == -ENOENT)
			pos[i] = KVM_STATS_NONE;
		else if (f)
			r = f;
	}
	free(blob);
	if (r)
		for (size_t i = 0; i < n; i++)
			pos[i] = KVM_STATS_NONE;
	return r;
}

int kvm_stats_read(int fd, uint64_t pos, uint64_t *val)
{
	uint8_t b[8];
	int r;

	if (fd < 0 || pos == KVM_STATS_NONE)
		return -ENOENT;
	r = stats_pread(fd, b, sizeof(b), pos);
	if (r)
		return r;
	*val = stats_get64(b);
	return 0;
}
