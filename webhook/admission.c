#include "admission.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "mutate.h"
#include "patch.h"
#include "podcheck.h"
#include "review.h"
#include "sg_json.h"
#include "violations.h"

#define AUDIT_KEY	"violations"
#define AUDIT_VALUE_MAX 4096

/* Label prefixes a SandboxClaim may not put on the pod it gets. */
static const char *const reserved_prefixes[] = {SG_LABEL_PREFIX, SG_AS_LABEL_PREFIX,
						SG_AS_EXT_LABEL_PREFIX, NULL};

static void copy(char *dst, size_t n, const char *src)
{
	size_t len = src ? strnlen(src, n - 1) : 0;

	memcpy(dst, src ? src : "", len);
	dst[len] = '\0';
}

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/*
 * A pod with spec.nodeName is bound at creation: the scheduler never sees
 * it, and so neither do the extender's filters (closed nodes, where the
 * runtime is available, per-node caps). agent-sandbox copies a Sandbox's
 * (and through it a SandboxTemplate's) podTemplate into the pod it
 * creates, so the field is refused where the tenant writes it.
 */
static void check_template_node_name(const cJSON *spec, struct wh_violations *out)
{
	const char *node = sg_json_str(spec, "nodeName");

	if (node && node[0])
		wh_violation(
			out,
			"spec.podTemplate.spec.nodeName is '%.253s': it would bind the sandbox "
			"pod without the scheduler and sandbox-guard's placement checks; "
			"remove it (to choose nodes use a nodeSelector on "
			"kubernetes.io/hostname, or node affinity)",
			node);
}

/* Checks a Sandbox's or SandboxTemplate's pod template. */
static void check_template(const struct wh_rules *r, const struct wh_runtimes *rt,
			   enum wh_holder holder, const cJSON *obj, struct wh_violations *out,
			   struct wh_violations *notes)
{
	const cJSON *pt = sg_json_get(sg_json_get(obj, "spec"), "podTemplate");
	const cJSON *meta = sg_json_get(pt, "metadata");
	struct wh_podcheck pc = {.rules = r,
				 .holder = holder,
				 .where = "spec.podTemplate.spec",
				 .meta = meta,
				 .runtimes = rt,
				 .notes = notes};

	if (!cJSON_IsObject(pt)) {
		wh_violation(out, "spec.podTemplate is missing or not an object");
		return;
	}
	wh_check_podspec(&pc, sg_json_get(pt, "spec"), out);
	wh_check_profile_label(r, sg_json_obj(meta, "labels"), false,
			       "spec.podTemplate.metadata.labels", out);
	check_template_node_name(sg_json_get(pt, "spec"), out);
}

/*
 * agent-sandbox makes each entry of spec.volumeClaimTemplates (of a
 * Sandbox, a SandboxTemplate, and since 1.0 of a SandboxClaim) into a
 * PersistentVolumeClaim and a persistentVolumeClaim volume of the sandbox
 * pod. Where the policy does not allow that volume type the pod would be
 * refused later, seen only as a controller error: say so at apply time.
 */
static void check_volume_claim_templates(const struct wh_rules *r, const cJSON *spec,
					 struct wh_violations *out)
{
	int n = sg_json_count(sg_json_arr(spec, "volumeClaimTemplates"));

	if (n > 0 && !wh_in_list(r->volume_types, "persistentVolumeClaim"))
		wh_violation(out,
			     "spec.volumeClaimTemplates: its %d entr%s would become "
			     "persistentVolumeClaim volumes of the sandbox pod, and the policy's "
			     "allowedVolumeTypes does not allow persistentVolumeClaim; remove them "
			     "or allow the type",
			     n, n == 1 ? "y" : "ies");
}

/*
 * agent-sandbox 1.0 SandboxTemplate fields that let a claim change the pod.
 * envVarsInjectionPolicy (Allowed, Overrides; default Disallowed) lets a
 * claim's spec.env set plain values (no valueFrom) in the containers: no
 * isolation field, so nothing to check. volumeClaimTemplatesPolicy
 * (Allowed, Overrides; default Disallowed) lets a claim add volume claim
 * templates: those claims are checked themselves, but say now when the
 * policy would refuse them.
 */
static void note_template_claim_policies(const struct wh_rules *r, const cJSON *spec,
					 struct wh_violations *notes)
{
	const char *vct = sg_json_str(spec, "volumeClaimTemplatesPolicy");

	if (notes && vct && (strcmp(vct, "Allowed") == 0 || strcmp(vct, "Overrides") == 0) &&
	    !wh_in_list(r->volume_types, "persistentVolumeClaim"))
		wh_violation(notes,
			     "spec.volumeClaimTemplatesPolicy is %s, but the policy's "
			     "allowedVolumeTypes does not allow persistentVolumeClaim: claims that "
			     "add volumeClaimTemplates will be refused",
			     vct);
}

