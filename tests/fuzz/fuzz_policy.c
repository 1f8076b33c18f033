/*
 * Fuzz target for the webhook's policy parser (webhook/policy.c): any bytes
 * as a policy file. The security team writes this file, and a reload of a
 * bad one must leave the daemon running with its last good policy, so
 * parsing may refuse anything but never crash, leak or trip a sanitizer.
 * An accepted policy must answer the lookups the admission path makes.
 */
#include <stdint.h>
#include <stdlib.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse((const char *)data, size, "fuzz", &cause);
	size_t n;

	if (!p) {
		/* A refusal always says why. */
		if (!cause)
			abort();
		free(cause);
		return 0;
	}
	if (!wh_policy_rules(p, "team-a") || !wh_policy_rules(p, "") || !wh_policy_dns(p) ||
	    !wh_policy_profiles(p, &n) || n == 0)
		abort();
	(void)wh_policy_exempt(p, "team-a", "alice", NULL);
	(void)wh_policy_is_controller(p, "alice");
	(void)wh_policy_scheduling(p, "gvisor");
	wh_policy_free(p);
	return 0;
}
