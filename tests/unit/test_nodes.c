#include <stdio.h>

#include <criterion/criterion.h>

#include "nodes.h"

static cJSON *node(const char *name, const char *labels)
{
	char text[512];
	cJSON *n;

	snprintf(text, sizeof(text), "{\"metadata\": {\"name\": \"%s\", \"labels\": {%s}}}", name,
		 labels);
	n = cJSON_Parse(text);
	cr_assert(n, "%s", text);
	return n;
}

static void upsert(struct ex_nodes *n, const char *name, const char *labels)
{
	cJSON *j = node(name, labels);

	ex_nodes_upsert(n, j);
	cJSON_Delete(j);
}

static const char *label(struct ex_nodes *n, const char *name, const char *key, bool *known)
{
	return ex_nodes_label(n, name, key, known);
}

Test(nodes, labels_updates_and_removal)
{
	struct ex_nodes *n = ex_nodes_new();
	bool known;
	cJSON *j;

	upsert(n, "a", "\"zone\": \"1\", \"gvisor\": \"true\"");
	cr_expect_str_eq(label(n, "a", "gvisor", &known), "true");
	cr_expect(known);
	cr_expect_null(label(n, "a", "kata", &known));
	cr_expect(known, "a known node without the label");
	cr_expect_null(label(n, "b", "gvisor", &known));
	cr_expect_not(known);

	upsert(n, "a", "\"zone\": \"2\"");
	cr_expect_str_eq(label(n, "a", "zone", &known), "2");
	cr_expect_null(label(n, "a", "gvisor", &known), "labels are replaced, not merged");
	cr_expect_eq(ex_nodes_count(n), 1);

	j = node("a", "");
	ex_nodes_remove(n, j);
	cJSON_Delete(j);
	cr_expect_null(label(n, "a", "zone", &known));
	cr_expect_not(known);
	cr_expect_eq(ex_nodes_count(n), 0);
	ex_nodes_free(n);
}

Test(nodes, bad_objects_are_ignored)
{
	struct ex_nodes *n = ex_nodes_new();
	cJSON *j =
		cJSON_Parse("[{}, {\"metadata\": {\"name\": 3}}, {\"metadata\": {\"name\": \"\"}}, "
			    "{\"metadata\": {\"name\": \"x\", \"labels\": {\"n\": 1}}}]");
	cJSON *it;
	bool known;

	cJSON_ArrayForEach(it, j) ex_nodes_upsert(n, it);
	cr_expect_eq(ex_nodes_count(n), 1);
	cr_expect_null(label(n, "x", "n", &known), "a label that is not a string is left out");
	cr_expect(known);
	cJSON_Delete(j);
	ex_nodes_free(n);
}

Test(nodes, resync_drops_what_the_list_lacks)
{
	struct ex_nodes *n = ex_nodes_new();
	char name[32];
	bool known;

	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "node-%d", i);
		upsert(n, name, "\"r\": \"x\"");
	}
	cr_expect_eq(ex_nodes_count(n), 5000);
	ex_nodes_resync_begin(n);
	for (int i = 0; i < 5000; i += 2) {
		snprintf(name, sizeof(name), "node-%d", i);
		upsert(n, name, "\"r\": \"y\"");
	}
	ex_nodes_resync_end(n);
	cr_expect_eq(ex_nodes_count(n), 2500);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "node-%d", i);
		if (i % 2 == 0)
			cr_expect_str_eq(label(n, name, "r", &known), "y", "%s", name);
		else
			cr_expect_null(label(n, name, "r", &known), "%s", name);
		cr_expect_eq(known, i % 2 == 0, "%s", name);
	}
	ex_nodes_free(n);
}
