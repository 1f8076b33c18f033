#include "mutate.h"

#include <stdlib.h>
#include <string.h>

#include "sg_json.h"

static bool has_cap(const cJSON *list, const char *cap)
{
	const cJSON *it;
	size_t n = strlen(cap);

	cJSON_ArrayForEach(it, list)
	{
		const char *s = cJSON_IsString(it) ? it->valuestring : "";

		if (strcmp(s, cap) == 0 ||
		    (strncmp(s, "CAP_", 4) == 0 && strncmp(s + 4, cap, n) == 0 && s[4 + n] == '\0'))
			return true;
	}
	return false;
}

/*
 * allowPrivilegeEscalation: false next to privileged: true or an added
 * SYS_ADMIN is an invalid pod (the API server answers 422 before our
 * validating webhook can say why), so in those cases the field is left
 * for validation to reject with a message that helps.
 */
static void harden_container(const struct wh_rules *r, const cJSON *ctr, const struct wh_path *at,
			     struct wh_patch *patch)
{
	const cJSON *sc = sg_json_obj(ctr, "securityContext");
	const cJSON *caps = sg_json_obj(sc, "capabilities");
	bool conflict =
		sg_json_true(sc, "privileged") || has_cap(sg_json_get(caps, "add"), "SYS_ADMIN");
	bool ape = r->no_privilege_escalation && sg_json_unset(sc, "allowPrivilegeEscalation") &&
		   !conflict;
	bool drop = r->drop_all && sg_json_unset(caps, "drop");
	struct wh_path p;

	if (!ape && !drop)
		return;
	wh_path_child(&p, at, "securityContext");
	if (!sc) {
		wh_patch_add(patch, &p,
			     ape && drop ? "{\"allowPrivilegeEscalation\":false,\"capabilities\":"
					   "{\"drop\":[\"ALL\"]}}"
			     : ape	 ? "{\"allowPrivilegeEscalation\":false}"
					 : "{\"capabilities\":{\"drop\":[\"ALL\"]}}");
		return;
	}
	if (ape) {
		struct wh_path q;

		wh_path_child(&q, &p, "allowPrivilegeEscalation");
		wh_patch_add(patch, &q, "false");
	}
	if (drop) {
		struct wh_path q;

		wh_path_child(&q, &p, "capabilities");
		if (!caps) {
			wh_patch_add(patch, &q, "{\"drop\":[\"ALL\"]}");
		} else {
			wh_path_key(&q, "drop");
			wh_patch_add(patch, &q, "[\"ALL\"]");
		}
	}
}

/* One container's defaults, at its path; spec is the pod's. */
typedef void (*container_fn)(const struct wh_rules *r, const cJSON *spec, const cJSON *ctr,
			     const struct wh_path *at, struct wh_patch *patch);

/* Calls fn for every container object of spec.<list>, at /spec/<list>/<i>. */
static void each_container(const struct wh_rules *r, const cJSON *spec, const char *list,
			   container_fn fn, struct wh_patch *patch)
{
	const cJSON *ctr;
	int i = 0;

	cJSON_ArrayForEach(ctr, sg_json_arr(spec, list))
	{
		struct wh_path p;

		wh_path_init(&p);
		wh_path_key(&p, "spec");
		wh_path_key(&p, list);
		wh_path_index(&p, i++);
		if (cJSON_IsObject(ctr))
			fn(r, spec, ctr, &p, patch);
	}
}

static void harden_pod_container(const struct wh_rules *r, const cJSON *spec, const cJSON *ctr,
				 const struct wh_path *at, struct wh_patch *patch)
{
	(void)spec;
	harden_container(r, ctr, at, patch);
}

static const char *str_or(const cJSON *obj, const char *key, const char *dflt)
{
	const char *s = sg_json_str(obj, key);

	return s ? s : dflt;
}

