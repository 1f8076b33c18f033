#include "runtimes.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_json.h"
#include "sg_kube.h"
#include "sg_log.h"
#include "sg_map.h"
#include "sg_metrics.h"

#define RC_PATH "/apis/node.k8s.io/v1/runtimeclasses"

struct rclass {
	char *handler;
	unsigned gen;	       /* the resync that last saw it */
	char *flagged_handler; /* misconfigured with this handler (gauge at 1), else NULL */
};

struct wh_runtimes {
	struct sg_map classes; /* name -> struct rclass */
	unsigned gen;
	bool synced;
	bool listing;	  /* between resync begin and end */
	bool full_logged; /* WH_RUNTIMES_MAX reached, said once */
	struct sg_informer *inf;
	struct wh_policy *const *policy;
	struct sg_family *misconfigured;
};

struct wh_runtimes *wh_runtimes_new(void)
{
	struct wh_runtimes *rt = calloc(1, sizeof(*rt));

	if (rt)
		sg_map_init(&rt->classes);
	return rt;
}

static void set_gauge(struct wh_runtimes *rt, const char *name, const char *handler, double v)
{
	const char *labels[] = {name, handler};

	if (rt->misconfigured)
		sg_family_set(rt->misconfigured, labels, v);
}

static void rclass_free(struct rclass *c)
{
	free(c->handler);
	free(c->flagged_handler);
	free(c);
}

void wh_runtimes_free(struct wh_runtimes *rt)
{
	if (!rt)
		return;
	sg_informer_free(rt->inf);
	for (size_t i = 0; i < rt->classes.nslots; i++)
		if (rt->classes.slots[i].key)
			rclass_free(rt->classes.slots[i].value);
	sg_map_release(&rt->classes);
	free(rt);
}

/* Object names as the API server checks them: a DNS-1123 subdomain. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 253 && isalnum((unsigned char)s[0]) &&
	       isalnum((unsigned char)s[n - 1]) &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n;
}

/* Handlers: a DNS-1123 label. */
static bool valid_handler(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 63 && isalnum((unsigned char)s[0]) &&
	       isalnum((unsigned char)s[n - 1]) &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

int wh_runtimes_put(struct wh_runtimes *rt, const char *name, const char *handler)
{
	struct rclass *c;
	char *h;

	if (!name || !handler || !valid_name(name) || !valid_handler(handler))
		return -EINVAL;
	c = sg_map_get(&rt->classes, name);
	if (c) {
		c->gen = rt->gen;
		if (strcmp(c->handler, handler) == 0)
			return 0;
		if (!(h = strdup(handler)))
			return -ENOMEM;
		free(c->handler);
		c->handler = h;
		return 0;
	}
	if (rt->classes.live >= WH_RUNTIMES_MAX)
		return -ENOSPC;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->handler = strdup(handler)) || sg_map_put(&rt->classes, name, c)) {
		if (c)
			free(c->handler);
		free(c);
		return -ENOMEM;
	}
	c->gen = rt->gen;
	return 0;
}

static void forget(struct wh_runtimes *rt, const char *name, struct rclass *c)
{
	if (c->flagged_handler) {
		set_gauge(rt, name, c->flagged_handler, 0);
		sg_log_info("RuntimeClass '%s' is gone; it is no longer reported as misconfigured",
			    name);
	}
	rclass_free(sg_map_del(&rt->classes, name));
}

void wh_runtimes_remove(struct wh_runtimes *rt, const char *name)
{
	struct rclass *c = name ? sg_map_get(&rt->classes, name) : NULL;

	if (c)
		forget(rt, name, c);
}

void wh_runtimes_resync_begin(struct wh_runtimes *rt)
{
	rt->gen++;
	rt->listing = true;
}

void wh_runtimes_resync_end(struct wh_runtimes *rt)
{
	/* Deleting while iterating is safe with sg_map: it leaves a tombstone. */
	for (size_t i = 0; i < rt->classes.nslots; i++) {
		struct sg_map_slot *s = &rt->classes.slots[i];

		if (s->key && ((struct rclass *)s->value)->gen != rt->gen) {
			char name[256];

			snprintf(name, sizeof(name), "%s", s->key);
			forget(rt, name, s->value);
		}
	}
	rt->synced = true;
	rt->listing = false;
}

