/*
 * check: `sandbox-guard-webhook check`, the policy applied to manifests
 * before they reach a cluster (CI, pre-commit).
 *
 * Reads YAML and JSON manifests (files, directories, stdin), unwraps List
 * kinds, and sends every Pod, Sandbox, SandboxTemplate, SandboxClaim and
 * NetworkPolicy through the daemon's own review function (admission.h) as
 * the API server would: a CREATE AdmissionReview to the mutating endpoint,
 * its JSON Patch applied, the patched object to the validating endpoint.
 * No network, cluster or certificates. Exit status: 0 when every object
 * would be admitted, 1 when at least one would be refused, 2 on usage or
 * input errors (which win over 1).
 */
#ifndef WH_CHECK_H
#define WH_CHECK_H

#include <stdio.h>

/* What check sends as userInfo.username unless --user says otherwise. */
#define WH_CHECK_DEFAULT_USER "sandbox-guard-check"

/* The largest manifest file (or stdin) check reads. */
#define WH_CHECK_MAX_FILE (64u << 20)

/*
 * Runs the subcommand; argv[0] is "check". Writes results to out and
 * problems to err. Returns the exit status.
 */
int wh_check_main(int argc, char **argv, FILE *out, FILE *err);

#endif
