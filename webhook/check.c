#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admission.h"
#include "classify.h"
#include "policy.h"
#include "sg_arena.h"
#include "sg_buf.h"
#include "sg_json.h"
#include "sg_yaml.h"

#define MAX_GROUPS    32
#define MAX_LIST_NEST 4

static const char usage[] =
	"usage: sandbox-guard-webhook check [options] FILE|DIR|- ...\n"
	"\n"
	"Checks Kubernetes manifests (YAML or JSON, several documents per file, List\n"
	"kinds unwrapped) against the policy, exactly as the webhook would decide them\n"
	"at CREATE: the defaults it would add, then what it would refuse. Pods,\n"
	"Sandboxes, SandboxTemplates, SandboxClaims and NetworkPolicies are checked;\n"
	"other kinds are skipped. No cluster, network or certificates needed.\n"
	"\n"
	"  --policy=FILE      policy, JSON or YAML (default: built-in)\n"
	"  -n, --namespace=NS namespace of objects that name none (default \"default\")\n"
	"  --user=NAME        the requesting user (default " WH_CHECK_DEFAULT_USER ");\n"
	"                     pods the agent-sandbox controller creates carry its\n"
	"                     reserved labels: check them as one of the policy's\n"
	"                     agentSandbox.controllerUsers, e.g.\n"
	"                     --user=" WH_DEFAULT_CONTROLLER_USER "\n"
	"  --group=NAME       a group of the user (repeatable; system:authenticated is\n"
	"                     always added, as the API server does)\n"
	"  -o, --output=FMT   text (default) or json\n"
	"  -R, --recursive    read directories recursively\n"
	"  --help             this text\n"
	"\n"
	"A DIR means its *.yaml, *.yml and *.json files; - means standard input\n"
	"(kubectl kustomize DIR | sandbox-guard-webhook check -).\n"
	"Exit status: 0 all admitted, 1 at least one refused, 2 usage or input error.\n";

struct opts {
	const char *policy;
	const char *ns;
	const char *user;
	const char *groups[MAX_GROUPS];
	size_t ngroups;
	bool json;
	bool recursive;
};

struct checker {
	const struct opts *o;
	struct wh_policy *policy;
	struct sg_arena arena;
	struct sg_buf body, answer;
	FILE *out, *err;
	cJSON *results; /* -o json: the objects */
	cJSON *errors;	/* -o json: the input errors */
	unsigned long seq;
	size_t checked, refused, defaulted, skipped, nerrors;
};

/* Where an object came from. */
struct origin {
	const char *file;
	size_t doc; /* 1-based */
	int line;
	int item; /* index in a List, or -1 */
};

static void input_error(struct checker *c, const char *file, int line, int col, const char *fmt,
			...) __attribute__((format(printf, 5, 6)));

static void input_error(struct checker *c, const char *file, int line, int col, const char *fmt,
			...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->nerrors++;
	if (line > 0 && col > 0)
		fprintf(c->err, "%s:%d:%d: %s\n", file, line, col, msg);
	else if (line > 0)
		fprintf(c->err, "%s:%d: %s\n", file, line, msg);
	else
		fprintf(c->err, "%s: %s\n", file, msg);
	if (c->errors) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "file", file);
		if (line > 0)
			cJSON_AddNumberToObject(e, "line", line);
		if (col > 0)
			cJSON_AddNumberToObject(e, "column", col);
		cJSON_AddStringToObject(e, "message", msg);
		cJSON_AddItemToArray(c->errors, e);
	}
}

/* Standard base64 (the patch field); NULL on bad input. */
static char *unbase64(const char *in, size_t *outlen)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	uint32_t acc = 0;
	int bits = 0;
	char *out = malloc(n / 4 * 3 + 4);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		const char *p = strchr(abc, in[i]);

		if (!p || !in[i]) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)(p - abc);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* One JSON Pointer segment, unescaped (~1 is '/', ~0 is '~'). */
