#include "netpol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipset.h"
#include "selector.h"
#include "sg_buf.h"
#include "sg_json.h"
#include "sg_labels.h"

typedef unsigned __int128 u128;

static void describe_peer(const cJSON *peer, struct sg_buf *b)
{
	const cJSON *ip = sg_json_obj(peer, "ipBlock"),
		    *ns = sg_json_get(peer, "namespaceSelector");
	const cJSON *pod = sg_json_get(peer, "podSelector"), *e;

	if (ip) {
		bool first = true;

		sg_buf_printf(b, "%s", sg_json_str(ip, "cidr") ? sg_json_str(ip, "cidr") : "?");
		cJSON_ArrayForEach(e, sg_json_arr(ip, "except"))
		{
			sg_buf_printf(b, "%s%s", first ? " except " : ",",
				      cJSON_IsString(e) ? e->valuestring : "?");
			first = false;
		}
		return;
	}
	sg_buf_puts(b, "pods ");
	if (pod)
		wh_selector_describe(pod, b);
	else
		sg_buf_puts(b, "(all)");
	if (ns) {
		sg_buf_puts(b, " in namespaces ");
		wh_selector_describe(ns, b);
	} else {
		sg_buf_puts(b, " in the same namespace");
	}
}

/* --- ports ------------------------------------------------------------------- */

static const char *proto_of(const cJSON *p)
{
	const char *s = sg_json_str(p, "protocol");

	return s ? s : "TCP";
}

