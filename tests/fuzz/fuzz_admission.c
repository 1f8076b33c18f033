/*
 * Fuzz target for the whole admission path: any bytes as a request body,
 * to both endpoints, with the built-in policy, once trusting the policy's
 * RuntimeClass names and once with a cluster whose gvisor class runs runc
 * (so the refusals and warnings that name classes are built too). Nothing
 * may crash, leak or trip a sanitizer, and every 200 answer must itself be
 * valid JSON.
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
	static struct wh_runtimes *cluster;
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
		cluster = wh_runtimes_new();
		if (!cluster)
			abort();
		wh_runtimes_resync_begin(cluster);
		if (wh_runtimes_put(cluster, "gvisor", "runc") ||
		    wh_runtimes_put(cluster, "kata", "kata"))
			abort();
		wh_runtimes_resync_end(cluster);
	}
	for (int run = 0; run < 4; run++) {
		enum wh_endpoint ep = run % 2 ? WH_VALIDATE : WH_MUTATE;
		int status;

		sg_buf_init(&out, 32u << 20);
		status = wh_admit_rt(policy, run < 2 ? NULL : cluster, ep, (const char *)data, size,
				     &arena, &out, &res);
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