static char *segment(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
			out[o++] = s[i + 1] == '1' ? '/' : '~';
			i++;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

/*
 * Applies one RFC 6902 "add" to doc, as evanphx/json-patch does in the
 * API server: the parent must exist; on an object the member is set
 * (replacing one of that name), on an array the value is inserted before
 * the index ("-" appends). The only op the webhook emits. 0, or -1.
 */
static int patch_add(cJSON *doc, const char *path, cJSON *value)
{
	cJSON *parent = doc;
	const char *p = path, *slash;
	char *key;
	int rc = -1;

	/* The whole document is never replaced: objects sit inside Lists. */
	if (path[0] != '/')
		goto fail;
	for (;;) {
		p++;
		slash = strchr(p, '/');
		key = segment(p, slash ? (size_t)(slash - p) : strlen(p));
		if (!key)
			goto fail;
		if (!slash)
			break;
		if (cJSON_IsObject(parent)) {
			parent = sg_json_get(parent, key);
		} else if (cJSON_IsArray(parent)) {
			char *end;
			long i = strtol(key, &end, 10);

			parent = *end || !key[0] ? NULL : cJSON_GetArrayItem(parent, (int)i);
		} else {
			parent = NULL;
		}
		free(key);
		if (!parent)
			goto fail;
		p = slash;
	}
	if (cJSON_IsObject(parent)) {
		cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
		cJSON_AddItemToObject(parent, key, value);
		rc = 0;
	} else if (cJSON_IsArray(parent)) {
		char *end;
		long i = strtol(key, &end, 10);
		int n = cJSON_GetArraySize(parent);

		if (strcmp(key, "-") == 0 || (!*end && key[0] && i == n)) {
			cJSON_AddItemToArray(parent, value);
			rc = 0;
		} else if (!*end && key[0] && i >= 0 && i < n) {
			rc = cJSON_InsertItemInArray(parent, (int)i, value) ? 0 : -1;
		}
	}
	free(key);
	if (rc == 0)
		return 0;
fail:
	cJSON_Delete(value);
	return -1;
}

/* The resource (plural) of a kind we check, for request.resource. */
static const char *resource_of(enum wh_kind k)
{
	switch (k) {
	case WH_KIND_POD:
		return "pods";
	case WH_KIND_SANDBOX:
		return "sandboxes";
	case WH_KIND_TEMPLATE:
		return "sandboxtemplates";
	case WH_KIND_CLAIM:
		return "sandboxclaims";
	case WH_KIND_NETPOL:
		return "networkpolicies";
	case WH_KIND_OTHER:
		break;
	}
	return "";
}

/*
 * Writes the AdmissionReview the API server would send for a CREATE of
 * obj (whose metadata.namespace is already set) by the options' user.
 */
static int build_review(struct checker *c, const char *group, const char *version, const char *kind,
			enum wh_kind k, const char *ns, const cJSON *obj)
{
	const char *name = sg_json_str(sg_json_get(obj, "metadata"), "name");
	struct sg_buf *b = &c->body;
	char *text = cJSON_PrintUnformatted(obj);
	int rc = 0;

	if (!text)
		return -ENOMEM;
	sg_buf_reset(b);
	rc = rc ? rc : sg_buf_printf(b, "{\"apiVersion\":\"admission.k8s.io/v1\",");
	rc = rc ? rc : sg_buf_printf(b, "\"kind\":\"AdmissionReview\",\"request\":{\"uid\":");
	rc = rc ? rc : sg_buf_printf(b, "\"check-%lu\",\"kind\":{\"group\":", ++c->seq);
	rc = rc ? rc : sg_buf_json_str(b, group);
	rc = rc ? rc : sg_buf_puts(b, ",\"version\":");
	rc = rc ? rc : sg_buf_json_str(b, version);
	rc = rc ? rc : sg_buf_puts(b, ",\"kind\":");
	rc = rc ? rc : sg_buf_json_str(b, kind);
	rc = rc ? rc : sg_buf_puts(b, "},\"resource\":{\"group\":");
	rc = rc ? rc : sg_buf_json_str(b, group);
	rc = rc ? rc : sg_buf_puts(b, ",\"version\":");
	rc = rc ? rc : sg_buf_json_str(b, version);
	rc = rc ? rc : sg_buf_printf(b, ",\"resource\":\"%s\"},\"name\":", resource_of(k));
	rc = rc ? rc : sg_buf_json_str(b, name ? name : "");
	rc = rc ? rc : sg_buf_puts(b, ",\"namespace\":");
	rc = rc ? rc : sg_buf_json_str(b, ns);
	rc = rc ? rc : sg_buf_puts(b, ",\"operation\":\"CREATE\",\"userInfo\":{\"username\":");
	rc = rc ? rc : sg_buf_json_str(b, c->o->user);
	rc = rc ? rc : sg_buf_puts(b, ",\"groups\":[");
	for (size_t i = 0; i < c->o->ngroups; i++) {
		rc = rc ? rc : sg_buf_json_str(b, c->o->groups[i]);
		rc = rc ? rc : sg_buf_putc(b, ',');
	}
	rc = rc ? rc : sg_buf_puts(b, "\"system:authenticated\"]},\"object\":");
	rc = rc ? rc : sg_buf_puts(b, text);
	rc = rc ? rc : sg_buf_puts(b, ",\"oldObject\":null,\"dryRun\":false,\"options\":{");
	rc = rc ? rc
		: sg_buf_puts(b, "\"apiVersion\":\"meta.k8s.io/v1\",\"kind\":\"CreateOptions\"}}}");
	cJSON_free(text);
	return rc;
}

/* Sends the review in c->body to one endpoint; the parsed response, or NULL. */
static cJSON *review(struct checker *c, enum wh_endpoint ep, const char **decision)
{
	struct wh_outcome res;
	int status;
	cJSON *resp;

	sg_buf_reset(&c->answer);
	status = wh_admit(c->policy, ep, c->body.data, c->body.len, &c->arena, &c->answer, &res);
	*decision = res.decision;
	if (status != 200)
		return NULL;
	resp = cJSON_ParseWithLength(c->answer.data, c->answer.len);
	if (!resp)
		return NULL;
	return resp;
}

static void add_strings(cJSON *to, const cJSON *from)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, from) if (cJSON_IsString(it))
		cJSON_AddItemToArray(to, cJSON_CreateString(it->valuestring));
}

