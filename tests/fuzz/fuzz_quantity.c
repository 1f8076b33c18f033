/*
 * Fuzz target for the quantity parser (webhook/quantity.c): any bytes,
 * NUL-terminated at the first NUL or the end. Parsing never crashes or
 * overflows (the sanitizers watch), a success stays within the documented
 * magnitude, and a parsed value equals itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct wh_quantity q;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (wh_quantity_parse(s, &q) == 0) {
		if (q.nano > ((unsigned __int128)1 << 63) * 1000000000u ||
		    wh_quantity_cmp(&q, &q) != 0 || (q.negative && q.nano == 0))
			abort();
	}
	free(s);
	return 0;
}
