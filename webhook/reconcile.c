#include "reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ipset.h"
#include "netpol.h"
#include "policy.h"
#include "sg_buf.h"
#include "sg_json.h"
#include "sg_kube.h"
#include "sg_labels.h"
#include "sg_log.h"
#include "sg_map.h"
#include "sg_metrics.h"
#include "violations.h"

#define POD_COLLECTION "/api/v1/pods"
#define NP_COLLECTION  "/apis/networking.k8s.io/v1/networkpolicies"
#define MAX_INFLIGHT   8
#define RESYNC_S       60
#define RETRY_MIN_MS   500
#define RETRY_MAX_MS   30000

/* One (namespace, profile): how many pods use it and what we do about it. */
struct target {
	char *ns;
	char *profile;
	unsigned pods;
	bool exists; /* our NetworkPolicy is there (as last seen) */
	bool queued;
	bool inflight;
	bool again;    /* queued while a request was in flight: run once more after it */
	bool applying; /* the request in flight is an apply (else a delete) */
	int backoff_ms;
	struct event *retry; /* created on the first failure */
	struct target *next_queued;
	struct wh_reconciler *r;
};

struct pod {
	struct target *t;
	unsigned gen;
};

struct wh_reconciler {
	struct sg_kube *kube;
	struct wh_policy *const *policy;
	bool gc;
	struct sg_informer *pods_inf;
	struct sg_informer *np_inf;
	struct sg_map targets; /* "ns/profile" -> struct target */
	struct sg_map pods;    /* uid -> struct pod */
	unsigned pod_gen, np_gen;
	struct target *queue_head, *queue_tail;
	int inflight;
	struct event *kick;
	struct event *resync;
	struct event *gc_kick; /* after a pod list: the deletions held back until then */
	struct sg_map nss;     /* namespace -> struct ns_state */
	struct sg_family *runs;
};

static void ns_touch(struct wh_reconciler *r, const char *ns);
static void ns_verify_all(struct wh_reconciler *r);

static void count(struct wh_reconciler *r, const char *action, const char *result)
{
	const char *v[] = {action, result};

	sg_family_add(r->runs, v, 1);
}

static struct target *target_get(struct wh_reconciler *r, const char *ns, const char *profile)
{
	char key[512];
	struct target *t;

