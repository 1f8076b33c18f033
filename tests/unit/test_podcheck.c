#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "podcheck.h"

static struct wh_policy *pol;

static void setup(void)
{
	char *cause = NULL;

	pol = wh_policy_parse("{}", 2, "test", &cause);
	cr_assert_not_null(pol, "%s", cause);
}

static void teardown(void)
{
	wh_policy_free(pol);
}

TestSuite(podcheck, .init = setup, .fini = teardown);

/* A pod spec that passes every default rule; tests change one thing at a time. */
#define GOOD_FIELDS                                                                                \
	"\"runtimeClassName\":\"gvisor\",\"automountServiceAccountToken\":false,"                  \
	"\"enableServiceLinks\":false,"                                                            \
	"\"securityContext\":{\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}"
#define GOOD_LIMITS "\"resources\":{\"limits\":{\"memory\":\"1Gi\",\"ephemeral-storage\":\"1Gi\"}}"
#define GOOD_CTR                                                                                   \
	"{\"name\":\"a\",\"securityContext\":{\"allowPrivilegeEscalation\":false,"                 \
	"\"capabilities\":{\"drop\":[\"ALL\"]}}," GOOD_LIMITS "}"

static struct wh_violations check(enum wh_holder holder, const char *spec_json)
{
	struct wh_violations v;
	cJSON *spec = parse_or_die(spec_json);
	struct wh_podcheck c = {.rules = wh_policy_rules(pol, "ns"),
				.holder = holder,
				.where = "spec",
				.meta = NULL};

	wh_violations_init(&v);
	wh_check_podspec(&c, spec, &v);
	cJSON_Delete(spec);
	return v;
}

static void expect(enum wh_holder holder, const char *spec_json, const char *needle)
{
	struct wh_violations v = check(holder, spec_json);
	bool found = false;

	for (size_t i = 0; i < v.n; i++)
		if (strstr(v.items[i], needle))
			found = true;
	cr_assert(found, "'%s' not reported for %s (got %zu: %s)", needle, spec_json, v.n,
		  v.n ? v.items[0] : "");
	wh_violations_release(&v);
}

static void expect_clean(enum wh_holder holder, const char *spec_json)
{
	struct wh_violations v = check(holder, spec_json);

	cr_assert_eq(v.n, 0, "unexpected: %s", v.n ? v.items[0] : "");
	wh_violations_release(&v);
}

Test(podcheck, a_hardened_pod_is_clean)
{
	expect_clean(WH_HOLDER_POD, "{" GOOD_FIELDS ",\"containers\":[" GOOD_CTR "]}");
}

Test(podcheck, pod_level_rules)
{
	expect(WH_HOLDER_POD, "{\"runtimeClassName\":\"runc\",\"containers\":[" GOOD_CTR "]}",
	       "runtimeClassName is 'runc'");
	expect(WH_HOLDER_POD, "{\"containers\":[" GOOD_CTR "]}", "runtimeClassName is not set");
	expect(WH_HOLDER_POD, "{" GOOD_FIELDS ",\"hostNetwork\":true}", "hostNetwork is true");
	expect(WH_HOLDER_POD, "{" GOOD_FIELDS ",\"hostPID\":true}", "hostPID is true");
	expect(WH_HOLDER_POD, "{" GOOD_FIELDS ",\"hostIPC\":true}", "hostIPC is true");
	expect(WH_HOLDER_POD, "{\"automountServiceAccountToken\":true}",
	       "automountServiceAccountToken is true");
	expect(WH_HOLDER_POD, "{\"enableServiceLinks\":true}", "enableServiceLinks is true");
	expect(WH_HOLDER_POD, "{\"os\":{\"name\":\"windows\"}}", "os.name is 'windows'");
	expect(WH_HOLDER_POD,
	       "{\"securityContext\":{\"sysctls\":[{\"name\":\"kernel/msgmax\",\"value\":\"1\"}]}}",
	       "'kernel/msgmax' is not a safe sysctl");
	expect(WH_HOLDER_POD,
	       "{\"securityContext\":{\"seccompProfile\":{\"type\":\"Unconfined\"}}}",
	       "spec.securityContext.seccompProfile.type is Unconfined");
	expect(WH_HOLDER_POD,
	       "{\"securityContext\":{\"seLinuxOptions\":{\"type\":\"spc_t\",\"user\":\"root\"}}}",
	       "seLinuxOptions.type is 'spc_t'");
	expect(WH_HOLDER_POD, "{\"securityContext\":{\"seLinuxOptions\":{\"user\":\"root\"}}}",
	       "seLinuxOptions.user is set");
	expect(WH_HOLDER_POD,
	       "{\"securityContext\":{\"appArmorProfile\":{\"type\":\"Unconfined\"}}}",
	       "appArmorProfile.type is Unconfined");
}

