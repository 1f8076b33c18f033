/*
 * runtimes: the RuntimeClass cache, the decisions made with it (default,
 * refuse, warn), the audit of misconfigured classes, and the same
 * decisions through wh_admit_rt on real review fixtures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "admission.h"
#include "helpers.h"
#include "runtimes.h"
#include "sg_json.h"
#include "sg_metrics.h"

static struct wh_policy *policy(const char *text)
{
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse(text, strlen(text), "test.json", &cause);

	cr_assert_not_null(p, "%s", cause);
	return p;
}

/* A synced cache holding the given name, handler pairs (NULL-terminated). */
static struct wh_runtimes *cluster(const char *const *pairs)
{
	struct wh_runtimes *rt = wh_runtimes_new();

	cr_assert_not_null(rt);
	wh_runtimes_resync_begin(rt);
	for (; pairs && pairs[0]; pairs += 2)
		cr_assert_eq(wh_runtimes_put(rt, pairs[0], pairs[1]), 0, "%s", pairs[0]);
	wh_runtimes_resync_end(rt);
	return rt;
}

#define CLUSTER(...) cluster((const char *const[]){__VA_ARGS__, NULL})

Test(runtimes, without_a_cache_the_first_preference_is_trusted)
{
	struct wh_policy *p = policy("{}");
	char why[WH_RUNTIME_WHY_MAX];

	cr_assert_str_eq(wh_runtime_choose(wh_policy_rules(p, NULL), NULL, why, sizeof(why)),
			 "gvisor");
	cr_assert(wh_runtime_check(wh_policy_rules(p, NULL), NULL, "kata", why, sizeof(why)));
	wh_policy_free(p);
}

Test(runtimes, defaults_to_the_first_preferred_class_that_exists)
{
	struct wh_policy *p = policy("{}");
	const struct wh_rules *r = wh_policy_rules(p, NULL);
	struct wh_runtimes *both = CLUSTER("kata", "kata", "gvisor", "runsc");
	struct wh_runtimes *kata = CLUSTER("kata", "kata-qemu", "runc", "runc");
	char why[WH_RUNTIME_WHY_MAX];

	cr_assert_str_eq(wh_runtime_choose(r, both, why, sizeof(why)), "gvisor");
	cr_assert_str_eq(wh_runtime_choose(r, kata, why, sizeof(why)), "kata");
	wh_runtimes_free(both);
	wh_runtimes_free(kata);
	wh_policy_free(p);
}

Test(runtimes, none_of_the_preferred_classes_names_what_is_missing)
{
	struct wh_policy *p = policy("{\"runtimeClass\": {\"default\": [\"gvisor\", \"kata\"]}}");
	struct wh_runtimes *rt = CLUSTER("runc", "runc", "kata-qemu", "kata-qemu");
	char why[WH_RUNTIME_WHY_MAX];

	cr_assert_null(wh_runtime_choose(wh_policy_rules(p, NULL), rt, why, sizeof(why)));
	cr_assert_str_eq(why, "no RuntimeClass of gvisor, kata exists in this cluster; create "
			      "one (docs/operations.md)");
	wh_runtimes_free(rt);
	wh_policy_free(p);
}

Test(runtimes, a_preferred_name_with_a_runc_handler_is_skipped_and_named)
{
	struct wh_policy *p = policy("{\"runtimeClass\": {\"default\": [\"gvisor\", \"kata\"]}}");
	const struct wh_rules *r = wh_policy_rules(p, NULL);
	struct wh_runtimes *bad = CLUSTER("gvisor", "runc");
	struct wh_runtimes *fallback = CLUSTER("gvisor", "runc", "kata", "kata-clh");
	char why[WH_RUNTIME_WHY_MAX];

	cr_assert_null(wh_runtime_choose(r, bad, why, sizeof(why)));
	cr_assert(strstr(why, "'gvisor' has handler 'runc'"), "%s", why);
	cr_assert(strstr(why, "no RuntimeClass of gvisor, kata with a sandbox handler"), "%s", why);
	cr_assert_str_eq(wh_runtime_choose(r, fallback, why, sizeof(why)), "kata");
	wh_runtimes_free(bad);
	wh_runtimes_free(fallback);
	wh_policy_free(p);
}

Test(runtimes, check_refuses_a_missing_class_and_a_disallowed_handler)
{
	struct wh_policy *p = policy("{}");
	const struct wh_rules *r = wh_policy_rules(p, NULL);
	struct wh_runtimes *rt = CLUSTER("gvisor", "runc", "kata", "kata");
	char why[WH_RUNTIME_WHY_MAX];

	cr_assert(wh_runtime_check(r, rt, "kata", why, sizeof(why)));
	cr_assert_not(wh_runtime_check(r, rt, "gvisor", why, sizeof(why)));
	cr_assert(strstr(why, "RuntimeClass 'gvisor' has handler 'runc', which is not a sandbox"),
		  "%s", why);
	cr_assert_not(wh_runtime_check(r, rt, "kata-fc", why, sizeof(why)));
	cr_assert(strstr(why, "RuntimeClass 'kata-fc' does not exist in this cluster"), "%s", why);
	wh_runtimes_free(rt);
	wh_policy_free(p);
}

