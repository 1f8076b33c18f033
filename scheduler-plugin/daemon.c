#include "daemon.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "extender.h"
#include "inventory.h"
#include "nodes.h"
#include "policy.h"
#include "sg_arena.h"
#include "sg_buf.h"
#include "sg_daemon.h"
#include "sg_health.h"
#include "sg_kube.h"
#include "sg_labels.h"
#include "sg_log.h"
#include "sg_metrics.h"
#include "sg_server.h"
#include "sg_tls.h"
#include "sg_watch.h"

#define POD_COLLECTION "/api/v1/pods"
#define NODE_PATH      "/api/v1/nodes"

static const double latency_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
					0.005,	 0.01,	 0.025,	  0.05,	  0.1,	 0.5};

struct extender {
	const struct ex_config *cfg;
	struct event_base *base;
	struct ex_policy *policy;
	struct sg_watch *policy_watch;
	struct sg_certs *certs;
	struct sg_server *http;
	struct sg_server *health;
	struct sg_metrics *metrics;
	struct sg_family *calls;
	struct sg_family *latency;
	struct sg_family *policy_reloads;
	struct sg_kube *kube;
	struct sg_informer *pod_inf;
	struct sg_informer *node_inf;
	struct ex_inventory *inv;
	struct ex_nodes *nodes;
	struct event *prune;
	struct sg_arena arena;
	struct sg_buf out;
	bool draining;
	char why[160]; /* /readyz's reason when it is dynamic */
};