/* Tolerations compare with the API's defaults applied (operator Equal). */
static bool same_toleration(const cJSON *a, const cJSON *b)
{
	const cJSON *sa = sg_json_get(a, "tolerationSeconds"),
		    *sb = sg_json_get(b, "tolerationSeconds");

	if (strcmp(str_or(a, "key", ""), str_or(b, "key", "")) != 0 ||
	    strcmp(str_or(a, "operator", "Equal"), str_or(b, "operator", "Equal")) != 0 ||
	    strcmp(str_or(a, "value", ""), str_or(b, "value", "")) != 0 ||
	    strcmp(str_or(a, "effect", ""), str_or(b, "effect", "")) != 0)
		return false;
	if (!cJSON_IsNumber(sa) || !cJSON_IsNumber(sb))
		return !cJSON_IsNumber(sa) && !cJSON_IsNumber(sb);
	return sa->valuedouble == sb->valuedouble;
}

/* Adds a value from the policy (our own JSON, safe to print). */
static void add_json(struct wh_patch *patch, const struct wh_path *p, const cJSON *v)
{
	char *text = cJSON_PrintUnformatted(v);

	if (!text) {
		patch->failed = true;
		return;
	}
	wh_patch_add(patch, p, text);
	cJSON_free(text);
}

static void add_scheduling(const struct wh_scheduling *s, const cJSON *spec, struct wh_patch *patch)
{
	const cJSON *ns = sg_json_obj(spec, "nodeSelector"), *it, *have;
	const cJSON *tl = sg_json_arr(spec, "tolerations");
	struct wh_path p;
	cJSON *missing;

	wh_path_init(&p);
	wh_path_key(&p, "spec");
	if (sg_json_count(s->node_selector) > 0) {
		struct wh_path q;

		wh_path_child(&q, &p, "nodeSelector");
		if (!ns) {
			add_json(patch, &q, s->node_selector);
		} else {
			cJSON_ArrayForEach(it, s->node_selector)
			{
				/* A key the user already set is theirs, even with another value. */
				if (!sg_json_get(ns, it->string)) {
					struct wh_path k;

					wh_path_child(&k, &q, it->string);
					wh_patch_add_str(patch, &k, it->valuestring);
				}
			}
		}
	}
	if (sg_json_count(s->tolerations) == 0)
		return;
	missing = cJSON_CreateArray();
	if (!missing) {
		patch->failed = true;
		return;
	}
	cJSON_ArrayForEach(it, s->tolerations)
	{
		bool found = false;

		cJSON_ArrayForEach(have, tl)
		{
			if (same_toleration(have, it))
				found = true;
		}
		if (!found)
			cJSON_AddItemReferenceToArray(missing, (cJSON *)it);
	}
	if (sg_json_count(missing) > 0) {
		struct wh_path q;

		wh_path_child(&q, &p, "tolerations");
		if (!tl) {
			add_json(patch, &q, missing);
		} else {
			wh_path_key(&q, "-");
			cJSON_ArrayForEach(it, missing)
			{
				add_json(patch, &q, it);
			}
		}
	}
	cJSON_Delete(missing);
}

/*
 * The limit to write for resource i on a container that has none: the
 * policy's default, or the container's request where that is larger (a
 * limit below the request is an invalid pod). NULL where nothing should be
 * written: no default, or a request that is no quantity (the API server
 * refuses the pod; a limit beside it would not help).
 */
static const char *limit_for(const struct wh_limit *l, const cJSON *request)
{
	struct wh_quantity q;

	if (!l->dflt)
		return NULL;
	if (!request || cJSON_IsNull(request))
		return l->dflt;
	if (!cJSON_IsString(request) || wh_quantity_parse(request->valuestring, &q) != 0 ||
	    q.negative)
		return NULL;
	return wh_quantity_cmp(&q, &l->value) > 0 ? request->valuestring : l->dflt;
}