Test(podcheck, safe_sysctls_pass_with_either_separator)
{
	expect_clean(WH_HOLDER_POD,
		     "{\"runtimeClassName\":\"gvisor\",\"automountServiceAccountToken\":false,"
		     "\"securityContext\":{\"seccompProfile\":{\"type\":\"RuntimeDefault\"},"
		     "\"sysctls\":[{\"name\":\"net.ipv4.tcp_syncookies\",\"value\":\"1\"},"
		     "{\"name\":\"net/ipv4/ip_local_port_range\",\"value\":\"1024 65535\"}]},"
		     "\"containers\":[" GOOD_CTR "]}");
}

Test(podcheck, container_rules_cover_init_regular_and_ephemeral)
{
	static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};

	for (int i = 0; i < 3; i++) {
		char spec[512], where[64];

		snprintf(spec, sizeof(spec),
			 "{" GOOD_FIELDS ",\"%s\":[{\"name\":\"c\",\"securityContext\":"
			 "{\"privileged\":true}}]}",
			 lists[i]);
		snprintf(where, sizeof(where), "spec.%s[0] (c).securityContext.privileged",
			 lists[i]);
		expect(WH_HOLDER_POD, spec, where);
	}
}

Test(podcheck, container_security_context_rules)
{
	expect(WH_HOLDER_POD, "{\"containers\":[{\"name\":\"a\"}]}",
	       "allowPrivilegeEscalation is not set");
	expect(WH_HOLDER_POD,
	       "{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"allowPrivilegeEscalation\":"
	       "true}}]}",
	       "allowPrivilegeEscalation is true");
	expect(WH_HOLDER_POD,
	       "{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"capabilities\":"
	       "{\"drop\":[\"NET_RAW\"]}}}]}",
	       "drop does not include ALL");
	expect(WH_HOLDER_POD,
	       "{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"capabilities\":"
	       "{\"add\":[\"NET_ADMIN\"]}}}]}",
	       "capabilities.add has 'NET_ADMIN'");
	expect(WH_HOLDER_POD,
	       "{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"procMount\":\"Unmasked\"}}]"
	       "}",
	       "procMount is 'Unmasked'");
	expect(WH_HOLDER_POD,
	       "{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"windowsOptions\":"
	       "{\"hostProcess\":true}}}]}",
	       "hostProcess is true");
	expect(WH_HOLDER_POD, "{\"containers\":[{\"name\":\"a\",\"ports\":[{\"hostPort\":22}]}]}",
	       "hostPort 22");
	expect(WH_HOLDER_POD, "{\"containers\":[{\"name\":\"a\"}]}", "has no seccomp profile");
	expect(WH_HOLDER_POD,
	       "{\"containers\":[{\"name\":\"a\",\"readinessProbe\":{\"tcpSocket\":"
	       "{\"host\":\"10.0.0.1\",\"port\":22}}}]}",
	       "readinessProbe.tcpSocket.host is '10.0.0.1'");
	expect(WH_HOLDER_POD,
	       "{\"containers\":[{\"name\":\"a\",\"lifecycle\":{\"preStop\":{\"httpGet\":"
	       "{\"host\":\"metadata\",\"port\":80}}}}]}",
	       "lifecycle.preStop.httpGet.host");
}

