/* Fuzz target: a snapshot's state file is hostile input (a snapshot
 * directory can come from anywhere). snap_parse either refuses the input
 * with a message or accepts it; an accepted file's sections must all lie
 * inside the input, one after another from the header on, each found again
 * by its (type, index) and counted by its type. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "snapshot/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_reader r;
	char err[512] = "";
	uint64_t off = SNAP_HEADER_SIZE;

	if (snap_parse(&r, data, size, err, sizeof(err)) != 0) {
		if (!err[0] || r.sections || r.nsections)
			abort();             /* a refusal says why and keeps nothing */
		return 0;
	}
	if (r.nsections != r.info.nsections || r.nsections > SNAP_MAX_SECTIONS)
		abort();
	for (uint32_t i = 0; i < r.nsections; i++) {
		const struct snap_section *s = &r.sections[i];
		size_t tl = strnlen(s->type, SNAP_TYPE_MAX);

		if (tl == 0 || tl >= SNAP_TYPE_MAX || s->offset != off ||
		    s->data != data + off + SNAP_SECTION_HEADER_SIZE || s->length > SNAP_SECTION_MAX)
			abort();
		off += SNAP_SECTION_HEADER_SIZE + s->length;
		if (off > size)
			abort();
		if (snap_find(&r, s->type, s->index) != s || snap_count(&r, s->type) == 0)
			abort();
	}
	if (off != size)
		abort();
	snap_reader_free(&r);
	return 0;
}
