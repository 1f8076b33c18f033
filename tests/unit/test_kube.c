#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "sg_kube.h"

static char dir[] = "/tmp/sg-kube-XXXXXX";

static void setup(void)
{
	temp_dir_make(dir);
}

static void teardown(void)
{
	temp_dir_remove(dir);
}

TestSuite(kube, .init = setup, .fini = teardown);

static void write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(const char *name, struct sg_kube_config *c, char **cause)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*cause = NULL;
	return sg_kube_config_load(path, c, cause);
}

Test(kube, kubeconfig_with_files_relative_to_it)
{
	struct sg_kube_config c;
	char *cause;

	write_file("ca.pem", "CA PEM\n");
	write_file("kc", "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
			 "clusters:\n- name: one\n  cluster:\n    server: https://a:1\n"
			 "- name: two\n  cluster:\n    server: https://b:2/\n"
			 "    certificate-authority: ca.pem\n"
			 "contexts:\n- name: a\n  context: {cluster: one}\n"
			 "- name: b\n  context:\n    cluster: two\n    user: u\n"
			 "users:\n- name: u\n  user:\n    token: sekret\n");
	/* "context: {cluster: one}" is a flow mapping: YAML, read like the rest. */
	cr_assert_eq(load("kc", &c, &cause), 0, "%s", cause);
	cr_assert_str_eq(c.server, "https://b:2");
	sg_kube_config_release(&c);
	/* A YAML error names the line. */
	write_file("kc", "apiVersion: v1\nclusters:\n- name: one\n  cluster: [\n");
	cr_assert_neq(load("kc", &c, &cause), 0);
	cr_assert(strstr(cause, "line 5"), "%s", cause);
	free(cause);
	write_file("kc", "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
			 "clusters:\n- name: two\n  cluster:\n    server: https://b:2/\n"
			 "    certificate-authority: ca.pem\n"
			 "contexts:\n- name: b\n  context:\n    cluster: two\n    user: u\n"
			 "users:\n- name: u\n  user:\n    token: sekret\n");
	cr_assert_eq(load("kc", &c, &cause), 0, "%s", cause);
	cr_assert_str_eq(c.server, "https://b:2");
	cr_assert_str_eq(c.ca_pem, "CA PEM\n");
	cr_assert_str_eq(c.token, "sekret");
	sg_kube_config_release(&c);
}

Test(kube, kubeconfig_inline_data_and_client_certificates)
{
	struct sg_kube_config c;
	char *cause;

	/* "Q0VSVA==" is CERT, "S0VZ" is KEY, "Q0E=" is CA. */
	write_file("kc", "clusters:\n- name: c\n  cluster:\n    server: https://x\n"
			 "    certificate-authority-data: Q0E=\n"
			 "    insecure-skip-tls-verify: true\n"
			 "contexts:\n- name: only\n  context:\n    cluster: c\n    user: u\n"
			 "users:\n- name: u\n  user:\n    client-certificate-data: Q0VSVA==\n"
			 "    client-key-data: S0VZ\n");
	cr_assert_eq(load("kc", &c, &cause), 0, "%s", cause);
	cr_assert_str_eq(c.ca_pem, "CA");
	cr_assert_eq(c.ca_len, 2);
	cr_assert_str_eq(c.cert_pem, "CERT");
	cr_assert_str_eq(c.key_pem, "KEY");
	cr_assert(c.insecure);
	sg_kube_config_release(&c);
}

static void expect_error(const char *text, const char *needle)
{
	struct sg_kube_config c;
	char *cause;

	write_file("kc", text);
	cr_assert_neq(load("kc", &c, &cause), 0, "accepted: %s", text);
	cr_assert(strstr(cause, needle), "'%s' not in '%s'", needle, cause);
	free(cause);
}