/*
 * The problems in a denial message: "<Kind> <ns/name> violates the
 * sandbox isolation policy (N problems):\n- one\n- two".
 */
static void add_violations(cJSON *to, const char *message)
{
	const char *p = strstr(message, "\n- ");

	if (!p) {
		cJSON_AddItemToArray(to, cJSON_CreateString(message));
		return;
	}
	while (p) {
		const char *start = p + 3, *end = strstr(start, "\n- ");
		size_t n = end ? (size_t)(end - start) : strlen(start);
		char *one = malloc(n + 1);

		if (!one)
			return;
		memcpy(one, start, n);
		one[n] = '\0';
		cJSON_AddItemToArray(to, cJSON_CreateString(one));
		free(one);
		p = end;
	}
}

static void print_text(struct checker *c, const cJSON *r)
{
	const char *decision = sg_json_str(r, "decision");
	const cJSON *it;
	int nv = sg_json_count(sg_json_get(r, "violations"));
	const char *ns = sg_json_str(r, "namespace"), *audit = sg_json_str(r, "audit");

	fprintf(c->out, "%s:%d", sg_json_str(r, "file"), sg_json_get(r, "line")->valueint);
	if (sg_json_get(r, "item"))
		fprintf(c->out, " items[%d]", sg_json_get(r, "item")->valueint);
	fprintf(c->out, " %s %s%s%s: %s", sg_json_str(r, "kind"), ns, ns[0] ? "/" : "",
		sg_json_str(r, "name"), decision);
	if (nv)
		fprintf(c->out, " (%d problem%s)", nv, nv == 1 ? "" : "s");
	fputc('\n', c->out);
	cJSON_ArrayForEach(it, sg_json_get(r, "violations"))
		fprintf(c->out, "  - %s\n", it->valuestring);
	cJSON_ArrayForEach(it, sg_json_get(r, "defaults"))
	{
		char *v = cJSON_PrintUnformatted(sg_json_get(it, "value"));

		fprintf(c->out, "  default: %s = %s\n", sg_json_str(it, "path"), v ? v : "?");
		cJSON_free(v);
	}
	cJSON_ArrayForEach(it, sg_json_get(r, "warnings"))
		fprintf(c->out, "  warning: %s\n", it->valuestring);
	if (audit)
		fprintf(c->out, "  audit: %s\n", audit);
	cJSON_ArrayForEach(it, sg_json_get(r, "notes"))
		fprintf(c->out, "  note: %s\n", it->valuestring);
}

