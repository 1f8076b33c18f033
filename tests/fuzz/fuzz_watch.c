/*
 * Fuzz target for what the informers read from the API server: the watch
 * stream framing (common/sg_kube.c) and the decoding of list pages and
 * watch events (common/sg_informer.c), applied to the extender's real
 * consumers, the pod inventory and the node cache.
 *
 * Input: one byte of choices (which collection; the size of the pieces
 * the stream arrives in, as the network cuts it), then, if a NUL byte
 * follows somewhere, a list page before it; the rest is the watch stream.
 * Invariants: nothing crashes, leaks or trips a sanitizer; the framing
 * hands over exactly the non-empty lines of the stream, in order and
 * whole, however it is cut, and stops only when an event is refused;
 * events applied never outnumber lines; and a relist that finds nothing
 * empties the consumer, whatever the stream left in it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "inventory.h"
#include "nodes.h"
#include "sg_buf.h"
#include "sg_kube.h"
#include "sg_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct state {
	struct ex_inventory *inv;
	struct ex_nodes *nodes;
	struct sg_informer *inf;
	const char *exp; /* where the next line is expected in the stream */
	const char *end;
	size_t lines;
	bool refused;
};

static double now;

static void pods_begin(void *arg)
{
	ex_inventory_resync_begin(((struct state *)arg)->inv);
}

static void pods_upsert(const cJSON *obj, void *arg)
{
	ex_inventory_upsert(((struct state *)arg)->inv, obj, now);
}

static void pods_remove(const cJSON *obj, void *arg)
{
	ex_inventory_remove(((struct state *)arg)->inv, obj, now);
}

static void pods_end(void *arg)
{
	ex_inventory_resync_end(((struct state *)arg)->inv, now);
}

static void nodes_begin(void *arg)
{
	ex_nodes_resync_begin(((struct state *)arg)->nodes);
}

static void nodes_upsert(const cJSON *obj, void *arg)
{
	ex_nodes_upsert(((struct state *)arg)->nodes, obj);
}

static void nodes_remove(const cJSON *obj, void *arg)
{
	ex_nodes_remove(((struct state *)arg)->nodes, obj);
}

static void nodes_end(void *arg)
{
	ex_nodes_resync_end(((struct state *)arg)->nodes);
}

/* Checks the line against the stream itself, then hands it to the informer. */
static bool line_cb(const char *line, size_t len, void *arg)
{
	struct state *st = arg;
	const char *nl;

	while (st->exp < st->end && *st->exp == '\n')
		st->exp++; /* empty lines are skipped */
	nl = memchr(st->exp, '\n', (size_t)(st->end - st->exp));
	if (st->refused || !nl || (size_t)(nl - st->exp) != len || memcmp(line, st->exp, len) != 0)
		abort();
	st->exp = nl + 1;
	st->lines++;
	if (!sg_informer_feed_event(st->inf, line, len)) {
		st->refused = true;
		return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sg_informer_ops pod_ops = {pods_begin, pods_upsert, pods_remove,
						       pods_end};
	static const struct sg_informer_ops node_ops = {nodes_begin, nodes_upsert, nodes_remove,
							nodes_end};
	static const char empty_list[] = "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}";
	static struct event_base *base;
	struct state st = {0};
	struct sg_informer_stats stats;
	const char *text, *nul;
	struct sg_buf buf;
	size_t piece, n;
	bool nodes;
	int rc = 0;

	if (!base) {
		/* Refused events are logged; millions of runs need not be. */
		sg_log_set_level(SG_LOG_ERROR);
		if (!(base = event_base_new()))
			abort();
	}
	if (size < 1)
		return 0;
	nodes = data[0] & 1;
	piece = (size_t)(data[0] >> 1) + 1;
	text = (const char *)data + 1;
	n = size - 1;
	now += 1;
	st.inv = ex_inventory_new();
	st.nodes = ex_nodes_new();
	st.inf = sg_informer_new_detached(base, nodes ? "nodes" : "pods",
					  nodes ? &node_ops : &pod_ops, &st);
	if (!st.inv || !st.nodes || !st.inf)
		abort();
	nul = memchr(text, '\0', n);
	if (nul) {
		sg_informer_feed_list(st.inf, text, (size_t)(nul - text));
		n -= (size_t)(nul - text) + 1;
		text = nul + 1;
	}
	st.exp = text;
	st.end = text + n;
	/* A small cap, so that lines past it are exercised too. */
	sg_buf_init(&buf, 1u << 15);
	for (size_t off = 0; off < n && rc == 0; off += piece)
		rc = sg_kube_watch_feed(&buf, text + off, n - off < piece ? n - off : piece,
					line_cb, &st);
	if ((rc == 1) != st.refused)
		abort();
	sg_buf_release(&buf);
	sg_informer_stats(st.inf, &stats);
	if (stats.events > st.lines)
		abort();
	/*
	 * A relist that finds nothing leaves nothing. Twice: a page of the
	 * input that carried a continue token makes the first one its last
	 * page, which keeps what the earlier pages listed.
	 */
	for (int i = 0; i < 2; i++)
		sg_informer_feed_list(st.inf, empty_list, sizeof(empty_list) - 1);
	if (ex_inventory_pods(st.inv) != 0 || ex_nodes_count(st.nodes) != 0)
		abort();
	sg_informer_free(st.inf);
	ex_nodes_free(st.nodes);
	ex_inventory_free(st.inv);
	return 0;
}
