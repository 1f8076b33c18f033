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

static void harden_list(const struct wh_rules *r, const cJSON *spec, const char *list,
			struct wh_patch *patch)
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
			harden_container(r, ctr, &p, patch);
	}
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
	if (!windows) {
		harden_list(r, spec, "initContainers", patch);
		harden_list(r, spec, "containers", patch);
	}
	labels = sg_json_obj(sg_json_get(pod, "metadata"), "labels");
	if (!sg_json_get(labels, WH_PROFILE_LABEL)) {
		wh_path_init(&q);
		wh_path_key(&q, "metadata");
		wh_path_key(&q, "labels");
		if (!labels) {
			struct sg_buf v;

			sg_buf_init(&v, 512);
			sg_buf_printf(&v, "{\"%s\":", WH_PROFILE_LABEL);
			sg_buf_json_str(&v, r->default_profile);
			sg_buf_putc(&v, '}');
			wh_patch_add(patch, &q, v.data ? v.data : "{}");
			sg_buf_release(&v);
		} else {
			wh_path_key(&q, WH_PROFILE_LABEL);
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
