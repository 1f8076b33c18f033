#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "inventory.h"
#include "sg_json.h"

#define TMPL "9e8d7c6b"
#define POOL "1f2e3d4c"
#define NS   "team-a"

static struct ex_inventory *inv;

static void setup(void)
{
	inv = ex_inventory_new();
	cr_assert_not_null(inv);
}

static void teardown(void)
{
	ex_inventory_free(inv);
}

TestSuite(inventory, .init = setup, .fini = teardown);

/* A pod of namespace ns as the API server describes it. node/pool may be NULL. */
static cJSON *pod_in(const char *ns, const char *uid, const char *node, const char *pool,
		     bool ready, const char *phase, bool deleting)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"namespace\":\"%s\",\"uid\":\"%s\",%s\"labels\":{"
		 "\"agents.x-k8s.io/sandbox-template-ref-hash\":\"" TMPL "\"%s%s%s}},"
		 "\"spec\":{%s%s%s},\"status\":{\"phase\":\"%s\",\"conditions\":[{\"type\":"
		 "\"Ready\",\"status\":\"%s\"}]}}",
		 ns, uid, deleting ? "\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"," : "",
		 pool ? ",\"agents.x-k8s.io/warm-pool-sandbox\":\"" : "", pool ? pool : "",
		 pool ? "\"" : "", node ? "\"nodeName\":\"" : "", node ? node : "",
		 node ? "\"" : "", phase, ready ? "True" : "False");
	return parse_or_die(text);
}

static cJSON *pod(const char *uid, const char *node, const char *pool, bool ready,
		  const char *phase, bool deleting)
{
	return pod_in(NS, uid, node, pool, ready, phase, deleting);
}

static void upsert(cJSON *p, double now)
{
	ex_inventory_upsert(inv, p, now);
	cJSON_Delete(p);
}

static struct ex_template_stats stats(const char *node)
{
	struct ex_template_stats t;

	ex_inventory_template(inv, node, NS, TMPL, &t);
	return t;
}

Test(inventory, warm_ready_pod_counts_on_its_node)
{
	struct ex_template_stats t;

	upsert(pod("u1", "n1", POOL, true, "Running", false), 10);
	t = stats("n1");
	cr_assert_eq(t.warm_ready, 1);
	cr_assert_eq(t.warm_total, 1);
	cr_assert_eq(t.claimed, 0);
	cr_assert_eq(ex_inventory_pool_warm(inv, "n1", NS, POOL), 1);
	cr_assert_eq(ex_inventory_node_pods(inv, "n1"), 1);
	cr_assert_eq(stats("n2").warm_total, 0);
}

Test(inventory, every_transition_of_one_pod)
{
	/* Pending, unbound: nowhere. */
	upsert(pod("u1", NULL, POOL, false, "Pending", false), 1);
	cr_assert_eq(ex_inventory_pods(inv), 1);
	cr_assert_eq(ex_inventory_node_pods(inv, "n1"), 0);
	/* Bound, not ready: warm total only. */
	upsert(pod("u1", "n1", POOL, false, "Pending", false), 2);
	cr_assert_eq(stats("n1").warm_total, 1);
	cr_assert_eq(stats("n1").warm_ready, 0);
	/* Ready. */
	upsert(pod("u1", "n1", POOL, true, "Running", false), 3);
	cr_assert_eq(stats("n1").warm_ready, 1);
	/* The same event again changes nothing. */
	upsert(pod("u1", "n1", POOL, true, "Running", false), 4);
	cr_assert_eq(stats("n1").warm_ready, 1);
	cr_assert_eq(ex_inventory_node_pods(inv, "n1"), 1);
	/* Adopted by a claim: the warm-pool label goes. */
	upsert(pod("u1", "n1", NULL, true, "Running", false), 5);
	cr_assert_eq(stats("n1").warm_total, 0);
	cr_assert_eq(stats("n1").claimed, 1);
	cr_assert_eq(ex_inventory_pool_warm(inv, "n1", NS, POOL), 0);
	/* Being deleted: counts nowhere, the template was just here. */
	upsert(pod("u1", "n1", NULL, true, "Running", true), 6);
	cr_assert_eq(stats("n1").claimed, 0);
	cr_assert_eq(stats("n1").last_seen, 6);
	cr_assert_eq(ex_inventory_node_pods(inv, "n1"), 0);
	/* Gone. */
	{
		cJSON *p = pod("u1", "n1", NULL, true, "Running", true);

		ex_inventory_remove(inv, p, 7);
		cJSON_Delete(p);
	}
	cr_assert_eq(ex_inventory_pods(inv), 0);
	cr_assert_eq(stats("n1").last_seen, 6);
}

