#include "netpol.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_buf.h"
#include "sg_json.h"
#include "sg_labels.h"

typedef unsigned __int128 u128;

/* --- addresses ---------------------------------------------------------------- */

int wh_cidr_parse(const char *s, struct wh_iprange *out)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	unsigned char bytes[16];
	char *end;
	long bits;
	int fam, width;
	u128 v = 0, mask;

	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return -1;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, bytes) == 1) {
		fam = 4;
		width = 32;
	} else if (inet_pton(AF_INET6, addr, bytes) == 1) {
		fam = 6;
		width = 128;
	} else {
		return -1;
	}
	bits = strtol(slash + 1, &end, 10);
	if (slash[1] == '\0' || *end || bits < 0 || bits > width)
		return -1;
	for (int i = 0; i < width / 8; i++)
		v = (v << 8) | bytes[i];
	/* mask: ones in the host bits. */
	mask = width - bits == 128 ? ~(u128)0 : (((u128)1 << (width - bits)) - 1);
	out->family = fam;
	out->lo = v & ~mask;
	out->hi = out->lo | mask;
	if (fam == 4) {
		out->lo &= 0xffffffffu;
		out->hi &= 0xffffffffu;
	}
	return 0;
}

static void format_addr(int fam, u128 v, char *out, size_t n)
{
	unsigned char bytes[16];
	int width = fam == 4 ? 4 : 16;

	for (int i = width - 1; i >= 0; i--) {
		bytes[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	if (!inet_ntop(fam == 4 ? AF_INET : AF_INET6, bytes, out, (socklen_t)n))
		snprintf(out, n, "?");
}

/* A set of addresses: sorted, disjoint, inclusive ranges. */
struct ipset {
	struct wh_iprange *r;
	size_t n, cap;
};

static void ipset_release(struct ipset *s)
{
	free(s->r);
	s->r = NULL;
	s->n = s->cap = 0;
}

static int ipset_push(struct ipset *s, int fam, u128 lo, u128 hi)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct wh_iprange *r = realloc(s->r, cap * sizeof(*r));

		if (!r)
			return -1;
		s->r = r;
		s->cap = cap;
	}
	s->r[s->n].family = fam;
	s->r[s->n].lo = lo;
	s->r[s->n].hi = hi;
	s->n++;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct wh_iprange *x = a, *y = b;

	if (x->family != y->family)
		return x->family - y->family;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts and merges overlapping or adjacent ranges. */
static void ipset_normalise(struct ipset *s)
{
	size_t w = 0;

	if (s->n < 2)
		return;
	qsort(s->r, s->n, sizeof(*s->r), cmp_range);
	for (size_t i = 1; i < s->n; i++) {
		struct wh_iprange *last = &s->r[w];

		if (s->r[i].family == last->family &&
		    (s->r[i].lo <= last->hi ||
		     (last->hi != ~(u128)0 && s->r[i].lo == last->hi + 1))) {
			if (s->r[i].hi > last->hi)
				last->hi = s->r[i].hi;
		} else {
			s->r[++w] = s->r[i];
		}
	}
	s->n = w + 1;
}

/* Removes [lo, hi] of family fam from s. */
static int ipset_subtract(struct ipset *s, int fam, u128 lo, u128 hi)
{
	size_t n = s->n;

	for (size_t i = 0; i < n; i++) {
		struct wh_iprange r = s->r[i];

		if (r.family != fam || hi < r.lo || lo > r.hi)
			continue;
		/* Cut r into what lies below and above [lo, hi]. */
		s->r[i].hi = 0;
		s->r[i].lo = 1; /* empty marker: lo > hi */
		if (r.lo < lo && ipset_push(s, fam, r.lo, lo - 1))
			return -1;
		if (r.hi > hi && ipset_push(s, fam, hi + 1, r.hi))
			return -1;
	}
	/* Drop the emptied ranges. */
	{
		size_t w = 0;

		for (size_t i = 0; i < s->n; i++)
			if (s->r[i].lo <= s->r[i].hi)
				s->r[w++] = s->r[i];
		s->n = w;
	}
	ipset_normalise(s);
	return 0;
}

/* The addresses of an ipBlock: cidr minus except. -1 if it does not parse. */
static int ipset_add_block(struct ipset *s, const cJSON *block)
{
	const char *cidr = sg_json_str(block, "cidr");
	struct wh_iprange r, x;
	struct ipset tmp = {0};
	const cJSON *e;

	if (!cidr || wh_cidr_parse(cidr, &r))
		return -1;
	if (ipset_push(&tmp, r.family, r.lo, r.hi))
		return -1;
	cJSON_ArrayForEach(e, sg_json_arr(block, "except"))
	{
		if (!cJSON_IsString(e) || wh_cidr_parse(e->valuestring, &x) ||
		    x.family != r.family || ipset_subtract(&tmp, x.family, x.lo, x.hi)) {
			ipset_release(&tmp);
			return -1;
		}
	}
	for (size_t i = 0; i < tmp.n; i++)
		if (ipset_push(s, tmp.r[i].family, tmp.r[i].lo, tmp.r[i].hi)) {
			ipset_release(&tmp);
			return -1;
		}
	ipset_release(&tmp);
	ipset_normalise(s);
	return 0;
}

/*
 * Returns how many ranges of a lie outside b (0: a is within b), and the
 * first of them in *gap. -1 if out of memory.
 */
static long ipset_outside(const struct ipset *a, const struct ipset *b, struct wh_iprange *gap)
{
	struct ipset rest = {0};
	long n;

	for (size_t i = 0; i < a->n; i++)
		if (ipset_push(&rest, a->r[i].family, a->r[i].lo, a->r[i].hi))
			goto oom;
	for (size_t j = 0; j < b->n; j++)
		if (ipset_subtract(&rest, b->r[j].family, b->r[j].lo, b->r[j].hi))
			goto oom;
	n = (long)rest.n;
	if (n)
		*gap = rest.r[0];
	ipset_release(&rest);
	return n;
oom:
	ipset_release(&rest);
	return -1;
}

/* --- IPv4 embedded in IPv6 ----------------------------------------------------------- */

#define V4_ALL 0xffffffffu

/*
 * IPv6 prefixes whose addresses carry an IPv4 address: traffic to them ends
 * up at (or is translated to) that IPv4 address wherever a relay, a NAT64
 * gateway or the host's own stack implements the mechanism. A rule that
 * allows such an address allows, in effect, the IPv4 address it embeds, so
 * the envelope check judges it by both. Prefixes an operator chooses (a
 * network-specific NAT64 prefix) and ISATAP (an IPv4 address in the
 * interface identifier of any prefix) cannot be told from the address: the
 * policy's excepts must name those.
 *
 * IPv4-mapped addresses (::ffff:0:0/96) are not here: a socket that
 * connects to one sends IPv4 itself, which the IPv4 rules govern (see
 * block_outside).
 */
enum embedding { EMB_6TO4, EMB_LOW32, EMB_TEREDO, EMB_NAT64_LOCAL };

static const struct {
	const char *cidr;
	const char *name;
	enum embedding how;
} transition[] = {
	{"2002::/16", "6to4", EMB_6TO4},
	{"::/96", "IPv4-compatible", EMB_LOW32},
	{"::ffff:0:0:0/96", "IPv4-translated (SIIT)", EMB_LOW32},
	{"2001::/32", "Teredo", EMB_TEREDO},
	{"64:ff9b::/96", "NAT64", EMB_LOW32},
	{"64:ff9b:1::/48", "local-use NAT64", EMB_NAT64_LOCAL},
};

#define NTRANSITION (sizeof(transition) / sizeof(transition[0]))

/*
 * Adds to out the IPv4 addresses that the IPv6 range [lo, hi], which lies
 * inside transition prefix t, embeds. Each mapping is monotonic inside its
 * prefix, so a contiguous IPv6 range embeds a contiguous IPv4 range:
 * - 6to4: bits 16-47 (2002:AABB:CCDD::/48 is A.B.C.D);
 * - IPv4-compatible, IPv4-translated (SIIT, ::ffff:0:a.b.c.d) and the
 *   well-known NAT64 prefix: the last 32 bits;
 * - Teredo: the server in bits 32-63, and the client in the last 32 bits,
 *   inverted; a range wider than one /96 holds every client address;
 * - local-use NAT64: where the IPv4 address sits depends on the prefix
 *   length the operator chose inside 64:ff9b:1::/48 (RFC 6052 allows six),
 *   which cannot be known here, so it is taken to embed any IPv4 address.
 */
static int embed_v4(size_t t, u128 lo, u128 hi, struct ipset *out)
{
	switch (transition[t].how) {
	case EMB_6TO4:
		return ipset_push(out, 4, (lo >> 80) & V4_ALL, (hi >> 80) & V4_ALL);
	case EMB_LOW32:
		return ipset_push(out, 4, lo & V4_ALL, hi & V4_ALL);
	case EMB_TEREDO:
		if (ipset_push(out, 4, (lo >> 64) & V4_ALL, (hi >> 64) & V4_ALL))
			return -1;
		if (lo >> 32 != hi >> 32)
			return ipset_push(out, 4, 0, V4_ALL);
		return ipset_push(out, 4, ~hi & V4_ALL, ~lo & V4_ALL);
	case EMB_NAT64_LOCAL:
		return ipset_push(out, 4, 0, V4_ALL);
	}
	return 0;
}

/* Adds to out the IPv4 addresses that the IPv6 ranges of s embed. */
static int ipset_embedded(const struct ipset *s, struct ipset *out)
{
	for (size_t t = 0; t < NTRANSITION; t++) {
		struct wh_iprange p;

		if (wh_cidr_parse(transition[t].cidr, &p) != 0)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			const struct wh_iprange *r = &s->r[i];
			u128 lo = r->lo > p.lo ? r->lo : p.lo, hi = r->hi < p.hi ? r->hi : p.hi;

			if (r->family == 6 && lo <= hi && embed_v4(t, lo, hi, out))
				return -1;
		}
	}
	ipset_normalise(out);
	return 0;
}

