#include "sg_kube.h"

#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sg_buf.h"
#include "sg_json.h"
#include "sg_log.h"
#include "sg_yaml.h"

#define SA_DIR	     "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_RESPONSE (64u << 20)
#define MAX_LINE     (16u << 20)
#define MAX_FILE     (4u << 20)

/* --- configuration ---------------------------------------------------------- */

/* Reads a whole (small) file into a new string; NULL with errno on failure. */
static char *read_file(const char *path, size_t *len)
{
	struct sg_buf b;
	int rc;

	sg_buf_init(&b, MAX_FILE);
	if ((rc = sg_buf_read_file(&b, path)) != 0) {
		sg_buf_release(&b);
		errno = -rc == E2BIG ? EFBIG : -rc;
		return NULL;
	}
	if (len)
		*len = b.len;
	return sg_buf_detach(&b);
}

#define MAX_TOKEN (64 << 10)

/* A token goes into a header line: printable ASCII only, bounded. */
static bool token_ok(const char *t)
{
	size_t n = 0;

	for (; t[n]; n++)
		if ((unsigned char)t[n] < 0x21 || (unsigned char)t[n] > 0x7e || n >= MAX_TOKEN)
			return false;
	return n > 0;
}

static char *b64decode(const char *in, size_t *outlen)
{
	size_t n = strlen(in), pad = 0;
	unsigned char *out;
	int len;

	while (n > 0 && (in[n - 1] == '\n' || in[n - 1] == ' '))
		n--;
	if (n == 0 || n % 4 != 0)
		return NULL;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return NULL;
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (len < 0) {
		free(out);
		return NULL;
	}
	while (pad < 2 && in[n - 1 - pad] == '=')
		pad++;
	*outlen = (size_t)len - pad;
	out[*outlen] = '\0';
	return (char *)out;
}

/* A "-data" field (base64) or a file path (relative to the kubeconfig's directory). */
static int load_material(const cJSON *obj, const char *field, const char *dir, char **out,
			 size_t *len, const char *what, char **cause)
{
	char key[64], path[4096];
	const char *data, *file;

	snprintf(key, sizeof(key), "%s-data", field);
	data = sg_json_str(obj, key);
	file = sg_json_str(obj, field);
	if (data && data[0]) {
		*out = b64decode(data, len);
		if (!*out)
			return sg_failf(cause, "%s: %s is not valid base64", what, key);
		return 0;
	}
	if (file && file[0]) {
		if (file[0] == '/')
			snprintf(path, sizeof(path), "%s", file);
		else
			snprintf(path, sizeof(path), "%s/%s", dir, file);
		*out = read_file(path, len);
		if (!*out)
			return sg_failf(cause, "%s: cannot read %s '%s': %s", what, field, path,
					strerror(errno));
	}
	return 0;
}

static const cJSON *named(const cJSON *list, const char *name, const char *inner)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, list)
	{
		const char *n = sg_json_str(it, "name");

		if (n && strcmp(n, name) == 0)
			return sg_json_get(it, inner);
	}
	return NULL;
}

