#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "sg_buf.h"
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

Test(yaml, kubeconfig_scalars_are_strings)
{
	cJSON *j = yaml("a: true\nb: 12\nc: ~\nd: |\n  two\n  lines\ne: &x v\nf: *x\n");

	cr_assert_str_eq(sg_json_str(j, "a"), "true");
	cr_assert_str_eq(sg_json_str(j, "b"), "12");
	cr_assert_str_eq(sg_json_str(j, "c"), "~");
	cr_assert_str_eq(sg_json_str(j, "d"), "two\nlines\n");
	cr_assert_str_eq(sg_json_str(j, "f"), "v");
	cJSON_Delete(j);
}

Test(yaml, refuses_what_it_does_not_understand)
{
	bad("a: 1\n---\nb: 2\n", "line 3: more than one YAML document");
	bad("a:\n\tb: 1\n", "line 2");
	bad("a: 1\n  b: 2\n", "line 2");
	bad("just words\nmore: x\n", "line 2");
	bad("a: *nowhere\n", "names no anchor");
	bad("a: !custom x\n", "tag '!custom' is not supported");
	bad("? [a, b]\n: c\n", "not a scalar");
	bad("", "empty");
	bad("# only a comment\n", "empty");
}

Test(yaml, refuses_duplicate_keys_in_every_form)
{
	/* kubectl keeps the last of two equal keys, cJSON lookups the first. */
	bad("users:\n- name: u\n  user:\n    token: a\n    token: b\n",
	    "line 5, column 5: duplicate key 'token' (first on line 4)");
	bad("a: 1\nb: 2\na: 3\n", "line 3, column 1: duplicate key");
	bad("a: {\"x\": 1, \"x\": 2}\n", "duplicate key 'x'");
	bad("{\"users\": [{\"user\": {\"token\": \"a\", \"token\": \"b\"}}]}",
	    "duplicate key 'token'");
}

/* Parses a stream that must have exactly one document. */
static cJSON *typed(const char *text)
{
	struct sg_yaml_doc *docs;
	size_t n;
	char *cause = NULL;
	cJSON *t;

	cr_assert_eq(sg_yaml_parse_stream(text, strlen(text), &docs, &n, NULL, &cause), 0, "%s",
		     cause);
	cr_assert_eq(n, 1);
	t = docs[0].tree;
	docs[0].tree = NULL;
	sg_yaml_docs_free(docs, n);
	return t;
}

static void bad_stream(const char *text, const char *needle, int line, int col)
{
	struct sg_yaml_doc *docs = NULL;
	size_t n = 0;
	char *cause = NULL;
	int at[2];

	cr_assert_neq(sg_yaml_parse_stream(text, strlen(text), &docs, &n, at, &cause), 0,
		      "accepted: %s", text);
	cr_assert_null(docs);
	cr_assert(strstr(cause, needle), "'%s' not in '%s'", needle, cause);
	if (line)
		cr_assert_eq(at[0], line, "line %d in '%s'", at[0], cause);
	if (col)
		cr_assert_eq(at[1], col, "column %d in '%s'", at[1], cause);
	free(cause);
}

/* The JSON kubectl would send for text, compared as text. */
static void same_json(const char *text, const char *json)
{
	cJSON *t = typed(text);
	char *out = cJSON_PrintUnformatted(t);

	cr_assert_str_eq(out, json, "for %s", text);
	cJSON_free(out);
	cJSON_Delete(t);
}

