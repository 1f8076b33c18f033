#include "selector.h"

#include <string.h>

#include "sg_json.h"
#include "sg_labels.h"

void wh_selector_parse(const cJSON *sel, struct wh_selector *s)
{
	const cJSON *it;

	s->n = 0;
	s->valid = sel == NULL || cJSON_IsObject(sel);
	cJSON_ArrayForEach(it, sg_json_obj(sel, "matchLabels"))
	{
		if (s->n == WH_SELECTOR_MAX_REQS || !cJSON_IsString(it)) {
			s->valid = false;
			return;
		}
		s->r[s->n++] = (struct wh_selreq){it->string, WH_SEL_IN, it, true};
	}
	cJSON_ArrayForEach(it, sg_json_arr(sel, "matchExpressions"))
	{
		const char *key = sg_json_str(it, "key"), *op = sg_json_str(it, "operator");
		enum wh_selop o;

		if (s->n == WH_SELECTOR_MAX_REQS || !key || !op) {
			s->valid = false;
			return;
		}
		if (strcmp(op, "In") == 0)
			o = WH_SEL_IN;
		else if (strcmp(op, "NotIn") == 0)
			o = WH_SEL_NOTIN;
		else if (strcmp(op, "Exists") == 0)
			o = WH_SEL_EXISTS;
		else if (strcmp(op, "DoesNotExist") == 0)
			o = WH_SEL_NOTEXISTS;
		else {
			s->valid = false;
			return;
		}
		s->r[s->n++] = (struct wh_selreq){key, o, sg_json_arr(it, "values"), false};
	}
}

bool wh_selreq_has(const struct wh_selreq *r, const char *v)
{
	if (r->single)
		return strcmp(r->values->valuestring, v) == 0;
	return sg_json_arr_has_str(r->values, v);
}

/* Calls fn on each value of r; stops early when fn returns false. */
static bool req_all(const struct wh_selreq *r,
		    bool (*fn)(const char *v, const struct wh_selreq *other),
		    const struct wh_selreq *other)
{
	const cJSON *it;

	if (r->single)
		return fn(r->values->valuestring, other);
	cJSON_ArrayForEach(it, r->values)
	{
		if (cJSON_IsString(it) && !fn(it->valuestring, other))
			return false;
	}
	return true;
}

static bool in_other(const char *v, const struct wh_selreq *other)
{
	return wh_selreq_has(other, v);
}

static bool not_in_other(const char *v, const struct wh_selreq *other)
{
	return !wh_selreq_has(other, v);
}

bool wh_selreq_nonempty(const struct wh_selreq *r)
{
	return r->single || sg_json_count(r->values) > 0;
}

/* True if requirement p (of the narrower selector) implies e. */
static bool implies(const struct wh_selreq *p, const struct wh_selreq *e)
{
	if (strcmp(p->key, e->key) != 0)
		return false;
	switch (e->op) {
	case WH_SEL_IN:
		return p->op == WH_SEL_IN && wh_selreq_nonempty(p) && req_all(p, in_other, e);
	case WH_SEL_NOTIN:
		return (p->op == WH_SEL_IN && req_all(p, not_in_other, e)) ||
		       (p->op == WH_SEL_NOTIN && req_all(e, in_other, p)) ||
		       p->op == WH_SEL_NOTEXISTS;
	case WH_SEL_EXISTS:
		return (p->op == WH_SEL_IN && wh_selreq_nonempty(p)) || p->op == WH_SEL_EXISTS;
	case WH_SEL_NOTEXISTS:
		return p->op == WH_SEL_NOTEXISTS;
	}
	return false;
}

/* True if everything p selects, e selects too. */
bool wh_selector_within(const struct wh_selector *p, const struct wh_selector *e)
{
	for (size_t i = 0; i < e->n; i++) {
		bool ok = false;

		for (size_t j = 0; j < p->n && !ok; j++)
			ok = implies(&p->r[j], &e->r[i]);
		if (!ok)
			return false;
	}
	return true;
}

/* True if selector s provably matches namespace ns (whose only known label is its name). */
bool wh_selector_matches_ns(const struct wh_selector *s, const char *ns)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct wh_selreq *r = &s->r[i];

		if (strcmp(r->key, SG_LABEL_NS_NAME) != 0)
			return false; /* another label: unknown, so not provable */
		if ((r->op == WH_SEL_IN && !wh_selreq_has(r, ns)) ||
		    (r->op == WH_SEL_NOTIN && wh_selreq_has(r, ns)) || r->op == WH_SEL_NOTEXISTS)
			return false;
	}
	return true;
}

/* True if selector s selects only namespace ns. */
bool wh_selector_only_ns(const struct wh_selector *s, const char *ns)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct wh_selreq *r = &s->r[i];

		if (strcmp(r->key, SG_LABEL_NS_NAME) == 0 && r->op == WH_SEL_IN &&
		    (r->single ? strcmp(r->values->valuestring, ns) == 0
			       : sg_json_count(r->values) == 1 && wh_selreq_has(r, ns)))
			return true;
	}
	return false;
}

void wh_selector_describe(const cJSON *sel, struct sg_buf *b)
{
	const cJSON *it;
	bool first = true;

	cJSON_ArrayForEach(it, sg_json_obj(sel, "matchLabels"))
	{
		sg_buf_printf(b, "%s%s=%s", first ? "" : ",", it->string,
			      cJSON_IsString(it) ? it->valuestring : "?");
		first = false;
	}
	cJSON_ArrayForEach(it, sg_json_arr(sel, "matchExpressions"))
	{
		const char *key = sg_json_str(it, "key"), *op = sg_json_str(it, "operator");
		const cJSON *v;

		sg_buf_printf(b, "%s%s %s", first ? "" : ",", key ? key : "?", op ? op : "?");
		if (sg_json_count(sg_json_arr(it, "values"))) {
			bool f2 = true;

			sg_buf_puts(b, " (");
			cJSON_ArrayForEach(v, sg_json_arr(it, "values"))
			{
				sg_buf_printf(b, "%s%s", f2 ? "" : ",",
					      cJSON_IsString(v) ? v->valuestring : "?");
				f2 = false;
			}
			sg_buf_putc(b, ')');
		}
		first = false;
	}
	if (first)
		sg_buf_puts(b, "(all)");
}