void ex_config_init(struct ex_config *c)
{
	memset(c, 0, sizeof(*c));
	c->common.listen = "0.0.0.0:8888";
	c->common.health_listen = "0.0.0.0:8081";
	c->url_prefix = "";
	c->common.reload_interval_ms = 2000;
	c->common.drain_timeout_ms = 10000;
	c->common.max_body = 64u << 20;
	c->max_staleness_ms = 600000;
	c->max_conns = 1024;
	c->io_timeout_ms = 60000;
	c->request_timeout_ms = 10000;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- informer glue ------------------------------------------------------------ */

static void pods_begin(void *arg)
{
	ex_inventory_resync_begin(((struct extender *)arg)->inv);
}

static void pods_upsert(const cJSON *obj, void *arg)
{
	ex_inventory_upsert(((struct extender *)arg)->inv, obj, now_s());
}

static void pods_remove(const cJSON *obj, void *arg)
{
	ex_inventory_remove(((struct extender *)arg)->inv, obj, now_s());
}

static void pods_end(void *arg)
{
	ex_inventory_resync_end(((struct extender *)arg)->inv, now_s());
}

static void nodes_begin(void *arg)
{
	ex_nodes_resync_begin(((struct extender *)arg)->nodes);
}

static void nodes_upsert(const cJSON *obj, void *arg)
{
	ex_nodes_upsert(((struct extender *)arg)->nodes, obj);
}

static void nodes_remove(const cJSON *obj, void *arg)
{
	ex_nodes_remove(((struct extender *)arg)->nodes, obj);
}

static void nodes_end(void *arg)
{
	ex_nodes_resync_end(((struct extender *)arg)->nodes);
}

/* --- the extender endpoints ------------------------------------------------------ */

static void call(struct sg_request *r, struct extender *x, enum ex_verb verb)
{
	const char *vname = verb == EX_FILTER ? "filter" : "prioritize";
	struct ex_state st = {x->inv, x->nodes, x->policy, now_s()};
	struct ex_outcome res;
	struct sg_logline l;
	struct timespec t0, t1;
	double took;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	sg_buf_reset(&x->out);
	status = ex_handle(&st, verb, r->body, r->body_len, &x->arena, &x->out, &res);
	sg_reply(r, status, status == 200 ? "application/json" : "text/plain; charset=utf-8",
		 x->out.data, x->out.len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	{
		const char *labels[] = {vname, res.pod_class};
		const char *v[] = {vname};

		sg_family_add(x->calls, labels, 1);
		sg_family_observe(x->latency, v, took);
	}
	sg_log_begin(&l, SG_LOG_INFO, vname);
	sg_log_str(&l, "pod", res.pod);
	sg_log_str(&l, "class", res.pod_class);
	sg_log_int(&l, "nodes", res.nodes);
	if (verb == EX_FILTER)
		sg_log_int(&l, "failed", res.failed);
	else if (res.best >= 0)
		sg_log_int(&l, "best_score", res.best);
	if (status != 200)
		sg_log_int(&l, "status", status);
	sg_log_int(&l, "latency_us", (int64_t)(took * 1e6));
	sg_log_end(&l);
}

static void filter_handler(struct sg_request *r, void *arg)
{
	call(r, arg, EX_FILTER);
}

static void prioritize_handler(struct sg_request *r, void *arg)
{
	call(r, arg, EX_PRIORITIZE);
}

/* The older of the two collections' staleness, in seconds. */
static double staleness(const struct extender *x)
{
	double p = sg_informer_staleness(x->pod_inf), n = sg_informer_staleness(x->node_inf);

	return p > n ? p : n;
}

static double staleness_fn(void *arg)
{
	return staleness(arg);
}

static bool ready(void *arg, const char **why)
{
	struct extender *x = arg;

	if (x->draining) {
		*why = "shutting down";
		return false;
	}
	if (!sg_informer_synced(x->pod_inf) || !sg_informer_synced(x->node_inf)) {
		*why = "waiting for the first list of pods and nodes";
		return false;
	}
	/*
	 * Counts a few minutes old still place pods better than no answer, but
	 * past the bound the scheduler is better off without us (the extender
	 * is ignorable): while no replica is ready it skips the extender.
	 */
	if (x->cfg->max_staleness_ms > 0 &&
	    staleness(x) * 1000 > (double)x->cfg->max_staleness_ms) {
		snprintf(x->why, sizeof(x->why),
			 "the inventory has not been confirmed by the API server for %.0f s "
			 "(--max-staleness=%.0fs)",
			 staleness(x), (double)x->cfg->max_staleness_ms / 1000);
		*why = x->why;
		return false;
	}
	return true;
}

/* --- policy, metrics, lifecycle ----------------------------------------------------- */

static void policy_changed(void *arg)
{
	struct extender *x = arg;
	char *cause = NULL;
	struct ex_policy *p = ex_policy_load(x->cfg->common.policy_path, &cause);
	const char *v[1];

	if (!p) {
		sg_log_error("keeping the current policy: %s", cause);
		free(cause);
		v[0] = "failed";
		sg_family_add(x->policy_reloads, v, 1);
		return;
	}
	ex_policy_free(x->policy);
	x->policy = p;
	v[0] = "ok";
	sg_family_add(x->policy_reloads, v, 1);
	sg_log_info("policy reloaded from '%s'", x->cfg->common.policy_path);
}

static void prune_cb(evutil_socket_t fd, short what, void *arg)
{
	struct extender *x = arg;

	(void)fd;
	(void)what;
	ex_inventory_prune(x->inv, now_s() - x->policy->freshness);
}

#define STAT_FN(fname, inf, field)                                                                 \
	static double fname(void *arg)                                                             \
	{                                                                                          \
		struct sg_informer_stats s;                                                        \
		sg_informer_stats(((struct extender *)arg)->inf, &s);                              \
		return (double)s.field;                                                            \
	}
STAT_FN(pod_lists, pod_inf, lists)
STAT_FN(pod_watches, pod_inf, watches)
STAT_FN(pod_events, pod_inf, events)
STAT_FN(pod_errors, pod_inf, errors)
#undef STAT_FN

static double inv_pods(void *arg)
{
	return (double)ex_inventory_pods(((struct extender *)arg)->inv);
}

static double inv_bytes(void *arg)
{
	return (double)ex_inventory_bytes(((struct extender *)arg)->inv);
}

static double node_count(void *arg)
{
	return (double)ex_nodes_count(((struct extender *)arg)->nodes);
}

static double refused_fn(void *arg)
{
	struct extender *x = arg;

	return x->http ? (double)sg_server_refused(x->http) : 0;
}

static int setup_metrics(struct extender *x)
{
	static const char *const call_labels[] = {"verb", "class"};
	static const char *const verb[] = {"verb"};
	static const char *const result[] = {"result"};
	struct sg_metrics *m = sg_metrics_new();

	x->metrics = m;
	if (!m)
		return -1;
	x->calls = sg_metrics_counter(m, "sandbox_guard_extender_calls_total",
				      "Extender calls by verb and pod class.", call_labels, 2);
	x->latency = sg_metrics_histogram(
		m, "sandbox_guard_extender_duration_seconds", "Time to answer one extender call.",
		verb, 1, latency_bounds, sizeof(latency_bounds) / sizeof(latency_bounds[0]));
	x->policy_reloads = sg_metrics_counter(m, "sandbox_guard_policy_reloads_total",
					       "Policy file reloads by result.", result, 1);
	if (!x->calls || !x->latency || !x->policy_reloads ||
	    sg_metrics_gauge_fn(m, "sandbox_guard_inventory_pods", "Sandbox template pods tracked.",
				inv_pods, x) ||
	    sg_metrics_gauge_fn(m, "sandbox_guard_inventory_bytes", "Memory held by the inventory.",
				inv_bytes, x) ||
	    sg_metrics_gauge_fn(m, "sandbox_guard_inventory_nodes", "Nodes in the label cache.",
				node_count, x) ||
	    sg_metrics_counter_fn(m, "sandbox_guard_inventory_lists_total",
				  "Complete lists of sandbox pods (first sync and relists).",
				  pod_lists, x) ||
	    sg_metrics_counter_fn(m, "sandbox_guard_inventory_watch_starts_total",
				  "Watch streams started (restarts included).", pod_watches, x) ||
	    sg_metrics_counter_fn(m, "sandbox_guard_inventory_events_total",
				  "Watch events applied.", pod_events, x) ||
	    sg_metrics_counter_fn(m, "sandbox_guard_inventory_errors_total",
				  "Failed lists, watches and bad events.", pod_errors, x) ||
	    sg_metrics_gauge_fn(m, "sandbox_guard_inventory_staleness_seconds",
				"Seconds since the pod and node inventory was last confirmed "
				"by the API server (list, watch event or bookmark).",
				staleness_fn, x) ||
	    sg_metrics_counter_fn(m, "sandbox_guard_http_connections_refused_total",
				  "Connections closed at accept because --max-connections "
				  "were already open.",
				  refused_fn, x))
		return -1;
	return 0;
}

static void health_drained(void *arg)
{
	event_base_loopexit(((struct extender *)arg)->base, NULL);
}

static void http_drained(void *arg)
{
	struct extender *x = arg;

	sg_server_drain(x->health, 0, health_drained, x);
}

static void on_signal(void *arg, int sig)
{
	struct extender *x = arg;

	x->draining = true;
	sg_log_info("signal %d: draining", sig);
	sg_server_drain(x->http, x->cfg->common.drain_timeout_ms, http_drained, x);
}

static int start(void *arg, struct event_base *base, char **cause)
{
	struct extender *x = arg;
	static const struct sg_informer_ops pod_ops = {pods_begin, pods_upsert, pods_remove,
						       pods_end};
	static const struct sg_informer_ops node_ops = {nodes_begin, nodes_upsert, nodes_remove,
							nodes_end};
	const struct ex_config *c = x->cfg;
	struct sg_kube_config kc;
	struct sg_server_opts o;
	struct timeval minute = {60, 0};
	struct sg_buf pod_path;
	char path[512];

	x->base = base;
	if (setup_metrics(x))
		goto oom;
	if (c->common.policy_path) {
		x->policy_watch = sg_watch_new(x->base, &c->common.policy_path, 1,
					       c->common.reload_interval_ms, policy_changed, x);
		if (!x->policy_watch)
			goto oom;
		x->policy = ex_policy_load(c->common.policy_path, cause);
	} else {
		x->policy = ex_policy_parse(ex_default_policy_json, strlen(ex_default_policy_json),
					    "built-in default", cause);
	}
	if (!x->policy)
		return -1;
	x->inv = ex_inventory_new();
	x->nodes = ex_nodes_new();
	if (!x->inv || !x->nodes)
		goto oom;
	if (sg_kube_config_load(c->common.kubeconfig, &kc, cause))
		return -1;
	x->kube = sg_kube_new(x->base, &kc, cause);
	sg_log_info("API server %s (%s)", kc.server, kc.source);
	sg_kube_config_release(&kc);
	if (!x->kube)
		return -1;
	/* Pods that come from a sandbox template (the selector gets escaped). */
	sg_buf_init(&pod_path, 1024);
	if (sg_buf_puts(&pod_path, POD_COLLECTION) == 0 &&
	    sg_kube_query_add(&pod_path, "labelSelector", SG_AS_LABEL_TEMPLATE) == 0)
		x->pod_inf = sg_informer_new(x->kube, "sandbox pods", pod_path.data, &pod_ops, x);
	sg_buf_release(&pod_path);
	x->node_inf = sg_informer_new(x->kube, "nodes", NODE_PATH, &node_ops, x);
	x->prune = event_new(x->base, -1, EV_PERSIST, prune_cb, x);
	if (!x->pod_inf || !x->node_inf || !x->prune || event_add(x->prune, &minute))
		goto oom;
	if (c->common.tls_cert) {
		x->certs = sg_certs_new(x->base, c->common.tls_cert, c->common.tls_key,
					c->common.reload_interval_ms, x->metrics, cause);
		if (!x->certs)
			return -1;
	}
	sg_server_opts_init(&o, "extender", c->common.listen);
	o.max_body = c->common.max_body;
	o.max_conns = c->max_conns;
	o.io_timeout_ms = c->io_timeout_ms;
	o.request_timeout_ms = c->request_timeout_ms;
	x->http = sg_server_new(x->base, &o, x->certs ? sg_certs_ctx(x->certs) : NULL, cause);
	if (!x->http)
		return -1;
	if (x->certs && sg_certs_attach(x->certs, x->http))
		goto oom;
	snprintf(path, sizeof(path), "%s/filter", c->url_prefix);
	if (sg_server_route(x->http, path, SG_POST, filter_handler, x))
		goto oom;
	snprintf(path, sizeof(path), "%s/prioritize", c->url_prefix);
	if (sg_server_route(x->http, path, SG_POST, prioritize_handler, x))
		goto oom;
	if (sg_server_listen(x->http, cause))
		return -1;
	x->health = sg_health_new(x->base, c->common.health_listen, x->metrics, ready, x, cause);
	if (!x->health)
		return -1;
	return 0;
oom:
	*cause = strdup("out of memory starting the extender");
	return -1;
}

static void started(void *arg)
{
	struct extender *x = arg;
	struct sg_logline l;

	sg_log_begin(&l, SG_LOG_INFO, "listening");
	sg_log_str(&l, "version", SG_VERSION);
	sg_log_int(&l, "port", sg_server_port(x->http));
	sg_log_int(&l, "health_port", sg_server_port(x->health));
	sg_log_bool(&l, "tls", x->certs != NULL);
	sg_log_str(&l, "url_prefix", x->cfg->url_prefix);
	sg_log_str(&l, "policy", x->policy->origin);
	sg_log_end(&l);
}

static void stop(void *arg)
{
	struct extender *x = arg;

	sg_server_free(x->http);
	sg_server_free(x->health);
	sg_certs_free(x->certs);
	sg_informer_free(x->pod_inf);
	sg_informer_free(x->node_inf);
	sg_kube_free(x->kube);
	ex_inventory_free(x->inv);
	ex_nodes_free(x->nodes);
	sg_watch_free(x->policy_watch);
	ex_policy_free(x->policy);
	if (x->prune)
		event_free(x->prune);
	sg_metrics_free(x->metrics);
	sg_arena_release(&x->arena);
	sg_buf_release(&x->out);
}

int ex_daemon_run(const struct ex_config *c)
{
	static const struct sg_daemon_ops ops = {start, started, on_signal, stop};
	struct extender x;

	memset(&x, 0, sizeof(x));
	x.cfg = c;
	sg_arena_init(&x.arena, 256u << 10, 512u << 20);
	sg_buf_init(&x.out, 128u << 20);
	return sg_daemon_run(&ops, &x);
}
