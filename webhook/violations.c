#include "violations.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One entry's longest text; user strings inside are cut to fit. */
#define ENTRY_MAX 512

void wh_violations_init(struct wh_violations *v)
{
	memset(v, 0, sizeof(*v));
}

void wh_violations_release(struct wh_violations *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->items[i]);
	wh_violations_init(v);
}

bool wh_violations_has(const struct wh_violations *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->items[i], s) == 0)
			return true;
	return false;
}

static void push(struct wh_violations *v, char *s)
{
	if (!s)
		return;
	if (wh_violations_has(v, s)) {
		free(s);
		return;
	}
	if (v->n >= WH_VIOLATIONS_MAX) {
		v->dropped++;
		free(s);
		return;
	}
	v->items[v->n++] = s;
}

void wh_violation(struct wh_violations *v, const char *fmt, ...)
{
	char buf[ENTRY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	push(v, strdup(buf));
}

void wh_violations_subtract(struct wh_violations *v, const struct wh_violations *old,
			    struct wh_violations *kept)
{
	size_t w = 0;

	for (size_t i = 0; i < v->n; i++) {
		if (!wh_violations_has(old, v->items[i])) {
			v->items[w++] = v->items[i];
			continue;
		}
		if (kept)
			push(kept, v->items[i]);
		else
			free(v->items[i]);
	}
	v->n = w;
}
