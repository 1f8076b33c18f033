/*
 * sg_kubeconfig: where the API client finds its server and credentials.
 *
 * Configuration comes from a kubeconfig (token, token file, client
 * certificate and CA, as files or inline data; exec plugins are not
 * supported) or, without one, from the pod's in-cluster service account.
 * The kubeconfig is YAML (or JSON), read through sg_yaml.
 */
#ifndef SG_KUBECONFIG_H
#define SG_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct sg_kube_config {
	char *server; /* https://host:port, no trailing slash */
	char *ca_pem; /* CA bundle (PEM), or NULL for the system store */
	size_t ca_len;
	bool insecure;	  /* insecure-skip-tls-verify */
	char *token;	  /* static bearer token, or NULL */
	char *token_file; /* read before each request, or NULL */
	char *cert_pem;	  /* client certificate (PEM), or NULL */
	size_t cert_len;
	char *key_pem; /* client key (PEM), or NULL */
	size_t key_len;
	char *source; /* where it came from, for messages */
};

/*
 * Loads a kubeconfig (its current context) or, with path NULL, the
 * in-cluster configuration. 0, or -1 with *cause. Release with
 * sg_kube_config_release.
 */
int sg_kube_config_load(const char *path, struct sg_kube_config *c, char **cause);
void sg_kube_config_release(struct sg_kube_config *c);

/*
 * The bearer token for one request: the token file's current content
 * (trailing white space dropped), else the static token. Returns a new
 * string the caller cleanses and frees, or NULL when there is none to send
 * (an unreadable or malformed token file is logged as a warning).
 */
char *sg_kube_config_token(const struct sg_kube_config *c);

#endif
