#include "quantity.h"

#include <errno.h>
#include <string.h>

typedef unsigned __int128 u128;

/* 2^63 units, in billionths: the largest magnitude accepted. */
#define MAX_NANO (((u128)1 << 63) * 1000000000u)
/* Exponents beyond this are out of range whatever the digits (at most 64 of them). */
#define MAX_EXP 100

struct suffix {
	const char *text;
	int pow10; /* the suffix's power of ten */
	int pow2;  /* and of two (binary suffixes) */
};

static const struct suffix suffixes[] = {
	{"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"", 0, 0},    {"k", 3, 0},   {"M", 6, 0},
	{"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
	{"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
};

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* v = v * m, or false if that passes MAX_NANO. */
static bool mul(u128 *v, unsigned m)
{
	if (*v > MAX_NANO / m)
		return false;
	*v *= m;
	return true;
}

/* Reads the suffix at s (to its end) into its powers of ten and two. */
static int parse_suffix(const char *s, int *pow10, int *pow2)
{
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(s, suffixes[i].text) == 0) {
			*pow10 = suffixes[i].pow10;
			*pow2 = suffixes[i].pow2;
			return 0;
		}
	}
	/* A decimal exponent: e or E, an optional sign, at least one digit. */
	if (*s == 'e' || *s == 'E') {
		bool neg = false;
		long e = 0;

		s++;
		if (*s == '+' || *s == '-')
			neg = *s++ == '-';
		if (!digit(*s))
			return -EINVAL;
		for (; digit(*s); s++)
			if (e <= MAX_EXP)
				e = e * 10 + (*s - '0');
		if (*s)
			return -EINVAL;
		if (e > MAX_EXP)
			return neg ? -EDOM : -ERANGE; /* tiny or huge */
		*pow10 = (int)(neg ? -e : e);
		*pow2 = 0;
		return 0;
	}
	return -EINVAL;
}

int wh_quantity_parse(const char *s, struct wh_quantity *q)
{
	bool neg = false, any = false, round_up = false, overflow = false;
	u128 v = 0;
	int pow10 = 0, pow2 = 0, frac = 0, rc;

	if (!s || s[0] == '\0' || strnlen(s, WH_QUANTITY_MAX_LEN + 1) > WH_QUANTITY_MAX_LEN)
		return -EINVAL;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	/* Digits, at most one point, at least one digit on either side of it. */
	for (; digit(*s); s++) {
		any = true;
		if (overflow || !mul(&v, 10)) {
			overflow = true; /* keep reading: the suffix may still be invalid */
			continue;
		}
		v += (unsigned)(*s - '0');
	}
	if (*s == '.') {
		for (s++; digit(*s); s++) {
			any = true;
			/* Digits past the precision we keep only decide the rounding. */
			if (overflow || v > MAX_NANO / 10) {
				round_up |= *s != '0';
				continue;
			}
			v = v * 10 + (unsigned)(*s - '0');
			frac++;
		}
	}
	if (!any)
		return -EINVAL;
	rc = parse_suffix(s, &pow10, &pow2);
	if (rc == -EDOM) {
		/* Below a billionth (at most 64 digits times 10^-101): 0, or rounded up. */
		q->nano = (v || round_up || overflow) ? 1 : 0;
		q->negative = neg && q->nano;
		return 0;
	}
	if (rc)
		return rc;
	if (overflow)
		return -ERANGE;
	/* v is digits * 10^-frac units; scale it to billionths. */
	for (int i = 0; i < pow2; i++)
		if (v && !mul(&v, 2))
			return -ERANGE;
	pow10 += 9 - frac;
	for (; pow10 > 0 && v; pow10--)
		if (!mul(&v, 10))
			return -ERANGE;
	for (; pow10 < 0 && v; pow10++) {
		round_up |= v % 10 != 0;
		v /= 10;
	}
	if (round_up)
		v++;
	if (v > MAX_NANO)
		return -ERANGE;
	q->nano = v;
	q->negative = neg && v != 0;
	return 0;
}

int wh_quantity_cmp(const struct wh_quantity *a, const struct wh_quantity *b)
{
	int sign;

	if (a->negative != b->negative)
		return a->negative ? -1 : 1;
	sign = a->negative ? -1 : 1;
	if (a->nano == b->nano)
		return 0;
	return a->nano < b->nano ? -sign : sign;
}