static void check_claim(const struct wh_rules *r, const cJSON *obj, struct wh_violations *out)
{
	const cJSON *apm = sg_json_get(sg_json_get(obj, "spec"), "additionalPodMetadata");
	const cJSON *it;

	/* Annotations reach the pod as labels do (cold start: a new pod). */
	wh_check_annotations(sg_json_obj(apm, "annotations"),
			     "spec.additionalPodMetadata.annotations", out);
	check_volume_claim_templates(r, sg_json_get(obj, "spec"), out);

	cJSON_ArrayForEach(it, sg_json_obj(apm, "labels"))
	{
		for (const char *const *p = reserved_prefixes; *p; p++)
			if (strncmp(it->string, *p, strlen(*p)) == 0)
				wh_violation(
					out,
					"spec.additionalPodMetadata.labels: %.128s is reserved "
					"(labels under %s bind a sandbox to its isolation); "
					"remove it",
					it->string, *p);
	}
}

static void check_pod(const struct wh_rules *r, const struct wh_runtimes *rt, const cJSON *pod,
		      bool create, struct wh_violations *out)
{
	struct wh_podcheck pc = {.rules = r,
				 .holder = WH_HOLDER_POD,
				 .where = "spec",
				 .meta = sg_json_get(pod, "metadata"),
				 .runtimes = rt};

	wh_check_podspec(&pc, sg_json_get(pod, "spec"), out);
	/* The label is stamped at CREATE; a pod that predates us may lack it. */
	wh_check_profile_label(r, wh_labels(pod), create, "metadata.labels", out);
}

/* What the checks of one request need besides the object. */
struct ctx {
	const struct wh_policy *p;
	const struct wh_rules *r;
	const char *ns;
	struct wh_violations *notes;  /* advice, never enforced; NULL when checking oldObject */
	const struct wh_runtimes *rt; /* the cluster's RuntimeClasses, or NULL */
};

/*
 * The NetworkPolicy agent-sandbox creates for a Managed SandboxTemplate
 * without spec.networkPolicy (v0.5.6 buildDefaultNetworkPolicySpec, and
 * 1.0 the same): ingress from its router, egress to everything but RFC 1918
 * and link-local IPv4, and IPv6 ULA and link-local. So 100.64.0.0/10,
 * 0.0.0.0/8, loopback and the IPv6 prefixes that embed IPv4 stay open: the
 * mutating webhook adds those excepts when the controller writes it.
 */
static const char agent_sandbox_default_rules[] =
	"{\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{"
	"\"kubernetes.io/metadata.name\":\"agent-sandbox-system\"}},\"podSelector\":{"
	"\"matchLabels\":{\"app\":\"sandbox-router\"}}}]}],"
	"\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"0.0.0.0/0\",\"except\":[\"10.0.0.0/8\","
	"\"172.16.0.0/12\",\"192.168.0.0/16\",\"169.254.0.0/16\"]}},{\"ipBlock\":{\"cidr\":"
	"\"::/0\",\"except\":[\"fc00::/7\",\"fe80::/10\"]}}]}]}";

static void check_netpol(const struct ctx *c, const cJSON *np, struct wh_violations *out)
{
	const cJSON *spec = sg_json_get(np, "spec"), *sel = sg_json_get(spec, "podSelector");
	size_t before = out->n + out->dropped;

	if (!wh_netpol_selects_sandboxes(sel))
		return;
	wh_netpol_check_spec(spec, c->ns, &c->r->envelope, wh_policy_dns(c->p), out);
	if (out->n + out->dropped == before || wh_netpol_sandbox_only(sel))
		return;
	/*
	 * A policy for other pods that sandbox pods may match too. In the default
	 * scope the mutating webhook has already scoped such a policy away from
	 * sandbox pods, so this one reached us unscoped: never let it through.
	 */
	wh_violation(out,
		     "spec.podSelector can match sandbox pods (they also carry labels their "
		     "users chose) and NetworkPolicies add up; to keep this policy away from "
		     "them, add {key: " SG_LABEL_PROFILE ", operator: DoesNotExist} to its "
		     "podSelector.matchExpressions%s",
		     c->r->every_policy
			     ? " (network.policyScope is every-policy: sandbox-guard does not add "
			       "it for you)"
			     : "");
}

/*
 * True if the rules of def (agent-sandbox's default), with the excepts the
 * mutating webhook adds for the controller, lie inside the envelope; names
 * the added excepts in added. Changes def.
 */