	snprintf(key, sizeof(key), "%s/%s", ns, profile);
	t = sg_map_get(&r->targets, key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ns = strdup(ns);
	t->profile = strdup(profile);
	t->r = r;
	t->backoff_ms = RETRY_MIN_MS;
	if (!t->ns || !t->profile || sg_map_put(&r->targets, key, t)) {
		free(t->ns);
		free(t->profile);
		free(t);
		return NULL;
	}
	return t;
}

static void enqueue(struct target *t)
{
	struct wh_reconciler *r = t->r;

	if (t->queued)
		return;
	t->queued = true;
	t->next_queued = NULL;
	if (r->queue_tail)
		r->queue_tail->next_queued = t;
	else
		r->queue_head = t;
	r->queue_tail = t;
	event_active(r->kick, EV_TIMEOUT, 0);
}

/*
 * kube-apiserver (1.33 and later) refuses IPv4-mapped IPv6 CIDRs in a
 * NetworkPolicy ("must not have an IPv4-mapped IPv6 address"). The default
 * profile does not list ::ffff:0:0/96, but a custom profile may; such
 * excepts are left out of the policy we apply: a connection to a mapped
 * address leaves as IPv4, which the IPv4 rules govern (wh_cidr_ipv4_mapped
 * says which excepts are wholly mapped).
 */
static void drop_mapped_excepts(cJSON *rules, const char *peers)
{
	cJSON *rule, *peer;

	cJSON_ArrayForEach(rule, rules)
	{
		cJSON_ArrayForEach(peer, cJSON_GetObjectItemCaseSensitive(rule, peers))
		{
			cJSON *block = cJSON_GetObjectItemCaseSensitive(peer, "ipBlock");
			cJSON *except = cJSON_GetObjectItemCaseSensitive(block, "except");

			for (int i = cJSON_GetArraySize(except) - 1; i >= 0; i--) {
				cJSON *e = cJSON_GetArrayItem(except, i);

				if (cJSON_IsString(e) && wh_cidr_ipv4_mapped(e->valuestring))
					cJSON_DeleteItemFromArray(except, i);
			}
			if (except && cJSON_GetArraySize(except) == 0)
				cJSON_DeleteItemFromObjectCaseSensitive(block, "except");
		}
	}
}

/* The desired NetworkPolicy for t, as an apply body. 0, or -1 if the profile is unknown. */
static int desired(const struct wh_reconciler *r, const struct target *t, struct sg_buf *b)
{
	const struct wh_profile *pr = wh_policy_profile(*r->policy, t->profile);
	const struct wh_dns *dns = wh_policy_dns(*r->policy);
	cJSON *np = NULL, *meta, *labels, *spec, *sel, *ml, *types, *ing, *egr, *it;
	char *text;

	if (!pr)
		return -1;
	np = cJSON_CreateObject();
	cJSON_AddStringToObject(np, "apiVersion", "networking.k8s.io/v1");
	cJSON_AddStringToObject(np, "kind", "NetworkPolicy");
	meta = cJSON_AddObjectToObject(np, "metadata");
	{
		char name[128];

		snprintf(name, sizeof(name), WH_NETPOL_PREFIX "%s", t->profile);
		cJSON_AddStringToObject(meta, "name", name);
	}
	cJSON_AddStringToObject(meta, "namespace", t->ns);
	labels = cJSON_AddObjectToObject(meta, "labels");
	cJSON_AddStringToObject(labels, SG_LABEL_MANAGED_BY, WH_FIELD_MANAGER);
	cJSON_AddStringToObject(labels, SG_LABEL_PROFILE, t->profile);
	spec = cJSON_AddObjectToObject(np, "spec");
	sel = cJSON_AddObjectToObject(spec, "podSelector");
	ml = cJSON_AddObjectToObject(sel, "matchLabels");
	cJSON_AddStringToObject(ml, SG_LABEL_PROFILE, t->profile);
	types = cJSON_AddArrayToObject(spec, "policyTypes");
	cJSON_AddItemToArray(types, cJSON_CreateString("Ingress"));
	cJSON_AddItemToArray(types, cJSON_CreateString("Egress"));
	ing = pr->rules.ingress ? cJSON_Duplicate(pr->rules.ingress, true) : cJSON_CreateArray();
	egr = pr->rules.egress ? cJSON_Duplicate(pr->rules.egress, true) : cJSON_CreateArray();
	drop_mapped_excepts(ing, "from");
	drop_mapped_excepts(egr, "to");
	cJSON_AddItemToObject(spec, "ingress", ing);
	cJSON_AddItemToObject(spec, "egress", egr);
	if (pr->rules.dns && dns->peer) {
		cJSON *rule = cJSON_CreateObject(), *to = cJSON_AddArrayToObject(rule, "to");

		cJSON_AddItemToArray(to, cJSON_Duplicate(dns->peer, true));
		it = cJSON_Duplicate(dns->ports, true);
		cJSON_AddItemToObject(rule, "ports", it);
		cJSON_AddItemToArray(egr, rule);
	}
	text = cJSON_PrintUnformatted(np);
	cJSON_Delete(np);
	if (!text)
		return -1;
	sg_buf_puts(b, text);
	free(text);
	return 0;
}

static void process(struct wh_reconciler *r);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	enqueue(arg);
}

/* Tries t again after its back-off (0.5 s doubling to 30 s); the minute resync is the fallback. */
static void retry_later(struct target *t)
{
	struct timeval tv = {t->backoff_ms / 1000, (t->backoff_ms % 1000) * 1000};

	t->backoff_ms = t->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : t->backoff_ms * 2;
	if (!t->retry)
		t->retry = evtimer_new(sg_kube_base(t->r->kube), retry_cb, t);
	if (t->retry)
		evtimer_add(t->retry, &tv);
}

static void op_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct target *t = arg;
	struct wh_reconciler *r = t->r;
	bool apply = t->applying;
	bool ok = !err && ((status >= 200 && status < 300) || (!apply && status == 404));

	(void)len;
	t->inflight = false;
	r->inflight--;
	count(r, apply ? "apply" : "delete", ok ? "ok" : "failed");
	if (ok) {
		t->exists = apply;
		t->backoff_ms = RETRY_MIN_MS;
		sg_log_debug("network policy %s%s in %s %s", WH_NETPOL_PREFIX, t->profile, t->ns,
			     apply ? "applied" : "deleted");
	} else {
		sg_log_warn("cannot %s network policy %s%s in %s: %s (HTTP %ld) %.200s",
			    apply ? "apply" : "delete", WH_NETPOL_PREFIX, t->profile, t->ns,
			    err ? err : "error", status, body ? body : "");
		retry_later(t);
	}
	if (t->again) {
		t->again = false;
		enqueue(t);
	}
	process(r);
}