Test(kube, kubeconfig_errors_say_what_is_wrong)
{
	expect_error("kind: Config\n", "no current-context");
	expect_error("current-context: x\ncontexts: []\n", "context 'x' not found");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context:\n    cluster: c\n",
		     "has no server");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context:\n    cluster: c\n"
		     "    user: u\nclusters:\n- name: c\n  cluster:\n    server: https://s\n"
		     "users:\n- name: u\n  user:\n    exec:\n      command: aws\n",
		     "exec or auth-provider plugin");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context:\n    cluster: c\n"
		     "clusters:\n- name: c\n  cluster:\n    server: https://s\n"
		     "    certificate-authority: /nonexistent/ca\n",
		     "cannot read certificate-authority '/nonexistent/ca'");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context:\n    cluster: c\n"
		     "clusters:\n- name: c\n  cluster:\n    server: https://s\n"
		     "    certificate-authority-data: '!!!'\n",
		     "not valid base64");
}

/* kubeconfig is YAML, and JSON is YAML: a JSON file's bool must count too. */
Test(kube, json_kubeconfig_with_a_real_bool)
{
	struct sg_kube_config c;
	char *cause;

	write_file(
		"kc.json",
		"{\"current-context\":\"x\",\"contexts\":[{\"name\":\"x\",\"context\":"
		"{\"cluster\":\"c\",\"user\":\"u\"}}],\"clusters\":[{\"name\":\"c\","
		"\"cluster\":{\"server\":\"https://s:6443/\",\"insecure-skip-tls-verify\":true}}],"
		"\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"abc\"}}]}");
	cr_assert_eq(load("kc.json", &c, &cause), 0, "%s", cause);
	cr_assert(c.insecure);
	cr_assert_str_eq(c.server, "https://s:6443");
	cr_assert_str_eq(c.token, "abc");
	sg_kube_config_release(&c);
}

/* A token is sent in a header line: a CR/LF in it would smuggle headers. */
Test(kube, token_that_is_not_a_header_value_is_refused)
{
	expect_error("current-context: x\ncontexts:\n- name: x\n  context:\n    cluster: c\n"
		     "    user: u\nclusters:\n- name: c\n  cluster:\n    server: https://s\n"
		     "users:\n- name: u\n  user:\n    token: \"abc\\r\\nX-Evil: 1\"\n",
		     "not printable ASCII");
}

Test(kube, in_cluster_configuration)
{
	struct sg_kube_config c;
	char *cause = NULL;

	write_file("ca.crt", "CA\n");
	write_file("token", "tok\n");
	setenv("SG_SERVICEACCOUNT_DIR", dir, 1);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	cr_assert_eq(sg_kube_config_load(NULL, &c, &cause), 0, "%s", cause);
	cr_assert_str_eq(c.server, "https://[fd00::1]:443");
	cr_assert_str_eq(c.ca_pem, "CA\n");
	cr_assert(strstr(c.token_file, "/token"));
	sg_kube_config_release(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	cr_assert_neq(sg_kube_config_load(NULL, &c, &cause), 0);
	cr_assert(strstr(cause, "not running in a cluster"));
	free(cause);
}

Test(kube, query_add_escapes_label_selectors)
{
	struct sg_buf b;

	sg_buf_init(&b, 4096);
	cr_assert_eq(sg_buf_puts(&b, "/api/v1/pods"), 0);
	cr_assert_eq(sg_kube_query_add(&b, "labelSelector",
				       "agents.x-k8s.io/a b=c,!sandbox-guard.io/x,tier in (a, b)"),
		     0);
	/* The second parameter joins with '&'; '~' and '.' stay as they are. */
	cr_assert_eq(sg_kube_query_add(&b, "continue", "eyJ2~.x+y"), 0);
	cr_assert_str_eq(b.data, "/api/v1/pods?labelSelector=agents.x-k8s.io%2Fa%20b%3Dc%2C%21"
				 "sandbox-guard.io%2Fx%2Ctier%20in%20%28a%2C%20b%29"
				 "&continue=eyJ2~.x%2By");
	sg_buf_release(&b);
}

Test(kube, query_add_past_the_cap_leaves_the_path_alone)
{
	struct sg_buf b;

	sg_buf_init(&b, 16);
	cr_assert_eq(sg_buf_puts(&b, "/api/v1/pods"), 0);
	cr_assert_eq(sg_kube_query_add(&b, "labelSelector", "////////"), -E2BIG);
	cr_assert_str_eq(b.data, "/api/v1/pods");
	sg_buf_release(&b);
}
