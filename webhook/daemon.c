#include "daemon.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "admission.h"
#include "policy.h"
#include "reconcile.h"
#include "runtimes.h"
#include "sg_kube.h"
#include "sg_buf.h"
#include "sg_daemon.h"
#include "sg_health.h"
#include "sg_log.h"
#include "sg_metrics.h"
#include "sg_server.h"
#include "sg_tls.h"
#include "sg_watch.h"

/* Upper bounds of the latency histogram, in seconds. */
static const double latency_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
					0.005,	 0.01,	 0.025,	  0.05,	  0.1,	 0.5};

struct webhook {
	const struct wh_config *cfg;
	struct event_base *base;
	struct wh_policy *policy;
	struct sg_watch *policy_watch;
	struct sg_certs *certs;
	struct sg_server *https;
	struct sg_server *health;
	struct sg_metrics *metrics;
	struct sg_family *requests;
	struct sg_family *latency;
	struct sg_family *policy_reloads;
	struct event *delay; /* the shutdown delay */
	struct sg_kube *kube;
	struct wh_reconciler *reconciler;
	struct wh_runtimes *runtimes; /* NULL without API access: policy names trusted */
	struct sg_buf out;	      /* reused for every response */
	struct sg_arena arena;	      /* the review being answered */
	bool draining;
};

void wh_config_init(struct wh_config *c)
{
	memset(c, 0, sizeof(*c));
	c->common.listen = "0.0.0.0:8443";
	c->common.health_listen = "0.0.0.0:8080";
	c->common.reload_interval_ms = 2000;
	c->common.drain_timeout_ms = 20000;
	c->common.max_body = 8u << 20;
	c->max_conns = 1024;
	c->io_timeout_ms = 60000;
	c->request_timeout_ms = 10000;
}