/* "10.0.0.0/8" when the range is a prefix, else "a - b". */
static void format_range(const struct wh_iprange *r, char *out, size_t n)
{
	int width = r->family == 4 ? 32 : 128;
	char lo[64], hi[64];

	format_addr(r->family, r->lo, lo, sizeof(lo));
	for (int bits = 0; bits <= width; bits++) {
		u128 mask = width - bits == 128 ? ~(u128)0 : (((u128)1 << (width - bits)) - 1);

		if ((r->lo & mask) == 0 && (r->lo | mask) == r->hi) {
			snprintf(out, n, "%.60s/%d", lo, bits);
			return;
		}
	}
	format_addr(r->family, r->hi, hi, sizeof(hi));
	snprintf(out, n, "%.60s - %.60s", lo, hi);
}

/* --- label selectors ------------------------------------------------------------ */

enum op { OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS };

struct req {
	const char *key;
	enum op op;
	const cJSON *values; /* array of strings; for matchLabels, the value node itself */
	bool single;	     /* values is one string (from matchLabels) */
};

#define MAX_REQS 64

struct selector {
	struct req r[MAX_REQS];
	size_t n;
	bool valid;
};

static void selector_parse(const cJSON *sel, struct selector *s)
{
	const cJSON *it;

	s->n = 0;
	s->valid = sel == NULL || cJSON_IsObject(sel);
	cJSON_ArrayForEach(it, sg_json_obj(sel, "matchLabels"))
	{
		if (s->n == MAX_REQS || !cJSON_IsString(it)) {
			s->valid = false;
			return;
		}
		s->r[s->n++] = (struct req){it->string, OP_IN, it, true};
	}
	cJSON_ArrayForEach(it, sg_json_arr(sel, "matchExpressions"))
	{
		const char *key = sg_json_str(it, "key"), *op = sg_json_str(it, "operator");
		enum op o;

		if (s->n == MAX_REQS || !key || !op) {
			s->valid = false;
			return;
		}
		if (strcmp(op, "In") == 0)
			o = OP_IN;
		else if (strcmp(op, "NotIn") == 0)
			o = OP_NOTIN;
		else if (strcmp(op, "Exists") == 0)
			o = OP_EXISTS;
		else if (strcmp(op, "DoesNotExist") == 0)
			o = OP_NOTEXISTS;
		else {
			s->valid = false;
			return;
		}
		s->r[s->n++] = (struct req){key, o, sg_json_arr(it, "values"), false};
	}
}

