#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "policy.h"

static struct wh_policy *parse(const char *text, char **cause)
{
	*cause = NULL;
	return wh_policy_parse(text, strlen(text), "test.json", cause);
}

static void expect_error(const char *text, const char *needle)
{
	char *cause;
	struct wh_policy *p = parse(text, &cause);

	cr_assert_null(p, "accepted: %s", text);
	cr_assert_not_null(cause);
	cr_assert(strstr(cause, needle), "'%s' not in '%s'", needle, cause);
	cr_assert(strncmp(cause, "test.json: ", 11) == 0, "cause names the file: %s", cause);
	free(cause);
}

Test(policy, built_in_default_is_gvisor_enforce_all_hardening)
{
	char *cause;
	struct wh_policy *p = parse(wh_default_policy_json, &cause);
	const struct wh_rules *r;

	cr_assert_not_null(p, "%s", cause);
	r = wh_policy_rules(p, "any");
	cr_assert_eq(r->mode, WH_ENFORCE);
	cr_assert(r->mutate);
	cr_assert_str_eq(r->runtime_default, "gvisor");
	for (const char *const *rc =
		     (const char *const[]){"gvisor", "kata", "kata-qemu", "kata-clh", "kata-fc",
					   "kata-vm-isolation", NULL};
	     *rc; rc++)
		cr_assert(wh_in_list(r->runtime_allowed, *rc), "%s", *rc);
	cr_assert_eq(cJSON_GetArraySize((cJSON *)r->runtime_allowed), 6);
	cr_assert(r->no_token && r->no_service_links && r->seccomp && r->no_privilege_escalation &&
		  r->drop_all);
	cr_assert_str_eq(r->default_profile, "default");
	cr_assert_null(r->scheduler_name);
	wh_policy_free(p);
}

Test(policy, empty_object_means_all_defaults)
{
	char *cause;
	struct wh_policy *p = parse("{}", &cause);

	cr_assert_not_null(p, "%s", cause);
	cr_assert_str_eq(wh_policy_rules(p, NULL)->runtime_default, "gvisor");
	wh_policy_free(p);
}

Test(policy, namespace_overrides_inherit_the_rest)
{
	char *cause;
	struct wh_policy *p =
		parse("{\"mode\":\"warn\",\"schedulerName\":\"sandbox-scheduler\","
		      "\"namespaces\":{\"team-b\":{\"mode\":\"enforce\","
		      "\"runtimeClass\":{\"default\":\"kata\",\"allowed\":[\"kata\"]}},"
		      "\"team-a\":{\"hardening\":{\"runAsNonRoot\":true}}}}",
		      &cause);
	const struct wh_rules *a, *b, *other;

	cr_assert_not_null(p, "%s", cause);
	a = wh_policy_rules(p, "team-a");
	b = wh_policy_rules(p, "team-b");
	other = wh_policy_rules(p, "team-c");
	cr_assert_eq(other->mode, WH_WARN);
	cr_assert_eq(a->mode, WH_WARN);
	cr_assert(a->run_as_non_root);
	cr_assert(!other->run_as_non_root);
	cr_assert_eq(b->mode, WH_ENFORCE);
	cr_assert_str_eq(b->runtime_default, "kata");
	cr_assert(!wh_in_list(b->runtime_allowed, "gvisor"));
	cr_assert_str_eq(b->scheduler_name, "sandbox-scheduler");
	wh_policy_free(p);
}

Test(policy, empty_default_runtime_turns_defaulting_off)
{
	char *cause;
	struct wh_policy *p = parse("{\"runtimeClass\":{\"default\":\"\"}}", &cause);

	cr_assert_not_null(p, "%s", cause);
	cr_assert_null(wh_policy_rules(p, "x")->runtime_default);
	wh_policy_free(p);
}

Test(policy, exemptions_by_namespace_user_and_group)
{
	char *cause;
	struct wh_policy *p = parse("{\"exemptions\":{\"namespaces\":[\"kube-system\"],"
				    "\"users\":[\"admin\"],\"groups\":[\"ops\"]}}",
				    &cause);
	cJSON *groups = parse_or_die("[\"a\",\"ops\"]"), *none = parse_or_die("[\"a\"]");

	cr_assert(wh_policy_exempt(p, "kube-system", "u", NULL));
	cr_assert(wh_policy_exempt(p, "x", "admin", NULL));
	cr_assert(wh_policy_exempt(p, "x", "u", groups));
	cr_assert(!wh_policy_exempt(p, "x", "u", none));
	cr_assert(!wh_policy_exempt(p, "", "", NULL));
	cJSON_Delete(groups);
	cJSON_Delete(none);
	wh_policy_free(p);
}

