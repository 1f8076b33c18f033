/*
 * sg_informer: list + watch, the way client-go's reflector does it, for a
 * C daemon on one event loop.
 *
 *   LIST (paged) --complete--> WATCH from the list's resourceVersion
 *      ^                          |  ADDED/MODIFIED -> upsert
 *      |                          |  DELETED        -> remove
 *      |                          |  BOOKMARK       -> remember resourceVersion
 *      +---- 410 Gone ------------+  ERROR 410      -> relist
 *                                 |  stream ends    -> watch again (same RV)
 *                                 |  failure        -> back off, watch again
 *
 * Each list is a resync for the consumer (resync_begin, upserts,
 * resync_end), so objects deleted while no watch was open disappear, and
 * objects are keyed by the consumer (by uid), so an event seen twice after
 * a reconnect changes nothing.
 */
#include "sg_kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "sg_arena.h"
#include "sg_buf.h"
#include "sg_json.h"
#include "sg_log.h"

#define PAGE_SIZE      500
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

struct sg_informer {
	struct sg_kube *k;
	char *name;
	char *path;
	struct sg_informer_ops ops;
	void *arg;
	struct sg_kube_req *req;
	struct event *retry;
	struct sg_arena arena;
	char rv[64];	 /* resourceVersion to watch from */
	char cont[4096]; /* continue token of the list in progress */
	bool listing;
	bool relist; /* the watch saw 410: list again when it ends */
	bool broken; /* the watch stopped on a bad event: back off */
	bool synced;
	int backoff_ms;
	struct timespec watch_began; /* and the event count then: a watch that ends */
	unsigned long watch_events;  /* at once with nothing is retried with back-off */
	struct timespec fresh;	     /* last proof that the collection matched the server */
	struct sg_informer_stats stats;
};

static void start_list(struct sg_informer *inf);
static void start_watch(struct sg_informer *inf);

/*
 * The consumer's copy matched the server at this moment: a list completed,
 * a watch event (bookmarks included) arrived, or a watch ran to the
 * server's timeout. The API server sends bookmarks about once a minute and
 * ends each watch after 4 to 6 minutes, so a healthy informer is never
 * more than a few minutes from its last proof.
 */
static void mark_fresh(struct sg_informer *inf)
{
	clock_gettime(CLOCK_MONOTONIC, &inf->fresh);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sg_informer *inf = arg;

	(void)fd;
	(void)what;
	if (inf->listing)
		start_list(inf);
	else
		start_watch(inf);
}

static void later(struct sg_informer *inf, bool list)
{
	int ms = inf->backoff_ms;
	struct timeval tv;

	/* Jitter of up to a quarter, so that replicas do not retry in step. */
	ms += rand() % (ms / 4 + 1);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	inf->listing = list;
	inf->backoff_ms =
		inf->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : inf->backoff_ms * 2;
	evtimer_add(inf->retry, &tv);
}

static void set_rv(struct sg_informer *inf, const cJSON *obj)
{
	const char *rv = sg_json_str(sg_json_get(obj, "metadata"), "resourceVersion");

	if (rv && strlen(rv) < sizeof(inf->rv))
		strcpy(inf->rv, rv);
}

static const char *sep(const char *path)
{
	return strchr(path, '?') ? "&" : "?";
}