static bool req_has(const struct req *r, const char *v)
{
	if (r->single)
		return strcmp(r->values->valuestring, v) == 0;
	return sg_json_arr_has_str(r->values, v);
}

/* Calls fn on each value of r; stops early when fn returns false. */
static bool req_all(const struct req *r, bool (*fn)(const char *v, const struct req *other),
		    const struct req *other)
{
	const cJSON *it;

	if (r->single)
		return fn(r->values->valuestring, other);
	cJSON_ArrayForEach(it, r->values)
	{
		if (cJSON_IsString(it) && !fn(it->valuestring, other))
			return false;
	}
	return true;
}

static bool in_other(const char *v, const struct req *other)
{
	return req_has(other, v);
}

static bool not_in_other(const char *v, const struct req *other)
{
	return !req_has(other, v);
}

static bool req_nonempty(const struct req *r)
{
	return r->single || sg_json_count(r->values) > 0;
}

/* True if requirement p (of the narrower selector) implies e. */
static bool implies(const struct req *p, const struct req *e)
{
	if (strcmp(p->key, e->key) != 0)
		return false;
	switch (e->op) {
	case OP_IN:
		return p->op == OP_IN && req_nonempty(p) && req_all(p, in_other, e);
	case OP_NOTIN:
		return (p->op == OP_IN && req_all(p, not_in_other, e)) ||
		       (p->op == OP_NOTIN && req_all(e, in_other, p)) || p->op == OP_NOTEXISTS;
	case OP_EXISTS:
		return (p->op == OP_IN && req_nonempty(p)) || p->op == OP_EXISTS;
	case OP_NOTEXISTS:
		return p->op == OP_NOTEXISTS;
	}
	return false;
}

