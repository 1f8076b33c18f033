/*
 * patch: JSON Patch (RFC 6902) documents, written the way kube-apiserver
 * applies them.
 *
 * The API server applies webhook patches with evanphx/json-patch: "add"
 * needs the parent to exist and replaces an existing member, and every
 * path segment must escape '~' as "~0" and '/' as "~1" (label keys such as
 * "sandbox-guard.io/network-profile" contain a '/'). A patch that does not
 * apply is a 500 for the user whatever the failurePolicy, so the builders
 * here only ever emit "add" and leave the parent question to the caller,
 * who knows from the object whether the parent is there.
 */
#ifndef WH_PATCH_H
#define WH_PATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "sg_buf.h"

/* A JSON Pointer under construction. */
struct wh_path {
	char buf[512]; /* the longest label key, escaped, fits with room to spare */
	size_t len;
	bool overflow; /* a segment did not fit; the path is unusable */
};

/* Starts at the document root (""). */
void wh_path_init(struct wh_path *p);

/* Appends "/" and the escaped key. */
void wh_path_key(struct wh_path *p, const char *key);

/* Appends "/" and a decimal array index. */
void wh_path_index(struct wh_path *p, int i);

/* Makes dst a copy of base with one more key. */
void wh_path_child(struct wh_path *dst, const struct wh_path *base, const char *key);

struct wh_patch {
	struct sg_buf buf; /* "[op,op,...": closed by wh_patch_finish */
	int nops;
	bool failed; /* an op did not fit or a path overflowed */
};

void wh_patch_init(struct wh_patch *p);
void wh_patch_release(struct wh_patch *p);

/* Adds {"op":"add","path":path,"value":value_json}; value_json is raw JSON text. */
void wh_patch_add(struct wh_patch *p, const struct wh_path *path, const char *value_json);

/* Adds with a JSON string value, escaped here. */
void wh_patch_add_str(struct wh_patch *p, const struct wh_path *path, const char *value);

/*
 * Closes the array. Returns 0 with the text in p->buf ("" when there are
 * no ops), or -1 if any op failed (the patch must then not be sent).
 */
int wh_patch_finish(struct wh_patch *p);

#endif
