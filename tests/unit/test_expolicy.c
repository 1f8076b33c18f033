#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

/* The extender's policy.h, through extender.h: webhook/ has a policy.h too. */
#include "extender.h"

static struct ex_policy *parse(const char *text, char **cause)
{
	*cause = NULL;
	return ex_policy_parse(text, strlen(text), "test.json", cause);
}

/* The policy is refused with a message that names the file and holds want. */
static void expect_error(const char *text, const char *want)
{
	char *cause;
	struct ex_policy *p = parse(text, &cause);

	cr_assert_null(p, "accepted: %s", text);
	cr_assert_not_null(cause);
	cr_assert_str_eq(cause, want);
	free(cause);
}

Test(expolicy, defaults_and_fields)
{
	char *cause;
	struct ex_policy *p = parse("{}", &cause);

	cr_assert_not_null(p, "%s", cause);
	cr_assert_eq(p->max_per_node, 0);
	cr_assert_str_eq(p->closed_label, "sandbox-guard.io/no-sandboxes");
	cr_assert_eq(p->freshness, 3600);
	cr_assert_eq(p->nruntimes, 0);
	ex_policy_free(p);
	p = parse("{\"maxSandboxPodsPerNode\":3,\"closedLabel\":\"\",\"templateFreshnessSeconds\":"
		  "60.5,\"runtimeClassNodeLabels\":{\"kata\":\"k=v\",\"gvisor\":\"g\"}}",
		  &cause);
	cr_assert_not_null(p, "%s", cause);
	cr_assert_eq(p->max_per_node, 3);
	cr_assert_null(p->closed_label, "\"\" means no closing label");
	cr_assert_eq(p->freshness, 60.5);
	cr_assert_str_eq(ex_policy_runtime(p, "kata")->key, "k");
	cr_assert_str_eq(ex_policy_runtime(p, "kata")->value, "v");
	cr_assert_null(ex_policy_runtime(p, "gvisor")->value);
	ex_policy_free(p);
}

Test(expolicy, errors_name_the_file_and_the_field)
{
	expect_error("{\"maxNodes\":1}", "test.json: unknown field 'maxNodes' in policy");
	expect_error("[]", "test.json: the policy must be a JSON object");
	expect_error("{\"maxSandboxPodsPerNode\":-1}",
		     "test.json: policy.maxSandboxPodsPerNode must be a whole number from 0 to "
		     "100000 (0: no cap)");
	expect_error("{\"maxSandboxPodsPerNode\":2.5}",
		     "test.json: policy.maxSandboxPodsPerNode must be a whole number from 0 to "
		     "100000 (0: no cap)");
	expect_error("{\"closedLabel\":false}",
		     "test.json: policy.closedLabel must be a string (\"\" for none)");
	expect_error("{\"templateFreshnessSeconds\":2592001}",
		     "test.json: policy.templateFreshnessSeconds must be a number of seconds from "
		     "0 to 2592000");
	expect_error("{\"runtimeClassNodeLabels\":[]}",
		     "test.json: policy.runtimeClassNodeLabels must map RuntimeClass names to "
		     "\"key\" or \"key=value\"");
	expect_error("{\"runtimeClassNodeLabels\":{\"kata\":\"=v\"}}",
		     "test.json: policy.runtimeClassNodeLabels.kata must be \"key\" or "
		     "\"key=value\"");
}
