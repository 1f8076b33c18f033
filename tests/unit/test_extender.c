#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "extender.h"
#include "helpers.h"
#include "sg_json.h"

Test(extender, cold_score_formula)
{
	struct ex_template_stats t = {.last_seen = -1};

	cr_assert_eq(ex_score_cold(&t, 100, 3600), 0);
	t.warm_ready = 1;
	t.warm_total = 1;
	cr_assert_eq(ex_score_cold(&t, 100, 3600), 10);
	t.warm_ready = 0;
	cr_assert_eq(ex_score_cold(&t, 100, 3600), 8);
	t.warm_total = 0;
	t.claimed = 2;
	cr_assert_eq(ex_score_cold(&t, 100, 3600), 8);
	t.claimed = 0;
	/* Six bands over the freshness window. */
	t.last_seen = 1000;
	cr_assert_eq(ex_score_cold(&t, 1000, 3600), 6);
	cr_assert_eq(ex_score_cold(&t, 1000 + 599, 3600), 6);
	cr_assert_eq(ex_score_cold(&t, 1000 + 601, 3600), 5);
	cr_assert_eq(ex_score_cold(&t, 1000 + 3599, 3600), 1);
	cr_assert_eq(ex_score_cold(&t, 1000 + 3600, 3600), 0);
	cr_assert_eq(ex_score_cold(&t, 1000, 0), 0);
}

Test(extender, refill_score_formula)
{
	struct ex_template_stats t = {.last_seen = -1};

	cr_assert_eq(ex_score_refill(&t, 0, 10, 3600), 5);
	t.claimed = 1;
	cr_assert_eq(ex_score_refill(&t, 0, 10, 3600), 10);
	cr_assert_eq(ex_score_refill(&t, 1, 10, 3600), 7);
	cr_assert_eq(ex_score_refill(&t, 2, 10, 3600), 4);
	cr_assert_eq(ex_score_refill(&t, 3, 10, 3600), 1);
	cr_assert_eq(ex_score_refill(&t, 50, 10, 3600), 1);
	t.claimed = 0;
	t.last_seen = 5;
	cr_assert_eq(ex_score_refill(&t, 1, 10, 3600), 7);
	cr_assert_eq(ex_score_refill(&t, 1, 5000, 3600), 5);
}

static struct ex_inventory *inv;
static struct ex_policy *pol;
static struct sg_arena arena;

static void setup(void)
{
	char *cause = NULL;
	cJSON *p = parse_or_die(
		"{\"metadata\":{\"uid\":\"w1\",\"namespace\":\"ns\",\"labels\":{\"agents.x-k8s.io/"
		"sandbox-template-ref-hash\":\"t1\",\"agents.x-k8s.io/warm-pool-sandbox\":\"p1\"}},"
		"\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"phase\":\"Running\",\"conditions\":"
		"[{\"type\":\"Ready\",\"status\":\"True\"}]}}");

	inv = ex_inventory_new();
	ex_inventory_upsert(inv, p, 1);
	cJSON_Delete(p);
	pol = ex_policy_parse("{\"maxSandboxPodsPerNode\":1}", 27, "t", &cause);
	cr_assert_not_null(pol, "%s", cause);
	sg_arena_init(&arena, 64 << 10, 64 << 20);
}

static void teardown(void)
{
	ex_inventory_free(inv);
	ex_policy_free(pol);
	sg_arena_release(&arena);
}

TestSuite(extender, .init = setup, .fini = teardown);

static cJSON *handle(enum ex_verb verb, const char *body, int *status, struct ex_outcome *res)
{
	struct ex_state st = {inv, NULL, pol, 2};
	struct sg_buf out;
	cJSON *j;

	sg_buf_init(&out, 1 << 20);
	*status = ex_handle(&st, verb, body, strlen(body), &arena, &out, res);
	j = *status == 200 ? parse_or_die(out.data) : NULL;
	sg_buf_release(&out);
	return j;
}

#define COLD_POD                                                                                   \
	"{\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\",\"labels\":{\"agents.x-k8s.io/"        \
	"sandbox-template-ref-hash\":\"t1\"}}}"