static void start_op(struct wh_reconciler *r, struct target *t)
{
	char path[1024], name[128];
	struct sg_buf body;
	struct sg_kube_req *req;

	snprintf(name, sizeof(name), WH_NETPOL_PREFIX "%s", t->profile);
	snprintf(path, sizeof(path), "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies/%s",
		 t->ns, name);
	if (t->pods == 0) {
		/*
		 * Before the first complete list of pods (the API server still
		 * failing it after a restart or an outage, while the policy list
		 * already succeeded) no pods is not knowing the pods: deleting
		 * then would strip isolation from running sandboxes. pods_end
		 * looks at these targets again once the list is in.
		 */
		if (!r->gc || !t->exists || !sg_informer_synced(r->pods_inf))
			return;
		req = sg_kube_request(r->kube, "DELETE", path, NULL, NULL, 0, op_done, t);
	} else {
		sg_buf_init(&body, 1u << 20);
		if (desired(r, t, &body) != 0) {
			sg_log_error(
				"pods in %s use network profile '%s', which the policy does not "
				"define; keeping whatever policy is there",
				t->ns, t->profile);
			sg_buf_release(&body);
			return;
		}
		strncat(path, "?fieldManager=" WH_FIELD_MANAGER "&force=true",
			sizeof(path) - strlen(path) - 1);
		req = sg_kube_request(r->kube, "PATCH", path, "application/apply-patch+yaml",
				      body.data, body.len, op_done, t);
		sg_buf_release(&body);
	}
	if (!req)
		return;
	t->applying = t->pods > 0;
	t->inflight = true;
	r->inflight++;
}

static void process(struct wh_reconciler *r)
{
	while (r->queue_head && r->inflight < MAX_INFLIGHT) {
		struct target *t = r->queue_head;

		r->queue_head = t->next_queued;
		if (!r->queue_head)
			r->queue_tail = NULL;
		t->queued = false;
		if (t->inflight) {
			/* Let the running request finish, then look again: the world moved. */
			t->again = true;
			continue;
		}
		start_op(r, t);
	}
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	process(arg);
}

static void enqueue_all(struct wh_reconciler *r)
{
	for (size_t i = 0; i < r->targets.nslots; i++)
		if (r->targets.slots[i].key)
			enqueue(r->targets.slots[i].value);
}

static void resync_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	enqueue_all(arg);
	ns_verify_all(arg);
}

static void gc_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wh_reconciler *r = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < r->targets.nslots; i++) {
		struct target *t = r->targets.slots[i].value;

		if (r->targets.slots[i].key && t->pods == 0 && t->exists)
			enqueue(t);
	}
}

/* --- pods ------------------------------------------------------------------------ */

static void pod_set(struct wh_reconciler *r, const char *uid, struct target *t)
{
	struct pod *p = sg_map_get(&r->pods, uid);

	if (p && p->t == t) {
		p->gen = r->pod_gen;
		return;
	}
	if (p) {
		if (--p->t->pods == 0)
			enqueue(p->t);
		if (!t) {
			free(sg_map_del(&r->pods, uid));
			return;
		}
	} else {
		if (!t)
			return;
		p = calloc(1, sizeof(*p));
		if (!p || sg_map_put(&r->pods, uid, p)) {
			free(p);
			return;
		}
	}
	p->t = t;
	p->gen = r->pod_gen;
	if (t->pods == 0)
		ns_touch(r, t->ns);
	if (t->pods++ == 0 || !t->exists)
		enqueue(t);
}

static void pods_begin(void *arg)
{
	((struct wh_reconciler *)arg)->pod_gen++;
}

static void pods_upsert(const cJSON *obj, void *arg)
{
	struct wh_reconciler *r = arg;
	const cJSON *meta = sg_json_get(obj, "metadata");
	const char *uid = sg_json_str(meta, "uid"), *ns = sg_json_str(meta, "namespace");
	const char *profile = sg_json_str(sg_json_obj(meta, "labels"), SG_LABEL_PROFILE);

	if (!uid || !ns)
		return;
	pod_set(r, uid, profile ? target_get(r, ns, profile) : NULL);
}