struct span {
	long lo, hi;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* True if every port in r (a NetworkPolicy ports list) is in e; e empty = all ports. */
static bool ports_within(const cJSON *r, const cJSON *e)
{
	const cJSON *rp, *ep;

	if (sg_json_count(e) == 0)
		return true;
	if (sg_json_count(r) == 0)
		return false;
	cJSON_ArrayForEach(rp, r)
	{
		const cJSON *port = sg_json_get(rp, "port"), *endp = sg_json_get(rp, "endPort");
		struct span spans[64];
		size_t n = 0;
		bool ok = false;

		cJSON_ArrayForEach(ep, e)
		{
			const cJSON *eport = sg_json_get(ep, "port"),
				    *eend = sg_json_get(ep, "endPort");

			if (strcmp(proto_of(ep), proto_of(rp)) != 0)
				continue;
			if (!eport) {
				ok = true; /* every port of the protocol */
				break;
			}
			if (cJSON_IsString(eport) && cJSON_IsString(port) &&
			    strcmp(eport->valuestring, port->valuestring) == 0)
				ok = true;
			if (cJSON_IsNumber(eport) && n < 64) {
				spans[n].lo = (long)eport->valuedouble;
				spans[n].hi = cJSON_IsNumber(eend) ? (long)eend->valuedouble
								   : spans[n].lo;
				n++;
			}
		}
		if (!ok && cJSON_IsNumber(port)) {
			long lo = (long)port->valuedouble;
			long hi = cJSON_IsNumber(endp) ? (long)endp->valuedouble : lo;

			qsort(spans, n, sizeof(*spans), cmp_span);
			for (size_t i = 0; i < n && lo <= hi; i++)
				if (spans[i].lo <= lo && spans[i].hi >= lo)
					lo = spans[i].hi + 1;
			ok = lo > hi;
		}
		if (!ok)
			return false;
	}
	return true;
}

static void describe_ports(const cJSON *ports, struct sg_buf *b)
{
	const cJSON *p;
	bool first = true;

	if (sg_json_count(ports) == 0) {
		sg_buf_puts(b, "all ports");
		return;
	}
	cJSON_ArrayForEach(p, ports)
	{
		const cJSON *port = sg_json_get(p, "port"), *end = sg_json_get(p, "endPort");

		sg_buf_printf(b, "%s%s", first ? "" : ",", proto_of(p));
		if (cJSON_IsNumber(port))
			sg_buf_printf(b, " %.0f", port->valuedouble);
		else if (cJSON_IsString(port))
			sg_buf_printf(b, " %s", port->valuestring);
		else
			sg_buf_puts(b, " (all)");
		if (cJSON_IsNumber(end))
			sg_buf_printf(b, "-%.0f", end->valuedouble);
		first = false;
	}
}

/* --- peers and rules -------------------------------------------------------------- */

/* The envelope's rules of one direction, flattened, with the DNS rule added for egress. */
struct envrules {
	const cJSON **rule;
	size_t n;
	cJSON *dns_rule; /* owned */
};

static void envrules_init(struct envrules *er, const struct wh_netrules *env,
			  const struct wh_dns *dns, bool ingress)
{
	const cJSON *list = ingress ? env->ingress : env->egress, *r;

	er->n = 0;
	er->dns_rule = NULL;
	er->rule = calloc((size_t)sg_json_count(list) + 1, sizeof(*er->rule));
	if (!er->rule)
		return;
	cJSON_ArrayForEach(r, list)
	{
		er->rule[er->n++] = r;
	}
	if (!ingress && env->dns && dns && dns->peer) {
		cJSON *to = cJSON_CreateArray();

		er->dns_rule = cJSON_CreateObject();
		if (er->dns_rule && to) {
			cJSON_AddItemReferenceToArray(to, dns->peer);
			cJSON_AddItemToObject(er->dns_rule, "to", to);
			cJSON_AddItemReferenceToObject(er->dns_rule, "ports", dns->ports);
			er->rule[er->n++] = er->dns_rule;
		} else {
			cJSON_Delete(to);
		}
	}
}

static void envrules_release(struct envrules *er)
{
	cJSON_Delete(er->dns_rule);
	free(er->rule);
}

static const cJSON *peers_of(const cJSON *rule, bool ingress)
{
	return sg_json_arr(rule, ingress ? "from" : "to");
}

/* Does selector peer p (in namespace ns) lie inside envelope peer e? */
static bool selector_peer_within(const cJSON *p, const cJSON *e, const char *ns)
{
	const cJSON *pns = sg_json_get(p, "namespaceSelector"),
		    *ens = sg_json_get(e, "namespaceSelector");
	const cJSON *ppod = sg_json_get(p, "podSelector"), *epod = sg_json_get(e, "podSelector");
	struct wh_selector a, b;

	if (sg_json_obj(e, "ipBlock"))
		return false;
	/* Namespaces. */
	if (!pns && !ens) {
		/* both: the policy's own namespace */
	} else if (!pns) {
		wh_selector_parse(ens, &b);
		if (!b.valid || !wh_selector_matches_ns(&b, ns))
			return false;
	} else if (!ens) {
		wh_selector_parse(pns, &a);
		if (!a.valid || !wh_selector_only_ns(&a, ns))
			return false;
	} else {
		wh_selector_parse(pns, &a);
		wh_selector_parse(ens, &b);
		if (!a.valid || !b.valid || !wh_selector_within(&a, &b))
			return false;
	}
	/* Pods. */
	if (!epod)
		return true;
	wh_selector_parse(epod, &b);
	if (!b.valid)
		return false;
	if (!ppod)
		return b.n == 0;
	wh_selector_parse(ppod, &a);
	return a.valid && wh_selector_within(&a, &b);
}

static void envelope_text(const struct envrules *er, bool ingress, struct sg_buf *b)
{
	const cJSON *peer;
	bool first = true;

	for (size_t k = 0; k < er->n; k++) {
		const cJSON *rule = er->rule[k], *peers = peers_of(rule, ingress);

		if (sg_json_count(peers) == 0) {
			sg_buf_printf(b, "%severyone", first ? "" : "; ");
			first = false;
		}
		cJSON_ArrayForEach(peer, peers)
		{
			sg_buf_puts(b, first ? "" : "; ");
			describe_peer(peer, b);
			first = false;
		}
		if (sg_json_count(sg_json_arr(rule, "ports"))) {
			sg_buf_puts(b, " on ");
			describe_ports(sg_json_arr(rule, "ports"), b);
		}
	}
	if (first)
		sg_buf_puts(b, "nothing");
}

static void violation(struct wh_violations *out, const char *where, const char *what,
		      const struct envrules *er, bool ingress)
{
	struct sg_buf b;

	sg_buf_init(&b, 1600);
	envelope_text(er, ingress, &b);
	wh_violation(out, "%s: %s; the envelope allows %s: %.900s", where, what,
		     ingress ? "ingress from" : "egress to", b.data ? b.data : "");
	sg_buf_release(&b);
}

/* Everyone: only an envelope rule for everyone, with wide enough ports, covers it. */
static bool everyone_within(const cJSON *ports, bool ingress, const struct envrules *er)
{
	for (size_t k = 0; k < er->n; k++)
		if (sg_json_count(peers_of(er->rule[k], ingress)) == 0 &&
		    ports_within(ports, sg_json_arr(er->rule[k], "ports")))
			return true;
	return false;
}

/* The block's cidr lies inside ::ffff:0:0/96. */
static bool mapped_only(const cJSON *block)
{
	const char *cidr = sg_json_str(block, "cidr");

	return cidr && wh_cidr_ipv4_mapped(cidr);
}

/* The union of the envelope's ipBlocks whose rules' ports cover ports. */
static void allowed_blocks(const cJSON *ports, bool ingress, const struct envrules *er,
			   struct wh_ipset *allowed)
{
	const cJSON *ep;

