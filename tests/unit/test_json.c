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

/* --- the fast parser ------------------------------------------------------ */

#include "sg_arena.h"

static struct sg_arena arena;

static cJSON *fast(const char *s, unsigned flags)
{
	char *cause = NULL;
	cJSON *j;

	if (!arena.chunk_size)
		sg_arena_init(&arena, 4096, 1 << 20);
	j = sg_json_parse_arena(s, strlen(s), &arena, flags, &cause);
	free(cause);
	return j;
}

Test(json, fast_parser_builds_the_same_tree_as_cjson)
{
	const char *doc = "{\"a\":[1,-2.5e3,true,false,null,\"x\\u00e9\\ud83d\\ude00\\n\"],"
			  "\"b\":{\"c\":{}},\"e\":\"\\\"\\\\\\/\"}";
	cJSON *f = fast(doc, 0), *ref = cJSON_Parse(doc);

	cr_assert_not_null(f);
	cr_assert(cJSON_Compare(f, ref, true));
	cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(f, "a"), 5)->valuestring,
			 "x\xc3\xa9\xf0\x9f\x98\x80\n");
	cJSON_Delete(ref);
	/* Duplicate keys are all kept, and lookups take the last, as with cJSON trees. */
	f = fast("{\"a\":1,\"a\":\"dup\"}", 0);
	cr_assert_eq(cJSON_GetArraySize(f), 2);
	cr_assert_str_eq(sg_json_str(f, "a"), "dup");
	sg_arena_release(&arena);
}

Test(json, fast_parser_is_strict)
{
	static const char *const bad[] = {
		"{\"a\":01}",
		"{\"a\":1.}",
		"[.5]",
		"[+1]",
		"{\"a\":\"\x01\"}",
		"[\"\\x\"]",
		"[\"\\ud800\"]",
		"[\"\\udc00x\"]",
		"{\"a\" 1}",
		"[1,]",
		"{,}",
		"[1] 2",
		"tru",
		"\"abc",
		"",
		/* Read as two "hostNetwork" keys, the last one winning, were the NUL to cut it. */
		"{\"hostNetwork\":true,\"hostNetwork\\u0000x\":false}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_null(fast(bad[i], 0), "accepted: %s", bad[i]);
	sg_arena_release(&arena);
}

/* JSON text is UTF-8: anything else is refused, in kept and in skipped strings alike. */
Test(json, fast_parser_refuses_strings_that_are_not_utf8)
{
	static const char *const bad[] = {
		"[\"\xff\"]",		  /* never in UTF-8 */
		"[\"abc\x80\"]",	  /* a lone continuation byte */
		"[\"\xc3\"]",		  /* a truncated sequence */
		"[\"\xc0\xaf\"]",	  /* an overlong '/' */
		"[\"\xe0\x80\xaf\"]",	  /* an overlong '/' */
		"[\"\xed\xa0\x80\"]",	  /* a surrogate */
		"[\"\xf4\x90\x80\x80\"]", /* past U+10FFFF */
		"{\"\xff\":1}",		  /* a key */
		"{\"metadata\":{\"managedFields\":[\"0123456789\xfe\"]}}",
	};
	static const char *const good[] = {
		"[\"\xc3\xa9\"]",	  "[\"\xe2\x82\xac and more than eight bytes\"]",
		"[\"\xf0\x9f\x98\x80\"]", "[\"\xf4\x8f\xbf\xbf\"]",
		"[\"\xed\x9f\xbf\"]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_null(fast(bad[i], SG_JSON_SKIP_MANAGED_FIELDS), "accepted: %s", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_not_null(fast(good[i], 0), "refused: %s", good[i]);
	sg_arena_release(&arena);
}

/* A NUL inside a value is kept as cJSON keeps it (the string ends there). */
Test(json, nul_in_a_value_is_accepted)
{
	cJSON *j = fast("{\"a\":\"x\\u0000y\"}", 0);

	cr_assert_not_null(j);
	cr_assert_str_eq(sg_json_str(j, "a"), "x");
	sg_arena_release(&arena);
}

Test(json, fast_parser_can_skip_managed_fields)
{
	const char *doc = "{\"metadata\":{\"name\":\"p\",\"managedFields\":[{\"m\":{\"x\":1}}]},"
			  "\"spec\":{\"managedFields\":1}}";
	cJSON *f = fast(doc, SG_JSON_SKIP_MANAGED_FIELDS);

	cr_assert_not_null(f);
	cr_assert_null(sg_json_path(f, "metadata", "managedFields", NULL));
	cr_assert_str_eq(sg_json_str(sg_json_get(f, "metadata"), "name"), "p");
	cr_assert_not_null(sg_json_path(f, "spec", "managedFields", NULL), "only under metadata");
	cr_assert_null(fast("{\"metadata\":{\"managedFields\":[1,]}}", SG_JSON_SKIP_MANAGED_FIELDS),
		       "skipped values are still checked");
	/* Exactly as strictly as parsed ones: skipping never changes the verdict. */
	static const char *const strict[] = {
		"{\"metadata\":{\"managedFields\":[\"\\ud800\"]}}",
		"{\"metadata\":{\"managedFields\":[\"\\udc00\"]}}",
		"{\"metadata\":{\"managedFields\":[\"\\ud800\\u0041\"]}}",
		"{\"metadata\":{\"managedFields\":[{\"k\\u0000\":1}]}}",
	};
	/* A backslash before a raw NUL byte (strchr finds the terminator). */
	static const char nul_escape[] = "{\"metadata\":{\"managedFields\":[\"a\\\0b\"]}}";
	char *cause = NULL;

	for (unsigned flags = 0; flags <= SG_JSON_SKIP_MANAGED_FIELDS;
	     flags += SG_JSON_SKIP_MANAGED_FIELDS) {
		cr_assert_null(sg_json_parse_arena(nul_escape, sizeof(nul_escape) - 1, &arena,
						   flags, &cause),
			       "flags %u", flags);
		free(cause);
		cause = NULL;
	}
	for (size_t i = 0; i < sizeof(strict) / sizeof(strict[0]); i++) {
		cr_assert_null(fast(strict[i], 0), "parsed: %s", strict[i]);
		cr_assert_null(fast(strict[i], SG_JSON_SKIP_MANAGED_FIELDS), "skipped: %s",
			       strict[i]);
	}
	cr_assert_not_null(fast("{\"metadata\":{\"managedFields\":[\"\\ud83d\\ude00\\u0000\"]}}",
				SG_JSON_SKIP_MANAGED_FIELDS));
	sg_arena_release(&arena);
}

Test(json, array_spans_are_exact_source_slices)
{
	const char *doc = "{\"Nodes\":{\"items\":[ {\"a\":1e400} ,\"s\",[1,[2]]],\"items\":[7]},"
			  "\"Nodes\":{\"items\":[{\"n\":1}, 2]}}";
	const char *keys[] = {"Nodes", "items"};
	struct sg_span spans[4];
	size_t n;

	cr_assert_eq(sg_json_array_spans(doc, strlen(doc), keys, 2, spans, 4, &n), 0);
	cr_assert_eq(n, 2, "the last Nodes member wins");
	cr_assert_eq(strncmp(doc + spans[0].start, "{\"n\":1}", spans[0].len), 0);
	cr_assert_eq(spans[1].len, 1);
	keys[1] = "nope";
	cr_assert_eq(sg_json_array_spans(doc, strlen(doc), keys, 2, spans, 4, &n), -1);
}
