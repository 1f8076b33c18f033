#include "sg_kubeconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sg_buf.h"
#include "sg_json.h"
#include "sg_log.h"
#include "sg_yaml.h"

#define SA_DIR	 "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_FILE (4u << 20)

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

char *sg_kube_config_token(const struct sg_kube_config *c)
{
	if (c->token_file) {
		char *t = read_file(c->token_file, NULL);
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
				    c->token_file);
			return NULL;
		}
		sg_log_warn("cannot read token file '%s': %s", c->token_file, strerror(errno));
	}
	return c->token && token_ok(c->token) ? strdup(c->token) : NULL;
}
