/* Sizes of memory in and out of text (see vmconfig.h). */
#include "config/vmconfig.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int vmconfig_parse_size(const char *s, uint64_t *bytes)
{
	uint64_t whole = 0, frac = 0, frac_div = 1, shift = 20;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_div < 1000000000ULL) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_div *= 10;
			}
		}
	}
	switch (toupper((unsigned char)*p)) {
	case '\0': shift = 20; break;          /* plain number: MiB */
	case 'B': shift = 0; p++; break;
	case 'K': shift = 10; p++; break;
	case 'M': shift = 20; p++; break;
	case 'G': shift = 30; p++; break;
	case 'T': shift = 40; p++; break;
	default: return -EINVAL;
	}
	/* After a unit letter: nothing, "B" or "iB" ("2G", "2GB", "2GiB"). */
	if (shift && p > s && isalpha((unsigned char)p[-1]) &&
	    (strcasecmp(p, "B") == 0 || strcasecmp(p, "iB") == 0))
		p += strlen(p);
	if (*p)
		return -EINVAL;
	if (whole > (UINT64_MAX >> shift))
		return -ERANGE;
	/* frac < 10^9 < 2^30: shifted by up to 40 it needs more than 64 bits. */
	*bytes = (whole << shift) + (uint64_t)(((unsigned __int128)frac << shift) / frac_div);
	return 0;
}

void vmconfig_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (u < 4 && bytes >= (1ULL << (10 * (u + 1))))
		u++;
	if (u == 0 || bytes % (1ULL << (10 * u)) == 0)
		snprintf(buf, len, "%" PRIu64 " %s", bytes >> (10 * u), unit[u]);
	else
		snprintf(buf, len, "%.1f %s", (double)bytes / (double)(1ULL << (10 * u)), unit[u]);
}