static bool narrowed_inside(const struct ctx *c, cJSON *def, char *added, size_t n)
{
	static const char *const dirs[][2] = {{"ingress", "from"}, {"egress", "to"}};
	const struct wh_dns *dns = wh_policy_dns(c->p);
	struct wh_violations v;
	cJSON *all = cJSON_CreateArray(), *rule, *peer, *it;
	bool ok;

	for (int d = 0; d < 2 && all; d++)
		cJSON_ArrayForEach(rule, sg_json_arr(def, dirs[d][0]))
		{
			cJSON_ArrayForEach(peer, sg_json_arr(rule, dirs[d][1]))
			{
				cJSON *block = sg_json_obj(peer, "ipBlock"), *more;
				cJSON *ex = sg_json_arr(block, "except");

				more = block ? cJSON_CreateArray() : NULL;
				if (more && ex &&
				    wh_netpol_missing_excepts(block, sg_json_arr(rule, "ports"),
							      d == 0, &c->r->envelope, dns,
							      more) > 0)
					cJSON_ArrayForEach(it, more)
					{
						cJSON_AddItemToArray(
							ex, cJSON_CreateString(it->valuestring));
						cJSON_AddItemToArray(
							all, cJSON_CreateString(it->valuestring));
					}
				cJSON_Delete(more);
			}
		}
	wh_list_text(all, added, n);
	cJSON_Delete(all);
	wh_violations_init(&v);
	wh_netpol_check_rules(sg_json_arr(def, "ingress"), true, c->ns, &c->r->envelope, dns,
			      "ingress", &v);
	wh_netpol_check_rules(sg_json_arr(def, "egress"), false, c->ns, &c->r->envelope, dns,
			      "egress", &v);
	ok = v.n == 0 && v.dropped == 0;
	wh_violations_release(&v);
	return ok;
}

static void check_template_network(const struct ctx *c, const cJSON *obj, struct wh_violations *out)
{
	const cJSON *spec = sg_json_get(obj, "spec"), *np = sg_json_obj(spec, "networkPolicy");
	const char *mgmt = sg_json_str(spec, "networkPolicyManagement");
	bool unmanaged = mgmt && strcmp(mgmt, "Unmanaged") == 0;

	if (unmanaged && !c->r->allow_unmanaged)
		wh_violation(out,
			     "spec.networkPolicyManagement is Unmanaged: agent-sandbox would "
			     "create no NetworkPolicy for these sandboxes; use Managed, or allow "
			     "it with network.envelope.allowUnmanagedTemplates in the policy");
	if (np) {
		wh_netpol_check_rules(sg_json_arr(np, "ingress"), true, c->ns, &c->r->envelope,
				      wh_policy_dns(c->p), "spec.networkPolicy.ingress", out);
		wh_netpol_check_rules(sg_json_arr(np, "egress"), false, c->ns, &c->r->envelope,
				      wh_policy_dns(c->p), "spec.networkPolicy.egress", out);
	} else if (!unmanaged && c->notes) {
		/* Managed, no rules: agent-sandbox's default applies; say if we will refuse it. */
		struct wh_violations v;
		cJSON *def = cJSON_Parse(agent_sandbox_default_rules);

		wh_violations_init(&v);
		wh_netpol_check_rules(sg_json_arr(def, "ingress"), true, c->ns, &c->r->envelope,
				      wh_policy_dns(c->p), "ingress", &v);
		wh_netpol_check_rules(sg_json_arr(def, "egress"), false, c->ns, &c->r->envelope,
				      wh_policy_dns(c->p), "egress", &v);
		if (v.n) {
			/* Name the first problem; the envelope itself is in the docs. */
			char *cut = strstr(v.items[0], "; the envelope allows");
			char added[600];

			if (cut)
				*cut = '\0';
			if (narrowed_inside(c, def, added, sizeof(added)))
				wh_violation(c->notes,
					     "agent-sandbox's default NetworkPolicy for this "
					     "template goes "
					     "beyond the network envelope (%.300s); when the "
					     "agent-sandbox "
					     "controller (agentSandbox.controllerUsers) writes it, "
					     "sandbox-guard adds the missing excepts (%.400s) so "
					     "that it lands "
					     "inside; set spec.networkPolicy inside the envelope "
					     "to silence "
					     "this",
					     v.items[0], added);
			else
				wh_violation(c->notes,
					     "agent-sandbox's default NetworkPolicy for this "
					     "template goes "
					     "beyond the network envelope (%.300s), so it will be "
					     "refused and "
					     "sandbox-guard's profile applies alone; set "
					     "spec.networkPolicy "
					     "inside the envelope to silence this",
					     v.items[0]);
		}
		wh_violations_release(&v);
		cJSON_Delete(def);
	}
}