/* Adds obj (an object of missing members) at parent/key: whole if parent lacks key, else each. */
static void add_members(struct wh_patch *patch, const struct wh_path *parent, const char *key,
			bool whole, const cJSON *obj)
{
	struct wh_path p;
	const cJSON *it;

	if (sg_json_count(obj) == 0)
		return;
	wh_path_child(&p, parent, key);
	if (whole) {
		add_json(patch, &p, obj);
		return;
	}
	cJSON_ArrayForEach(it, obj)
	{
		struct wh_path q;

		wh_path_child(&q, &p, it->string);
		wh_patch_add_str(patch, &q, it->valuestring);
	}
}

/*
 * Resource limits on one init or regular container. Where the container
 * has no request for a resource, a request of "0" goes beside the limit:
 * otherwise the API server's defaulting, which runs again on the patched
 * pod, copies the limit into the request, and a cap meant to protect the
 * node would become a reservation that changes where (and whether) the
 * pod schedules. "0" is what an absent request means to the scheduler.
 */
static void limit_container(const struct wh_rules *r, const cJSON *spec, const cJSON *ctr,
			    const struct wh_path *at, struct wh_patch *patch)
{
	const cJSON *res = sg_json_obj(ctr, "resources");
	const cJSON *limits = sg_json_obj(res, "limits"), *requests = sg_json_obj(res, "requests");
	const cJSON *pod_limits = sg_json_obj(sg_json_obj(spec, "resources"), "limits");
	cJSON *lim = cJSON_CreateObject(), *req = cJSON_CreateObject();
	struct wh_path p;

	if (!lim || !req) {
		patch->failed = true;
		goto out;
	}
	/* Something other than an object there is the user's (and invalid): never replace it. */
	if ((!res && !sg_json_unset(ctr, "resources")) ||
	    (!limits && !sg_json_unset(res, "limits")) ||
	    (!requests && !sg_json_unset(res, "requests")))
		goto out;
	for (int i = 0; i < WH_RES_COUNT; i++) {
		const char *name = wh_resource_names[i];
		const cJSON *rq = sg_json_get(requests, name);
		const char *v;

		if (!sg_json_unset(limits, name) || !sg_json_unset(pod_limits, name) ||
		    !(v = limit_for(&r->limits[i], rq)))
			continue;
		if (!cJSON_AddStringToObject(lim, name, v) ||
		    (sg_json_unset(requests, name) && !cJSON_AddStringToObject(req, name, "0"))) {
			patch->failed = true;
			goto out;
		}
	}
	if (sg_json_count(lim) == 0)
		goto out;
	if (!res) {
		cJSON *whole = cJSON_CreateObject();

		wh_path_child(&p, at, "resources");
		if (!whole) {
			patch->failed = true;
			goto out;
		}
		cJSON_AddItemReferenceToObject(whole, "limits", lim);
		if (sg_json_count(req) > 0)
			cJSON_AddItemReferenceToObject(whole, "requests", req);
		add_json(patch, &p, whole);
		cJSON_Delete(whole);
		goto out;
	}
	wh_path_child(&p, at, "resources");
	add_members(patch, &p, "limits", !limits, lim);
	add_members(patch, &p, "requests", !requests, req);
out:
	cJSON_Delete(lim);
	cJSON_Delete(req);
}

/* sizeLimit on every emptyDir volume that has none. */
static void size_empty_dirs(const struct wh_rules *r, const cJSON *spec, struct wh_patch *patch)
{
	const cJSON *vol;
	int i = 0;

	if (!r->empty_dir.dflt)
		return;
	cJSON_ArrayForEach(vol, sg_json_arr(spec, "volumes"))
	{
		const cJSON *ed = sg_json_obj(vol, "emptyDir");
		struct wh_path p;

		if (ed && sg_json_unset(ed, "sizeLimit")) {
			wh_path_init(&p);
			wh_path_key(&p, "spec");
			wh_path_key(&p, "volumes");
			wh_path_index(&p, i);
			wh_path_key(&p, "emptyDir");
			wh_path_key(&p, "sizeLimit");
			wh_patch_add_str(patch, &p, r->empty_dir.dflt);
		}
		i++;
	}
}

