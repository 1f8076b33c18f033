/*
 * sg_kube: a small Kubernetes API client on libcurl, driven by the
 * daemon's own libevent loop (libcurl's multi-socket interface), so that
 * API traffic never blocks admission or scheduling answers.
 *
 * Configuration comes from sg_kubeconfig (a kubeconfig file or the pod's
 * in-cluster service account). A token file is read again for every
 * request, so a projected token that the kubelet rotates is picked up
 * without a restart.
 *
 * On top of plain requests, sg_informer keeps a local copy of a
 * collection: list (paged), then watch from the list's resourceVersion
 * with bookmarks, and on "410 Gone" or a broken stream list again. Each
 * (re)list is presented to the consumer as a resync: begin, every object,
 * end; the consumer drops what it did not see. Updates are keyed by the
 * object, so nothing is lost or counted twice across reconnects.
 */
#ifndef SG_KUBE_H
#define SG_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "sg_buf.h"
#include "sg_kubeconfig.h"

struct event_base;

struct sg_kube;
struct sg_kube_req;

/*
 * Called once when a request ends: status is the HTTP status (0 when no
 * answer came), body the whole response for plain requests (NULL for
 * watches), err a description when the transfer failed, else NULL.
 *
 * Both callbacks run inside the client's libcurl processing. They may start
 * new requests, and cancel other requests; they must not cancel their own
 * request (a line callback returns false instead; a done one is already
 * over) nor free the client (do that from a later event, e.g. an
 * event_base_once timer).
 */
typedef void (*sg_kube_done_fn)(long status, const char *body, size_t len, const char *err,
				void *arg);

/* Called for each complete line of a watch stream; return false to stop the stream. */
typedef bool (*sg_kube_line_fn)(const char *line, size_t len, void *arg);

/* A client on base. Takes a copy of what it needs from c. NULL with *cause on failure. */
struct sg_kube *sg_kube_new(struct event_base *base, const struct sg_kube_config *c, char **cause);

/* Cancels every request in flight (no callbacks) and frees the client. NULL is a no-op. */
void sg_kube_free(struct sg_kube *k);

/*
 * Starts a request. path starts with '/' and may carry a query.
 * content_type and body may be NULL. The response is capped at 64 MiB.
 * Returns a handle for sg_kube_cancel, or NULL if it could not start (done
 * is then not called).
 */
struct sg_kube_req *sg_kube_request(struct sg_kube *k, const char *method, const char *path,
				    const char *content_type, const char *body, size_t len,
				    sg_kube_done_fn done, void *arg);

/* Starts a watch stream; line is called per event line, done when the stream ends. */
struct sg_kube_req *sg_kube_watch(struct sg_kube *k, const char *path, sg_kube_line_fn line,
				  sg_kube_done_fn done, void *arg);

/* Stops a request; its done callback is not called. */
void sg_kube_cancel(struct sg_kube_req *r);

/* The event base the client runs on. */
struct event_base *sg_kube_base(const struct sg_kube *k);

/* Requests in flight. */
size_t sg_kube_inflight(const struct sg_kube *k);

/*
 * Appends the query parameter key=value to the request path in path,
 * after '?' or, when the path already has a query, '&'. Key and value are
 * percent-encoded by libcurl (everything but letters, digits and "-._~"),
 * so a label selector such as "a!=b,c in (x, y)" goes out as one value.
 * Returns 0, or -ENOMEM / -E2BIG (path's cap) with path unchanged.
 */
int sg_kube_query_add(struct sg_buf *path, const char *key, const char *value);

/* --- informers ------------------------------------------------------------ */

struct sg_informer;

struct sg_informer_ops {
	/* A (re)list starts: every object the consumer knows may be gone. */
	void (*resync_begin)(void *arg);
	/* An object exists (added, modified, or seen in a list). Borrowed. */
	void (*upsert)(const cJSON *obj, void *arg);
	/* An object was deleted. Borrowed. */
	void (*remove)(const cJSON *obj, void *arg);
	/* The list is complete: drop what was not upserted since resync_begin. */
	void (*resync_end)(void *arg);
};

/*
 * Keeps the collection at path (e.g. "/api/v1/pods?labelSelector=x") in
 * step: list in pages of 500, watch with bookmarks, relist on 410 Gone,
 * reconnect with back-off (0.5 s doubling to 30 s). Objects are parsed
 * with metadata.managedFields left out. name labels logs.
 */
struct sg_informer *sg_informer_new(struct sg_kube *k, const char *name, const char *path,
				    const struct sg_informer_ops *ops, void *arg);

void sg_informer_free(struct sg_informer *inf);

/* True once the first complete list has been delivered. */
bool sg_informer_synced(const struct sg_informer *inf);

/*
 * Seconds since the collection was last known to match the server (a list
 * completed, a watch event or bookmark arrived, or a watch ran its full
 * time); since creation before the first list. It grows through an outage.
 */
double sg_informer_staleness(const struct sg_informer *inf);

/* Counters: relists, watch (re)starts, events applied. */
struct sg_informer_stats {
	unsigned long lists;
	unsigned long watches;
	unsigned long events;
	unsigned long errors;
};
void sg_informer_stats(const struct sg_informer *inf, struct sg_informer_stats *out);

/* --- the stream decoders, for tests and fuzzing ----------------------------- */

struct sg_buf;

/*
 * Watch stream framing: appends n bytes of the stream to buf (which holds
 * the partial line so far; its cap bounds a line) and hands each complete
 * line, empty ones skipped, to line. 0 when all was taken, 1 when line
 * asked to stop, -E2BIG when a line outgrew the cap.
 */
int sg_kube_watch_feed(struct sg_buf *buf, const char *data, size_t n, sg_kube_line_fn line,
		       void *arg);

/*
 * An informer with no API server: it never starts a request (what would
 * be a request is skipped, a retry is a timer that is never run), and is
 * fed by hand with the two calls below. base only holds that timer.
 */
struct sg_informer *sg_informer_new_detached(struct event_base *base, const char *name,
					     const struct sg_informer_ops *ops, void *arg);

/* One list page (status 200) as the informer decodes and applies it. */
void sg_informer_feed_list(struct sg_informer *inf, const char *body, size_t len);

/* One watch stream line as the informer decodes and applies it; false: the stream stops. */
bool sg_informer_feed_event(struct sg_informer *inf, const char *line, size_t len);

#endif