Test(inventory, finished_pods_count_nowhere)
{
	upsert(pod("s", "n1", POOL, false, "Succeeded", false), 1);
	upsert(pod("f", "n1", NULL, false, "Failed", false), 1);
	cr_assert_eq(ex_inventory_node_pods(inv, "n1"), 0);
	cr_assert_eq(stats("n1").warm_total + stats("n1").claimed, 0);
	cr_assert_eq(stats("n1").last_seen, 1);
}

Test(inventory, pod_moving_nodes_moves_its_counts)
{
	upsert(pod("u1", "n1", POOL, true, "Running", false), 1);
	upsert(pod("u1", "n2", POOL, true, "Running", false), 2);
	cr_assert_eq(stats("n1").warm_total, 0);
	cr_assert_eq(stats("n2").warm_total, 1);
}

Test(inventory, losing_the_template_label_forgets_the_pod)
{
	cJSON *p =
		parse_or_die("{\"metadata\":{\"uid\":\"u1\",\"labels\":{}},\"spec\":{\"nodeName\":"
			     "\"n1\"}}");

	upsert(pod("u1", "n1", POOL, true, "Running", false), 1);
	ex_inventory_upsert(inv, p, 2);
	cJSON_Delete(p);
	cr_assert_eq(ex_inventory_pods(inv), 0);
	cr_assert_eq(stats("n1").warm_total, 0);
}

Test(inventory, resync_drops_what_it_did_not_see_and_keeps_counts_exact)
{
	char uid[16];

	for (int i = 0; i < 10; i++) {
		snprintf(uid, sizeof(uid), "u%d", i);
		upsert(pod(uid, "n1", POOL, true, "Running", false), 1);
	}
	ex_inventory_resync_begin(inv);
	for (int i = 0; i < 10; i += 2) {
		snprintf(uid, sizeof(uid), "u%d", i);
		upsert(pod(uid, "n1", POOL, true, "Running", false), 2);
	}
	upsert(pod("new", "n2", POOL, true, "Running", false), 2);
	ex_inventory_resync_end(inv, 3);
	cr_assert_eq(ex_inventory_pods(inv), 6);
	cr_assert_eq(stats("n1").warm_ready, 5);
	cr_assert_eq(stats("n2").warm_ready, 1);
	cr_assert_eq(ex_inventory_node_pods(inv, "n1"), 5);
}

Test(inventory, malformed_pods_are_ignored)
{
	cJSON *p = parse_or_die("{\"metadata\":{\"labels\":{\"agents.x-k8s.io/"
				"sandbox-template-ref-hash\":\"x\"}}}");

	ex_inventory_upsert(inv, p, 1);
	ex_inventory_remove(inv, p, 1);
	cJSON_Delete(p);
	p = parse_or_die("[1,2]");
	ex_inventory_upsert(inv, p, 1);
	cJSON_Delete(p);
	cr_assert_eq(ex_inventory_pods(inv), 0);
}

Test(inventory, many_pods_insert_delete_reinsert)
{
	char uid[16], node[16];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5000; i++) {
			snprintf(uid, sizeof(uid), "u%d", i);
			snprintf(node, sizeof(node), "n%d", i % 50);
			upsert(pod(uid, node, POOL, true, "Running", false), round);
		}
		cr_assert_eq(ex_inventory_pods(inv), 5000);
		cr_assert_eq(stats("n7").warm_ready, 100);
		for (int i = 0; i < 5000; i++) {
			cJSON *p;

			snprintf(uid, sizeof(uid), "u%d", i);
			p = pod(uid, "n0", POOL, true, "Running", false);
			ex_inventory_remove(inv, p, round);
			cJSON_Delete(p);
		}
		cr_assert_eq(ex_inventory_pods(inv), 0);
		cr_assert_eq(stats("n7").warm_ready, 0);
	}
}