static void list_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct sg_informer *inf = arg;
	char *cause = NULL;
	const cJSON *items, *it, *meta;
	const char *cont;
	cJSON *doc;

	inf->req = NULL;
	if (err || status != 200) {
		inf->stats.errors++;
		sg_log_warn("%s: list failed: %s (HTTP %ld)", inf->name, err ? err : "error",
			    status);
		/* An expired continue token means starting the list over. */
		inf->cont[0] = '\0';
		later(inf, true);
		return;
	}
	doc = sg_json_parse_arena(body, len, &inf->arena, SG_JSON_SKIP_MANAGED_FIELDS, &cause);
	if (!doc) {
		inf->stats.errors++;
		sg_log_warn("%s: list answer is not JSON: %s", inf->name, cause);
		free(cause);
		inf->cont[0] = '\0';
		sg_arena_reset(&inf->arena);
		later(inf, true);
		return;
	}
	if (!inf->cont[0])
		inf->ops.resync_begin(inf->arg);
	items = sg_json_arr(doc, "items");
	cJSON_ArrayForEach(it, items)
	{
		inf->ops.upsert(it, inf->arg);
	}
	meta = sg_json_get(doc, "metadata");
	cont = sg_json_str(meta, "continue");
	if (cont && cont[0]) {
		/*
		 * A page that cannot be followed is a failed list, not its end:
		 * ending here would drop every pod of the pages not read.
		 */
		if (strlen(cont) >= sizeof(inf->cont)) {
			inf->stats.errors++;
			sg_log_warn("%s: list continue token is over %zu bytes; listing again",
				    inf->name, sizeof(inf->cont) - 1);
			inf->cont[0] = '\0';
			sg_arena_reset(&inf->arena);
			later(inf, true);
			return;
		}
		strcpy(inf->cont, cont);
		sg_arena_reset(&inf->arena);
		start_list(inf);
		return;
	}
	set_rv(inf, doc);
	sg_arena_reset(&inf->arena);
	inf->cont[0] = '\0';
	inf->ops.resync_end(inf->arg);
	inf->stats.lists++;
	mark_fresh(inf);
	if (!inf->synced)
		sg_log_info("%s: synced (resourceVersion %s)", inf->name, inf->rv);
	inf->synced = true;
	inf->backoff_ms = BACKOFF_MIN_MS;
	start_watch(inf);
}

static void start_list(struct sg_informer *inf)
{
	struct sg_buf path;
	int rc;

	inf->listing = true;
	if (!inf->k)
		return; /* detached */
	sg_buf_init(&path, 16384);
	rc = sg_buf_printf(&path, "%s%slimit=%d", inf->path, sep(inf->path), PAGE_SIZE);
	if (rc == 0 && inf->cont[0])
		rc = sg_kube_query_add(&path, "continue", inf->cont);
	inf->req =
		rc == 0 ? sg_kube_request(inf->k, "GET", path.data, NULL, NULL, 0, list_done, inf)
			: NULL;
	sg_buf_release(&path);
	if (!inf->req)
		later(inf, true);
}

/* One watch event line. */
static bool watch_line(const char *line, size_t len, void *arg)
{
	struct sg_informer *inf = arg;
	const char *type;
	const cJSON *obj;
	char *cause = NULL;
	cJSON *ev;

	ev = sg_json_parse_arena(line, len, &inf->arena, SG_JSON_SKIP_MANAGED_FIELDS, &cause);
	if (!ev) {
		sg_log_warn("%s: watch event is not JSON: %s", inf->name, cause);
		free(cause);
		inf->stats.errors++;
		inf->broken = true;
		return false;
	}
	type = sg_json_str(ev, "type");
	obj = sg_json_obj(ev, "object");
	if (!type || !obj) {
		sg_arena_reset(&inf->arena);
		inf->stats.errors++;
		inf->broken = true;
		return false;
	}
	if (strcmp(type, "ERROR") == 0) {
		const cJSON *code = sg_json_get(obj, "code");

		if (cJSON_IsNumber(code) && code->valuedouble == 410) {
			inf->relist = true;
		} else {
			sg_log_warn("%s: watch error: %s", inf->name,
				    sg_json_str(obj, "message") ? sg_json_str(obj, "message")
								: "?");
			inf->stats.errors++;
			inf->broken = true;
		}
		sg_arena_reset(&inf->arena);
		return false;
	}
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0)
		inf->ops.upsert(obj, inf->arg);
	else if (strcmp(type, "DELETED") == 0)
		inf->ops.remove(obj, inf->arg);
	/* BOOKMARK carries only the resourceVersion. */
	set_rv(inf, obj);
	mark_fresh(inf);
	inf->stats.events++;
	inf->backoff_ms = BACKOFF_MIN_MS;
	sg_arena_reset(&inf->arena);
	return true;
}

/* Less than a second and no event: a proxy or server refusing to stream. */
static bool watch_ended_at_once(const struct sg_informer *inf)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(now.tv_sec - inf->watch_began.tv_sec) * 1000 +
	     (now.tv_nsec - inf->watch_began.tv_nsec) / 1000000;
	return ms < 1000 && inf->stats.events == inf->watch_events;
}

