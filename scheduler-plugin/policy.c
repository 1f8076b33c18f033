#include "policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_buf.h"
#include "sg_json.h"
#include "sg_schema.h"
#include "sg_yaml.h"

#define MAX_SIZE (1u << 20)

const char ex_default_policy_json[] = "{\n"
				      "  \"maxSandboxPodsPerNode\": 0,\n"
				      "  \"closedLabel\": \"sandbox-guard.io/no-sandboxes\",\n"
				      "  \"runtimeClassNodeLabels\": {},\n"
				      "  \"templateFreshnessSeconds\": 3600\n"
				      "}\n";

static struct ex_policy *fail(struct ex_policy *p, char **cause, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct ex_policy *fail(struct ex_policy *p, char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_vfailf(cause, fmt, ap);
	va_end(ap);
	ex_policy_free(p);
	return NULL;
}

/* Says which file the problem is in: *cause becomes "<origin>: <cause>". */
static void prefix_origin(char **cause, const char *origin)
{
	char *inner = *cause;

	sg_failf(cause, "%s: %s", origin, inner ? inner : "out of memory");
	free(inner);
}

static void runtimes_clear(struct ex_policy *p)
{
	for (size_t i = 0; i < p->nruntimes; i++) {
		free(p->runtimes[i].runtime);
		free(p->runtimes[i].key);
		free(p->runtimes[i].value);
	}
	free(p->runtimes);
	p->runtimes = NULL;
	p->nruntimes = 0;
}

/* runtimeClassNodeLabels: {"<RuntimeClass>": "key" or "key=value"}; replaces the whole map. */
static int parse_runtimes(struct ex_policy *p, const cJSON *it, const char *where, char **cause)
{
	const cJSON *v;

	if (!cJSON_IsObject(it))
		return sg_schema_fail(cause,
				      "%s.runtimeClassNodeLabels must map RuntimeClass names to "
				      "\"key\" or \"key=value\"",
				      where);
	runtimes_clear(p);
	p->runtimes = calloc((size_t)sg_json_count(it) + 1, sizeof(*p->runtimes));
	if (!p->runtimes)
		return sg_schema_oom(cause);
	cJSON_ArrayForEach(v, it)
	{
		struct ex_runtime_label *r = &p->runtimes[p->nruntimes];
		const char *eq;

		if (!cJSON_IsString(v) || !v->valuestring[0] || v->valuestring[0] == '=')
			return sg_schema_fail(cause,
					      "%s.runtimeClassNodeLabels.%s must be \"key\" or "
					      "\"key=value\"",
					      where, v->string);
		eq = strchr(v->valuestring, '=');
		r->runtime = strdup(v->string);
		r->key = eq ? strndup(v->valuestring, (size_t)(eq - v->valuestring))
			    : strdup(v->valuestring);
		r->value = eq ? strdup(eq + 1) : NULL;
		p->nruntimes++;
		if (!r->runtime || !r->key || (eq && !r->value))
			return sg_schema_oom(cause);
	}
	return 0;
}

/*
 * Applies the fields present in doc (the policy object, at path where)
 * onto p; a field left out keeps its value. 0, or -EINVAL / -ENOMEM with
 * *cause naming the field.
 */
static int apply(struct ex_policy *p, const cJSON *doc, const char *where, char **cause)
{
	static const char *const keys[] = {"maxSandboxPodsPerNode", "closedLabel",
					   "templateFreshnessSeconds", "runtimeClassNodeLabels",
					   NULL};
	const cJSON *closed = sg_json_get(doc, "closedLabel"), *rt;
	long max = p->max_per_node;
	int rc;

	if ((rc = sg_schema_only_keys(doc, where, keys, cause)) != 0 ||
	    (rc = sg_schema_int(doc, "maxSandboxPodsPerNode", where, 0, 100000, "0: no cap", &max,
				cause)) != 0 ||
	    (rc = sg_schema_duration(doc, "templateFreshnessSeconds", where, 0, 30 * 86400,
				     &p->freshness, cause)) != 0)
		return rc;
	p->max_per_node = (unsigned)max;
	if (closed) {
		if (!cJSON_IsString(closed))
			return sg_schema_fail(
				cause, "%s.closedLabel must be a string (\"\" for none)", where);
		/* Out of memory must not quietly mean "no closing label". */
		free(p->closed_label);
		p->closed_label = NULL;
		if (closed->valuestring[0] && !(p->closed_label = strdup(closed->valuestring)))
			return sg_schema_oom(cause);
	}
	rt = sg_json_get(doc, "runtimeClassNodeLabels");
	if (rt && (rc = parse_runtimes(p, rt, where, cause)) != 0)
		return rc;
	return 0;
}

struct ex_policy *ex_policy_parse(const char *text, size_t len, const char *origin, char **cause)
{
	struct ex_policy *p = calloc(1, sizeof(*p));
	char *err = NULL;
	cJSON *def, *doc;
	int rc;

	if (!p || !(p->origin = strdup(origin)))
		return fail(p, cause, "out of memory");
	def = sg_json_parse(ex_default_policy_json, strlen(ex_default_policy_json), &err);
	if (!def)
		return fail(p, cause, "built-in default: %s", err);
	rc = apply(p, def, "built-in default", cause);
	cJSON_Delete(def);
	if (rc) {
		ex_policy_free(p);
		return NULL;
	}
	doc = sg_config_parse(text, len, &err); /* JSON or YAML */
	if (!doc) {
		p = fail(p, cause, "%s: %s", origin, err);
		free(err);
		return p;
	}
	if (!cJSON_IsObject(doc))
		rc = sg_schema_fail(cause, "%s: the policy must be a JSON object", origin);
	else if ((rc = apply(p, doc, "policy", cause)) != 0)
		prefix_origin(cause, origin);
	cJSON_Delete(doc);
	if (rc) {
		ex_policy_free(p);
		return NULL;
	}
	return p;
}

struct ex_policy *ex_policy_load(const char *path, char **cause)
{
	struct sg_buf b;
	struct ex_policy *p;
	int rc;

	sg_buf_init(&b, MAX_SIZE);
	if ((rc = sg_buf_read_file(&b, path)) != 0) {
		sg_buf_release(&b);
		return fail(NULL, cause, "cannot read policy '%s': %s", path,
			    rc == -E2BIG ? "larger than 1 MiB" : strerror(-rc));
	}
	p = ex_policy_parse(b.data ? b.data : "", b.len, path, cause);
	sg_buf_release(&b);
	return p;
}

void ex_policy_free(struct ex_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nruntimes; i++) {
		free(p->runtimes[i].runtime);
		free(p->runtimes[i].key);
		free(p->runtimes[i].value);
	}
	free(p->runtimes);
	free(p->closed_label);
	free(p->origin);
	free(p);
}

const struct ex_runtime_label *ex_policy_runtime(const struct ex_policy *p, const char *runtime)
{
	if (!runtime)
		return NULL;
	for (size_t i = 0; i < p->nruntimes; i++)
		if (strcmp(p->runtimes[i].runtime, runtime) == 0)
			return &p->runtimes[i];
	return NULL;
}