static void pods_remove(const cJSON *obj, void *arg)
{
	const char *uid = sg_json_str(sg_json_get(obj, "metadata"), "uid");

	if (uid)
		pod_set(arg, uid, NULL);
}

static void pods_end(void *arg)
{
	struct wh_reconciler *r = arg;

	for (size_t i = 0; i < r->pods.nslots; i++) {
		struct pod *p = r->pods.slots[i].value;

		if (r->pods.slots[i].key && p->gen != r->pod_gen)
			pod_set(r, r->pods.slots[i].key, NULL);
	}
	/*
	 * Garbage collection waits for a complete list of pods (start_op):
	 * the policies it held back are decided now. The informer counts as
	 * synced only after this returns, so look again from the loop.
	 */
	if (r->gc)
		event_active(r->gc_kick, EV_TIMEOUT, 0);
}

/* --- our NetworkPolicies ---------------------------------------------------------------- */

static struct target *np_target(struct wh_reconciler *r, const cJSON *obj)
{
	const cJSON *meta = sg_json_get(obj, "metadata");
	const char *name = sg_json_str(meta, "name"), *ns = sg_json_str(meta, "namespace");

	if (!name || !ns || strncmp(name, WH_NETPOL_PREFIX, strlen(WH_NETPOL_PREFIX)) != 0)
		return NULL;
	return target_get(r, ns, name + strlen(WH_NETPOL_PREFIX));
}

static void np_begin(void *arg)
{
	struct wh_reconciler *r = arg;

	r->np_gen++;
}

static void np_upsert(const cJSON *obj, void *arg)
{
	struct target *t = np_target(arg, obj);

	if (!t)
		return;
	t->exists = true;
	/* Someone may have edited it: applying again is a no-op when it is ours as is. */
	if (t->pods > 0 || ((struct wh_reconciler *)arg)->gc)
		enqueue(t);
}

static void np_remove(const cJSON *obj, void *arg)
{
	struct target *t = np_target(arg, obj);

	if (!t)
		return;
	t->exists = false;
	if (t->pods > 0) {
		sg_log_info("network policy %s%s in %s was deleted; restoring it", WH_NETPOL_PREFIX,
			    t->profile, t->ns);
		enqueue(t);
	}
}

static void np_end(void *arg)
{
	enqueue_all(arg);
}

/* --- sandbox namespaces ---------------------------------------------------------------
 *
 * The NetworkPolicy webhooks apply only in namespaces labelled
 * WH_SANDBOX_NS_LABEL=true, so that a webhook outage blocks NetworkPolicy
 * writes only where sandboxes live (docs/network.md). The reconciler sets
 * the label on every namespace where it sees a profile pod. Policies
 * written there before the label took effect were never checked, so once
 * it is set (and a moment later, when the API server's own view of the
 * namespace has it too) every NetworkPolicy of the namespace other than
 * ours is sent through admission again with an empty merge patch: the
 * mutating webhook scopes it away from sandbox pods, as on any write, and
 * one that still opens sandbox pods beyond the envelope, which could only
 * have been written while nothing checked it, is deleted. Then the
 * namespace gets the annotation WH_SANDBOX_NS_CHECKED, so that a restarted
 * replica (which reads each sandbox namespace once) re-checks nothing, and
 * a namespace an admin labelled ahead of time gets its one pass. The
 * minute pass reads the namespace again and starts over if the label (or
 * the annotation) is gone.
 */

#define NS_SETTLE_MS	      2000 /* the API server's namespace informer follows our label */
#define WH_SANDBOX_NS_CHECKED "sandbox-guard.io/networkpolicies-checked"
/* The label on our own NetworkPolicies (which the re-check leaves alone). */
#define NS_OURS_LABEL SG_LABEL_MANAGED_BY

enum ns_step { NS_VERIFY, NS_LABEL, NS_LIST, NS_MARK, NS_DONE };

struct ns_state;

/* One NetworkPolicy sent through admission again, then perhaps deleted. */
struct recheck {
	struct recheck *next;
	struct ns_state *s;
	struct sg_kube_req *req;
	char *name;
	bool deleting;
};