/* Splits apiVersion into group and version ("v1" is the core group). */
static void split_api_version(const char *av, char *group, size_t gn, char *version, size_t vn)
{
	const char *slash = strchr(av, '/');

	if (slash) {
		snprintf(group, gn, "%.*s", (int)(slash - av), av);
		snprintf(version, vn, "%s", slash + 1);
	} else {
		snprintf(group, gn, "%s", "");
		snprintf(version, vn, "%s", av);
	}
}

/* Decides one object (obj is the caller's and may be changed). */
static void check_object(struct checker *c, const struct origin *at, cJSON *obj)
{
	const char *av = sg_json_str(obj, "apiVersion"), *kind = sg_json_str(obj, "kind");
	const char *decision = "invalid", *ns, *name, *gen, *d1 = "", *d2 = "";
	char group[256], version[64], display[300];
	cJSON *meta, *mut = NULL, *val = NULL, *r = NULL, *defaults, *warnings, *ops = NULL;
	enum wh_kind k;
	bool refused, token_note = false;

	if (!cJSON_IsObject(obj) || !av || !kind || !av[0] || !kind[0]) {
		input_error(c, at->file, at->line, 0,
			    "document %zu%s: not a Kubernetes object (apiVersion and kind are "
			    "required)",
			    at->doc, at->item >= 0 ? " (a List item)" : "");
		return;
	}
	split_api_version(av, group, sizeof(group), version, sizeof(version));
	k = wh_kind_of(group, kind);
	if (k == WH_KIND_OTHER) {
		c->skipped++;
		return;
	}
	meta = sg_json_get(obj, "metadata");
	if (meta && !cJSON_IsObject(meta)) {
		input_error(c, at->file, at->line, 0, "document %zu: metadata is not an object",
			    at->doc);
		return;
	}
	if (!meta)
		meta = cJSON_AddObjectToObject(obj, "metadata");
	ns = sg_json_str(meta, "namespace");
	if (!ns && !sg_json_unset(meta, "namespace")) {
		input_error(c, at->file, at->line, 0,
			    "document %zu: metadata.namespace is not a string", at->doc);
		return;
	}
	if (ns && ns[0] && c->o->ns && strcmp(ns, c->o->ns) != 0) {
		/* kubectl refuses this too, rather than pick one. */
		input_error(c, at->file, at->line, 0,
			    "document %zu: %s namespace '%s' does not match --namespace '%s'",
			    at->doc, kind, ns, c->o->ns);
		return;
	}
	if (!ns || !ns[0]) {
		/* The API server sets it before admission. */
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
		cJSON_AddStringToObject(meta, "namespace", c->o->ns ? c->o->ns : "default");
		ns = sg_json_str(meta, "namespace");
	}
	name = sg_json_str(meta, "name");
	gen = sg_json_str(meta, "generateName");
	if (name && name[0])
		snprintf(display, sizeof(display), "%s", name);
	else if (gen && gen[0])
		snprintf(display, sizeof(display), "%s*", gen);
	else
		snprintf(display, sizeof(display), "(unnamed)");

	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "file", at->file);
	cJSON_AddNumberToObject(r, "document", (double)at->doc);
	cJSON_AddNumberToObject(r, "line", at->line);
	if (at->item >= 0)
		cJSON_AddNumberToObject(r, "item", at->item);
	cJSON_AddStringToObject(r, "apiVersion", av);
	cJSON_AddStringToObject(r, "kind", kind);
	cJSON_AddStringToObject(r, "namespace", ns);
	cJSON_AddStringToObject(r, "name", display);

	/* The mutating webhook first, its patch applied as the API server applies it. */
	if (build_review(c, group, version, kind, k, ns, obj) != 0 ||
	    !(mut = review(c, WH_MUTATE, &d1)))
		goto broken;
	defaults = cJSON_AddArrayToObject(r, "defaults");
	warnings = cJSON_AddArrayToObject(r, "warnings");
	add_strings(warnings, sg_json_path(mut, "response", "warnings", NULL));
	{
		const char *b64 = sg_json_str(sg_json_get(mut, "response"), "patch");

		if (b64) {
			size_t n;
			char *text = unbase64(b64, &n);
			const cJSON *op;

			ops = text ? cJSON_ParseWithLength(text, n) : NULL;
			free(text);
			if (!cJSON_IsArray(ops))
				goto broken;
			cJSON_ArrayForEach(op, ops)
			{
				const char *path = sg_json_str(op, "path");
				const cJSON *value = sg_json_get(op, "value");

				if (!path || !value || !sg_json_str(op, "op") ||
				    strcmp(sg_json_str(op, "op"), "add") != 0 ||
				    patch_add(obj, path, cJSON_Duplicate(value, 1)) != 0)
					goto broken;
				cJSON_AddItemToArray(defaults, cJSON_Duplicate(op, 1));
				if (k == WH_KIND_POD &&
				    strcmp(path, "/spec/automountServiceAccountToken") == 0)
					token_note = true;
			}
		}
	}
	/* Then the validating webhook sees the patched object. */
	if (build_review(c, group, version, kind, k, ns, obj) != 0 ||
	    !(val = review(c, WH_VALIDATE, &d2)))
		goto broken;
	{
		const cJSON *resp = sg_json_get(val, "response");
		const char *message = sg_json_str(sg_json_get(resp, "status"), "message");
		cJSON *v = cJSON_AddArrayToObject(r, "violations");
		const cJSON *a;

		refused = !sg_json_true(resp, "allowed");
		if (refused && message)
			add_violations(v, message);
		add_strings(warnings, sg_json_get(resp, "warnings"));
		cJSON_ArrayForEach(a, sg_json_get(resp, "auditAnnotations")) if (cJSON_IsString(a))
			cJSON_AddStringToObject(r, "audit", a->valuestring);
	}
	if (strcmp(d2, "exempt") == 0)
		decision = "exempt";
	else if (refused)
		decision = "refused";
	else if (strcmp(d2, "warned") == 0)
		decision = "warned";
	else if (strcmp(d2, "audited") == 0)
		decision = "audited";
	else
		decision = "allowed";
	cJSON_AddStringToObject(r, "decision", decision);
	if (token_note)
		/*
		 * In a cluster the API server's ServiceAccount admission plugin runs
		 * before any webhook and mounts a token volume unless the pod (or its
		 * ServiceAccount) says automountServiceAccountToken: false; the
		 * webhook then refuses the pod. A manifest does not show that
		 * volume, so say it rather than answer for a plugin we do not run.
		 */
		cJSON_AddItemToArray(
			cJSON_AddArrayToObject(r, "notes"),
			cJSON_CreateString(
				"spec.automountServiceAccountToken is not set: in a cluster the "
				"ServiceAccount admission plugin mounts an API token before the "
				"webhook runs, and the webhook then refuses the pod, unless its "
				"ServiceAccount sets automountServiceAccountToken: false; set it "
				"to "
				"false in the pod"));
	c->checked++;
	if (refused)
		c->refused++;
	if (sg_json_count(defaults))
		c->defaulted++;
	if (c->results)
		cJSON_AddItemToArray(c->results, r);
	else
		print_text(c, r);
	if (!c->results)
		cJSON_Delete(r);
	cJSON_Delete(mut);
	cJSON_Delete(val);
	cJSON_Delete(ops);
	return;