/* True if everything p selects, e selects too. */
static bool selector_within(const struct selector *p, const struct selector *e)
{
	for (size_t i = 0; i < e->n; i++) {
		bool ok = false;

		for (size_t j = 0; j < p->n && !ok; j++)
			ok = implies(&p->r[j], &e->r[i]);
		if (!ok)
			return false;
	}
	return true;
}

/* True if selector s provably matches namespace ns (whose only known label is its name). */
static bool selector_matches_ns(const struct selector *s, const char *ns)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct req *r = &s->r[i];

		if (strcmp(r->key, SG_LABEL_NS_NAME) != 0)
			return false; /* another label: unknown, so not provable */
		if ((r->op == OP_IN && !req_has(r, ns)) || (r->op == OP_NOTIN && req_has(r, ns)) ||
		    r->op == OP_NOTEXISTS)
			return false;
	}
	return true;
}

/* True if selector s selects only namespace ns. */
static bool selector_only_ns(const struct selector *s, const char *ns)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct req *r = &s->r[i];

		if (strcmp(r->key, SG_LABEL_NS_NAME) == 0 && r->op == OP_IN &&
		    (r->single ? strcmp(r->values->valuestring, ns) == 0
			       : sg_json_count(r->values) == 1 && req_has(r, ns)))
			return true;
	}
	return false;
}