/* Pod Security baseline refuses HostProcess at either level; so do we, on pods and templates. */
Test(podcheck, host_process_is_refused_at_pod_and_container_level)
{
	static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};
	static const enum wh_holder holders[] = {WH_HOLDER_POD, WH_HOLDER_SANDBOX,
						 WH_HOLDER_TEMPLATE};

	for (int h = 0; h < 3; h++) {
		expect(holders[h],
		       "{\"runtimeClassName\":\"gvisor\",\"automountServiceAccountToken\":false,"
		       "\"securityContext\":{\"seccompProfile\":{\"type\":\"RuntimeDefault\"},"
		       "\"windowsOptions\":{\"hostProcess\":true}},\"containers\":[" GOOD_CTR "]}",
		       "spec.securityContext.windowsOptions.hostProcess is true");
		for (int i = 0; i < 3; i++) {
			char spec[512], where[96];

			snprintf(spec, sizeof(spec),
				 "{" GOOD_FIELDS ",\"%s\":[{\"name\":\"c\",\"securityContext\":"
				 "{\"windowsOptions\":{\"hostProcess\":true}}}]}",
				 lists[i]);
			snprintf(
				where, sizeof(where),
				"spec.%s[0] (c).securityContext.windowsOptions.hostProcess is true",
				lists[i]);
			expect(holders[h], spec, where);
		}
	}
	/* false (or unset) is what every Linux pod has. */
	expect_clean(WH_HOLDER_POD,
		     "{" GOOD_FIELDS ",\"containers\":[{\"name\":\"a\",\"securityContext\":"
		     "{\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":[\"ALL\"]},"
		     "\"windowsOptions\":{\"hostProcess\":false}}," GOOD_LIMITS "}]}");
}

Test(podcheck, net_bind_service_may_be_added)
{
	expect_clean(WH_HOLDER_POD,
		     "{" GOOD_FIELDS ",\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		     "\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":[\"ALL\"],"
		     "\"add\":[\"NET_BIND_SERVICE\"]}}," GOOD_LIMITS "}]}");
}

Test(podcheck, per_container_seccomp_is_enough_without_a_pod_profile)
{
	expect_clean(
		WH_HOLDER_POD,
		"{\"runtimeClassName\":\"kata\",\"automountServiceAccountToken\":false,"
		"\"containers\":[{\"name\":\"a\",\"securityContext\":{\"allowPrivilegeEscalation\":"
		"false,"
		"\"capabilities\":{\"drop\":[\"ALL\"]},\"seccompProfile\":{\"type\":\"Localhost\","
		"\"localhostProfile\":\"p.json\"}}," GOOD_LIMITS "}]}");
}

Test(podcheck, volumes)
{
	expect(WH_HOLDER_POD, "{\"volumes\":[{\"name\":\"h\",\"hostPath\":{\"path\":\"/\"}}]}",
	       "spec.volumes[0] (h): hostPath");
	expect(WH_HOLDER_POD, "{\"volumes\":[{\"name\":\"n\",\"nfs\":{\"server\":\"x\"}}]}",
	       "volume type nfs is not allowed");
	expect(WH_HOLDER_POD,
	       "{\"volumes\":[{\"name\":\"t\",\"projected\":{\"sources\":[{\"serviceAccountToken\":"
	       "{\"path\":\"token\"}}]}}]}",
	       "projected serviceAccountToken");
	expect_clean(WH_HOLDER_POD,
		     "{" GOOD_FIELDS ",\"containers\":[" GOOD_CTR "],\"volumes\":["
		     "{\"name\":\"w\",\"emptyDir\":{\"sizeLimit\":\"1Gi\"}},{\"name\":\"c\","
		     "\"configMap\":{\"name\":\"c\"}},"
		     "{\"name\":\"p\",\"persistentVolumeClaim\":{\"claimName\":\"ws\"}}]}");
}

Test(podcheck, templates_may_leave_defaulted_fields_unset)
{
	expect_clean(WH_HOLDER_TEMPLATE, "{\"containers\":[{\"name\":\"a\"}]}");
	/* A Sandbox must say automountServiceAccountToken: false itself. */
	expect(WH_HOLDER_SANDBOX, "{\"containers\":[{\"name\":\"a\"}]}",
	       "automountServiceAccountToken is not set");
	expect_clean(WH_HOLDER_SANDBOX,
		     "{\"automountServiceAccountToken\":false,\"containers\":[{\"name\":\"a\"}]}");
}