void wh_mutate_pod(const struct wh_policy *pol, const struct wh_rules *r, const cJSON *pod,
		   struct wh_patch *patch)
{
	wh_mutate_pod_rt(pol, r, NULL, pod, patch);
}

void wh_mutate_pod_rt(const struct wh_policy *pol, const struct wh_rules *r,
		      const struct wh_runtimes *rt, const cJSON *pod, struct wh_patch *patch)
{
	const char *def;
	char why[WH_RUNTIME_WHY_MAX];
	const cJSON *spec = sg_json_obj(pod, "spec"), *labels;
	const char *rc, *os, *sched;
	bool windows;
	struct wh_path p, q;

	if (!spec)
		return;
	wh_path_init(&p);
	wh_path_key(&p, "spec");
	rc = sg_json_str(spec, "runtimeClassName");
	if ((!rc || !rc[0]) && (def = wh_runtime_choose(r, rt, why, sizeof(why)))) {
		wh_path_child(&q, &p, "runtimeClassName");
		wh_patch_add_str(patch, &q, def);
		rc = def;
	}
	if (r->no_token && sg_json_unset(spec, "automountServiceAccountToken")) {
		wh_path_child(&q, &p, "automountServiceAccountToken");
		wh_patch_add(patch, &q, "false");
	}
	if (r->no_service_links && !sg_json_false(spec, "enableServiceLinks")) {
		wh_path_child(&q, &p, "enableServiceLinks");
		wh_patch_add(patch, &q, "false");
	}
	os = sg_json_str(sg_json_get(spec, "os"), "name");
	windows = os && strcmp(os, "windows") == 0;
	if (r->seccomp && !windows) {
		const cJSON *psc = sg_json_obj(spec, "securityContext");

		wh_path_child(&q, &p, "securityContext");
		if (!psc) {
			wh_patch_add(patch, &q,
				     "{\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}");
		} else if (sg_json_unset(psc, "seccompProfile")) {
			wh_path_key(&q, "seccompProfile");
			wh_patch_add(patch, &q, "{\"type\":\"RuntimeDefault\"}");
		}
	}
	/*
	 * hostUsers: false beside a host namespace is an invalid pod (422
	 * before our validating webhook can say why), so there validation is
	 * left to refuse the host namespace.
	 */
	if (r->user_namespaces && !windows && sg_json_unset(spec, "hostUsers") &&
	    !sg_json_true(spec, "hostNetwork") && !sg_json_true(spec, "hostPID") &&
	    !sg_json_true(spec, "hostIPC")) {
		wh_path_child(&q, &p, "hostUsers");
		wh_patch_add(patch, &q, "false");
	}
	if (!windows) {
		each_container(r, spec, "initContainers", harden_pod_container, patch);
		each_container(r, spec, "containers", harden_pod_container, patch);
	}
	each_container(r, spec, "initContainers", limit_container, patch);
	each_container(r, spec, "containers", limit_container, patch);
	size_empty_dirs(r, spec, patch);
	labels = sg_json_obj(sg_json_get(pod, "metadata"), "labels");
	if (!sg_json_get(labels, SG_LABEL_PROFILE)) {
		wh_path_init(&q);
		wh_path_key(&q, "metadata");
		wh_path_key(&q, "labels");
		if (!labels) {
			struct sg_buf v;

			sg_buf_init(&v, 512);
			sg_buf_printf(&v, "{\"%s\":", SG_LABEL_PROFILE);
			sg_buf_json_str(&v, r->default_profile);
			sg_buf_putc(&v, '}');
			wh_patch_add(patch, &q, v.data ? v.data : "{}");
			sg_buf_release(&v);
		} else {
			wh_path_key(&q, SG_LABEL_PROFILE);
			wh_patch_add_str(patch, &q, r->default_profile);
		}
	}
	sched = sg_json_str(spec, "schedulerName");
	if (r->scheduler_name && (!sched || !sched[0] || strcmp(sched, "default-scheduler") == 0) &&
	    strcmp(sched ? sched : "", r->scheduler_name) != 0) {
		wh_path_child(&q, &p, "schedulerName");
		wh_patch_add_str(patch, &q, r->scheduler_name);
	}
	if (rc) {
		const struct wh_scheduling *s = wh_policy_scheduling(pol, rc);

		if (s)
			add_scheduling(s, spec, patch);
	}
}

