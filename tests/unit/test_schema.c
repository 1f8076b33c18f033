#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "sg_schema.h"

static cJSON *doc;
static char *cause;

static void teardown(void)
{
	cJSON_Delete(doc);
	doc = NULL;
	free(cause);
	cause = NULL;
}

TestSuite(schema, .fini = teardown);

/* Asserts rc is -EINVAL and the message is exactly want. */
static void refused(int rc, const char *want)
{
	cr_assert_eq(rc, -EINVAL, "rc %d", rc);
	cr_assert_not_null(cause);
	cr_assert_str_eq(cause, want);
	free(cause);
	cause = NULL;
}

Test(schema, only_keys_names_the_unknown_field_and_its_path)
{
	static const char *const keys[] = {"a", "b", NULL};

	doc = parse_or_die("{\"a\":1,\"b\":2}");
	cr_assert_eq(sg_schema_only_keys(doc, "policy.x", keys, &cause), 0);
	cJSON_Delete(doc);
	doc = parse_or_die("{\"a\":1,\"c\":2}");
	refused(sg_schema_only_keys(doc, "policy.x", keys, &cause),
		"unknown field 'c' in policy.x");
	refused(sg_schema_only_keys(cJSON_GetObjectItem(doc, "a"), "policy.x.a", keys, &cause),
		"policy.x.a must be an object");
}

Test(schema, absent_fields_keep_their_default)
{
	bool b = true;
	const char *s = "keep";
	const cJSON *list = NULL;
	long n = 7;
	double d = 1.5;

	doc = parse_or_die("{}");
	cr_assert_eq(sg_schema_bool(doc, "x", "p", &b, &cause), 0);
	cr_assert_eq(sg_schema_str(doc, "x", "p", &s, &cause), 0);
	cr_assert_eq(sg_schema_str_list(doc, "x", "p", &list, &cause), 0);
	cr_assert_eq(sg_schema_int(doc, "x", "p", 0, 10, NULL, &n, &cause), 0);
	cr_assert_eq(sg_schema_duration(doc, "x", "p", 0, 10, &d, &cause), 0);
	cr_assert(b && strcmp(s, "keep") == 0 && !list && n == 7 && d == 1.5);
	cr_assert_null(cause);
}

Test(schema, bool_and_string)
{
	bool b = false;
	const char *s = NULL;

	doc = parse_or_die("{\"t\":true,\"s\":\"\",\"n\":1}");
	cr_assert_eq(sg_schema_bool(doc, "t", "p", &b, &cause), 0);
	cr_assert(b);
	refused(sg_schema_bool(doc, "s", "p.q", &b, &cause), "p.q.s must be true or false");
	cr_assert(b, "a refusal leaves the value alone");
	cr_assert_eq(sg_schema_str(doc, "s", "p", &s, &cause), 0);
	cr_assert_str_eq(s, "");
	refused(sg_schema_str(doc, "n", "p", &s, &cause), "p.n must be a string");
}

Test(schema, string_list_holds_only_non_empty_strings)
{
	const cJSON *list = NULL;

	doc = parse_or_die("{\"ok\":[\"a\",\"b\"],\"none\":[],\"empty\":[\"a\",\"\"],"
			   "\"num\":[1],\"str\":\"a\"}");
	cr_assert_eq(sg_schema_str_list(doc, "ok", "p", &list, &cause), 0);
	cr_assert_eq(cJSON_GetArraySize(list), 2);
	cr_assert_eq(sg_schema_str_list(doc, "none", "p", &list, &cause), 0);
	cr_assert_eq(cJSON_GetArraySize(list), 0);
	refused(sg_schema_str_list(doc, "empty", "p", &list, &cause),
		"p.empty must hold only non-empty strings");
	refused(sg_schema_str_list(doc, "num", "p", &list, &cause),
		"p.num must hold only non-empty strings");
	refused(sg_schema_str_list(doc, "str", "p", &list, &cause),
		"p.str must be an array of strings");
}

Test(schema, int_is_whole_and_in_range)
{
	long n = -1;

	doc = parse_or_die("{\"zero\":0,\"max\":100000,\"over\":100001,\"neg\":-1,\"frac\":1.5,"
			   "\"str\":\"3\",\"huge\":1e300}");
	cr_assert_eq(sg_schema_int(doc, "zero", "p", 0, 100000, NULL, &n, &cause), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(sg_schema_int(doc, "max", "p", 0, 100000, NULL, &n, &cause), 0);
	cr_assert_eq(n, 100000);
	refused(sg_schema_int(doc, "over", "p", 0, 100000, "0: no cap", &n, &cause),
		"p.over must be a whole number from 0 to 100000 (0: no cap)");
	refused(sg_schema_int(doc, "neg", "p", 0, 100000, NULL, &n, &cause),
		"p.neg must be a whole number from 0 to 100000");
	refused(sg_schema_int(doc, "frac", "p", 0, 100000, NULL, &n, &cause),
		"p.frac must be a whole number from 0 to 100000");
	refused(sg_schema_int(doc, "str", "p", 0, 100000, NULL, &n, &cause),
		"p.str must be a whole number from 0 to 100000");
	refused(sg_schema_int(doc, "huge", "p", 0, 100000, NULL, &n, &cause),
		"p.huge must be a whole number from 0 to 100000");
	cr_assert_eq(n, 100000, "refusals leave the value alone");
}

Test(schema, duration_is_seconds_in_range)
{
	double d = 0;

	doc = parse_or_die("{\"ok\":2.5,\"over\":2592001,\"str\":\"1h\"}");
	cr_assert_eq(sg_schema_duration(doc, "ok", "p", 0, 2592000, &d, &cause), 0);
	cr_assert_eq(d, 2.5);
	refused(sg_schema_duration(doc, "over", "p", 0, 2592000, &d, &cause),
		"p.over must be a number of seconds from 0 to 2592000");
	refused(sg_schema_duration(doc, "str", "p", 0, 2592000, &d, &cause),
		"p.str must be a number of seconds from 0 to 2592000");
}

Test(schema, fail_and_oom_return_negative_errno)
{
	cr_assert_eq(sg_schema_fail(&cause, "%s is wrong", "x"), -EINVAL);
	cr_assert_str_eq(cause, "x is wrong");
	free(cause);
	cause = NULL;
	cr_assert_eq(sg_schema_oom(&cause), -ENOMEM);
	cr_assert_str_eq(cause, "out of memory");
}