Test(podcheck, templates_still_refuse_explicit_bad_values)
{
	expect(WH_HOLDER_TEMPLATE, "{\"runtimeClassName\":\"runc\"}", "runtimeClassName is 'runc'");
	expect(WH_HOLDER_TEMPLATE,
	       "{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"capabilities\":"
	       "{\"drop\":[]}}}]}",
	       "drop does not include ALL");
	expect(WH_HOLDER_TEMPLATE, "{\"automountServiceAccountToken\":true}",
	       "automountServiceAccountToken is true");
}

/* Checks spec_json against the rules of policy_json (namespace "ns"). */
static struct wh_violations check_with(const char *policy_json, enum wh_holder holder,
				       const char *spec_json)
{
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse(policy_json, strlen(policy_json), "t", &cause);
	struct wh_violations v;
	cJSON *spec = parse_or_die(spec_json);
	struct wh_podcheck c = {.holder = holder, .where = "spec"};

	cr_assert_not_null(p, "%s", cause);
	c.rules = wh_policy_rules(p, "ns");
	wh_violations_init(&v);
	wh_check_podspec(&c, spec, &v);
	cJSON_Delete(spec);
	wh_policy_free(p);
	return v;
}

static bool has(const struct wh_violations *v, const char *needle)
{
	for (size_t i = 0; i < v->n; i++)
		if (strstr(v->items[i], needle))
			return true;
	return false;
}

#define USERNS	   "{\"hardening\":{\"userNamespaces\":true}}"
#define USERNS_OFF "{\"hardening\":{\"userNamespaces\":true},\"mutate\":false}"

Test(podcheck, user_namespaces)
{
	struct wh_violations v;

	v = check_with(USERNS, WH_HOLDER_POD, "{" GOOD_FIELDS ",\"hostUsers\":true}");
	cr_assert(has(&v, "spec.hostUsers is true; set it to false"), "%s", v.n ? v.items[0] : "");
	wh_violations_release(&v);
	v = check_with(USERNS, WH_HOLDER_POD, "{" GOOD_FIELDS "}");
	cr_assert(has(&v, "spec.hostUsers is not set; set it to false"));
	wh_violations_release(&v);
	v = check_with(USERNS, WH_HOLDER_POD,
		       "{" GOOD_FIELDS ",\"hostUsers\":false,\"containers\":[" GOOD_CTR "]}");
	cr_assert_eq(v.n, 0, "%s", v.n ? v.items[0] : "");
	wh_violations_release(&v);
	/* A template may leave it to the mutation, unless mutation is off. */
	v = check_with(USERNS, WH_HOLDER_TEMPLATE, "{\"containers\":[{\"name\":\"a\"}]}");
	cr_assert_eq(v.n, 0, "%s", v.n ? v.items[0] : "");
	wh_violations_release(&v);
	v = check_with(USERNS, WH_HOLDER_TEMPLATE, "{\"hostUsers\":true}");
	cr_assert(has(&v, "spec.hostUsers is true"));
	wh_violations_release(&v);
	v = check_with(USERNS_OFF, WH_HOLDER_TEMPLATE, "{\"containers\":[{\"name\":\"a\"}]}");
	cr_assert(has(&v, "spec.hostUsers is not set"));
	wh_violations_release(&v);
	/* Off by default: hostUsers is the user's business. */
	v = check(WH_HOLDER_POD,
		  "{" GOOD_FIELDS ",\"hostUsers\":true,\"containers\":[" GOOD_CTR "]}");
	cr_assert_eq(v.n, 0, "%s", v.n ? v.items[0] : "");
	wh_violations_release(&v);
}

