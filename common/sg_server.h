/*
 * sg_server: a small HTTP/1.1 server on libevent's evhttp, with TLS.
 *
 * One server is one evhttp on the caller's event base, listening on one
 * address, with exact-path routes. Everything a production listener needs
 * is here rather than in the daemons: body and header limits, idle and
 * whole-request timeouts (a client that trickles bytes is cut off), a cap on
 * open connections (the excess closed at once, not queued), memory handed
 * back after a storm of connections, back-off when accept() runs out of
 * descriptors,
 * TCP_NODELAY, TLS 1.2+ with the context swappable at run time, and a
 * graceful drain.
 *
 * Connections are tracked one by one (a TLS one through the SSL object's
 * ex_data, whose free hook tells us exactly when it is gone; a plain one
 * through evhttp's close callback), so the deadlines and the cap hold for
 * plain HTTP too, and the drain can close idle keep-alive connections at
 * once and let busy ones finish their request. A plain server's drain
 * still ends after a short grace at most.
 *
 * A body over the limit gets 413 as soon as the headers declare it (or a
 * chunked body passes the limit), and the connection closes lingering: its
 * write side shut, whatever the client still sends read and discarded for
 * a bounded time, so that the client reads the 413 rather than a reset.
 *
 * Handlers run on the loop and must answer before returning, with exactly
 * one sg_reply(); the server answers 500 for a handler that did not.
 */
#ifndef SG_SERVER_H
#define SG_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct event_base;
struct evhttp_request;
struct sg_server;

struct sg_server_opts {
	const char *name;	/* names the server in logs ("webhook", "health") */
	const char *listen;	/* "HOST:PORT", "[V6]:PORT" or ":PORT"; port 0 picks one */
	size_t max_body;	/* larger request bodies get 413 */
	size_t max_headers;	/* request line plus headers; larger get 400 */
	int io_timeout_ms;	/* idle keep-alive, and each read or write */
	int request_timeout_ms; /* (TLS handshake +) first request, or a started request, must
				   arrive whole in time */
	int max_conns;		/* connections past this many are closed at once */
};

/* An event base tuned for serving (epoll changelist). NULL on failure. */
struct event_base *sg_event_base_new(void);

/* Defaults: 8 MiB body, 64 KiB headers, 60 s idle, 10 s per request, 1024 conns. */
void sg_server_opts_init(struct sg_server_opts *o, const char *name, const char *listen);

enum sg_method {
	SG_GET = 1 << 0,
	SG_POST = 1 << 1,
	SG_HEAD = 1 << 2,
};

struct sg_request {
	struct evhttp_request *ev;
	struct sg_server *srv;
	const char *path; /* the path, without the query string */
	enum sg_method method;
	const char *body; /* contiguous request body, not NUL-terminated */
	size_t body_len;
	bool replied;
};

typedef void (*sg_handler_fn)(struct sg_request *r, void *arg);

/*
 * Creates a server on base. With tls NULL it serves plain HTTP; otherwise
 * it takes a reference to tls for its handshakes. Nothing is bound yet.
 * Returns NULL with *cause (a new string the caller frees) on failure.
 */
struct sg_server *sg_server_new(struct event_base *base, const struct sg_server_opts *o,
				SSL_CTX *tls, char **cause);

/* Routes the exact path (query ignored) for the given sg_method bits. 0 or -ENOMEM. */
int sg_server_route(struct sg_server *s, const char *path, unsigned methods, sg_handler_fn fn,
		    void *arg);

/*
 * Switches new handshakes to ctx (the server takes a reference and drops
 * its reference to the previous context). Open connections keep theirs.
 * No-op on a plain-HTTP server.
 */
void sg_server_set_tls(struct sg_server *s, SSL_CTX *ctx);

/* Binds and starts accepting. 0, or a negative code with *cause. */
int sg_server_listen(struct sg_server *s, char **cause);

/* The bound port (useful with port 0), or 0 before sg_server_listen. */
int sg_server_port(const struct sg_server *s);

/* Open connections. */
size_t sg_server_conns(const struct sg_server *s);

/* Connections closed at accept for being over max_conns. */
uint64_t sg_server_refused(const struct sg_server *s);

/*
 * Stops accepting, closes idle connections, lets busy ones finish (their
 * replies carry "Connection: close"), and calls done(arg) once no
 * connection is left or timeout_ms has passed, whichever is first. Plain
 * servers wait min(timeout_ms, 500 ms).
 */
void sg_server_drain(struct sg_server *s, int timeout_ms, void (*done)(void *arg), void *arg);

/*
 * Retires keep-alive connections without refusing anything: from now on
 * every reply carries "Connection: close", so each client connection ends
 * after its next request instead of being closed under a client that may
 * be writing to it. For the shutdown delay: a client that pools
 * connections by Service name (the API server's webhook client does) keeps
 * reusing a connection to this replica after its endpoint is gone, and a
 * request written as the drain closes that idle connection fails with a
 * broken pipe, which the API server does not retry.
 */
void sg_server_retire(struct sg_server *s);

/* Has sg_server_free call fn(arg) last, for state the routes share. */
void sg_server_on_free(struct sg_server *s, void (*fn)(void *arg), void *arg);

/* Frees the server, closing what is left. NULL is a no-op. */
void sg_server_free(struct sg_server *s);

/*
 * Sends the response: status code, Content-Type and body (copied). Extra
 * headers may be added before with sg_reply_header. Safe to call once.
 */
void sg_reply(struct sg_request *r, int code, const char *content_type, const void *body,
	      size_t len);
void sg_reply_header(struct sg_request *r, const char *name, const char *value);

/* The value of a request header, or NULL. */
const char *sg_request_header(struct sg_request *r, const char *name);

/*
 * Splits "HOST:PORT" / "[V6]:PORT" / ":PORT" into host and port. An empty
 * host (":PORT") listens on every IPv4 interface, as 0.0.0.0 does; "[::]"
 * takes IPv6 too. 0, or -EINVAL with *cause.
 */
int sg_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, char **cause);

#endif
