/*
 * extender: the scheduler extender protocol (k8s.io/kube-scheduler
 * extender/v1) and the placement decisions.
 *
 * The extender types have no JSON tags, so the scheduler writes Go field
 * names (Pod, Nodes, NodeNames) and reads ours case-insensitively; we read
 * the top-level names case-insensitively and answer in the Go spelling.
 * With nodeCacheCapable the scheduler sends NodeNames and expects
 * NodeNames back; without it, a full NodeList, and the answer echoes the
 * passing Node objects byte for byte. An answer never names a node that was
 * not in the request.
 *
 * Scores (0..10, see docs/extender.md for the reasoning):
 *
 *   cold-start claim pod (template hash, no warm-pool label), per node:
 *     10  a ready warm pod of the same template runs there
 *      8  pods of the template run there, none warm and ready
 *   6..1  the template was last on the node age seconds ago, age < freshness:
 *         1 + min(5, floor(6 * (1 - age / freshness)))  (six equal bands)
 *      0  otherwise
 *
 *   warm-pool refill pod (warm-pool label), per node, k = warm pods of the
 *   same pool already there:
 *   10, 7, 4, 1  the template's image is there (pods of it run, or it left
 *         less than freshness ago): 10 - 3 * min(k, 3)
 *      5  the image is not there
 *   so a node with the image wins while it holds fewer than two pods of
 *   the pool (10, 7 > 5), and a third goes elsewhere (4 < 5): pools
 *   reuse warm images in pairs and still spread, so losing one node does
 *   not empty a pool.
 *
 *   any other pod: no scores (an empty list; the scheduler adds nothing).
 *
 * Filter, for Sandbox pods only (other pods pass untouched):
 *   - a node carrying the policy's closedLabel (any value but "false") is
 *     unresolvable: "node is closed to sandbox pods";
 *   - a pod whose RuntimeClass has a required node label in the policy
 *     cannot go where the label is missing (unresolvable);
 *   - a node already running maxSandboxPodsPerNode sandbox pods fails.
 */
#ifndef EX_EXTENDER_H
#define EX_EXTENDER_H

#include <stddef.h>

#include "inventory.h"
#include "nodes.h"
#include "policy.h"
#include "sg_arena.h"
#include "sg_buf.h"

enum ex_verb {
	EX_FILTER,
	EX_PRIORITIZE,
};

/* What the extender knows when it answers. */
struct ex_state {
	const struct ex_inventory *inv;
	const struct ex_nodes *nodes; /* labels for nodeCacheCapable requests; may be NULL */
	const struct ex_policy *policy;
	double now; /* the inventory's clock */
};

/* For the log line and the metrics. */
struct ex_outcome {
	const char *pod_class; /* "cold-start", "refill", "sandbox", "other", "invalid" */
	char pod[320];	       /* namespace/name */
	int nodes;	       /* nodes in the request */
	int failed;	       /* nodes filtered out */
	int best;	       /* highest score given, or -1 */
};

/*
 * Answers one call. Returns the HTTP status: 200 with the JSON answer in
 * out; for a request that cannot be decoded, 200 with Error set (filter)
 * or 400 with a text reason (prioritize, whose answer has no Error field).
 */
int ex_handle(const struct ex_state *st, enum ex_verb verb, const char *body, size_t len,
	      struct sg_arena *arena, struct sg_buf *out, struct ex_outcome *res);

/* The scores above, for tests and docs. */
int ex_score_cold(const struct ex_template_stats *t, double now, double freshness);
int ex_score_refill(const struct ex_template_stats *t, unsigned pool_warm, double now,
		    double freshness);

#endif
