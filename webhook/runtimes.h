/*
 * runtimes: the cluster's RuntimeClasses, and the decisions that need them.
 *
 * A RuntimeClass maps a name (what a pod writes in runtimeClassName) to a
 * handler (what the node's container runtime runs). The policy's names
 * alone prove nothing: a class named "gvisor" whose handler is runc is no
 * sandbox, and a class that does not exist leaves a pod unschedulable. So
 * when the webhook can reach the API server it keeps a copy of every
 * RuntimeClass (an informer on node.k8s.io/v1 runtimeclasses) and:
 *
 * - defaults a Sandbox pod to the first class of the policy's preference
 *   list (runtimeClass.default) that exists and whose handler is one of
 *   runtimeClass.allowedHandlers;
 * - refuses a Sandbox pod whose class does not exist, or resolves to a
 *   handler outside that list, or that has no class because none of the
 *   preferred ones exists (fail closed: never a pod under plain runc);
 * - warns when a Sandbox's or SandboxTemplate's podTemplate names a class
 *   that does not exist or is not a sandbox (the cluster may still change
 *   before a pod is made, so a template is not refused for it);
 * - reports classes the policy allows by name whose handler it does not
 *   allow, in the log and as a metric.
 *
 * Without API access the daemon passes no cache (NULL), and the policy's
 * names are trusted as they are: the first preference is the default.
 *
 * The cache itself is plain data that tests fill with wh_runtimes_put.
 */
#ifndef WH_RUNTIMES_H
#define WH_RUNTIMES_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

struct sg_kube;
struct sg_metrics;
struct wh_runtimes;

/* Most RuntimeClasses kept; past it new ones are ignored (and logged). */
#define WH_RUNTIMES_MAX 4096
/* Room for a decision's message. */
#define WH_RUNTIME_WHY_MAX 1024

/* A new empty cache (not synced), or NULL when out of memory. */
struct wh_runtimes *wh_runtimes_new(void);

/* Stops the watch if any and frees everything. NULL is a no-op. */
void wh_runtimes_free(struct wh_runtimes *rt);

/*
 * Feeding the cache (the informer does it; tests call these directly).
 * put records that class name exists with handler (replacing what was
 * known): 0, -EINVAL for a name or handler that no API server would
 * accept, -ENOSPC past WH_RUNTIMES_MAX, -ENOMEM. A resync is begin, the
 * classes that exist, end: end forgets the classes not put since begin,
 * and marks the cache synced.
 */
int wh_runtimes_put(struct wh_runtimes *rt, const char *name, const char *handler);
void wh_runtimes_remove(struct wh_runtimes *rt, const char *name);
void wh_runtimes_resync_begin(struct wh_runtimes *rt);
void wh_runtimes_resync_end(struct wh_runtimes *rt);

/* True once a whole list of the cluster's RuntimeClasses has been seen. */
bool wh_runtimes_synced(const struct wh_runtimes *rt);

/* The handler of class name, or NULL if no such class is known. */
const char *wh_runtimes_handler(const struct wh_runtimes *rt, const char *name);

/* Classes known. */
size_t wh_runtimes_count(const struct wh_runtimes *rt);

/*
 * The class a Sandbox pod without one gets under rules r: with rt NULL,
 * the first preference (names trusted); otherwise the first preference
 * that exists with an allowed handler. NULL when there is none (or the
 * policy does not default), with the reason in why (a sentence fragment
 * that names what the cluster lacks; "" when the policy does not default).
 */
const char *wh_runtime_choose(const struct wh_rules *r, const struct wh_runtimes *rt, char *why,
			      size_t whylen);

/*
 * Checks that class name, which the policy allows by name, is a sandbox in
 * this cluster: it exists and its handler is allowed. True when it is (or
 * rt is NULL); otherwise false with the reason in why.
 */
bool wh_runtime_check(const struct wh_rules *r, const struct wh_runtimes *rt, const char *name,
		      char *why, size_t whylen);

/*
 * Compares the cache with rules r (the policy's top level): a class whose
 * name r allows but whose handler r does not is misconfigured. Logs each
 * class when it becomes (or stops being) misconfigured, keeps the gauge
 * sandbox_guard_runtimeclass_misconfigured{runtimeclass,handler} at 1 for
 * each (0 once fixed) when the cache has metrics, and returns how many
 * there are now.
 */
size_t wh_runtimes_audit(struct wh_runtimes *rt, const struct wh_rules *r);

/*
 * Registers the cache's metrics in m (the gauge above, and
 * sandbox_guard_runtimeclasses: classes known). 0, or -ENOMEM.
 */
int wh_runtimes_metrics(struct wh_runtimes *rt, struct sg_metrics *m);

/*
 * Starts keeping the cache in step with the cluster through kube (list
 * and watch /apis/node.k8s.io/v1/runtimeclasses). policy points at the
 * daemon's current policy pointer, read for every audit. 0, or -1 with
 * *cause.
 */
int wh_runtimes_watch(struct wh_runtimes *rt, struct sg_kube *kube, struct wh_policy *const *policy,
		      char **cause);

/* The policy changed: audit the classes again under it. */
void wh_runtimes_policy_changed(struct wh_runtimes *rt);

#endif
