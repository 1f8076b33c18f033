#include "sg_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "sg_log.h"

#define PLAIN_DRAIN_GRACE_MS 500
#define BACKOFF_MS	     100
/* Connections that must have closed since the peak before memory is handed back. */
#define TRIM_AFTER_CONNS 64
/*
 * A connection answered before its request was read whole (413, 400) is
 * not closed at once: see linger_start. These bound what that may cost.
 */
#define LINGER_MS    2000
#define LINGER_BYTES (64u << 20)
#define LINGER_MAX   128

struct route {
	struct route *next;
	char *path;
	unsigned methods;
	sg_handler_fn fn;
	void *arg;
};

/*
 * One open connection. A TLS one lives exactly as long as its SSL object; a
 * plain one until evhttp's close callback (see setup_cb).
 */
struct conn {
	struct conn *prev, *next;
	struct sg_server *srv;
	struct bufferevent *bev;
	bool plain;
	bool fresh;   /* evhttp's close callback is not set yet */
	bool closing; /* closed by us (timeout, cap, drain): no lingering */
	/* On the clock: from accept (handshake) or a request's first byte, to its reply. */
	bool request_started;
	bool mid_request; /* bytes of a request arrived and it is not answered */
	bool refused;	  /* over the cap: closed as soon as evhttp has set it up */
	struct timeval started;
};

/* A closed connection whose peer may still be sending: read and discarded until EOF. */
struct lingering {
	struct lingering *prev, *next;
	struct sg_server *srv;
	struct event *ev;
	evutil_socket_t fd;
	size_t left;
	struct timeval until;
};

struct sg_server {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	SSL_CTX *tls;
	struct route *routes;
	struct sg_server_opts opts;
	char *name;
	char *listen;
	int port;

	struct conn *conns;
	size_t nconns;
	size_t peak_conns; /* most open since memory was last trimmed */
	uint64_t refused;  /* connections closed at once for being over max_conns */
	bool backoff;	   /* accepting paused: out of descriptors */
	bool accepting;	   /* the listener is enabled */
	bool draining;
	bool retiring; /* sg_server_retire: every reply closes its connection */
	bool freeing;

	time_t date_at; /* the second date_text stands for */
	char date_text[40];

	struct event *sweep;   /* whole-request timeout checks */
	struct event *retry;   /* accept back-off */
	struct event *setup;   /* finishes new connections, closes the refused */
	struct event *drain_t; /* drain deadline */
	struct sg_server *next_server;
	void (*on_free)(void *);
	void *on_free_arg;
	void (*drain_done)(void *);
	void *drain_arg;
	struct lingering *lingers;
	size_t nlingers;
};

static int conn_index = -1;

/*
 * Every live server, so that the accept error callback can find its own:
 * libevent passes that callback the listener's argument, which evhttp owns.
 */
static struct sg_server *servers;

void sg_server_opts_init(struct sg_server_opts *o, const char *name, const char *listen)
{
	o->name = name;
	o->listen = listen;
	o->max_body = 8u << 20;
	o->max_headers = 64u << 10;
	o->io_timeout_ms = 60000;
	o->request_timeout_ms = 10000;
	o->max_conns = 1024;
}

int sg_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, char **cause)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			goto bad;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			goto bad;
		hl = (size_t)(colon - s);
	}
	if (hl >= hostlen)
		goto bad;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno || p < 0 || p > 65535)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
bad:
	if (cause) {
		char msg[300];

		snprintf(
			msg, sizeof(msg),
			"invalid listen address '%.200s', expected HOST:PORT, [IPV6]:PORT or :PORT",
			s);
		*cause = strdup(msg);
	}
	return -EINVAL;
}

static uint64_t ms_since(struct sg_server *s, const struct timeval *then)
{
	struct timeval now;

	event_base_gettimeofday_cached(s->base, &now);
	if (timercmp(&now, then, <))
		return 0;
	return (uint64_t)(now.tv_sec - then->tv_sec) * 1000 +
	       (uint64_t)((now.tv_usec - then->tv_usec) / 1000);
}

