/*
 * Fuzz target for the whole admission path: any bytes as a request body,
 * to both endpoints, with the built-in policy. Nothing may crash, leak or
 * trip a sanitizer, and every 200 answer must itself be valid JSON.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "sg_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wh_policy *policy;
	static struct sg_arena arena;
	struct wh_outcome res;
	struct sg_buf out;

	if (!policy) {
		char *cause = NULL;

		policy = wh_policy_parse(wh_default_policy_json, strlen(wh_default_policy_json),
					 "default", &cause);
		if (!policy)
			abort();
		sg_arena_init(&arena, WH_ARENA_CHUNK, WH_ARENA_MAX);
	}
	for (int ep = WH_MUTATE; ep <= WH_VALIDATE; ep++) {
		int status;

		sg_buf_init(&out, 32u << 20);
		status = wh_admit(policy, (enum wh_endpoint)ep, (const char *)data, size, &arena,
				  &out, &res);
		if (status == 200) {
			char *cause = NULL;
			cJSON *j = sg_json_parse(out.data, out.len, &cause);

			if (!j)
				abort();
			cJSON_Delete(j);
		} else if (status != 400) {
			abort();
		}
		sg_buf_release(&out);
	}
	return 0;
}
