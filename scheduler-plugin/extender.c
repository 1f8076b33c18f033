#include "extender.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sg_json.h"
#include "sg_labels.h"

enum pod_class { OTHER, SANDBOX, COLD, REFILL };

static const char *class_names[] = {"other", "sandbox", "cold-start", "refill"};

int ex_score_cold(const struct ex_template_stats *t, double now, double freshness)
{
	double age;

	if (t->warm_ready > 0)
		return 10;
	if (t->warm_total + t->claimed > 0)
		return 8;
	if (t->last_seen < 0 || freshness <= 0)
		return 0;
	age = now - t->last_seen;
	if (age < 0)
		age = 0;
	if (age >= freshness)
		return 0;
	/* Six equal bands: 6 in the first sixth of the window, 1 in the last. */
	return 1 + (int)fmin(5, floor(6 * (1 - age / freshness)));
}

int ex_score_refill(const struct ex_template_stats *t, unsigned pool_warm, double now,
		    double freshness)
{
	bool image = t->warm_total + t->claimed > 0 ||
		     (t->last_seen >= 0 && now - t->last_seen < freshness);

	if (!image)
		return 5;
	return 10 - 3 * (int)(pool_warm < 3 ? pool_warm : 3);
}

/* Top-level ExtenderArgs members: Go writes "Pod", we accept any case; the last one wins. */
static const cJSON *get_ci(const cJSON *obj, const char *key)
{
	const cJSON *it, *found = NULL;

	cJSON_ArrayForEach(it, obj)
	{
		if (it->string && strcasecmp(it->string, key) == 0)
			found = it;
	}
	return found;
}

static bool owned_by_sandbox(const cJSON *meta)
{
	const cJSON *ref;

	cJSON_ArrayForEach(ref, sg_json_arr(meta, "ownerReferences"))
	{
		const char *av = sg_json_str(ref, "apiVersion"), *kind = sg_json_str(ref, "kind");

		if (sg_json_true(ref, "controller") && av && kind &&
		    strncmp(av, "agents.x-k8s.io/", 16) == 0 && strcmp(kind, "Sandbox") == 0)
			return true;
	}
	return false;
}

struct request {
	enum pod_class cls;
	const char *ns;
	const char *tmpl;
	const char *pool;
	const char *runtime;
	const cJSON *names; /* NodeNames, or NULL */
	const cJSON *items; /* Nodes.items, or NULL */
	const char *nodes_key;
	int count;
};

static enum pod_class classify(const cJSON *pod, struct request *rq)
{
	const cJSON *meta = sg_json_get(pod, "metadata"), *labels = sg_json_obj(meta, "labels");

	rq->ns = sg_json_str(meta, "namespace");
	rq->tmpl = sg_json_str(labels, SG_AS_LABEL_TEMPLATE);
	rq->pool = sg_json_str(labels, SG_AS_LABEL_WARM_POOL);
	rq->runtime = sg_json_str(sg_json_get(pod, "spec"), "runtimeClassName");
	if (rq->tmpl)
		return rq->pool ? REFILL : COLD;
	if (sg_json_get(labels, SG_AS_LABEL_NAME_HASH) || sg_json_get(labels, SG_LABEL_PROFILE) ||
	    owned_by_sandbox(meta))
		return SANDBOX;
	return OTHER;
}

/* The name of the i-th node, from NodeNames or Nodes.items. */
static const char *node_name(const cJSON *item, bool cached)
{
	if (cached)
		return cJSON_IsString(item) ? item->valuestring : NULL;
	return sg_json_str(sg_json_get(item, "metadata"), "name");
}

static const char *node_label(const struct ex_state *st, const cJSON *item, const char *name,
			      bool cached, const char *key, bool *known)
{
	if (!cached) {
		*known = true;
		return sg_json_str(sg_json_obj(sg_json_get(item, "metadata"), "labels"), key);
	}
	if (!st->nodes) {
		*known = false;
		return NULL;
	}
	return ex_nodes_label(st->nodes, name, key, known);
}

enum verdict { PASS, FAIL, UNRESOLVABLE };