/* Enables or disables the listener to match back-off, cap and drain state. */
static void update_accepting(struct sg_server *s)
{
	struct evconnlistener *l;
	bool want;

	if (!s->bound || s->freeing)
		return;
	want = !s->draining && !s->backoff;
	if (want == s->accepting)
		return;
	l = evhttp_bound_socket_get_listener(s->bound);
	if (want)
		evconnlistener_enable(l);
	else
		evconnlistener_disable(l);
	s->accepting = want;
}

static bool conn_busy(const struct conn *c)
{
	return c->mid_request || evbuffer_get_length(bufferevent_get_output(c->bev)) > 0;
}

/*
 * Closes a connection through evhttp's own error path (as if it timed out):
 * evhttp frees its state, then the bufferevent, then the SSL object, whose
 * ex_data hook frees c. No reply is sent.
 */
static void conn_close(struct conn *c)
{
	c->closing = true;
	bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
}

/* The drain's end: its deadline passed, or the last connection closed. */
static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sg_server *s = arg;
	void (*done)(void *) = s->drain_done;
	struct conn *c, *next;

	(void)fd;
	(void)what;
	if (!done)
		return;
	s->drain_done = NULL;
	for (c = s->conns; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	done(s->drain_arg);
}

/* Unlinks and frees a connection that is gone. */
static void conn_gone(struct conn *c)
{
	struct sg_server *s = c->srv;

	if (!s) {
		/* The server was freed first (see sg_server_free). */
		free(c);
		return;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	free(c);
	/* Finish the drain from a clean stack, not from inside libevent's free path. */
	if (s->draining && s->nconns == 0 && s->drain_t)
		event_active(s->drain_t, EV_TIMEOUT, 1);
}

static void linger_end(struct lingering *l)
{
	struct sg_server *s = l->srv;

	if (l->prev)
		l->prev->next = l->next;
	else
		s->lingers = l->next;
	if (l->next)
		l->next->prev = l->prev;
	s->nlingers--;
	event_free(l->ev);
	evutil_closesocket(l->fd);
	free(l);
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
	static char sink[65536];
	struct lingering *l = arg;
	struct timeval now, left;

	event_base_gettimeofday_cached(l->srv->base, &now);
	if ((what & EV_TIMEOUT) || !timercmp(&now, &l->until, <)) {
		linger_end(l);
		return;
	}
	for (;;) {
		ssize_t n = recv(fd, sink, sizeof(sink), 0);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/*
			 * A persistent event's timeout restarts at each
			 * wakeup: a peer sending a byte now and then would
			 * linger for ever. Keep the first deadline.
			 */
			timersub(&l->until, &now, &left);
			event_add(l->ev, &left);
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (size_t)n >= l->left) {
			linger_end(l);
			return;
		}
		l->left -= (size_t)n;
	}
}

/*
 * A lingering close of our own. evhttp answers 413 (or 400) as soon as
 * the headers show the request is unacceptable, and then closes; a peer
 * still sending its body would have those bytes arrive at a closed
 * socket, and the kernel answers them with a reset that can destroy the
 * answer before the peer reads it. So the socket is kept open on a
 * duplicate descriptor after evhttp lets go of it: its write side shut
 * (the peer sees the answer, then EOF), its input read and thrown away
 * until the peer closes, for at most LINGER_MS and LINGER_BYTES, and for at
 * most LINGER_MAX connections at a time (beyond that, a plain close).
 * libevent's own lingering close instead reads the whole declared body
 * before it answers at all.
 */