Test(runtimes, an_unsynced_cache_decides_nothing)
{
	struct wh_policy *p = policy("{}");
	const struct wh_rules *r = wh_policy_rules(p, NULL);
	struct wh_runtimes *rt = wh_runtimes_new();
	char why[WH_RUNTIME_WHY_MAX];

	wh_runtimes_resync_begin(rt);
	cr_assert_eq(wh_runtimes_put(rt, "gvisor", "runsc"), 0);
	cr_assert_not(wh_runtimes_synced(rt));
	cr_assert_null(wh_runtime_choose(r, rt, why, sizeof(why)));
	cr_assert(strstr(why, "has not yet read"), "%s", why);
	cr_assert_not(wh_runtime_check(r, rt, "gvisor", why, sizeof(why)));
	wh_runtimes_resync_end(rt);
	cr_assert_str_eq(wh_runtime_choose(r, rt, why, sizeof(why)), "gvisor");
	wh_runtimes_free(rt);
	wh_policy_free(p);
}

Test(runtimes, a_resync_forgets_classes_it_did_not_see_and_updates_handlers)
{
	struct wh_runtimes *rt = CLUSTER("gvisor", "runsc", "kata", "kata");

	cr_assert_eq(wh_runtimes_count(rt), 2);
	wh_runtimes_resync_begin(rt);
	cr_assert_eq(wh_runtimes_put(rt, "gvisor", "runc"), 0);
	wh_runtimes_resync_end(rt);
	cr_assert_eq(wh_runtimes_count(rt), 1);
	cr_assert_null(wh_runtimes_handler(rt, "kata"));
	cr_assert_str_eq(wh_runtimes_handler(rt, "gvisor"), "runc");
	wh_runtimes_remove(rt, "gvisor");
	wh_runtimes_remove(rt, "never-there");
	cr_assert_eq(wh_runtimes_count(rt), 0);
	wh_runtimes_free(rt);
}

Test(runtimes, put_refuses_what_no_api_server_would_store)
{
	struct wh_runtimes *rt = wh_runtimes_new();
	char longname[300];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(wh_runtimes_put(rt, "Gvisor", "runsc"), -EINVAL);
	cr_assert_eq(wh_runtimes_put(rt, "gvisor", ""), -EINVAL);
	cr_assert_eq(wh_runtimes_put(rt, "gvisor", "run.sc"), -EINVAL);
	cr_assert_eq(wh_runtimes_put(rt, longname, "runsc"), -EINVAL);
	cr_assert_eq(wh_runtimes_put(rt, NULL, "runsc"), -EINVAL);
	cr_assert_eq(wh_runtimes_put(rt, "gvisor", NULL), -EINVAL);
	cr_assert_eq(wh_runtimes_count(rt), 0);
	wh_runtimes_free(rt);
	wh_runtimes_free(NULL);
}

Test(runtimes, audit_reports_allowed_names_with_disallowed_handlers)
{
	struct wh_policy *p = policy("{}");
	const struct wh_rules *r = wh_policy_rules(p, NULL);
	/* runc is not an allowed name, so it is not misconfigured, only not a sandbox. */
	struct wh_runtimes *rt = CLUSTER("gvisor", "runc", "kata", "kata", "runc", "runc");
	struct sg_metrics *m = sg_metrics_new();
	struct sg_buf out;

	cr_assert_eq(wh_runtimes_metrics(rt, m), 0);
	cr_assert_eq(wh_runtimes_audit(rt, r), 1);
	sg_buf_init(&out, 1 << 20);
	cr_assert_eq(sg_metrics_render(m, &out), 0);
	cr_assert(strstr(out.data, "sandbox_guard_runtimeclass_misconfigured{runtimeclass="
				   "\"gvisor\",handler=\"runc\"} 1"),
		  "%s", out.data);
	cr_assert(strstr(out.data, "sandbox_guard_runtimeclasses 3"), "%s", out.data);
	cr_assert_null(strstr(out.data, "runtimeclass=\"kata\""));

	/* Fixed: the series drops to 0. */
	wh_runtimes_resync_begin(rt);
	cr_assert_eq(wh_runtimes_put(rt, "gvisor", "runsc"), 0);
	wh_runtimes_resync_end(rt);
	cr_assert_eq(wh_runtimes_audit(rt, r), 0);
	sg_buf_reset(&out);
	cr_assert_eq(sg_metrics_render(m, &out), 0);
	cr_assert(strstr(out.data, "sandbox_guard_runtimeclass_misconfigured{runtimeclass="
				   "\"gvisor\",handler=\"runc\"} 0"),
		  "%s", out.data);
	sg_buf_release(&out);
	sg_metrics_free(m);
	wh_runtimes_free(rt);
	wh_policy_free(p);
}