static void describe_selector(const cJSON *sel, struct sg_buf *b)
{
	const cJSON *it;
	bool first = true;

	cJSON_ArrayForEach(it, sg_json_obj(sel, "matchLabels"))
	{
		sg_buf_printf(b, "%s%s=%s", first ? "" : ",", it->string,
			      cJSON_IsString(it) ? it->valuestring : "?");
		first = false;
	}
	cJSON_ArrayForEach(it, sg_json_arr(sel, "matchExpressions"))
	{
		const char *key = sg_json_str(it, "key"), *op = sg_json_str(it, "operator");
		const cJSON *v;

		sg_buf_printf(b, "%s%s %s", first ? "" : ",", key ? key : "?", op ? op : "?");
		if (sg_json_count(sg_json_arr(it, "values"))) {
			bool f2 = true;

			sg_buf_puts(b, " (");
			cJSON_ArrayForEach(v, sg_json_arr(it, "values"))
			{
				sg_buf_printf(b, "%s%s", f2 ? "" : ",",
					      cJSON_IsString(v) ? v->valuestring : "?");
				f2 = false;
			}
			sg_buf_putc(b, ')');
		}
		first = false;
	}
	if (first)
		sg_buf_puts(b, "(all)");
}

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
		describe_selector(pod, b);
	else
		sg_buf_puts(b, "(all)");
	if (ns) {
		sg_buf_puts(b, " in namespaces ");
		describe_selector(ns, b);
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
	struct selector a, b;

	if (sg_json_obj(e, "ipBlock"))
		return false;
	/* Namespaces. */
	if (!pns && !ens) {
		/* both: the policy's own namespace */
	} else if (!pns) {
		selector_parse(ens, &b);
		if (!b.valid || !selector_matches_ns(&b, ns))
			return false;
	} else if (!ens) {
		selector_parse(pns, &a);
		if (!a.valid || !selector_only_ns(&a, ns))
			return false;
	} else {
		selector_parse(pns, &a);
		selector_parse(ens, &b);
		if (!a.valid || !b.valid || !selector_within(&a, &b))
			return false;
	}
	/* Pods. */
	if (!epod)
		return true;
	selector_parse(epod, &b);
	if (!b.valid)
		return false;
	if (!ppod)
		return b.n == 0;
	selector_parse(ppod, &a);
	return a.valid && selector_within(&a, &b);
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
	struct wh_iprange r, mapped;
	const char *cidr = sg_json_str(block, "cidr");

	return cidr && wh_cidr_parse(cidr, &r) == 0 && r.family == 6 &&
	       wh_cidr_parse("::ffff:0:0/96", &mapped) == 0 && r.lo >= mapped.lo &&
	       r.hi <= mapped.hi;
}

/* The union of the envelope's ipBlocks whose rules' ports cover ports. */
static void allowed_blocks(const cJSON *ports, bool ingress, const struct envrules *er,
			   struct ipset *allowed)
{
	const cJSON *ep;

