/*
 * The informers' decoders without an API server: the watch stream framing
 * (sg_kube_watch_feed) and a detached informer fed list pages and events.
 * tests/fuzz/fuzz_watch.c drives the same functions with any bytes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "sg_buf.h"
#include "sg_json.h"
#include "sg_kube.h"

struct seen {
	char lines[8][64];
	int n;
	int stop_at; /* line number (from 1) whose callback returns false; 0 never */
};

static bool collect(const char *line, size_t len, void *arg)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, 8);
	cr_assert_lt(len, sizeof(s->lines[0]));
	memcpy(s->lines[s->n], line, len);
	s->lines[s->n][len] = '\0';
	s->n++;
	return s->n != s->stop_at;
}

Test(informer, framing_hands_over_whole_lines_however_the_stream_is_cut)
{
	static const char stream[] = "{\"a\":1}\n\n{\"b\":2}\n{\"c\":";
	struct seen s = {0};
	struct sg_buf buf;

	sg_buf_init(&buf, 1024);
	/* One byte at a time: lines still arrive whole, empty ones skipped. */
	for (size_t i = 0; i < sizeof(stream) - 1; i++)
		cr_assert_eq(sg_kube_watch_feed(&buf, stream + i, 1, collect, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.lines[0], "{\"a\":1}");
	cr_assert_str_eq(s.lines[1], "{\"b\":2}");
	/* The partial line waits for its end. */
	cr_assert_eq(sg_kube_watch_feed(&buf, "3}\n", 3, collect, &s), 0);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.lines[2], "{\"c\":3}");
	sg_buf_release(&buf);
}

Test(informer, framing_stops_when_asked_and_bounds_a_line)
{
	struct seen s = {.stop_at = 1};
	struct sg_buf buf;
	char big[200];

	sg_buf_init(&buf, 1024);
	cr_assert_eq(sg_kube_watch_feed(&buf, "x\ny\n", 4, collect, &s), 1);
	cr_assert_eq(s.n, 1, "no line is handed over after a stop");
	sg_buf_release(&buf);

	sg_buf_init(&buf, 128);
	memset(big, 'a', sizeof(big));
	cr_assert_eq(sg_kube_watch_feed(&buf, big, sizeof(big), collect, &s), -E2BIG);
	sg_buf_release(&buf);
}

struct coll {
	int begins, ends, upserts, removes;
	char last[32];
};

static void c_begin(void *arg)
{
	((struct coll *)arg)->begins++;
}

static void c_upsert(const cJSON *obj, void *arg)
{
	struct coll *c = arg;
	const char *name = sg_json_str(sg_json_get(obj, "metadata"), "name");

	c->upserts++;
	snprintf(c->last, sizeof(c->last), "%s", name ? name : "");
}

static void c_remove(const cJSON *obj, void *arg)
{
	(void)obj;
	((struct coll *)arg)->removes++;
}

static void c_end(void *arg)
{
	((struct coll *)arg)->ends++;
}

#define LINE(s) s, strlen(s)

Test(informer, detached_informer_decodes_lists_and_events)
{
	static const struct sg_informer_ops ops = {c_begin, c_upsert, c_remove, c_end};
	struct event_base *base = event_base_new();
	struct coll c = {0};
	struct sg_informer *inf = sg_informer_new_detached(base, "test", &ops, &c);
	struct sg_informer_stats st;

	cr_assert_not_null(inf);
	sg_informer_feed_list(inf, LINE("{\"metadata\":{\"resourceVersion\":\"5\"},"
					"\"items\":[{\"metadata\":{\"name\":\"a\"}}]}"));
	cr_assert_eq(c.begins, 1);
	cr_assert_eq(c.ends, 1);
	cr_assert(sg_informer_synced(inf));
	cr_assert(sg_informer_feed_event(
		inf, LINE("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}")));
	cr_assert_str_eq(c.last, "b");
	cr_assert(sg_informer_feed_event(
		inf, LINE("{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}")));
	cr_assert(
		sg_informer_feed_event(inf, LINE("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
						 "{\"resourceVersion\":\"9\"}}}")));
	cr_assert_eq(c.upserts, 2);
	cr_assert_eq(c.removes, 1);
	/* What would stop the stream: not JSON, no object, an ERROR event. */
	cr_assert_not(sg_informer_feed_event(inf, LINE("{\"type\":")));
	cr_assert_not(sg_informer_feed_event(inf, LINE("{\"type\":\"ADDED\"}")));
	cr_assert_not(sg_informer_feed_event(
		inf, LINE("{\"type\":\"ERROR\",\"object\":{\"code\":410}}")));
	sg_informer_stats(inf, &st);
	cr_assert_eq(st.events, 3);
	cr_assert_eq(st.errors, 2);
	sg_informer_free(inf);
	event_base_free(base);
}
