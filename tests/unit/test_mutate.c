#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "mutate.h"
#include "sg_json.h"

static struct wh_policy *policy(const char *text)
{
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse(text, strlen(text), "test", &cause);

	cr_assert_not_null(p, "%s", cause);
	return p;
}

/* Runs the pod mutation with the given policy and returns the ops (NULL for no patch). */
static cJSON *mutate_with(const char *pol, const char *pod_json)
{
	struct wh_policy *p = policy(pol);
	cJSON *pod = parse_or_die(pod_json), *ops = NULL;
	struct wh_patch patch;

	wh_patch_init(&patch);
	wh_mutate_pod(p, wh_policy_rules(p, "ns"), pod, &patch);
	cr_assert_eq(wh_patch_finish(&patch), 0);
	if (patch.nops)
		ops = parse_or_die(patch.buf.data);
	wh_patch_release(&patch);
	cJSON_Delete(pod);
	wh_policy_free(p);
	return ops;
}

static cJSON *mutate(const char *pod_json)
{
	return mutate_with("{}", pod_json);
}

static void expect_value(const cJSON *ops, const char *path, const char *json)
{
	const cJSON *op = find_op(ops, path);
	cJSON *want = parse_or_die(json);

	cr_assert_not_null(op, "no op for %s", path);
	cr_assert_str_eq(sg_json_str(op, "op"), "add");
	cr_assert(cJSON_Compare(sg_json_get(op, "value"), want, true), "%s: got %s", path,
		  cJSON_PrintUnformatted(sg_json_get(op, "value")));
	cJSON_Delete(want);
}

#define MIN_POD                                                                                    \
	"{\"metadata\":{\"name\":\"p\",\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":\"1\"}}," \
	"\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}],\"securityContext\":{},"      \
	"\"enableServiceLinks\":true,\"schedulerName\":\"default-scheduler\"}}"

Test(mutate, fills_every_default_on_a_bare_pod)
{
	cJSON *ops = mutate(MIN_POD);

	expect_value(ops, "/spec/runtimeClassName", "\"gvisor\"");
	expect_value(ops, "/spec/automountServiceAccountToken", "false");
	expect_value(ops, "/spec/enableServiceLinks", "false");
	expect_value(ops, "/spec/securityContext/seccompProfile", "{\"type\":\"RuntimeDefault\"}");
	expect_value(ops, "/spec/containers/0/securityContext",
		     "{\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":[\"ALL\"]}}");
	expect_value(ops, "/metadata/labels/sandbox-guard.io~1network-profile", "\"default\"");
	expect_value(ops, "/spec/containers/0/resources",
		     "{\"limits\":{\"memory\":\"2Gi\",\"ephemeral-storage\":\"4Gi\"},"
		     "\"requests\":{\"memory\":\"0\",\"ephemeral-storage\":\"0\"}}");
	cr_assert_eq(cJSON_GetArraySize(ops), 7);
	cr_assert_null(find_op(ops, "/spec/schedulerName"), "no scheduler unless the policy says");
	cJSON_Delete(ops);
}

Test(mutate, creates_missing_parents_whole)
{
	cJSON *ops =
		mutate("{\"metadata\":{\"name\":\"p\",\"ownerReferences\":[{\"apiVersion\":"
		       "\"agents.x-k8s.io/v1alpha1\",\"kind\":\"Sandbox\",\"name\":\"p\","
		       "\"uid\":\"u\",\"controller\":true}]},"
		       "\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":null}]}}");

	expect_value(ops, "/metadata/labels", "{\"sandbox-guard.io/network-profile\":\"default\"}");
	expect_value(ops, "/spec/securityContext",
		     "{\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}");
	cr_assert_not_null(find_op(ops, "/spec/containers/0/securityContext"));
	cJSON_Delete(ops);
}

