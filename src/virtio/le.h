/* Little-endian loads and stores of 1 to 8 bytes, for the structures a
 * virtio driver reads and writes (configuration spaces, MSI-X tables). */
#ifndef NESTVM_VIRTIO_LE_H
#define NESTVM_VIRTIO_LE_H

#include <stdint.h>

static inline void le_put(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le_get(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif
