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
	cr_assert_eq(check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"::/0\",\"except\":[\"::/96\","
			   "\"::ffff:0:0:0/96\","
			   "\"64:ff9b::/96\",\"64:ff9b:1::/48\",\"2001::/32\",\"2002::/16\","
			   "\"fc00::/7\",\"fe80::/10\"]}}]}]",
			   false, NULL),
		     0);
	check("[{\"to\":[]}]", false, "every destination");
}

/*
 * IPv6 prefixes that embed IPv4 addresses lead back into IPv4 space: each is
 * judged by the IPv4 it embeds, and the refusal names that address.
 */
Test(netpol, transition_prefixes_are_judged_by_the_ipv4_they_embed)
{
	/* 6to4 of 169.254.169.254, and the IPv4-compatible form of it. */
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"2002:a9fe:a9fe::/48\"}}]}]", false,
	      "is in the 6to4 prefix 2002::/16 and embeds IPv4 169.254.169.254/32 (the cloud "
	      "metadata endpoint)");
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"::a9fe:a9fe/128\"}}]}]", false,
	      "IPv4-compatible prefix ::/96 and embeds IPv4 169.254.169.254/32");
	/* Teredo: server 1.2.3.4, client 169.254.169.254 (stored inverted). */
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"2001:0:102:304::5601:5601/128\"}}]}]", false,
	      "embeds IPv4 1.2.3.4/32, 169.254.169.254/32 (the cloud metadata endpoint)");
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"64:ff9b::a9fe:a9fe/128\"}}]}]", false,
	      "NAT64 prefix 64:ff9b::/96 and embeds IPv4 169.254.169.254/32");
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"64:ff9b:1::a9fe:a9fe/128\"}}]}]", false,
	      "local-use NAT64 prefix 64:ff9b:1::/48, which can embed any IPv4 address");
	/* A wide block that keeps any of them is refused, and says what to except. */
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"2000::/3\"}}]}]", false, "2001::/32");
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"::/0\",\"except\":[\"::1/128\","
	      "\"64:ff9b::/96\",\"64:ff9b:1::/48\",\"fc00::/7\",\"fe80::/10\"]}}]}]",
	      false, "reaches ::/128 and 4 more ranges");
	check("[{\"to\":[{\"ipBlock\":{\"cidr\":\"::ffff:0:a9fe:a9fe/128\"}}]}]", false,
	      "IPv4-translated (SIIT) prefix ::ffff:0:0:0/96 and embeds IPv4 169.254.169.254/32");
}

/* With an envelope that allows every IPv6 address, the embedded IPv4 decides. */
Test(netpol, transition_prefixes_inside_a_wide_ipv6_envelope)
{
	const char *text =
		"{\"network\":{\"envelope\":{\"ingress\":[{\"from\":[" ROUTER "]}],"
		"\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":"
		"\"0.0.0.0/0\",\"except\":[\"169.254.0.0/16\",\"10.0.0.0/8\",\"0.0.0.0/8\","
		"\"100.64.0.0/10\",\"127.0.0.0/8\",\"172.16.0.0/12\",\"192.168.0.0/16\"]}},"
		"{\"ipBlock\":{\"cidr\":\"::/0\"}}]}],\"dns\":true}}}";
	char *cause = NULL;
	struct wh_policy *p = wh_policy_parse(text, strlen(text), "t", &cause);
	struct wh_violations v;
	cJSON *meta = parse_or_die("[{\"to\":[{\"ipBlock\":{\"cidr\":\"2002:a9fe:a9fe::/48\"}}]}]");
	cJSON *pub = parse_or_die("[{\"to\":[{\"ipBlock\":{\"cidr\":\"2002:808:808::/48\"}},"
				  "{\"ipBlock\":{\"cidr\":\"2001:db8::/32\"}}]}]");

	cr_assert_not_null(p, "%s", cause);
	wh_violations_init(&v);
	wh_netpol_check_rules(meta, false, "team-a", &wh_policy_rules(p, "team-a")->envelope,
			      wh_policy_dns(p), "spec.egress", &v);
	cr_assert_eq(v.n, 1);
	cr_assert(strstr(v.items[0], "embeds IPv4 that reaches 169.254.169.254/32 (the cloud "
				     "metadata endpoint)"),
		  "%s", v.items[0]);
	wh_violations_release(&v);
	wh_violations_init(&v);
	wh_netpol_check_rules(pub, false, "team-a", &wh_policy_rules(p, "team-a")->envelope,
			      wh_policy_dns(p), "spec.egress", &v);
	cr_assert_eq(v.n, 0, "%s", v.n ? v.items[0] : "");
	wh_violations_release(&v);
	cJSON_Delete(meta);
	cJSON_Delete(pub);
	wh_policy_free(p);
}

