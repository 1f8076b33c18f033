#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "sg_json.h"

static cJSON *parse(const char *s, char **cause)
{
	*cause = NULL;
	return sg_json_parse(s, strlen(s), cause);
}

Test(json, rejects_trailing_data)
{
	char *cause;

	cr_assert_null(parse("{} x", &cause));
	cr_assert(strstr(cause, "trailing data"), "%s", cause);
	free(cause);
}

Test(json, accepts_trailing_whitespace)
{
	char *cause;
	cJSON *j = parse("{\"a\":1} \r\n\t", &cause);

	cr_assert_not_null(j);
	cJSON_Delete(j);
}

Test(json, rejects_empty_and_invalid_with_a_reason)
{
	char *cause;

	cr_assert_null(sg_json_parse("", 0, &cause));
	cr_assert(strstr(cause, "empty"));
	free(cause);
	cr_assert_null(parse("{\"a\":", &cause));
	cr_assert(strstr(cause, "invalid JSON"));
	free(cause);
}

Test(json, parses_only_the_given_length)
{
	char *cause = NULL;
	const char text[] = "{\"a\":1}garbage";
	cJSON *j = sg_json_parse(text, 7, &cause);

	cr_assert_not_null(j);
	cJSON_Delete(j);
}

Test(json, duplicate_keys_take_the_last_value_like_go)
{
	char *cause;
	cJSON *j = parse("{\"runtimeClassName\":\"gvisor\",\"runtimeClassName\":\"runc\"}", &cause);

	cr_assert_str_eq(sg_json_str(j, "runtimeClassName"), "runc");
	cJSON_Delete(j);
}

Test(json, keys_are_case_sensitive)
{
	char *cause;
	cJSON *j = parse("{\"Privileged\":true}", &cause);

	cr_assert_null(sg_json_get(j, "privileged"));
	cr_assert_not_null(sg_json_get(j, "Privileged"));
	cJSON_Delete(j);
}

Test(json, typed_getters_check_types)
{
	char *cause;
	cJSON *j = parse("{\"s\":\"x\",\"t\":true,\"f\":false,\"n\":null,\"o\":{},\"a\":[\"q\"]}",
			 &cause);

	cr_assert_str_eq(sg_json_str(j, "s"), "x");
	cr_assert_null(sg_json_str(j, "t"));
	cr_assert(sg_json_true(j, "t"));
	cr_assert(!sg_json_true(j, "s"));
	cr_assert(sg_json_false(j, "f"));
	cr_assert(!sg_json_false(j, "missing"));
	cr_assert(sg_json_unset(j, "n"));
	cr_assert(sg_json_unset(j, "missing"));
	cr_assert(!sg_json_unset(j, "f"));
	cr_assert_not_null(sg_json_obj(j, "o"));
	cr_assert_null(sg_json_obj(j, "a"));
	cr_assert(sg_json_arr_has_str(sg_json_arr(j, "a"), "q"));
	cr_assert_eq(sg_json_count(j), 6);
	cr_assert_not_null(sg_json_path(j, "o", NULL));
	cr_assert_null(sg_json_path(j, "o", "x", NULL));
	cJSON_Delete(j);
}

Test(json, deep_nesting_is_refused_not_crashed)
{
	size_t n = 100000;
	char *text = malloc(2 * n + 1), *cause = NULL;

	memset(text, '[', n);
	memset(text + n, ']', n);
	text[2 * n] = '\0';
	cr_assert_null(sg_json_parse(text, 2 * n, &cause));
	free(cause);
	free(text);
}
