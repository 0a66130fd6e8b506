/* What every fuzz target defines (libFuzzer's entry point). Each target is
 * one file tests/fuzz/fuzz_NAME.c, linked with nestvm's objects built by
 * clang with -fsanitize=fuzzer-no-link,address,undefined (make fuzz-build);
 * its seed corpus is tests/fuzz/corpus/NAME/, and inputs that once crashed
 * it are kept in tests/fuzz/regress/NAME/ and replayed by every run. */
#ifndef NESTVM_TESTS_FUZZ_H
#define NESTVM_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
