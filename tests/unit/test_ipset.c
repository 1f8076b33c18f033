#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "ipset.h"

/* The set as text, "10.0.0.0/8 192.168.0.0/16", for readable assertions. */
static void set_text(const struct wh_ipset *s, char *out, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->n && len + 1 < n; i++) {
		char r[160];

		wh_iprange_format(&s->r[i], r, sizeof(r));
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? " " : "", r);
	}
}

static void push_cidr(struct wh_ipset *s, const char *cidr)
{
	struct wh_iprange r;

	cr_assert_eq(wh_cidr_parse(cidr, &r), 0, "%s", cidr);
	cr_assert_eq(wh_ipset_push(s, r.family, r.lo, r.hi), 0);
}

Test(ipset, normalise_merges_overlapping_and_adjacent_ranges)
{
	struct wh_ipset s = {0};
	char text[512];

	push_cidr(&s, "10.1.0.0/16");
	push_cidr(&s, "10.0.0.0/16"); /* adjacent: one /15 */
	push_cidr(&s, "10.0.5.0/24"); /* inside */
	push_cidr(&s, "::/0");
	push_cidr(&s, "192.168.0.0/16");
	wh_ipset_normalise(&s);
	set_text(&s, text, sizeof(text));
	cr_assert_str_eq(text, "10.0.0.0/15 192.168.0.0/16 ::/0");
	wh_ipset_release(&s);
	cr_assert(s.n == 0 && s.r == NULL);
}

Test(ipset, subtract_cuts_a_hole_and_keeps_other_families)
{
	struct wh_ipset s = {0};
	struct wh_iprange x;
	char text[512];

	push_cidr(&s, "10.0.0.0/8");
	push_cidr(&s, "2001:db8::/32");
	cr_assert_eq(wh_cidr_parse("10.128.0.0/9", &x), 0);
	cr_assert_eq(wh_ipset_subtract(&s, x.family, x.lo, x.hi), 0);
	cr_assert_eq(wh_cidr_parse("10.0.0.0/16", &x), 0);
	cr_assert_eq(wh_ipset_subtract(&s, x.family, x.lo, x.hi), 0);
	set_text(&s, text, sizeof(text));
	cr_assert_str_eq(text, "10.1.0.0 - 10.127.255.255 2001:db8::/32");
	wh_ipset_release(&s);
}

Test(ipset, block_is_cidr_minus_except)
{
	struct wh_ipset s = {0};
	cJSON *ok = parse_or_die("{\"cidr\":\"0.0.0.0/0\",\"except\":[\"10.0.0.0/8\","
				 "\"128.0.0.0/1\"]}");
	cJSON *bad = parse_or_die("{\"cidr\":\"0.0.0.0/0\",\"except\":[\"::/0\"]}");
	char text[512];

	cr_assert_eq(wh_ipset_add_block(&s, ok), 0);
	set_text(&s, text, sizeof(text));
	cr_assert_str_eq(text, "0.0.0.0 - 9.255.255.255 11.0.0.0 - 127.255.255.255");
	/* An except of the other family does not parse, and leaves the set alone. */
	cr_assert_eq(wh_ipset_add_block(&s, bad), -1);
	cr_assert_eq(s.n, 2);
	wh_ipset_release(&s);
	cJSON_Delete(ok);
	cJSON_Delete(bad);
}

Test(ipset, outside_counts_ranges_and_names_the_first)
{
	struct wh_ipset a = {0}, b = {0};
	struct wh_iprange gap;
	char text[160];

	push_cidr(&a, "10.0.0.0/8");
	push_cidr(&a, "172.16.0.0/12");
	wh_ipset_normalise(&a);
	push_cidr(&b, "10.0.0.0/9");
	wh_ipset_normalise(&b);
	cr_assert_eq(wh_ipset_outside(&a, &b, &gap), 2);
	wh_iprange_format(&gap, text, sizeof(text));
	cr_assert_str_eq(text, "10.128.0.0/9");
	push_cidr(&b, "0.0.0.0/0");
	wh_ipset_normalise(&b);
	cr_assert_eq(wh_ipset_outside(&a, &b, &gap), 0);
	wh_ipset_release(&a);
	wh_ipset_release(&b);
}