/* The filter's rules for one node; reason gets the text users read in pod events. */
static enum verdict judge(const struct ex_state *st, const struct request *rq, const cJSON *item,
			  const char *name, bool cached, char *reason, size_t rlen)
{
	const struct ex_policy *p = st->policy;
	const struct ex_runtime_label *rl;
	const char *v;
	bool known;
	unsigned n;

	if (p->closed_label) {
		v = node_label(st, item, name, cached, p->closed_label, &known);
		if (v && strcmp(v, "false") != 0) {
			snprintf(reason, rlen, "node is closed to sandbox pods (label %s)",
				 p->closed_label);
			return UNRESOLVABLE;
		}
	}
	rl = ex_policy_runtime(p, rq->runtime);
	if (rl) {
		v = node_label(st, item, name, cached, rl->key, &known);
		/* A node not yet in the cache passes: the scheduler's own checks still run. */
		if (known && (!v || (rl->value && strcmp(v, rl->value) != 0))) {
			snprintf(reason, rlen,
				 "RuntimeClass %s is not available on this node (needs label "
				 "%s%s%s)",
				 rq->runtime, rl->key, rl->value ? "=" : "",
				 rl->value ? rl->value : "");
			return UNRESOLVABLE;
		}
	}
	if (p->max_per_node) {
		n = ex_inventory_node_pods(st->inv, name);
		if (n >= p->max_per_node) {
			snprintf(reason, rlen, "node runs %u sandbox pods (limit %u)", n,
				 p->max_per_node);
			return FAIL;
		}
	}
	return PASS;
}

static int filter(const struct ex_state *st, const struct request *rq, const char *body, size_t len,
		  struct sg_buf *out, struct ex_outcome *res)
{
	bool cached = rq->names != NULL;
	const cJSON *list = cached ? rq->names : rq->items, *it;
	struct sg_buf failed, unresolvable;
	struct sg_span *spans = NULL;
	size_t nspans = 0;
	int i = 0, rc = 0;

	sg_buf_init(&failed, 64u << 20);
	sg_buf_init(&unresolvable, 64u << 20);
	if (!cached) {
		const char *keys[] = {rq->nodes_key, "items"};

		spans = malloc(((size_t)rq->count + 1) * sizeof(*spans));
		if (!spans ||
		    sg_json_array_spans(body, len, keys, 2, spans, (size_t)rq->count, &nspans) !=
			    0 ||
		    nspans != (size_t)rq->count) {
			free(spans);
			return -1;
		}
		rc = sg_buf_puts(out, "{\"Nodes\":{\"metadata\":{},\"items\":[");
	} else {
		rc = sg_buf_puts(out, "{\"NodeNames\":[");
	}
	cJSON_ArrayForEach(it, list)
	{
		const char *name = node_name(it, cached);
		enum verdict v = PASS;
		char reason[512];

		if (name && rq->cls != OTHER)
			v = judge(st, rq, it, name, cached, reason, sizeof(reason));
		if (v == PASS) {
			rc = rc ? rc : sg_buf_puts(out, out->data[out->len - 1] == '[' ? "" : ",");
			if (cached)
				rc = rc ? rc : sg_buf_json_str(out, name ? name : "");
			else
				rc = rc ? rc
					: sg_buf_append(out, body + spans[i].start, spans[i].len);
		} else {
			struct sg_buf *m = v == FAIL ? &failed : &unresolvable;

			rc = rc ? rc : sg_buf_putc(m, m->len ? ',' : '{');
			rc = rc ? rc : sg_buf_json_str(m, name);
			rc = rc ? rc : sg_buf_putc(m, ':');
			rc = rc ? rc : sg_buf_json_str(m, reason);
			res->failed++;
		}
		i++;
	}
	rc = rc ? rc : sg_buf_puts(out, cached ? "]" : "]},\"NodeNames\":null");
	rc = rc ? rc : sg_buf_puts(out, ",\"FailedNodes\":");
	rc = rc ? rc
		: (failed.len ? sg_buf_append(out, failed.data, failed.len)
			      : sg_buf_putc(out, '{'));
	rc = rc ? rc : sg_buf_puts(out, "},\"FailedAndUnresolvableNodes\":");
	rc = rc ? rc
		: (unresolvable.len ? sg_buf_append(out, unresolvable.data, unresolvable.len)
				    : sg_buf_putc(out, '{'));
	rc = rc ? rc : sg_buf_puts(out, "},\"Error\":\"\"}");
	sg_buf_release(&failed);
	sg_buf_release(&unresolvable);
	free(spans);
	return rc ? -1 : 0;
}

static int prioritize(const struct ex_state *st, const struct request *rq, struct sg_buf *out,
		      struct ex_outcome *res)
{
	bool cached = rq->names != NULL;
	const cJSON *list = cached ? rq->names : rq->items, *it;
	int rc = sg_buf_putc(out, '[');
	bool first = true;
	uint32_t tmpl, pool;