Test(podcheck, resource_limits_are_required_on_init_and_regular_containers)
{
	struct wh_violations v;

	v = check(WH_HOLDER_POD,
		  "{" GOOD_FIELDS ",\"initContainers\":[{\"name\":\"i\","
		  "\"securityContext\":{\"allowPrivilegeEscalation\":false,"
		  "\"capabilities\":{\"drop\":[\"ALL\"]}}}],"
		  "\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		  "\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":[\"ALL\"]}},"
		  "\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}]}");
	cr_assert(has(&v, "spec.initContainers[0] (i).resources.limits has no memory limit"));
	cr_assert(has(&v, "spec.initContainers[0] (i).resources.limits has no ephemeral-storage"));
	cr_assert(has(&v, "spec.containers[0] (a).resources.limits has no ephemeral-storage"));
	cr_assert(!has(&v, "spec.containers[0] (a).resources.limits has no memory"));
	cr_assert(!has(&v, "no cpu limit"), "cpu limits are not required by default");
	cr_assert_eq(v.n, 3, "%zu: %s", v.n, v.n ? v.items[v.n - 1] : "");
	wh_violations_release(&v);
	/* Ephemeral containers cannot have resources: nothing to require. */
	expect_clean(WH_HOLDER_POD, "{" GOOD_FIELDS ",\"containers\":[" GOOD_CTR "],"
				    "\"ephemeralContainers\":[{\"name\":\"e\",\"securityContext\":{"
				    "\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":"
				    "[\"ALL\"]}}}]}");
	/* A pod-level limit bounds every container for that resource. */
	expect_clean(WH_HOLDER_POD,
		     "{" GOOD_FIELDS ",\"resources\":{\"limits\":{\"memory\":\"4Gi\","
		     "\"ephemeral-storage\":\"8Gi\"}},\"containers\":[{\"name\":\"a\","
		     "\"securityContext\":{\"allowPrivilegeEscalation\":false,"
		     "\"capabilities\":{\"drop\":[\"ALL\"]}}}]}");
	/* A template may leave them to the mutation; not when mutation is off. */
	expect_clean(WH_HOLDER_TEMPLATE, "{\"containers\":[{\"name\":\"a\"}]}");
	v = check_with("{\"mutate\":false}", WH_HOLDER_TEMPLATE,
		       "{\"containers\":[{\"name\":\"a\"}]}");
	cr_assert(has(&v, "spec.containers[0] (a).resources.limits has no memory limit"));
	wh_violations_release(&v);
	/* Required without a default: templates must say it too. */
	v = check_with(
		"{\"resources\":{\"limits\":{\"cpu\":{\"required\":true}}}}", WH_HOLDER_SANDBOX,
		"{\"automountServiceAccountToken\":false,\"containers\":[{\"name\":\"a\"}]}");
	cr_assert(has(&v, "spec.containers[0] (a).resources.limits has no cpu limit"));
	cr_assert_eq(v.n, 1, "%s", v.items[0]);
	wh_violations_release(&v);
	/* Not required: nothing. */
	v = check_with(
		"{\"resources\":{\"limits\":{\"memory\":{\"required\":false},"
		"\"ephemeral-storage\":{\"required\":false}},\"emptyDirSizeLimit\":{"
		"\"required\":false}}}",
		WH_HOLDER_POD,
		"{" GOOD_FIELDS ",\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		"\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":[\"ALL\"]}}}],"
		"\"volumes\":[{\"name\":\"w\",\"emptyDir\":{}}]}");
	cr_assert_eq(v.n, 0, "%s", v.n ? v.items[0] : "");
	wh_violations_release(&v);
}

Test(podcheck, empty_dirs_need_a_size_limit)
{
	expect(WH_HOLDER_POD,
	       "{" GOOD_FIELDS ",\"containers\":[" GOOD_CTR "],\"volumes\":[{\"name\":\"c\","
	       "\"configMap\":{\"name\":\"c\"}},{\"name\":\"scratch\",\"emptyDir\":{\"medium\":"
	       "\"Memory\"}}]}",
	       "spec.volumes[1] (scratch): emptyDir has no sizeLimit");
	expect_clean(WH_HOLDER_SANDBOX,
		     "{\"automountServiceAccountToken\":false,\"containers\":[{\"name\":\"a\"}],"
		     "\"volumes\":[{\"name\":\"w\",\"emptyDir\":{}}]}");
	expect_clean(WH_HOLDER_POD, "{" GOOD_FIELDS ",\"containers\":[" GOOD_CTR "],\"volumes\":["
				    "{\"name\":\"w\",\"emptyDir\":{\"sizeLimit\":\"10Gi\"}}]}");
}

