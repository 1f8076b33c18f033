/*
 * review: AdmissionReview v1 in and out, as kube-apiserver speaks it.
 *
 * Decoding checks the envelope strictly (a body that is not an
 * admission.k8s.io/v1 AdmissionReview with a request and a uid gets HTTP
 * 400) and then borrows pointers into the parsed tree. Encoding writes the
 * response by hand: apiVersion and kind always, the uid echoed, a padded
 * standard-base64 JSON Patch with patchType only when there is a patch,
 * status code 403 on denial, warnings cleaned of control characters and
 * kept under the API server's size limit, audit annotation keys that the
 * API server accepts.
 */
#ifndef WH_REVIEW_H
#define WH_REVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "sg_buf.h"

struct sg_arena;

struct wh_review {
	cJSON *root;   /* owns everything below */
	bool in_arena; /* root lives in an arena: nothing to free */
	const char *uid;
	const char *group; /* request.kind.group ("" for core) */
	const char *version;
	const char *kind;
	const char *resource;	 /* request.resource.resource, or "" */
	const char *subresource; /* "" when absent */
	const char *name;	 /* may be "" (generateName at mutation time) */
	const char *ns;		 /* "" for cluster-scoped objects */
	const char *operation;	 /* CREATE, UPDATE, DELETE, CONNECT */
	const char *username;	 /* "" when absent */
	const cJSON *groups;	 /* array, or NULL */
	const cJSON *object;	 /* NULL when absent or JSON null */
	const cJSON *old_object; /* NULL when absent or JSON null */
	bool dry_run;
};

/*
 * Parses body as an AdmissionReview, into arena when it is not NULL (the
 * fast path; see sg_jsonfast.c), else with cJSON. Returns 0, or -1 with
 * *cause (a new string the caller frees) saying what is wrong. On success
 * the caller releases rv with wh_review_release (and, with an arena,
 * resets the arena afterwards).
 */
int wh_review_decode(const char *body, size_t len, struct sg_arena *arena, struct wh_review *rv,
		     char **cause);

void wh_review_release(struct wh_review *rv);

/* What to answer. Strings are borrowed; lists are NUL-separated in sg_bufs. */
struct wh_verdict {
	bool allowed;
	const char *message; /* the denial message; NULL when allowed */
	const char *patch;   /* JSON Patch text, or NULL / "" for none */
	size_t patch_len;
	const char *const *warnings; /* NULL-terminated, or NULL */
	const char *audit_key;	     /* one audit annotation, or NULL */
	const char *audit_value;
};

/* Writes the AdmissionReview response for rv into out. 0, or a negative code. */
int wh_review_encode(const struct wh_review *rv, const struct wh_verdict *v, struct sg_buf *out);

/* Most warning text the API server passes on unchanged, all warnings together. */
#define WH_WARNINGS_MAX 4096

#endif
