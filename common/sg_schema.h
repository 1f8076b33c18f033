/*
 * sg_schema: typed fields out of a parsed policy file, for both daemons.
 *
 * A policy is JSON (or YAML read into the same tree) that an operator
 * writes by hand, so a mistake must come back naming the field by its path
 * ("policy.hardening.runAsNonRoot must be true or false") and nothing the
 * loader does not know may pass silently: a misspelt field is refused
 * rather than ignored. The getters share one contract:
 *
 * - obj is the object holding key, where its path ("policy.network");
 * - a field that is absent leaves *out alone and returns 0, so a policy
 *   that leaves a field out keeps its default;
 * - a field of the wrong type or out of range returns -EINVAL with *cause
 *   set (a new string the caller frees), and leaves *out alone;
 * - pointers stored in *out point into obj's tree, which must outlive them.
 */
#ifndef SG_SCHEMA_H
#define SG_SCHEMA_H

#include <stdbool.h>

#include <cjson/cJSON.h>

/* Sets *cause to the formatted message and returns -EINVAL. */
int sg_schema_fail(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets *cause to "out of memory" and returns -ENOMEM. */
int sg_schema_oom(char **cause);

/*
 * Refuses obj unless it is an object whose members all appear in allowed
 * (NULL-terminated): "unknown field 'x' in <where>". 0 or -EINVAL.
 */
int sg_schema_only_keys(const cJSON *obj, const char *where, const char *const *allowed,
			char **cause);

/* A JSON boolean. */
int sg_schema_bool(const cJSON *obj, const char *key, const char *where, bool *out, char **cause);

/* A string (possibly empty). */
int sg_schema_str(const cJSON *obj, const char *key, const char *where, const char **out,
		  char **cause);

/* An array of non-empty strings (possibly empty); *out is the array node. */
int sg_schema_str_list(const cJSON *obj, const char *key, const char *where, const cJSON **out,
		       char **cause);

/*
 * A whole number from min to max. note, when not NULL, is added to the
 * message in parentheses to say what a special value means ("0: no cap").
 */
int sg_schema_int(const cJSON *obj, const char *key, const char *where, long min, long max,
		  const char *note, long *out, char **cause);

/* A duration, as a number of seconds (fractions allowed) from min to max. */
int sg_schema_duration(const cJSON *obj, const char *key, const char *where, double min, double max,
		       double *out, char **cause);

#endif
