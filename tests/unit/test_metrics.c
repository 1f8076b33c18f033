#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "sg_metrics.h"

static char *render(struct sg_metrics *m)
{
	struct sg_buf b;

	sg_buf_init(&b, 1 << 20);
	cr_assert_eq(sg_metrics_render(m, &b), 0);
	return sg_buf_detach(&b);
}

Test(metrics, counters_render_with_labels_help_and_type)
{
	static const char *const labels[] = {"endpoint", "decision"};
	struct sg_metrics *m = sg_metrics_new();
	struct sg_family *f = sg_metrics_counter(m, "x_total", "Things.", labels, 2);
	const char *a[] = {"mutate", "patched"}, *b[] = {"validate", "denied"};
	char *text;

	sg_family_add(f, a, 1);
	sg_family_add(f, a, 2);
	sg_family_add(f, b, 1);
	text = render(m);
	cr_assert(strstr(text, "# HELP x_total Things.\n# TYPE x_total counter\n"), "%s", text);
	cr_assert(strstr(text, "x_total{endpoint=\"mutate\",decision=\"patched\"} 3\n"), "%s",
		  text);
	cr_assert(strstr(text, "x_total{endpoint=\"validate\",decision=\"denied\"} 1\n"), "%s",
		  text);
	cr_assert_eq(sg_family_value(f, a), 3);
	free(text);
	sg_metrics_free(m);
}

Test(metrics, label_values_are_escaped)
{
	static const char *const labels[] = {"v"};
	struct sg_metrics *m = sg_metrics_new();
	struct sg_family *f = sg_metrics_gauge(m, "g", "G.", labels, 1);
	const char *v[] = {"a\"b\\c\nd"};
	char *text;

	sg_family_set(f, v, 2.5);
	text = render(m);
	cr_assert(strstr(text, "g{v=\"a\\\"b\\\\c\\nd\"} 2.5\n"), "%s", text);
	free(text);
	sg_metrics_free(m);
}

Test(metrics, histogram_buckets_are_cumulative)
{
	static const char *const labels[] = {"endpoint"};
	static const double bounds[] = {0.001, 0.01};
	struct sg_metrics *m = sg_metrics_new();
	struct sg_family *h = sg_metrics_histogram(m, "lat_seconds", "L.", labels, 1, bounds, 2);
	const char *v[] = {"mutate"};
	char *text;

	sg_family_observe(h, v, 0.0005);
	sg_family_observe(h, v, 0.005);
	sg_family_observe(h, v, 5);
	text = render(m);
	cr_assert(strstr(text, "lat_seconds_bucket{endpoint=\"mutate\",le=\"0.001\"} 1\n"), "%s",
		  text);
	cr_assert(strstr(text, "lat_seconds_bucket{endpoint=\"mutate\",le=\"0.01\"} 2\n"), "%s",
		  text);
	cr_assert(strstr(text, "lat_seconds_bucket{endpoint=\"mutate\",le=\"+Inf\"} 3\n"), "%s",
		  text);
	cr_assert(strstr(text, "lat_seconds_count{endpoint=\"mutate\"} 3\n"), "%s", text);
	free(text);
	sg_metrics_free(m);
}

Test(metrics, series_are_capped_and_drops_counted)
{
	static const char *const labels[] = {"k"};
	struct sg_metrics *m = sg_metrics_new();
	struct sg_family *f = sg_metrics_counter(m, "c_total", "C.", labels, 1);
	char name[32], *text;

	for (int i = 0; i < SG_METRICS_MAX_SERIES + 10; i++) {
		const char *v[] = {name};

		snprintf(name, sizeof(name), "s%d", i);
		sg_family_add(f, v, 1);
	}
	text = render(m);
	cr_assert(strstr(text, "sandbox_guard_metrics_dropped_updates_total 10\n"), "%s",
		  strstr(text, "sg_"));
	free(text);
	sg_metrics_free(m);
}

static double seven(void *arg)
{
	(void)arg;
	return 7;
}

Test(metrics, callback_gauges_are_read_at_render)
{
	struct sg_metrics *m = sg_metrics_new();
	char *text;

	cr_assert_eq(sg_metrics_gauge_fn(m, "conns", "Open.", seven, NULL), 0);
	text = render(m);
	cr_assert(strstr(text, "# TYPE conns gauge\nconns 7\n"), "%s", text);
	free(text);
	sg_metrics_free(m);
}