	if (rq->cls != COLD && rq->cls != REFILL)
		return rc || sg_buf_putc(out, ']') ? -1 : 0;
	/* One template asked about on up to thousands of nodes: resolve it once. */
	tmpl = ex_inventory_scoped_id(st->inv, rq->ns, rq->tmpl);
	pool = ex_inventory_scoped_id(st->inv, rq->ns, rq->pool);
	cJSON_ArrayForEach(it, list)
	{
		const char *name = node_name(it, cached);
		struct ex_template_stats t;
		uint32_t node;
		int score;

		if (!name)
			continue;
		node = ex_inventory_id(st->inv, name);
		ex_inventory_template_id(st->inv, node, tmpl, &t);
		score = rq->cls == COLD
				? ex_score_cold(&t, st->now, st->policy->freshness)
				: ex_score_refill(&t,
						  ex_inventory_pool_warm_id(st->inv, node, pool),
						  st->now, st->policy->freshness);
		if (score > res->best)
			res->best = score;
		rc = rc ? rc : sg_buf_puts(out, first ? "{\"Host\":" : ",{\"Host\":");
		rc = rc ? rc : sg_buf_json_str(out, name);
		/* Scores are 0..10: two literal digits at most, no printf. */
		rc = rc ? rc : sg_buf_puts(out, score == 10 ? ",\"Score\":10}" : ",\"Score\":");
		if (score != 10) {
			rc = rc ? rc : sg_buf_putc(out, (char)('0' + score));
			rc = rc ? rc : sg_buf_putc(out, '}');
		}
		first = false;
	}
	rc = rc ? rc : sg_buf_putc(out, ']');
	return rc ? -1 : 0;
}

static int bad_request(enum ex_verb verb, const char *why, struct sg_buf *out,
		       struct ex_outcome *res)
{
	res->pod_class = "invalid";
	sg_buf_reset(out);
	if (verb == EX_PRIORITIZE) {
		sg_buf_printf(out, "invalid ExtenderArgs: %s\n", why);
		return 400;
	}
	sg_buf_puts(out, "{\"NodeNames\":null,\"FailedNodes\":null,"
			 "\"FailedAndUnresolvableNodes\":null,\"Error\":");
	{
		char msg[512];

		snprintf(msg, sizeof(msg), "invalid ExtenderArgs: %s", why);
		sg_buf_json_str(out, msg);
	}
	sg_buf_putc(out, '}');
	return 200;
}

int ex_handle(const struct ex_state *st, enum ex_verb verb, const char *body, size_t len,
	      struct sg_arena *arena, struct sg_buf *out, struct ex_outcome *res)
{
	struct request rq = {0};
	const cJSON *pod, *nodes, *it;
	char *cause = NULL;
	cJSON *doc;
	int rc;

	memset(res, 0, sizeof(*res));
	res->best = -1;
	res->pod_class = "invalid";
	doc = sg_json_parse_arena(body, len, arena, SG_JSON_SKIP_MANAGED_FIELDS, &cause);
	if (!doc || !cJSON_IsObject(doc)) {
		char why[256];

		snprintf(why, sizeof(why), "%s", cause ? cause : "not a JSON object");
		free(cause);
		sg_arena_reset(arena);
		return bad_request(verb, why, out, res);
	}
	pod = get_ci(doc, "Pod");
	rq.names = get_ci(doc, "NodeNames");
	nodes = get_ci(doc, "Nodes");
	if (!cJSON_IsObject(pod)) {
		sg_arena_reset(arena);
		return bad_request(verb, "Pod is missing", out, res);
	}
	if (cJSON_IsArray(rq.names)) {
		cJSON_ArrayForEach(it, rq.names)
		{
			if (!cJSON_IsString(it)) {
				sg_arena_reset(arena);
				return bad_request(verb, "NodeNames must hold strings", out, res);
			}
		}
	} else if (cJSON_IsObject(nodes) && sg_json_arr(nodes, "items")) {
		rq.names = NULL;
		rq.items = sg_json_arr(nodes, "items");
		rq.nodes_key = nodes->string;
	} else {
		sg_arena_reset(arena);
		return bad_request(verb, "neither NodeNames nor Nodes.items is given", out, res);
	}
	rq.count = sg_json_count(rq.names ? rq.names : rq.items);
	rq.cls = classify(pod, &rq);
	res->pod_class = class_names[rq.cls];
	res->nodes = rq.count;
	snprintf(res->pod, sizeof(res->pod), "%s/%s",
		 sg_json_str(sg_json_get(pod, "metadata"), "namespace")
			 ? sg_json_str(sg_json_get(pod, "metadata"), "namespace")
			 : "",
		 sg_json_str(sg_json_get(pod, "metadata"), "name")
			 ? sg_json_str(sg_json_get(pod, "metadata"), "name")
			 : "");
	rc = verb == EX_FILTER ? filter(st, &rq, body, len, out, res)
			       : prioritize(st, &rq, out, res);
	sg_arena_reset(arena);
	if (rc != 0) {
		sg_buf_reset(out);
		return bad_request(verb, "cannot build the answer (too large?)", out, res);
	}
	return 200;
}
