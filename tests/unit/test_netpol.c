#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "netpol.h"
#include "policy.h"

Test(netpol, cidr_parsing)
{
	struct wh_iprange r;

	cr_assert_eq(wh_cidr_parse("10.1.2.3/8", &r), 0);
	cr_assert_eq(r.family, 4);
	cr_assert(r.lo == 0x0a000000u && r.hi == 0x0affffffu);
	cr_assert_eq(wh_cidr_parse("0.0.0.0/0", &r), 0);
	cr_assert(r.lo == 0 && r.hi == 0xffffffffu);
	cr_assert_eq(wh_cidr_parse("::/0", &r), 0);
	cr_assert(r.family == 6 && r.lo == 0 && r.hi == ~(unsigned __int128)0);
	cr_assert_eq(wh_cidr_parse("fe80::1/10", &r), 0);
	cr_assert(r.lo == (unsigned __int128)0xfe80 << 112);
	for (const char *const *bad = (const char *const[]){"10.0.0.0", "10.0.0.0/33", "::/129",
							    "x/8", "10.0.0.0/", "1.2.3.4/-1", NULL};
	     *bad; bad++)
		cr_assert_neq(wh_cidr_parse(*bad, &r), 0, "%s", *bad);
}

static struct wh_policy *pol;

static void setup(void)
{
	char *cause = NULL;

	pol = wh_policy_parse("{}", 2, "t", &cause);
	cr_assert_not_null(pol, "%s", cause);
}

static void teardown(void)
{
	wh_policy_free(pol);
}

TestSuite(netpol, .init = setup, .fini = teardown);

/* Checks rules (JSON array) in namespace "team-a" against the default envelope. */
static size_t check(const char *rules, bool ingress, const char *needle)
{
	cJSON *r = parse_or_die(rules);
	struct wh_violations v;
	bool found = !needle;
	size_t n;

	wh_violations_init(&v);
	wh_netpol_check_rules(r, ingress, "team-a", &wh_policy_rules(pol, "team-a")->envelope,
			      wh_policy_dns(pol), "spec.x", &v);
	for (size_t i = 0; i < v.n; i++)
		if (needle && strstr(v.items[i], needle))
			found = true;
	cr_assert(found, "'%s' not in: %s", needle ? needle : "", v.n ? v.items[0] : "(none)");
	n = v.n;
	wh_violations_release(&v);
	cJSON_Delete(r);
	return n;
}

#define ROUTER                                                                                     \
	"{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":"                \
	"\"agent-sandbox-system\"}},\"podSelector\":{\"matchLabels\":{\"app\":\"sandbox-router\"}" \
	"}}"

Test(netpol, ingress_selector_containment)
{
	cr_assert_eq(check("[{\"from\":[" ROUTER "]}]", true, NULL), 0);
	/* Narrower pod selector, In with one value, extra requirements: still inside. */
	cr_assert_eq(check("[{\"from\":[{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":"
			   "\"kubernetes.io/metadata.name\",\"operator\":\"In\",\"values\":["
			   "\"agent-sandbox-system\"]}]},\"podSelector\":{\"matchLabels\":{\"app\":"
			   "\"sandbox-router\",\"tier\":\"edge\"}}}],\"ports\":[{\"port\":8888}]}]",
			   true, NULL),
		     0);
	/* Wider: another namespace too, any pod, same namespace only, everyone. */
	check("[{\"from\":[{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":"
	      "\"kubernetes.io/metadata.name\",\"operator\":\"In\",\"values\":["
	      "\"agent-sandbox-system\",\"x\"]}]},\"podSelector\":{\"matchLabels\":{\"app\":"
	      "\"sandbox-router\"}}}]}]",
	      true, "outside the envelope");
	check("[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/"
	      "metadata.name\":"
	      "\"agent-sandbox-system\"}}}]}]",
	      true, "pods (all) in namespaces");
	check("[{\"from\":[{\"podSelector\":{}}]}]", true, "in the same namespace");
	check("[{}]", true, "every source");
	check("[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\"}}]}]", true, "ipBlock 10.0.0.0/8");
}

