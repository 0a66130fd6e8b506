/* What a guest may send to the operator's terminal. Guest console output is
 * hostile: an escape sequence can retitle or reset the terminal, switch it
 * to another screen or character set, set its clipboard (OSC 52), or make
 * it answer a query (device status, attributes, window reports) with bytes
 * that arrive as the operator's own input. Before guest bytes reach a
 * terminal (`nestvm run` and `nestvm console` when their output is one),
 * they pass this filter, a small ECMA-48 parser:
 *   - printable ASCII, TAB, LF, CR and BS pass; other C0 controls and DEL
 *     are dropped (CAN and SUB also cancel a sequence, as ECMA-48 says);
 *   - UTF-8 passes when well formed; malformed bytes are dropped, and so are
 *     the C1 controls (U+0080 to U+009F), which some terminals obey;
 *   - CSI sequences pass only for colours and plain cursor and erase moves
 *     (final byte m, A-H, J, K, f with digits and ';' only: what a boot's
 *     coloured "[  OK  ]" and progress lines use); every other CSI (device
 *     status and attribute queries that answer, modes, scroll regions,
 *     window operations, private '?' sequences) is dropped whole;
 *   - OSC, DCS, SOS, PM and APC strings are dropped up to their terminator
 *     (BEL or ESC \), or after TERM_FILTER_STRING_MAX bytes;
 *   - any other escape (ESC c full reset, character set designations such
 *     as ESC ( 0) is dropped with its intermediate bytes.
 * Pure and incremental: a sequence may be split across calls (a UART hands
 * over one byte at a time). No locking: one filter per output stream. */
#ifndef NESTVM_VMM_TERM_FILTER_H
#define NESTVM_VMM_TERM_FILTER_H

#include <stddef.h>
#include <stdint.h>

#define TERM_FILTER_CSI_MAX    32     /* longest CSI kept; a longer one is dropped */
#define TERM_FILTER_STRING_MAX 4096   /* an unterminated OSC/DCS... is given up after this */
/* out needs room for n + TERM_FILTER_HOLD bytes: a held sequence is
 * released whole once complete. */
#define TERM_FILTER_HOLD       (TERM_FILTER_CSI_MAX + 4)

struct term_filter {
	uint8_t state;                 /* enum in term_filter.c; 0 = ground */
	uint8_t held[TERM_FILTER_HOLD];/* a CSI or UTF-8 sequence not yet complete */
	uint8_t held_len;
	uint8_t utf8_need;             /* continuation bytes still expected */
	uint32_t string_len;           /* bytes swallowed in the current string */
	uint64_t dropped;              /* bytes dropped so far (for a count in logs) */
};

void term_filter_init(struct term_filter *f);

/* Filter n bytes of guest output into out (room for n + TERM_FILTER_HOLD);
 * returns the bytes written. */
size_t term_filter_run(struct term_filter *f, const uint8_t *in, size_t n, uint8_t *out);

#endif
