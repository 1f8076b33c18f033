#include "sg_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#define ALIGN (alignof(max_align_t))

void sg_arena_init(struct sg_arena *a, size_t chunk_size, size_t max)
{
	a->head = NULL;
	a->chunk_size = chunk_size;
	a->used = 0;
	a->max = max;
	a->exhausted = 0;
}

static struct sg_arena_chunk *chunk_new(size_t size)
{
	struct sg_arena_chunk *c = malloc(sizeof(*c) + size);

	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->off = 0;
	return c;
}

void *sg_arena_alloc_slow(struct sg_arena *a, size_t n)
{
	struct sg_arena_chunk *c = a->head;
	size_t need = (n + ALIGN - 1) & ~(ALIGN - 1);
	void *p;

	if (n == 0 || need < n)
		return NULL;
	if (need > a->max - a->used) {
		a->exhausted = 1;
		return NULL;
	}
	if (!c || c->size - c->off < need) {
		size_t size = a->chunk_size;

		/* Later chunks double, so a large review takes few of them. */
		if (c && c->size * 2 > size)
			size = c->size * 2;
		if (size < need)
			size = need;
		c = chunk_new(size);
		if (!c)
			return NULL;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->off;
	c->off += need;
	a->used += need;
	return p;
}

void sg_arena_reset(struct sg_arena *a)
{
	struct sg_arena_chunk *c = a->head, *keep = NULL;

	/* Keep the oldest chunk if it is the standard size; free the rest. */
	while (c) {
		struct sg_arena_chunk *next = c->next;

		if (!next && c->size == a->chunk_size) {
			keep = c;
			keep->off = 0;
		} else {
			free(c);
		}
		c = next;
	}
	a->head = keep;
	a->used = 0;
	a->exhausted = 0;
}

void sg_arena_release(struct sg_arena *a)
{
	sg_arena_reset(a);
	free(a->head);
	a->head = NULL;
}

static struct sg_arena *current;

static void *arena_malloc(size_t n)
{
	return sg_arena_alloc(current, n);
}

static void arena_free(void *p)
{
	(void)p;
}

void sg_json_arena_begin(struct sg_arena *a)
{
	cJSON_Hooks hooks = {arena_malloc, arena_free};

	current = a;
	cJSON_InitHooks(&hooks);
}

void sg_json_arena_end(struct sg_arena *a)
{
	cJSON_InitHooks(NULL);
	current = NULL;
	sg_arena_reset(a);
}