broken:
	input_error(c, at->file, at->line, 0,
		    "document %zu: %s %s/%s could not be reviewed (%s); please report this",
		    at->doc, kind, ns, display, c->answer.len ? c->answer.data : "no answer");
	cJSON_Delete(r);
	cJSON_Delete(mut);
	cJSON_Delete(val);
	cJSON_Delete(ops);
}

/* An object, or each item of a List kind (kubectl unwraps any kind ending in "List"). */
static void check_node(struct checker *c, const struct origin *at, cJSON *obj, int nest)
{
	const char *kind = sg_json_str(obj, "kind");
	size_t kl = kind ? strlen(kind) : 0;
	cJSON *items = sg_json_get(obj, "items");

	if (kl >= 4 && strcmp(kind + kl - 4, "List") == 0 && cJSON_IsArray(items) &&
	    nest < MAX_LIST_NEST) {
		struct origin in = *at;
		cJSON *it;
		int i = 0;

		cJSON_ArrayForEach(it, items)
		{
			in.item = i++;
			check_node(c, &in, it, nest + 1);
		}
		return;
	}
	check_object(c, at, obj);
}

static bool looks_like_json(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	return i < len && text[i] == '{';
}

struct stream {
	struct checker *c;
	const char *file;
	size_t doc;
};

