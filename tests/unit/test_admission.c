/*
 * Every fixture in tests/fixtures/reviews/cases.json through wh_admit,
 * in process (so the sanitizer build checks the whole decision path).
 * The integration suite sends the same fixtures to the daemon and also
 * applies the patches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "admission.h"
#include "helpers.h"
#include "sg_json.h"

static struct sg_arena arena;

static void setup(void)
{
	sg_arena_init(&arena, WH_ARENA_CHUNK, WH_ARENA_MAX);
}

static void teardown(void)
{
	sg_arena_release(&arena);
}

TestSuite(admission, .init = setup, .fini = teardown);

static struct wh_policy *default_policy(void)
{
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse(wh_default_policy_json,
					      strlen(wh_default_policy_json), "d", &cause);

	cr_assert_not_null(p, "%s", cause);
	return p;
}

static void run_case(struct wh_policy *p, const cJSON *c)
{
	const char *file = sg_json_str(c, "file"), *expect = sg_json_str(c, "expect");
	enum wh_endpoint ep =
		strcmp(sg_json_str(c, "endpoint"), "mutate") == 0 ? WH_MUTATE : WH_VALIDATE;
	char rel[256], *body, *answer;
	struct wh_outcome res;
	struct sg_buf out;
	size_t len;
	const cJSON *it;
	cJSON *doc, *resp;
	int status;

	snprintf(rel, sizeof(rel), "reviews/%s", file);
	body = fixture_text(rel, &len);
	sg_buf_init(&out, 1 << 20);
	status = wh_admit(p, ep, body, len, &arena, &out, &res);
	cr_assert_eq(status, 200, "%s: %s", file, out.data);
	doc = parse_or_die(out.data);
	resp = sg_json_get(doc, "response");
	if (strcmp(expect, "denied") == 0) {
		cr_assert(sg_json_false(resp, "allowed"), "%s should be denied", file);
		cr_assert_str_eq(res.decision, "denied");
	} else if (strcmp(expect, "patched") == 0) {
		cr_assert(sg_json_true(resp, "allowed"), "%s", file);
		cr_assert_not_null(sg_json_get(resp, "patch"), "%s should be patched", file);
		cr_assert_str_eq(res.decision, "patched");
	} else {
		cr_assert(sg_json_true(resp, "allowed"), "%s should be allowed: %s", file,
			  out.data);
		cr_assert_null(sg_json_get(resp, "patch"), "%s has a patch", file);
	}
	answer = out.data;
	cJSON_ArrayForEach(it, sg_json_get(c, "contains"))
	{
		/* The answer is JSON, so compare against the escaped needle. */
		struct sg_buf needle;

		sg_buf_init(&needle, 4096);
		sg_buf_json_str(&needle, it->valuestring);
		needle.data[needle.len - 1] = '\0';
		cr_assert(strstr(answer, needle.data + 1), "%s: '%s' not in %s", file,
			  it->valuestring, answer);
		sg_buf_release(&needle);
	}
	cJSON_Delete(doc);
	sg_buf_release(&out);
	free(body);
}

Test(admission, every_fixture_case)
{
	struct wh_policy *p = default_policy();
	cJSON *cases = fixture_json("reviews/cases.json"), *c;
	int n = 0;

	cJSON_ArrayForEach(c, cases)
	{
		run_case(p, c);
		n++;
	}
	cr_assert_gt(n, 20);
	cJSON_Delete(cases);
	wh_policy_free(p);
}

Test(admission, malformed_review_is_400_with_reason)
{
	struct wh_policy *p = default_policy();
	struct wh_outcome res;
	struct sg_buf out;

	sg_buf_init(&out, 4096);
	cr_assert_eq(wh_admit(p, WH_VALIDATE, "{}", 2, &arena, &out, &res), 400);
	cr_assert(strncmp(out.data, "invalid AdmissionReview: ", 25) == 0, "%s", out.data);
	cr_assert_str_eq(res.decision, "invalid");
	sg_buf_release(&out);
	wh_policy_free(p);
}

Test(admission, warn_and_audit_modes_allow_and_report)
{
	const char *modes[] = {"{\"mode\":\"warn\"}", "{\"mode\":\"audit\"}"};
	size_t len;
	char *body = fixture_text("reviews/pod-runc-create.json", &len);

	for (int i = 0; i < 2; i++) {
		char *cause = NULL;
		struct wh_policy *p = wh_policy_parse(modes[i], strlen(modes[i]), "m", &cause);
		struct wh_outcome res;
		struct sg_buf out;
		cJSON *doc, *resp;

		sg_buf_init(&out, 1 << 20);
		cr_assert_eq(wh_admit(p, WH_VALIDATE, body, len, &arena, &out, &res), 200);
		doc = parse_or_die(out.data);
		resp = sg_json_get(doc, "response");
		cr_assert(sg_json_true(resp, "allowed"));
		if (i == 0) {
			cr_assert_str_eq(res.decision, "warned");
			cr_assert_gt(cJSON_GetArraySize(sg_json_get(resp, "warnings")), 0);
		} else {
			cr_assert_str_eq(res.decision, "audited");
			cr_assert(strstr(
				sg_json_str(sg_json_get(resp, "auditAnnotations"), "violations"),
				"runc"));
		}
		cJSON_Delete(doc);
		sg_buf_release(&out);
		wh_policy_free(p);
	}
	free(body);
}

