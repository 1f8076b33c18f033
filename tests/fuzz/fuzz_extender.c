/*
 * Fuzz target for the extender's decision path and inventory.
 *
 * The first byte picks what the rest is: a filter or prioritize body (any
 * bytes, as the scheduler or anyone reaching the port could send), or a
 * JSON array of inventory operations {"type": "A|D|B|E|P", "object": pod or
 * node} that drive upserts, removes, resyncs and prunes (which renumber
 * interned names). Invariants: no crash or sanitizer report, a 200 answer
 * is JSON, and a prioritize answer names only nodes that were asked about.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extender.h"
#include "inventory.h"
#include "nodes.h"
#include "policy.h"
#include "sg_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_answer(const char *body, size_t len, const struct sg_buf *out)
{
	char *cause = NULL;
	cJSON *ans = sg_json_parse(out->data, out->len, &cause), *req, *it;
	const cJSON *names;

	free(cause);
	if (!ans)
		abort();
	req = sg_json_parse(body, len, &cause);
	free(cause);
	names = req ? sg_json_get(req, "NodeNames") : NULL;
	if (cJSON_IsArray(ans) && cJSON_IsArray(names)) {
		cJSON_ArrayForEach(it, ans)
		{
			const char *host = sg_json_str(it, "Host");
			const cJSON *n;
			int found = 0;

			cJSON_ArrayForEach(n, names)
			{
				if (host && cJSON_IsString(n) && strcmp(n->valuestring, host) == 0)
					found = 1;
			}
			if (host && !found)
				abort();
		}
	}
	cJSON_Delete(req);
	cJSON_Delete(ans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ex_inventory *inv;
	static struct ex_nodes *nodes;
	static struct ex_policy *pol;
	static struct sg_arena arena;
	static struct sg_buf out;
	static double t;
	const char *body;
	uint8_t sel;

	if (!inv) {
		static const char pj[] = "{\"maxSandboxPodsPerNode\":2,\"runtimeClassNodeLabels\":"
					 "{\"kata\":\"k=v\",\"g\":\"x\"}}";
		char *cause = NULL;

		inv = ex_inventory_new();
		nodes = ex_nodes_new();
		pol = ex_policy_parse(pj, sizeof(pj) - 1, "fuzz", &cause);
		if (!inv || !nodes || !pol)
			abort();
		sg_arena_init(&arena, 1 << 16, 64u << 20);
		sg_buf_init(&out, 64u << 20);
	}
	if (size < 1)
		return 0;
	sel = data[0];
	body = (const char *)data + 1;
	size--;
	t += 1;
	if (sel % 4 < 2) {
		struct ex_state st = {inv, nodes, pol, t};
		struct ex_outcome res;
		int status;

		sg_buf_reset(&out);
		status = ex_handle(&st, sel % 2 ? EX_PRIORITIZE : EX_FILTER, body, size, &arena,
				   &out, &res);
		sg_arena_reset(&arena);
		if (status == 200)
			check_answer(body, size, &out);
		return 0;
	}
	{
		char *cause = NULL;
		cJSON *doc = sg_json_parse(body, size, &cause);
		const cJSON *it;

		free(cause);
		if (!doc)
			return 0;
		cJSON_ArrayForEach(it, doc)
		{
			const char *ty = sg_json_str(it, "type");
			const cJSON *o = sg_json_get(it, "object");

			if (!ty || !o)
				continue;
			switch (ty[0]) {
			case 'B':
				ex_inventory_resync_begin(inv);
				break;
			case 'E':
				ex_inventory_resync_end(inv, t);
				break;
			case 'D':
				ex_inventory_remove(inv, o, t);
				ex_nodes_remove(nodes, o);
				break;
			case 'P':
				ex_inventory_prune(inv, t - 5);
				break;
			default:
				ex_inventory_upsert(inv, o, t);
				ex_nodes_upsert(nodes, o);
			}
		}
		cJSON_Delete(doc);
	}
	return 0;
}