Test(extender, prioritize_answers_go_field_names_for_asked_nodes_only)
{
	struct ex_outcome res;
	int status;
	cJSON *j = handle(EX_PRIORITIZE,
			  "{\"Pod\":" COLD_POD ",\"Nodes\":null,\"NodeNames\":[\"n2\",\"n1\"]}",
			  &status, &res);

	cr_assert_eq(status, 200);
	cr_assert_eq(cJSON_GetArraySize(j), 2);
	cr_assert_str_eq(sg_json_str(cJSON_GetArrayItem(j, 0), "Host"), "n2");
	cr_assert_eq(sg_json_get(cJSON_GetArrayItem(j, 0), "Score")->valueint, 0);
	cr_assert_str_eq(sg_json_str(cJSON_GetArrayItem(j, 1), "Host"), "n1");
	cr_assert_eq(sg_json_get(cJSON_GetArrayItem(j, 1), "Score")->valueint, 10);
	cr_assert_str_eq(res.pod_class, "cold-start");
	cr_assert_str_eq(res.pod, "ns/c");
	cJSON_Delete(j);
}

/* The warm pod of template t1 is in namespace ns: another namespace's t1 is elsewhere. */
Test(extender, template_of_another_namespace_gets_no_locality)
{
	struct ex_outcome res;
	int status;
	cJSON *j = handle(EX_PRIORITIZE,
			  "{\"Pod\":{\"metadata\":{\"name\":\"c\",\"namespace\":\"other\","
			  "\"labels\":{\"agents.x-k8s.io/sandbox-template-ref-hash\":\"t1\"}}},"
			  "\"Nodes\":null,\"NodeNames\":[\"n2\",\"n1\"]}",
			  &status, &res);

	cr_assert_eq(status, 200);
	cr_assert_eq(sg_json_get(cJSON_GetArrayItem(j, 0), "Score")->valueint, 0);
	cr_assert_eq(sg_json_get(cJSON_GetArrayItem(j, 1), "Score")->valueint, 0);
	cr_assert_str_eq(res.pod_class, "cold-start");
	cJSON_Delete(j);
}

Test(extender, filter_density_cap_with_reason)
{
	struct ex_outcome res;
	int status;
	cJSON *j = handle(EX_FILTER, "{\"Pod\":" COLD_POD ",\"NodeNames\":[\"n1\",\"n2\"]}",
			  &status, &res);

	cr_assert_eq(status, 200);
	cr_assert_eq(cJSON_GetArraySize(sg_json_get(j, "NodeNames")), 1);
	cr_assert_str_eq(sg_json_str(sg_json_get(j, "FailedNodes"), "n1"),
			 "node runs 1 sandbox pods (limit 1)");
	cr_assert_str_eq(sg_json_str(j, "Error"), "");
	cJSON_Delete(j);
}

Test(extender, full_node_list_echoes_the_input_bytes)
{
	const char *body = "{\"Pod\":" COLD_POD ",\"Nodes\":{\"items\":[{\"metadata\":{\"name\":"
			   "\"n2\"},\"x\":1e400},{\"metadata\":{\"name\":\"n1\"}}]},"
			   "\"NodeNames\":null}";
	struct ex_state st = {inv, NULL, pol, 2};
	struct ex_outcome res;
	struct sg_buf out;

	sg_buf_init(&out, 1 << 20);
	cr_assert_eq(ex_handle(&st, EX_FILTER, body, strlen(body), &arena, &out, &res), 200);
	/* n1 is at the cap; n2 passes, echoed as sent (1e400 would not survive re-printing). */
	cr_assert(strstr(out.data, "\"items\":[{\"metadata\":{\"name\":\"n2\"},\"x\":1e400}]"),
		  "%s", out.data);
	sg_buf_release(&out);
}

Test(extender, bad_requests)
{
	struct ex_outcome res;
	int status;
	cJSON *j = handle(EX_FILTER, "{\"Pod\":{}}", &status, &res);

	cr_assert_eq(status, 200);
	cr_assert(strstr(sg_json_str(j, "Error"), "neither NodeNames nor Nodes.items"));
	cJSON_Delete(j);
	cr_assert_null(handle(EX_PRIORITIZE, "nope", &status, &res));
	cr_assert_eq(status, 400);
	cr_assert_str_eq(res.pod_class, "invalid");
}

