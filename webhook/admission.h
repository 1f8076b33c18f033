/*
 * admission: one AdmissionReview in, one answer out.
 *
 * Pure and synchronous: given the policy and the request body it decodes,
 * classifies, mutates or validates, and encodes, touching nothing else.
 * The HTTP glue (server.c) times it, logs it and counts it.
 */
#ifndef WH_ADMISSION_H
#define WH_ADMISSION_H

#include <stddef.h>

#include "policy.h"
#include "runtimes.h"
#include "sg_arena.h"
#include "sg_buf.h"

enum wh_endpoint {
	WH_MUTATE,
	WH_VALIDATE,
};

/* What happened, for the log line and the metrics. */
struct wh_outcome {
	char uid[128];
	char ns[64];
	char name[256];
	char operation[16];
	const char *kind;     /* bounded: see wh_kind_name */
	const char *decision; /* allowed, patched, denied, warned, audited, exempt, invalid */
	int violations;
	int patch_ops;
	bool dry_run;
};

/*
 * Answers one review. Returns 200 with the AdmissionReview response in out,
 * or 400 with a plain-text reason in out when the body is not a decodable
 * AdmissionReview (or 500 if out of memory). The parsed review lives in
 * arena (see sg_arena.h), which is reset before returning.
 */
int wh_admit(const struct wh_policy *p, enum wh_endpoint ep, const char *body, size_t len,
	     struct sg_arena *arena, struct sg_buf *out, struct wh_outcome *res);

/*
 * The same, deciding with the cluster's RuntimeClasses (runtimes.h); rt
 * NULL trusts the policy's names, which is what wh_admit does.
 */
int wh_admit_rt(const struct wh_policy *p, const struct wh_runtimes *rt, enum wh_endpoint ep,
		const char *body, size_t len, struct sg_arena *arena, struct sg_buf *out,
		struct wh_outcome *res);

/* The arena a caller of wh_admit should make: 64 KiB kept, 64 MiB at most per review. */
#define WH_ARENA_CHUNK (64u << 10)
#define WH_ARENA_MAX   (64u << 20)

#endif