Test(mutate, adds_single_fields_inside_existing_parents)
{
	cJSON *ops =
		mutate("{\"metadata\":{\"labels\":{\"agents.x-k8s.io/"
		       "sandbox-name-hash\":\"1\"}},\"spec\":{"
		       "\"containers\":[{\"name\":\"a\",\"securityContext\":{\"runAsUser\":1000}},"
		       "{\"name\":\"b\",\"securityContext\":{\"capabilities\":{\"add\":[\"NET_BIND_"
		       "SERVICE\"]}}}],"
		       "\"initContainers\":[{\"name\":\"i\",\"securityContext\":{"
		       "\"allowPrivilegeEscalation\":false}}]}}");

	expect_value(ops, "/spec/containers/0/securityContext/allowPrivilegeEscalation", "false");
	expect_value(ops, "/spec/containers/0/securityContext/capabilities",
		     "{\"drop\":[\"ALL\"]}");
	expect_value(ops, "/spec/containers/1/securityContext/capabilities/drop", "[\"ALL\"]");
	expect_value(ops, "/spec/initContainers/0/securityContext/capabilities",
		     "{\"drop\":[\"ALL\"]}");
	cr_assert_null(
		find_op(ops, "/spec/initContainers/0/securityContext/allowPrivilegeEscalation"));
	cJSON_Delete(ops);
}

Test(mutate, never_overwrites_explicit_values)
{
	cJSON *ops =
		mutate("{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":\"1\","
		       "\"sandbox-guard.io/network-profile\":\"custom\"}},\"spec\":{"
		       "\"runtimeClassName\":\"runc\",\"automountServiceAccountToken\":true,"
		       "\"enableServiceLinks\":false,\"securityContext\":{\"seccompProfile\":{"
		       "\"type\":\"Unconfined\"}},"
		       "\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		       "\"allowPrivilegeEscalation\":true,"
		       "\"capabilities\":{\"drop\":[]}},\"resources\":{\"limits\":{"
		       "\"memory\":\"1Gi\",\"ephemeral-storage\":\"1Gi\"}}}]}}");

	cr_assert_null(ops, "got %s", ops ? cJSON_PrintUnformatted(ops) : "");
}

Test(mutate, leaves_privilege_escalation_alone_where_it_would_make_the_pod_invalid)
{
	cJSON *ops =
		mutate("{\"metadata\":{\"labels\":{\"agents.x-k8s.io/"
		       "sandbox-name-hash\":\"1\"}},\"spec\":{"
		       "\"containers\":[{\"name\":\"a\",\"securityContext\":{\"privileged\":true}},"
		       "{\"name\":\"b\",\"securityContext\":{\"capabilities\":{\"add\":[\"CAP_SYS_"
		       "ADMIN\"]}}}]}}");

	cr_assert_null(find_op(ops, "/spec/containers/0/securityContext/allowPrivilegeEscalation"));
	cr_assert_null(find_op(ops, "/spec/containers/1/securityContext/allowPrivilegeEscalation"));
	cr_assert_not_null(find_op(ops, "/spec/containers/0/securityContext/capabilities"));
	cJSON_Delete(ops);
}

Test(mutate, is_idempotent_on_its_own_output)
{
	/* The pod as MIN_POD looks once every op above is applied. */
	cJSON *ops =
		mutate("{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":\"1\","
		       "\"sandbox-guard.io/network-profile\":\"default\"}},\"spec\":{"
		       "\"runtimeClassName\":\"gvisor\",\"automountServiceAccountToken\":false,"
		       "\"enableServiceLinks\":false,"
		       "\"securityContext\":{\"seccompProfile\":{\"type\":\"RuntimeDefault\"}},"
		       "\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		       "\"allowPrivilegeEscalation\":false,"
		       "\"capabilities\":{\"drop\":[\"ALL\"]}},\"resources\":{\"limits\":{"
		       "\"memory\":\"2Gi\",\"ephemeral-storage\":\"4Gi\"},\"requests\":{"
		       "\"memory\":\"0\",\"ephemeral-storage\":\"0\"}}}],"
		       "\"volumes\":[{\"name\":\"w\",\"emptyDir\":{\"sizeLimit\":\"2Gi\"}}]}}");

	cr_assert_null(ops, "%s", ops ? cJSON_PrintUnformatted(ops) : "");
}

Test(mutate, windows_pods_get_no_linux_security_fields)
{
	cJSON *ops = mutate(
		"{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":\"1\"}},"
		"\"spec\":{\"os\":{\"name\":\"windows\"},\"containers\":[{\"name\":\"a\"}]}}");

	cr_assert_null(find_op(ops, "/spec/securityContext"));
	cr_assert_null(find_op(ops, "/spec/containers/0/securityContext"));
	cr_assert_not_null(find_op(ops, "/spec/runtimeClassName"));
	cJSON_Delete(ops);
}

#define USERNS "{\"hardening\":{\"userNamespaces\":true}}"

