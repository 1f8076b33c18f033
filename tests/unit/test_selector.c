#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "selector.h"

static cJSON *docs[2];

static void teardown(void)
{
	for (int i = 0; i < 2; i++) {
		cJSON_Delete(docs[i]);
		docs[i] = NULL;
	}
}

TestSuite(selector, .fini = teardown);

/* Parses JSON text (NULL: no selector) into s; the tree lives until teardown. */
static void sel(int slot, const char *json, struct wh_selector *s)
{
	cJSON_Delete(docs[slot]);
	docs[slot] = json ? parse_or_die(json) : NULL;
	wh_selector_parse(docs[slot], s);
}

static bool within(const char *p, const char *e)
{
	struct wh_selector a, b;

	sel(0, p, &a);
	sel(1, e, &b);
	cr_assert(a.valid && b.valid, "%s / %s", p, e);
	return wh_selector_within(&a, &b);
}

Test(selector, parse_reads_labels_and_expressions)
{
	struct wh_selector s;

	sel(0,
	    "{\"matchLabels\":{\"app\":\"a\"},\"matchExpressions\":[{\"key\":\"t\","
	    "\"operator\":\"NotIn\",\"values\":[\"x\",\"y\"]},{\"key\":\"k\","
	    "\"operator\":\"DoesNotExist\"}]}",
	    &s);
	cr_assert(s.valid);
	cr_assert_eq(s.n, 3);
	cr_assert(s.r[0].op == WH_SEL_IN && s.r[0].single && wh_selreq_has(&s.r[0], "a"));
	cr_assert(s.r[1].op == WH_SEL_NOTIN && wh_selreq_has(&s.r[1], "y"));
	cr_assert_not(wh_selreq_has(&s.r[1], "z"));
	cr_assert(s.r[2].op == WH_SEL_NOTEXISTS && !wh_selreq_nonempty(&s.r[2]));
	sel(0, NULL, &s);
	cr_assert(s.valid && s.n == 0, "no selector selects everything");
}

Test(selector, parse_refuses_what_it_cannot_read)
{
	struct wh_selector s;

	sel(0, "[]", &s);
	cr_assert_not(s.valid);
	sel(0, "{\"matchLabels\":{\"a\":1}}", &s);
	cr_assert_not(s.valid);
	sel(0, "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Gt\"}]}", &s);
	cr_assert_not(s.valid);
}

Test(selector, within_compares_requirement_by_requirement)
{
	/* Narrower: more labels, a value inside the allowed set. */
	cr_assert(within("{\"matchLabels\":{\"app\":\"a\",\"t\":\"x\"}}",
			 "{\"matchLabels\":{\"app\":\"a\"}}"));
	cr_assert(within("{\"matchLabels\":{\"t\":\"x\"}}",
			 "{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"In\","
			 "\"values\":[\"x\",\"y\"]}]}"));
	cr_assert(within("{\"matchLabels\":{\"t\":\"x\"}}",
			 "{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"Exists\"}]}"));
	cr_assert(within("{\"matchLabels\":{\"t\":\"x\"}}", NULL));
	/* Wider, or unrelated: not provably inside. */
	cr_assert_not(within(NULL, "{\"matchLabels\":{\"app\":\"a\"}}"));
	cr_assert_not(within("{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"In\","
			     "\"values\":[\"x\",\"z\"]}]}",
			     "{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"In\","
			     "\"values\":[\"x\",\"y\"]}]}"));
	cr_assert_not(within("{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"In\","
			     "\"values\":[]}]}",
			     "{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"Exists\"}]}"));
	/* NotIn: implied by In outside its values, or by a NotIn of more values. */
	cr_assert(within("{\"matchLabels\":{\"t\":\"z\"}}",
			 "{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"NotIn\","
			 "\"values\":[\"x\"]}]}"));
	cr_assert(within("{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"NotIn\","
			 "\"values\":[\"x\",\"y\"]}]}",
			 "{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"NotIn\","
			 "\"values\":[\"x\"]}]}"));
	cr_assert_not(within("{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"NotIn\","
			     "\"values\":[\"x\"]}]}",
			     "{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"NotIn\","
			     "\"values\":[\"x\",\"y\"]}]}"));
}

Test(selector, namespace_questions_use_only_the_name_label)
{
	struct wh_selector s;

	sel(0, "{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"team-a\"}}", &s);
	cr_assert(wh_selector_matches_ns(&s, "team-a"));
	cr_assert_not(wh_selector_matches_ns(&s, "team-b"));
	cr_assert(wh_selector_only_ns(&s, "team-a"));
	sel(0, NULL, &s);
	cr_assert(wh_selector_matches_ns(&s, "team-b"), "no selector: every namespace");
	cr_assert_not(wh_selector_only_ns(&s, "team-b"));
	/* Another label cannot be known for a namespace: not provable. */
	sel(0, "{\"matchLabels\":{\"env\":\"prod\"}}", &s);
	cr_assert_not(wh_selector_matches_ns(&s, "team-a"));
	sel(0,
	    "{\"matchExpressions\":[{\"key\":\"kubernetes.io/metadata.name\","
	    "\"operator\":\"In\",\"values\":[\"team-a\",\"team-b\"]}]}",
	    &s);
	cr_assert(wh_selector_matches_ns(&s, "team-b"));
	cr_assert_not(wh_selector_only_ns(&s, "team-a"));
}

Test(selector, describe_writes_a_short_form)
{
	struct sg_buf b;

	sg_buf_init(&b, 1024);
	docs[0] = parse_or_die("{\"matchLabels\":{\"app\":\"a\"},\"matchExpressions\":[{\"key\":"
			       "\"t\",\"operator\":\"In\",\"values\":[\"x\",\"y\"]}]}");
	wh_selector_describe(docs[0], &b);
	cr_assert_str_eq(b.data, "app=a,t In (x,y)");
	sg_buf_reset(&b);
	wh_selector_describe(NULL, &b);
	cr_assert_str_eq(b.data, "(all)");
	sg_buf_release(&b);
}