struct ns_state {
	struct wh_reconciler *r;
	char *ns;
	enum ns_step step; /* what runs next, or NS_DONE */
	struct sg_kube_req *req;
	struct event *timer;
	int backoff_ms;
	struct recheck *checks; /* in flight */
	bool failed;		/* a re-check failed: list again after back-off */
	bool was_done;		/* labelled and checked by this process before */
};

static void ns_run(struct ns_state *s);

static void ns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ns_run(arg);
}

static void ns_later(struct ns_state *s, enum ns_step step, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	s->step = step;
	if (!s->timer)
		s->timer = evtimer_new(sg_kube_base(s->r->kube), ns_timer_cb, s);
	if (s->timer)
		evtimer_add(s->timer, &tv);
}

/*
 * How loud a failure of s is: a warning the first time in a row, debug
 * while it keeps failing (a missing ClusterRole fails for every sandbox
 * namespace every 30 s).
 */
static enum sg_log_level ns_fail_level(const struct ns_state *s)
{
	return s->backoff_ms <= RETRY_MIN_MS ? SG_LOG_WARN : SG_LOG_DEBUG;
}

/* Retries step after the namespace's back-off (0.5 s doubling to 30 s). */
static void ns_retry(struct ns_state *s, enum ns_step step)
{
	int ms = s->backoff_ms;

	s->backoff_ms = s->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->backoff_ms * 2;
	ns_later(s, step, ms);
}

/* The namespace's own path, or with netpols that of its NetworkPolicies. */
static void ns_path(const struct ns_state *s, bool netpols, char *out, size_t size)
{
	if (netpols)
		snprintf(out, size, "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies",
			 s->ns);
	else
		snprintf(out, size, "/api/v1/namespaces/%s", s->ns);
}

static void label_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct ns_state *s = arg;
	bool ok = !err && status >= 200 && status < 300;

	(void)len;
	s->req = NULL;
	count(s->r, "label-namespace", ok ? "ok" : "failed");
	if (!ok) {
		sg_log(ns_fail_level(s),
		       "cannot label namespace %s " WH_SANDBOX_NS_LABEL
		       "=true: %s (HTTP %ld) %.200s; NetworkPolicy writes there are not "
		       "checked until it is labelled",
		       s->ns, err ? err : "error", status, body ? body : "");
		ns_retry(s, NS_LABEL);
		return;
	}
	ns_later(s, NS_LIST, NS_SETTLE_MS);
}

static void recheck_done(long status, const char *body, size_t len, const char *err, void *arg);

static bool recheck_start(struct recheck *c)
{
	char path[1024];

	ns_path(c->s, true, path, sizeof(path));
	strncat(path, "/", sizeof(path) - strlen(path) - 1);
	strncat(path, c->name, sizeof(path) - strlen(path) - 1);
	if (c->deleting)
		c->req = sg_kube_request(c->s->r->kube, "DELETE", path, NULL, NULL, 0, recheck_done,
					 c);
	else
		c->req = sg_kube_request(c->s->r->kube, "PATCH", path,
					 "application/merge-patch+json", "{}", 2, recheck_done, c);
	return c->req != NULL;
}

static void recheck_free(struct recheck *c)
{
	struct recheck **pp = &c->s->checks;

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	free(c->name);
	free(c);
}

/* The re-check pass of s is over when nothing is in flight. */
static void recheck_settle(struct ns_state *s)
{
	if (s->checks)
		return;
	if (s->failed) {
		s->failed = false;
		ns_retry(s, NS_LIST);
		return;
	}
	s->step = NS_MARK;
	ns_run(s);
}

static void mark_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct ns_state *s = arg;

	(void)body;
	(void)len;
	s->req = NULL;
	if (err || status < 200 || status >= 300) {
		sg_log(ns_fail_level(s),
		       "cannot annotate namespace %s " WH_SANDBOX_NS_CHECKED ": %s (HTTP %ld)",
		       s->ns, err ? err : "error", status);
		ns_retry(s, NS_MARK);
		return;
	}
	s->step = NS_DONE;
	s->was_done = true;
	s->backoff_ms = RETRY_MIN_MS;
	sg_log_info("namespace %s is a sandbox namespace: labelled " WH_SANDBOX_NS_LABEL
		    "=true and its NetworkPolicies checked",
		    s->ns);
}