Test(netpol, egress_cidr_arithmetic)
{
	/* Public addresses in pieces, and IPv6 public space. */
	cr_assert_eq(
		check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"8.8.8.8/32\"}},{\"ipBlock\":{"
		      "\"cidr\":\"2001:db8::/32\"}},{\"ipBlock\":{\"cidr\":\"11.0.0.0/8\"}}]}]",
		      false, NULL),
		0);
	/* A wide block with the right excepts is inside... */
	cr_assert_eq(check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"128.0.0.0/1\",\"except\":["
			   "\"169.254.0.0/16\",\"172.16.0.0/12\",\"192.168.0.0/16\"]}}]}]",
			   false, NULL),
		     0);
	/* ...and without one of them it is not. */
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"128.0.0.0/1\",\"except\":[\"169.254.0.0/16\","
	      "\"192.168.0.0/16\"]}}]}]",
	      false, "reaches 172.16.0.0/12");
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"169.254.169.0/24\"}}]}]", false,
	      "(the cloud metadata endpoint)");
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"100.64.0.0/10\"}}]}]", false, "100.64.0.0/10");
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"fd12::/16\"}}]}]", false, "fd12::/16");
	/*
	 * IPv4-mapped space is dropped from wide IPv6 blocks (it leaves as IPv4,
	 * and the API server refuses it in an except), but a block that is
	 * nothing else is refused: some engines read it as the IPv4 range.
	 */
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"::ffff:10.0.0.0/104\"}}]}]", false,
	      "IPv4-mapped IPv6 range");
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"::ffff:169.254.169.254/128\"}}]}]", false,
	      "write it in IPv4 form");
	check("[{\"from\":[{\"ipBlock\":{\"cidr\":\"::ffff:0.0.0.0/96\"}}]}]", true,
	      "IPv4-mapped IPv6 range");
	cr_assert_eq(check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"::/0\",\"except\":[\"::1/128\","
			   "\"64:ff9b::/96\",\"64:ff9b:1::/48\",\"fc00::/7\",\"fe80::/10\"]}}]}]",
			   false, NULL),
		     0);
	check("[{\"to\":[]}]", false, "every destination");
}

Test(netpol, dns_rule_and_ports)
{
	const char *dns =
		"{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":"
		"\"kube-system\"}},\"podSelector\":{\"matchLabels\":{\"k8s-app\":"
		"\"kube-dns\"}}}";
	char rules[1024];

	snprintf(rules, sizeof(rules),
		 "[{\"to\":[%s],\"ports\":[{\"protocol\":\"UDP\",\"port\":53}]}]", dns);
	cr_assert_eq(check(rules, false, NULL), 0);
	snprintf(rules, sizeof(rules), "[{\"to\":[%s],\"ports\":[{\"port\":53,\"endPort\":54}]}]",
		 dns);
	check(rules, false, "TCP 53-54");
	snprintf(rules, sizeof(rules), "[{\"to\":[%s]}]", dns);
	check(rules, false, "all ports");
	snprintf(rules, sizeof(rules), "[{\"to\":[%s],\"ports\":[{\"port\":\"dns\"}]}]", dns);
	check(rules, false, "TCP dns");
}

static bool selects_in(const char *sel, bool every_policy)
{
	cJSON *s = parse_or_die(sel);
	bool r = wh_netpol_selects_sandboxes(s, every_policy);

	cJSON_Delete(s);
	return r;
}

static bool selects(const char *sel)
{
	return selects_in(sel, false);
}

Test(netpol, which_policies_can_select_sandbox_pods)
{
	cr_assert(selects("{}"));
	cr_assert(selects("{\"matchLabels\":{\"sandbox-guard.io/network-profile\":\"default\"}}"));
	cr_assert(selects("{\"matchLabels\":{\"agents.x-k8s.io/sandbox-template-ref-hash\":\"x\","
			  "\"app\":\"web\"}}"));
	cr_assert(selects("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"NotIn\","
			  "\"values\":[\"y\"]}]}"));
	cr_assert(!selects("{\"matchLabels\":{\"app\":\"web\"}}"));
	cr_assert(!selects("{\"matchExpressions\":[{\"key\":\"sandbox-guard.io/network-profile\","
			   "\"operator\":\"DoesNotExist\"}]}"));
}

