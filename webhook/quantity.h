/*
 * quantity: Kubernetes resource quantities ("512Mi", "250m", "1.5", "1e3").
 *
 * Enough of resource.Quantity to check a policy's limits and to compare a
 * container's request with a default limit: the grammar is the API
 * server's (an optional sign, digits with an optional fraction, then one
 * suffix: n u m "" k M G T P E, Ki Mi Gi Ti Pi Ei, or an e/E exponent),
 * and values are held exactly, in billionths of the unit, in 128 bits.
 * Unlike the API server, surrounding spaces are refused. Anything finer than a billionth is rounded
 * up, as the API server does when it scales a quantity. Input is bounded (WH_QUANTITY_MAX_LEN
 * characters, magnitudes up to 2^63 units), so parsing never loops long,
 * overflows or reads past the string.
 */
#ifndef WH_QUANTITY_H
#define WH_QUANTITY_H

#include <stdbool.h>

/* Longest quantity string accepted (the API server's own are far shorter). */
#define WH_QUANTITY_MAX_LEN 64

struct wh_quantity {
	unsigned __int128 nano; /* magnitude in billionths of the unit */
	bool negative;		/* never set for zero */
};

/*
 * Parses s into *q. Returns 0, -EINVAL if s is not a quantity (empty, too
 * long, a bad character or suffix, a missing digit), or -ERANGE if its
 * magnitude is above 2^63 units. *q is only written on success.
 */
int wh_quantity_parse(const char *s, struct wh_quantity *q);

/* Returns <0, 0 or >0 as a is less than, equal to or greater than b. */
int wh_quantity_cmp(const struct wh_quantity *a, const struct wh_quantity *b);

#endif