/*
 * The policy as admission left it (scoped away from sandbox pods if the
 * mutating webhook did so) still opens sandbox pods beyond the envelope,
 * in a namespace whose mode enforces. The validating webhook lets an update
 * keep what the object already held, so the answer to our empty patch
 * cannot say this: the reconciler judges the result with the webhook's own
 * check. *why gets the first reason (static storage, or NULL).
 */
static bool still_refused(const struct wh_reconciler *r, const char *ns, const char *body,
			  size_t len, char *why, size_t why_size)
{
	const struct wh_policy *p = *r->policy;
	const struct wh_rules *rules = wh_policy_rules(p, ns);
	struct wh_violations v;
	const cJSON *spec;
	char *cause = NULL;
	bool refused = false;
	cJSON *np = body ? sg_json_parse(body, len, &cause) : NULL;

	free(cause);
	spec = sg_json_get(np, "spec");
	if (np && rules->mode == WH_ENFORCE &&
	    wh_netpol_selects_sandboxes(sg_json_get(spec, "podSelector"))) {
		wh_violations_init(&v);
		wh_netpol_check_spec(spec, ns, &rules->envelope, wh_policy_dns(p), &v);
		refused = v.n + v.dropped > 0;
		snprintf(why, why_size, "%s", v.n ? v.items[0] : "beyond the envelope");
		wh_violations_release(&v);
	}
	cJSON_Delete(np);
	return refused;
}

static void recheck_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct recheck *c = arg;
	struct ns_state *s = c->s;
	bool ok = !err && ((status >= 200 && status < 300) || status == 404);
	char why[512];

	(void)len;
	c->req = NULL;
	if (c->deleting) {
		count(s->r, "delete-unchecked", ok ? "ok" : "failed");
		if (!ok)
			s->failed = true;
		recheck_free(c);
		recheck_settle(s);
		return;
	}
	if ((!ok && !err && status >= 400 && status < 500 && body &&
	     strstr(body, "denied the request") && strstr(body, "sandbox-guard.io") &&
	     snprintf(why, sizeof(why), "%.300s", body) > 0) ||
	    (ok && status != 404 && still_refused(s->r, s->ns, body, len, why, sizeof(why)))) {
		/* Our webhook refuses it now: it was written while nothing checked it. */
		count(s->r, "recheck", "refused");
		sg_log_warn("NetworkPolicy %s/%s, written before the namespace held sandboxes, "
			    "opens sandbox pods beyond the envelope; deleting it: %s",
			    s->ns, c->name, why);
		c->deleting = true;
		if (recheck_start(c))
			return;
		ok = false;
	} else {
		count(s->r, "recheck", ok ? "ok" : "failed");
		if (!ok)
			sg_log_warn("cannot re-check NetworkPolicy %s/%s: %s (HTTP %ld) %.200s",
				    s->ns, c->name, err ? err : "error", status, body ? body : "");
	}
	if (!ok)
		s->failed = true;
	recheck_free(c);
	recheck_settle(s);
}

static void list_ns_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct ns_state *s = arg;
	const cJSON *it;
	char *cause = NULL;
	cJSON *doc = NULL;

	s->req = NULL;
	if (!err && status == 200 && body)
		doc = sg_json_parse(body, len, &cause);
	if (!doc) {
		sg_log_warn("cannot list the NetworkPolicies of %s: %s (HTTP %ld)", s->ns,
			    err	    ? err
			    : cause ? cause
				    : "error",
			    status);
		free(cause);
		count(s->r, "recheck", "failed");
		ns_retry(s, NS_LIST);
		return;
	}
	cJSON_ArrayForEach(it, sg_json_arr(doc, "items"))
	{
		const cJSON *meta = sg_json_get(it, "metadata");
		const char *name = sg_json_str(meta, "name");
		const char *by = sg_json_str(sg_json_obj(meta, "labels"), NS_OURS_LABEL);
		struct recheck *c;

		if (!name || (by && strcmp(by, WH_FIELD_MANAGER) == 0 &&
			      strncmp(name, WH_NETPOL_PREFIX, strlen(WH_NETPOL_PREFIX)) == 0))
			continue; /* ours: applied and corrected by the reconciler */
		c = calloc(1, sizeof(*c));
		if (c)
			c->name = strdup(name);
		if (!c || !c->name) {
			free(c);
			s->failed = true;
			continue;
		}
		c->s = s;
		c->next = s->checks;
		s->checks = c;
		if (!recheck_start(c)) {
			s->failed = true;
			recheck_free(c);
		}
	}
	cJSON_Delete(doc);
	recheck_settle(s);
}

