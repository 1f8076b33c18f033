#include "sg_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sg_buf.h"
#include "sg_log.h"
#include "sg_metrics.h"
#include "sg_server.h"
#include "sg_watch.h"

/* TLS 1.2 suites: ECDHE only (forward secrecy), AEAD only. TLS 1.3 keeps OpenSSL's defaults. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/* Formats "<what>: <openssl error queue>" as a new string, and clears the queue. */
static char *ssl_cause(const char *what)
{
	struct sg_buf b;
	unsigned long e;
	char line[256];

	sg_buf_init(&b, 2048);
	sg_buf_puts(&b, what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, line, sizeof(line));
		sg_buf_printf(&b, ": %s", line);
	}
	return sg_buf_detach(&b);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* No overlap: go on without ALPN. */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *base_ctx(const SSL_METHOD *method, char **cause)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (!ctx) {
		*cause = ssl_cause("cannot create TLS context");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, tls12_ciphers)) {
		*cause = ssl_cause("cannot configure TLS versions and ciphers");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/*
	 * bufferevent_openssl needs partial writes and moving write buffers.
	 * SSL_MODE_RELEASE_BUFFERS frees the ~34 KB of record buffers of idle
	 * connections (the API server keeps many open). It once cost a quarter
	 * of a review's time, through malloc consolidation caused by cJSON's
	 * many small allocations; with reviews parsed into an arena it costs
	 * about 1% (measured with callgrind), so it stays on.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

SSL_CTX *sg_tls_server_ctx(const char *cert_path, const char *key_path, time_t *not_after,
			   char **cause)
{
	char what[512];
	SSL_CTX *ctx;
	X509 *leaf;

	ERR_clear_error();
	ctx = base_ctx(TLS_server_method(), cause);
	if (!ctx)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		snprintf(what, sizeof(what), "cannot load certificate chain '%s'", cert_path);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
		snprintf(what, sizeof(what), "cannot load private key '%s'", key_path);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "private key '%s' does not match certificate '%s'",
			 key_path, cert_path);
		goto fail;
	}
	leaf = SSL_CTX_get0_certificate(ctx);
	if (not_after && leaf) {
		struct tm tm;

		if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
			*not_after = timegm(&tm);
		else
			*not_after = 0;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	/*
	 * No SSL_CTX_set_read_ahead: it would save a read(2) per record, but
	 * bytes OpenSSL reads ahead are invisible to libevent 2.1's
	 * bufferevent_openssl, which then waits for a socket event that never
	 * comes (a keep-alive request stalls; the integration tests catch it).
	 */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"sandbox-guard", 13);
	return ctx;
fail:
	*cause = ssl_cause(what);
	SSL_CTX_free(ctx);
	return NULL;
}

#define MAX_ATTACHED 4

struct sg_certs {
	char *cert_path;
	char *key_path;
	SSL_CTX *ctx;
	time_t not_after;
	struct sg_watch *watch;
	struct sg_server *servers[MAX_ATTACHED];
	size_t nservers;
	struct sg_family *reloads;
};

static double not_after_fn(void *arg)
{
	return (double)((struct sg_certs *)arg)->not_after;
}

static void count(struct sg_certs *c, const char *result)
{
	const char *v[] = {result};

	sg_family_add(c->reloads, v, 1);
}

/* Reads the signatures of the certificate and key files into sigs[2]. */
static void read_sigs(const struct sg_certs *c, struct sg_filesig sigs[2])
{
	sg_filesig_read(c->cert_path, &sigs[0]);
	sg_filesig_read(c->key_path, &sigs[1]);
}

static void reload_cb(void *arg)
{
	struct sg_certs *c = arg;
	struct sg_filesig before[2], after[2];
	char *cause = NULL;
	time_t not_after = 0;
	SSL_CTX *ctx;

	read_sigs(c, before);
	ctx = sg_tls_server_ctx(c->cert_path, c->key_path, &not_after, &cause);
	if (!ctx) {
		/*
		 * The kubelet swaps a Secret volume's ..data link and then
		 * removes the old directory: between our reads of the two
		 * files that yields a certificate and key of different pairs,
		 * or a file gone. Files that changed during the load are no
		 * broken pair; the watch sees the change and loads them again.
		 */
		read_sigs(c, after);
		if (!sg_filesig_equal(&before[0], &after[0]) ||
		    !sg_filesig_equal(&before[1], &after[1])) {
			sg_log_info("serving certificate changed while being loaded; loading it "
				    "again at the next check");
			free(cause);
			return;
		}
		sg_log_error("keeping the current serving certificate: %s", cause);
		count(c, "failed");
		free(cause);
		return;
	}
	for (size_t i = 0; i < c->nservers; i++)
		sg_server_set_tls(c->servers[i], ctx);
	SSL_CTX_free(c->ctx);
	c->ctx = ctx;
	c->not_after = not_after;
	count(c, "ok");
	sg_log_info("serving certificate reloaded from '%s'", c->cert_path);
}

struct sg_certs *sg_certs_new(struct event_base *base, const char *cert_path, const char *key_path,
			      int interval_ms, struct sg_metrics *metrics, char **cause)
{
	static const char *const result[] = {"result"};
	struct sg_certs *c = calloc(1, sizeof(*c));
	const char *paths[2] = {cert_path, key_path};

	if (!c || !(c->cert_path = strdup(cert_path)) || !(c->key_path = strdup(key_path)))
		goto oom;
	/* Watch first: a change during the first load is then seen and retried. */
	c->watch = sg_watch_new(base, paths, 2, interval_ms, reload_cb, c);
	if (!c->watch)
		goto oom;
	c->ctx = sg_tls_server_ctx(cert_path, key_path, &c->not_after, cause);
	if (!c->ctx) {
		sg_certs_free(c);
		return NULL;
	}
	if (metrics) {
		c->reloads =
			sg_metrics_counter(metrics, "sandbox_guard_tls_reloads_total",
					   "Serving certificate reloads by result.", result, 1);
		if (!c->reloads ||
		    sg_metrics_gauge_fn(metrics, "sandbox_guard_tls_cert_not_after_seconds",
					"notAfter of the serving certificate, as a Unix time.",
					not_after_fn, c) != 0)
			goto oom;
	}
	return c;
oom:
	*cause = strdup("out of memory loading the serving certificate");
	sg_certs_free(c);
	return NULL;
}

int sg_certs_attach(struct sg_certs *c, struct sg_server *s)
{
	if (c->nservers >= MAX_ATTACHED)
		return -ENOSPC;
	c->servers[c->nservers++] = s;
	sg_server_set_tls(s, c->ctx);
	return 0;
}

SSL_CTX *sg_certs_ctx(const struct sg_certs *c)
{
	return c->ctx;
}

time_t sg_certs_not_after(const struct sg_certs *c)
{
	return c->not_after;
}

void sg_certs_free(struct sg_certs *c)
{
	if (!c)
		return;
	sg_watch_free(c->watch);
	SSL_CTX_free(c->ctx);
	free(c->cert_path);
	free(c->key_path);
	free(c);
}
