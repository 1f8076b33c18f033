/*
 * sg_scan: the first byte of a JSON string's text that is not plain: a
 * quote, a backslash or a control character (below 0x20). Shared by the
 * parser (where a string ends or has escapes) and the writer (what must be
 * escaped). Sixteen bytes at a time with SSE2, byte by byte elsewhere.
 */
#ifndef SG_SCAN_H
#define SG_SCAN_H

#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline const char *sg_scan_json_special(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* min(v, 0x1f) == v exactly for the bytes <= 0x1f (unsigned). */
		__m128i hit = _mm_or_si128(
			_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
			_mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
		int mask = _mm_movemask_epi8(hit);

		if (mask)
			return p + __builtin_ctz((unsigned)mask);
		p += 16;
	}
#endif
	for (; p < end; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			return p;
	return end;
}

#endif
