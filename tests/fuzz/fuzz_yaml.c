/*
 * Fuzz target for the YAML reader (common/sg_yaml.c, on libyaml): any
 * bytes as a kubeconfig (every scalar a string) and as a manifest stream
 * (typed scalars, many documents). A refusal must say why; an accepted
 * document must be a tree cJSON can print and parse back to the same
 * shape; nothing may crash, leak or trip a sanitizer, and no input may
 * make the reader build more than its node limits (alias bombs).
 */
#include <stdint.h>
#include <stdlib.h>

#include "sg_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const cJSON *tree)
{
	char *text = cJSON_PrintUnformatted(tree);
	cJSON *again;

	if (!text)
		abort();
	again = cJSON_Parse(text);
	if (!again || !cJSON_Compare(tree, again, 1))
		abort();
	cJSON_Delete(again);
	cJSON_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cause = NULL;
	cJSON *tree = sg_yaml_parse((const char *)data, size, &cause);
	struct sg_yaml_doc *docs;
	size_t n;
	int at[2];

	if (!tree) {
		if (!cause)
			abort();
		free(cause);
	} else {
		round_trip(tree);
		cJSON_Delete(tree);
	}
	cause = NULL;
	if (sg_yaml_parse_stream((const char *)data, size, &docs, &n, at, &cause) != 0) {
		if (!cause || docs)
			abort();
		free(cause);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (docs[i].tree)
			round_trip(docs[i].tree);
	sg_yaml_docs_free(docs, n);
	return 0;
}
