/*
 * sg_metrics: counters, gauges and histograms in the Prometheus text format.
 *
 * A registry owns metric families; a family owns its series, one per
 * distinct tuple of label values. Callers pass label values they have
 * already normalised to a small set (a review's kind is "Pod" or "other",
 * never a string from the request), and every family also has a hard cap
 * on series so that a bug cannot grow memory without bound: updates for a
 * new series past the cap are dropped and counted.
 *
 * Single-threaded, like the event loop that uses it.
 */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include <stddef.h>

#include "sg_buf.h"

#define SG_METRICS_MAX_LABELS 4
#define SG_METRICS_MAX_SERIES 512

struct sg_metrics;
struct sg_family;

/* Returns a new empty registry, or NULL on allocation failure. */
struct sg_metrics *sg_metrics_new(void);

/* Frees the registry and all its families. NULL is a no-op. */
void sg_metrics_free(struct sg_metrics *m);

/*
 * Registers a family. name, help and label names must outlive the registry
 * (string literals). nlabels is at most SG_METRICS_MAX_LABELS. Returns NULL
 * on allocation failure or bad arguments.
 */
struct sg_family *sg_metrics_counter(struct sg_metrics *m, const char *name, const char *help,
				     const char *const *labels, size_t nlabels);
struct sg_family *sg_metrics_gauge(struct sg_metrics *m, const char *name, const char *help,
				   const char *const *labels, size_t nlabels);
/* bounds: ascending upper bounds, nbounds of them; +Inf is implicit. Copied. */
struct sg_family *sg_metrics_histogram(struct sg_metrics *m, const char *name, const char *help,
				       const char *const *labels, size_t nlabels,
				       const double *bounds, size_t nbounds);

/*
 * A gauge (or counter) whose value is read at render time from fn(arg).
 * No labels.
 */
int sg_metrics_gauge_fn(struct sg_metrics *m, const char *name, const char *help,
			double (*fn)(void *arg), void *arg);
int sg_metrics_counter_fn(struct sg_metrics *m, const char *name, const char *help,
			  double (*fn)(void *arg), void *arg);

/* Adds v to the counter (v >= 0) or sets / adds to the gauge for these label values. */
void sg_family_add(struct sg_family *f, const char *const *values, double v);
void sg_family_set(struct sg_family *f, const char *const *values, double v);

/* Records one observation in a histogram family. */
void sg_family_observe(struct sg_family *f, const char *const *values, double v);

/* The current value of a counter or gauge series; 0 if it does not exist. */
double sg_family_value(struct sg_family *f, const char *const *values);

/* Appends the whole registry in text exposition format 0.0.4. */
int sg_metrics_render(struct sg_metrics *m, struct sg_buf *out);

#endif