/* --- through wh_admit_rt ------------------------------------------------- */

static struct sg_arena arena;

/*
 * Answers the review in fixture, with the podTemplate's (or pod's)
 * runtimeClassName set to rc first unless rc is NULL.
 */
static cJSON *admit_with(const struct wh_runtimes *rt, enum wh_endpoint ep, const char *fixture,
			 const char *rc, struct wh_outcome *res)
{
	struct wh_policy *p = policy("{}");
	char rel[256], *body;
	struct sg_buf out;
	size_t len;
	cJSON *doc;

	snprintf(rel, sizeof(rel), "reviews/%s", fixture);
	body = fixture_text(rel, &len);
	if (rc) {
		cJSON *review = parse_or_die(body), *spec;
		cJSON *obj = sg_json_get(sg_json_get(review, "request"), "object");

		spec = sg_json_get(sg_json_get(sg_json_get(obj, "spec"), "podTemplate"), "spec");
		if (!spec)
			spec = sg_json_get(obj, "spec");
		cr_assert_not_null(spec, "%s has no pod spec", fixture);
		cJSON_DeleteItemFromObject(spec, "runtimeClassName");
		cJSON_AddStringToObject(spec, "runtimeClassName", rc);
		free(body);
		body = cJSON_PrintUnformatted(review);
		len = strlen(body);
		cJSON_Delete(review);
	}
	sg_arena_init(&arena, WH_ARENA_CHUNK, WH_ARENA_MAX);
	sg_buf_init(&out, 1 << 20);
	cr_assert_eq(wh_admit_rt(p, rt, ep, body, len, &arena, &out, res), 200, "%s", out.data);
	doc = parse_or_die(out.data);
	sg_buf_release(&out);
	sg_arena_release(&arena);
	free(body);
	wh_policy_free(p);
	return doc;
}

static cJSON *admit(const struct wh_runtimes *rt, enum wh_endpoint ep, const char *fixture,
		    struct wh_outcome *res)
{
	return admit_with(rt, ep, fixture, NULL, res);
}

/* The runtimeClassName the mutating answer writes, or NULL. */
static char *patched_class(cJSON *doc)
{
	const cJSON *resp = sg_json_get(doc, "response"), *op;
	char *ops_text, *cls = NULL;
	cJSON *ops;

	if (!sg_json_str(resp, "patch"))
		return NULL;
	ops_text = b64decode(sg_json_str(resp, "patch"));
	ops = parse_or_die(ops_text);
	op = find_op(ops, "/spec/runtimeClassName");
	if (op)
		cls = strdup(sg_json_str(op, "value"));
	cJSON_Delete(ops);
	free(ops_text);
	return cls;
}

Test(runtimes, mutation_writes_the_class_that_exists)
{
	struct wh_runtimes *rt = CLUSTER("kata", "kata");
	struct wh_outcome res;
	cJSON *doc = admit(rt, WH_MUTATE, "pod-warm-create.json", &res);
	char *cls = patched_class(doc);

	cr_assert_str_eq(cls, "kata");
	free(cls);
	cJSON_Delete(doc);
	doc = admit(NULL, WH_MUTATE, "pod-warm-create.json", &res);
	cls = patched_class(doc);
	cr_assert_str_eq(cls, "gvisor", "without a cache the policy's first name is written");
	free(cls);
	cJSON_Delete(doc);
	wh_runtimes_free(rt);
}

Test(runtimes, no_class_means_no_runtime_patch_and_a_denial_naming_what_is_missing)
{
	struct wh_runtimes *rt = CLUSTER("runc", "runc");
	struct wh_outcome res;
	cJSON *doc = admit(rt, WH_MUTATE, "pod-warm-create.json", &res);
	const char *msg;

	cr_assert_null(patched_class(doc), "no class exists: nothing to write");
	cJSON_Delete(doc);
	/* The same pod as validation sees it after the rest of the mutation. */
	doc = admit(rt, WH_VALIDATE, "pod-warm-create.json", &res);
	cr_assert_str_eq(res.decision, "denied");
	msg = sg_json_str(sg_json_get(sg_json_get(doc, "response"), "status"), "message");
	cr_assert(strstr(msg, "spec.runtimeClassName is not set: no RuntimeClass of gvisor, kata, "
			      "kata-qemu, kata-clh, kata-fc, kata-vm-isolation exists in this "
			      "cluster; create one (docs/operations.md)"),
		  "%s", msg);
	cJSON_Delete(doc);
	wh_runtimes_free(rt);
}

