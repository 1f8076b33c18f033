#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "sg_json.h"
#include "sg_yaml.h"

static cJSON *yaml(const char *text)
{
	char *cause = NULL;
	cJSON *j = sg_yaml_parse(text, strlen(text), &cause);

	cr_assert_not_null(j, "%s", cause);
	return j;
}

static void bad(const char *text, const char *needle)
{
	char *cause = NULL;

	cr_assert_null(sg_yaml_parse(text, strlen(text), &cause), "accepted: %s", text);
	cr_assert(strstr(cause, needle), "'%s' not in '%s'", needle, cause);
	free(cause);
}

Test(yaml, kubectl_style_kubeconfig)
{
	cJSON *j = yaml("apiVersion: v1\n"
			"clusters:\n"
			"- cluster:\n"
			"    certificate-authority-data: LS0tLS1CRUdJTg==\n"
			"    server: https://127.0.0.1:6443   # the API\n"
			"  name: kind-kind\n"
			"contexts:\n"
			"- context:\n"
			"    cluster: kind-kind\n"
			"    user: kind-kind\n"
			"  name: kind-kind\n"
			"current-context: kind-kind\n"
			"kind: Config\n"
			"preferences: {}\n"
			"users:\n"
			"- name: kind-kind\n"
			"  user:\n"
			"    token: 'abc''def'\n"
			"    tokenFile: \"/var/run/token\\u0041\"\n");
	const cJSON *cl = sg_json_get(cJSON_GetArrayItem(sg_json_get(j, "clusters"), 0), "cluster");
	const cJSON *user = sg_json_get(cJSON_GetArrayItem(sg_json_get(j, "users"), 0), "user");

	cr_assert_str_eq(sg_json_str(cl, "server"), "https://127.0.0.1:6443");
	cr_assert_str_eq(sg_json_str(j, "current-context"), "kind-kind");
	cr_assert(cJSON_IsObject(sg_json_get(j, "preferences")));
	cr_assert_str_eq(sg_json_str(user, "token"), "abc'def");
	cr_assert_str_eq(sg_json_str(user, "tokenFile"), "/var/run/tokenA");
	cJSON_Delete(j);
}

Test(yaml, indented_sequences_and_json)
{
	cJSON *j = yaml("---\nusers:\n  - name: a\n    user:\n      token: t\n  - name: b\n");

	cr_assert_eq(cJSON_GetArraySize(sg_json_get(j, "users")), 2);
	cJSON_Delete(j);
	j = yaml("{\"current-context\": \"x\"}");
	cr_assert_str_eq(sg_json_str(j, "current-context"), "x");
	cJSON_Delete(j);
	j = yaml("args: [\"--a\", \"b\"]\n");
	cr_assert_eq(cJSON_GetArraySize(sg_json_get(j, "args")), 2);
	cJSON_Delete(j);
}

Test(yaml, refuses_what_it_does_not_understand)
{
	bad("a: &x 1\nb: *x\n", "anchors");
	bad("a: |\n  text\n", "block scalars");
	bad("a: 1\n---\nb: 2\n", "more than one YAML document");
	bad("a:\n\tb: 1\n", "tab");
	bad("a: 1\n  b: 2\n", "line 2");
	bad("just words\nmore\n", "unexpected");
	bad("", "empty");
}

Test(yaml, refuses_duplicate_keys_in_every_form)
{
	/* kubectl keeps the last of two equal keys, cJSON lookups the first. */
	bad("users:\n- name: u\n  user:\n    token: a\n    token: b\n", "line 5: duplicate key");
	bad("a: 1\nb: 2\na: 3\n", "line 3: duplicate key");
	bad("a: {\"x\": 1, \"x\": 2}\n", "duplicate key 'x'");
	bad("{\"users\": [{\"user\": {\"token\": \"a\", \"token\": \"b\"}}]}",
	    "duplicate key 'token'");
}