Test(policy, controller_users_default_to_upstream_service_account)
{
	char *cause;
	struct wh_policy *def = parse("{}", &cause);
	struct wh_policy *own =
		parse("{\"agentSandbox\":{\"controllerUsers\":[\"system:serviceaccount:x:ctl\"]}}",
		      &cause);

	cr_assert_not_null(def, "%s", cause);
	cr_assert_not_null(own, "%s", cause);
	cr_assert(wh_policy_is_controller(def, WH_DEFAULT_CONTROLLER_USER));
	cr_assert(!wh_policy_is_controller(def, "alice@example.com"));
	cr_assert(!wh_policy_is_controller(def, NULL));
	cr_assert(wh_policy_is_controller(own, "system:serviceaccount:x:ctl"));
	cr_assert(!wh_policy_is_controller(own, WH_DEFAULT_CONTROLLER_USER));
	expect_error("{\"agentSandbox\":{\"controllerUsers\":\"x\"}}", "array of strings");
	expect_error("{\"agentSandbox\":{\"users\":[]}}",
		     "unknown field 'users' in policy.agentSandbox");
	expect_error("{\"namespaces\":{\"a\":{\"agentSandbox\":{}}}}",
		     "unknown field 'agentSandbox' in policy.namespaces.a");
	wh_policy_free(def);
	wh_policy_free(own);
}

Test(policy, user_namespaces_are_off_by_default_and_set_per_namespace)
{
	char *cause;
	struct wh_policy *p = parse("{\"namespaces\":{\"team-a\":{\"hardening\":{"
				    "\"userNamespaces\":true}}}}",
				    &cause);

	cr_assert_not_null(p, "%s", cause);
	cr_assert(!wh_policy_rules(p, "team-b")->user_namespaces);
	cr_assert(wh_policy_rules(p, "team-a")->user_namespaces);
	wh_policy_free(p);
	expect_error("{\"hardening\":{\"userNamespaces\":\"yes\"}}",
		     "policy.hardening.userNamespaces must be true or false");
}

Test(policy, resource_limits_default_memory_storage_and_empty_dir)
{
	char *cause;
	struct wh_policy *p = parse("{}", &cause);
	const struct wh_rules *r;
	struct wh_quantity two_gi;

	cr_assert_not_null(p, "%s", cause);
	r = wh_policy_rules(p, "x");
	cr_assert_null(r->limits[WH_RES_CPU].dflt);
	cr_assert(!r->limits[WH_RES_CPU].required);
	cr_assert_str_eq(r->limits[WH_RES_MEMORY].dflt, "2Gi");
	cr_assert(r->limits[WH_RES_MEMORY].required);
	cr_assert_str_eq(r->limits[WH_RES_EPHEMERAL_STORAGE].dflt, "4Gi");
	cr_assert(r->limits[WH_RES_EPHEMERAL_STORAGE].required);
	cr_assert_str_eq(r->empty_dir.dflt, "2Gi");
	cr_assert(r->empty_dir.required);
	cr_assert_eq(wh_quantity_parse("2048Mi", &two_gi), 0);
	cr_assert_eq(wh_quantity_cmp(&r->limits[WH_RES_MEMORY].value, &two_gi), 0);
	wh_policy_free(p);
}

