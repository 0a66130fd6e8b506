/* Fuzz target: the console's escape-key filter (Ctrl-A x / p / Ctrl-A) on
 * operator input. Output never grows, a quit stops the filter. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "machine/console.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct console_escape st = { 0 };
	uint8_t *out = malloc(size ? size : 1);
	size_t n = 0;

	if (!out)
		abort();
	(void)console_escape_filter(&st, data, size, out, &n);
	if (n > size)
		abort();
	free(out);
	return 0;
}
