#include "sg_kube.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "sg_buf.h"
#include "sg_log.h"

#define MAX_RESPONSE (64u << 20)
#define MAX_LINE     (16u << 20)

/* --- the client ---------------------------------------------------------------- */

struct sg_kube_req {
	struct sg_kube_req *prev, *next;
	struct sg_kube *k;
	CURL *easy;
	struct curl_slist *headers;
	struct sg_buf resp; /* whole body, or the partial line of a watch */
	bool watch;
	bool stopped; /* the line callback asked to stop */
	bool too_big;
	sg_kube_line_fn line;
	sg_kube_done_fn done;
	void *arg;
	char err[CURL_ERROR_SIZE];
};

struct sg_kube {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct sg_kube_config cfg;
	struct sg_kube_req *reqs;
	size_t inflight;
	char user_agent[64];
};

/* One socket curl asked us to watch. */
struct sock {
	struct event *ev;
	struct sg_kube *k;
};

static void check_done(struct sg_kube *k);

static void sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sock *s = arg;
	struct sg_kube *k = s->k;
	int running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(k->multi, fd, action, &running);
	check_done(k);
}

static int socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct sg_kube *k = userp;
	struct sock *s = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(k->multi, fd, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	       ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->k = k;
		curl_multi_assign(k->multi, fd, s);
	} else {
		event_free(s->ev);
	}
	s->ev = event_new(k->base, fd, kind, sock_cb, s);
	if (!s->ev || event_add(s->ev, NULL) != 0)
		return -1;
	return 0;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sg_kube *k = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(k->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(k);
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct sg_kube *k = userp;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	(void)multi;
	if (timeout_ms < 0)
		return evtimer_del(k->timer);
	return evtimer_add(k->timer, &tv);
}

static void req_free(struct sg_kube_req *r)
{
	struct sg_kube *k = r->k;

	if (r->prev)
		r->prev->next = r->next;
	else
		k->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	k->inflight--;
	curl_multi_remove_handle(k->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	sg_buf_release(&r->resp);
	free(r);
}

static void check_done(struct sg_kube *k)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(k->multi, &left)) != NULL) {
		struct sg_kube_req *r = NULL;
		long status = 0;
		const char *err = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		if (r->too_big)
			err = "response larger than the limit";
		else if (msg->data.result != CURLE_OK && !r->stopped)
			err = r->err[0] ? r->err : curl_easy_strerror(msg->data.result);
		/* Unlink before the callback: it may start new requests. */
		curl_multi_remove_handle(k->multi, r->easy);
		if (r->done)
			r->done(status, r->watch ? NULL : (r->resp.data ? r->resp.data : ""),
				r->watch ? 0 : r->resp.len, err, r->arg);
		req_free(r);
	}
}

static size_t write_fn(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sg_kube_req *r = userp;
	size_t n = size * nmemb;
	int rc;

	if (!r->watch) {
		if (sg_buf_append(&r->resp, data, n) != 0) {
			r->too_big = true;
			return 0;
		}
		return n;
	}
	if (r->stopped)
		return 0;
	rc = sg_kube_watch_feed(&r->resp, data, n, r->line, r->arg);
	if (rc < 0)
		r->too_big = true;
	else if (rc > 0)
		r->stopped = true;
	return rc ? 0 : n;
}

int sg_kube_watch_feed(struct sg_buf *buf, const char *data, size_t n, sg_kube_line_fn line,
		       void *arg)
{
	char *nl;

	if (sg_buf_append(buf, data, n) != 0)
		return -E2BIG;
	if (!buf->data)
		return 0;
	/* Hand over every complete line; keep the partial one. */
	while ((nl = memchr(buf->data, '\n', buf->len)) != NULL) {
		size_t len = (size_t)(nl - buf->data);
		bool go_on = len == 0 || line(buf->data, len, arg);

		memmove(buf->data, nl + 1, buf->len - len - 1);
		buf->len -= len + 1;
		buf->data[buf->len] = '\0';
		if (!go_on)
			return 1;
	}
	return 0;
}

struct sg_kube *sg_kube_new(struct event_base *base, const struct sg_kube_config *c, char **cause)
{
	static bool curl_ready;
	struct sg_kube *k;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			sg_failf(cause, "cannot initialise libcurl");
			return NULL;
		}
		curl_ready = true;
		/* Retry jitter must differ between replicas. */
		srand((unsigned)getpid() ^ (unsigned)time(NULL));
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		goto oom;
	k->base = base;
	k->multi = curl_multi_init();
	k->timer = evtimer_new(base, timer_cb, k);
	if (!k->multi || !k->timer)
		goto oom;
	curl_multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
	curl_multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k);
	curl_multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
	curl_multi_setopt(k->multi, CURLMOPT_TIMERDATA, k);
	k->cfg.server = strdup(c->server);
	k->cfg.insecure = c->insecure;
	if (!k->cfg.server)
		goto oom;
#define DUP(f, l)                                                                                  \
	if (c->f) {                                                                                \
		k->cfg.f = malloc(c->l + 1);                                                       \
		if (!k->cfg.f)                                                                     \
			goto oom;                                                                  \
		memcpy(k->cfg.f, c->f, c->l);                                                      \
		k->cfg.f[c->l] = '\0';                                                             \
		k->cfg.l = c->l;                                                                   \
	}
	DUP(ca_pem, ca_len)
	DUP(cert_pem, cert_len)
	DUP(key_pem, key_len)
#undef DUP
	if ((c->token && !(k->cfg.token = strdup(c->token))) ||
	    (c->token_file && !(k->cfg.token_file = strdup(c->token_file))))
		goto oom;
	snprintf(k->user_agent, sizeof(k->user_agent), "sandbox-guard/%s", SG_VERSION);
	return k;