Test(policy, resource_limits_per_namespace_replace_only_what_they_name)
{
	char *cause;
	struct wh_policy *p =
		parse("{\"resources\":{\"limits\":{\"cpu\":{\"default\":\"2\"}}},"
		      "\"namespaces\":{\"big\":{\"resources\":{\"limits\":{\"memory\":{"
		      "\"default\":\"8Gi\"},\"cpu\":{\"required\":true}},"
		      "\"emptyDirSizeLimit\":{\"default\":\"\",\"required\":false}}}}}",
		      &cause);
	const struct wh_rules *big, *other;

	cr_assert_not_null(p, "%s", cause);
	big = wh_policy_rules(p, "big");
	other = wh_policy_rules(p, "other");
	cr_assert_str_eq(big->limits[WH_RES_MEMORY].dflt, "8Gi");
	cr_assert(big->limits[WH_RES_MEMORY].required);
	cr_assert_str_eq(big->limits[WH_RES_CPU].dflt, "2");
	cr_assert(big->limits[WH_RES_CPU].required);
	cr_assert_str_eq(big->limits[WH_RES_EPHEMERAL_STORAGE].dflt, "4Gi");
	cr_assert_null(big->empty_dir.dflt);
	cr_assert(!big->empty_dir.required);
	cr_assert_str_eq(other->limits[WH_RES_MEMORY].dflt, "2Gi");
	cr_assert_str_eq(other->limits[WH_RES_CPU].dflt, "2");
	cr_assert(!other->limits[WH_RES_CPU].required);
	cr_assert_str_eq(other->empty_dir.dflt, "2Gi");
	wh_policy_free(p);
}

Test(policy, resource_limit_quantities_are_checked_at_load)
{
	expect_error("{\"resources\":{\"limits\":{\"memory\":{\"default\":\"2GB\"}}}}",
		     "policy.resources.limits.memory.default '2GB' is not a Kubernetes quantity");
	expect_error("{\"resources\":{\"limits\":{\"memory\":{\"default\":\" 2Gi\"}}}}",
		     "is not a Kubernetes quantity");
	expect_error("{\"resources\":{\"limits\":{\"cpu\":{\"default\":\"0\"}}}}",
		     "policy.resources.limits.cpu.default '0' must be more than zero");
	expect_error("{\"resources\":{\"limits\":{\"cpu\":{\"default\":\"-1\"}}}}",
		     "must be more than zero");
	expect_error("{\"resources\":{\"limits\":{\"memory\":{\"default\":\"99Ei\"}}}}",
		     "'99Ei' is too large");
	expect_error("{\"resources\":{\"limits\":{\"memory\":{\"default\":2}}}}",
		     "policy.resources.limits.memory.default must be a string");
	expect_error("{\"resources\":{\"limits\":{\"memory\":{\"required\":\"yes\"}}}}",
		     "policy.resources.limits.memory.required must be true or false");
	expect_error("{\"resources\":{\"limits\":{\"gpu\":{}}}}",
		     "unknown field 'gpu' in policy.resources.limits");
	expect_error("{\"resources\":{\"limits\":{\"memory\":{\"max\":\"1Gi\"}}}}",
		     "unknown field 'max' in policy.resources.limits.memory");
	expect_error("{\"resources\":{\"sizeLimit\":{}}}",
		     "unknown field 'sizeLimit' in policy.resources");
	expect_error("{\"namespaces\":{\"a\":{\"resources\":{\"emptyDirSizeLimit\":{"
		     "\"default\":\"1Qi\"}}}}}",
		     "policy.namespaces.a.resources.emptyDirSizeLimit.default '1Qi'");
}

Test(policy, scheduling_per_runtime_class)
{
	char *cause;
	struct wh_policy *p = parse(
		"{\"runtimeClass\":{\"scheduling\":{\"kata\":{\"nodeSelector\":{\"kata\":\"true\"},"
		"\"tolerations\":[{\"key\":\"sandbox\",\"operator\":\"Exists\","
		"\"effect\":\"NoSchedule\"}]}}}}",
		&cause);
	const struct wh_scheduling *s;

	cr_assert_not_null(p, "%s", cause);
	s = wh_policy_scheduling(p, "kata");
	cr_assert_not_null(s);
	cr_assert_not_null(s->node_selector);
	cr_assert_eq(cJSON_GetArraySize((cJSON *)s->tolerations), 1);
	cr_assert_null(wh_policy_scheduling(p, "gvisor"));
	wh_policy_free(p);
}