Test(ipset, embedded_ipv4_of_transition_prefixes)
{
	struct wh_ipset s = {0}, emb = {0};
	char text[512];

	push_cidr(&s, "2002:a9fe:a9fe::/48"); /* 6to4: 169.254.169.254 */
	push_cidr(&s, "64:ff9b::a00:0/120");  /* NAT64: 10.0.0.0/24 */
	push_cidr(&s, "2001:db8::/32");	      /* documentation: none */
	cr_assert_eq(wh_ipset_embedded(&s, &emb), 0);
	set_text(&emb, text, sizeof(text));
	cr_assert_str_eq(text, "10.0.0.0/24 169.254.169.254/32");
	wh_ipset_release(&s);
	wh_ipset_release(&emb);
}

/*
 * The envelope's question: is an ipBlock nothing but IPv4-mapped
 * addresses (then it is refused, to be written in IPv4 form)?
 */
Test(ipset, mapped_means_wholly_inside_the_mapped_prefix)
{
	cr_assert(wh_cidr_ipv4_mapped("::ffff:0:0/96"));
	cr_assert(wh_cidr_ipv4_mapped("::ffff:10.0.0.0/104"));
	cr_assert(wh_cidr_ipv4_mapped("::ffff:169.254.169.254/128"));
	/* Containing the mapped prefix is not being mapped. */
	cr_assert_not(wh_cidr_ipv4_mapped("::/0"));
	cr_assert_not(wh_cidr_ipv4_mapped("::ffff:0:0/95"));
	/* IPv4-translated (SIIT) is a different prefix, and IPv4 is IPv4. */
	cr_assert_not(wh_cidr_ipv4_mapped("::ffff:0:0:0/96"));
	cr_assert_not(wh_cidr_ipv4_mapped("10.0.0.0/8"));
	cr_assert_not(wh_cidr_ipv4_mapped("not a cidr"));
}

/*
 * The reconciler's question: may an except be left out of the applied
 * NetworkPolicy? Only when everything it excepts is mapped, or leaving it
 * out would widen the policy: ::ffff:1.1.1.0/24 is written with a mapped
 * address but excepts ::/24.
 */
Test(ipset, mapped_excepts_are_judged_by_the_range_they_cover)
{
	struct wh_iprange r;

	cr_assert(wh_cidr_ipv4_mapped("::ffff:1.1.1.0/120"));
	cr_assert_eq(wh_cidr_parse("::ffff:1.1.1.0/24", &r), 0);
	cr_assert(r.family == 6 && r.lo == 0);
	cr_assert_not(wh_cidr_ipv4_mapped("::ffff:1.1.1.0/24"));
	cr_assert_not(wh_cidr_ipv4_mapped("::ffff:1.1.1.0/80"));
}

Test(ipset, strict_problem_follows_the_api_servers_strict_validation)
{
	static const char *const ok[] = {"10.0.0.0/8",	    "0.0.0.0/0",    "2001:db8::/32",
					 "2001:0db8::/32",  "::/0",	    "64:ff9b::/96",
					 "::ffff:0:0:0/96", "192.0.2.7/32", "2001:db8::1/128"};
	static const struct {
		const char *cidr, *why;
	} bad[] = {
		{"10.0.0.1/8", "has bits set beyond the prefix length"},
		{"2001:db8::1/32", "has bits set beyond the prefix length"},
		{"010.0.0.0/8", "is not a CIDR"}, /* inet_pton refuses it already */
		{"10.0.0.0/08", "has leading zeros"},
		{"::ffff:0:0/96", "has an IPv4-mapped IPv6 address"},
		{"::ffff:1.1.1.0/24", "has an IPv4-mapped IPv6 address"},
		{"10.0.0.0", "is not a CIDR"},
		{"10.0.0.0/33", "is not a CIDR"},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert_null(wh_cidr_strict_problem(ok[i]), "%s: %s", ok[i],
			       wh_cidr_strict_problem(ok[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = wh_cidr_strict_problem(bad[i].cidr);

		cr_assert(why && strcmp(why, bad[i].why) == 0, "%s: got %s, want %s", bad[i].cidr,
			  why ? why : "(accepted)", bad[i].why);
	}
}
