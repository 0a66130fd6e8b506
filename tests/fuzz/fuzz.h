/* What every fuzz target defines (libFuzzer's entry point). Each target is
 * one file tests/fuzz/fuzz_NAME.c, linked with nestvm's objects built by
 * clang with -fsanitize=fuzzer-no-link,address,undefined (make fuzz-build);
 * its seed corpus is tests/fuzz/corpus/NAME/, and inputs that once crashed
 * it are kept in tests/fuzz/regress/NAME/ and replayed by every run. */
#ifndef NESTVM_TESTS_FUZZ_H
#define NESTVM_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Targets that drive a device through its port or MMIO handler read the
 * input as a list of accesses, 6 bytes each: flags (bit 0 write, bits 1-2
 * log2 of the length: 1, 2, 4 or 8 bytes), an offset (16 bits, little
 * endian, the target masks it to its range), the data (3 bytes, repeated to
 * the length). fuzz_next_access() takes the next one; false at the end. */
struct fuzz_access {
	bool is_write;
	uint32_t len;
	uint16_t offset;
	uint8_t data[8];
};

static inline bool fuzz_next_access(const uint8_t **data, size_t *size, struct fuzz_access *a)
{
	const uint8_t *d = *data;

	if (*size < 6)
		return false;
	a->is_write = d[0] & 1;
	a->len = 1u << ((d[0] >> 1) & 3);
	a->offset = (uint16_t)(d[1] | (d[2] << 8));
	for (unsigned int i = 0; i < sizeof(a->data); i++)
		a->data[i] = d[3 + i % 3];
	*data += 6;
	*size -= 6;
	return true;
}

#endif