bool wh_runtimes_synced(const struct wh_runtimes *rt)
{
	return rt->synced;
}

const char *wh_runtimes_handler(const struct wh_runtimes *rt, const char *name)
{
	const struct rclass *c = name ? sg_map_get(&rt->classes, name) : NULL;

	return c ? c->handler : NULL;
}

size_t wh_runtimes_count(const struct wh_runtimes *rt)
{
	return rt->classes.live;
}

static const char not_synced[] =
	"the webhook has not yet read this cluster's RuntimeClasses from the API server; "
	"retry in a moment";

/* "a, b and c" for at most WH_RUNTIME_PREFS_MAX names. */
static void names_text(const struct wh_rules *r, char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < r->nruntime_prefs && used < n; i++) {
		int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", r->runtime_prefs[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

const char *wh_runtime_choose(const struct wh_rules *r, const struct wh_runtimes *rt, char *why,
			      size_t whylen)
{
	char names[512], bad[512] = "";
	size_t nbad = 0;

	why[0] = '\0';
	if (r->nruntime_prefs == 0)
		return NULL;
	if (!rt)
		return r->runtime_prefs[0];
	if (!rt->synced) {
		snprintf(why, whylen, "%s", not_synced);
		return NULL;
	}
	for (size_t i = 0; i < r->nruntime_prefs; i++) {
		const char *h = wh_runtimes_handler(rt, r->runtime_prefs[i]);

		if (!h)
			continue;
		if (wh_in_list(r->runtime_handlers, h))
			return r->runtime_prefs[i];
		if (nbad++ < 4) {
			size_t used = strlen(bad);

			snprintf(bad + used, sizeof(bad) - used, "%s'%s' has handler '%s'",
				 used ? ", " : "", r->runtime_prefs[i], h);
		}
	}
	names_text(r, names, sizeof(names));
	if (nbad)
		snprintf(why, whylen,
			 "no RuntimeClass of %s with a sandbox handler exists in this cluster "
			 "(%s, not an allowed handler: runtimeClass.allowedHandlers); fix the "
			 "class or create a sandboxed one (docs/operations.md)",
			 names, bad);
	else
		snprintf(why, whylen,
			 "no RuntimeClass of %s exists in this cluster; create one "
			 "(docs/operations.md)",
			 names);
	return NULL;
}

bool wh_runtime_check(const struct wh_rules *r, const struct wh_runtimes *rt, const char *name,
		      char *why, size_t whylen)
{
	const char *h;
	char list[512];

	why[0] = '\0';
	if (!rt)
		return true;
	if (!rt->synced) {
		snprintf(why, whylen, "cannot check RuntimeClass '%.64s' yet: %s", name,
			 not_synced);
		return false;
	}
	h = wh_runtimes_handler(rt, name);
	if (!h) {
		snprintf(why, whylen,
			 "RuntimeClass '%.64s' does not exist in this cluster; create it "
			 "(docs/operations.md)",
			 name);
		return false;
	}
	if (!wh_in_list(r->runtime_handlers, h)) {
		wh_list_text(r->runtime_handlers, list, sizeof(list));
		snprintf(why, whylen,
			 "RuntimeClass '%.64s' has handler '%s', which is not a sandbox "
			 "(runtimeClass.allowedHandlers: %s); fix the class or use another",
			 name, h, list);
		return false;
	}
	return true;
}

size_t wh_runtimes_audit(struct wh_runtimes *rt, const struct wh_rules *r)
{
	size_t n = 0;

	for (size_t i = 0; i < rt->classes.nslots; i++) {
		const char *name = rt->classes.slots[i].key;
		struct rclass *c = rt->classes.slots[i].value;
		bool bad;

		if (!name)
			continue;
		bad = wh_in_list(r->runtime_allowed, name) &&
		      !wh_in_list(r->runtime_handlers, c->handler);
		if (bad)
			n++;
		if (c->flagged_handler && (!bad || strcmp(c->flagged_handler, c->handler) != 0)) {
			set_gauge(rt, name, c->flagged_handler, 0);
			if (!bad)
				sg_log_info("RuntimeClass '%s' (handler '%s') is no longer "
					    "misconfigured",
					    name, c->handler);
			free(c->flagged_handler);
			c->flagged_handler = NULL;
		}
		if (bad && !c->flagged_handler) {
			struct sg_logline l;

			sg_log_begin(&l, SG_LOG_WARN,
				     "misconfigured RuntimeClass: the policy allows its name but "
				     "not its handler, so pods that name it are refused");
			sg_log_str(&l, "runtimeclass", name);
			sg_log_str(&l, "handler", c->handler);
			sg_log_end(&l);
			/* Without memory the log line above still said it. */
			c->flagged_handler = strdup(c->handler);
			set_gauge(rt, name, c->handler, 1);
		}
	}
	return n;
}

static double count_fn(void *arg)
{
	return (double)wh_runtimes_count(arg);
}

int wh_runtimes_metrics(struct wh_runtimes *rt, struct sg_metrics *m)
{
	static const char *const labels[] = {"runtimeclass", "handler"};

	rt->misconfigured = sg_metrics_gauge(
		m, "sandbox_guard_runtimeclass_misconfigured",
		"1 for a RuntimeClass whose name the policy allows but whose handler it does not "
		"(pods naming it are refused); 0 once fixed.",
		labels, 2);
	if (!rt->misconfigured ||
	    sg_metrics_gauge_fn(m, "sandbox_guard_runtimeclasses",
				"RuntimeClasses known from the API server.", count_fn, rt))
		return -ENOMEM;
	return 0;
}

/* --- informer glue ------------------------------------------------------ */

/* Audits under the current policy; during a (re)list only once, at its end. */
static void audit_current(struct wh_runtimes *rt)
{
	if (rt->policy && *rt->policy && rt->synced && !rt->listing)
		wh_runtimes_audit(rt, wh_policy_rules(*rt->policy, NULL));
}

static void inf_begin(void *arg)
{
	wh_runtimes_resync_begin(arg);
}

static void inf_upsert(const cJSON *obj, void *arg)
{
	struct wh_runtimes *rt = arg;
	const char *name = sg_json_str(sg_json_get(obj, "metadata"), "name");
	const char *handler = sg_json_str(obj, "handler");
	int rc = wh_runtimes_put(rt, name, handler);

	if (rc == -ENOSPC && !rt->full_logged) {
		rt->full_logged = true;
		sg_log_error("more than %d RuntimeClasses: '%.64s' and later ones are ignored, "
			     "and pods that name them are refused",
			     WH_RUNTIMES_MAX, name);
	} else if (rc == -EINVAL) {
		sg_log_warn("ignoring a RuntimeClass without a valid name and handler");
	} else if (rc) {
		sg_log_error("out of memory recording RuntimeClass '%.64s'", name);
	}
	audit_current(rt);
}

static void inf_remove(const cJSON *obj, void *arg)
{
	wh_runtimes_remove(arg, sg_json_str(sg_json_get(obj, "metadata"), "name"));
}

static void inf_end(void *arg)
{
	struct wh_runtimes *rt = arg;
	bool first = !rt->synced;

	wh_runtimes_resync_end(rt);
	if (first)
		sg_log_info("RuntimeClasses synced: %zu known", wh_runtimes_count(rt));
	audit_current(rt);
}

int wh_runtimes_watch(struct wh_runtimes *rt, struct sg_kube *kube, struct wh_policy *const *policy,
		      char **cause)
{
	static const struct sg_informer_ops ops = {inf_begin, inf_upsert, inf_remove, inf_end};

	rt->policy = policy;
	rt->inf = sg_informer_new(kube, "runtime classes", RC_PATH, &ops, rt);
	if (!rt->inf)
		return sg_failf(cause, "out of memory watching RuntimeClasses");
	return 0;
}

void wh_runtimes_policy_changed(struct wh_runtimes *rt)
{
	if (rt)
		audit_current(rt);
}
