#include "ipset.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_json.h"

typedef unsigned __int128 u128;

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

void wh_addr_format(int fam, u128 v, char *out, size_t n)
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

void wh_ipset_release(struct wh_ipset *s)
{
	free(s->r);
	s->r = NULL;
	s->n = s->cap = 0;
}

int wh_ipset_push(struct wh_ipset *s, int fam, u128 lo, u128 hi)
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
void wh_ipset_normalise(struct wh_ipset *s)
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
int wh_ipset_subtract(struct wh_ipset *s, int fam, u128 lo, u128 hi)
{
	size_t n = s->n;

	for (size_t i = 0; i < n; i++) {
		struct wh_iprange r = s->r[i];

		if (r.family != fam || hi < r.lo || lo > r.hi)
			continue;
		/* Cut r into what lies below and above [lo, hi]. */
		s->r[i].hi = 0;
		s->r[i].lo = 1; /* empty marker: lo > hi */
		if (r.lo < lo && wh_ipset_push(s, fam, r.lo, lo - 1))
			return -1;
		if (r.hi > hi && wh_ipset_push(s, fam, hi + 1, r.hi))
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
	wh_ipset_normalise(s);
	return 0;
}

/* The addresses of an ipBlock: cidr minus except. -1 if it does not parse. */
int wh_ipset_add_block(struct wh_ipset *s, const cJSON *block)
{
	const char *cidr = sg_json_str(block, "cidr");
	struct wh_iprange r, x;
	struct wh_ipset tmp = {0};
	const cJSON *e;

	if (!cidr || wh_cidr_parse(cidr, &r))
		return -1;
	if (wh_ipset_push(&tmp, r.family, r.lo, r.hi))
		return -1;
	cJSON_ArrayForEach(e, sg_json_arr(block, "except"))
	{
		if (!cJSON_IsString(e) || wh_cidr_parse(e->valuestring, &x) ||
		    x.family != r.family || wh_ipset_subtract(&tmp, x.family, x.lo, x.hi)) {
			wh_ipset_release(&tmp);
			return -1;
		}
	}
	for (size_t i = 0; i < tmp.n; i++)
		if (wh_ipset_push(s, tmp.r[i].family, tmp.r[i].lo, tmp.r[i].hi)) {
			wh_ipset_release(&tmp);
			return -1;
		}
	wh_ipset_release(&tmp);
	wh_ipset_normalise(s);
	return 0;
}

/*
 * Returns how many ranges of a lie outside b (0: a is within b), and the
 * first of them in *gap. -1 if out of memory.
 */
long wh_ipset_outside(const struct wh_ipset *a, const struct wh_ipset *b, struct wh_iprange *gap)
{
	struct wh_ipset rest = {0};
	long n;

	for (size_t i = 0; i < a->n; i++)
		if (wh_ipset_push(&rest, a->r[i].family, a->r[i].lo, a->r[i].hi))
			goto oom;
	for (size_t j = 0; j < b->n; j++)
		if (wh_ipset_subtract(&rest, b->r[j].family, b->r[j].lo, b->r[j].hi))
			goto oom;
	n = (long)rest.n;
	if (n)
		*gap = rest.r[0];
	wh_ipset_release(&rest);
	return n;
oom:
	wh_ipset_release(&rest);
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
 * block_outside in netpol.c).
 */
const struct wh_transition wh_transitions[WH_NTRANSITIONS] = {
	{"2002::/16", "6to4", WH_EMB_6TO4},
	{"::/96", "IPv4-compatible", WH_EMB_LOW32},
	{"::ffff:0:0:0/96", "IPv4-translated (SIIT)", WH_EMB_LOW32},
	{"2001::/32", "Teredo", WH_EMB_TEREDO},
	{"64:ff9b::/96", "NAT64", WH_EMB_LOW32},
	{"64:ff9b:1::/48", "local-use NAT64", WH_EMB_NAT64_LOCAL},
};

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
static int embed_v4(size_t t, u128 lo, u128 hi, struct wh_ipset *out)
{
	switch (wh_transitions[t].how) {
	case WH_EMB_6TO4:
		return wh_ipset_push(out, 4, (lo >> 80) & V4_ALL, (hi >> 80) & V4_ALL);
	case WH_EMB_LOW32:
		return wh_ipset_push(out, 4, lo & V4_ALL, hi & V4_ALL);
	case WH_EMB_TEREDO:
		if (wh_ipset_push(out, 4, (lo >> 64) & V4_ALL, (hi >> 64) & V4_ALL))
			return -1;
		if (lo >> 32 != hi >> 32)
			return wh_ipset_push(out, 4, 0, V4_ALL);
		return wh_ipset_push(out, 4, ~hi & V4_ALL, ~lo & V4_ALL);
	case WH_EMB_NAT64_LOCAL:
		return wh_ipset_push(out, 4, 0, V4_ALL);
	}
	return 0;
}

/* Adds to out the IPv4 addresses that the IPv6 ranges of s embed. */
int wh_ipset_embedded(const struct wh_ipset *s, struct wh_ipset *out)
{
	for (size_t t = 0; t < WH_NTRANSITIONS; t++) {
		struct wh_iprange p;

		if (wh_cidr_parse(wh_transitions[t].cidr, &p) != 0)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			const struct wh_iprange *r = &s->r[i];
			u128 lo = r->lo > p.lo ? r->lo : p.lo, hi = r->hi < p.hi ? r->hi : p.hi;

			if (r->family == 6 && lo <= hi && embed_v4(t, lo, hi, out))
				return -1;
		}
	}
	wh_ipset_normalise(out);
	return 0;
}