Test(policy, errors_name_the_field)
{
	expect_error("{\"mode\":\"block\"}", "policy.mode is 'block'");
	expect_error("{\"mdoe\":\"warn\"}", "unknown field 'mdoe' in policy");
	expect_error("{\"hardening\":{\"seccomp\":true}}",
		     "unknown field 'seccomp' in policy.hardening");
	expect_error("{\"hardening\":{\"seccompRuntimeDefault\":1}}", "must be true or false");
	expect_error("{\"runtimeClass\":{\"default\":\"runc\"}}",
		     "'runc' is not in runtimeClass.allowed");
	expect_error("{\"runtimeClass\":{\"allowed\":[]}}", "at least one RuntimeClass");
	expect_error("{\"runtimeClass\":{\"allowed\":[\"Bad_Name\"]}}", "not a valid RuntimeClass");
	expect_error("{\"runtimeClass\":{\"allowed\":[\"\"]}}", "non-empty strings");
	expect_error("{\"network\":{\"defaultProfile\":\"x\"}}",
		     "'x' is not in network.allowedProfiles");
	expect_error("{\"network\":{\"defaultProfile\":\"bad value!\",\"allowedProfiles\":[\"bad "
		     "value!\"]}}",
		     "valid label value");
	expect_error("{\"namespaces\":{\"a\":{\"exemptions\":{}}}}",
		     "unknown field 'exemptions' in policy.namespaces.a");
	expect_error("{\"namespaces\":{\"a\":{\"runtimeClass\":{\"default\":\"x\"}}}}",
		     "policy.namespaces.a: runtimeClass.default 'x'");
	expect_error("{\"namespaces\":[]}", "keyed by namespace");
	expect_error("{\"exemptions\":{\"users\":\"admin\"}}", "array of strings");
	expect_error(
		"{\"runtimeClass\":{\"scheduling\":{\"kata\":{\"tolerations\":[{\"effect\":1}]}}}}",
		"effect must be a string");
	expect_error("[1]", "must be a JSON object");
	expect_error("{", "invalid JSON");
	expect_error("{} {}", "trailing data");
}

Test(policy, load_reports_missing_and_oversized_files)
{
	char *cause = NULL;
	char path[] = "/tmp/sg-policy-XXXXXX";
	int fd = mkstemp(path);
	char *big = malloc(WH_POLICY_MAX_SIZE + 2);

	cr_assert_null(wh_policy_load("/nonexistent/policy.json", &cause));
	cr_assert(strstr(cause, "cannot read policy '/nonexistent/policy.json': No such file"),
		  "%s", cause);
	free(cause);
	memset(big, ' ', WH_POLICY_MAX_SIZE + 1);
	cr_assert_eq(write(fd, big, WH_POLICY_MAX_SIZE + 1), WH_POLICY_MAX_SIZE + 1);
	close(fd);
	cr_assert_null(wh_policy_load(path, &cause));
	cr_assert(strstr(cause, "larger than"), "%s", cause);
	free(cause);
	free(big);
	unlink(path);
}

Test(policy, runtime_default_is_a_preference_list_or_one_name)
{
	char *cause;
	struct wh_policy *list =
		parse("{\"runtimeClass\":{\"default\":[\"kata\",\"gvisor\"]},"
		      "\"namespaces\":{\"one\":{\"runtimeClass\":{\"default\":"
		      "\"kata-fc\"}},\"off\":{\"runtimeClass\":{\"default\":[]}}}}",
		      &cause);
	struct wh_policy *def = parse("{}", &cause);
	const struct wh_rules *r;

	cr_assert_not_null(list, "%s", cause);
	r = wh_policy_rules(list, NULL);
	cr_assert_eq(r->nruntime_prefs, 2);
	cr_assert_str_eq(r->runtime_prefs[0], "kata");
	cr_assert_str_eq(r->runtime_prefs[1], "gvisor");
	cr_assert_str_eq(r->runtime_default, "kata");
	r = wh_policy_rules(list, "one");
	cr_assert_eq(r->nruntime_prefs, 1);
	cr_assert_str_eq(r->runtime_default, "kata-fc");
	r = wh_policy_rules(list, "off");
	cr_assert_eq(r->nruntime_prefs, 0);
	cr_assert_null(r->runtime_default);
	/* The built-in default prefers gVisor, then the Kata classes it allows. */
	r = wh_policy_rules(def, NULL);
	cr_assert_eq(r->nruntime_prefs, 6);
	cr_assert_str_eq(r->runtime_prefs[0], "gvisor");
	cr_assert_str_eq(r->runtime_prefs[1], "kata");
	cr_assert(wh_in_list(r->runtime_handlers, "runsc"));
	cr_assert(wh_in_list(r->runtime_handlers, "kata-qemu"));
	cr_assert_not(wh_in_list(r->runtime_handlers, "runc"));
	wh_policy_free(list);
	wh_policy_free(def);
}

