/*
 * sg_map: a string-keyed hash map (open addressing, linear probing).
 *
 * Keys are copied; values are the caller's pointers. Deletion leaves a
 * tombstone, and the table is rebuilt when tombstones pile up, so a map
 * that churns stays small. Single-threaded.
 */
#ifndef SG_MAP_H
#define SG_MAP_H

#include <stddef.h>
#include <stdint.h>

struct sg_map_slot {
	char *key; /* NULL: empty or tombstone */
	void *value;
	int dead; /* tombstone */
};

struct sg_map {
	struct sg_map_slot *slots;
	size_t nslots; /* power of two */
	size_t live;
	size_t used; /* live + tombstones */
};

/* 64-bit FNV-1a of a string: the map's hash, for other tables keyed by strings. */
uint64_t sg_hash_str(const char *s);

void sg_map_init(struct sg_map *m);

/* Frees the table and the keys (not the values). */
void sg_map_release(struct sg_map *m);

/* The value for key, or NULL. */
void *sg_map_get(const struct sg_map *m, const char *key);

/* Sets key to value (replacing). 0, or -ENOMEM. */
int sg_map_put(struct sg_map *m, const char *key, void *value);

/* Removes key; returns its value, or NULL if absent. */
void *sg_map_del(struct sg_map *m, const char *key);

/* Iteration: for (i = 0; i < m->nslots; i++) if (m->slots[i].key) ... */

#endif