/*
 * app=web with open ingress and egress, which sandbox pods may match too: the
 * default scope rewrites it away from sandbox pods at /mutate; every-policy
 * (and mutate: false) rewrites nothing, and /validate refuses it unscoped in
 * every scope.
 */
Test(admission, policy_scope_decides_between_scoping_and_refusing)
{
	const char *policies[] = {
		"{}",
		"{\"network\":{\"policyScope\":\"every-policy\"}}",
		"{\"network\":{\"policyScope\":\"every-policy\"},\"namespaces\":{\"team-a\":{"
		"\"network\":{\"policyScope\":\"sandbox-selectors\"}}}}",
		"{\"mutate\":false}",
	};
	const bool scoped[] = {true, false, true, false};
	size_t len;
	char *body = fixture_text("reviews/netpol-other-pods-create.json", &len);

	for (int i = 0; i < 4; i++) {
		char *cause = NULL;
		struct wh_policy *p =
			wh_policy_parse(policies[i], strlen(policies[i]), "s", &cause);
		struct wh_outcome res;
		struct sg_buf out;
		cJSON *doc;

		cr_assert_not_null(p, "%s", cause);
		sg_buf_init(&out, 1 << 20);
		cr_assert_eq(wh_admit(p, WH_MUTATE, body, len, &arena, &out, &res), 200);
		cr_assert_str_eq(res.decision, scoped[i] ? "patched" : "allowed", "%s: %s",
				 policies[i], out.data);
		if (scoped[i])
			cr_assert(strstr(out.data, "scoped it away"), "%s", out.data);
		sg_buf_reset(&out);
		cr_assert_eq(wh_admit(p, WH_VALIDATE, body, len, &arena, &out, &res), 200);
		doc = parse_or_die(out.data);
		cr_assert(sg_json_false(sg_json_get(doc, "response"), "allowed"), "%s: %s",
			  policies[i], out.data);
		cr_assert(strstr(out.data, "every source"), "%s", out.data);
		cr_assert_eq(strstr(out.data, "sandbox-guard does not add it for you") != NULL,
			     i == 1, "%s", out.data);
		cJSON_Delete(doc);
		sg_buf_release(&out);
		wh_policy_free(p);
	}
	free(body);
}

/* Runs one fixture through wh_admit under policy_json; returns the parsed response document. */
static cJSON *admit_with(const char *policy_json, enum wh_endpoint ep, const char *fixture,
			 struct wh_outcome *res)
{
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse(policy_json, strlen(policy_json), "t", &cause);
	size_t len;
	char *body = fixture_text(fixture, &len);
	struct sg_buf out;
	cJSON *doc;

	cr_assert_not_null(p, "%s", cause);
	sg_buf_init(&out, 1 << 20);
	cr_assert_eq(wh_admit(p, ep, body, len, &arena, &out, res), 200);
	doc = parse_or_die(out.data);
	sg_buf_release(&out);
	wh_policy_free(p);
	free(body);
	return doc;
}

/* hostUsers: true is refused where the namespace's rules ask for user namespaces, per its mode. */
Test(admission, user_namespaces_follow_the_namespace_mode)
{
	static const struct {
		const char *policy, *decision;
	} runs[] = {
		{"{}", "allowed"},
		{"{\"namespaces\":{\"team-a\":{\"hardening\":{\"userNamespaces\":true}}}}",
		 "denied"},
		{"{\"namespaces\":{\"team-b\":{\"hardening\":{\"userNamespaces\":true}}}}",
		 "allowed"},
		{"{\"namespaces\":{\"team-a\":{\"mode\":\"warn\",\"hardening\":{"
		 "\"userNamespaces\":true}}}}",
		 "warned"},
		{"{\"hardening\":{\"userNamespaces\":true},\"namespaces\":{\"team-a\":{"
		 "\"mode\":\"audit\"}}}",
		 "audited"},
	};

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct wh_outcome res;
		cJSON *doc = admit_with(runs[i].policy, WH_VALIDATE,
					"reviews/pod-host-users-true-create.json", &res);
		char *text;

		cr_assert_str_eq(res.decision, runs[i].decision, "%s", runs[i].policy);
		text = cJSON_PrintUnformatted(doc);
		if (strcmp(runs[i].decision, "allowed") != 0)
			cr_assert(strstr(text, "spec.hostUsers is true"), "%s", runs[i].policy);
		cJSON_free(text);
		cJSON_Delete(doc);
	}
}