static const char *op_label(const char *op)
{
	static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", "CONNECT", NULL};

	for (const char *const *o = ops; *o; o++)
		if (strcmp(*o, op) == 0)
			return *o;
	return "other";
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void review(struct sg_request *r, struct webhook *w, enum wh_endpoint ep)
{
	const char *endpoint = ep == WH_MUTATE ? "mutate" : "validate";
	struct wh_outcome res;
	struct sg_logline l;
	struct timespec t0;
	double took;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	sg_buf_reset(&w->out);
	status = wh_admit_rt(w->policy, w->runtimes, ep, r->body, r->body_len, &w->arena, &w->out,
			     &res);
	sg_reply(r, status, status == 200 ? "application/json" : "text/plain; charset=utf-8",
		 w->out.data, w->out.len);
	took = seconds_since(&t0);
	{
		const char *labels[] = {endpoint, res.kind, op_label(res.operation), res.decision};
		const char *ep_label[] = {endpoint};

		sg_family_add(w->requests, labels, 1);
		sg_family_observe(w->latency, ep_label, took);
	}
	if (status != 200) {
		sg_log_begin(&l, SG_LOG_WARN, "rejected a malformed review");
		sg_log_str(&l, "endpoint", endpoint);
		sg_log_int(&l, "status", status);
		/* The reason, without the trailing newline. */
		sg_log_strn(&l, "reason", w->out.data, w->out.len ? w->out.len - 1 : 0);
		sg_log_end(&l);
		return;
	}
	sg_log_begin(&l, SG_LOG_INFO, "review");
	sg_log_str(&l, "endpoint", endpoint);
	sg_log_str(&l, "uid", res.uid);
	sg_log_str(&l, "kind", res.kind);
	sg_log_str(&l, "namespace", res.ns);
	sg_log_str(&l, "name", res.name);
	sg_log_str(&l, "operation", res.operation);
	sg_log_str(&l, "decision", res.decision);
	if (res.violations)
		sg_log_int(&l, "violations", res.violations);
	if (res.patch_ops)
		sg_log_int(&l, "patch_ops", res.patch_ops);
	if (res.dry_run)
		sg_log_bool(&l, "dry_run", true);
	sg_log_int(&l, "latency_us", (int64_t)(took * 1e6));
	sg_log_end(&l);
}

static void mutate_handler(struct sg_request *r, void *arg)
{
	review(r, arg, WH_MUTATE);
}

static void validate_handler(struct sg_request *r, void *arg)
{
	review(r, arg, WH_VALIDATE);
}

static bool ready(void *arg, const char **why)
{
	struct webhook *w = arg;

	if (w->draining) {
		*why = "shutting down";
		return false;
	}
	if (!w->policy || !w->certs) {
		*why = "policy or certificate not loaded";
		return false;
	}
	/*
	 * Until the RuntimeClasses are listed every Sandbox pod would be
	 * refused (its class cannot be checked), so take no traffic yet.
	 */
	if (w->runtimes && !wh_runtimes_synced(w->runtimes)) {
		*why = "RuntimeClasses not listed yet";
		return false;
	}
	return true;
}

static void count_reload(struct webhook *w, const char *result)
{
	const char *v[] = {result};

	sg_family_add(w->policy_reloads, v, 1);
}

static void policy_changed(void *arg)
{
	struct webhook *w = arg;
	char *cause = NULL;
	struct wh_policy *p = wh_policy_load(w->cfg->common.policy_path, &cause);

	if (!p) {
		sg_log_error("keeping the current policy: %s", cause);
		count_reload(w, "failed");
		free(cause);
		return;
	}
	wh_policy_free(w->policy);
	w->policy = p;
	count_reload(w, "ok");
	sg_log_info("policy reloaded from '%s'", w->cfg->common.policy_path);
	wh_reconciler_policy_changed(w->reconciler);
	wh_runtimes_policy_changed(w->runtimes);
}

static void health_drained(void *arg)
{
	struct webhook *w = arg;

	event_base_loopexit(w->base, NULL);
}

static void https_drained(void *arg)
{
	struct webhook *w = arg;

	sg_log_info("admission listener drained");
	sg_server_drain(w->health, 0, health_drained, w);
}

static void start_drain(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;

	(void)fd;
	(void)what;
	sg_log_info("draining (%zu open connections, up to %d ms)", sg_server_conns(w->https),
		    w->cfg->common.drain_timeout_ms);
	sg_server_drain(w->https, w->cfg->common.drain_timeout_ms, https_drained, w);
}

static void on_signal(void *arg, int sig)
{
	struct webhook *w = arg;
	struct timeval tv = {w->cfg->shutdown_delay_ms / 1000,
			     (w->cfg->shutdown_delay_ms % 1000) * 1000};

	/*
	 * Readiness turns false at once. With a shutdown delay the listener
	 * keeps serving meanwhile, so that requests routed here before the
	 * endpoint removal reaches every node still get answers. Each of those
	 * answers ends its connection, so that clients pooling connections
	 * to this replica move to the remaining ones before the drain closes
	 * what is left idle.
	 */
	w->draining = true;
	sg_server_retire(w->https);
	sg_log_info("signal %d: shutting down after %d ms", sig, w->cfg->shutdown_delay_ms);
	w->delay = evtimer_new(w->base, start_drain, w);
	if (!w->delay || evtimer_add(w->delay, &tv) != 0)
		start_drain(-1, 0, w);
}

static double conns_fn(void *arg)
{
	return (double)sg_server_conns(((struct webhook *)arg)->https);
}

static double refused_fn(void *arg)
{
	return (double)sg_server_refused(((struct webhook *)arg)->https);
}

static int setup_metrics(struct webhook *w)
{
	static const char *const req_labels[] = {"endpoint", "kind", "operation", "decision"};
	static const char *const ep_labels[] = {"endpoint"};
	static const char *const result[] = {"result"};
	static const char *const version[] = {"version"};
	struct sg_family *info;

	w->metrics = sg_metrics_new();
	if (!w->metrics)
		return -1;
	w->requests = sg_metrics_counter(w->metrics, "sandbox_guard_admission_requests_total",
					 "Admission reviews answered, by endpoint, kind, "
					 "operation and decision.",
					 req_labels, 4);
	w->latency = sg_metrics_histogram(w->metrics, "sandbox_guard_admission_duration_seconds",
					  "Time to decode, decide and send one review.", ep_labels,
					  1, latency_bounds,
					  sizeof(latency_bounds) / sizeof(latency_bounds[0]));
	w->policy_reloads = sg_metrics_counter(w->metrics, "sandbox_guard_policy_reloads_total",
					       "Policy file reloads by result.", result, 1);
	info = sg_metrics_gauge(w->metrics, "sandbox_guard_build_info",
				"The running version (value is always 1).", version, 1);
	if (!w->requests || !w->latency || !w->policy_reloads || !info)
		return -1;
	{
		const char *v[] = {SG_VERSION};

		sg_family_set(info, v, 1);
	}
	if (sg_metrics_gauge_fn(w->metrics, "sandbox_guard_http_connections",
				"Open connections on the admission listener.", conns_fn, w) ||
	    sg_metrics_counter_fn(w->metrics, "sandbox_guard_http_connections_refused_total",
				  "Connections closed at accept because --max-connections "
				  "were already open.",
				  refused_fn, w))
		return -1;
	return 0;
}

/*
 * API access: --kubeconfig, else the in-cluster service account. With it
 * the webhook watches RuntimeClasses (runtimes.h); without it (a
 * development run, most tests) it trusts the policy's class names, as it
 * says once here. The network reconciler cannot work without it.
 */
static int start_api(struct webhook *w, char **cause)
{
	const struct wh_config *c = w->cfg;
	struct sg_kube_config kc;
	char *why = NULL;

	if (sg_kube_config_load(c->common.kubeconfig, &kc, &why) != 0) {
		if (c->reconcile || c->common.kubeconfig) {
			*cause = why;
			return -1;
		}
		sg_log_warn("no API access (%s): RuntimeClasses are not watched; the policy's "
			    "runtimeClass names are trusted to exist and to be sandboxes",
			    why);
		free(why);
		return 0;
	}
	w->kube = sg_kube_new(w->base, &kc, cause);
	sg_log_info("API server %s (%s): watching RuntimeClasses", kc.server, kc.source);
	sg_kube_config_release(&kc);
	if (!w->kube)
		return -1;
	w->runtimes = wh_runtimes_new();
	if (!w->runtimes || wh_runtimes_metrics(w->runtimes, w->metrics) != 0) {
		*cause = strdup("out of memory setting up the RuntimeClass cache");
		return -1;
	}
	return wh_runtimes_watch(w->runtimes, w->kube, &w->policy, cause);
}

static int start(void *arg, struct event_base *base, char **cause)
{
	struct webhook *w = arg;
	const struct wh_config *c = w->cfg;
	struct sg_server_opts o;

	w->base = base;

	if (setup_metrics(w) != 0) {
		*cause = strdup("out of memory setting up metrics");
		return -1;
	}
	if (c->common.policy_path) {
		/* Watch before the first load, so that a change during it is not missed. */
		w->policy_watch = sg_watch_new(w->base, &c->common.policy_path, 1,
					       c->common.reload_interval_ms, policy_changed, w);
		if (!w->policy_watch) {
			*cause = strdup("out of memory watching the policy");
			return -1;
		}
		w->policy = wh_policy_load(c->common.policy_path, cause);
	} else {
		w->policy = wh_policy_parse(wh_default_policy_json, strlen(wh_default_policy_json),
					    "built-in default", cause);
	}
	if (!w->policy)
		return -1;
	w->certs = sg_certs_new(w->base, c->common.tls_cert, c->common.tls_key,
				c->common.reload_interval_ms, w->metrics, cause);
	if (!w->certs)
		return -1;
	sg_server_opts_init(&o, "webhook", c->common.listen);
	o.max_body = c->common.max_body;
	o.max_conns = c->max_conns;
	o.io_timeout_ms = c->io_timeout_ms;
	o.request_timeout_ms = c->request_timeout_ms;
	w->https = sg_server_new(w->base, &o, sg_certs_ctx(w->certs), cause);
	if (!w->https)
		return -1;
	if (sg_certs_attach(w->certs, w->https) != 0 ||
	    sg_server_route(w->https, "/mutate", SG_POST, mutate_handler, w) != 0 ||
	    sg_server_route(w->https, "/validate", SG_POST, validate_handler, w) != 0) {
		*cause = strdup("out of memory adding routes");
		return -1;
	}
	if (sg_server_listen(w->https, cause) != 0)
		return -1;
	w->health = sg_health_new(w->base, c->common.health_listen, w->metrics, ready, w, cause);
	if (!w->health)
		return -1;
	if (start_api(w, cause) != 0)
		return -1;
	if (c->reconcile) {
		sg_log_info("network reconciler on%s",
			    c->network_gc ? ", unused policies deleted" : "");
		w->reconciler =
			wh_reconciler_new(w->kube, &w->policy, w->metrics, c->network_gc, cause);
		if (!w->reconciler)
			return -1;
	}
	return 0;
}

static void started(void *arg)
{
	struct webhook *w = arg;
	struct sg_logline l;

	sg_log_begin(&l, SG_LOG_INFO, "listening");
	sg_log_str(&l, "version", SG_VERSION);
	sg_log_int(&l, "port", sg_server_port(w->https));
	sg_log_int(&l, "health_port", sg_server_port(w->health));
	sg_log_str(&l, "listen", w->cfg->common.listen);
	sg_log_str(&l, "health_listen", w->cfg->common.health_listen);
	sg_log_str(&l, "policy", wh_policy_origin(w->policy));
	sg_log_end(&l);
}

static void stop(void *arg)
{
	struct webhook *w = arg;

	wh_reconciler_free(w->reconciler);
	wh_runtimes_free(w->runtimes);
	sg_kube_free(w->kube);
	sg_server_free(w->https);
	sg_server_free(w->health);
	sg_certs_free(w->certs);
	sg_watch_free(w->policy_watch);
	wh_policy_free(w->policy);
	if (w->delay)
		event_free(w->delay);
	sg_metrics_free(w->metrics);
	sg_buf_release(&w->out);
	sg_arena_release(&w->arena);
}

int wh_daemon_run(const struct wh_config *c)
{
	static const struct sg_daemon_ops ops = {start, started, on_signal, stop};
	struct webhook w;

	memset(&w, 0, sizeof(w));
	w.cfg = c;
	sg_buf_init(&w.out, 16u << 20);
	sg_arena_init(&w.arena, WH_ARENA_CHUNK, WH_ARENA_MAX);
	return sg_daemon_run(&ops, &w);
}