Test(podcheck, missing_spec_is_a_violation)
{
	struct wh_violations v;
	struct wh_podcheck c = {
		.rules = wh_policy_rules(pol, "ns"), .holder = WH_HOLDER_POD, .where = "spec"};

	wh_violations_init(&v);
	wh_check_podspec(&c, NULL, &v);
	cr_assert_eq(v.n, 1);
	wh_violations_release(&v);
}

Test(podcheck, profile_label)
{
	const struct wh_rules *r = wh_policy_rules(pol, "ns");
	cJSON *ok = parse_or_die("{\"sandbox-guard.io/network-profile\":\"default\"}");
	cJSON *bad = parse_or_die("{\"sandbox-guard.io/network-profile\":\"open\"}");
	struct wh_violations v;

	wh_violations_init(&v);
	wh_check_profile_label(r, ok, true, "metadata.labels", &v);
	wh_check_profile_label(r, NULL, false, "metadata.labels", &v);
	cr_assert_eq(v.n, 0);
	wh_check_profile_label(r, NULL, true, "metadata.labels", &v);
	wh_check_profile_label(r, bad, false, "metadata.labels", &v);
	cr_assert_eq(v.n, 2);
	wh_violations_release(&v);
	cJSON_Delete(ok);
	cJSON_Delete(bad);
}

Test(podcheck, isolation_labels_may_not_change)
{
	cJSON *old = parse_or_die("{\"sandbox-guard.io/network-profile\":\"default\",\"a\":\"1\"}");
	cJSON *same = parse_or_die("{\"sandbox-guard.io/network-profile\":\"default\"}");
	cJSON *changed = parse_or_die("{\"sandbox-guard.io/network-profile\":\"x\"}");
	struct wh_violations v;

	wh_violations_init(&v);
	wh_check_labels_kept(old, same, &v);
	cr_assert_eq(v.n, 0);
	wh_check_labels_kept(old, changed, &v);
	wh_check_labels_kept(old, NULL, &v);
	cr_assert_eq(v.n, 2);
	wh_violations_release(&v);
	cJSON_Delete(old);
	cJSON_Delete(same);
	cJSON_Delete(changed);
}

Test(podcheck, violation_list_is_capped)
{
	struct wh_violations v;

	wh_violations_init(&v);
	for (int i = 0; i < WH_VIOLATIONS_MAX + 5; i++)
		wh_violation(&v, "v%d", i);
	wh_violation(&v, "v0");
	cr_assert_eq(v.n, WH_VIOLATIONS_MAX);
	cr_assert_eq(v.dropped, 5);
	wh_violations_release(&v);
}

static size_t annotation_violations(const char *annotations_json, const char *needle)
{
	struct wh_violations v;
	cJSON *a = parse_or_die(annotations_json);
	size_t hits = 0;

	wh_violations_init(&v);
	wh_check_annotations(a, "metadata.annotations", &v);
	for (size_t i = 0; i < v.n; i++)
		if (strstr(v.items[i], needle))
			hits++;
	cr_assert_eq(hits, v.n, "unexpected: %s", v.n ? v.items[0] : "");
	wh_violations_release(&v);
	cJSON_Delete(a);
	return hits;
}

Test(podcheck, runtime_override_annotations_are_refused)
{
	cr_assert_eq(annotation_violations("{\"dev.gvisor.flag.network\":\"host\"}",
					   "dev.gvisor.flag.network would override the sandbox "
					   "runtime's own configuration"),
		     1);
	cr_assert_eq(annotation_violations("{\"dev.gvisor.internal.x\":\"1\","
					   "\"io.katacontainers.config.hypervisor.kernel_params\":"
					   "\"init=/bin/sh\"}",
					   "would override the sandbox runtime"),
		     2);
	/* Mount hints and ordinary annotations pass. */
	cr_assert_eq(annotation_violations("{\"dev.gvisor.spec.mount.data.share\":\"pod\","
					   "\"team\":\"a\",\"io.katacontainers\":\"x\"}",
					   "override"),
		     0);
}
