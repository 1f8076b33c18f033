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
 * ports by name). An IPv6 range inside a prefix that embeds IPv4 (6to4,
 * IPv4-compatible, Teredo, NAT64) is judged by the IPv4 it embeds too.
 * An empty peer list means "everyone" and an empty port list
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

#include "ipset.h"
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
 * True if a NetworkPolicy's podSelector can select sandbox pods: unless it
 * requires sandbox-guard.io/network-profile to be absent (the label the
 * webhook stamps on every sandbox pod and never lets anyone remove), it
 * can, for sandbox pods also carry labels their users chose (a template's
 * or claim's, such as app=agent), and NetworkPolicies add up.
 */
bool wh_netpol_selects_sandboxes(const cJSON *pod_selector);

/*
 * True if a podSelector selects only sandbox pods: it requires (In or
 * Exists) a label under agents.x-k8s.io/, extensions.agents.x-k8s.io/ or
 * sandbox-guard.io/. Scoping such a policy away from sandbox pods would
 * leave it selecting nothing, so it is refused instead when outside.
 */
bool wh_netpol_sandbox_only(const cJSON *pod_selector);

/*
 * Checks a NetworkPolicy's spec (its rules of the types that apply) in
 * namespace ns against the envelope. Adds one violation per peer outside.
 */
void wh_netpol_check_spec(const cJSON *spec, const char *ns, const struct wh_netrules *envelope,
			  const struct wh_dns *dns, struct wh_violations *out);

/* Most excepts wh_netpol_missing_excepts adds to one ipBlock. */
#define WH_NARROW_MAX 32

/*
 * The excepts that would bring an ipBlock (of a rule with these ports, in
 * direction ingress) inside the envelope: every range it reaches beyond
 * the envelope's ipBlocks, and every part of an IPv6 transition prefix
 * whose embedded IPv4 addresses are outside, as CIDRs appended to out (a
 * JSON array). Returns how many (0: already inside), or -1 when excepts
 * cannot do it (the block is wholly outside, more than WH_NARROW_MAX
 * pieces, or it does not parse).
 */
int wh_netpol_missing_excepts(const cJSON *block, const cJSON *ports, bool ingress,
			      const struct wh_netrules *envelope, const struct wh_dns *dns,
			      cJSON *out);

/* True if the whole of rules is inside envelope (used to check profiles at load). */
bool wh_netrules_within(const struct wh_netrules *rules, const struct wh_netrules *envelope,
			const struct wh_dns *dns, char **cause);

#endif