/*
 * agent-sandbox 1.0 pods as the scheduler sees them (the webhook's 1.0
 * fixtures, tests/fixtures/reviews/generate.py): a pool's new pod is a
 * refill, a claim's own pod a cold start, a bare Sandbox's pod only a
 * sandbox pod. The 1.0 warm pod of the same template already runs on n1.
 */
static char *v1_pod_text(const char *fixture)
{
	char rel[128], *text;
	cJSON *review, *pod;

	snprintf(rel, sizeof(rel), "reviews/%s", fixture);
	review = fixture_json(rel);
	pod = sg_json_get(sg_json_get(review, "request"), "object");
	text = cJSON_PrintUnformatted(pod);
	cJSON_Delete(review);
	return text;
}

static void v1_prioritize(const char *pod, const char *cls, int score_n2, int score_n1)
{
	struct ex_outcome res;
	struct sg_buf body;
	int status;
	cJSON *j;

	sg_buf_init(&body, 1 << 20);
	sg_buf_printf(&body, "{\"Pod\":%s,\"Nodes\":null,\"NodeNames\":[\"n2\",\"n1\"]}", pod);
	j = handle(EX_PRIORITIZE, body.data, &status, &res);
	cr_assert_eq(status, 200);
	cr_assert_str_eq(res.pod_class, cls);
	if (score_n2 < 0) {
		cr_assert_eq(cJSON_GetArraySize(j), 0);
	} else {
		cr_assert_eq(sg_json_get(cJSON_GetArrayItem(j, 0), "Score")->valueint, score_n2);
		cr_assert_eq(sg_json_get(cJSON_GetArrayItem(j, 1), "Score")->valueint, score_n1);
	}
	cJSON_Delete(j);
	sg_buf_release(&body);
}

Test(extender, agent_sandbox_1_0_pods_are_classified_and_scored)
{
	char *text = v1_pod_text("v1.0-pod-warm-create.json");
	cJSON *warm = parse_or_die(text), *bare;

	free(text);

	cJSON_AddStringToObject(sg_json_get(warm, "metadata"), "uid", "v1-warm");
	cJSON_AddStringToObject(sg_json_get(warm, "spec"), "nodeName", "n1");
	cJSON_ReplaceItemInObject(warm, "status",
				  parse_or_die("{\"phase\":\"Running\",\"conditions\":[{\"type\":"
					       "\"Ready\",\"status\":\"True\"}]}"));
	ex_inventory_upsert(inv, warm, 1);
	cJSON_Delete(warm);

	/* The pool's next pod: the image is on n1, which holds one of the pool's pods. */
	text = v1_pod_text("v1.0-pod-warm-create.json");
	v1_prioritize(text, "refill", 5, 7);
	free(text);
	/* A claim that cold-starts goes where a ready warm pod of its template runs. */
	text = v1_pod_text("v1.0-pod-cold-claim-create.json");
	v1_prioritize(text, "cold-start", 0, 10);
	free(text);
	/* A Sandbox made without a template: only the name hash and the owner. */
	text = v1_pod_text("v1.0-pod-cold-claim-create.json");
	bare = parse_or_die(text);
	free(text);
	cJSON_DeleteItemFromObject(sg_json_obj(sg_json_get(bare, "metadata"), "labels"),
				   "agents.x-k8s.io/sandbox-template-ref-hash");
	text = cJSON_PrintUnformatted(bare);
	v1_prioritize(text, "sandbox", -1, -1);
	free(text);
	cJSON_Delete(bare);
}

/* The extender's policy file may be YAML too, with the same fields. */
Test(extender, yaml_policy)
{
	const char *text = "# one sandbox per node at most\nmaxSandboxPodsPerNode: 1\n";
	char *cause = NULL;
	struct ex_policy *p = ex_policy_parse(text, strlen(text), "p.yaml", &cause);

	cr_assert_not_null(p, "%s", cause);
	cr_assert_eq(p->max_per_node, 1);
	ex_policy_free(p);
	p = ex_policy_parse("maxSandboxPodsPerNode: 1\nmaxSandboxPodsPerNode: 2\n", 50, "p.yaml",
			    &cause);
	cr_assert_null(p);
	cr_assert(strstr(cause, "p.yaml: line 2, column 1: duplicate key"), "%s", cause);
	free(cause);
}
