#include "sg_metrics.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum family_type { COUNTER, GAUGE, HISTOGRAM, GAUGE_FN, COUNTER_FN };

struct series {
	struct series *next;
	uint32_t hash;
	char *values[SG_METRICS_MAX_LABELS];
	double value;	   /* counter or gauge */
	uint64_t *buckets; /* histogram: per-bucket (not cumulative) counts, nbounds + 1 */
	double sum;	   /* histogram */
	uint64_t count;	   /* histogram */
};

struct sg_family {
	struct sg_family *next;
	enum family_type type;
	const char *name;
	const char *help;
	const char *labels[SG_METRICS_MAX_LABELS];
	size_t nlabels;
	double *bounds;
	size_t nbounds;
	struct series *series;
	struct series **tail;
	size_t nseries;
	double (*fn)(void *);
	void *arg;
	struct sg_metrics *owner;
};

struct sg_metrics {
	struct sg_family *families;
	struct sg_family **tail;
	double dropped; /* updates lost to the series cap */
};

struct sg_metrics *sg_metrics_new(void)
{
	struct sg_metrics *m = calloc(1, sizeof(*m));

	if (m)
		m->tail = &m->families;
	return m;
}

static void series_free(struct series *s, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++)
		free(s->values[i]);
	free(s->buckets);
	free(s);
}

void sg_metrics_free(struct sg_metrics *m)
{
	struct sg_family *f, *fn;
	struct series *s, *sn;

	if (!m)
		return;
	for (f = m->families; f; f = fn) {
		fn = f->next;
		for (s = f->series; s; s = sn) {
			sn = s->next;
			series_free(s, f->nlabels);
		}
		free(f->bounds);
		free(f);
	}
	free(m);
}

static struct sg_family *family_new(struct sg_metrics *m, enum family_type type, const char *name,
				    const char *help, const char *const *labels, size_t nlabels)
{
	struct sg_family *f;

	if (!m || nlabels > SG_METRICS_MAX_LABELS)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->type = type;
	f->name = name;
	f->help = help;
	f->nlabels = nlabels;
	for (size_t i = 0; i < nlabels; i++)
		f->labels[i] = labels[i];
	f->tail = &f->series;
	f->owner = m;
	*m->tail = f;
	m->tail = &f->next;
	return f;
}

struct sg_family *sg_metrics_counter(struct sg_metrics *m, const char *name, const char *help,
				     const char *const *labels, size_t nlabels)
{
	return family_new(m, COUNTER, name, help, labels, nlabels);
}

struct sg_family *sg_metrics_gauge(struct sg_metrics *m, const char *name, const char *help,
				   const char *const *labels, size_t nlabels)
{
	return family_new(m, GAUGE, name, help, labels, nlabels);
}

struct sg_family *sg_metrics_histogram(struct sg_metrics *m, const char *name, const char *help,
				       const char *const *labels, size_t nlabels,
				       const double *bounds, size_t nbounds)
{
	struct sg_family *f;
	double *b;

	if (nbounds == 0)
		return NULL;
	b = malloc(nbounds * sizeof(*b));
	if (!b)
		return NULL;
	memcpy(b, bounds, nbounds * sizeof(*b));
	f = family_new(m, HISTOGRAM, name, help, labels, nlabels);
	if (!f) {
		free(b);
		return NULL;
	}
	f->bounds = b;
	f->nbounds = nbounds;
	return f;
}

static int fn_family(struct sg_metrics *m, enum family_type type, const char *name,
		     const char *help, double (*fn)(void *arg), void *arg)
{
	struct sg_family *f = family_new(m, type, name, help, NULL, 0);

	if (!f)
		return -ENOMEM;
	f->fn = fn;
	f->arg = arg;
	return 0;
}

int sg_metrics_gauge_fn(struct sg_metrics *m, const char *name, const char *help,
			double (*fn)(void *arg), void *arg)
{
	return fn_family(m, GAUGE_FN, name, help, fn, arg);
}

int sg_metrics_counter_fn(struct sg_metrics *m, const char *name, const char *help,
			  double (*fn)(void *arg), void *arg)
{
	return fn_family(m, COUNTER_FN, name, help, fn, arg);
}

static uint32_t hash_values(const char *const *values, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		for (const char *p = values[i]; *p; p++) {
			h ^= (unsigned char)*p;
			h *= 16777619u;
		}
		h ^= 0xff; /* separator, so ("ab","c") differs from ("a","bc") */
		h *= 16777619u;
	}
	return h;
}

/* Finds the series for these values; creates it when create is true and the cap allows. */
static struct series *lookup(struct sg_family *f, const char *const *values, bool create)
{
	uint32_t h = hash_values(values, f->nlabels);
	struct series *s;
	size_t i;

	for (s = f->series; s; s = s->next) {
		if (s->hash != h)
			continue;
		for (i = 0; i < f->nlabels; i++)
			if (strcmp(s->values[i], values[i]) != 0)
				break;
		if (i == f->nlabels)
			return s;
	}
	if (!create)
		return NULL;
	if (f->nseries >= SG_METRICS_MAX_SERIES)
		goto drop;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto drop;
	s->hash = h;
	for (i = 0; i < f->nlabels; i++) {
		s->values[i] = strdup(values[i]);
		if (!s->values[i]) {
			series_free(s, i);
			goto drop;
		}
	}
	if (f->type == HISTOGRAM) {
		s->buckets = calloc(f->nbounds + 1, sizeof(*s->buckets));
		if (!s->buckets) {
			series_free(s, f->nlabels);
			goto drop;
		}
	}
	*f->tail = s;
	f->tail = &s->next;
	f->nseries++;
	return s;
drop:
	f->owner->dropped += 1;
	return NULL;
}

