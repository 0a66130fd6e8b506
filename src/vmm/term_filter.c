#include "vmm/term_filter.h"

#include <string.h>

enum {
	TF_GROUND = 0,
	TF_ESC,        /* after ESC */
	TF_ESC_INTER,  /* ESC and intermediate bytes (ESC ( B): dropped up to the final byte */
	TF_CSI,        /* ESC [ ..., held */
	TF_CSI_DROP,   /* a CSI being dropped up to its final byte */
	TF_STRING,     /* OSC, DCS, SOS, PM, APC: swallowed */
	TF_STRING_ESC, /* ESC inside a string: '\' ends it */
	TF_UTF8,       /* a multi-byte UTF-8 sequence, held */
};

#define ESC 0x1b
#define CAN 0x18
#define SUB 0x1a
#define BEL 0x07

void term_filter_init(struct term_filter *f)
{
	memset(f, 0, sizeof(*f));
}

static void tf_drop_held(struct term_filter *f)
{
	f->dropped += f->held_len;
	f->held_len = 0;
	f->state = TF_GROUND;
}

/* A complete CSI in held (ESC [ params final): is it one that only paints? */
static int tf_csi_allowed(const struct term_filter *f)
{
	uint8_t final = f->held[f->held_len - 1];

	for (unsigned int i = 2; i + 1 < f->held_len; i++) {
		uint8_t c = f->held[i];
		if (!((c >= '0' && c <= '9') || c == ';'))
			return 0;
	}
	return final == 'm' || (final >= 'A' && final <= 'H') || final == 'J' || final == 'K' ||
	       final == 'f';
}

/* Lead byte of a UTF-8 sequence: how many continuation bytes follow, or -1. */
static int tf_utf8_len(uint8_t c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 1;
	if (c >= 0xe0 && c <= 0xef)
		return 2;
	if (c >= 0xf0 && c <= 0xf4)
		return 3;
	return -1;   /* 0x80-0xc1 (continuation, overlong) and 0xf5-0xff */
}

/* A complete UTF-8 sequence in held: well formed and not a C1 control? */
static int tf_utf8_allowed(const struct term_filter *f)
{
	const uint8_t *s = f->held;
	uint32_t cp;

	switch (f->held_len) {
	case 2:
		cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
		return cp > 0x9f;    /* U+0080-U+009F are the C1 controls */
	case 3:
		cp = ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
		return cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
	case 4:
		cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
		     ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
		return cp >= 0x10000 && cp <= 0x10ffff;
	default:
		return 0;
	}
}

static size_t tf_release(struct term_filter *f, uint8_t *out)
{
	size_t n = f->held_len;

	memcpy(out, f->held, n);
	f->held_len = 0;
	f->state = TF_GROUND;
	return n;
}

/* One byte in the ground state. */
static size_t tf_ground(struct term_filter *f, uint8_t c, uint8_t *out)
{
	int need;

	if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r' || c == '\b') {
		*out = c;
		return 1;
	}
	if (c == ESC) {
		f->state = TF_ESC;
		f->held[0] = c;
		f->held_len = 1;
		return 0;
	}
	need = c >= 0x80 ? tf_utf8_len(c) : -1;
	if (need > 0) {
		f->state = TF_UTF8;
		f->utf8_need = (uint8_t)need;
		f->held[0] = c;
		f->held_len = 1;
		return 0;
	}
	f->dropped++;   /* C0 controls, DEL, bytes that cannot start UTF-8 */
	return 0;
}

size_t term_filter_run(struct term_filter *f, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];

		/* CAN and SUB cancel any sequence; ESC starts a new one. */
		if (f->state != TF_GROUND && f->state != TF_STRING_ESC &&
		    (c == CAN || c == SUB || (c == ESC && f->state != TF_STRING))) {
			tf_drop_held(f);
			f->string_len = 0;
			if (c != ESC) {
				f->dropped++;
				continue;
			}
		}
		switch (f->state) {
		case TF_GROUND:
			o += tf_ground(f, c, out + o);
			break;
		case TF_ESC:
			if (c == '[') {
				f->held[f->held_len++] = c;
				f->state = TF_CSI;
			} else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
				f->dropped += f->held_len + 1;
				f->held_len = 0;
				f->string_len = 0;
				f->state = TF_STRING;
			} else if (c < 0x20) {
				/* A control inside an escape: ECMA-48 executes it;
				 * we drop the escape and treat the byte as ground. */
				tf_drop_held(f);
				o += tf_ground(f, c, out + o);
			} else {
				/* ESC c, ESC ( B, ESC # 8, ...: dropped, with
				 * their intermediate bytes (0x20-0x2f). */
				f->dropped += f->held_len + 1;
				f->held_len = 0;
				f->state = c <= 0x2f ? TF_ESC_INTER : TF_GROUND;
			}
			break;
		case TF_ESC_INTER:
			if (c < 0x20 || c > 0x7e) {
				f->state = TF_GROUND;
				o += tf_ground(f, c, out + o);
			} else {
				f->dropped++;
				if (c >= 0x30)       /* the final byte */
					f->state = TF_GROUND;
			}
			break;
		case TF_CSI:
			if (c >= 0x20 && c <= 0x3f) {        /* parameter and intermediate bytes */
				if (f->held_len + 1 >= TERM_FILTER_CSI_MAX) {
					tf_drop_held(f);
					f->dropped++;
					f->state = TF_CSI_DROP;
				} else {
					f->held[f->held_len++] = c;
				}
			} else if (c >= 0x40 && c <= 0x7e) { /* the final byte */
				f->held[f->held_len++] = c;
				if (tf_csi_allowed(f))
					o += tf_release(f, out + o);
				else
					tf_drop_held(f);
			} else {
				tf_drop_held(f);
				o += tf_ground(f, c, out + o);
			}
			break;
		case TF_CSI_DROP:
			if (c >= 0x20 && c <= 0x7e) {
				f->dropped++;
				if (c >= 0x40)       /* its final byte */
					f->state = TF_GROUND;
			} else {
				f->state = TF_GROUND;
				o += tf_ground(f, c, out + o);
			}
			break;
		case TF_STRING:
			f->dropped++;
			if (c == BEL || ++f->string_len >= TERM_FILTER_STRING_MAX) {
				f->state = TF_GROUND;
				f->string_len = 0;
			} else if (c == ESC) {
				f->state = TF_STRING_ESC;
			}
			break;
		case TF_STRING_ESC:
			f->dropped++;
			if (c == '\\') {
				f->state = TF_GROUND;
				f->string_len = 0;
			} else {
				f->state = TF_STRING;
				f->string_len++;
			}
			break;
		case TF_UTF8:
			if ((c & 0xc0) != 0x80) {
				tf_drop_held(f);
				o += tf_ground(f, c, out + o);
				break;
			}
			f->held[f->held_len++] = c;
			if (--f->utf8_need == 0) {
				if (tf_utf8_allowed(f))
					o += tf_release(f, out + o);
				else
					tf_drop_held(f);
			}
			break;
		}
	}
	return o;
}