/* Sandbox pods carry user labels too (app=python-runtime): every-policy binds those. */
Test(netpol, every_policy_scope_binds_ordinary_selectors)
{
	cr_assert(selects_in("{\"matchLabels\":{\"app\":\"web\"}}", true));
	cr_assert(selects_in("{}", true));
	cr_assert(selects_in("{\"matchExpressions\":[{\"key\":\"agents.x-k8s.io/"
			     "sandbox-name-hash\",\"operator\":\"DoesNotExist\"}]}",
			     true));
	cr_assert(!selects_in("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{"
			      "\"key\":\"sandbox-guard.io/network-profile\",\"operator\":"
			      "\"DoesNotExist\"}]}",
			      true));
}

static void bad_policy(const char *text, const char *needle)
{
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse(text, strlen(text), "t", &cause);

	cr_assert_null(p, "accepted: %s", text);
	cr_assert(strstr(cause, needle), "'%s' not in '%s'", needle, cause);
	free(cause);
}

Test(netpol, policy_scope_values)
{
	bad_policy("{\"network\":{\"policyScope\":\"everything\"}}",
		   "policy.network.policyScope must be \"sandbox-selectors\" or \"every-policy\"");
	bad_policy("{\"network\":{\"policyScope\":true}}", "policyScope must be");
}

Test(netpol, policy_profiles_must_stay_inside_the_envelope)
{
	bad_policy("{\"network\":{\"profiles\":{\"default\":{\"egress\":[{\"to\":[{\"ipBlock\":"
		   "{\"cidr\":\"10.0.0.0/8\"}}]}]}}}}",
		   "network profile 'default' goes beyond the envelope");
	bad_policy("{\"network\":{\"allowedProfiles\":[\"default\",\"open\"]}}",
		   "network profile 'open' is not defined");
	bad_policy("{\"network\":{\"envelope\":{\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":"
		   "\"10.0.0.0/8\",\"except\":[\"11.0.0.0/8\"]}}]}]}}}",
		   "is not a CIDR inside 10.0.0.0/8");
	bad_policy("{\"network\":{\"envelope\":{\"ingress\":[{\"from\":[{}]}]}}}",
		   "needs ipBlock, podSelector or namespaceSelector");
	bad_policy(
		"{\"network\":{\"envelope\":{\"egress\":[{\"to\":[],\"ports\":[{\"port\":0}]}]}}}",
		"port must be 1-65535");
	bad_policy("{\"network\":{\"envelope\":{\"dns\":false},\"profiles\":{\"default\":"
		   "{\"dns\":true}}}}",
		   "the envelope does not allow DNS");
}

Test(netpol, a_namespace_can_have_its_own_envelope_and_profiles)
{
	const char *text =
		"{\"network\":{\"profiles\":{\"default\":{\"ingress\":[],\"egress\":[],\"dns\":"
		"true},"
		"\"internal\":{\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.20.0.0/16\"}}],"
		"\"ports\":[{\"port\":443}]}],\"dns\":true}}},"
		"\"namespaces\":{\"build\":{\"network\":{\"allowedProfiles\":[\"default\","
		"\"internal\"],"
		"\"envelope\":{\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.20.0.0/16\"}}]}],"
		"\"dns\":true}}}}}";
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse(text, strlen(text), "t", &cause);

	cr_assert_not_null(p, "%s", cause);
	cr_assert(wh_in_list(wh_policy_rules(p, "build")->allowed_profiles, "internal"));
	cr_assert(!wh_in_list(wh_policy_rules(p, "other")->allowed_profiles, "internal"));
	cr_assert_not_null(wh_policy_profile(p, "internal"));
	wh_policy_free(p);
}
