#include "nodes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sg_buf.h"
#include "sg_json.h"
#include "sg_map.h"

struct node {
	char *labels; /* "key\0value\0key\0value\0\0" */
	uint32_t gen;
};

struct ex_nodes {
	struct sg_map byname; /* name -> struct node */
	uint32_t gen;
};

struct ex_nodes *ex_nodes_new(void)
{
	struct ex_nodes *n = calloc(1, sizeof(struct ex_nodes));

	if (n)
		sg_map_init(&n->byname);
	return n;
}

static void node_free(struct node *e)
{
	if (e) {
		free(e->labels);
		free(e);
	}
}

void ex_nodes_free(struct ex_nodes *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->byname.nslots; i++)
		if (n->byname.slots[i].key)
			node_free(n->byname.slots[i].value);
	sg_map_release(&n->byname);
	free(n);
}

static char *pack_labels(const cJSON *labels)
{
	struct sg_buf b;
	const cJSON *it;

	sg_buf_init(&b, 1u << 20);
	cJSON_ArrayForEach(it, labels)
	{
		if (!cJSON_IsString(it))
			continue;
		sg_buf_append(&b, it->string, strlen(it->string) + 1);
		sg_buf_append(&b, it->valuestring, strlen(it->valuestring) + 1);
	}
	sg_buf_append(&b, "", 1);
	return sg_buf_detach(&b);
}

void ex_nodes_upsert(struct ex_nodes *n, const cJSON *node)
{
	const cJSON *meta = sg_json_get(node, "metadata");
	const char *name = sg_json_str(meta, "name");
	struct node *e;
	char *labels;

	if (!name || !name[0])
		return;
	labels = pack_labels(sg_json_obj(meta, "labels"));
	if (!labels)
		return;
	e = sg_map_get(&n->byname, name);
	if (e) {
		free(e->labels);
	} else {
		e = malloc(sizeof(*e));
		if (!e || sg_map_put(&n->byname, name, e)) {
			free(e);
			free(labels);
			return;
		}
	}
	e->labels = labels;
	e->gen = n->gen;
}

void ex_nodes_remove(struct ex_nodes *n, const cJSON *node)
{
	const char *name = sg_json_str(sg_json_get(node, "metadata"), "name");

	if (name)
		node_free(sg_map_del(&n->byname, name));
}

void ex_nodes_resync_begin(struct ex_nodes *n)
{
	n->gen++;
}

void ex_nodes_resync_end(struct ex_nodes *n)
{
	/* Deleting leaves a tombstone and never moves other slots, so the walk stays valid. */
	for (size_t i = 0; i < n->byname.nslots; i++) {
		struct sg_map_slot *s = &n->byname.slots[i];

		if (s->key && ((struct node *)s->value)->gen != n->gen)
			node_free(sg_map_del(&n->byname, s->key));
	}
}

const char *ex_nodes_label(const struct ex_nodes *n, const char *name, const char *key, bool *known)
{
	const struct node *e = sg_map_get(&n->byname, name);

	*known = e != NULL;
	if (!e)
		return NULL;
	for (const char *p = e->labels; *p;) {
		const char *v = p + strlen(p) + 1;

		if (strcmp(p, key) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

size_t ex_nodes_count(const struct ex_nodes *n)
{
	return n->byname.live;
}