static void verify_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct ns_state *s = arg;
	char *cause = NULL;
	const cJSON *meta;
	const char *v;
	cJSON *doc = NULL;

	s->req = NULL;
	if (!err && status == 404) {
		s->step = NS_DONE; /* deleted: its next pod (in a new namespace) starts over */
		return;
	}
	if (!err && status == 200 && body)
		doc = sg_json_parse(body, len, &cause);
	if (!doc) {
		sg_log(ns_fail_level(s), "cannot read namespace %s: %s (HTTP %ld)", s->ns,
		       err     ? err
		       : cause ? cause
			       : "error",
		       status);
		free(cause);
		ns_retry(s, NS_VERIFY);
		return;
	}
	meta = sg_json_get(doc, "metadata");
	v = sg_json_str(sg_json_obj(meta, "labels"), WH_SANDBOX_NS_LABEL);
	if (v && strcmp(v, "true") == 0 &&
	    sg_json_str(sg_json_obj(meta, "annotations"), WH_SANDBOX_NS_CHECKED)) {
		s->step = NS_DONE;
		s->backoff_ms = RETRY_MIN_MS;
	} else {
		if (s->was_done)
			sg_log_warn(
				"namespace %s holds sandbox pods but lost its " WH_SANDBOX_NS_LABEL
				" label; labelling it again",
				s->ns);
		s->step = NS_LABEL;
		ns_run(s);
	}
	cJSON_Delete(doc);
}

static void ns_run(struct ns_state *s)
{
	static const char label[] =
		"{\"metadata\":{\"labels\":{\"" WH_SANDBOX_NS_LABEL "\":\"true\"}}}";
	static const char mark[] =
		"{\"metadata\":{\"annotations\":{\"" WH_SANDBOX_NS_CHECKED "\":\"true\"}}}";
	char path[512];

	if (s->req || s->checks)
		return; /* a step is running; it goes on from there */
	switch (s->step) {
	case NS_LABEL:
		ns_path(s, false, path, sizeof(path));
		s->req = sg_kube_request(s->r->kube, "PATCH", path, "application/merge-patch+json",
					 label, sizeof(label) - 1, label_done, s);
		break;
	case NS_LIST:
		ns_path(s, true, path, sizeof(path));
		s->req = sg_kube_request(s->r->kube, "GET", path, NULL, NULL, 0, list_ns_done, s);
		break;
	case NS_VERIFY:
		ns_path(s, false, path, sizeof(path));
		s->req = sg_kube_request(s->r->kube, "GET", path, NULL, NULL, 0, verify_done, s);
		break;
	case NS_MARK:
		ns_path(s, false, path, sizeof(path));
		s->req = sg_kube_request(s->r->kube, "PATCH", path, "application/merge-patch+json",
					 mark, sizeof(mark) - 1, mark_done, s);
		break;
	case NS_DONE:
		return;
	}
	if (!s->req)
		ns_retry(s, s->step);
}

