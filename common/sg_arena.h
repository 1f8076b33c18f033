/*
 * sg_arena: a bump allocator for one request's short-lived data.
 *
 * Parsing an AdmissionReview with cJSON makes a few hundred small
 * allocations that all die together when the answer is sent. Serving
 * them from an arena that is reset after each request, instead of from
 * malloc, halves the cost of a review (docs/benchmarks.md). Memory is taken
 * in chunks; after a reset the first chunk is kept for the next request
 * and the rest are returned, so an unusually large review does not pin its
 * memory. A hard cap bounds what one request can take: past it allocation
 * fails, and the parse fails cleanly.
 *
 * sg_json_arena_begin/end route cJSON's allocations to an arena for the
 * duration of one request. cJSON's hooks are process-wide, so this is for
 * single-threaded use (each daemon is one event loop), and nothing parsed
 * inside may outlive the request.
 */
#ifndef SG_ARENA_H
#define SG_ARENA_H

#include <stddef.h>

#include <stdalign.h>

struct sg_arena_chunk {
	struct sg_arena_chunk *next;
	size_t size; /* usable bytes in data */
	size_t off;  /* bytes used */
	alignas(max_align_t) unsigned char data[];
};

struct sg_arena {
	struct sg_arena_chunk *head; /* newest chunk first */
	size_t chunk_size;	     /* size of the first (kept) chunk */
	size_t used;		     /* bytes handed out since the last reset */
	size_t max;		     /* cap on used */
	int exhausted;		     /* an allocation hit the cap since the last reset */
};

/* Prepares an empty arena; allocates nothing until first used. */
void sg_arena_init(struct sg_arena *a, size_t chunk_size, size_t max);

/* The slow path of sg_arena_alloc: a new chunk, or the cap. */
void *sg_arena_alloc_slow(struct sg_arena *a, size_t n);

/*
 * Returns n bytes aligned for any type, or NULL when the cap is reached
 * or memory is out. Inline: a parse calls this for every node and string.
 */
static inline void *sg_arena_alloc(struct sg_arena *a, size_t n)
{
	struct sg_arena_chunk *c = a->head;
	size_t need = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);

	if (c && n && need >= n && c->size - c->off >= need && need <= a->max - a->used) {
		void *p = c->data + c->off;

		c->off += need;
		a->used += need;
		return p;
	}
	return sg_arena_alloc_slow(a, n);
}

/* Forgets every allocation; keeps the first chunk, frees the others. */
void sg_arena_reset(struct sg_arena *a);

/* Frees everything. */
void sg_arena_release(struct sg_arena *a);

/* Routes cJSON allocations to a (frees become no-ops) until sg_json_arena_end. */
void sg_json_arena_begin(struct sg_arena *a);

/* Restores malloc/free for cJSON and resets a. */
void sg_json_arena_end(struct sg_arena *a);

#endif
