/* Fuzz target: the terminal filter (src/vmm/term_filter.c) on guest console
 * output. Besides memory safety it checks its contract: the output never
 * holds a byte it must not pass (ESC outside an allowed CSI, C0 controls
 * other than TAB/LF/CR/BS, DEL), and split input gives the same output. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmm/term_filter.h"

static void check_output(const uint8_t *o, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = o[i];
		if (c == 0x1b) {
			/* only ESC [ digits/; final in mABCDEFGHJKf */
			size_t j = i + 1;
			if (j >= n || o[j] != '[')
				abort();
			for (j++; j < n && ((o[j] >= '0' && o[j] <= '9') || o[j] == ';'); j++)
				;
			if (j >= n || !strchr("mABCDEFGHJKf", o[j]))
				abort();
			i = j;
			continue;
		}
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\b') || c == 0x7f)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct term_filter a, b;
	uint8_t *whole = malloc(size + TERM_FILTER_HOLD), *split = malloc(size + TERM_FILTER_HOLD);
	size_t wn, sn = 0, cut = size ? data[0] % (size + 1) : 0;

	if (!whole || !split)
		abort();
	term_filter_init(&a);
	term_filter_init(&b);
	wn = term_filter_run(&a, data, size, whole);
	sn = term_filter_run(&b, data, cut, split);
	sn += term_filter_run(&b, data + cut, size - cut, split + sn);
	if (wn != sn || memcmp(whole, split, wn) || wn + a.dropped > size)
		abort();
	check_output(whole, wn);
	free(whole);
	free(split);
	return 0;
}
