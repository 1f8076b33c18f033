#include "sg_health.h"

#include <stdlib.h>
#include <string.h>

#include "sg_buf.h"
#include "sg_metrics.h"
#include "sg_server.h"

/* The handlers share one context; it lives as long as the process. */
struct health {
	struct sg_metrics *metrics;
	sg_ready_fn ready;
	void *arg;
};

static void text(struct sg_request *r, int code, const char *body)
{
	sg_reply(r, code, "text/plain; charset=utf-8", body, strlen(body));
}

static void healthz(struct sg_request *r, void *arg)
{
	(void)arg;
	text(r, 200, "ok\n");
}

static void readyz(struct sg_request *r, void *arg)
{
	struct health *h = arg;
	const char *why = "not ready";
	char msg[256];

	if (h->ready(h->arg, &why)) {
		text(r, 200, "ok\n");
		return;
	}
	strncpy(msg, why, sizeof(msg) - 2);
	msg[sizeof(msg) - 2] = '\0';
	strcat(msg, "\n");
	text(r, 503, msg);
}

static void metrics(struct sg_request *r, void *arg)
{
	struct health *h = arg;
	struct sg_buf out;

	sg_buf_init(&out, 16u << 20);
	if (sg_metrics_render(h->metrics, &out) != 0) {
		sg_buf_release(&out);
		text(r, 500, "cannot render metrics\n");
		return;
	}
	sg_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
	sg_buf_release(&out);
}

struct sg_server *sg_health_new(struct event_base *base, const char *listen, struct sg_metrics *m,
				sg_ready_fn ready, void *arg, char **cause)
{
	struct sg_server_opts o;
	struct sg_server *s;
	struct health *h;

	h = calloc(1, sizeof(*h));
	if (!h) {
		*cause = strdup("out of memory");
		return NULL;
	}
	h->metrics = m;
	h->ready = ready;
	h->arg = arg;
	sg_server_opts_init(&o, "health", listen);
	o.max_body = 4096;
	o.max_headers = 16384;
	o.io_timeout_ms = 30000;
	s = sg_server_new(base, &o, NULL, cause);
	if (!s) {
		free(h);
		return NULL;
	}
	sg_server_on_free(s, free, h);
	if (sg_server_route(s, "/healthz", SG_GET | SG_HEAD, healthz, h) ||
	    sg_server_route(s, "/readyz", SG_GET | SG_HEAD, readyz, h) ||
	    sg_server_route(s, "/metrics", SG_GET | SG_HEAD, metrics, h)) {
		*cause = strdup("out of memory");
		sg_server_free(s);
		return NULL;
	}
	if (sg_server_listen(s, cause)) {
		sg_server_free(s);
		return NULL;
	}
	return s;
}
