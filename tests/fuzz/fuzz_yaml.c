/*
 * Fuzz target for the kubeconfig reader's YAML parser (common/sg_yaml.c):
 * any bytes as a kubeconfig. A refusal must say why; an accepted document
 * must be a tree cJSON can print and parse back to the same shape; nothing
 * may crash, leak or trip a sanitizer.
 */
#include <stdint.h>
#include <stdlib.h>

#include "sg_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cause = NULL, *text;
	cJSON *tree = sg_yaml_parse((const char *)data, size, &cause), *again;

	if (!tree) {
		if (!cause)
			abort();
		free(cause);
		return 0;
	}
	text = cJSON_PrintUnformatted(tree);
	if (!text)
		abort();
	again = cJSON_Parse(text);
	if (!again || !cJSON_Compare(tree, again, 1))
		abort();
	cJSON_Delete(again);
	cJSON_free(text);
	cJSON_Delete(tree);
	return 0;
}