static int load_kubeconfig(const char *path, struct sg_kube_config *c, char **cause)
{
	char *text, *err = NULL, dir[4096];
	const char *ctx_name, *cluster_name, *user_name, *s;
	const cJSON *ctx, *cluster, *user;
	size_t len;
	cJSON *doc;
	int rc = -1;

	text = read_file(path, &len);
	if (!text)
		return sg_failf(cause, "cannot read kubeconfig '%s': %s", path, strerror(errno));
	doc = sg_yaml_parse(text, len, &err);
	free(text);
	if (!doc) {
		sg_failf(cause, "kubeconfig '%s': %s", path, err);
		free(err);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	{
		char *slash = strrchr(dir, '/');

		if (slash)
			*slash = '\0';
		else
			strcpy(dir, ".");
	}
	ctx_name = sg_json_str(doc, "current-context");
	if ((!ctx_name || !ctx_name[0]) && sg_json_count(sg_json_get(doc, "contexts")) == 1)
		ctx_name = sg_json_str(cJSON_GetArrayItem(sg_json_get(doc, "contexts"), 0), "name");
	if (!ctx_name || !ctx_name[0]) {
		sg_failf(cause, "kubeconfig '%s': no current-context", path);
		goto out;
	}
	ctx = named(sg_json_get(doc, "contexts"), ctx_name, "context");
	if (!ctx) {
		sg_failf(cause, "kubeconfig '%s': context '%s' not found", path, ctx_name);
		goto out;
	}
	cluster_name = sg_json_str(ctx, "cluster");
	user_name = sg_json_str(ctx, "user");
	cluster =
		cluster_name ? named(sg_json_get(doc, "clusters"), cluster_name, "cluster") : NULL;
	user = user_name ? named(sg_json_get(doc, "users"), user_name, "user") : NULL;
	if (!cluster || !(s = sg_json_str(cluster, "server")) || !s[0]) {
		sg_failf(cause, "kubeconfig '%s': cluster of context '%s' has no server", path,
			 ctx_name);
		goto out;
	}
	if (!(c->server = strdup(s)))
		goto oom;
	while (strlen(c->server) > 0 && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = '\0';
	/* kubectl writes a YAML bool; a JSON kubeconfig may quote it. */
	s = sg_json_str(cluster, "insecure-skip-tls-verify");
	c->insecure = cJSON_IsTrue(sg_json_get(cluster, "insecure-skip-tls-verify")) ||
		      (s && strcmp(s, "true") == 0);
	if (load_material(cluster, "certificate-authority", dir, &c->ca_pem, &c->ca_len, "cluster",
			  cause))
		goto out;
	if (user) {
		if (sg_json_get(user, "exec") || sg_json_get(user, "auth-provider")) {
			sg_failf(cause,
				 "kubeconfig '%s': user '%s' uses an exec or auth-provider plugin, "
				 "which is not supported; use a token, tokenFile or client "
				 "certificate",
				 path, user_name);
			goto out;
		}
		if ((s = sg_json_str(user, "token")) && s[0]) {
			if (!token_ok(s)) {
				sg_failf(cause,
					 "kubeconfig '%s': user '%s' token is over 64 KiB or not "
					 "printable ASCII",
					 path, user_name);
				goto out;
			}
			if (!(c->token = strdup(s)))
				goto oom;
		}
		if ((s = sg_json_str(user, "tokenFile")) && s[0] && !(c->token_file = strdup(s)))
			goto oom;
		if (load_material(user, "client-certificate", dir, &c->cert_pem, &c->cert_len,
				  "user", cause) ||
		    load_material(user, "client-key", dir, &c->key_pem, &c->key_len, "user", cause))
			goto out;
		if (!c->cert_pem != !c->key_pem) {
			sg_failf(cause,
				 "kubeconfig '%s': user '%s' needs both a client certificate "
				 "and key",
				 path, user_name);
			goto out;
		}
	}
	if (!(c->source = strdup(path)))
		goto oom;
	rc = 0;
	goto out;
oom:
	sg_failf(cause, "kubeconfig '%s': out of memory", path);
out:
	cJSON_Delete(doc);
	return rc;
}

static int load_in_cluster(struct sg_kube_config *c, char **cause)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = getenv("SG_SERVICEACCOUNT_DIR");
	char path[4096], url[512];

	if (!host || !host[0] || !port || !port[0])
		return sg_failf(cause,
				"not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) "
				"and no --kubeconfig given");
	if (!dir)
		dir = SA_DIR;
	snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		 port);
	c->server = strdup(url);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	c->ca_pem = read_file(path, &c->ca_len);
	if (!c->ca_pem)
		return sg_failf(cause, "cannot read the service account CA '%s': %s", path,
				strerror(errno));
	snprintf(path, sizeof(path), "%s/token", dir);
	if (access(path, R_OK) != 0)
		return sg_failf(cause, "cannot read the service account token '%s': %s", path,
				strerror(errno));
	c->token_file = strdup(path);
	c->source = strdup("in-cluster service account");
	if (!c->server || !c->token_file || !c->source)
		return sg_failf(cause, "out of memory loading the in-cluster configuration");
	return 0;
}

int sg_kube_config_load(const char *path, struct sg_kube_config *c, char **cause)
{
	int rc;

	memset(c, 0, sizeof(*c));
	rc = path ? load_kubeconfig(path, c, cause) : load_in_cluster(c, cause);
	if (rc)
		sg_kube_config_release(c);
	return rc;
}

void sg_kube_config_release(struct sg_kube_config *c)
{
	free(c->server);
	free(c->ca_pem);
	/* Secrets do not outlive their use in freed heap memory. */
	if (c->token)
		OPENSSL_cleanse(c->token, strlen(c->token));
	if (c->key_pem)
		OPENSSL_cleanse(c->key_pem, c->key_len);
	free(c->token);
	free(c->token_file);
	free(c->cert_pem);
	free(c->key_pem);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

/* --- the client ---------------------------------------------------------------- */

struct sg_kube_req {
	struct sg_kube_req *prev, *next;
	struct sg_kube *k;
	CURL *easy;
	struct curl_slist *headers;
	char *body_copy;
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
	free(r->body_copy);
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

/* The bearer token for this request: the file's current content, else the static token. */
static char *current_token(const struct sg_kube *k)
{
	if (k->cfg.token_file) {
		char *t = read_file(k->cfg.token_file, NULL);
		size_t n;

		if (t) {
			n = strlen(t);
			while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
				t[--n] = '\0';
			if (token_ok(t))
				return t;
			free(t);
			sg_log_warn("token file '%s' does not hold a token (empty, over 64 KiB, or "
				    "not printable ASCII); sending no token",
				    k->cfg.token_file);
			return NULL;
		}
		sg_log_warn("cannot read token file '%s': %s", k->cfg.token_file, strerror(errno));
	}
	return k->cfg.token && token_ok(k->cfg.token) ? strdup(k->cfg.token) : NULL;
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
	r->headers = curl_slist_append(r->headers, "Accept: application/json");
	token = current_token(k);
	if (token) {
		struct sg_buf h;

		sg_buf_init(&h, 16384);
		sg_buf_printf(&h, "Authorization: Bearer %s", token);
		r->headers = curl_slist_append(r->headers, h.data ? h.data : "");
		if (h.data)
			OPENSSL_cleanse(h.data, h.len);
		sg_buf_release(&h);
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	if (content_type) {
		char h[128];

		snprintf(h, sizeof(h), "Content-Type: %s", content_type);
		r->headers = curl_slist_append(r->headers, h);
	}
	if (!r->headers)
		goto fail;
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		r->body_copy = malloc(len ? len : 1);
		if (!r->body_copy)
			goto fail;
		memcpy(r->body_copy, body, len);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body_copy);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
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
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body_copy);
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

int sg_kube_query_escape(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';

		if (o + (plain ? 1 : 3) >= outlen)
			return -1;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}
