/*
 * Fuzz target for the extender's policy parser (scheduler-plugin/policy.c):
 * any bytes as a policy file. Refusals must say why; nothing may crash,
 * leak or trip a sanitizer; an accepted policy answers its lookups.
 */
#include <stdint.h>
#include <stdlib.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cause = NULL;
	struct ex_policy *p = ex_policy_parse((const char *)data, size, "fuzz", &cause);

	if (!p) {
		if (!cause)
			abort();
		free(cause);
		return 0;
	}
	(void)ex_policy_runtime(p, "gvisor");
	ex_policy_free(p);
	return 0;
}
