/*
 * inventory: where the sandbox pods of each template are, per node.
 *
 * Fed by an informer on pods that carry agents.x-k8s.io/sandbox-template-
 * ref-hash (all namespaces), the inventory keeps one small record per pod
 * (uid, node, template, pool, ready) and, per (node, template), how many
 * warm pods are ready, how many are warm in total, how many are claimed,
 * and when the template was last present on the node; per (node, pool) the
 * warm pods of that pool; per node all sandbox pods.
 *
 * A pod counts where it is bound and only while it lives: unbound pods,
 * finished pods (Succeeded, Failed) and pods being deleted count nowhere.
 * Label changes move a pod between states (adoption removes the warm-pool
 * label: warm -> claimed). Upserts are idempotent and keyed by uid, and a
 * resync drops every pod it did not see, so replays and relists never
 * double-count. Template and pool hashes are hashes of a name within a
 * namespace, so they are keyed by namespace and hash together: one template
 * name in two namespaces is two templates. Names (nodes, namespaced
 * template and pool hashes) are interned, so
 * memory is proportional to live pods: about 100 bytes each.
 *
 * Time is passed in by the caller (monotonic seconds), which keeps the
 * state machine testable.
 */
#ifndef EX_INVENTORY_H
#define EX_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct ex_inventory;

/* Per (node, template) counts. */
struct ex_template_stats {
	uint32_t warm_ready;
	uint32_t warm_total;
	uint32_t claimed;
	double last_seen; /* when a pod of the template was last on the node; < 0: never */
};

struct ex_inventory *ex_inventory_new(void);
void ex_inventory_free(struct ex_inventory *inv);

/* Applies the current state of a pod (from a list or watch). now: monotonic seconds. */
void ex_inventory_upsert(struct ex_inventory *inv, const cJSON *pod, double now);

/* The pod is gone. */
void ex_inventory_remove(struct ex_inventory *inv, const cJSON *pod, double now);

/* A relist begins / ends: pods not upserted in between are removed at the end. */
void ex_inventory_resync_begin(struct ex_inventory *inv);
void ex_inventory_resync_end(struct ex_inventory *inv, double now);

/*
 * Stats of template hash tmpl of namespace ns on node; false (and zeros,
 * last_seen -1) when the pair is not known.
 */
bool ex_inventory_template(const struct ex_inventory *inv, const char *node, const char *ns,
			   const char *tmpl, struct ex_template_stats *out);

/*
 * The same lookups by interned id, for callers that ask about one template
 * on many nodes: resolve the names once with ex_inventory_id (EX_UNKNOWN if
 * the inventory has never seen the name).
 */
#define EX_UNKNOWN UINT32_MAX
uint32_t ex_inventory_id(const struct ex_inventory *inv, const char *name);
/* The id of template or pool hash hash in namespace ns. */
#define EX_SCOPED_MAX 192
uint32_t ex_inventory_scoped_id(const struct ex_inventory *inv, const char *ns, const char *hash);
bool ex_inventory_template_id(const struct ex_inventory *inv, uint32_t node, uint32_t tmpl,
			      struct ex_template_stats *out);
uint32_t ex_inventory_pool_warm_id(const struct ex_inventory *inv, uint32_t node, uint32_t pool);

/* Warm pods of pool hash pool of namespace ns on node. */
uint32_t ex_inventory_pool_warm(const struct ex_inventory *inv, const char *node, const char *ns,
				const char *pool);

/* Sandbox pods counted on node. */
uint32_t ex_inventory_node_pods(const struct ex_inventory *inv, const char *node);

/* Pods tracked (bound or not) and the bytes the inventory holds. */
size_t ex_inventory_pods(const struct ex_inventory *inv);
size_t ex_inventory_bytes(const struct ex_inventory *inv);

/*
 * Forgets (node, template) entries with no pods that were last seen
 * before cutoff, so memory follows live pods, not history.
 */
void ex_inventory_prune(struct ex_inventory *inv, double cutoff);

#endif