Test(yaml, plain_scalars_typed_as_kubectl_does)
{
	same_json("[true, True, TRUE, yes, Yes, on, ON, y, Y]",
		  "[true,true,true,true,true,true,true,true,true]");
	same_json("[false, no, NO, off, Off, n, N]", "[false,false,false,false,false,false,false]");
	same_json("[~, null, Null, NULL, ]", "[null,null,null,null]");
	same_json("a:\nb: ''\n", "{\"a\":null,\"b\":\"\"}");
	same_json("[1, -2, +3, 0x1F, 0o17, 017, 0b101, 1_000, 1.5, .5, 1e3, -1.25E-1]",
		  "[1,-2,3,31,15,15,5,1000,1.5,0.5,1000,-0.125]");
	/* Not numbers or booleans in YAML 1.1 either: kept as written. */
	same_json("[\"true\", 'yes', 09x, 1.2.3, 2024-01-02, 1e999, 0x, yes please, tRUE, 1:30]",
		  "[\"true\",\"yes\",\"09x\",\"1.2.3\",\"2024-01-02\",\"1e999\",\"0x\","
		  "\"yes please\",\"tRUE\",\"1:30\"]");
	/* 09 is not octal; Go then reads it as the float 9. */
	same_json("[09, 0]", "[9,0]");
}

Test(yaml, keys_are_strings_written_canonically)
{
	same_json("on: 1\n0x10: 2\n\"on\": 3\nplain: 4\n",
		  "{\"true\":1,\"16\":2,\"on\":3,\"plain\":4}");
	bad_stream("~: 1\n", "a null key", 1, 1);
	bad_stream("a: 1\n<<: {b: 2}\n", "merge keys", 2, 1);
	/* "on" and "true" are the same key once written as JSON. */
	bad_stream("true: 1\non: 2\n", "duplicate key 'true'", 2, 1);
}

Test(yaml, tags_multiline_scalars_and_flow)
{
	same_json("a: !!str 12\nb: !!int \"7\"\nc: ! yes\nd: !!bool off\ne: !!null ~\n",
		  "{\"a\":\"12\",\"b\":7,\"c\":\"yes\",\"d\":false,\"e\":null}");
	same_json("lit: |\n  one\n  two\nfold: >-\n  one\n  two\nkeep: |+\n  x\n\n",
		  "{\"lit\":\"one\\ntwo\\n\",\"fold\":\"one two\",\"keep\":\"x\\n\\n\"}");
	same_json("{a: [1, {b: c}], 'd': \"e\\tf\"}", "{\"a\":[1,{\"b\":\"c\"}],\"d\":\"e\\tf\"}");
	bad_stream("a: !!int abc\n", "is not a !!int", 1, 4);
	bad_stream("a: !!binary aGk=\n", "not supported", 1, 4);
	bad_stream("a: !Ref x\n", "not supported", 1, 4);
	bad_stream("a: .inf\n", "not a number JSON can hold", 1, 4);
	bad_stream("a: .NaN\n", "not a number JSON can hold", 1, 4);
}

Test(yaml, documents_with_their_lines)
{
	const char *text = "# leading comment\n"
			   "a: 1\n"
			   "---\n"
			   "---\n"
			   "# nothing\n"
			   "---\n"
			   "b: &x [1, 2]\n"
			   "c: *x\n"
			   "...\n"
			   "---\n"
			   "d: 4\n";
	struct sg_yaml_doc *docs;
	size_t n;
	char *cause = NULL;

	cr_assert_eq(sg_yaml_parse_stream(text, strlen(text), &docs, &n, NULL, &cause), 0, "%s",
		     cause);
	cr_assert_eq(n, 5);
	cr_assert_eq(docs[0].line, 2);
	cr_assert_not_null(docs[0].tree);
	cr_assert_null(docs[1].tree);
	cr_assert_null(docs[2].tree);
	cr_assert_eq(docs[3].line, 7);
	cr_assert_eq(cJSON_GetArraySize(sg_json_get(docs[3].tree, "c")), 2);
	cr_assert_eq(docs[4].line, 11);
	sg_yaml_docs_free(docs, n);
	/* Nothing at all is a stream of no documents, not an error. */
	cr_assert_eq(sg_yaml_parse_stream("", 0, &docs, &n, NULL, &cause), 0);
	cr_assert_eq(n, 0);
	sg_yaml_docs_free(docs, n);
}