bool wh_cidr_ipv4_mapped(const char *cidr)
{
	struct wh_iprange r, mapped;

	return wh_cidr_parse(cidr, &r) == 0 && r.family == 6 &&
	       wh_cidr_parse(WH_IPV4_MAPPED_CIDR, &mapped) == 0 && r.lo >= mapped.lo &&
	       r.hi <= mapped.hi;
}

/* True when a dotted-quad or decimal field of s (up to stop) has a leading zero. */
static bool leading_zero(const char *s, const char *stop)
{
	for (const char *p = s; p < stop; p++) {
		bool field_start = p == s || p[-1] == '.' || p[-1] == '/';

		if (field_start && p[0] == '0' && p + 1 < stop && p[1] >= '0' && p[1] <= '9')
			return true;
	}
	return false;
}

const char *wh_cidr_strict_problem(const char *s)
{
	struct wh_iprange r;
	const char *slash = s ? strchr(s, '/') : NULL, *dots;
	char addr[64];
	unsigned char b[16];
	unsigned __int128 v = 0;

	if (!slash || wh_cidr_parse(s, &r) != 0 || (size_t)(slash - s) >= sizeof(addr))
		return "is not a CIDR";
	/*
	 * The prefix length, and dotted decimal: an IPv4 address or the one
	 * embedded at the end of an IPv6 address (IPv6 hex groups may have
	 * leading zeros).
	 */
	dots = strchr(s, '.');
	if (dots && dots < slash)
		while (dots > s && dots[-1] != ':')
			dots--;
	if (leading_zero(slash, slash + strlen(slash)) ||
	    (dots && dots < slash && leading_zero(dots, slash)))
		return "has leading zeros";
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (r.family == 6 && inet_pton(AF_INET6, addr, b) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		if (memcmp(b, mapped, sizeof(mapped)) == 0)
			return "has an IPv4-mapped IPv6 address";
		for (int i = 0; i < 16; i++)
			v = (v << 8) | b[i];
	} else if (r.family == 4 && inet_pton(AF_INET, addr, b) == 1) {
		for (int i = 0; i < 4; i++)
			v = (v << 8) | b[i];
	} else {
		return "is not a CIDR";
	}
	if (v != r.lo)
		return "has bits set beyond the prefix length";
	return NULL;
}

/* "10.0.0.0/8" when the range is a prefix, else "a - b". */
void wh_iprange_format(const struct wh_iprange *r, char *out, size_t n)
{
	int width = r->family == 4 ? 32 : 128;
	char lo[64], hi[64];

	wh_addr_format(r->family, r->lo, lo, sizeof(lo));
	for (int bits = 0; bits <= width; bits++) {
		u128 mask = width - bits == 128 ? ~(u128)0 : (((u128)1 << (width - bits)) - 1);

		if ((r->lo & mask) == 0 && (r->lo | mask) == r->hi) {
			snprintf(out, n, "%.60s/%d", lo, bits);
			return;
		}
	}
	wh_addr_format(r->family, r->hi, hi, sizeof(hi));
	snprintf(out, n, "%.60s - %.60s", lo, hi);
}
