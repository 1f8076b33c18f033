/*
 * extender-bench: the extender's inventory and decisions, in process.
 *
 *   build/bench/extender-bench [pools replicas nodes]     (default 500 400 850)
 *
 * 1. Ingest: builds watch events for pools x replicas warm pods spread over
 *    nodes (agent-sandbox's own scale test: 500 pools x 400 replicas on 850
 *    nodes = 200,000 pods), and times parsing + applying them, as the
 *    informer does: events per second.
 * 2. Memory: the inventory's own byte count and the process RSS growth.
 * 3. Decisions: filter + prioritize for a cold-start claim pod with 500 and
 *    5,000 node names (nodeCacheCapable), and filter with a full NodeList of
 *    500 nodes: p50 / p99 / max over many calls.
 *
 * Prints a Markdown table. The HTTP-level figures (and the comparison with
 * a static server) come from tests/bench/extender-bench.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extender.h"
#include "inventory.h"
#include "policy.h"
#include "sg_arena.h"
#include "sg_buf.h"
#include "sg_json.h"
#include "sg_map.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* A watch event for one warm pod, shaped like the API server's (managedFields included). */
static void event(struct sg_buf *b, int pool, int replica, int node)
{
	char tmpl[16], pl[16], name[64];

	snprintf(name, sizeof(name), "pool-%d", pool);
	snprintf(tmpl, sizeof(tmpl), "%08x", (unsigned)sg_hash_str(name) ^ 0x5a5a5a5au);
	snprintf(pl, sizeof(pl), "%08x", (unsigned)sg_hash_str(name));
	sg_buf_reset(b);
	sg_buf_printf(
		b,
		"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
		"\"metadata\":{"
		"\"name\":\"pool-%d-%05d\",\"namespace\":\"team-%d\",\"uid\":\"%08x-%04x-4000-8000-"
		"%012d\","
		"\"resourceVersion\":\"%d\",\"labels\":{\"agents.x-k8s.io/"
		"sandbox-name-hash\":\"%08x\","
		"\"agents.x-k8s.io/sandbox-template-ref-hash\":\"%s\","
		"\"agents.x-k8s.io/warm-pool-sandbox\":\"%s\",\"sandbox-guard.io/network-profile\":"
		"\"default\"},\"annotations\":{\"cluster-autoscaler.kubernetes.io/safe-to-evict\":"
		"\"true\"},\"ownerReferences\":[{\"apiVersion\":\"agents.x-k8s.io/"
		"v1beta1\",\"kind\":"
		"\"Sandbox\",\"name\":\"pool-%d-%05d\",\"uid\":\"u\",\"controller\":true}],"
		"\"managedFields\":[{\"manager\":\"agent-sandbox-controller\",\"operation\":"
		"\"Update\","
		"\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{"
		"\"f:labels\":{}},\"f:spec\":{\"f:containers\":{}}}}]},\"spec\":{\"containers\":[{"
		"\"name\":\"runtime\",\"image\":\"registry.example.com/agents/"
		"runtime:3\",\"resources\":"
		"{}}],\"runtimeClassName\":\"gvisor\",\"nodeName\":\"node-%04d\"},\"status\":{"
		"\"phase\":"
		"\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"podIP\":"
		"\"10.244.%d.%d\"}}}",
		pool, replica, pool % 50, (unsigned)pool, (unsigned)replica, pool * 1000 + replica,
		pool * 1000 + replica, (unsigned)(pool * 1000 + replica), tmpl, pl, pool, replica,
		node, node % 256, replica % 256);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Times n calls of ex_handle on body; prints one table row. */
static void time_calls(const char *label, const struct ex_state *st, enum ex_verb verb,
		       const char *body, size_t len, int n)
{
	double *t = malloc((size_t)n * sizeof(*t));
	struct sg_arena arena;
	struct ex_outcome res;
	struct sg_buf out;

	sg_arena_init(&arena, 256u << 10, 512u << 20);
	sg_buf_init(&out, 128u << 20);
	for (int i = 0; i < n; i++) {
		double t0 = now();

		sg_buf_reset(&out);
		if (ex_handle(st, verb, body, len, &arena, &out, &res) != 200) {
			fprintf(stderr, "%s: unexpected answer: %.200s\n", label, out.data);
			exit(1);
		}
		t[i] = (now() - t0) * 1e3;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("| %s | %zu KiB | %.3f | %.3f | %.3f |\n", label, len >> 10, t[n / 2],
	       t[(size_t)n * 99 / 100], t[n - 1]);
	free(t);
	sg_buf_release(&out);
	sg_arena_release(&arena);
}

#define COLD_POD                                                                                   \
	"{\"metadata\":{\"name\":\"claim-1\",\"namespace\":\"team-7\",\"labels\":{"                \
	"\"agents.x-k8s.io/sandbox-name-hash\":\"01234567\","                                      \
	"\"agents.x-k8s.io/sandbox-template-ref-hash\":\"%s\"}},\"spec\":{\"runtimeClassName\":"   \
	"\"gvisor\",\"containers\":[{\"name\":\"runtime\",\"image\":\"x\"}]}}"

int main(int argc, char **argv)
{
	int pools = argc > 3 ? atoi(argv[1]) : 500, replicas = argc > 3 ? atoi(argv[2]) : 400;
	int nodes = argc > 3 ? atoi(argv[3]) : 850;
	struct ex_inventory *inv = ex_inventory_new();
	struct sg_arena arena;
	struct sg_buf ev, body;
	char *cause = NULL, tmpl[16];
	struct ex_policy *pol = ex_policy_parse(ex_default_policy_json,
						strlen(ex_default_policy_json), "d", &cause);
	long rss0 = rss_kib(), rss1;
	double t0, parse_s = 0, apply_s = 0, bytes = 0;
	long total = (long)pools * replicas, k = 0;

	sg_arena_init(&arena, 256u << 10, 64u << 20);
	sg_buf_init(&ev, 1u << 20);
	sg_buf_init(&body, 64u << 20);
	/* Replicas go round-robin over the nodes, pools offset, as a spread-out fleet. */
	for (int p = 0; p < pools; p++)
		for (int r = 0; r < replicas; r++, k++) {
			cJSON *doc;

			event(&ev, p, r, (int)((k * 7 + p) % nodes));
			bytes += (double)ev.len;
			t0 = now();
			doc = sg_json_parse_arena(ev.data, ev.len, &arena,
						  SG_JSON_SKIP_MANAGED_FIELDS, &cause);
			parse_s += now() - t0;
			if (!doc) {
				fprintf(stderr, "bad event: %s\n", cause);
				return 1;
			}
			t0 = now();
			ex_inventory_upsert(inv, sg_json_get(doc, "object"), 1.0);
			apply_s += now() - t0;
			sg_arena_reset(&arena);
		}
	rss1 = rss_kib();
	printf("## Inventory: %d pools x %d replicas on %d nodes = %ld pods\n\n", pools, replicas,
	       nodes, total);
	printf("| what | figure |\n|---|---|\n");
	printf("| events ingested (parse + apply) | %.0f /s (%.0f MB/s of event JSON) |\n",
	       (double)total / (parse_s + apply_s), bytes / (parse_s + apply_s) / 1e6);
	printf("| of which apply only | %.0f /s |\n", (double)total / apply_s);
	printf("| inventory size (own count) | %.1f MiB (%.0f bytes per pod) |\n",
	       (double)ex_inventory_bytes(inv) / (1 << 20),
	       (double)ex_inventory_bytes(inv) / (double)total);
	printf("| process RSS growth | %.1f MiB |\n", (double)(rss1 - rss0) / 1024);
	printf("| pods tracked | %zu |\n\n", ex_inventory_pods(inv));

	{
		struct ex_state st = {inv, NULL, pol, 2.0};
		char name[64];
		int sizes[] = {500, 5000};

		snprintf(name, sizeof(name), "pool-%d", 7);
		snprintf(tmpl, sizeof(tmpl), "%08x", (unsigned)sg_hash_str(name) ^ 0x5a5a5a5au);
		printf("## Decisions for a cold-start claim pod (in process, no HTTP)\n\n");
		printf("| call | body | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n");
		for (int s = 0; s < 2; s++) {
			sg_buf_reset(&body);
			sg_buf_puts(&body, "{\"Pod\":");
			sg_buf_printf(&body, COLD_POD, tmpl);
			sg_buf_puts(&body, ",\"Nodes\":null,\"NodeNames\":[");
			for (int i = 0; i < sizes[s]; i++)
				sg_buf_printf(&body, "%s\"node-%04d\"", i ? "," : "", i % 10000);
			sg_buf_puts(&body, "]}");
			snprintf(name, sizeof(name), "filter, %d names", sizes[s]);
			time_calls(name, &st, EX_FILTER, body.data, body.len, 2000);
			snprintf(name, sizeof(name), "prioritize, %d names", sizes[s]);
			time_calls(name, &st, EX_PRIORITIZE, body.data, body.len, 2000);
		}
		/* Full NodeList mode: realistic Node objects of about 1.5 KB. */
		sg_buf_reset(&body);
		sg_buf_puts(&body, "{\"Pod\":");
		sg_buf_printf(&body, COLD_POD, tmpl);
		sg_buf_puts(&body, ",\"NodeNames\":null,\"Nodes\":{\"metadata\":{},\"items\":[");
		for (int i = 0; i < 500; i++)
			sg_buf_printf(
				&body,
				"%s{\"metadata\":{\"name\":\"node-%04d\",\"uid\":\"%08x-0000-4000-"
				"8000-"
				"000000000000\",\"resourceVersion\":\"%d\",\"labels\":{"
				"\"kubernetes.io/hostname\":\"node-%04d\",\"kubernetes.io/"
				"os\":\"linux\","
				"\"kubernetes.io/arch\":\"amd64\",\"node.kubernetes.io/"
				"instance-type\":"
				"\"n2-standard-8\",\"topology.kubernetes.io/zone\":\"zone-%d\","
				"\"sandbox.gvisor.dev/runtime\":\"true\"}},\"spec\":{\"podCIDR\":"
				"\"10.244.%d.0/24\",\"providerID\":\"gce://p/zone/node-%04d\"},"
				"\"status\":{\"capacity\":{\"cpu\":\"8\",\"memory\":\"32880456Ki\","
				"\"pods\":\"110\",\"ephemeral-storage\":\"101430960Ki\"},"
				"\"allocatable\":"
				"{\"cpu\":\"7910m\",\"memory\":\"29284680Ki\",\"pods\":\"110\","
				"\"ephemeral-storage\":\"48378012363\"},\"conditions\":[{\"type\":"
				"\"Ready\",\"status\":\"True\",\"lastHeartbeatTime\":\"2026-11-"
				"28T10:00:"
				"00Z\",\"reason\":\"KubeletReady\",\"message\":\"kubelet is "
				"posting "
				"ready "
				"status\"}],\"addresses\":[{\"type\":\"InternalIP\",\"address\":"
				"\"10.128.%d.%d\"},{\"type\":\"Hostname\",\"address\":\"node-%"
				"04d\"}],"
				"\"nodeInfo\":{\"kubeletVersion\":\"v1.36.3\","
				"\"containerRuntimeVersion\":"
				"\"containerd://2.1.0\",\"kernelVersion\":\"6.8.0\",\"osImage\":"
				"\"Container-Optimized OS\"}}}",
				i ? "," : "", i, (unsigned)i, 1000 + i, i, i % 3, i % 256, i,
				i / 256, i % 256, i);
		sg_buf_puts(&body, "]}}");
		time_calls("filter, full NodeList of 500", &st, EX_FILTER, body.data, body.len,
			   500);
		time_calls("prioritize, full NodeList of 500", &st, EX_PRIORITIZE, body.data,
			   body.len, 500);
	}
	sg_buf_release(&ev);
	sg_buf_release(&body);
	sg_arena_release(&arena);
	ex_inventory_free(inv);
	ex_policy_free(pol);
	return 0;
}