/* The excepts that bring a block inside the default envelope (agent-sandbox's default). */
static int missing(const char *block, const char *ports, char *list, size_t n)
{
	cJSON *b = parse_or_die(block), *pt = ports ? parse_or_die(ports) : NULL;
	cJSON *out = cJSON_CreateArray();
	int k = wh_netpol_missing_excepts(b, pt, false, &wh_policy_rules(pol, "x")->envelope,
					  wh_policy_dns(pol), out);

	wh_list_text(out, list, n);
	cJSON_Delete(b);
	cJSON_Delete(pt);
	cJSON_Delete(out);
	return k;
}

Test(netpol, missing_excepts)
{
	char list[1024];

	cr_assert_eq(missing("{\"cidr\":\"0.0.0.0/0\",\"except\":[\"10.0.0.0/8\","
			     "\"172.16.0.0/12\",\"192.168.0.0/16\",\"169.254.0.0/16\"]}",
			     NULL, list, sizeof(list)),
		     3);
	cr_assert_str_eq(list, "0.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8");
	cr_assert_eq(missing("{\"cidr\":\"::/0\",\"except\":[\"fc00::/7\",\"fe80::/10\"]}", NULL,
			     list, sizeof(list)),
		     6);
	cr_assert_str_eq(list, "::/96, ::ffff:0:0:0/96, 64:ff9b::/96, 64:ff9b:1::/48, 2001::/32, "
			       "2002::/16");
	/* Already inside: nothing. Wholly outside: excepts cannot help. */
	cr_assert_eq(missing("{\"cidr\":\"8.8.8.0/24\"}", NULL, list, sizeof(list)), 0);
	cr_assert_eq(missing("{\"cidr\":\"169.254.169.254/32\"}", NULL, list, sizeof(list)), -1);
	/* A range that is not a prefix comes out as the fewest CIDRs that make it. */
	cr_assert_eq(missing("{\"cidr\":\"100.0.0.0/8\"}", NULL, list, sizeof(list)), 1);
	cr_assert_str_eq(list, "100.64.0.0/10");
	cr_assert_eq(missing("{\"cidr\":\"168.0.0.0/5\"}", NULL, list, sizeof(list)), 2);
	cr_assert_str_eq(list, "169.254.0.0/16, 172.16.0.0/12");
	/* With ports the DNS rule does not cover, the cluster resolver does not count. */
	cr_assert_eq(missing("{\"cidr\":\"10.0.0.0/8\"}", "[{\"protocol\":\"UDP\",\"port\":53}]",
			     list, sizeof(list)),
		     -1);
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

static bool selects(const char *sel)
{
	cJSON *s = parse_or_die(sel);
	bool r = wh_netpol_selects_sandboxes(s);

	cJSON_Delete(s);
	return r;
}

static bool sandbox_only(const char *sel)
{
	cJSON *s = parse_or_die(sel);
	bool r = wh_netpol_sandbox_only(s);

	cJSON_Delete(s);
	return r;
}

/*
 * Sandbox pods carry user labels too (app=python-runtime), and pods waiting
 * for adoption lack sandbox-name-hash: only the absence of our protected
 * profile label proves a selector misses them.
 */
Test(netpol, which_policies_can_select_sandbox_pods)
{
	cr_assert(selects("{}"));
	cr_assert(selects("{\"matchLabels\":{\"sandbox-guard.io/network-profile\":\"default\"}}"));
	cr_assert(selects("{\"matchLabels\":{\"agents.x-k8s.io/sandbox-template-ref-hash\":\"x\","
			  "\"app\":\"web\"}}"));
	cr_assert(selects("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"NotIn\","
			  "\"values\":[\"y\"]}]}"));
	cr_assert(selects("{\"matchLabels\":{\"app\":\"web\"}}"));
	cr_assert(selects("{\"matchExpressions\":[{\"key\":\"agents.x-k8s.io/"
			  "sandbox-name-hash\",\"operator\":\"DoesNotExist\"}]}"));
	cr_assert(selects("{\"matchExpressions\":[{\"key\":\"sandbox-guard.io/network-profile\","
			  "\"operator\":\"In\"}]}"));
	cr_assert(!selects("{\"matchExpressions\":[{\"key\":\"sandbox-guard.io/network-profile\","
			   "\"operator\":\"DoesNotExist\"}]}"));
	cr_assert(!selects("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{"
			   "\"key\":\"sandbox-guard.io/network-profile\",\"operator\":"
			   "\"DoesNotExist\"}]}"));
}

/* Selectors that name sandbox labels: scoping them away would leave them selecting nothing. */
Test(netpol, which_selectors_select_only_sandbox_pods)
{
	cr_assert(sandbox_only("{\"matchLabels\":{\"agents.x-k8s.io/"
			       "sandbox-template-ref-hash\":\"x\",\"app\":\"web\"}}"));
	cr_assert(sandbox_only("{\"matchLabels\":{\"sandbox-guard.io/network-profile\":\"d\"}}"));
	cr_assert(sandbox_only("{\"matchExpressions\":[{\"key\":\"agents.x-k8s.io/"
			       "sandbox-name-hash\",\"operator\":\"Exists\"}]}"));
	cr_assert(!sandbox_only("{}"));
	cr_assert(!sandbox_only("{\"matchLabels\":{\"app\":\"agent\"}}"));
	cr_assert(
		!sandbox_only("{\"matchExpressions\":[{\"key\":\"agents.x-k8s.io/"
			      "sandbox-name-hash\",\"operator\":\"NotIn\",\"values\":[\"a\"]}]}"));
	cr_assert(!sandbox_only("{\"matchExpressions\":[{\"key\":\"agents.x-k8s.io/"
				"sandbox-name-hash\",\"operator\":\"In\",\"values\":[]}]}"));
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

/*
 * What the reconciler applies must pass the API server's strict CIDR
 * validation (on by default in 1.36), or the profile is never applied.
 */
Test(netpol, profile_cidrs_must_be_what_the_api_server_accepts)
{
	static const char head[] = "{\"network\":{\"profiles\":{\"default\":{\"egress\":[{\"to\":"
				   "[{\"ipBlock\":";
	static const char tail[] = "}]}]}}}}";
	static const struct {
		const char *block, *needle;
	} bad[] = {
		{"{\"cidr\":\"198.51.100.7/24\"}", "has bits set beyond the prefix length"},
		{"{\"cidr\":\"198.051.100.0/24\"}", "is not a CIDR"},
		{"{\"cidr\":\"198.51.100.0/024\"}", "has leading zeros"},
		{"{\"cidr\":\"::ffff:198.51.100.0/120\"}", "IPv4-mapped IPv6 address"},
		{"{\"cidr\":\"198.51.100.0/24\",\"except\":[\"198.51.100.0/24\"]}",
		 "requires a strict subset"},
		{"{\"cidr\":\"198.51.100.0/24\",\"except\":[\"198.51.100.9/25\"]}",
		 "has bits set beyond the prefix length"},
	};
	char text[512];
	struct wh_policy *p;
	char *cause = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s%s", head, bad[i].block, tail);
		bad_policy(text, bad[i].needle);
	}
	/* A wholly mapped except is left out when applied: accepted. */
	snprintf(text, sizeof(text), "%s%s%s", head,
		 "{\"cidr\":\"2001:db8::/32\"}},{\"ipBlock\":{\"cidr\":\"::/0\",\"except\":"
		 "[\"::/96\",\"::ffff:0:0/96\",\"::ffff:0:0:0/96\",\"64:ff9b::/96\","
		 "\"64:ff9b:1::/48\",\"2001::/32\",\"2002::/16\",\"fc00::/7\",\"fe80::/10\"]}",
		 tail);
	p = wh_policy_parse(text, strlen(text), "test.json", &cause);
	cr_assert_not_null(p, "%s", cause);
	wh_policy_free(p);
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