Test(policy, runtime_preferences_and_handlers_are_checked)
{
	expect_error("{\"runtimeClass\":{\"default\":[\"gvisor\",\"runc\"]}}",
		     "runtimeClass.default 'runc' is not in runtimeClass.allowed");
	expect_error("{\"runtimeClass\":{\"default\":[\"gvisor\",\"gvisor\"]}}",
		     "names 'gvisor' twice");
	expect_error("{\"runtimeClass\":{\"default\":[\"gvisor\",\"\"]}}",
		     "must hold only non-empty strings");
	expect_error("{\"runtimeClass\":{\"default\":7}}", "or a list of them");
	expect_error("{\"runtimeClass\":{\"allowedHandlers\":[]}}",
		     "allowedHandlers must name at least one handler");
	expect_error("{\"runtimeClass\":{\"allowedHandlers\":[\"Runsc\"]}}",
		     "'Runsc' is not a valid RuntimeClass handler");
	expect_error("{\"runtimeClass\":{\"allowedHandlers\":\"runsc\"}}", "array of strings");
	expect_error("{\"runtimeClass\":{\"preference\":[\"gvisor\"]}}",
		     "unknown field 'preference'");
	expect_error("{\"namespaces\":{\"a\":{\"runtimeClass\":{\"allowedHandlers\":[\"a.b\"]}}}}",
		     "policy.namespaces.a: runtimeClass.allowedHandlers: 'a.b'");
}

Test(policy, allowed_handlers_are_set_per_namespace)
{
	char *cause;
	struct wh_policy *p = parse("{\"runtimeClass\":{\"allowedHandlers\":[\"runsc\"]},"
				    "\"namespaces\":{\"vm\":{\"runtimeClass\":{"
				    "\"allowedHandlers\":[\"kata-qemu\"]}}}}",
				    &cause);

	cr_assert_not_null(p, "%s", cause);
	cr_assert(wh_in_list(wh_policy_rules(p, NULL)->runtime_handlers, "runsc"));
	cr_assert_not(wh_in_list(wh_policy_rules(p, NULL)->runtime_handlers, "kata-qemu"));
	cr_assert(wh_in_list(wh_policy_rules(p, "vm")->runtime_handlers, "kata-qemu"));
	cr_assert_not(wh_in_list(wh_policy_rules(p, "vm")->runtime_handlers, "runsc"));
	wh_policy_free(p);
}

/* A policy file may be YAML: the same schema, typed as kubectl types YAML. */
Test(policy, yaml_policy_reads_like_its_json)
{
	char *cause;
	struct wh_policy *p = parse("# team overrides\n"
				    "mode: warn\n"
				    "schedulerName: sandbox-scheduler\n"
				    "namespaces:\n"
				    "  team-b:\n"
				    "    mode: enforce\n"
				    "    runtimeClass: {default: kata, allowed: [kata]}\n"
				    "  team-a:\n"
				    "    hardening:\n"
				    "      runAsNonRoot: yes\n",
				    &cause);
	const struct wh_rules *a, *b;

	cr_assert_not_null(p, "%s", cause);
	a = wh_policy_rules(p, "team-a");
	b = wh_policy_rules(p, "team-b");
	cr_assert_eq(a->mode, WH_WARN);
	cr_assert(a->run_as_non_root);
	cr_assert_eq(b->mode, WH_ENFORCE);
	cr_assert_str_eq(b->runtime_default, "kata");
	cr_assert_str_eq(b->scheduler_name, "sandbox-scheduler");
	wh_policy_free(p);
	/* YAML errors name the file and the line; a quoted "true" is a string. */
	expect_error("mode: warn\nmode: enforce\n", "line 2, column 1: duplicate key 'mode'");
	expect_error("hardening:\n  runAsNonRoot: \"true\"\n", "runAsNonRoot");
}