static void check_object(const struct ctx *c, enum wh_kind kind, const cJSON *obj, bool create,
			 struct wh_violations *out)
{
	switch (kind) {
	case WH_KIND_POD:
		check_pod(c->r, c->rt, obj, create, out);
		break;
	case WH_KIND_SANDBOX:
		check_template(c->r, c->rt, WH_HOLDER_SANDBOX, obj, out, c->notes);
		check_volume_claim_templates(c->r, sg_json_get(obj, "spec"), out);
		break;
	case WH_KIND_TEMPLATE:
		check_template(c->r, c->rt, WH_HOLDER_TEMPLATE, obj, out, c->notes);
		check_template_network(c, obj, out);
		check_volume_claim_templates(c->r, sg_json_get(obj, "spec"), out);
		note_template_claim_policies(c->r, sg_json_get(obj, "spec"), c->notes);
		break;
	case WH_KIND_CLAIM:
		check_claim(c->r, obj, out);
		break;
	case WH_KIND_NETPOL:
		check_netpol(c, obj, out);
		break;
	default:
		break;
	}
}

/*
 * The checks of the object itself, whoever sends it: fills now with the
 * violations this request introduces, and kept with those the old object
 * already had (reported, not enforced).
 */
static void validate_object(const struct wh_policy *p, const struct wh_runtimes *rt,
			    const struct wh_rules *r, const struct wh_review *rv, enum wh_kind kind,
			    struct wh_violations *now, struct wh_violations *kept,
			    struct wh_violations *notes)
{
	bool create = is(rv->operation, "CREATE");
	const cJSON *obj = rv->object, *old = rv->old_object;
	struct ctx c = {p, r, rv->ns, notes, rt}, c_old = {p, r, rv->ns, NULL, rt};

	if (kind == WH_KIND_OTHER)
		return;
	if (kind == WH_KIND_POD) {
		/*
		 * pods/status keeps the spec and owners but, unlike most status
		 * endpoints, takes the labels of the new object: hold those.
		 */
		if (is(rv->subresource, "status")) {
			if (!create && old && obj && wh_is_sandbox_pod(old))
				wh_check_labels_kept(wh_labels(old), wh_labels(obj), now);
			return;
		}
		if (rv->subresource[0] && !is(rv->subresource, "ephemeralcontainers"))
			return;
		if (!obj) {
			wh_violation(now, "request.object is missing; cannot check the pod");
			return;
		}
		if (!wh_is_sandbox_pod(obj) && !wh_is_sandbox_pod(old))
			return;
	} else if (!obj) {
		wh_violation(now, "request.object is missing; cannot check the %s",
			     wh_kind_name(kind));
		return;
	}
	/*
	 * A pod that becomes a sandbox pod in this update (labels or owner
	 * added) was never checked: judge it whole, as if created, rather than
	 * forgiving what it already had.
	 */
	if (!create && kind == WH_KIND_POD && old && !wh_is_sandbox_pod(old)) {
		check_object(&c, kind, obj, true, now);
		if (now->n || now->dropped)
			wh_violation(now,
				     "metadata: this update makes an existing pod a Sandbox pod "
				     "(agent-sandbox labels or a Sandbox owner were added), so the "
				     "whole pod is checked, as on create; label a pod meant for "
				     "adoption agents.x-k8s.io/adoptable=true when creating it");
		return;
	}
	check_object(&c, kind, obj, create, now);
	if (!create && old) {
		struct wh_violations before;

		wh_violations_init(&before);
		check_object(&c_old, kind, old, false, &before);
		wh_violations_subtract(now, &before, kept);
		wh_violations_release(&before);
		if (kind == WH_KIND_POD)
			wh_check_labels_kept(wh_labels(old), wh_labels(obj), now);
	}
}

static bool reserved_label(const char *key)
{
	return strncmp(key, SG_AS_LABEL_PREFIX, strlen(SG_AS_LABEL_PREFIX)) == 0 ||
	       strncmp(key, SG_AS_EXT_LABEL_PREFIX, strlen(SG_AS_EXT_LABEL_PREFIX)) == 0;
}

/* The one reserved label a tenant may write: adoptable=true, at creation. */
static bool tenant_adoptable(const cJSON *label)
{
	return strcmp(label->string, SG_AS_LABEL_ADOPTABLE) == 0 && cJSON_IsString(label) &&
	       strcmp(label->valuestring, "true") == 0;
}