Test(inventory, prune_forgets_old_empty_entries_only)
{
	struct ex_template_stats t;

	upsert(pod("gone", "n1", POOL, true, "Running", false), 1);
	{
		cJSON *p = pod("gone", "n1", POOL, true, "Running", false);

		ex_inventory_remove(inv, p, 2);
		cJSON_Delete(p);
	}
	upsert(pod("here", "n2", POOL, true, "Running", false), 1);
	ex_inventory_prune(inv, 100);
	cr_assert(!ex_inventory_template(inv, "n1", NS, TMPL, &t));
	cr_assert(ex_inventory_template(inv, "n2", NS, TMPL, &t));
	cr_assert_eq(t.warm_ready, 1);
}

/* agent-sandbox hashes the template name only: namespaces must not share counts. */
Test(inventory, same_template_hash_in_two_namespaces_is_two_templates)
{
	struct ex_template_stats t;

	upsert(pod("a1", "n1", POOL, true, "Running", false), 0);
	upsert(pod_in("team-b", "b1", "n2", POOL, true, "Running", false), 0);
	upsert(pod_in("team-b", "b2", "n2", POOL, true, "Running", false), 0);
	cr_assert_eq(stats("n1").warm_ready, 1);
	cr_assert(!ex_inventory_template(inv, "n2", NS, TMPL, &t));
	cr_assert(ex_inventory_template(inv, "n2", "team-b", TMPL, &t));
	cr_assert_eq(t.warm_ready, 2);
	cr_assert(!ex_inventory_template(inv, "n1", "team-b", TMPL, &t));
	cr_assert_eq(ex_inventory_pool_warm(inv, "n1", NS, POOL), 1);
	cr_assert_eq(ex_inventory_pool_warm(inv, "n2", NS, POOL), 0);
	cr_assert_eq(ex_inventory_pool_warm(inv, "n2", "team-b", POOL), 2);
	/* Node totals (the per-node cap) still count every namespace. */
	cr_assert_eq(ex_inventory_node_pods(inv, "n2"), 2);
	cr_assert_eq(ex_inventory_scoped_id(inv, "team-c", TMPL), EX_UNKNOWN);
}

/* Nodes and templates that are gone leave the name table: memory follows live pods. */
Test(inventory, names_of_departed_nodes_and_templates_are_forgotten)
{
	struct ex_template_stats t;
	char uid[64], node[32], text[1024];
	size_t full, after;

	for (int i = 0; i < 2000; i++) {
		snprintf(uid, sizeof(uid), "u%d", i);
		snprintf(node, sizeof(node), "node-%d", i);
		snprintf(text, sizeof(text),
			 "{\"metadata\":{\"namespace\":\"ns%d\",\"uid\":\"%s\",\"labels\":{"
			 "\"agents.x-k8s.io/sandbox-template-ref-hash\":\"t%d\"}},"
			 "\"spec\":{\"nodeName\":\"%s\"},\"status\":{\"phase\":\"Running\"}}",
			 i % 7, uid, i, node);
		upsert(parse_or_die(text), 0);
	}
	upsert(pod("keep", "node-5", POOL, true, "Running", false), 0);
	full = ex_inventory_bytes(inv);
	for (int i = 0; i < 2000; i++) {
		snprintf(text, sizeof(text), "{\"metadata\":{\"uid\":\"u%d\"}}", i);
		cJSON *p = parse_or_die(text);

		ex_inventory_remove(inv, p, 1);
		cJSON_Delete(p);
	}
	ex_inventory_prune(inv, 100);
	after = ex_inventory_bytes(inv);
	cr_assert_lt(after, full, "%zu bytes before, %zu after", full, after);
	cr_assert_eq(ex_inventory_id(inv, "node-1999"), EX_UNKNOWN);
	cr_assert_eq(ex_inventory_scoped_id(inv, "ns0", "t0"), EX_UNKNOWN);
	/* The survivor, renumbered, still answers. */
	cr_assert(ex_inventory_template(inv, "node-5", NS, TMPL, &t));
	cr_assert_eq(t.warm_ready, 1);
	cr_assert_eq(ex_inventory_pool_warm(inv, "node-5", NS, POOL), 1);
	cr_assert_eq(ex_inventory_node_pods(inv, "node-5"), 1);
	/* And new pods intern and count as before. */
	upsert(pod("new", "node-9", POOL, true, "Running", false), 2);
	cr_assert(ex_inventory_template(inv, "node-9", NS, TMPL, &t));
	cr_assert_eq(t.warm_ready, 1);
	cr_assert_eq(ex_inventory_node_pods(inv, "node-9"), 1);
	cr_assert_eq(ex_inventory_node_pods(inv, "node-5"), 1);
}