	for (size_t k = 0; k < er->n; k++) {
		if (!ports_within(ports, sg_json_arr(er->rule[k], "ports")))
			continue;
		cJSON_ArrayForEach(ep, peers_of(er->rule[k], ingress))
		{
			if (sg_json_obj(ep, "ipBlock"))
				ipset_add_block(allowed, sg_json_obj(ep, "ipBlock"));
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
static int block_addresses(const cJSON *block, struct ipset *mine)
{
	struct wh_iprange mapped;

	if (ipset_add_block(mine, block) != 0 || wh_cidr_parse("::ffff:0:0/96", &mapped) != 0 ||
	    ipset_subtract(mine, mapped.family, mapped.lo, mapped.hi) != 0)
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
	struct ipset mine = {0}, emb = {0}, allowed = {0};
	long n = -1;

	*embedded = false;
	if (block_addresses(block, &mine) != 0 || ipset_embedded(&mine, &emb) != 0)
		goto out;
	if (everyone_within(ports, ingress, er)) {
		n = 0;
		goto out;
	}
	allowed_blocks(ports, ingress, er, &allowed);
	n = ipset_outside(&mine, &allowed, gap);
	if (n == 0) {
		n = ipset_outside(&emb, &allowed, gap);
		*embedded = n > 0;
	}
out:
	ipset_release(&mine);
	ipset_release(&emb);
	ipset_release(&allowed);
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
	struct ipset one = {0}, emb = {0};
	char v4[128];

	out[0] = '\0';
	if (!cidr || wh_cidr_parse(cidr, &r) != 0 || r.family != 6)
		return;
	for (size_t t = 0; t < NTRANSITION; t++) {
		if (wh_cidr_parse(transition[t].cidr, &p) != 0 || r.lo < p.lo || r.hi > p.hi)
			continue;
		if (transition[t].how == EMB_NAT64_LOCAL) {
			snprintf(out, n,
				 "; %.64s is in the local-use NAT64 prefix %s, which can embed any "
				 "IPv4 address (where depends on the prefix length the operator "
				 "chose), so it is judged as reaching all of IPv4",
				 cidr, transition[t].cidr);
			return;
		}
		if (ipset_push(&one, 6, r.lo, r.hi) == 0 && ipset_embedded(&one, &emb) == 0 &&
		    emb.n > 0) {
			bool meta = false;
			size_t len = 0;

			/* Teredo embeds two: its server and its client. */
			for (size_t i = 0; i < emb.n && i < 2; i++) {
				format_range(&emb.r[i], v4 + len, sizeof(v4) - len);
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
				 cidr, transition[t].name, transition[t].cidr, v4,
				 meta ? " (the cloud metadata endpoint)" : "");
		}
		ipset_release(&one);
		ipset_release(&emb);
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
			format_range(&gap, range, sizeof(range));
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
	struct selector s;

	selector_parse(pod_selector, &s);
	if (!s.valid)
		return true; /* cannot tell: check it */
	for (size_t i = 0; i < s.n; i++)
		if (s.r[i].op == OP_NOTEXISTS && strcmp(s.r[i].key, SG_LABEL_PROFILE) == 0)
			return false;
	return true;
}

bool wh_netpol_sandbox_only(const cJSON *pod_selector)
{
	struct selector s;

	selector_parse(pod_selector, &s);
	if (!s.valid)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if ((s.r[i].op == OP_EXISTS || (s.r[i].op == OP_IN && req_nonempty(&s.r[i]))) &&
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
		format_addr(fam, lo, addr, sizeof(addr));
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
	struct ipset mine = {0}, allowed = {0}, gaps = {0};
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
		if (ipset_push(&gaps, mine.r[i].family, mine.r[i].lo, mine.r[i].hi))
			goto out;
	for (size_t j = 0; j < allowed.n; j++)
		if (ipset_subtract(&gaps, allowed.r[j].family, allowed.r[j].lo, allowed.r[j].hi))
			goto out;
	/* ...and each part of a transition prefix whose IPv4 addresses are outside. */
	for (size_t t = 0; t < NTRANSITION; t++) {
		struct wh_iprange p;

		if (wh_cidr_parse(transition[t].cidr, &p) != 0)
			goto out;
		for (size_t i = 0; i < mine.n; i++) {
			struct ipset one = {0}, emb = {0};
			u128 lo = mine.r[i].lo > p.lo ? mine.r[i].lo : p.lo;
			u128 hi = mine.r[i].hi < p.hi ? mine.r[i].hi : p.hi;
			long outside;

			if (mine.r[i].family != 6 || lo > hi)
				continue;
			outside = ipset_push(&one, 6, lo, hi) || ipset_embedded(&one, &emb)
					  ? -1
					  : ipset_outside(&emb, &allowed, &g);
			ipset_release(&one);
			ipset_release(&emb);
			if (outside != 0 && ipset_push(&gaps, 6, lo, hi))
				goto out;
		}
	}
	ipset_normalise(&gaps);
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
	ipset_release(&mine);
	ipset_release(&allowed);
	ipset_release(&gaps);
	envrules_release(&er);
	return n;
}

/* --- policy-side checks ------------------------------------------------------------ */

static int check_selector(const cJSON *sel, const char *where, char **cause)
{
	struct selector s;

	if (!cJSON_IsObject(sel))
		return sg_failf(cause, "%s must be a label selector object", where);
	selector_parse(sel, &s);
	if (!s.valid)
		return sg_failf(cause, "%s is not a valid label selector", where);
	for (size_t i = 0; i < s.n; i++)
		if ((s.r[i].op == OP_IN || s.r[i].op == OP_NOTIN) && !req_nonempty(&s.r[i]))
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
