/*
 * violations: the list of everything wrong with one object.
 *
 * Each entry is one line a user can act on: where ("spec.containers[0]
 * (agent)"), what is wrong, and what to change. The list is capped so that
 * a pathological object (ten thousand containers) cannot make an answer the
 * API server refuses; past the cap a final entry says how many were left out.
 */
#ifndef WH_VIOLATIONS_H
#define WH_VIOLATIONS_H

#include <stdbool.h>
#include <stddef.h>

#define WH_VIOLATIONS_MAX 64

struct wh_violations {
	char *items[WH_VIOLATIONS_MAX];
	size_t n;
	size_t dropped; /* entries past the cap */
};

void wh_violations_init(struct wh_violations *v);
void wh_violations_release(struct wh_violations *v);

/* Adds a formatted entry (duplicates are kept once). */
void wh_violation(struct wh_violations *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

bool wh_violations_has(const struct wh_violations *v, const char *s);

/*
 * Moves the entries of v that also appear in old into kept (when kept is
 * not NULL; dropped otherwise), leaving in v only what is new. Used on
 * UPDATE: an object that already broke the policy before it was changed
 * (it predates the policy) must not have every later update refused.
 */
void wh_violations_subtract(struct wh_violations *v, const struct wh_violations *old,
			    struct wh_violations *kept);

#endif