/* One document of a YAML stream, checked as soon as it is read. */
static void check_document(void *arg, cJSON *tree, int line)
{
	struct stream *st = arg;
	struct origin o = {st->file, ++st->doc, line, -1};

	if (tree)
		check_node(st->c, &o, tree, 0);
	cJSON_Delete(tree);
}

static void check_text(struct checker *c, const char *file, const char *text, size_t len)
{
	struct stream st = {c, file, 0};
	char *cause = NULL;
	int at[2] = {0, 0};

	if (looks_like_json(text, len)) {
		/*
		 * JSON, as kubectl decides it (k8s.io/apimachinery's YAMLOrJSONDecoder):
		 * a stream that starts with '{' is read by the JSON parser only.
		 */
		cJSON *tree = sg_json_parse(text, len, &cause);

		if (!tree) {
			input_error(c, file, 0, 0, "invalid JSON: %s", cause ? cause : "?");
			free(cause);
			return;
		}
		check_document(&st, tree, 1);
	} else if (sg_yaml_each_document(text, len, check_document, &st, at, &cause) != 0) {
		/* cause starts "line L, column C: "; the prefix says it the compiler way. */
		const char *what = strstr(cause, ": ");

		input_error(c, file, at[0], at[1], "invalid YAML: %s",
			    at[0] && what ? what + 2 : cause);
		free(cause);
	}
}

static void check_file(struct checker *c, const char *path, const char *shown)
{
	struct sg_buf b;
	int rc;

	sg_buf_init(&b, WH_CHECK_MAX_FILE);
	rc = sg_buf_read_file(&b, path);
	if (rc == -E2BIG)
		input_error(c, shown, 0, 0, "larger than %u MiB", WH_CHECK_MAX_FILE >> 20);
	else if (rc != 0)
		input_error(c, shown, 0, 0, "cannot read: %s", strerror(-rc));
	else
		check_text(c, shown, b.data ? b.data : "", b.len);
	sg_buf_release(&b);
}

static bool manifest_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
				  (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
				  (n > 5 && strcmp(name + n - 5, ".json") == 0));
}

static void check_path(struct checker *c, const char *path, int depth);

/* A directory's manifests, in name order (stable output for CI logs). */
static void check_dir(struct checker *c, const char *path, int depth)
{
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);

	if (n < 0) {
		input_error(c, path, 0, 0, "cannot read directory: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		char full[4096];
		struct stat st;

		snprintf(full, sizeof(full), "%s%s%s", path,
			 path[strlen(path) - 1] == '/' ? "" : "/", names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(full, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				if (c->o->recursive && depth < 32)
					check_path(c, full, depth + 1);
			} else if (manifest_name(names[i]->d_name)) {
				check_file(c, full, full);
			}
		}
		free(names[i]);
	}
	free(names);
}

static void check_path(struct checker *c, const char *path, int depth)
{
	struct stat st;

	if (strcmp(path, "-") == 0) {
		check_file(c, "/dev/stdin", "-");
		return;
	}
	if (stat(path, &st) != 0) {
		input_error(c, path, 0, 0, "%s", strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode))
		check_dir(c, path, depth);
	else
		check_file(c, path, path);
}

enum { OPT_POLICY = 1000, OPT_USER, OPT_GROUP, OPT_HELP };