void wh_mutate_ephemeral(const struct wh_rules *r, const cJSON *pod, const cJSON *old,
			 struct wh_patch *patch)
{
	const cJSON *olds = sg_json_arr(sg_json_get(old, "spec"), "ephemeralContainers");
	const cJSON *ctr, *o;
	int i = 0;

	cJSON_ArrayForEach(ctr, sg_json_arr(sg_json_get(pod, "spec"), "ephemeralContainers"))
	{
		const char *name = sg_json_str(ctr, "name");
		bool existing = false;
		struct wh_path p;

		cJSON_ArrayForEach(o, olds)
		{
			const char *on = sg_json_str(o, "name");

			if (name && on && strcmp(name, on) == 0)
				existing = true;
		}
		wh_path_init(&p);
		wh_path_key(&p, "spec");
		wh_path_key(&p, "ephemeralContainers");
		wh_path_index(&p, i++);
		if (!existing && cJSON_IsObject(ctr))
			harden_container(r, ctr, &p, patch);
	}
}

/* --- NetworkPolicy ------------------------------------------------------------------ */

/* Adds value (consumed) at /spec/<dir>/<i>/<peers>/<j>/ipBlock/except[/<k>]. */
static void add_except(struct wh_patch *patch, const char *dir, int i, const char *peers, int j,
		       int k, const cJSON *value)
{
	struct wh_path p;

	wh_path_init(&p);
	wh_path_key(&p, "spec");
	wh_path_key(&p, dir);
	wh_path_index(&p, i);
	wh_path_key(&p, peers);
	wh_path_index(&p, j);
	wh_path_key(&p, "ipBlock");
	wh_path_key(&p, "except");
	if (k >= 0)
		wh_path_index(&p, k);
	add_json(patch, &p, value);
}

/*
 * Adds to every ipBlock of spec's rules in one direction the excepts that
 * bring it inside the envelope, in the patch and in spec itself (a copy,
 * checked afterwards). Appends by explicit index, never "-", so each op
 * names a place that did not exist.
 */
static void narrow_rules(const struct wh_policy *pol, const struct wh_rules *r, cJSON *spec,
			 bool ingress, struct wh_patch *patch, int *added)
{
	const char *dir = ingress ? "ingress" : "egress", *peers = ingress ? "from" : "to";
	cJSON *rule, *peer;
	int i = 0;

	cJSON_ArrayForEach(rule, sg_json_arr(spec, dir))
	{
		int j = 0;

		cJSON_ArrayForEach(peer, sg_json_arr(rule, peers))
		{
			cJSON *block = sg_json_obj(peer, "ipBlock"), *more = cJSON_CreateArray();
			cJSON *ex = sg_json_get(block, "except"), *it;

			if (!more) {
				patch->failed = true;
				return;
			}
			if (block && (!ex || cJSON_IsArray(ex)) &&
			    wh_netpol_missing_excepts(block, sg_json_arr(rule, "ports"), ingress,
						      &r->envelope, wh_policy_dns(pol), more) > 0) {
				*added += cJSON_GetArraySize(more);
				if (!ex) {
					add_except(patch, dir, i, peers, j, -1, more);
					cJSON_AddItemToObject(block, "except", more);
					more = NULL;
				} else {
					cJSON_ArrayForEach(it, more)
					{
						add_except(patch, dir, i, peers, j,
							   cJSON_GetArraySize(ex), it);
						cJSON_AddItemToArray(
							ex, cJSON_CreateString(it->valuestring));
					}
				}
			}
			cJSON_Delete(more);
			j++;
		}
		i++;
	}
}