Test(mutate, user_namespaces_write_host_users_false_where_unset)
{
	cJSON *ops = mutate_with(USERNS, MIN_POD);

	expect_value(ops, "/spec/hostUsers", "false");
	cJSON_Delete(ops);
	/* Off (the built-in default): nothing. */
	ops = mutate(MIN_POD);
	cr_assert_null(find_op(ops, "/spec/hostUsers"));
	cJSON_Delete(ops);
	/* An explicit value is the user's, even true (validation refuses it). */
	ops = mutate_with(USERNS, "{\"metadata\":{\"labels\":{\"agents.x-k8s.io/"
				  "sandbox-name-hash\":\"1\"}},\"spec\":{\"hostUsers\":true}}");
	cr_assert_null(find_op(ops, "/spec/hostUsers"));
	cJSON_Delete(ops);
	/* Idempotent. */
	ops = mutate_with(USERNS, "{\"metadata\":{\"labels\":{\"agents.x-k8s.io/"
				  "sandbox-name-hash\":\"1\"}},\"spec\":{\"hostUsers\":false}}");
	cr_assert_null(find_op(ops, "/spec/hostUsers"));
	cJSON_Delete(ops);
}

/*
 * hostUsers: false beside a host namespace is an invalid pod (422 before our
 * validating webhook could say why), and a Windows pod has no user namespaces.
 */
Test(mutate, user_namespaces_leave_pods_the_api_server_would_reject)
{
	static const char *const specs[] = {"{\"hostNetwork\":true}", "{\"hostPID\":true}",
					    "{\"hostIPC\":true}",
					    "{\"os\":{\"name\":\"windows\"}}"};

	for (int i = 0; i < 4; i++) {
		char pod[256];
		cJSON *ops;

		snprintf(pod, sizeof(pod),
			 "{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":"
			 "\"1\"}},\"spec\":%s}",
			 specs[i]);
		ops = mutate_with(USERNS, pod);
		cr_assert_null(find_op(ops, "/spec/hostUsers"), "%s", specs[i]);
		cJSON_Delete(ops);
	}
}

/* A pod with one container whose resources are given (JSON), built-in policy. */
static cJSON *mutate_resources(const char *pol, const char *resources)
{
	char pod[1024];

	snprintf(pod, sizeof(pod),
		 "{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":\"1\"}},"
		 "\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":%s}]}}",
		 resources);
	return mutate_with(pol, pod);
}

Test(mutate, limits_fill_only_what_is_missing)
{
	cJSON *ops = mutate_resources("{}", "{}");

	expect_value(ops, "/spec/containers/0/resources/limits",
		     "{\"memory\":\"2Gi\",\"ephemeral-storage\":\"4Gi\"}");
	expect_value(ops, "/spec/containers/0/resources/requests",
		     "{\"memory\":\"0\",\"ephemeral-storage\":\"0\"}");
	cJSON_Delete(ops);
	/* A limit the user set is theirs, even above the default. */
	ops = mutate_resources("{}", "{\"limits\":{\"memory\":\"64Gi\"}}");
	cr_assert_null(find_op(ops, "/spec/containers/0/resources/limits/memory"));
	expect_value(ops, "/spec/containers/0/resources/limits/ephemeral-storage", "\"4Gi\"");
	expect_value(ops, "/spec/containers/0/resources/requests", "{\"ephemeral-storage\":\"0\"}");
	cJSON_Delete(ops);
	/* Defaults switched off: nothing. */
	ops = mutate_resources("{\"resources\":{\"limits\":{\"memory\":{\"default\":\"\"},"
			       "\"ephemeral-storage\":{\"default\":\"\"}}}}",
			       "{}");
	cr_assert_null(find_op(ops, "/spec/containers/0/resources/limits"));
	cJSON_Delete(ops);
	/* CPU when the policy asks for it. */
	ops = mutate_resources("{\"resources\":{\"limits\":{\"cpu\":{\"default\":\"2\"}}}}",
			       "{\"limits\":{\"memory\":\"1Gi\",\"ephemeral-storage\":\"1Gi\"}}");
	expect_value(ops, "/spec/containers/0/resources/limits/cpu", "\"2\"");
	expect_value(ops, "/spec/containers/0/resources/requests", "{\"cpu\":\"0\"}");
	cJSON_Delete(ops);
}

/*
 * A limit below the request makes the pod invalid (422). A request above
 * the default becomes the limit; one at or below keeps the default, and the
 * request stays as written. Quantities compare by value, not by text.
 */
