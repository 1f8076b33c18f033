/*
 * mutate: the defaults written into a Sandbox pod at CREATE.
 *
 * Add-only and idempotent: every op fills a field the user left unset, so a
 * second call on the patched pod finds nothing to do (the API server calls
 * mutating webhooks again when a later one changes the pod). An explicit
 * user value is never overwritten, even a bad one; rejecting it is the
 * validating webhook's job, with a message that says why.
 *
 * Two fields are the exception, because API defaulting runs before
 * admission webhooks and makes "unset" look like a value:
 * enableServiceLinks arrives as true and schedulerName as
 * "default-scheduler" whether or not the user wrote them, so those two
 * defaults are replaced when the policy asks for something else.
 */
#ifndef WH_MUTATE_H
#define WH_MUTATE_H

#include <cjson/cJSON.h>

#include "patch.h"
#include "policy.h"
#include "runtimes.h"
#include "violations.h"

/* Writes the ops that bring a new Sandbox pod to the policy's defaults. */
void wh_mutate_pod(const struct wh_policy *p, const struct wh_rules *r, const cJSON *pod,
		   struct wh_patch *patch);

/*
 * The same, with the cluster's RuntimeClasses (NULL: trust the policy's
 * names): an unset runtimeClassName gets the first preferred class that
 * exists with a sandbox handler, or stays unset when there is none (the
 * validating webhook then refuses the pod, saying what the cluster lacks).
 */
void wh_mutate_pod_rt(const struct wh_policy *p, const struct wh_rules *r,
		      const struct wh_runtimes *rt, const cJSON *pod, struct wh_patch *patch);

/*
 * On the pods/ephemeralcontainers subresource: hardens the ephemeral
 * containers that are new (absent from old by name). Existing ones are
 * immutable and are left alone.
 */
void wh_mutate_ephemeral(const struct wh_rules *r, const cJSON *pod, const cJSON *old,
			 struct wh_patch *patch);

/*
 * On NetworkPolicy CREATE and UPDATE. A policy that goes beyond the
 * network envelope and can select sandbox pods is changed so that it no
 * longer can: its podSelector gets the requirement that the profile label
 * be absent (network.policyScope "sandbox-selectors", the default). Not a
 * policy whose selector can match only sandbox pods (validation refuses
 * it: scoped it would select nothing), nor under "every-policy" (refused
 * instead). Before that, when controller is true (the request comes from
 * one of agentSandbox.controllerUsers), the envelope's missing excepts are
 * added to the policy's ipBlocks, so that agent-sandbox's own template
 * policy lands inside. Each change adds a note saying what and why.
 * Idempotent: the changed policy needs no further change.
 */
void wh_mutate_netpol(const struct wh_policy *p, const struct wh_rules *r, const char *ns,
		      bool controller, const cJSON *np, struct wh_patch *patch,
		      struct wh_violations *notes);

#endif
