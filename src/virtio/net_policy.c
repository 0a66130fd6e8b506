/* The pure parts of virtio-net: MAC parsing and the source-MAC policy. */
#include "virtio/net.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

int net_parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi, lo;

		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return -EINVAL;
		hi = isdigit((unsigned char)s[0]) ? s[0] - '0' : tolower((unsigned char)s[0]) - 'a' + 10;
		lo = isdigit((unsigned char)s[1]) ? s[1] - '0' : tolower((unsigned char)s[1]) - 'a' + 10;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i < 5 && *s++ != ':')
			return -EINVAL;
	}
	return *s ? -EINVAL : 0;
}

bool net_mac_allowed(const struct net_config *cfg, const uint8_t *frame, uint32_t len)
{
	const uint8_t *src = frame + 6;

	if (len < 14)
		return false;          /* not even an Ethernet header */
	if (cfg->mac_spoofing)
		return true;
	if (memcmp(src, cfg->mac, 6) == 0)
		return true;
	for (unsigned int i = 0; i < cfg->n_allowed && i < NET_MAX_ALLOWED; i++)
		if (memcmp(src, cfg->allowed[i], 6) == 0)
			return true;
	return false;
}
