#include "review.h"

#include <stdlib.h>
#include <string.h>

#include "sg_json.h"

static int bad(char **cause, const char *what)
{
	*cause = strdup(what);
	return -1;
}

static const char *str_or_empty(const cJSON *obj, const char *key)
{
	const char *s = sg_json_str(obj, key);

	return s ? s : "";
}

/* request.object and oldObject: a JSON null means absent. */
static const cJSON *object_or_null(const cJSON *req, const char *key)
{
	const cJSON *it = sg_json_get(req, key);

	return cJSON_IsObject(it) ? it : NULL;
}

int wh_review_decode(const char *body, size_t len, struct sg_arena *arena, struct wh_review *rv,
		     char **cause)
{
	const cJSON *req, *kind, *res, *ui, *it;
	const char *s;

	memset(rv, 0, sizeof(*rv));
	rv->in_arena = arena != NULL;
	rv->root = arena ? sg_json_parse_arena(body, len, arena, SG_JSON_SKIP_MANAGED_FIELDS, cause)
			 : sg_json_parse(body, len, cause);
	if (!rv->root)
		return -1;
	if (!cJSON_IsObject(rv->root)) {
		bad(cause, "the body is not a JSON object");
		goto fail;
	}
	s = sg_json_str(rv->root, "kind");
	if (!s || strcmp(s, "AdmissionReview") != 0) {
		bad(cause, "kind must be \"AdmissionReview\"");
		goto fail;
	}
	s = sg_json_str(rv->root, "apiVersion");
	if (!s || strcmp(s, "admission.k8s.io/v1") != 0) {
		bad(cause,
		    "apiVersion must be \"admission.k8s.io/v1\" (set admissionReviewVersions "
		    "to [\"v1\"])");
		goto fail;
	}
	req = sg_json_obj(rv->root, "request");
	if (!req) {
		bad(cause, "request is missing or not an object");
		goto fail;
	}
	rv->uid = sg_json_str(req, "uid");
	if (!rv->uid || !rv->uid[0]) {
		bad(cause, "request.uid is missing or empty");
		goto fail;
	}
	kind = sg_json_obj(req, "kind");
	if (!kind || !sg_json_str(kind, "kind") || !sg_json_str(kind, "version")) {
		bad(cause, "request.kind must be an object with group, version and kind");
		goto fail;
	}
	rv->group = str_or_empty(kind, "group");
	rv->version = str_or_empty(kind, "version");
	rv->kind = str_or_empty(kind, "kind");
	res = sg_json_obj(req, "resource");
	rv->resource = res ? str_or_empty(res, "resource") : "";
	rv->subresource = str_or_empty(req, "subResource");
	rv->name = str_or_empty(req, "name");
	rv->ns = str_or_empty(req, "namespace");
	rv->operation = sg_json_str(req, "operation");
	if (!rv->operation) {
		bad(cause, "request.operation is missing");
		goto fail;
	}
	ui = sg_json_obj(req, "userInfo");
	rv->username = str_or_empty(ui, "username");
	rv->groups = sg_json_arr(ui, "groups");
	rv->object = object_or_null(req, "object");
	rv->old_object = object_or_null(req, "oldObject");
	it = sg_json_get(req, "dryRun");
	rv->dry_run = cJSON_IsTrue(it);
	return 0;
fail:
	wh_review_release(rv);
	return -1;
}

void wh_review_release(struct wh_review *rv)
{
	if (!rv->in_arena)
		cJSON_Delete(rv->root);
	rv->root = NULL;
}

/*
 * Warnings must be free of control characters: the API server drops a
 * warning with a newline without a word. Replace them with spaces.
 */
static int put_warning(struct sg_buf *out, const char *w, size_t budget)
{
	char clean[WH_WARNINGS_MAX];
	size_t n = strlen(w);

	if (n > budget)
		n = budget;
	if (n >= sizeof(clean))
		n = sizeof(clean) - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];

		clean[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	return sg_buf_json_string(out, clean, n);
}

/*
 * Appends standard, padded base64 of data (what the API server decodes).
 * Written out here because every patched review needs it and OpenSSL's
 * EVP_EncodeBlock took several times longer. Each 12 bits become two
 * characters in one lookup.
 */
static int put_base64(struct sg_buf *out, const char *data, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static char pairs[4096][2];
	const unsigned char *in = (const unsigned char *)data;
	size_t need = 4 * ((len + 2) / 3), i;
	char *o;
	int rc = sg_buf_extend(out, need, &o);

	if (rc)
		return rc;
	if (!pairs[0][0])
		for (unsigned k = 0; k < 4096; k++) {
			pairs[k][0] = abc[k >> 6];
			pairs[k][1] = abc[k & 63];
		}
	for (i = 0; i + 2 < len; i += 3, o += 4) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		memcpy(o, pairs[v >> 12], 2);
		memcpy(o + 2, pairs[v & 4095], 2);
	}
	if (i < len) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);

		*o++ = abc[v >> 18];
		*o++ = abc[(v >> 12) & 63];
		*o++ = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	return 0;
}

int wh_review_encode(const struct wh_review *rv, const struct wh_verdict *v, struct sg_buf *out)
{
	int rc;

	rc = sg_buf_puts(out,
			 "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
			 "\"response\":{\"uid\":");
	rc = rc ? rc : sg_buf_json_str(out, rv->uid);
	rc = rc ? rc : sg_buf_puts(out, v->allowed ? ",\"allowed\":true" : ",\"allowed\":false");
	if (!v->allowed) {
		rc = rc ? rc
			: sg_buf_puts(out, ",\"status\":{\"status\":\"Failure\",\"code\":403,"
					   "\"reason\":\"Forbidden\",\"message\":");
		rc = rc ? rc : sg_buf_json_str(out, v->message ? v->message : "denied");
		rc = rc ? rc : sg_buf_putc(out, '}');
	}
	if (v->allowed && v->patch && v->patch_len) {
		rc = rc ? rc : sg_buf_puts(out, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
		rc = rc ? rc : put_base64(out, v->patch, v->patch_len);
		rc = rc ? rc : sg_buf_putc(out, '"');
	}
	if (v->warnings && v->warnings[0]) {
		size_t budget = WH_WARNINGS_MAX;

		rc = rc ? rc : sg_buf_puts(out, ",\"warnings\":[");
		for (size_t i = 0; rc == 0 && v->warnings[i] && budget > 0; i++) {
			size_t n = strlen(v->warnings[i]);

			rc = i ? sg_buf_putc(out, ',') : 0;
			rc = rc ? rc : put_warning(out, v->warnings[i], budget);
			budget = n >= budget ? 0 : budget - n;
		}
		rc = rc ? rc : sg_buf_putc(out, ']');
	}
	if (v->audit_key && v->audit_value) {
		rc = rc ? rc : sg_buf_puts(out, ",\"auditAnnotations\":{");
		rc = rc ? rc : sg_buf_json_str(out, v->audit_key);
		rc = rc ? rc : sg_buf_putc(out, ':');
		rc = rc ? rc : sg_buf_json_str(out, v->audit_value);
		rc = rc ? rc : sg_buf_putc(out, '}');
	}
	return rc ? rc : sg_buf_puts(out, "}}");
}