static void linger_start(struct sg_server *s, evutil_socket_t fd)
{
	struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
	struct lingering *l;
	int dfd;

	if (fd < 0 || s->nlingers >= LINGER_MAX)
		return;
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return; /* out of descriptors: a plain close */
	l = calloc(1, sizeof(*l));
	if (l)
		l->ev = event_new(s->base, dfd, EV_READ | EV_PERSIST, linger_cb, l);
	if (!l || !l->ev || event_add(l->ev, &tv) != 0) {
		if (l && l->ev)
			event_free(l->ev);
		free(l);
		close(dfd);
		return;
	}
	shutdown(dfd, SHUT_WR);
	event_base_gettimeofday_cached(s->base, &l->until);
	timeradd(&l->until, &tv, &l->until);
	l->srv = s;
	l->fd = dfd;
	l->left = LINGER_BYTES;
	l->next = s->lingers;
	if (s->lingers)
		s->lingers->prev = l;
	s->lingers = l;
	s->nlingers++;
}

/*
 * evhttp's close callback: the connection is about to be freed, its
 * socket still open. A request that was not read whole (its answer went
 * out early) leaves the peer possibly still sending: linger.
 */
static void conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;
	struct sg_server *s = c->srv;

	if (s && !s->freeing && c->mid_request && !c->closing)
		linger_start(s, bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)));
	if (c->plain)
		conn_gone(c);
}

/* SSL ex_data free hook: the connection is gone. */
static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	struct conn *c = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (!c)
		return;
	conn_gone(c);
}

/* Notes when request bytes arrive, for the request timeout and the drain. */
static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	(void)buf;
	if (info->n_added == 0)
		return;
	c->mid_request = true;
	if (!c->request_started) {
		c->request_started = true;
		event_base_gettimeofday_cached(c->srv->base, &c->started);
	}
}

static void fatal_oom(const char *what)
{
	/*
	 * evhttp treats a NULL bufferevent as "serve plain HTTP on this
	 * socket". On a TLS port that would answer in clear text, so there is
	 * no safe way to go on without memory: stop the process instead.
	 */
	sg_log_error("out of memory creating a TLS connection (%s), exiting", what);
	sg_log_flush();
	abort();
}

static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
	struct sg_server *s = arg;
	struct bufferevent *bev;
	struct conn *c;
	SSL *ssl;

	if (!s->tls) {
		/*
		 * Plain HTTP: without memory the connection is served untracked
		 * (evhttp makes its own bufferevent), with no harm but the
		 * missing deadline.
		 */
		c = calloc(1, sizeof(*c));
		bev = c ? bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE) : NULL;
		if (!bev) {
			free(c);
			return NULL;
		}
		c->plain = true;
		/*
		 * Held until setup_cb has set evhttp's close callback: should
		 * evhttp free the connection before that, the bufferevent (and
		 * so c) is still there to find out.
		 */
		bufferevent_incref(bev);
	} else {
		ssl = SSL_new(s->tls);
		if (!ssl)
			fatal_oom("SSL_new");
		c = calloc(1, sizeof(*c));
		if (!c)
			fatal_oom("connection");
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			fatal_oom("bufferevent");
		/* From here the SSL object owns c: its free hook unlinks and frees it. */
		SSL_set_ex_data(ssl, conn_index, c);
	}
	c->srv = s;
	c->bev = bev;
	c->fresh = true;
	/*
	 * The clock starts at accept: the handshake and the first request must
	 * arrive within the request timeout, so a peer that trickles handshake
	 * bytes cannot hold the connection open.
	 */
	c->request_started = true;
	event_base_gettimeofday_cached(s->base, &c->started);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (!evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c))
		fatal_oom("evbuffer callback");
	/* Go's clients often close without close_notify; that is a normal EOF. */
	if (!c->plain)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	if (s->nconns > s->peak_conns)
		s->peak_conns = s->nconns;
	/*
	 * Over the cap the connection is refused at once rather than left in
	 * the listen backlog: a paused listener makes every new client (the
	 * API server among them) wait out its own timeout, while a closed
	 * connection lets it retry another replica now. evhttp has not yet
	 * attached itself to the bufferevent here, so the close runs from the
	 * loop, right after this accept (setup_cb).
	 */
	if (s->nconns > (size_t)s->opts.max_conns) {
		c->refused = true;
		s->refused++;
	}
	event_active(s->setup, EV_TIMEOUT, 1);
	return bev;
}