Test(admission, user_namespaces_are_mutated_in_their_namespace_only)
{
	struct wh_outcome res;
	cJSON *doc = admit_with(
		"{\"namespaces\":{\"team-a\":{\"hardening\":{\"userNamespaces\":true}}}}",
		WH_MUTATE, "reviews/pod-host-users-unset-mutate-create.json", &res);
	char *patch = b64decode(sg_json_str(sg_json_get(doc, "response"), "patch"));

	cr_assert(strstr(patch, "{\"op\":\"add\",\"path\":\"/spec/hostUsers\",\"value\":false}"),
		  "%s", patch);
	free(patch);
	cJSON_Delete(doc);
}

Test(admission, delete_and_connect_are_allowed_without_checks)
{
	struct wh_policy *p = default_policy();
	size_t len;
	char *body = fixture_text("reviews/pod-warm-delete.json", &len);
	struct wh_outcome res;
	struct sg_buf out;

	sg_buf_init(&out, 1 << 20);
	cr_assert_eq(wh_admit(p, WH_MUTATE, body, len, &arena, &out, &res), 200);
	cr_assert_str_eq(res.decision, "allowed");
	cr_assert_null(strstr(out.data, "patch"));
	sg_buf_release(&out);
	free(body);
	wh_policy_free(p);
}

/*
 * agent-sandbox makes each volumeClaimTemplates entry a persistentVolumeClaim
 * volume of the pod: where the policy does not allow that type, the Sandbox,
 * the SandboxTemplate and the 1.0 SandboxClaim carrying them are refused at
 * apply time, and a template that lets claims add them says so. The default
 * policy allows the type, so the same fixtures pass there (cases.json).
 */
Test(admission, volume_claim_templates_follow_allowed_volume_types)
{
	static const char policy[] = "{\"allowedVolumeTypes\":[\"configMap\",\"emptyDir\","
				     "\"projected\",\"secret\",\"downwardAPI\"]}";
	static const struct {
		const char *file;
		const char *needle;
	} cases[] = {
		{"reviews/v1.0-sandbox-create.json", "spec.volumeClaimTemplates: its 1 entry"},
		{"reviews/v1.0-template-claim-policies-create.json",
		 "spec.volumeClaimTemplates: its 1 entry"},
		{"reviews/v1.0-claim-create.json", "spec.volumeClaimTemplates: its 1 entry"},
	};
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse(policy, strlen(policy), "v", &cause);

	cr_assert_not_null(p, "%s", cause);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *body = fixture_text(cases[i].file, &len);
		struct wh_outcome res;
		struct sg_buf out;
		cJSON *doc;

		sg_buf_init(&out, 1 << 20);
		cr_assert_eq(wh_admit(p, WH_VALIDATE, body, len, &arena, &out, &res), 200);
		doc = parse_or_die(out.data);
		cr_assert(sg_json_false(sg_json_get(doc, "response"), "allowed"), "%s: %s",
			  cases[i].file, out.data);
		cr_assert(strstr(out.data, cases[i].needle), "%s: %s", cases[i].file, out.data);
		if (i == 1)
			cr_assert(strstr(out.data, "spec.volumeClaimTemplatesPolicy is Allowed"),
				  "%s", out.data);
		cJSON_Delete(doc);
		sg_buf_release(&out);
		free(body);
	}
	wh_policy_free(p);
}

/*
 * Reserved agents.x-k8s.io/ labels follow agentSandbox.controllerUsers, not
 * a built-in name, and exemptions still apply to them.
 */
Test(admission, reserved_labels_follow_controller_users_and_exemptions)
{
	const char *policies[] = {
		"{}",
		"{\"agentSandbox\":{\"controllerUsers\":[\"alice@example.com\"]}}",
		"{\"exemptions\":{\"users\":[\"alice@example.com\"]}}",
	};
	/* The tenant's planted pod, and the controller's own unowned pod. */
	const char *files[] = {"reviews/pod-planted-warm-create.json",
			       "reviews/pod-controller-unowned-create.json"};
	const char *want[3][2] = {
		{"denied", "allowed"},
		{"allowed", "denied"},
		{"exempt", "allowed"},
	};

	for (int i = 0; i < 3; i++) {
		char *cause = NULL;
		struct wh_policy *p =
			wh_policy_parse(policies[i], strlen(policies[i]), "c", &cause);

		cr_assert_not_null(p, "%s", cause);
		for (int j = 0; j < 2; j++) {
			size_t len;
			char *body = fixture_text(files[j], &len);
			struct wh_outcome res;
			struct sg_buf out;

			sg_buf_init(&out, 1 << 20);
			cr_assert_eq(wh_admit(p, WH_VALIDATE, body, len, &arena, &out, &res), 200);
			cr_assert_str_eq(res.decision, want[i][j], "%s, %s: %s", policies[i],
					 files[j], out.data);
			if (strcmp(want[i][j], "denied") == 0)
				cr_assert(strstr(out.data,
						 "is not one of agentSandbox.controllerUsers"),
					  "%s", out.data);
			sg_buf_release(&out);
			free(body);
		}
		wh_policy_free(p);
	}
}