Test(mutate, limits_never_fall_below_the_request)
{
	cJSON *ops = mutate_resources(
		"{}", "{\"requests\":{\"memory\":\"4Gi\",\"ephemeral-storage\":\"4096Mi\"}}");

	expect_value(ops, "/spec/containers/0/resources/limits",
		     "{\"memory\":\"4Gi\",\"ephemeral-storage\":\"4Gi\"}");
	cr_assert_null(find_op(ops, "/spec/containers/0/resources/requests"));
	cJSON_Delete(ops);
	ops = mutate_resources(
		"{}", "{\"requests\":{\"memory\":\"2147483649\",\"ephemeral-storage\":\"1G\"}}");
	expect_value(ops, "/spec/containers/0/resources/limits",
		     "{\"memory\":\"2147483649\",\"ephemeral-storage\":\"4Gi\"}");
	cJSON_Delete(ops);
	ops = mutate_resources("{}", "{\"requests\":{\"memory\":\"512Mi\",\"cpu\":\"250m\"}}");
	expect_value(ops, "/spec/containers/0/resources/limits",
		     "{\"memory\":\"2Gi\",\"ephemeral-storage\":\"4Gi\"}");
	expect_value(ops, "/spec/containers/0/resources/requests/ephemeral-storage", "\"0\"");
	cr_assert_null(find_op(ops, "/spec/containers/0/resources/requests/memory"));
	cJSON_Delete(ops);
	/* Values of the wrong type are the user's: nothing is written over them. */
	for (int i = 0; i < 2; i++) {
		const cJSON *op;

		ops = mutate_resources("{}", i ? "[]" : "{\"limits\":\"lots\"}");
		cJSON_ArrayForEach(op, ops)
		{
			cr_assert(!strstr(sg_json_str(op, "path"), "/resources"), "%s",
				  sg_json_str(op, "path"));
		}
		cJSON_Delete(ops);
	}
	/* A request that is no quantity gets no limit: the API server refuses the pod. */
	ops = mutate_resources("{}", "{\"requests\":{\"memory\":\"lots\"}}");
	expect_value(ops, "/spec/containers/0/resources/limits", "{\"ephemeral-storage\":\"4Gi\"}");
	cJSON_Delete(ops);
}

Test(mutate, limits_cover_init_containers_not_ephemeral_ones)
{
	cJSON *ops = mutate(
		"{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":\"1\"}},"
		"\"spec\":{\"initContainers\":[{\"name\":\"i\"}],\"containers\":[{\"name\":\"a\","
		"\"resources\":{\"limits\":{\"memory\":\"1Gi\",\"ephemeral-storage\":\"1Gi\"}}}]}"
		"}");
	struct wh_policy *p = policy("{}");
	cJSON *old = parse_or_die("{\"spec\":{}}");
	cJSON *pod = parse_or_die("{\"spec\":{\"ephemeralContainers\":[{\"name\":\"dbg\"}]}}");
	struct wh_patch patch;

	expect_value(ops, "/spec/initContainers/0/resources",
		     "{\"limits\":{\"memory\":\"2Gi\",\"ephemeral-storage\":\"4Gi\"},"
		     "\"requests\":{\"memory\":\"0\",\"ephemeral-storage\":\"0\"}}");
	cr_assert_null(find_op(ops, "/spec/containers/0/resources/limits"));
	cJSON_Delete(ops);
	wh_patch_init(&patch);
	wh_mutate_ephemeral(wh_policy_rules(p, NULL), pod, old, &patch);
	cr_assert_eq(wh_patch_finish(&patch), 0);
	cr_assert_null(strstr(patch.buf.data, "resources"), "%s", patch.buf.data);
	wh_patch_release(&patch);
	cJSON_Delete(old);
	cJSON_Delete(pod);
	wh_policy_free(p);
}

/* A pod-level limit (spec.resources) already bounds the whole pod for that resource. */
Test(mutate, pod_level_limits_are_enough)
{
	cJSON *ops =
		mutate("{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":\"1\"}},"
		       "\"spec\":{\"resources\":{\"limits\":{\"memory\":\"8Gi\"}},"
		       "\"containers\":[{\"name\":\"a\"}]}}");

	expect_value(ops, "/spec/containers/0/resources",
		     "{\"limits\":{\"ephemeral-storage\":\"4Gi\"},"
		     "\"requests\":{\"ephemeral-storage\":\"0\"}}");
	cJSON_Delete(ops);
}