static void watch_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct sg_informer *inf = arg;

	(void)body;
	(void)len;
	inf->req = NULL;
	if (inf->relist || status == 410) {
		sg_log_info("%s: resourceVersion %s expired (410 Gone): listing again", inf->name,
			    inf->rv);
		inf->relist = false;
		inf->rv[0] = '\0';
		start_list(inf);
		return;
	}
	if (status == 200 && !err && !inf->broken && !watch_ended_at_once(inf)) {
		/* The server's timeoutSeconds ended the stream: resume where it stopped. */
		mark_fresh(inf);
		start_watch(inf);
		return;
	}
	if (status == 200 && !err && !inf->broken) {
		inf->stats.errors++;
		sg_log_warn("%s: watch ended at once with no event; retrying with back-off",
			    inf->name);
		later(inf, false);
		return;
	}
	if (!inf->broken) {
		inf->stats.errors++;
		sg_log_warn("%s: watch ended: %s (HTTP %ld); retrying", inf->name,
			    err ? err : "error", status);
	}
	inf->broken = false;
	later(inf, false);
}

static void start_watch(struct sg_informer *inf)
{
	struct sg_buf path;
	int rc;

	if (!inf->rv[0]) {
		/* Only after a list without a resourceVersion: do not spin. */
		sg_log_warn("%s: the list carried no resourceVersion; listing again", inf->name);
		inf->stats.errors++;
		later(inf, true);
		return;
	}
	inf->listing = false;
	if (!inf->k)
		return; /* detached */
	clock_gettime(CLOCK_MONOTONIC, &inf->watch_began);
	inf->watch_events = inf->stats.events;
	sg_buf_init(&path, 16384);
	/* A randomised timeout spreads the reconnects of many replicas. */
	rc = sg_buf_printf(&path, "%s%swatch=1&allowWatchBookmarks=true", inf->path,
			   sep(inf->path));
	if (rc == 0)
		rc = sg_kube_query_add(&path, "resourceVersion", inf->rv);
	if (rc == 0)
		rc = sg_buf_printf(&path, "&timeoutSeconds=%d", 240 + rand() % 120);
	inf->req = rc == 0 ? sg_kube_watch(inf->k, path.data, watch_line, watch_done, inf) : NULL;
	sg_buf_release(&path);
	if (!inf->req) {
		later(inf, false);
		return;
	}
	inf->stats.watches++;
}

static struct sg_informer *informer_alloc(struct event_base *base, struct sg_kube *k,
					  const char *name, const char *path,
					  const struct sg_informer_ops *ops, void *arg)
{
	struct sg_informer *inf = calloc(1, sizeof(*inf));

	if (!inf)
		return NULL;
	inf->k = k;
	inf->ops = *ops;
	inf->arg = arg;
	inf->backoff_ms = BACKOFF_MIN_MS;
	mark_fresh(inf); /* staleness counts from creation until the first list */
	inf->name = strdup(name);
	inf->path = strdup(path);
	sg_arena_init(&inf->arena, 256u << 10, 512u << 20);
	inf->retry = evtimer_new(base, retry_cb, inf);
	if (!inf->name || !inf->path || !inf->retry) {
		sg_informer_free(inf);
		return NULL;
	}
	return inf;
}

struct sg_informer *sg_informer_new(struct sg_kube *k, const char *name, const char *path,
				    const struct sg_informer_ops *ops, void *arg)
{
	struct sg_informer *inf = informer_alloc(sg_kube_base(k), k, name, path, ops, arg);

	if (inf)
		start_list(inf);
	return inf;
}

struct sg_informer *sg_informer_new_detached(struct event_base *base, const char *name,
					     const struct sg_informer_ops *ops, void *arg)
{
	return informer_alloc(base, NULL, name, "/detached", ops, arg);
}

void sg_informer_feed_list(struct sg_informer *inf, const char *body, size_t len)
{
	list_done(200, body, len, NULL, inf);
}

bool sg_informer_feed_event(struct sg_informer *inf, const char *line, size_t len)
{
	return watch_line(line, len, inf);
}

void sg_informer_free(struct sg_informer *inf)
{
	if (!inf)
		return;
	sg_kube_cancel(inf->req);
	if (inf->retry)
		event_free(inf->retry);
	sg_arena_release(&inf->arena);
	free(inf->name);
	free(inf->path);
	free(inf);
}

bool sg_informer_synced(const struct sg_informer *inf)
{
	return inf->synced;
}

double sg_informer_staleness(const struct sg_informer *inf)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - inf->fresh.tv_sec) +
	       (double)(now.tv_nsec - inf->fresh.tv_nsec) / 1e9;
}

void sg_informer_stats(const struct sg_informer *inf, struct sg_informer_stats *out)
{
	*out = inf->stats;
}
