#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "helpers.h"
#include "review.h"
#include "sg_json.h"

static int decode(const char *text, struct wh_review *rv, char **cause)
{
	*cause = NULL;
	return wh_review_decode(text, strlen(text), NULL, rv, cause);
}

static void expect_bad(const char *text, const char *needle)
{
	struct wh_review rv;
	char *cause;

	cr_assert_neq(decode(text, &rv, &cause), 0, "accepted: %s", text);
	cr_assert(strstr(cause, needle), "'%s' not in '%s'", needle, cause);
	free(cause);
}

Test(review, decodes_a_real_shaped_request)
{
	size_t n;
	char *text = fixture_text("reviews/pod-warm-create.json", &n), *cause = NULL;
	struct wh_review rv;

	cr_assert_eq(wh_review_decode(text, n, NULL, &rv, &cause), 0, "%s", cause);
	cr_assert_str_eq(rv.uid, "e911857d-c318-11e8-bbad-025000000001");
	cr_assert_str_eq(rv.group, "");
	cr_assert_str_eq(rv.kind, "Pod");
	cr_assert_str_eq(rv.resource, "pods");
	cr_assert_str_eq(rv.subresource, "");
	cr_assert_str_eq(rv.ns, "team-a");
	cr_assert_str_eq(rv.operation, "CREATE");
	cr_assert_not_null(rv.object);
	cr_assert_null(rv.old_object, "JSON null oldObject is absent");
	cr_assert(!rv.dry_run);
	cr_assert(strstr(rv.username, "agent-sandbox-controller"));
	wh_review_release(&rv);
	free(text);
}

Test(review, refuses_envelopes_that_are_not_v1_reviews)
{
	expect_bad("[]", "not a JSON object");
	expect_bad("{\"kind\":\"AdmissionReview\"}", "apiVersion must be");
	expect_bad("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1beta1\"}",
		   "admission.k8s.io/v1");
	expect_bad("{\"kind\":\"Review\",\"apiVersion\":\"admission.k8s.io/v1\"}", "kind must be");
	expect_bad("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}",
		   "request is missing");
	expect_bad("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
		   "\"request\":{\"uid\":\"\"}}",
		   "request.uid");
	expect_bad("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
		   "\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"}}}",
		   "request.kind");
	expect_bad("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
		   "\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
		   "\"kind\":\"Pod\"}}}",
		   "operation");
}

static cJSON *encode(const struct wh_verdict *v)
{
	struct wh_review rv = {.uid = "uid-\"1\""};
	struct sg_buf out;
	cJSON *j;

	sg_buf_init(&out, 1 << 20);
	cr_assert_eq(wh_review_encode(&rv, v, &out), 0);
	j = parse_or_die(out.data);
	sg_buf_release(&out);
	return j;
}

Test(review, allow_echoes_uid_and_type_fields)
{
	struct wh_verdict v = {.allowed = true};
	cJSON *j = encode(&v), *resp = sg_json_get(j, "response");

	cr_assert_str_eq(sg_json_str(j, "apiVersion"), "admission.k8s.io/v1");
	cr_assert_str_eq(sg_json_str(j, "kind"), "AdmissionReview");
	cr_assert_str_eq(sg_json_str(resp, "uid"), "uid-\"1\"");
	cr_assert(sg_json_true(resp, "allowed"));
	cr_assert_null(sg_json_get(resp, "patch"));
	cr_assert_null(sg_json_get(resp, "patchType"));
	cr_assert_null(sg_json_get(resp, "status"));
	cJSON_Delete(j);
}

Test(review, deny_carries_403_forbidden_and_the_message)
{
	struct wh_verdict v = {.allowed = false, .message = "no\nway"};
	cJSON *j = encode(&v), *st = sg_json_path(j, "response", "status", NULL);

	cr_assert(sg_json_false(sg_json_get(j, "response"), "allowed"));
	cr_assert(cJSON_IsNumber(sg_json_get(st, "code")));
	cr_assert_eq(sg_json_get(st, "code")->valueint, 403);
	cr_assert_str_eq(sg_json_str(st, "reason"), "Forbidden");
	cr_assert_str_eq(sg_json_str(st, "message"), "no\nway");
	cJSON_Delete(j);
}

Test(review, patch_is_padded_standard_base64_with_patch_type)
{
	const char *patch = "[{\"op\":\"add\",\"path\":\"/a\",\"value\":\"?<>\"}]";
	struct wh_verdict v = {.allowed = true, .patch = patch, .patch_len = strlen(patch)};
	cJSON *j = encode(&v), *resp = sg_json_get(j, "response");
	const char *b64 = sg_json_str(resp, "patch");
	char *raw;

	cr_assert_str_eq(sg_json_str(resp, "patchType"), "JSONPatch");
	cr_assert_not_null(b64);
	cr_assert_eq(strlen(b64) % 4, 0, "padded");
	cr_assert_null(strchr(b64, '-'), "not URL-safe base64");
	cr_assert_null(strchr(b64, '\n'));
	raw = b64decode(b64);
	cr_assert_str_eq(raw, patch);
	free(raw);
	cJSON_Delete(j);
}

Test(review, base64_matches_openssl_at_every_length)
{
	unsigned char data[200];
	unsigned char want[300];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 11);
	for (size_t n = 1; n <= sizeof(data); n++) {
		struct wh_verdict v = {
			.allowed = true, .patch = (const char *)data, .patch_len = n};
		cJSON *j = encode(&v);

		EVP_EncodeBlock(want, data, (int)n);
		cr_assert_str_eq(sg_json_str(sg_json_get(j, "response"), "patch"), (char *)want,
				 "%zu bytes", n);
		cJSON_Delete(j);
	}
}

Test(review, warnings_lose_control_characters_and_stay_under_the_limit)
{
	char big[6000];
	const char *warnings[] = {"line one\nline two\ttab", big, "dropped", NULL};
	struct wh_verdict v = {.allowed = true, .warnings = warnings};
	cJSON *j, *arr, *it;
	size_t total = 0;

	memset(big, 'w', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	j = encode(&v);
	arr = sg_json_path(j, "response", "warnings", NULL);
	cr_assert_str_eq(cJSON_GetArrayItem(arr, 0)->valuestring, "line one line two tab");
	cJSON_ArrayForEach(it, arr)
	{
		total += strlen(it->valuestring);
	}
	cr_assert_leq(total, WH_WARNINGS_MAX);
	cJSON_Delete(j);
}

Test(review, audit_annotation)
{
	struct wh_verdict v = {.allowed = true, .audit_key = "violations", .audit_value = "a; b"};
	cJSON *j = encode(&v);

	cr_assert_str_eq(
		sg_json_str(sg_json_path(j, "response", "auditAnnotations", NULL), "violations"),
		"a; b");
	cJSON_Delete(j);
}
