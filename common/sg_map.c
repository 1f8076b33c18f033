#include "sg_map.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

uint64_t sg_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

void sg_map_init(struct sg_map *m)
{
	memset(m, 0, sizeof(*m));
}

void sg_map_release(struct sg_map *m)
{
	for (size_t i = 0; i < m->nslots; i++)
		free(m->slots[i].key);
	free(m->slots);
	sg_map_init(m);
}

static struct sg_map_slot *find(const struct sg_map *m, const char *key)
{
	size_t mask = m->nslots - 1;

	if (!m->nslots)
		return NULL;
	for (size_t i = sg_hash_str(key) & mask; m->slots[i].key || m->slots[i].dead;
	     i = (i + 1) & mask)
		if (m->slots[i].key && strcmp(m->slots[i].key, key) == 0)
			return &m->slots[i];
	return NULL;
}

void *sg_map_get(const struct sg_map *m, const char *key)
{
	struct sg_map_slot *s = find(m, key);

	return s ? s->value : NULL;
}

static int rehash(struct sg_map *m, size_t nslots)
{
	struct sg_map_slot *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t j = 0; j < m->nslots; j++) {
		size_t i;

		if (!m->slots[j].key)
			continue;
		for (i = sg_hash_str(m->slots[j].key) & (nslots - 1); slots[i].key;
		     i = (i + 1) & (nslots - 1))
			;
		slots[i] = m->slots[j];
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = nslots;
	m->used = m->live;
	return 0;
}

int sg_map_put(struct sg_map *m, const char *key, void *value)
{
	struct sg_map_slot *s = find(m, key);
	size_t i;
	char *copy;

	if (s) {
		s->value = value;
		return 0;
	}
	if ((m->used + 1) * 2 > m->nslots) {
		size_t n = m->nslots ? m->nslots : 16;

		while ((m->live + 1) * 4 > n)
			n *= 2;
		if (rehash(m, n))
			return -ENOMEM;
	}
	copy = strdup(key);
	if (!copy)
		return -ENOMEM;
	for (i = sg_hash_str(key) & (m->nslots - 1); m->slots[i].key; i = (i + 1) & (m->nslots - 1))
		;
	if (!m->slots[i].dead)
		m->used++;
	m->slots[i].key = copy;
	m->slots[i].value = value;
	m->slots[i].dead = 0;
	m->live++;
	return 0;
}

void *sg_map_del(struct sg_map *m, const char *key)
{
	struct sg_map_slot *s = find(m, key);
	void *v;

	if (!s)
		return NULL;
	v = s->value;
	free(s->key);
	s->key = NULL;
	s->value = NULL;
	s->dead = 1;
	m->live--;
	return v;
}
