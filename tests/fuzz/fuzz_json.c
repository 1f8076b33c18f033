/*
 * Differential fuzz target for the fast JSON parser (common/sg_jsonfast.c).
 *
 * cJSON is the reference. Whatever the fast parser accepts, cJSON must
 * accept too, with an identical tree (order, keys, duplicates, types,
 * values). The fast parser may refuse more (it is strict RFC 8259 where
 * cJSON is lenient: control characters in strings, "01", "1."), never
 * less. Skipping managedFields must not change what is accepted.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sg_arena.h"
#include "sg_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const cJSON *a, const cJSON *b)
{
	if ((a->type & 0xff) != (b->type & 0xff))
		return false;
	if ((a->string == NULL) != (b->string == NULL))
		return false;
	if (a->string && strcmp(a->string, b->string) != 0)
		return false;
	switch (a->type & 0xff) {
	case cJSON_String:
		return strcmp(a->valuestring, b->valuestring) == 0;
	case cJSON_Number:
		return a->valuedouble == b->valuedouble && a->valueint == b->valueint;
	case cJSON_Array:
	case cJSON_Object: {
		const cJSON *x = a->child, *y = b->child;

		for (; x && y; x = x->next, y = y->next)
			if (!same(x, y))
				return false;
		return !x && !y;
	}
	default:
		return true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sg_arena arena;
	char *cause = NULL;
	cJSON *fast, *ref, *skipped;

	if (!arena.chunk_size)
		sg_arena_init(&arena, 64 << 10, 64 << 20);
	fast = sg_json_parse_arena((const char *)data, size, &arena, 0, &cause);
	free(cause);
	cause = NULL;
	skipped = sg_json_parse_arena((const char *)data, size, &arena, SG_JSON_SKIP_MANAGED_FIELDS,
				      &cause);
	free(cause);
	cause = NULL;
	if ((fast == NULL) != (skipped == NULL))
		abort();
	ref = sg_json_parse((const char *)data, size, &cause);
	free(cause);
	if (fast && !ref)
		abort();
	if (fast && !same(fast, ref))
		abort();
	cJSON_Delete(ref);
	sg_arena_reset(&arena);
	return 0;
}