void sg_family_add(struct sg_family *f, const char *const *values, double v)
{
	struct series *s;

	if (!f || (f->type != COUNTER && f->type != GAUGE))
		return;
	s = lookup(f, values, true);
	if (s)
		s->value += v;
}

void sg_family_set(struct sg_family *f, const char *const *values, double v)
{
	struct series *s;

	if (!f || f->type != GAUGE)
		return;
	s = lookup(f, values, true);
	if (s)
		s->value = v;
}

void sg_family_observe(struct sg_family *f, const char *const *values, double v)
{
	struct series *s;
	size_t i;

	if (!f || f->type != HISTOGRAM)
		return;
	s = lookup(f, values, true);
	if (!s)
		return;
	for (i = 0; i < f->nbounds; i++)
		if (v <= f->bounds[i])
			break;
	s->buckets[i]++;
	s->sum += v;
	s->count++;
}

double sg_family_value(struct sg_family *f, const char *const *values)
{
	struct series *s = f ? lookup(f, values, false) : NULL;

	return s ? s->value : 0;
}

static int put_value(struct sg_buf *out, double v)
{
	if (isinf(v))
		return sg_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
	if (isnan(v))
		return sg_buf_puts(out, "NaN");
	/* Range first: casting an out-of-range double to an integer is undefined. */
	if (fabs(v) < 9e15 && v == (double)(int64_t)v)
		return sg_buf_printf(out, "%lld", (long long)v);
	return sg_buf_printf(out, "%.17g", v);
}

static int put_label_value(struct sg_buf *out, const char *v)
{
	int rc = sg_buf_putc(out, '"');

	for (; rc == 0 && *v; v++) {
		if (*v == '\\')
			rc = sg_buf_puts(out, "\\\\");
		else if (*v == '"')
			rc = sg_buf_puts(out, "\\\"");
		else if (*v == '\n')
			rc = sg_buf_puts(out, "\\n");
		else
			rc = sg_buf_putc(out, *v);
	}
	return rc ? rc : sg_buf_putc(out, '"');
}

/* Writes {a="x",b="y"[,le="..."]}; nothing when there are no labels at all. */
static int put_labels(struct sg_buf *out, const struct sg_family *f, const struct series *s,
		      const char *le)
{
	int rc = 0;
	size_t i;

	if (f->nlabels == 0 && !le)
		return 0;
	rc = sg_buf_putc(out, '{');
	for (i = 0; rc == 0 && i < f->nlabels; i++) {
		rc = sg_buf_printf(out, "%s%s=", i ? "," : "", f->labels[i]);
		if (rc == 0)
			rc = put_label_value(out, s->values[i]);
	}
	if (rc == 0 && le)
		rc = sg_buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
	return rc ? rc : sg_buf_putc(out, '}');
}

static int render_family(struct sg_buf *out, const struct sg_family *f)
{
	static const char *type_names[] = {"counter", "gauge", "histogram", "gauge", "counter"};
	const struct series *s;
	int rc;

	rc = sg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
			   type_names[f->type]);
	if (rc)
		return rc;
	if (f->type == GAUGE_FN || f->type == COUNTER_FN) {
		rc = sg_buf_printf(out, "%s ", f->name);
		rc = rc ? rc : put_value(out, f->fn(f->arg));
		return rc ? rc : sg_buf_putc(out, '\n');
	}
	for (s = f->series; rc == 0 && s; s = s->next) {
		if (f->type != HISTOGRAM) {
			rc = sg_buf_puts(out, f->name);
			rc = rc ? rc : put_labels(out, f, s, NULL);
			rc = rc ? rc : sg_buf_putc(out, ' ');
			rc = rc ? rc : put_value(out, s->value);
			rc = rc ? rc : sg_buf_putc(out, '\n');
			continue;
		}
		uint64_t cum = 0;
		char le[32];

		for (size_t i = 0; rc == 0 && i <= f->nbounds; i++) {
			cum += s->buckets[i];
			if (i < f->nbounds)
				snprintf(le, sizeof(le), "%g", f->bounds[i]);
			else
				strcpy(le, "+Inf");
			rc = sg_buf_printf(out, "%s_bucket", f->name);
			rc = rc ? rc : put_labels(out, f, s, le);
			rc = rc ? rc : sg_buf_printf(out, " %llu\n", (unsigned long long)cum);
		}
		rc = rc ? rc : sg_buf_printf(out, "%s_sum", f->name);
		rc = rc ? rc : put_labels(out, f, s, NULL);
		rc = rc ? rc : sg_buf_putc(out, ' ');
		rc = rc ? rc : put_value(out, s->sum);
		rc = rc ? rc : sg_buf_printf(out, "\n%s_count", f->name);
		rc = rc ? rc : put_labels(out, f, s, NULL);
		rc = rc ? rc : sg_buf_printf(out, " %llu\n", (unsigned long long)s->count);
	}
	return rc;
}

int sg_metrics_render(struct sg_metrics *m, struct sg_buf *out)
{
	int rc = 0;

	for (const struct sg_family *f = m->families; rc == 0 && f; f = f->next)
		rc = render_family(out, f);
	if (rc == 0)
		rc = sg_buf_printf(
			out,
			"# HELP sandbox_guard_metrics_dropped_updates_total Metric updates lost to "
			"the per-family series cap.\n"
			"# TYPE sandbox_guard_metrics_dropped_updates_total counter\n"
			"sandbox_guard_metrics_dropped_updates_total ");
	rc = rc ? rc : put_value(out, m->dropped);
	return rc ? rc : sg_buf_putc(out, '\n');
}
