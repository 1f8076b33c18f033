#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "quantity.h"

static struct wh_quantity q(const char *s)
{
	struct wh_quantity v;
	int rc = wh_quantity_parse(s, &v);

	cr_assert_eq(rc, 0, "'%s' refused (%d)", s, rc);
	return v;
}

/* Asserts a < b, a == b or a > b (want -1, 0, 1). */
static void cmp(const char *a, const char *b, int want)
{
	struct wh_quantity x = q(a), y = q(b);
	int got = wh_quantity_cmp(&x, &y), back = wh_quantity_cmp(&y, &x);

	got = (got > 0) - (got < 0);
	back = (back > 0) - (back < 0);
	cr_assert_eq(got, want, "%s vs %s: %d, want %d", a, b, got, want);
	cr_assert_eq(back, -want, "%s vs %s (reversed): %d", b, a, back);
}

static void bad(const char *s, int want)
{
	struct wh_quantity v = {.nano = 7};

	cr_assert_eq(wh_quantity_parse(s, &v), want, "'%s'", s);
	cr_assert(v.nano == 7 && !v.negative, "'%s': output written on failure", s);
}

Test(quantity, suffixes_scale_exactly)
{
	cr_assert(q("0").nano == 0);
	cr_assert(q("1").nano == 1000000000u);
	cr_assert(q("250m").nano == 250000000u);
	cr_assert(q("1k").nano == (unsigned __int128)1000 * 1000000000u);
	cr_assert(q("1Ki").nano == (unsigned __int128)1024 * 1000000000u);
	cr_assert(q("512Mi").nano == (unsigned __int128)512 * 1048576 * 1000000000u);
	cr_assert(q("1.5Gi").nano == (unsigned __int128)1610612736 * 1000000000u);
	cr_assert(q("3n").nano == 3);
	cr_assert(q("2u").nano == 2000);
	cr_assert(q("1e3").nano == (unsigned __int128)1000 * 1000000000u);
	cr_assert(q("1E-3").nano == 1000000u);
	cr_assert(q("+.5").nano == 500000000u);
	cr_assert(q("5.").nano == 5000000000u);
	cr_assert(q("-1").negative);
	cr_assert(!q("-0").negative, "zero has no sign");
}

Test(quantity, compares_across_suffixes)
{
	cmp("512Mi", "1Gi", -1);
	cmp("1024Mi", "1Gi", 0);
	cmp("1G", "1Gi", -1);
	cmp("1000M", "1G", 0);
	cmp("0.5", "500m", 0);
	cmp("1e9", "1G", 0);
	cmp("2", "1999m", 1);
	cmp("128974848", "129e6", -1);
	cmp("123Mi", "128974848", 0);
	cmp("-1", "0", -1);
	cmp("-2Gi", "-1Gi", -1);
	cmp("8Ei", "9223372036854775807", 1);
}

/* Below a billionth the value is rounded up, never down to a smaller limit. */
Test(quantity, rounds_finer_than_nano_up)
{
	cr_assert(q("0.1n").nano == 1);
	cr_assert(q("1.0000000001").nano == 1000000001u);
	cr_assert(q("1e-12").nano == 1);
	cr_assert(q("0.0000000000").nano == 0);
}

Test(quantity, refuses_what_the_api_server_refuses)
{
	static const char *const invalid[] = {
		"",    "m",	"Mi",	"1K",	 "1mi",	 "1 Gi", " 1",	"1Gi ", "1.2.3", "1e",
		"1e+", "1e1.5", "1Gib", "--1",	 "1-",	 "0x10", "1,5", "١",	".",	 "+",
		"1ee", "e3",	"1Mi1", "1e3Mi", "1E3E", "inf",	 "NaN", "1i",	"1KI",	 "1Ki2",
	};

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		bad(invalid[i], -EINVAL);
	bad(NULL, -EINVAL);
}

Test(quantity, limits_length_and_magnitude)
{
	char long_zeros[WH_QUANTITY_MAX_LEN + 2];

	bad("9223372036854775809", -ERANGE);
	bad("9Ei", -ERANGE);
	bad("1e19", -ERANGE);
	bad("1e999999999999", -ERANGE);
	bad("99999999999999999999999999999999999999999999", -ERANGE);
	cr_assert(q("8Ei").nano ==
		  (unsigned __int128)9223372036854775807ull * 1000000000u + 1000000000u);
	/* A long string is refused for its length, before anything else. */
	memset(long_zeros, '0', sizeof(long_zeros) - 1);
	long_zeros[sizeof(long_zeros) - 1] = '\0';
	bad(long_zeros, -EINVAL);
	long_zeros[WH_QUANTITY_MAX_LEN] = '\0';
	cr_assert(q(long_zeros).nano == 0);
}

/* Every string of up to four characters from the grammar's alphabet: no crash, no overflow. */
Test(quantity, never_crashes_on_short_strings)
{
	static const char alphabet[] = "019.+-eEinumkKMGTP ";
	const size_t n = sizeof(alphabet) - 1;
	char s[5];
	size_t ok = 0;

	for (size_t len = 1; len <= 4; len++) {
		size_t total = 1;

		for (size_t i = 0; i < len; i++)
			total *= n;
		for (size_t k = 0; k < total; k++) {
			struct wh_quantity v;
			size_t x = k;

			for (size_t i = 0; i < len; i++) {
				s[i] = alphabet[x % n];
				x /= n;
			}
			s[len] = '\0';
			if (wh_quantity_parse(s, &v) == 0)
				ok++;
		}
	}
	cr_assert_gt(ok, 1000);
}