oom:
	sg_failf(cause, "out of memory creating the API client");
	sg_kube_free(k);
	return NULL;
}

void sg_kube_free(struct sg_kube *k)
{
	if (!k)
		return;
	while (k->reqs)
		req_free(k->reqs);
	if (k->multi)
		curl_multi_cleanup(k->multi);
	if (k->timer)
		event_free(k->timer);
	sg_kube_config_release(&k->cfg);
	free(k);
}

struct event_base *sg_kube_base(const struct sg_kube *k)
{
	return k->base;
}

size_t sg_kube_inflight(const struct sg_kube *k)
{
	return k->inflight;
}

/*
 * Appends one header line to *list. curl_slist_append returns NULL on
 * failure and leaves the old list alone, so assigning its result directly
 * would leak the list and lose the headers already there.
 */
static int add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *n = curl_slist_append(*list, line);

	if (!n)
		return -ENOMEM;
	*list = n;
	return 0;
}

static struct sg_kube_req *start(struct sg_kube *k, const char *method, const char *path,
				 const char *content_type, const char *body, size_t len, bool watch,
				 sg_kube_line_fn line, sg_kube_done_fn done, void *arg)
{
	struct sg_kube_req *r = calloc(1, sizeof(*r));
	struct curl_blob blob;
	struct sg_buf url;
	char *token = NULL;

	if (!r)
		return NULL;
	r->k = k;
	r->watch = watch;
	r->line = line;
	r->done = done;
	r->arg = arg;
	sg_buf_init(&r->resp, watch ? MAX_LINE : MAX_RESPONSE);
	r->easy = curl_easy_init();
	if (!r->easy)
		goto fail;
	sg_buf_init(&url, 8192);
	if (sg_buf_printf(&url, "%s%s", k->cfg.server, path) != 0) {
		sg_buf_release(&url);
		goto fail;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url.data);
	sg_buf_release(&url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_fn);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, k->user_agent);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* Watches end on the server's timeoutSeconds; the hard stop only catches a dead peer. */
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, watch ? 420000L : 60000L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "https,http");
	if (k->cfg.ca_pem) {
		blob.data = k->cfg.ca_pem;
		blob.len = k->cfg.ca_len;
		blob.flags = CURL_BLOB_NOCOPY;
		curl_easy_setopt(r->easy, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (k->cfg.insecure) {
		curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (k->cfg.cert_pem) {
		blob.data = k->cfg.cert_pem;
		blob.len = k->cfg.cert_len;
		blob.flags = CURL_BLOB_NOCOPY;
		curl_easy_setopt(r->easy, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(r->easy, CURLOPT_SSLCERTTYPE, "PEM");
		blob.data = k->cfg.key_pem;
		blob.len = k->cfg.key_len;
		curl_easy_setopt(r->easy, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(r->easy, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (add_header(&r->headers, "Accept: application/json") != 0)
		goto fail;
	/*
	 * A request that should carry a token and cannot is not sent at all:
	 * going out without Authorization would look to the API server like
	 * an anonymous client, and its 401/403 would hide the real cause.
	 */
	token = sg_kube_config_token(&k->cfg);
	if (token) {
		struct sg_buf h;
		int rc;

		sg_buf_init(&h, 16384);
		rc = sg_buf_printf(&h, "Authorization: Bearer %s", token);
		if (rc == 0)
			rc = add_header(&r->headers, h.data);
		if (h.data)
			OPENSSL_cleanse(h.data, h.len);
		sg_buf_release(&h);
		OPENSSL_cleanse(token, strlen(token));
		free(token);
		if (rc != 0)
			goto fail;
	}
	if (content_type) {
		char h[128];
		int n = snprintf(h, sizeof(h), "Content-Type: %s", content_type);

		if (n < 0 || (size_t)n >= sizeof(h) || add_header(&r->headers, h) != 0)
			goto fail;
	}
	if (curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
		goto fail;
	if (body) {
		/* Size first: COPYPOSTFIELDS copies that many bytes (a body may hold NULs). */
		if (curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) !=
			    CURLE_OK ||
		    curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK)
			goto fail;
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
	}
	if (curl_multi_add_handle(k->multi, r->easy) != CURLM_OK)
		goto fail;
	r->next = k->reqs;
	if (k->reqs)
		k->reqs->prev = r;
	k->reqs = r;
	k->inflight++;
	return r;
fail:
	sg_log_warn("cannot start %s %s: out of memory or a header too long", method, path);
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	sg_buf_release(&r->resp);
	free(r);
	return NULL;
}

struct sg_kube_req *sg_kube_request(struct sg_kube *k, const char *method, const char *path,
				    const char *content_type, const char *body, size_t len,
				    sg_kube_done_fn done, void *arg)
{
	return start(k, method, path, content_type, body, len, false, NULL, done, arg);
}

struct sg_kube_req *sg_kube_watch(struct sg_kube *k, const char *path, sg_kube_line_fn line,
				  sg_kube_done_fn done, void *arg)
{
	return start(k, "GET", path, NULL, NULL, 0, true, line, done, arg);
}

void sg_kube_cancel(struct sg_kube_req *r)
{
	if (r)
		req_free(r);
}

int sg_kube_query_add(struct sg_buf *path, const char *key, const char *value)
{
	char *k = curl_easy_escape(NULL, key, 0), *v = curl_easy_escape(NULL, value, 0);
	int rc = -ENOMEM;

	if (k && v)
		rc = sg_buf_printf(path, "%c%s=%s",
				   path->data && strchr(path->data, '?') ? '&' : '?', k, v);
	curl_free(k);
	curl_free(v);
	return rc;
}