/*
 * agent-sandbox 1.0 pods, taken from the webhook's fixtures (generated from
 * the 1.0 API, see tests/fixtures/reviews/generate.py) and placed on a node.
 * 1.0 keys them as 0.5.x does: sandbox-template-ref-hash is FNV-1a of the
 * template name, warm-pool-sandbox FNV-1a of the pool name and present only
 * while a pool owns the sandbox; launch-type and the blueprint hash
 * (sandbox-template-hash) play no part, even where a pod carries them.
 */
#define V1_TMPL "7c7dd1d6" /* python-runtime */
#define V1_POOL "ed572cc4" /* python-pool */

static cJSON *v1_pod(const char *fixture, const char *uid, const char *node)
{
	char rel[128];
	cJSON *review, *pod, *meta, *status;

	snprintf(rel, sizeof(rel), "reviews/%s", fixture);
	review = fixture_json(rel);
	pod = cJSON_DetachItemFromObject(sg_json_get(review, "request"), "object");
	cJSON_Delete(review);
	meta = sg_json_get(pod, "metadata");
	cJSON_AddStringToObject(meta, "uid", uid);
	cJSON_AddStringToObject(sg_json_get(pod, "spec"), "nodeName", node);
	cJSON_DeleteItemFromObject(pod, "status");
	status = parse_or_die("{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\","
			      "\"status\":\"True\"}]}");
	cJSON_AddItemToObject(pod, "status", status);
	return pod;
}

static struct ex_template_stats v1_stats(const char *node)
{
	struct ex_template_stats t;

	ex_inventory_template(inv, node, "team-a", V1_TMPL, &t);
	return t;
}

Test(inventory, agent_sandbox_1_0_warm_adopted_and_cold_pods)
{
	cJSON *p;

	upsert(v1_pod("v1.0-pod-warm-create.json", "w1", "n1"), 1);
	cr_assert_eq(v1_stats("n1").warm_ready, 1);
	cr_assert_eq(v1_stats("n1").claimed, 0);
	cr_assert_eq(ex_inventory_pool_warm(inv, "n1", "team-a", V1_POOL), 1);

	/* A later 1.0.x copying launch-type and the blueprint hash onto pods changes nothing. */
	p = v1_pod("v1.0-pod-warm-create.json", "w2", "n1");
	cJSON_AddStringToObject(sg_json_obj(sg_json_get(p, "metadata"), "labels"),
				"agents.x-k8s.io/launch-type", "warm");
	cJSON_AddStringToObject(sg_json_obj(sg_json_get(p, "metadata"), "labels"),
				"agents.x-k8s.io/sandbox-template-hash", "0a9b8c7d");
	upsert(p, 1);
	cr_assert_eq(v1_stats("n1").warm_ready, 2);
	cr_assert_eq(ex_inventory_pool_warm(inv, "n1", "team-a", V1_POOL), 2);

	/* Adoption by a claim: the warm-pool label goes; a claim-uid label changes nothing. */
	upsert(v1_pod("v1.0-pod-adoption-update.json", "w1", "n1"), 2);
	cr_assert_eq(v1_stats("n1").warm_ready, 1);
	cr_assert_eq(v1_stats("n1").claimed, 1);
	upsert(v1_pod("v1.0-pod-claim-uid-changed-update.json", "w1", "n1"), 3);
	cr_assert_eq(v1_stats("n1").claimed, 1);
	cr_assert_eq(ex_inventory_pool_warm(inv, "n1", "team-a", V1_POOL), 1);

	/* A cold start: the claim's own pod, template hash and no pool. */
	upsert(v1_pod("v1.0-pod-cold-claim-create.json", "c1", "n2"), 4);
	cr_assert_eq(v1_stats("n2").claimed, 1);
	cr_assert_eq(v1_stats("n2").warm_total, 0);
	cr_assert_eq(ex_inventory_node_pods(inv, "n1"), 2);
	cr_assert_eq(ex_inventory_pods(inv), 3);
}