Test(mutate, empty_dirs_get_a_size_limit)
{
	cJSON *ops =
		mutate("{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":\"1\"}},"
		       "\"spec\":{\"volumes\":[{\"name\":\"c\",\"configMap\":{\"name\":\"c\"}},"
		       "{\"name\":\"w\",\"emptyDir\":{}},{\"name\":\"m\",\"emptyDir\":{\"medium\":"
		       "\"Memory\"}},"
		       "{\"name\":\"big\",\"emptyDir\":{\"sizeLimit\":\"50Gi\"}}]}}");

	expect_value(ops, "/spec/volumes/1/emptyDir/sizeLimit", "\"2Gi\"");
	expect_value(ops, "/spec/volumes/2/emptyDir/sizeLimit", "\"2Gi\"");
	cr_assert_null(find_op(ops, "/spec/volumes/0/emptyDir/sizeLimit"));
	cr_assert_null(find_op(ops, "/spec/volumes/3/emptyDir/sizeLimit"));
	cJSON_Delete(ops);
}

Test(mutate, scheduler_name_replaces_only_the_api_default)
{
	const char *pol = "{\"schedulerName\":\"sandbox-scheduler\"}";
	cJSON *ops = mutate_with(pol, MIN_POD);

	expect_value(ops, "/spec/schedulerName", "\"sandbox-scheduler\"");
	cJSON_Delete(ops);
	ops = mutate_with(pol, "{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":"
			       "\"1\"}},\"spec\":{\"schedulerName\":\"team-scheduler\"}}");
	cr_assert_null(find_op(ops, "/spec/schedulerName"));
	cJSON_Delete(ops);
}

Test(mutate, runtime_scheduling_adds_missing_selectors_and_tolerations)
{
	const char *pol = "{\"runtimeClass\":{\"default\":\"kata\",\"scheduling\":{\"kata\":{"
			  "\"nodeSelector\":{\"sandbox.example.com/kata\":\"true\",\"zone\":\"a\"},"
			  "\"tolerations\":[{\"key\":\"sandbox\",\"operator\":\"Exists\","
			  "\"effect\":\"NoSchedule\"},"
			  "{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
			  "\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]}}}}";
	cJSON *ops;

	ops = mutate_with(pol, MIN_POD);
	expect_value(ops, "/spec/nodeSelector",
		     "{\"sandbox.example.com/kata\":\"true\",\"zone\":\"a\"}");
	expect_value(ops, "/spec/tolerations",
		     "[{\"key\":\"sandbox\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"},"
		     "{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
		     "\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]");
	cJSON_Delete(ops);

	/* Existing selector keys (even with another value) and equal tolerations are kept. */
	ops = mutate_with(
		pol, "{\"metadata\":{\"labels\":{\"agents.x-k8s.io/sandbox-name-hash\":\"1\"}},"
		     "\"spec\":{\"nodeSelector\":{\"zone\":\"b\"},\"tolerations\":["
		     "{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
		     "\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]}}");
	expect_value(ops, "/spec/nodeSelector/sandbox.example.com~1kata", "\"true\"");
	cr_assert_null(find_op(ops, "/spec/nodeSelector/zone"));
	expect_value(ops, "/spec/tolerations/-",
		     "{\"key\":\"sandbox\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}");
	cr_assert_eq(cJSON_GetArraySize(ops), 7);
	cJSON_Delete(ops);
}

Test(mutate, ephemeral_only_new_containers)
{
	struct wh_policy *p = policy("{}");
	cJSON *old = parse_or_die("{\"spec\":{\"ephemeralContainers\":[{\"name\":\"old\"}]}}");
	cJSON *pod = parse_or_die("{\"spec\":{\"ephemeralContainers\":[{\"name\":\"old\"},"
				  "{\"name\":\"new\"}]}}");
	struct wh_patch patch;
	cJSON *ops;

	wh_patch_init(&patch);
	wh_mutate_ephemeral(wh_policy_rules(p, NULL), pod, old, &patch);
	cr_assert_eq(wh_patch_finish(&patch), 0);
	ops = parse_or_die(patch.buf.data);
	cr_assert_eq(cJSON_GetArraySize(ops), 1);
	cr_assert_not_null(find_op(ops, "/spec/ephemeralContainers/1/securityContext"));
	cJSON_Delete(ops);
	cJSON_Delete(old);
	cJSON_Delete(pod);
	wh_patch_release(&patch);
	wh_policy_free(p);
}
