/*
 * sg_health: the plain-HTTP listener for probes and scraping.
 *
 *   /healthz  200 while the event loop turns (liveness)
 *   /readyz   200 once ready(arg) says so, 503 with the reason otherwise
 *   /metrics  the registry in Prometheus text format
 *
 * It is a separate listener, without TLS, so that kubelet probes and
 * Prometheus need no client certificate or CA, and so that a slow scrape
 * never queues behind admission traffic.
 */
#ifndef SG_HEALTH_H
#define SG_HEALTH_H

#include <stdbool.h>

struct event_base;
struct sg_metrics;
struct sg_server;

/*
 * ready(arg) returns true when ready; otherwise it sets *why to a static
 * string saying what is missing.
 */
typedef bool (*sg_ready_fn)(void *arg, const char **why);

/*
 * Creates and binds the health listener on listen. metrics is borrowed.
 * Returns NULL with *cause on failure.
 */
struct sg_server *sg_health_new(struct event_base *base, const char *listen,
				struct sg_metrics *metrics, sg_ready_fn ready, void *arg,
				char **cause);

#endif
