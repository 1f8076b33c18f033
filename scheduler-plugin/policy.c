#include "policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_buf.h"
#include "sg_json.h"
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

/* Applies the fields of doc onto p. */
static struct ex_policy *apply(struct ex_policy *p, const cJSON *doc, const char *origin,
			       char **cause)
{
	const cJSON *it, *v;

	if (!cJSON_IsObject(doc))
		return fail(p, cause, "%s: the policy must be a JSON object", origin);
	cJSON_ArrayForEach(it, doc)
	{
		if (strcmp(it->string, "maxSandboxPodsPerNode") == 0) {
			if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
			    it->valuedouble > 100000 ||
			    it->valuedouble != (double)(unsigned)it->valuedouble)
				return fail(
					p, cause,
					"%s: maxSandboxPodsPerNode must be a whole number from 0 "
					"(no cap) to 100000",
					origin);
			p->max_per_node = (unsigned)it->valuedouble;
		} else if (strcmp(it->string, "closedLabel") == 0) {
			if (!cJSON_IsString(it))
				return fail(p, cause,
					    "%s: closedLabel must be a string (\"\" for none)",
					    origin);
			free(p->closed_label);
			p->closed_label = it->valuestring[0] ? strdup(it->valuestring) : NULL;
		} else if (strcmp(it->string, "templateFreshnessSeconds") == 0) {
			if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
			    it->valuedouble > 30 * 86400)
				return fail(p, cause,
					    "%s: templateFreshnessSeconds must be 0 to 2592000",
					    origin);
			p->freshness = it->valuedouble;
		} else if (strcmp(it->string, "runtimeClassNodeLabels") == 0) {
			if (!cJSON_IsObject(it))
				return fail(
					p, cause,
					"%s: runtimeClassNodeLabels must map RuntimeClass names to "
					"\"key\" or \"key=value\"",
					origin);
			for (size_t i = 0; i < p->nruntimes; i++) {
				free(p->runtimes[i].runtime);
				free(p->runtimes[i].key);
				free(p->runtimes[i].value);
			}
			free(p->runtimes);
			p->nruntimes = 0;
			p->runtimes = calloc((size_t)sg_json_count(it) + 1, sizeof(*p->runtimes));
			if (!p->runtimes)
				return fail(p, cause, "out of memory");
			cJSON_ArrayForEach(v, it)
			{
				struct ex_runtime_label *r = &p->runtimes[p->nruntimes];
				const char *eq;

				if (!cJSON_IsString(v) || !v->valuestring[0] ||
				    v->valuestring[0] == '=')
					return fail(
						p, cause,
						"%s: runtimeClassNodeLabels.%s must be \"key\" or "
						"\"key=value\"",
						origin, v->string);
				eq = strchr(v->valuestring, '=');
				r->runtime = strdup(v->string);
				r->key = eq ? strndup(v->valuestring, (size_t)(eq - v->valuestring))
					    : strdup(v->valuestring);
				r->value = eq ? strdup(eq + 1) : NULL;
				p->nruntimes++;
				if (!r->runtime || !r->key || (eq && !r->value))
					return fail(p, cause, "out of memory");
			}
		} else {
			return fail(p, cause, "%s: unknown field '%s' in policy", origin,
				    it->string);
		}
	}
	return p;
}

struct ex_policy *ex_policy_parse(const char *text, size_t len, const char *origin, char **cause)
{
	struct ex_policy *p = calloc(1, sizeof(*p));
	char *err = NULL;
	cJSON *def, *doc;

	if (!p || !(p->origin = strdup(origin)))
		return fail(p, cause, "out of memory");
	def = sg_json_parse(ex_default_policy_json, strlen(ex_default_policy_json), &err);
	if (!def)
		return fail(p, cause, "built-in default: %s", err);
	p = apply(p, def, "built-in default", cause);
	cJSON_Delete(def);
	if (!p)
		return NULL;
	doc = sg_config_parse(text, len, &err); /* JSON or YAML */
	if (!doc) {
		p = fail(p, cause, "%s: %s", origin, err);
		free(err);
		return p;
	}
	p = apply(p, doc, origin, cause);
	cJSON_Delete(doc);
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