/* A namespace got its first pod of some profile: label it, or check it still is. */
static void ns_touch(struct wh_reconciler *r, const char *ns)
{
	struct ns_state *s = sg_map_get(&r->nss, ns);

	if (s) {
		if (s->step == NS_DONE) {
			s->step = NS_VERIFY;
			ns_run(s);
		}
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->r = r;
	s->ns = strdup(ns);
	s->backoff_ms = RETRY_MIN_MS;
	s->step = NS_VERIFY;
	if (!s->ns || sg_map_put(&r->nss, ns, s)) {
		free(s->ns);
		free(s);
		return;
	}
	ns_run(s);
}

static void ns_verify_all(struct wh_reconciler *r)
{
	for (size_t i = 0; i < r->nss.nslots; i++) {
		struct ns_state *s = r->nss.slots[i].value;

		if (r->nss.slots[i].key && s->step == NS_DONE) {
			s->step = NS_VERIFY;
			ns_run(s);
		}
	}
}

static void ns_free(struct ns_state *s)
{
	sg_kube_cancel(s->req);
	while (s->checks) {
		sg_kube_cancel(s->checks->req);
		recheck_free(s->checks);
	}
	if (s->timer)
		event_free(s->timer);
	free(s->ns);
	free(s);
}

static double managed_fn(void *arg)
{
	struct wh_reconciler *r = arg;
	double n = 0;

	for (size_t i = 0; i < r->targets.nslots; i++)
		if (r->targets.slots[i].key && ((struct target *)r->targets.slots[i].value)->exists)
			n++;
	return n;
}

struct wh_reconciler *wh_reconciler_new(struct sg_kube *kube, struct wh_policy *const *policy,
					struct sg_metrics *metrics, bool gc, char **cause)
{
	static const struct sg_informer_ops pod_ops = {pods_begin, pods_upsert, pods_remove,
						       pods_end};
	static const struct sg_informer_ops np_ops = {np_begin, np_upsert, np_remove, np_end};
	static const char *const labels[] = {"action", "result"};
	struct wh_reconciler *r = calloc(1, sizeof(*r));
	struct timeval minute = {RESYNC_S, 0};
	struct sg_buf pods_path, np_path;

	if (!r)
		goto oom;
	r->kube = kube;
	r->policy = policy;
	r->gc = gc;
	sg_map_init(&r->targets);
	sg_map_init(&r->pods);
	sg_map_init(&r->nss);
	r->kick = event_new(sg_kube_base(kube), -1, 0, kick_cb, r);
	r->resync = event_new(sg_kube_base(kube), -1, EV_PERSIST, resync_cb, r);
	r->gc_kick = event_new(sg_kube_base(kube), -1, 0, gc_kick_cb, r);
	if (!r->kick || !r->resync || !r->gc_kick || event_add(r->resync, &minute))
		goto oom;
	if (metrics) {
		r->runs = sg_metrics_counter(metrics, "sandbox_guard_network_reconciles_total",
					     "NetworkPolicy applies and deletes by result.", labels,
					     2);
		if (!r->runs || sg_metrics_gauge_fn(metrics, "sandbox_guard_network_policies",
						    "sandbox-guard NetworkPolicies known to exist.",
						    managed_fn, r))
			goto oom;
	}
	/* Pods with a profile, and the NetworkPolicies we manage (the selectors get escaped). */
	sg_buf_init(&pods_path, 1024);
	sg_buf_init(&np_path, 1024);
	if (sg_buf_puts(&pods_path, POD_COLLECTION) == 0 &&
	    sg_kube_query_add(&pods_path, "labelSelector", SG_LABEL_PROFILE) == 0 &&
	    sg_buf_puts(&np_path, NP_COLLECTION) == 0 &&
	    sg_kube_query_add(&np_path, "labelSelector",
			      SG_LABEL_MANAGED_BY "=" WH_FIELD_MANAGER) == 0) {
		r->pods_inf = sg_informer_new(kube, "profile pods", pods_path.data, &pod_ops, r);
		r->np_inf = sg_informer_new(kube, "network policies", np_path.data, &np_ops, r);
	}
	sg_buf_release(&pods_path);
	sg_buf_release(&np_path);
	if (!r->pods_inf || !r->np_inf)
		goto oom;
	return r;
oom:
	*cause = strdup("out of memory starting the network reconciler");
	wh_reconciler_free(r);
	return NULL;
}

void wh_reconciler_policy_changed(struct wh_reconciler *r)
{
	if (r)
		enqueue_all(r);
}

bool wh_reconciler_synced(const struct wh_reconciler *r)
{
	return sg_informer_synced(r->pods_inf) && sg_informer_synced(r->np_inf);
}

void wh_reconciler_free(struct wh_reconciler *r)
{
	if (!r)
		return;
	sg_informer_free(r->pods_inf);
	sg_informer_free(r->np_inf);
	for (size_t i = 0; i < r->targets.nslots; i++) {
		struct target *t = r->targets.slots[i].value;

		if (r->targets.slots[i].key) {
			if (t->retry)
				event_free(t->retry);
			free(t->ns);
			free(t->profile);
			free(t);
		}
	}
	for (size_t i = 0; i < r->pods.nslots; i++)
		if (r->pods.slots[i].key)
			free(r->pods.slots[i].value);
	for (size_t i = 0; i < r->nss.nslots; i++)
		if (r->nss.slots[i].key)
			ns_free(r->nss.slots[i].value);
	sg_map_release(&r->nss);
	sg_map_release(&r->targets);
	sg_map_release(&r->pods);
	if (r->kick)
		event_free(r->kick);
	if (r->resync)
		event_free(r->resync);
	if (r->gc_kick)
		event_free(r->gc_kick);
	free(r);
}
