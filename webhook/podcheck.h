/*
 * podcheck: the isolation rules for a pod spec.
 *
 * The same rules serve three places: a Sandbox pod itself, a Sandbox's
 * spec.podTemplate and a SandboxTemplate's spec.podTemplate, so that users
 * hear about a problem at `kubectl apply` rather than later as a controller
 * event. A template is checked as a blueprint: a field it leaves unset is
 * fine where the webhook will default it on the pod (runtime class,
 * token automount, seccomp, privilege escalation, capabilities); an
 * explicit bad value is not. A pod is checked as it will run.
 *
 * One blueprint field is not deferred on a Sandbox: the ServiceAccount
 * admission plugin runs before any webhook and mounts an API token unless
 * automountServiceAccountToken is already false, so a Sandbox must say
 * false itself. (A SandboxTemplate need not: agent-sandbox writes false
 * into every Sandbox it makes from a template when the field is unset.)
 *
 * The rules are Pod Security "restricted" where it matters for untrusted
 * code, plus what the restricted profile does not cover and a sandbox
 * needs: the runtime class, token automount, service links, probe hosts.
 */
#ifndef WH_PODCHECK_H
#define WH_PODCHECK_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "policy.h"
#include "runtimes.h"
#include "violations.h"

/* What holds the pod spec being checked. */
enum wh_holder {
	WH_HOLDER_POD,	    /* the pod itself, as it will run */
	WH_HOLDER_SANDBOX,  /* a Sandbox's podTemplate */
	WH_HOLDER_TEMPLATE, /* a SandboxTemplate's podTemplate */
};

struct wh_podcheck {
	const struct wh_rules *rules;
	enum wh_holder holder;
	const char *where; /* prefix of paths in messages: "spec", "spec.podTemplate.spec" */
	const cJSON *meta; /* the pod's (or template's) metadata, for annotations; may be NULL */
	/*
	 * The cluster's RuntimeClasses (runtimes.h), or NULL to trust the
	 * policy's names. On a pod, a class that does not exist or is not a
	 * sandbox is a violation; on a template it is a note (a warning) in
	 * notes, when notes is not NULL.
	 */
	const struct wh_runtimes *runtimes;
	struct wh_violations *notes;
};

/* Adds a violation for each broken rule in spec (a PodSpec object; NULL is itself one). */
void wh_check_podspec(const struct wh_podcheck *c, const cJSON *spec, struct wh_violations *out);

/*
 * Checks the profile label in labels (the pod's or the template's). With
 * required, a missing label is a violation (a pod at CREATE, which the
 * mutating webhook should have labelled); otherwise only a bad value is.
 * where names the labels in messages.
 */
void wh_check_profile_label(const struct wh_rules *r, const cJSON *labels, bool required,
			    const char *where, struct wh_violations *out);

/*
 * On UPDATE: every label under our prefix that old had must still be there
 * with the same value.
 */
void wh_check_labels_kept(const cJSON *old_labels, const cJSON *new_labels,
			  struct wh_violations *out);

/*
 * Checks annotations that will land on a sandbox pod (the pod's own, or a
 * SandboxClaim's additionalPodMetadata.annotations) for an AppArmor
 * profile of "unconfined" and for keys that override the sandbox runtime's
 * configuration (Kata's io.katacontainers.*, gVisor's dev.gvisor.flag.*
 * and dev.gvisor.internal.*). where, if not NULL, prefixes the messages.
 */
void wh_check_annotations(const cJSON *annotations, const char *where, struct wh_violations *out);

/* True if cap (as written in a PodSpec) is NET_BIND_SERVICE, with or without CAP_. */
bool wh_cap_is_net_bind(const char *cap);

#endif