static struct conn *conn_of(struct sg_request *r)
{
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	struct conn *c;
	SSL *ssl;

	evcon = evhttp_request_get_connection(r->ev);
	bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	if (!bev)
		return NULL;
	if (!r->srv->tls) {
		/* Plain servers (the extender, health) are few and cheap to search. */
		for (c = r->srv->conns; c; c = c->next)
			if (c->bev == bev)
				return c;
		return NULL;
	}
	ssl = bufferevent_openssl_get_ssl(bev);
	return ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;
}

/*
 * After a storm of connections has passed, hands the memory their TLS and
 * HTTP state used back to the system: glibc keeps freed heap otherwise,
 * and RSS would stay at the storm's peak (or climb with each storm, as
 * fragmentation grows).
 */
static void trim_after_storm(struct sg_server *s)
{
	if (s->peak_conns < s->nconns + TRIM_AFTER_CONNS)
		return;
	s->peak_conns = s->nconns;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sg_server *s = arg;
	struct conn *c, *next;

	(void)fd;
	(void)what;
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->request_started &&
		    ms_since(s, &c->started) > (uint64_t)s->opts.request_timeout_ms) {
			sg_log_warn("%s: closing a connection whose request did not arrive whole "
				    "within %d ms",
				    s->name, s->opts.request_timeout_ms);
			conn_close(c);
		} else if (s->draining && !conn_busy(c)) {
			/* Its reply was still being written when the drain began; now idle. */
			conn_close(c);
		}
	}
	trim_after_storm(s);
}

/*
 * Runs on the loop right after accepts: evhttp has now attached its
 * connection to each new bufferevent, so its close callback can be set,
 * and the connections over the cap can be closed through it.
 */
static void setup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sg_server *s = arg;
	struct conn *c, *next;

	(void)fd;
	(void)what;
	for (c = s->conns; c; c = next) {
		struct bufferevent *bev = c->bev;
		void *evcon = NULL;

		next = c->next;
		if (!c->fresh)
			continue;
		c->fresh = false;
		/* evhttp passes its connection to every bufferevent callback it sets. */
		bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
		if (evcon)
			evhttp_connection_set_closecb(evcon, conn_closed_cb, c);
		if (c->plain) {
			if (!evcon)
				conn_gone(c); /* evhttp already let go of it */
			bufferevent_decref(bev);
			if (!evcon)
				continue;
		}
		if (c->refused && evcon)
			conn_close(c);
	}
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sg_server *s = arg;

	(void)fd;
	(void)what;
	s->backoff = false;
	update_accepting(s);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval tv = {0, BACKOFF_MS * 1000};
	int err = EVUTIL_SOCKET_ERROR();
	struct sg_server *s;

	(void)arg;
	for (s = servers; s; s = s->next_server)
		if (s->bound && evhttp_bound_socket_get_listener(s->bound) == l)
			break;
	if (!s)
		return;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		sg_log_warn("%s: accept failed: %s", s->name, strerror(err));
		return;
	}
	/*
	 * Out of descriptors: the pending connection stays in the backlog and
	 * the listener would fire again at once. Pause and retry shortly.
	 */
	if (!s->backoff)
		sg_log_warn("%s: accept failed: %s; pausing accept for %d ms", s->name,
			    strerror(err), BACKOFF_MS);
	s->backoff = true;
	update_accepting(s);
	event_add(s->retry, &tv);
}

static enum sg_method method_of(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		return SG_GET;
	case EVHTTP_REQ_POST:
		return SG_POST;
	case EVHTTP_REQ_HEAD:
		return SG_HEAD;
	default:
		return 0;
	}
}

