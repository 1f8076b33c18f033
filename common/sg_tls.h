/*
 * sg_tls: server TLS contexts built from PEM files.
 *
 * A context is built whole from a certificate chain and a private key and
 * checked before anyone uses it, so a reload either yields a complete,
 * matching pair or nothing (the caller keeps the old one). Only TLS 1.2 and
 * 1.3 are offered, with forward-secret AEAD suites, and ALPN selects
 * http/1.1 (the API server never asks for h2 from webhooks; the scheduler
 * offers both and falls back).
 */
#ifndef SG_TLS_H
#define SG_TLS_H

#include <time.h>

#include <openssl/ssl.h>

/*
 * Builds a server context from cert_path (PEM chain, leaf first) and
 * key_path (PEM private key). On success returns the context (the caller
 * owns one reference: SSL_CTX_free) and stores the leaf's notAfter as a
 * Unix time in *not_after when not_after is not NULL. On failure returns
 * NULL and sets *cause to a new message the caller frees.
 */
SSL_CTX *sg_tls_server_ctx(const char *cert_path, const char *key_path, time_t *not_after,
			   char **cause);

struct event_base;
struct sg_server;
struct sg_metrics;
struct sg_family;

/*
 * A serving certificate that follows its files. It loads the pair, hands
 * it to the server, and polls the files (see sg_watch): when they change it
 * builds a new context and swaps it in, so new handshakes use the new pair
 * while open connections keep theirs. A new pair that fails to load or to
 * match is logged and counted, and the old one stays.
 */
struct sg_certs;

/*
 * Loads cert_path/key_path and starts watching them every interval_ms.
 * metrics may be NULL; otherwise it gains sandbox_guard_tls_reloads_total
 * {result} and sandbox_guard_tls_cert_not_after_seconds. Returns NULL with
 * *cause when the first load fails.
 */
struct sg_certs *sg_certs_new(struct event_base *base, const char *cert_path, const char *key_path,
			      int interval_ms, struct sg_metrics *metrics, char **cause);

/* Attaches a server: it gets the current context now and every new one. At most 4. */
int sg_certs_attach(struct sg_certs *c, struct sg_server *s);

/* The current context (borrowed) and the leaf's notAfter. */
SSL_CTX *sg_certs_ctx(const struct sg_certs *c);
time_t sg_certs_not_after(const struct sg_certs *c);

/* Stops watching and drops the context. NULL is a no-op. */
void sg_certs_free(struct sg_certs *c);

#endif
