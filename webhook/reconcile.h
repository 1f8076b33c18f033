/*
 * reconcile: sandbox-guard's own NetworkPolicy in every namespace that has
 * sandbox pods.
 *
 * For each (namespace, profile) with at least one pod labelled
 * sandbox-guard.io/network-profile=<profile>, the reconciler keeps a
 * NetworkPolicy named sandbox-guard-<profile> that selects those pods and
 * implements the profile: Ingress and Egress both isolated, with exactly
 * the profile's rules (plus DNS to the cluster resolver when the profile
 * says so). A pod that only this policy selects is default-deny apart from
 * its profile; anything else that selects it is held to the envelope by
 * the validating webhook.
 *
 * Writes are server-side apply (field manager "sandbox-guard", forced), so
 * any number of webhook replicas converge on the same object without a
 * leader. Drift (an edit or a delete of our object) comes back as a watch
 * event and is corrected at once; a full pass every minute catches the
 * rest. With gc, the policy of a profile no pod uses any more is deleted.
 *
 * It also labels every namespace with profile pods WH_SANDBOX_NS_LABEL=true
 * (the NetworkPolicy webhooks apply only there) and sends the namespace's
 * older NetworkPolicies through admission again, deleting one that still
 * opens sandbox pods beyond the envelope (docs/network.md).
 */
#ifndef WH_RECONCILE_H
#define WH_RECONCILE_H

#include <stdbool.h>

#include "sg_labels.h"

struct sg_kube;
struct sg_metrics;
struct wh_policy;
struct wh_reconciler;

/* The NetworkPolicy name for a profile, and the label that marks ours. */
#define WH_NETPOL_PREFIX "sandbox-guard-"
#define WH_FIELD_MANAGER "sandbox-guard"

/* The namespace label the reconciler sets (common/sg_labels.h). */
#define WH_SANDBOX_NS_LABEL SG_LABEL_SANDBOX_NS

/*
 * Starts reconciling. policy points at the daemon's current policy pointer
 * (it is read at each apply, so reloads take effect). metrics may be NULL.
 */
struct wh_reconciler *wh_reconciler_new(struct sg_kube *kube, struct wh_policy *const *policy,
					struct sg_metrics *metrics, bool gc, char **cause);

/* The policy changed: apply every desired object again. */
void wh_reconciler_policy_changed(struct wh_reconciler *r);

/* True once pods and NetworkPolicies have been listed. */
bool wh_reconciler_synced(const struct wh_reconciler *r);

void wh_reconciler_free(struct wh_reconciler *r);

#endif
