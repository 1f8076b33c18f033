/*
 * netpol: the network envelope, and whether NetworkPolicy rules stay
 * inside it.
 *
 * NetworkPolicies only ever add allowances, and they add up: any policy
 * that selects a sandbox pod can widen what it may reach. The envelope is
 * the most any rule that applies to sandbox pods may allow, written in
 * NetworkPolicy's own vocabulary:
 *
 *   {"ingress": [{"from": [peer...], "ports": [port...]}, ...],
 *    "egress":  [{"to":   [peer...], "ports": [port...]}, ...],
 *    "dns": true}
 *
 * A rule is inside the envelope when each of its peers, with the rule's
 * ports, is covered: a selector peer by one envelope peer that selects a
 * superset (namespace and pod selectors compared requirement by
 * requirement), an ipBlock by the union of the envelope's ipBlocks (CIDR
 * arithmetic over IPv4 and IPv6 with except blocks, exactly), ports by the
 * union of envelope ports (protocols, numbers, ranges with endPort, named
 * ports by name). An empty peer list means "everyone" and an empty port list
 * "every port", as in NetworkPolicy. "dns" adds the cluster resolver (the
 * policy's network.clusterDNS peer and ports) to the egress envelope.
 *
 * Anything that cannot be proven inside is outside: the check is
 * conservative, and each refusal says which peer, why, and what is allowed.
 */
#ifndef WH_NETPOL_H
#define WH_NETPOL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "violations.h"

/* An envelope (or profile) as parsed from the policy; pointers into the policy tree. */
struct wh_netrules {
	const cJSON *ingress; /* array of rules, or NULL for none */
	const cJSON *egress;
	bool dns;
};

/* The cluster resolver: a peer and its ports. */
struct wh_dns {
	cJSON *peer;  /* {"namespaceSelector":..., "podSelector":...} (owned) */
	cJSON *ports; /* owned */
};

/*
 * Checks the shape of a rules object (profile or envelope) from the policy:
 * peers, selectors, CIDRs, ports. 0, or -1 with *cause naming where.
 */
int wh_netrules_parse(const cJSON *obj, const char *where, struct wh_netrules *out, char **cause);

/* Checks a peer + ports pair, e.g. clusterDNS. 0 or -1 with *cause. */
int wh_netpeer_check(const cJSON *peer, const char *where, char **cause);
int wh_netports_check(const cJSON *ports, const char *where, char **cause);

/*
 * Checks NetworkPolicy rules (spec.ingress or spec.egress arrays) that
 * apply in namespace ns against the envelope. where prefixes the messages
 * ("spec.egress"). Adds one violation per peer that is outside.
 */
void wh_netpol_check_rules(const cJSON *rules, bool ingress, const char *ns,
			   const struct wh_netrules *envelope, const struct wh_dns *dns,
			   const char *where, struct wh_violations *out);

/*
 * True if a NetworkPolicy's podSelector can select sandbox pods: it is
 * empty, or it names a label sandbox pods carry (agents.x-k8s.io/...,
 * extensions.agents.x-k8s.io/..., sandbox-guard.io/...) without excluding
 * them, or it has only negative requirements (NotIn, DoesNotExist), which
 * match pods that merely lack some label.
 *
 * Sandbox pods also carry labels their users chose (a template's or
 * claim's), which a selector like app=web can match. With every_policy
 * (policy network.policyScope "every-policy") only a selector that requires
 * sandbox-guard.io/network-profile to be absent counts as missing them.
 */
bool wh_netpol_selects_sandboxes(const cJSON *pod_selector, bool every_policy);

/* True if the whole of rules is inside envelope (used to check profiles at load). */
bool wh_netrules_within(const struct wh_netrules *rules, const struct wh_netrules *envelope,
			const struct wh_dns *dns, char **cause);

/* "10.0.0.0/8" etc. parsing, exposed for tests: 0, or -1 if invalid. */
struct wh_iprange {
	int family; /* 4 or 6 */
	unsigned __int128 lo, hi;
};
int wh_cidr_parse(const char *s, struct wh_iprange *out);

#endif