void sg_reply_header(struct sg_request *r, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

const char *sg_request_header(struct sg_request *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

/*
 * The Date header, formatted once a second from the loop's cached clock:
 * without it evhttp formats one per reply (a few percent of a review).
 */
static void add_date(struct sg_request *r)
{
	struct sg_server *s = r->srv;
	struct timeval now;
	struct tm tm;

	event_base_gettimeofday_cached(s->base, &now);
	if (now.tv_sec != s->date_at || !s->date_text[0]) {
		if (!gmtime_r(&now.tv_sec, &tm) ||
		    !strftime(s->date_text, sizeof(s->date_text), "%a, %d %b %Y %H:%M:%S GMT", &tm))
			return; /* evhttp adds its own */
		s->date_at = now.tv_sec;
	}
	sg_reply_header(r, "Date", s->date_text);
}

void sg_reply(struct sg_request *r, int code, const char *content_type, const void *body,
	      size_t len)
{
	struct evbuffer *out;
	struct conn *c;

	if (r->replied)
		return;
	r->replied = true;
	if (content_type)
		sg_reply_header(r, "Content-Type", content_type);
	add_date(r);
	if (r->srv->draining || r->srv->retiring)
		sg_reply_header(r, "Connection", "close");
	out = evhttp_request_get_output_buffer(r->ev);
	if (len && evbuffer_add(out, body, len) != 0) {
		evbuffer_drain(out, evbuffer_get_length(out));
		code = 500;
	}
	c = conn_of(r);
	if (c) {
		/* Bytes of a pipelined next request keep the connection busy. */
		c->request_started = evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
		c->mid_request = c->request_started;
		if (c->request_started)
			event_base_gettimeofday_cached(r->srv->base, &c->started);
	}
	evhttp_send_reply(r->ev, code, NULL, NULL);
	if (c && !c->plain) {
		/*
		 * bufferevent_openssl writes only once epoll says the socket is
		 * writable, a loop turn and two epoll_ctl calls later, and it
		 * writes each buffer chain (evhttp's headers, our body) as its
		 * own TLS record and write(2). Join the reply into one chain
		 * and run the write now: one record, one syscall, no round
		 * trip through epoll (with the changelist the event add and
		 * delete cancel out). Running the write callback early is
		 * what a spurious wakeup does, so it is safe.
		 */
		evbuffer_pullup(bufferevent_get_output(c->bev), -1);
		event_active(&c->bev->ev_write, EV_WRITE, 1);
	}
}

static void reply_text(struct sg_request *r, int code, const char *text)
{
	sg_reply(r, code, "text/plain; charset=utf-8", text, strlen(text));
}

static void dispatch(struct evhttp_request *ev, void *arg)
{
	struct sg_server *s = arg;
	struct sg_request r = {.ev = ev, .srv = s};
	const char *uri = evhttp_request_get_uri(ev);
	struct evbuffer *in;
	struct route *rt;
	char path[256];
	size_t n;

	n = strcspn(uri, "?#");
	if (n >= sizeof(path)) {
		reply_text(&r, 404, "not found\n");
		return;
	}
	memcpy(path, uri, n);
	path[n] = '\0';
	r.path = path;
	r.method = method_of(evhttp_request_get_command(ev));
	for (rt = s->routes; rt; rt = rt->next)
		if (strcmp(rt->path, path) == 0)
			break;
	if (!rt) {
		reply_text(&r, 404, "not found\n");
		return;
	}
	if (!(rt->methods & r.method)) {
		char allow[32];

		snprintf(allow, sizeof(allow), "%s%s%s", rt->methods & SG_GET ? "GET, HEAD" : "",
			 (rt->methods & SG_GET) && (rt->methods & SG_POST) ? ", " : "",
			 rt->methods & SG_POST ? "POST" : "");
		sg_reply_header(&r, "Allow", allow);
		reply_text(&r, 405, "method not allowed\n");
		return;
	}
	in = evhttp_request_get_input_buffer(ev);
	r.body_len = evbuffer_get_length(in);
	r.body = r.body_len ? (const char *)evbuffer_pullup(in, -1) : "";
	if (!r.body) {
		reply_text(&r, 500, "out of memory\n");
		return;
	}
	rt->fn(&r, rt->arg);
	if (!r.replied) {
		sg_log_error("%s: handler for %s did not reply", s->name, path);
		reply_text(&r, 500, "internal error: no reply\n");
	}
}

struct sg_server *sg_server_new(struct event_base *base, const struct sg_server_opts *o,
				SSL_CTX *tls, char **cause)
{
	struct sg_server *s;
	struct timeval tv;

	if (tls && conn_index < 0) {
		conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free_cb);
		if (conn_index < 0) {
			*cause = strdup("cannot register TLS connection data");
			return NULL;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->base = base;
	s->opts = *o;
	s->name = strdup(o->name);
	s->listen = strdup(o->listen);
	s->http = evhttp_new(base);
	s->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, s);
	s->retry = evtimer_new(base, retry_cb, s);
	s->setup = event_new(base, -1, 0, setup_cb, s);
	if (!s->name || !s->listen || !s->http || !s->sweep || !s->retry || !s->setup)
		goto oom;
	s->opts.name = s->name;
	s->opts.listen = s->listen;
	evhttp_set_max_body_size(s->http, (ev_ssize_t)o->max_body);
	evhttp_set_max_headers_size(s->http, (ev_ssize_t)o->max_headers);
	tv.tv_sec = o->io_timeout_ms / 1000;
	tv.tv_usec = (o->io_timeout_ms % 1000) * 1000;
	evhttp_set_timeout_tv(s->http, &tv);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	/*
	 * No EVHTTP_SERVER_LINGERING_CLOSE: with it evhttp reads (and throws
	 * away) a whole declared oversized body before it answers 413, so a
	 * request that declares 100 MB and sends one byte waits for its
	 * deadline with no answer. Without it evhttp answers 413 from the
	 * headers alone, or as soon as a chunked body passes the limit, and
	 * our own lingering close (linger_start) keeps a sender that is
	 * still sending from being reset before it reads the answer.
	 */
	evhttp_set_gencb(s->http, dispatch, s);
	s->next_server = servers;
	servers = s;
	if (tls) {
		SSL_CTX_up_ref(tls);
		s->tls = tls;
	}
	evhttp_set_bevcb(s->http, bev_cb, s);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	if (event_add(s->sweep, &tv) != 0)
		goto oom;
	return s;
oom:
	*cause = strdup("out of memory creating the server");
	sg_server_free(s);
	return NULL;
}

int sg_server_route(struct sg_server *s, const char *path, unsigned methods, sg_handler_fn fn,
		    void *arg)
{
	struct route *rt = calloc(1, sizeof(*rt));

	if (!rt || !(rt->path = strdup(path))) {
		free(rt);
		return -ENOMEM;
	}
	rt->methods = methods;
	rt->fn = fn;
	rt->arg = arg;
	rt->next = s->routes;
	s->routes = rt;
	return 0;
}

void sg_server_set_tls(struct sg_server *s, SSL_CTX *ctx)
{
	if (!s->tls || !ctx)
		return;
	SSL_CTX_up_ref(ctx);
	/* Open connections hold their own reference to the old context. */
	SSL_CTX_free(s->tls);
	s->tls = ctx;
}

int sg_server_listen(struct sg_server *s, char **cause)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], msg[512];
	uint16_t port;
	evutil_socket_t fd;
	int one = 1;

	if (sg_parse_hostport(s->listen, host, sizeof(host), &port, cause))
		return -EINVAL;
	s->bound = evhttp_bind_socket_with_handle(s->http, host[0] ? host : "0.0.0.0", port);
	if (!s->bound) {
		snprintf(msg, sizeof(msg), "cannot listen on %s: %s", s->listen, strerror(errno));
		*cause = strdup(msg);
		return -EADDRNOTAVAIL;
	}
	s->accepting = true;
	fd = evhttp_bound_socket_get_fd(s->bound);
	/*
	 * Accepted sockets inherit TCP_NODELAY from the listener on Linux.
	 * Without it a reply written as two TLS records waits for the peer's
	 * delayed ACK: about 40 ms per request.
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s->bound), accept_error_cb);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

struct event_base *sg_event_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (!cfg)
		return NULL;
	/*
	 * With the changelist, an event added and deleted in the same loop
	 * turn costs no epoll_ctl at all: per request that is most of them.
	 */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int sg_server_port(const struct sg_server *s)
{
	return s->port;
}

uint64_t sg_server_refused(const struct sg_server *s)
{
	return s->refused;
}

size_t sg_server_conns(const struct sg_server *s)
{
	return s->nconns;
}

void sg_server_retire(struct sg_server *s)
{
	s->retiring = true;
}

void sg_server_drain(struct sg_server *s, int timeout_ms, void (*done)(void *arg), void *arg)
{
	struct conn *c, *next;
	struct timeval tv;

	if (s->draining)
		return;
	s->drain_done = done;
	s->drain_arg = arg;
	s->drain_t = evtimer_new(s->base, drain_cb, s);
	if (!s->drain_t) {
		done(arg);
		return;
	}
	/* Closing the listening socket makes new connections fail fast and go elsewhere. */
	if (s->bound) {
		evhttp_del_accept_socket(s->http, s->bound);
		s->bound = NULL;
	}
	if (!s->tls && timeout_ms > PLAIN_DRAIN_GRACE_MS)
		timeout_ms = PLAIN_DRAIN_GRACE_MS;
	/* Idle keep-alive connections go now; busy ones after their reply. */
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (!conn_busy(c))
			conn_close(c);
	}
	s->draining = true;
	if (s->tls && s->nconns == 0) {
		event_active(s->drain_t, EV_TIMEOUT, 1);
		return;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	event_add(s->drain_t, &tv);
}

void sg_server_free(struct sg_server *s)
{
	struct sg_server **pp;
	struct route *rt;
	struct conn *c;
	bool plain;

	if (!s)
		return;
	s->freeing = true;
	for (pp = &servers; *pp; pp = &(*pp)->next_server)
		if (*pp == s) {
			*pp = s->next_server;
			break;
		}
	/*
	 * libevent finalizes bufferevents later, on the loop or in
	 * event_base_free, so SSL objects (and their free hook) may outlive
	 * the server: detach the connections first. Plain ones go with
	 * evhttp's close callbacks, in evhttp_free; any not yet set up (or
	 * left by an evhttp that did not call back) go after it.
	 */
	plain = !s->tls;
	if (!plain) {
		for (c = s->conns; c; c = c->next)
			c->srv = NULL;
		s->conns = NULL;
	}
	if (s->http)
		evhttp_free(s->http);
	while (plain && (c = s->conns) != NULL) {
		s->conns = c->next;
		if (c->fresh)
			bufferevent_decref(c->bev);
		free(c);
	}
	while (s->lingers)
		linger_end(s->lingers);
	if (s->sweep)
		event_free(s->sweep);
	if (s->retry)
		event_free(s->retry);
	if (s->setup)
		event_free(s->setup);
	if (s->drain_t)
		event_free(s->drain_t);
	while ((rt = s->routes) != NULL) {
		s->routes = rt->next;
		free(rt->path);
		free(rt);
	}
	SSL_CTX_free(s->tls);
	free(s->name);
	free(s->listen);
	if (s->on_free)
		s->on_free(s->on_free_arg);
	free(s);
}

void sg_server_on_free(struct sg_server *s, void (*fn)(void *arg), void *arg)
{
	s->on_free = fn;
	s->on_free_arg = arg;
}
