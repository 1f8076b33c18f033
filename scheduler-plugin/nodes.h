/*
 * nodes: the labels of every Node, for the filter's runtime and closed-node
 * rules when the scheduler sends only node names (nodeCacheCapable).
 * Fed by an informer on /api/v1/nodes; same resync contract as inventory.
 */
#ifndef EX_NODES_H
#define EX_NODES_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct ex_nodes;

struct ex_nodes *ex_nodes_new(void);
void ex_nodes_free(struct ex_nodes *n);

void ex_nodes_upsert(struct ex_nodes *n, const cJSON *node);
void ex_nodes_remove(struct ex_nodes *n, const cJSON *node);
void ex_nodes_resync_begin(struct ex_nodes *n);
void ex_nodes_resync_end(struct ex_nodes *n);

/*
 * The value of label key on node name. *known says whether the node is in
 * the cache at all; NULL when the node or the label is missing.
 */
const char *ex_nodes_label(const struct ex_nodes *n, const char *name, const char *key,
			   bool *known);

size_t ex_nodes_count(const struct ex_nodes *n);

#endif
