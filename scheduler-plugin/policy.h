/*
 * policy: what the extender's filter refuses, and the scoring window.
 *
 *   {
 *     "maxSandboxPodsPerNode": 0,
 *     "closedLabel": "sandbox-guard.io/no-sandboxes",
 *     "runtimeClassNodeLabels": {"kata": "katacontainers.io/kata-runtime=true"},
 *     "templateFreshnessSeconds": 3600
 *   }
 *
 * Parsed as strictly as the webhook's policy (unknown fields and wrong
 * types are errors that name the field); a field left out keeps its
 * default. docs/extender.md documents each field.
 */
#ifndef EX_POLICY_H
#define EX_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct ex_runtime_label {
	char *runtime;
	char *key;
	char *value; /* NULL: the key must exist, any value */
};

struct ex_policy {
	unsigned max_per_node; /* 0: no cap */
	char *closed_label;    /* NULL: no closing label */
	struct ex_runtime_label *runtimes;
	size_t nruntimes;
	double freshness; /* seconds a template counts as "seen" after its last pod left */
	char *origin;
};

extern const char ex_default_policy_json[];

/* Parses a policy; NULL with *cause naming the problem. */
struct ex_policy *ex_policy_parse(const char *text, size_t len, const char *origin, char **cause);
struct ex_policy *ex_policy_load(const char *path, char **cause);
void ex_policy_free(struct ex_policy *p);

/* The node label a RuntimeClass needs, or NULL. */
const struct ex_runtime_label *ex_policy_runtime(const struct ex_policy *p, const char *runtime);

#endif