static const struct option long_options[] = {
	{"policy", required_argument, NULL, OPT_POLICY},
	{"namespace", required_argument, NULL, 'n'},
	{"user", required_argument, NULL, OPT_USER},
	{"group", required_argument, NULL, OPT_GROUP},
	{"output", required_argument, NULL, 'o'},
	{"recursive", no_argument, NULL, 'R'},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static int usage_error(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(FILE *err, const char *fmt, ...)
{
	va_list ap;

	fputs("sandbox-guard-webhook check: ", err);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputs("\n(sandbox-guard-webhook check --help for usage)\n", err);
	return 2;
}

int wh_check_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct opts o = {.user = WH_CHECK_DEFAULT_USER};
	struct checker c;
	char *cause = NULL;
	int opt, status;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:o:R", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_POLICY:
			o.policy = optarg;
			break;
		case 'n':
			if (!optarg[0])
				return usage_error(err, "--namespace must not be empty");
			o.ns = optarg;
			break;
		case OPT_USER:
			o.user = optarg;
			break;
		case OPT_GROUP:
			if (o.ngroups == MAX_GROUPS)
				return usage_error(err, "at most %d --group flags", MAX_GROUPS);
			o.groups[o.ngroups++] = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				o.json = true;
			else if (strcmp(optarg, "text") != 0)
				return usage_error(err, "-o '%s': use text or json", optarg);
			break;
		case 'R':
			o.recursive = true;
			break;
		case OPT_HELP:
			fputs(usage, out);
			return 0;
		case ':':
			return usage_error(err, "%s needs a value", argv[optind - 1]);
		default:
			return usage_error(err, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error(err, "no FILE, DIR or - given");

	memset(&c, 0, sizeof(c));
	c.o = &o;
	c.out = out;
	c.err = err;
	c.policy = o.policy ? wh_policy_load(o.policy, &cause)
			    : wh_policy_parse(wh_default_policy_json,
					      strlen(wh_default_policy_json), "built-in", &cause);
	if (!c.policy) {
		fprintf(err, "sandbox-guard-webhook check: %s\n", cause ? cause : "out of memory");
		free(cause);
		return 2;
	}
	sg_arena_init(&c.arena, WH_ARENA_CHUNK, WH_ARENA_MAX);
	sg_buf_init(&c.body, WH_CHECK_MAX_FILE + (1u << 20));
	sg_buf_init(&c.answer, WH_CHECK_MAX_FILE + (1u << 20));
	if (o.json) {
		c.results = cJSON_CreateArray();
		c.errors = cJSON_CreateArray();
	}
	for (int i = optind; i < argc; i++)
		check_path(&c, argv[i], 0);

	if (o.json) {
		cJSON *doc = cJSON_CreateObject(), *sum;
		char *text;

		cJSON_AddItemToObject(doc, "objects", c.results);
		cJSON_AddItemToObject(doc, "errors", c.errors);
		sum = cJSON_AddObjectToObject(doc, "summary");
		cJSON_AddNumberToObject(sum, "checked", (double)c.checked);
		cJSON_AddNumberToObject(sum, "refused", (double)c.refused);
		cJSON_AddNumberToObject(sum, "defaulted", (double)c.defaulted);
		cJSON_AddNumberToObject(sum, "skipped", (double)c.skipped);
		cJSON_AddNumberToObject(sum, "errors", (double)c.nerrors);
		text = cJSON_Print(doc);
		if (text)
			fprintf(out, "%s\n", text);
		cJSON_free(text);
		cJSON_Delete(doc);
	} else {
		fprintf(out,
			"%zu object%s checked: %zu refused, %zu admitted (%zu with defaults); "
			"%zu skipped (other kinds)%s",
			c.checked, c.checked == 1 ? "" : "s", c.refused, c.checked - c.refused,
			c.defaulted, c.skipped, c.nerrors ? "" : "\n");
		if (c.nerrors)
			fprintf(out, "; %zu input error%s\n", c.nerrors, c.nerrors == 1 ? "" : "s");
	}
	status = c.nerrors ? 2 : c.refused ? 1 : 0;
	sg_buf_release(&c.body);
	sg_buf_release(&c.answer);
	sg_arena_release(&c.arena);
	wh_policy_free(c.policy);
	return status;
}