	for (size_t k = 0; k < er->n; k++) {
		if (!ports_within(ports, sg_json_arr(er->rule[k], "ports")))
			continue;
		cJSON_ArrayForEach(ep, peers_of(er->rule[k], ingress))
		{
			if (sg_json_obj(ep, "ipBlock"))
				wh_ipset_add_block(allowed, sg_json_obj(ep, "ipBlock"));
		}
	}
}

/*
 * The addresses of an ipBlock as the envelope judges them: cidr minus
 * except, less the IPv4-mapped range. IPv4-mapped addresses
 * (::ffff:0:0/96) reach nothing of their own: a socket that connects to one
 * sends IPv4, which the IPv4 rules govern. kube-apiserver refuses them in a
 * NetworkPolicy, so no policy (ours included) can except them from ::/0.
 * -1 if the block does not parse.
 */
static int block_addresses(const cJSON *block, struct wh_ipset *mine)
{
	struct wh_iprange mapped;

	if (wh_ipset_add_block(mine, block) != 0 ||
	    wh_cidr_parse(WH_IPV4_MAPPED_CIDR, &mapped) != 0 ||
	    wh_ipset_subtract(mine, mapped.family, mapped.lo, mapped.hi) != 0)
		return -1;
	return 0;
}

/*
 * An ipBlock is covered by the union of the envelope's ipBlocks whose ports
 * cover its rule's, and so must be every IPv4 address its IPv6 addresses
 * embed (see transition). Returns how many ranges are not (-1: cannot
 * tell), the first of them in *gap; *embedded says the block's own
 * addresses are covered and the ranges counted are IPv4 it embeds.
 */
static long block_outside(const cJSON *block, const cJSON *ports, bool ingress,
			  const struct envrules *er, struct wh_iprange *gap, bool *embedded)
{
	struct wh_ipset mine = {0}, emb = {0}, allowed = {0};
	long n = -1;

	*embedded = false;
	if (block_addresses(block, &mine) != 0 || wh_ipset_embedded(&mine, &emb) != 0)
		goto out;
	if (everyone_within(ports, ingress, er)) {
		n = 0;
		goto out;
	}
	allowed_blocks(ports, ingress, er, &allowed);
	n = wh_ipset_outside(&mine, &allowed, gap);
	if (n == 0) {
		n = wh_ipset_outside(&emb, &allowed, gap);
		*embedded = n > 0;
	}
out:
	wh_ipset_release(&mine);
	wh_ipset_release(&emb);
	wh_ipset_release(&allowed);
	return n;
}

static bool selector_peer_covered(const cJSON *peer, const cJSON *ports, bool ingress,
				  const char *ns, const struct envrules *er)
{
	const cJSON *ep;

	if (everyone_within(ports, ingress, er))
		return true;
	for (size_t k = 0; k < er->n; k++) {
		if (!ports_within(ports, sg_json_arr(er->rule[k], "ports")))
			continue;
		cJSON_ArrayForEach(ep, peers_of(er->rule[k], ingress))
		{
			if (selector_peer_within(peer, ep, ns))
				return true;
		}
	}
	return false;
}

static bool contains(const struct wh_iprange *gap, const char *cidr)
{
	struct wh_iprange a;

	return wh_cidr_parse(cidr, &a) == 0 && a.family == gap->family && gap->lo <= a.lo &&
	       gap->hi >= a.lo;
}

/*
 * For a block inside one of the transition prefixes: "; <cidr> is a 6to4
 * prefix (2002::/16) that embeds IPv4 169.254.169.254/32 (...)", so that a
 * refusal names the address the block really leads to. Empty otherwise.
 */
static void transition_hint(const cJSON *block, char *out, size_t n)
{
	const char *cidr = sg_json_str(block, "cidr");
	struct wh_iprange r, p;
	struct wh_ipset one = {0}, emb = {0};
	char v4[128];

	out[0] = '\0';
	if (!cidr || wh_cidr_parse(cidr, &r) != 0 || r.family != 6)
		return;
	for (size_t t = 0; t < WH_NTRANSITIONS; t++) {
		if (wh_cidr_parse(wh_transitions[t].cidr, &p) != 0 || r.lo < p.lo || r.hi > p.hi)
			continue;
		if (wh_transitions[t].how == WH_EMB_NAT64_LOCAL) {
			snprintf(out, n,
				 "; %.64s is in the local-use NAT64 prefix %s, which can embed any "
				 "IPv4 address (where depends on the prefix length the operator "
				 "chose), so it is judged as reaching all of IPv4",
				 cidr, wh_transitions[t].cidr);
			return;
		}
		if (wh_ipset_push(&one, 6, r.lo, r.hi) == 0 && wh_ipset_embedded(&one, &emb) == 0 &&
		    emb.n > 0) {
			bool meta = false;
			size_t len = 0;

			/* Teredo embeds two: its server and its client. */
			for (size_t i = 0; i < emb.n && i < 2; i++) {
				wh_iprange_format(&emb.r[i], v4 + len, sizeof(v4) - len);
				len = strlen(v4);
				if (i + 1 < emb.n && i < 1 && len + 2 < sizeof(v4)) {
					memcpy(v4 + len, ", ", 3);
					len += 2;
				}
				meta = meta || contains(&emb.r[i], "169.254.169.254/32");
			}
			snprintf(out, n,
				 "; %.64s is in the %s prefix %s and embeds IPv4 %s%s, which the "
				 "envelope judges it by",
				 cidr, wh_transitions[t].name, wh_transitions[t].cidr, v4,
				 meta ? " (the cloud metadata endpoint)" : "");
		}
		wh_ipset_release(&one);
		wh_ipset_release(&emb);
		return;
	}
}

/* Checks one peer (or, with peer NULL, "everyone") of a rule with the given ports. */
static void check_peer(const cJSON *peer, const cJSON *ports, bool ingress, const char *ns,
		       const struct envrules *er, const char *where, struct wh_violations *out)
{
	char what[1200], range[128], more[48], hint[400];
	struct wh_iprange gap = {0};
	struct sg_buf d;
	bool embedded;
	long n;

	sg_buf_init(&d, 600);
	describe_ports(ports, &d);
	if (!peer) {
		if (!everyone_within(ports, ingress, er)) {
			snprintf(what, sizeof(what), "no '%s' peers means every %s (%s)",
				 ingress ? "from" : "to", ingress ? "source" : "destination",
				 d.data);
			violation(out, where, what, er, ingress);
		}
	} else if (sg_json_obj(peer, "ipBlock")) {
		n = block_outside(sg_json_obj(peer, "ipBlock"), ports, ingress, er, &gap,
				  &embedded);
		if (mapped_only(sg_json_obj(peer, "ipBlock"))) {
			/*
			 * block_outside drops the mapped range (see there); a block that
			 * is nothing else would pass unchecked, yet some policy engines
			 * read ::ffff:a.b.c.d/n as the IPv4 range it embeds.
			 */
			wh_violation(out,
				     "%s: ipBlock %.64s is an IPv4-mapped IPv6 range; write it in "
				     "IPv4 form so it can be checked against the envelope",
				     where, sg_json_str(sg_json_obj(peer, "ipBlock"), "cidr"));
		} else if (n < 0) {
			wh_violation(out, "%s: ipBlock cannot be parsed", where);
		} else if (n > 0) {
			sg_buf_reset(&d);
			describe_peer(peer, &d);
			wh_iprange_format(&gap, range, sizeof(range));
			more[0] = '\0';
			if (n > 1)
				snprintf(more, sizeof(more), " and %ld more ranges", n - 1);
			transition_hint(sg_json_obj(peer, "ipBlock"), hint, sizeof(hint));
			if (embedded && !hint[0])
				snprintf(hint, sizeof(hint),
					 "; except the IPv6 prefixes that embed IPv4 addresses "
					 "(6to4 2002::/16, IPv4-compatible ::/96, IPv4-translated "
					 "::ffff:0:0:0/96, Teredo 2001::/32, NAT64 64:ff9b::/96 "
					 "and 64:ff9b:1::/48)");
			snprintf(what, sizeof(what), "ipBlock %s %s %s%s%s%s", d.data,
				 embedded ? "embeds IPv4 that reaches" : "reaches", range,
				 contains(&gap, "169.254.169.254/32") ||
						 contains(&gap, "fd00:ec2::254/128")
					 ? " (the cloud metadata endpoint)"
					 : "",
				 more, hint);
			violation(out, where, what, er, ingress);
		}
	} else if (!selector_peer_covered(peer, ports, ingress, ns, er)) {
		sg_buf_reset(&d);
		describe_peer(peer, &d);
		sg_buf_puts(&d, " on ");
		describe_ports(ports, &d);
		snprintf(what, sizeof(what), "%s is outside the envelope", d.data);
		violation(out, where, what, er, ingress);
	}
	sg_buf_release(&d);
}

void wh_netpol_check_rules(const cJSON *rules, bool ingress, const char *ns,
			   const struct wh_netrules *envelope, const struct wh_dns *dns,
			   const char *where, struct wh_violations *out)
{
	struct envrules er;
	const cJSON *rule;
	int i = 0;

	envrules_init(&er, envelope, dns, ingress);
	cJSON_ArrayForEach(rule, rules)
	{
		const cJSON *peers = peers_of(rule, ingress), *peer;
		const cJSON *ports = sg_json_arr(rule, "ports");
		char w[256];
		int j = 0;

		if (sg_json_count(peers) == 0) {
			snprintf(w, sizeof(w), "%s[%d]", where, i);
			check_peer(NULL, ports, ingress, ns, &er, w, out);
		}
		cJSON_ArrayForEach(peer, peers)
		{
			snprintf(w, sizeof(w), "%s[%d].%s[%d]", where, i, ingress ? "from" : "to",
				 j++);
			check_peer(peer, ports, ingress, ns, &er, w, out);
		}
		i++;
	}
	envrules_release(&er);
}

static bool sandbox_key(const char *k)
{
	return strncmp(k, SG_AS_LABEL_PREFIX, strlen(SG_AS_LABEL_PREFIX)) == 0 ||
	       strncmp(k, SG_AS_EXT_LABEL_PREFIX, strlen(SG_AS_EXT_LABEL_PREFIX)) == 0 ||
	       strncmp(k, SG_LABEL_PREFIX, strlen(SG_LABEL_PREFIX)) == 0;
}

/*
 * Only our stamped, protected label proves a selector misses sandbox pods:
 * agents.x-k8s.io/sandbox-name-hash is absent from pods waiting for
 * adoption, and every other label is the pod author's to choose.
 */
bool wh_netpol_selects_sandboxes(const cJSON *pod_selector)
{
	struct wh_selector s;

	wh_selector_parse(pod_selector, &s);
	if (!s.valid)
		return true; /* cannot tell: check it */
	for (size_t i = 0; i < s.n; i++)
		if (s.r[i].op == WH_SEL_NOTEXISTS && strcmp(s.r[i].key, SG_LABEL_PROFILE) == 0)
			return false;
	return true;
}

bool wh_netpol_sandbox_only(const cJSON *pod_selector)
{
	struct wh_selector s;

	wh_selector_parse(pod_selector, &s);
	if (!s.valid)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if ((s.r[i].op == WH_SEL_EXISTS ||
		     (s.r[i].op == WH_SEL_IN && wh_selreq_nonempty(&s.r[i]))) &&
		    sandbox_key(s.r[i].key))
			return true;
	return false;
}

void wh_netpol_check_spec(const cJSON *spec, const char *ns, const struct wh_netrules *envelope,
			  const struct wh_dns *dns, struct wh_violations *out)
{
	const cJSON *types = sg_json_arr(spec, "policyTypes");
	const cJSON *egress = sg_json_arr(spec, "egress");

	/*
	 * Without policyTypes (or with an empty list, which the API server
	 * defaults the same way), Ingress always applies and Egress when there
	 * are egress rules.
	 */
	if (sg_json_count(types) == 0)
		types = NULL;
	if (!types || sg_json_arr_has_str(types, "Ingress"))
		wh_netpol_check_rules(sg_json_arr(spec, "ingress"), true, ns, envelope, dns,
				      "spec.ingress", out);
	if (types ? sg_json_arr_has_str(types, "Egress") : sg_json_count(egress) > 0)
		wh_netpol_check_rules(egress, false, ns, envelope, dns, "spec.egress", out);
}

/* --- narrowing ---------------------------------------------------------------------- */

/* Appends [lo, hi] as the fewest CIDRs to out; -1 past max entries or out of memory. */
static int range_cidrs(int fam, u128 lo, u128 hi, cJSON *out, int max)
{
	int width = fam == 4 ? 32 : 128;

	for (;;) {
		char addr[64], cidr[80];
		int bits = width, host;
		u128 mask;

		/* The shortest prefix that starts at lo and ends at or before hi. */
		while (bits > 0) {
			host = width - (bits - 1);
			mask = host == 128 ? ~(u128)0 : (((u128)1 << host) - 1);
			if ((lo & mask) != 0 || (lo | mask) > hi)
				break;
			bits--;
		}
		host = width - bits;
		mask = host == 128 ? ~(u128)0 : (((u128)1 << host) - 1);
		if (cJSON_GetArraySize(out) >= max)
			return -1;
		wh_addr_format(fam, lo, addr, sizeof(addr));
		snprintf(cidr, sizeof(cidr), "%s/%d", addr, bits);
		if (!cJSON_AddItemToArray(out, cJSON_CreateString(cidr)))
			return -1;
		if ((lo | mask) >= hi)
			return 0;
		lo = (lo | mask) + 1;
	}
}

int wh_netpol_missing_excepts(const cJSON *block, const cJSON *ports, bool ingress,
			      const struct wh_netrules *envelope, const struct wh_dns *dns,
			      cJSON *out)
{
	struct envrules er;
	struct wh_ipset mine = {0}, allowed = {0}, gaps = {0};
	struct wh_iprange whole, g;
	const char *cidr = sg_json_str(block, "cidr");
	int n = -1;

	envrules_init(&er, envelope, dns, ingress);
	if (!er.rule || !cidr || wh_cidr_parse(cidr, &whole) != 0 ||
	    block_addresses(block, &mine) != 0)
		goto out;
	if (everyone_within(ports, ingress, &er)) {
		n = 0;
		goto out;
	}
	allowed_blocks(ports, ingress, &er, &allowed);
	/* What the block reaches outside the envelope... */
	for (size_t i = 0; i < mine.n; i++)
		if (wh_ipset_push(&gaps, mine.r[i].family, mine.r[i].lo, mine.r[i].hi))
			goto out;
	for (size_t j = 0; j < allowed.n; j++)
		if (wh_ipset_subtract(&gaps, allowed.r[j].family, allowed.r[j].lo, allowed.r[j].hi))
			goto out;
	/* ...and each part of a transition prefix whose IPv4 addresses are outside. */
	for (size_t t = 0; t < WH_NTRANSITIONS; t++) {
		struct wh_iprange p;

		if (wh_cidr_parse(wh_transitions[t].cidr, &p) != 0)
			goto out;
		for (size_t i = 0; i < mine.n; i++) {
			struct wh_ipset one = {0}, emb = {0};
			u128 lo = mine.r[i].lo > p.lo ? mine.r[i].lo : p.lo;
			u128 hi = mine.r[i].hi < p.hi ? mine.r[i].hi : p.hi;
			long outside;

			if (mine.r[i].family != 6 || lo > hi)
				continue;
			outside = wh_ipset_push(&one, 6, lo, hi) || wh_ipset_embedded(&one, &emb)
					  ? -1
					  : wh_ipset_outside(&emb, &allowed, &g);
			wh_ipset_release(&one);
			wh_ipset_release(&emb);
			if (outside != 0 && wh_ipset_push(&gaps, 6, lo, hi))
				goto out;
		}
	}
	wh_ipset_normalise(&gaps);
	/* An except must be strictly inside the cidr: a block wholly outside cannot be narrowed. */
	for (size_t i = 0; i < gaps.n; i++)
		if (gaps.r[i].family != whole.family ||
		    (gaps.r[i].lo <= whole.lo && gaps.r[i].hi >= whole.hi))
			goto out;
	for (size_t i = 0; i < gaps.n; i++)
		if (range_cidrs(gaps.r[i].family, gaps.r[i].lo, gaps.r[i].hi, out, WH_NARROW_MAX) !=
		    0)
			goto out;
	n = cJSON_GetArraySize(out);
out:
	wh_ipset_release(&mine);
	wh_ipset_release(&allowed);
	wh_ipset_release(&gaps);
	envrules_release(&er);
	return n;
}

/* --- policy-side checks ------------------------------------------------------------ */

static int check_selector(const cJSON *sel, const char *where, char **cause)
{
	struct wh_selector s;

	if (!cJSON_IsObject(sel))
		return sg_failf(cause, "%s must be a label selector object", where);
	wh_selector_parse(sel, &s);
	if (!s.valid)
		return sg_failf(cause, "%s is not a valid label selector", where);
	for (size_t i = 0; i < s.n; i++)
		if ((s.r[i].op == WH_SEL_IN || s.r[i].op == WH_SEL_NOTIN) &&
		    !wh_selreq_nonempty(&s.r[i]))
			return sg_failf(cause, "%s: operator In/NotIn needs values", where);
	return 0;
}

int wh_netpeer_check(const cJSON *peer, const char *where, char **cause)
{
	const cJSON *ip = sg_json_get(peer, "ipBlock"), *e;
	char w[512];

	if (!cJSON_IsObject(peer))
		return sg_failf(cause, "%s must be an object", where);
	if (ip) {
		struct wh_iprange r, x;

		if (sg_json_get(peer, "podSelector") || sg_json_get(peer, "namespaceSelector"))
			return sg_failf(cause, "%s: ipBlock cannot be combined with selectors",
					where);
		if (!sg_json_str(ip, "cidr") || wh_cidr_parse(sg_json_str(ip, "cidr"), &r))
			return sg_failf(cause, "%s.ipBlock.cidr is not a CIDR", where);
		cJSON_ArrayForEach(e, sg_json_arr(ip, "except"))
		{
			if (!cJSON_IsString(e) || wh_cidr_parse(e->valuestring, &x) ||
			    x.family != r.family || x.lo < r.lo || x.hi > r.hi)
				return sg_failf(cause,
						"%s.ipBlock.except: '%s' is not a CIDR inside %s",
						where, cJSON_IsString(e) ? e->valuestring : "?",
						sg_json_str(ip, "cidr"));
		}
		return 0;
	}
	if (!sg_json_get(peer, "podSelector") && !sg_json_get(peer, "namespaceSelector"))
		return sg_failf(cause, "%s needs ipBlock, podSelector or namespaceSelector", where);
	snprintf(w, sizeof(w), "%s.podSelector", where);
	if (sg_json_get(peer, "podSelector") &&
	    check_selector(sg_json_get(peer, "podSelector"), w, cause))
		return -1;
	snprintf(w, sizeof(w), "%s.namespaceSelector", where);
	if (sg_json_get(peer, "namespaceSelector") &&
	    check_selector(sg_json_get(peer, "namespaceSelector"), w, cause))
		return -1;
	return 0;
}

int wh_netports_check(const cJSON *ports, const char *where, char **cause)
{
	const cJSON *p;

	if (ports && !cJSON_IsArray(ports))
		return sg_failf(cause, "%s must be an array", where);
	cJSON_ArrayForEach(p, ports)
	{
		const cJSON *port = sg_json_get(p, "port"), *end = sg_json_get(p, "endPort");
		const char *proto = proto_of(p);

		if (strcmp(proto, "TCP") && strcmp(proto, "UDP") && strcmp(proto, "SCTP"))
			return sg_failf(cause, "%s: protocol '%s' is not TCP, UDP or SCTP", where,
					proto);
		if (port && !cJSON_IsString(port) &&
		    !(cJSON_IsNumber(port) && port->valuedouble >= 1 && port->valuedouble <= 65535))
			return sg_failf(cause, "%s: port must be 1-65535 or a port name", where);
		if (end && (!cJSON_IsNumber(port) || !cJSON_IsNumber(end) ||
			    end->valuedouble < port->valuedouble || end->valuedouble > 65535))
			return sg_failf(cause, "%s: endPort needs a numeric port not above it",
					where);
	}
	return 0;
}

int wh_netrules_parse(const cJSON *obj, const char *where, struct wh_netrules *out, char **cause)
{
	static const char *const dirs[] = {"ingress", "egress"};
	const cJSON *it;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(obj))
		return sg_failf(cause, "%s must be an object", where);
	cJSON_ArrayForEach(it, obj)
	{
		if (strcmp(it->string, "ingress") && strcmp(it->string, "egress") &&
		    strcmp(it->string, "dns") && strcmp(it->string, "allowUnmanagedTemplates"))
			return sg_failf(cause, "unknown field '%s' in %s", it->string, where);
	}
	for (int d = 0; d < 2; d++) {
		const cJSON *rules = sg_json_get(obj, dirs[d]), *rule, *peer;
		int i = 0;

		if (!rules)
			continue;
		if (!cJSON_IsArray(rules))
			return sg_failf(cause, "%s.%s must be an array of rules", where, dirs[d]);
		cJSON_ArrayForEach(rule, rules)
		{
			const char *pk = d == 0 ? "from" : "to";
			char w[512];
			int j = 0;

			cJSON_ArrayForEach(it, rule)
			{
				if (strcmp(it->string, pk) && strcmp(it->string, "ports"))
					return sg_failf(cause, "unknown field '%s' in %s.%s[%d]",
							it->string, where, dirs[d], i);
			}
			if (sg_json_get(rule, pk) && !sg_json_arr(rule, pk))
				return sg_failf(cause, "%s.%s[%d].%s must be an array", where,
						dirs[d], i, pk);
			cJSON_ArrayForEach(peer, sg_json_arr(rule, pk))
			{
				snprintf(w, sizeof(w), "%s.%s[%d].%s[%d]", where, dirs[d], i, pk,
					 j++);
				if (wh_netpeer_check(peer, w, cause))
					return -1;
			}
			snprintf(w, sizeof(w), "%s.%s[%d].ports", where, dirs[d], i);
			if (wh_netports_check(sg_json_get(rule, "ports"), w, cause))
				return -1;
			i++;
		}
		if (d == 0)
			out->ingress = rules;
		else
			out->egress = rules;
	}
	it = sg_json_get(obj, "dns");
	if (it && !cJSON_IsBool(it))
		return sg_failf(cause, "%s.dns must be true or false", where);
	out->dns = cJSON_IsTrue(it);
	return 0;
}

bool wh_netrules_within(const struct wh_netrules *rules, const struct wh_netrules *envelope,
			const struct wh_dns *dns, char **cause)
{
	struct wh_violations v;
	bool ok;

	wh_violations_init(&v);
	/* A profile is applied in every namespace, so "same namespace" peers compare as such. */
	wh_netpol_check_rules(rules->ingress, true, "", envelope, dns, "ingress", &v);
	wh_netpol_check_rules(rules->egress, false, "", envelope, dns, "egress", &v);
	if (rules->dns && !envelope->dns)
		wh_violation(&v, "dns: the envelope does not allow DNS to the cluster resolver");
	ok = v.n == 0;
	if (!ok)
		sg_failf(cause, "%s", v.items[0]);
	wh_violations_release(&v);
	return ok;
}