/*
 * agent-sandbox's own pod labels (agents.x-k8s.io/ and
 * extensions.agents.x-k8s.io/) say which Sandbox, template and warm pool a
 * pod belongs to, and others act on them: the extender counts warm pods of
 * a template by them, a template's NetworkPolicy selects its pods by them,
 * a Sandbox's Service selects its pod by sandbox-name-hash, and the
 * controller adopts an unowned pod whose name-hash matches. A pod that
 * carries another pool's or sandbox's marks impersonates it, so only the
 * controller (agentSandbox.controllerUsers) may add, change or remove
 * them, on any pod and through any endpoint that takes labels (pods/status
 * does). The exception is the adoption path agent-sandbox offers to
 * users: a pod created with agents.x-k8s.io/adoptable=true, which the
 * controller then adopts with its own identity.
 */
/* Label changes named in one violation, cut short (with a count) past its room. */
struct label_list {
	char text[144]; /* with the rest of a violation, well under its 512 bytes */
	size_t len;
	int n, more;
};

static void label_list_add(struct label_list *ll, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void label_list_add(struct label_list *ll, const char *fmt, ...)
{
	char item[200];
	size_t need;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(item, sizeof(item), fmt, ap);
	va_end(ap);
	need = strlen(item) + (ll->n ? 2 : 0);
	if (ll->more || ll->len + need >= sizeof(ll->text)) {
		ll->more++;
		return;
	}
	snprintf(ll->text + ll->len, sizeof(ll->text) - ll->len, "%s%s", ll->n ? ", " : "", item);
	ll->len += need;
	ll->n++;
}

static const char *label_list_more(const struct label_list *ll, char *buf, size_t n)
{
	if (ll->more)
		snprintf(buf, n, " and %d more", ll->more);
	else
		buf[0] = '\0';
	return buf;
}

/*
 * wh_check_labels_kept already reports a change or removal of the name and
 * template hashes on a Sandbox pod, and a change (not a removal) of the
 * claim UID: one message is enough.
 */
static bool kept_elsewhere(const char *key, const cJSON *old_obj, bool removal)
{
	return wh_is_sandbox_pod(old_obj) &&
	       (strcmp(key, SG_AS_LABEL_NAME_HASH) == 0 || strcmp(key, SG_AS_LABEL_TEMPLATE) == 0 ||
		(!removal && strcmp(key, SG_AS_LABEL_CLAIM_UID) == 0));
}

/*
 * Adds to ll the reserved labels of now that are new or changed since old
 * (every one, at CREATE), and with removals those of old that are gone. A
 * pod's CREATE may carry adoptable=true (pod true).
 */
static void reserved_changes(const cJSON *now, const cJSON *old, bool create, bool pod,
			     bool removals, const cJSON *old_obj, struct label_list *ll)
{
	const cJSON *l;

	cJSON_ArrayForEach(l, now)
	{
		const cJSON *was = sg_json_get(old, l->string);
		const char *v = cJSON_IsString(l) ? l->valuestring : "";

		if (!reserved_label(l->string))
			continue;
		if (create) {
			if (!pod || !tenant_adoptable(l))
				label_list_add(ll, "%.100s", l->string);
		} else if (!was) {
			label_list_add(ll, "%.100s=%.63s was added", l->string, v);
		} else if ((!cJSON_IsString(was) || !cJSON_IsString(l) ||
			    strcmp(was->valuestring, l->valuestring) != 0) &&
			   !kept_elsewhere(l->string, old_obj, false)) {
			label_list_add(ll, "%.100s was changed from '%.63s'", l->string,
				       cJSON_IsString(was) ? was->valuestring : "");
		}
	}
	if (!removals)
		return;
	cJSON_ArrayForEach(l, old)
	{
		if (!reserved_label(l->string) || sg_json_get(now, l->string) ||
		    kept_elsewhere(l->string, old_obj, true))
			continue;
		label_list_add(ll, "%.100s=%.63s was removed", l->string,
			       cJSON_IsString(l) ? l->valuestring : "");
	}
}

/* One violation for the reserved labels in ll, at where; hint ends a CREATE's. */
static void reserved_violation(const struct label_list *ll, const char *where, bool create,
			       const char *user, const char *hint, struct wh_violations *out)
{
	bool many = ll->n + ll->more > 1;
	char more[32];

	if (ll->n == 0)
		return;
	if (create)
		wh_violation(out,
			     "%s: %s%s %s reserved for the agent-sandbox controller, and '%.80s' "
			     "is not one of agentSandbox.controllerUsers; remove %s (%s)",
			     where, ll->text, label_list_more(ll, more, sizeof(more)),
			     many ? "are" : "is", user, many ? "them" : "it", hint);
	else
		wh_violation(
			out,
			"%s: %s%s; labels under agents.x-k8s.io/ are the agent-sandbox "
			"controller's, and '%.80s' is not one of agentSandbox.controllerUsers; "
			"leave %s as %s",
			where, ll->text, label_list_more(ll, more, sizeof(more)), user,
			many ? "them" : "it", many ? "they were" : "it was");
}

static void check_reserved_labels(const struct wh_policy *p, const struct wh_review *rv,
				  bool create, struct wh_violations *out)
{
	const char *user = rv->username[0] ? rv->username : "(no user name)";
	struct label_list ll = {0};

	if (!rv->object || wh_policy_is_controller(p, rv->username))
		return;
	reserved_changes(wh_labels(rv->object), create ? NULL : wh_labels(rv->old_object), create,
			 true, true, rv->old_object, &ll);
	reserved_violation(&ll, "metadata.labels", create, user,
			   "create sandboxes through a Sandbox, SandboxClaim or SandboxWarmPool; a "
			   "pod for adoption may carry agents.x-k8s.io/adoptable=true alone",
			   out);
}

/*
 * The controller copies a Sandbox's warm-pool-sandbox and
 * sandbox-template-ref-hash labels into its pod when the Sandbox's
 * controller owner is a SandboxWarmPool or SandboxClaim (an ownerReference
 * anyone may write), so a tenant's Sandbox could have the controller
 * create a pod in another pool's or template's name. Reserved labels on a
 * Sandbox, and on its pod template, are the controller's to add or change
 * too. Removals are not judged here: they impersonate nothing, and a
 * tenant's full replace of a Sandbox the controller labelled would trip
 * on them.
 */
static void check_sandbox_reserved_labels(const struct wh_policy *p, const struct wh_review *rv,
					  bool create, struct wh_violations *out)
{
	const char *user = rv->username[0] ? rv->username : "(no user name)";
	const cJSON *pt = sg_json_get(sg_json_get(rv->object, "spec"), "podTemplate");
	const cJSON *old_pt = sg_json_get(sg_json_get(rv->old_object, "spec"), "podTemplate");
	struct label_list ll = {0}, tl = {0};

	if (!rv->object || wh_policy_is_controller(p, rv->username))
		return;
	reserved_changes(wh_labels(rv->object), create ? NULL : wh_labels(rv->old_object), create,
			 false, false, NULL, &ll);
	reserved_violation(&ll, "metadata.labels", create, user,
			   "the controller copies them into the Sandbox's pod, where they "
			   "would claim another warm pool or template",
			   out);
	reserved_changes(wh_labels(pt), create ? NULL : wh_labels(old_pt), create, false, false,
			 NULL, &tl);
	reserved_violation(&tl, "spec.podTemplate.metadata.labels", create, user,
			   "they are the controller's to set on the pod", out);
}

/*
 * spec.nodeName on a new Sandbox pod binds it without the scheduler, and so
 * without the extender's filters (closed nodes, runtime availability,
 * per-node caps). The agent-sandbox controller never sets it; another
 * identity setting it is going around placement. Bound pods carry it too,
 * so only CREATE is judged (the API server forbids changing it later).
 */
static void check_node_name(const struct wh_policy *p, const struct wh_review *rv,
			    struct wh_violations *out)
{
	const char *node = sg_json_str(sg_json_get(rv->object, "spec"), "nodeName");

	if (!node || !node[0] || !wh_is_sandbox_pod(rv->object) ||
	    wh_policy_is_controller(p, rv->username))
		return;
	wh_violation(out,
		     "spec.nodeName is '%.253s': a sandbox pod must go through the scheduler "
		     "and sandbox-guard's placement checks; remove it (to choose nodes use a "
		     "nodeSelector on kubernetes.io/hostname, or node affinity)",
		     node);
}

/*
 * Fills now with the violations this request introduces, and kept with
 * those the old object already had (reported, not enforced). Who asks
 * matters for reserved labels (pods, Sandboxes) and a pod's spec.nodeName.
 */
static void validate(const struct wh_policy *p, const struct wh_runtimes *rt,
		     const struct wh_rules *r, const struct wh_review *rv, enum wh_kind kind,
		     struct wh_violations *now, struct wh_violations *kept,
		     struct wh_violations *notes)
{
	bool create = is(rv->operation, "CREATE");

	validate_object(p, rt, r, rv, kind, now, kept, notes);
	if (kind == WH_KIND_SANDBOX)
		check_sandbox_reserved_labels(p, rv, create, now);
	if (kind != WH_KIND_POD)
		return;
	check_reserved_labels(p, rv, create, now);
	if (create && !rv->subresource[0])
		check_node_name(p, rv, now);
}

static void object_name(const struct wh_review *rv, char *out, size_t n)
{
	const cJSON *meta = sg_json_get(rv->object, "metadata");
	const char *name = rv->name[0] ? rv->name : sg_json_str(meta, "name");
	const char *gen = sg_json_str(meta, "generateName");

	if (name && name[0])
		copy(out, n, name);
	else if (gen && gen[0])
		snprintf(out, n, "%s*", gen);
	else
		snprintf(out, n, "(unnamed)");
}

/* "Pod team-a/agent-0 violates the sandbox isolation policy:\n- ...\n- ..." */
static char *denial(const struct wh_review *rv, const char *kind, const struct wh_violations *v)
{
	struct sg_buf b;
	char name[300];

	object_name(rv, name, sizeof(name));
	sg_buf_init(&b, 64u << 10);
	sg_buf_printf(&b, "%s %s%s%s violates the sandbox isolation policy (%zu problem%s):", kind,
		      rv->ns, rv->ns[0] ? "/" : "", name, v->n + v->dropped,
		      v->n + v->dropped == 1 ? "" : "s");
	for (size_t i = 0; i < v->n; i++)
		sg_buf_printf(&b, "\n- %s", v->items[i]);
	if (v->dropped)
		sg_buf_printf(&b, "\n- and %zu more", v->dropped);
	return sg_buf_detach(&b);
}

struct answer {
	struct wh_verdict verdict;
	char *message;
	char *warn_store[2 * WH_VIOLATIONS_MAX + 2];
	const char *warnings[2 * WH_VIOLATIONS_MAX + 2];
	size_t nwarn;
	char *audit;
};

static void warn(struct answer *a, const char *prefix, const char *text)
{
	char *w;
	size_t n;

	if (a->nwarn >= sizeof(a->warn_store) / sizeof(a->warn_store[0]) - 1)
		return;
	n = strlen(prefix) + strlen(text) + 1;
	w = malloc(n);
	if (!w)
		return;
	snprintf(w, n, "%s%s", prefix, text);
	a->warn_store[a->nwarn] = w;
	a->warnings[a->nwarn++] = w;
	a->warnings[a->nwarn] = NULL;
}

static void answer_release(struct answer *a)
{
	for (size_t i = 0; i < a->nwarn; i++)
		free(a->warn_store[i]);
	free(a->message);
	free(a->audit);
}

static const char *decide(const struct wh_rules *r, const struct wh_review *rv, enum wh_kind kind,
			  const struct wh_violations *now, const struct wh_violations *kept,
			  const struct wh_violations *notes, struct answer *a)
{
	for (size_t i = 0; i < notes->n; i++)
		warn(a, "sandbox-guard: ", notes->items[i]);
	for (size_t i = 0; i < kept->n; i++)
		warn(a, "sandbox-guard: already present before this update, not blocking it: ",
		     kept->items[i]);
	/* Past the cap nothing is listed: never let an uncounted violation pass. */
	if (now->n == 0 && now->dropped == 0)
		return "allowed";
	switch (r->mode) {
	case WH_ENFORCE:
		a->verdict.allowed = false;
		a->message = denial(rv, wh_kind_name(kind), now);
		a->verdict.message = a->message;
		return "denied";
	case WH_WARN:
		for (size_t i = 0; i < now->n; i++)
			warn(a, "sandbox-guard (warn mode): ", now->items[i]);
		return "warned";
	case WH_AUDIT: {
		struct sg_buf b;

		sg_buf_init(&b, AUDIT_VALUE_MAX);
		for (size_t i = 0; i < now->n; i++)
			if (sg_buf_printf(&b, "%s%s", i ? "; " : "", now->items[i]) != 0)
				break;
		a->audit = sg_buf_detach(&b);
		a->verdict.audit_key = AUDIT_KEY;
		a->verdict.audit_value = a->audit;
		return "audited";
	}
	}
	return "allowed";
}

static const char *mutate(const struct wh_policy *p, const struct wh_runtimes *rt,
			  const struct wh_rules *r, const struct wh_review *rv, enum wh_kind kind,
			  struct wh_patch *patch, struct answer *a)
{
	struct wh_violations notes;

	if ((kind != WH_KIND_POD && kind != WH_KIND_NETPOL) || !r->mutate)
		return "allowed";
	wh_violations_init(&notes);
	if (kind == WH_KIND_NETPOL) {
		if (!rv->subresource[0] && rv->object)
			wh_mutate_netpol(p, r, rv->ns, wh_policy_is_controller(p, rv->username),
					 rv->object, patch, &notes);
	} else if (is(rv->operation, "CREATE") && !rv->subresource[0] &&
		   wh_is_sandbox_pod(rv->object)) {
		wh_mutate_pod_rt(p, r, rt, rv->object, patch);
	} else if (is(rv->operation, "UPDATE") && is(rv->subresource, "ephemeralcontainers") &&
		   (wh_is_sandbox_pod(rv->object) || wh_is_sandbox_pod(rv->old_object))) {
		wh_mutate_ephemeral(r, rv->object, rv->old_object, patch);
	}
	if (wh_patch_finish(patch) != 0) {
		wh_violations_release(&notes);
		/* No patch rather than a broken one: validation then judges the object as is. */
		warn(a, "sandbox-guard: ",
		     kind == WH_KIND_POD
			     ? "could not build the defaults patch; the pod is checked as is"
			     : "could not build the NetworkPolicy patch; it is checked as is");
		return "allowed";
	}
	for (size_t i = 0; i < notes.n; i++)
		warn(a, "sandbox-guard: ", notes.items[i]);
	wh_violations_release(&notes);
	if (patch->nops == 0)
		return "allowed";
	a->verdict.patch = patch->buf.data;
	a->verdict.patch_len = patch->buf.len;
	return "patched";
}

static int admit(const struct wh_policy *p, const struct wh_runtimes *rt, enum wh_endpoint ep,
		 const char *body, size_t len, struct sg_arena *arena, struct sg_buf *out,
		 struct wh_outcome *res)
{
	struct wh_violations now, kept, notes;
	struct answer a;
	struct wh_review rv;
	struct wh_patch patch;
	const struct wh_rules *r;
	enum wh_kind kind;
	char *cause = NULL;
	int status = 200;

	memset(res, 0, sizeof(*res));
	res->kind = "other";
	res->decision = "invalid";
	if (wh_review_decode(body, len, arena, &rv, &cause) != 0) {
		sg_buf_printf(out, "invalid AdmissionReview: %s\n",
			      cause ? cause : "out of memory");
		free(cause);
		return 400;
	}
	copy(res->uid, sizeof(res->uid), rv.uid);
	copy(res->ns, sizeof(res->ns), rv.ns);
	object_name(&rv, res->name, sizeof(res->name));
	copy(res->operation, sizeof(res->operation), rv.operation);
	res->dry_run = rv.dry_run;
	kind = wh_kind_of(rv.group, rv.kind);
	res->kind = wh_kind_name(kind);

	memset(&a, 0, sizeof(a));
	a.verdict.allowed = true;
	a.verdict.warnings = a.warnings;
	wh_violations_init(&now);
	wh_violations_init(&kept);
	wh_violations_init(&notes);
	wh_patch_init(&patch);
	r = wh_policy_rules(p, rv.ns);

	if (!is(rv.operation, "CREATE") && !is(rv.operation, "UPDATE")) {
		res->decision = "allowed"; /* DELETE and CONNECT weaken nothing. */
	} else if (wh_policy_exempt(p, rv.ns, rv.username, rv.groups)) {
		res->decision = "exempt";
	} else if (ep == WH_MUTATE) {
		res->decision = mutate(p, rt, r, &rv, kind, &patch, &a);
		res->patch_ops = patch.nops;
	} else {
		validate(p, rt, r, &rv, kind, &now, &kept, &notes);
		res->violations = (int)(now.n + now.dropped);
		res->decision = decide(r, &rv, kind, &now, &kept, &notes, &a);
	}
	if (wh_review_encode(&rv, &a.verdict, out) != 0) {
		sg_buf_reset(out);
		sg_buf_puts(out, "cannot encode the AdmissionReview response\n");
		status = 500;
	}
	answer_release(&a);
	wh_patch_release(&patch);
	wh_violations_release(&now);
	wh_violations_release(&kept);
	wh_violations_release(&notes);
	wh_review_release(&rv);
	return status;
}

int wh_admit(const struct wh_policy *p, enum wh_endpoint ep, const char *body, size_t len,
	     struct sg_arena *arena, struct sg_buf *out, struct wh_outcome *res)
{
	return wh_admit_rt(p, NULL, ep, body, len, arena, out, res);
}

int wh_admit_rt(const struct wh_policy *p, const struct wh_runtimes *rt, enum wh_endpoint ep,
		const char *body, size_t len, struct sg_arena *arena, struct sg_buf *out,
		struct wh_outcome *res)
{
	int status;

	sg_json_arena_begin(arena);
	status = admit(p, rt, ep, body, len, arena, out, res);
	if (status == 400 && arena->exhausted) {
		sg_buf_reset(out);
		sg_buf_printf(out, "invalid AdmissionReview: more than %zu MiB of JSON structure\n",
			      arena->max >> 20);
	}
	sg_json_arena_end(arena);
	return status;
}
