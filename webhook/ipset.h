/*
 * ipset: sets of IPv4 and IPv6 addresses, exactly.
 *
 * A set is a list of sorted, disjoint, inclusive ranges per family, with
 * 128-bit bounds so that IPv6 needs no special case. The envelope check
 * (netpol.c) builds one from each ipBlock (cidr minus except) and asks
 * whether one set lies inside another; the reconciler parses CIDRs with
 * it. The IPv6 prefixes that embed IPv4 addresses (6to4, Teredo, NAT64 and
 * others) are listed here too, with the IPv4 each range of them embeds.
 */
#ifndef WH_IPSET_H
#define WH_IPSET_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* One inclusive range of one family. */
struct wh_iprange {
	int family; /* 4 or 6 */
	unsigned __int128 lo, hi;
};

/*
 * Parses "10.0.0.0/8" or "2001:db8::/32" into the range it covers (host
 * bits are masked off). 0, or -1 if s is not a CIDR.
 */
int wh_cidr_parse(const char *s, struct wh_iprange *out);

/* The IPv4-mapped prefix: ::ffff:a.b.c.d is IPv4 a.b.c.d to a dual-stack socket. */
#define WH_IPV4_MAPPED_CIDR "::ffff:0:0/96"

/*
 * True when cidr parses and every address it covers is IPv4-mapped (inside
 * ::ffff:0:0/96). Such addresses reach nothing of their own: a socket that
 * connects to one sends IPv4, which the IPv4 rules govern. A wider range
 * that merely contains the mapped prefix (::/0, ::ffff:0:0/95) is not
 * mapped, nor is an IPv4 CIDR or text that does not parse.
 *
 * The envelope check (is an ipBlock nothing but mapped addresses?) and
 * the reconciler (may an except be left out of the applied policy?) ask
 * this same question. As wh_cidr_parse masks host bits, a CIDR starts
 * inside the mapped prefix exactly when it lies wholly inside it; one
 * written with a mapped address but a shorter prefix, such as
 * ::ffff:1.1.1.0/24, covers ::/24 and is not mapped.
 */
bool wh_cidr_ipv4_mapped(const char *cidr);

/*
 * Why kube-apiserver's strict CIDR validation (StrictIPCIDRValidation, on
 * by default since 1.36) would refuse s in a NetworkPolicy, or NULL when it
 * would not: not a CIDR, leading zeros in the address or the prefix
 * length, an IPv4-mapped IPv6 address (::ffff:a.b.c.d, whatever the
 * prefix), or bits set beyond the prefix length ("10.0.0.1/8").
 * wh_cidr_parse accepts all of these (it masks host bits); a policy whose
 * profiles carry one would load and then never be applied.
 */
const char *wh_cidr_strict_problem(const char *s);

/* Writes the address v of family fam (4 or 6) in its usual text form; "?" if that fails. */
void wh_addr_format(int fam, unsigned __int128 v, char *out, size_t n);

/* Writes "10.0.0.0/8" when the range is a prefix, else "a - b". */
void wh_iprange_format(const struct wh_iprange *r, char *out, size_t n);

/* A set of addresses: sorted, disjoint, inclusive ranges. {0} is the empty set. */
struct wh_ipset {
	struct wh_iprange *r;
	size_t n, cap;
};

/* Frees the ranges and leaves the set empty. */
void wh_ipset_release(struct wh_ipset *s);

/*
 * Appends [lo, hi] of family fam, unsorted: call wh_ipset_normalise before
 * relying on order. 0, or -1 out of memory.
 */
int wh_ipset_push(struct wh_ipset *s, int fam, unsigned __int128 lo, unsigned __int128 hi);

/* Sorts and merges overlapping or adjacent ranges. */
void wh_ipset_normalise(struct wh_ipset *s);

/* Removes [lo, hi] of family fam from s. 0, or -1 out of memory. */
int wh_ipset_subtract(struct wh_ipset *s, int fam, unsigned __int128 lo, unsigned __int128 hi);

/*
 * Adds the addresses of a NetworkPolicy ipBlock ({"cidr", "except"}): cidr
 * minus except. -1 if the block does not parse (s is then unchanged) or out
 * of memory.
 */
int wh_ipset_add_block(struct wh_ipset *s, const cJSON *block);

/*
 * Returns how many ranges of a lie outside b (0: a is within b), and the
 * first of them in *gap. -1 if out of memory.
 */
long wh_ipset_outside(const struct wh_ipset *a, const struct wh_ipset *b, struct wh_iprange *gap);

/* --- IPv4 embedded in IPv6 ----------------------------------------------------------- */

enum wh_embedding { WH_EMB_6TO4, WH_EMB_LOW32, WH_EMB_TEREDO, WH_EMB_NAT64_LOCAL };

/* One IPv6 transition prefix (see ipset.c for why each is listed). */
struct wh_transition {
	const char *cidr;
	const char *name;
	enum wh_embedding how;
};

#define WH_NTRANSITIONS 6
extern const struct wh_transition wh_transitions[WH_NTRANSITIONS];

/* Adds to out the IPv4 addresses that the IPv6 ranges of s embed. 0, or -1 out of memory. */
int wh_ipset_embedded(const struct wh_ipset *s, struct wh_ipset *out);

#endif