/* Adds {key: <profile label>, operator: DoesNotExist} to spec.podSelector. */
static void scope_away(const cJSON *spec, struct wh_patch *patch)
{
#define DOES_NOT_EXIST "{\"key\":\"" SG_LABEL_PROFILE "\",\"operator\":\"DoesNotExist\"}"
	const cJSON *sel = sg_json_get(spec, "podSelector");
	const cJSON *me = sg_json_get(sel, "matchExpressions");
	struct wh_path p;

	wh_path_init(&p);
	wh_path_key(&p, "spec");
	wh_path_key(&p, "podSelector");
	if (!sel) {
		wh_patch_add(patch, &p, "{\"matchExpressions\":[" DOES_NOT_EXIST "]}");
		return;
	}
	wh_path_key(&p, "matchExpressions");
	if (!me) {
		wh_patch_add(patch, &p, "[" DOES_NOT_EXIST "]");
	} else if (cJSON_IsArray(me)) {
		wh_path_index(&p, cJSON_GetArraySize(me));
		wh_patch_add(patch, &p, DOES_NOT_EXIST);
	} else {
		patch->failed = true; /* not a selector the API server would have accepted */
	}
#undef DOES_NOT_EXIST
}

void wh_mutate_netpol(const struct wh_policy *pol, const struct wh_rules *r, const char *ns,
		      bool controller, const cJSON *np, struct wh_patch *patch,
		      struct wh_violations *notes)
{
	const cJSON *spec = sg_json_get(np, "spec"), *sel = sg_json_get(spec, "podSelector");
	struct wh_violations v;
	cJSON *copy;
	int added = 0;

	if (!cJSON_IsObject(spec) || !wh_netpol_selects_sandboxes(sel))
		return;
	copy = cJSON_Duplicate(spec, true);
	if (!copy) {
		patch->failed = true;
		return;
	}
	if (controller) {
		narrow_rules(pol, r, copy, true, patch, &added);
		narrow_rules(pol, r, copy, false, patch, &added);
		if (added)
			wh_violation(notes,
				     "this NetworkPolicy of the agent-sandbox controller allowed "
				     "more than the network envelope; %d except%s from the "
				     "envelope were added to its ipBlocks so that it stays inside",
				     added, added == 1 ? "" : "s");
	}
	wh_violations_init(&v);
	wh_netpol_check_spec(copy, ns, &r->envelope, wh_policy_dns(pol), &v);
	/*
	 * Outside the envelope and able to select sandbox pods through labels
	 * their users chose (app=agent): NetworkPolicies add up, so left as it
	 * is it would open those sandboxes. It stays what it was for every
	 * other pod. A policy that selects only sandbox pods is left for
	 * validation to refuse: scoped away it would select nothing, silently.
	 */
	if ((v.n || v.dropped) && !r->every_policy && !wh_netpol_sandbox_only(sel)) {
		char *cut = v.n ? strstr(v.items[0], "; the envelope allows") : NULL;

		if (cut)
			*cut = '\0';
		scope_away(spec, patch);
		wh_violation(notes,
			     "this NetworkPolicy goes beyond the sandbox network envelope "
			     "(%.400s) and its podSelector can match sandbox pods (they also "
			     "carry labels their users chose), so sandbox-guard scoped it away "
			     "from them: its podSelector now also requires " SG_LABEL_PROFILE
			     " DoesNotExist. NetworkPolicies add up, so unscoped it would open "
			     "those sandboxes; it still applies to every other pod it selects",
			     v.n ? v.items[0] : "more problems than can be listed");
	}
	wh_violations_release(&v);
	cJSON_Delete(copy);
}