Test(yaml, anchors_are_per_document)
{
	bad_stream("a: &x 1\n---\nb: *x\n", "names no anchor", 3, 4);
}

Test(yaml, syntax_errors_name_line_and_column)
{
	bad_stream("a: 1\nb: [1, 2\n", "line", 3, 0);
	bad_stream("a: 1\n b: 2\nc\n", "line 2", 2, 0);
	bad_stream("a: \"unterminated\n", "line", 0, 0);
	bad_stream("a: b\x01\n", "control characters", 1, 0);
	bad_stream("a: \xff\n", "UTF-8", 1, 0);
}

Test(yaml, alias_bombs_are_refused_early)
{
	struct sg_buf b;

	/* Nine levels of ten aliases each: a billion strings, if expanded. */
	sg_buf_init(&b, 1u << 20);
	sg_buf_puts(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\","
			"\"lol\",\"lol\"]\n");
	for (char c = 'b'; c <= 'i'; c++)
		sg_buf_printf(&b, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c,
			      c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
	bad_stream(b.data, "aliases expand to more than", 0, 0);
	sg_buf_release(&b);
	/* A few small aliases are fine. */
	same_json("base: &b {x: 1}\none: *b\ntwo: *b\n",
		  "{\"base\":{\"x\":1},\"one\":{\"x\":1},\"two\":{\"x\":1}}");
}

Test(yaml, deep_nesting_is_refused)
{
	struct sg_buf b;

	sg_buf_init(&b, 1u << 20);
	for (int i = 0; i < 100000; i++)
		sg_buf_puts(&b, "[");
	bad_stream(b.data, "nested deeper than 64", 1, 0);
	sg_buf_reset(&b);
	for (int i = 0; i < 63; i++)
		sg_buf_puts(&b, "[");
	for (int i = 0; i < 63; i++)
		sg_buf_puts(&b, "]");
	cJSON_Delete(typed(b.data));
	sg_buf_release(&b);
}

Test(yaml, config_files_json_or_yaml)
{
	char *cause = NULL;
	const char *json = "{\"mode\": \"warn\", \"count\": 2}",
		   *yml = "# a policy\nmode: warn\ncount: 2\n";
	cJSON *a = sg_config_parse(json, strlen(json), &cause);
	cJSON *b = sg_config_parse(yml, strlen(yml), &cause);

	cr_assert_not_null(a);
	cr_assert_not_null(b, "%s", cause);
	cr_assert(cJSON_Compare(a, b, 1));
	cJSON_Delete(a);
	cJSON_Delete(b);
	/* JSON is read by the JSON parser, with its messages. */
	cr_assert_null(sg_config_parse("{\"mode\": }", 10, &cause));
	free(cause);
	cr_assert_null(sg_config_parse("mode: [\n", 8, &cause));
	cr_assert(strstr(cause, "line 2"), "%s", cause);
	free(cause);
}

static void count_doc(void *arg, cJSON *tree, int line)
{
	int *n = arg;

	(*n)++;
	cr_assert_not_null(tree);
	cr_assert_eq(line, *n == 1 ? 1 : 3);
	cJSON_Delete(tree);
}

Test(yaml, documents_before_an_error_are_delivered)
{
	const char *text = "a: 1\n---\nb: 2\n---\nc: [\n";
	char *cause = NULL;
	int n = 0, at[2];

	cr_assert_neq(sg_yaml_each_document(text, strlen(text), count_doc, &n, at, &cause), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(at[0], 6, "%s", cause);
	free(cause);
}

Test(yaml, node_limit_is_per_document, .timeout = 60)
{
	struct sg_buf b;

	sg_buf_init(&b, 64u << 20);
	sg_buf_puts(&b, "a: [");
	for (unsigned i = 0; i <= SG_YAML_MAX_NODES; i++)
		sg_buf_puts(&b, "1,");
	sg_buf_puts(&b, "1]\n");
	bad_stream(b.data, "more than 1048576 nodes in one document", 1, 0);
	sg_buf_release(&b);
}