Test(runtimes, a_pod_whose_class_runs_runc_is_refused)
{
	struct wh_runtimes *rt = CLUSTER("gvisor", "runc");
	struct wh_runtimes *good = CLUSTER("gvisor", "runsc");
	struct wh_outcome res;
	cJSON *doc = admit(rt, WH_VALIDATE, "pod-hardened-create.json", &res);
	const char *msg =
		sg_json_str(sg_json_get(sg_json_get(doc, "response"), "status"), "message");

	cr_assert_str_eq(res.decision, "denied");
	cr_assert(strstr(msg, "spec.runtimeClassName: RuntimeClass 'gvisor' has handler 'runc', "
			      "which is not a sandbox"),
		  "%s", msg);
	cJSON_Delete(doc);
	doc = admit(good, WH_VALIDATE, "pod-hardened-create.json", &res);
	cr_assert_str_eq(res.decision, "allowed");
	cJSON_Delete(doc);
	wh_runtimes_free(rt);
	wh_runtimes_free(good);
}

static bool has_warning(const cJSON *doc, const char *needle)
{
	const cJSON *w;

	cJSON_ArrayForEach(w, sg_json_arr(sg_json_get(doc, "response"), "warnings"))
	{
		if (cJSON_IsString(w) && strstr(w->valuestring, needle))
			return true;
	}
	return false;
}

Test(runtimes, templates_are_warned_not_refused_about_missing_classes)
{
	struct wh_runtimes *none = CLUSTER("runc", "runc");
	struct wh_runtimes *some = CLUSTER("gvisor", "runsc");
	struct wh_outcome res;
	cJSON *doc;

	/* No class given: its pods would get none. */
	doc = admit(none, WH_VALIDATE, "template-minimal-create.json", &res);
	cr_assert_str_eq(res.decision, "allowed");
	cr_assert(has_warning(doc, "no RuntimeClass of gvisor"), "%s", cJSON_Print(doc));
	cJSON_Delete(doc);
	doc = admit(some, WH_VALIDATE, "template-minimal-create.json", &res);
	cr_assert_not(has_warning(doc, "RuntimeClass"));
	cJSON_Delete(doc);
	/* A Sandbox or template whose podTemplate names a class the cluster lacks. */
	doc = admit_with(some, WH_VALIDATE, "sandbox-minimal-create.json", "kata", &res);
	cr_assert_str_eq(res.decision, "allowed");
	cr_assert(has_warning(doc, "spec.podTemplate.spec.runtimeClassName: RuntimeClass 'kata' "
				   "does not exist in this cluster"),
		  "%s", cJSON_Print(doc));
	cJSON_Delete(doc);
	doc = admit_with(some, WH_VALIDATE, "template-minimal-create.json", "kata", &res);
	cr_assert_str_eq(res.decision, "allowed");
	cr_assert(has_warning(doc, "RuntimeClass 'kata' does not exist"), "%s", cJSON_Print(doc));
	cJSON_Delete(doc);
	doc = admit_with(some, WH_VALIDATE, "template-minimal-create.json", "gvisor", &res);
	cr_assert_not(has_warning(doc, "RuntimeClass"), "%s", cJSON_Print(doc));
	cJSON_Delete(doc);
	/* Without a cache nothing about the cluster is claimed. */
	doc = admit_with(NULL, WH_VALIDATE, "template-minimal-create.json", "kata", &res);
	cr_assert_not(has_warning(doc, "RuntimeClass"), "%s", cJSON_Print(doc));
	cJSON_Delete(doc);
	wh_runtimes_free(none);
	wh_runtimes_free(some);
}

Test(runtimes, the_cache_is_capped_but_known_classes_still_update)
{
	struct wh_runtimes *rt = wh_runtimes_new();
	char name[32];

	for (int i = 0; i < WH_RUNTIMES_MAX; i++) {
		snprintf(name, sizeof(name), "class-%d", i);
		cr_assert_eq(wh_runtimes_put(rt, name, "runsc"), 0, "%s", name);
	}
	cr_assert_eq(wh_runtimes_put(rt, "one-too-many", "runsc"), -ENOSPC);
	cr_assert_null(wh_runtimes_handler(rt, "one-too-many"));
	cr_assert_eq(wh_runtimes_put(rt, "class-0", "runc"), 0);
	cr_assert_str_eq(wh_runtimes_handler(rt, "class-0"), "runc");
	wh_runtimes_remove(rt, "class-1");
	cr_assert_eq(wh_runtimes_put(rt, "one-too-many", "runsc"), 0);
	cr_assert_eq(wh_runtimes_count(rt), WH_RUNTIMES_MAX);
	wh_runtimes_free(rt);
}
