#include "nodes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sg_buf.h"
#include "sg_json.h"

struct entry {
	char *name;   /* NULL: empty slot */
	char *labels; /* "key\0value\0key\0value\0\0" */
	uint32_t gen;
	bool dead; /* tombstone */
};

struct ex_nodes {
	struct entry *slots;
	uint32_t nslots, used, live;
	uint32_t gen;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

struct ex_nodes *ex_nodes_new(void)
{
	return calloc(1, sizeof(struct ex_nodes));
}

void ex_nodes_free(struct ex_nodes *n)
{
	if (!n)
		return;
	for (uint32_t i = 0; i < n->nslots; i++) {
		free(n->slots[i].name);
		free(n->slots[i].labels);
	}
	free(n->slots);
	free(n);
}

static struct entry *find(const struct ex_nodes *n, const char *name)
{
	uint32_t mask = n->nslots - 1;

	if (!n->nslots)
		return NULL;
	for (uint32_t i = hash(name) & mask; n->slots[i].name || n->slots[i].dead;
	     i = (i + 1) & mask)
		if (n->slots[i].name && strcmp(n->slots[i].name, name) == 0)
			return &n->slots[i];
	return NULL;
}

static int rehash(struct ex_nodes *n, uint32_t nslots)
{
	struct entry *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -1;
	for (uint32_t j = 0; j < n->nslots; j++) {
		uint32_t i;

		if (!n->slots[j].name)
			continue;
		for (i = hash(n->slots[j].name) & (nslots - 1); slots[i].name;
		     i = (i + 1) & (nslots - 1))
			;
		slots[i] = n->slots[j];
	}
	free(n->slots);
	n->slots = slots;
	n->nslots = nslots;
	n->used = n->live;
	return 0;
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
	struct entry *e;
	char *labels;
	uint32_t i;

	if (!name || !name[0])
		return;
	labels = pack_labels(sg_json_obj(meta, "labels"));
	if (!labels)
		return;
	e = find(n, name);
	if (e) {
		free(e->labels);
		e->labels = labels;
		e->gen = n->gen;
		return;
	}
	if ((n->used + 1) * 2 > n->nslots &&
	    rehash(n, n->nslots ? (n->live + 1) * 4 > n->nslots ? n->nslots * 2 : n->nslots : 64)) {
		free(labels);
		return;
	}
	for (i = hash(name) & (n->nslots - 1); n->slots[i].name; i = (i + 1) & (n->nslots - 1))
		;
	if (!n->slots[i].dead)
		n->used++;
	n->slots[i].name = strdup(name);
	if (!n->slots[i].name) {
		free(labels);
		return;
	}
	n->slots[i].labels = labels;
	n->slots[i].gen = n->gen;
	n->slots[i].dead = false;
	n->live++;
}

static void kill(struct ex_nodes *n, struct entry *e)
{
	free(e->name);
	free(e->labels);
	e->name = NULL;
	e->labels = NULL;
	e->dead = true;
	n->live--;
}

void ex_nodes_remove(struct ex_nodes *n, const cJSON *node)
{
	const char *name = sg_json_str(sg_json_get(node, "metadata"), "name");
	struct entry *e = name ? find(n, name) : NULL;

	if (e)
		kill(n, e);
}

void ex_nodes_resync_begin(struct ex_nodes *n)
{
	n->gen++;
}

void ex_nodes_resync_end(struct ex_nodes *n)
{
	for (uint32_t i = 0; i < n->nslots; i++)
		if (n->slots[i].name && n->slots[i].gen != n->gen)
			kill(n, &n->slots[i]);
}

const char *ex_nodes_label(const struct ex_nodes *n, const char *name, const char *key, bool *known)
{
	const struct entry *e = find(n, name);

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
	return n->live;
}
