/*
 * selector: Kubernetes label selectors as requirements, and what can be
 * proven about them.
 *
 * A selector ({"matchLabels": {...}, "matchExpressions": [...]}) is read
 * into a list of requirements (key, operator, values) that point into the
 * JSON tree; nothing is copied, so the tree must outlive the selector. The
 * questions asked of them are conservative: "true" is a proof, "false"
 * means "not proven".
 */
#ifndef WH_SELECTOR_H
#define WH_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "sg_buf.h"

enum wh_selop { WH_SEL_IN, WH_SEL_NOTIN, WH_SEL_EXISTS, WH_SEL_NOTEXISTS };

/* One requirement. Borrowed from the selector's JSON. */
struct wh_selreq {
	const char *key;
	enum wh_selop op;
	const cJSON *values; /* array of strings; for matchLabels, the value node itself */
	bool single;	     /* values is one string (from matchLabels) */
};

/* Most requirements one selector may hold; more make it invalid. */
#define WH_SELECTOR_MAX_REQS 64

struct wh_selector {
	struct wh_selreq r[WH_SELECTOR_MAX_REQS];
	size_t n;
	bool valid; /* false: not an object, a non-string label, an unknown operator, too many */
};

/* Reads sel (NULL: the empty selector, which selects everything) into s. */
void wh_selector_parse(const cJSON *sel, struct wh_selector *s);

/* True if v is one of r's values. */
bool wh_selreq_has(const struct wh_selreq *r, const char *v);

/* True if r has at least one value. */
bool wh_selreq_nonempty(const struct wh_selreq *r);

/* True if everything p selects, e selects too (requirement by requirement). */
bool wh_selector_within(const struct wh_selector *p, const struct wh_selector *e);

/* True if selector s provably matches namespace ns (whose only known label is its name). */
bool wh_selector_matches_ns(const struct wh_selector *s, const char *ns);

/* True if selector s selects only namespace ns. */
bool wh_selector_only_ns(const struct wh_selector *s, const char *ns);

/* Appends a short text form ("app=x,tier In (a,b)", "(all)") of sel to b. */
void wh_selector_describe(const cJSON *sel, struct sg_buf *b);

#endif
