/*
 * sg_json: the few cJSON helpers every input path uses.
 *
 * Kubernetes objects come from Go encoders, so the helpers read JSON the way
 * Go does where it matters for security: keys are matched case-sensitively,
 * and a duplicated key means its last value (Go's rule; cJSON's own getters
 * return the first). Nothing here re-serialises a number it did not create.
 */
#ifndef SG_JSON_H
#define SG_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Parses exactly n bytes of JSON text. Only whitespace may follow the value.
 * Returns the tree (the caller frees it with cJSON_Delete) or NULL with
 * *cause set to a new message the caller frees.
 */
cJSON *sg_json_parse(const char *text, size_t n, char **cause);

struct sg_arena;

/*
 * Kubernetes objects carry metadata.managedFields: server-side apply's
 * bookkeeping, often the largest part of an object and of no use to
 * admission decisions. With this flag every "managedFields" member of an
 * object held under a "metadata" key is checked for syntax but left out
 * of the tree.
 */
#define SG_JSON_SKIP_MANAGED_FIELDS 1u

/*
 * Parses exactly n bytes of JSON text into a tree allocated from arena
 * (see sg_jsonfast.c): strict RFC 8259, fast, and freed only by resetting
 * the arena. Never pass the result to cJSON_Delete. flags: 0 or
 * SG_JSON_SKIP_MANAGED_FIELDS. Returns NULL with *cause (a new string,
 * from malloc) on error.
 */
cJSON *sg_json_parse_arena(const char *text, size_t n, struct sg_arena *arena, unsigned flags,
			   char **cause);

/* A slice of a JSON text. */
struct sg_span {
	size_t start;
	size_t len;
};

/*
 * Finds, in the JSON text, the array reached from the root object through
 * the members keys[0..nkeys-1] (the last member of a name wins, as in
 * sg_json_get), and stores the exact source slice of each of its elements
 * in spans (up to max; *count gets the total). For answers that must echo
 * input objects byte for byte instead of re-serialising them. 0, or -1 if
 * the text is invalid or the path does not lead to an array.
 */
int sg_json_array_spans(const char *text, size_t n, const char *const *keys, size_t nkeys,
			struct sg_span *spans, size_t max, size_t *count);

/* The member named key (case-sensitive, last one wins), or NULL. */
cJSON *sg_json_get(const cJSON *obj, const char *key);

/* Follows a NULL-terminated list of member names; NULL if any is missing. */
cJSON *sg_json_path(const cJSON *obj, ...) __attribute__((sentinel));

/* The string value of member key, or NULL when absent or not a string. */
const char *sg_json_str(const cJSON *obj, const char *key);

/* true only if member key is the JSON literal true. */
bool sg_json_true(const cJSON *obj, const char *key);

/* true only if member key is the JSON literal false. */
bool sg_json_false(const cJSON *obj, const char *key);

/* true if member key is absent or JSON null. */
bool sg_json_unset(const cJSON *obj, const char *key);

/* The member key if it is an object / array, else NULL. */
cJSON *sg_json_obj(const cJSON *obj, const char *key);
cJSON *sg_json_arr(const cJSON *obj, const char *key);

/* Number of elements of an array or members of an object (0 for others). */
int sg_json_count(const cJSON *item);

/* true if arr is an array holding a string equal to s. */
bool sg_json_arr_has_str(const cJSON *arr, const char *s);

#endif
