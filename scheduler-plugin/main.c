/*
 * sandbox-guard-extender: flags, then the daemon.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "policy.h"
#include "sg_flags.h"
#include "sg_log.h"

static const char program[] = "sandbox-guard-extender";

static const char usage[] =
	"usage: sandbox-guard-extender [options]\n"
	"\n"
	"kube-scheduler extender that places sandbox pods next to warm pods of their\n"
	"template (cold-start claims) and spreads warm-pool refills.\n"
	"\n"
	"  --listen=HOST:PORT         extender listener (default 0.0.0.0:8888)\n"
	"  --url-prefix=PATH          serve PATH/filter and PATH/prioritize (default: /filter,\n"
	"                             /prioritize)\n"
	"  --tls-cert=FILE            serve HTTPS with this certificate chain (reloaded on "
	"change)\n"
	"  --tls-key=FILE             and this key; without both, plain HTTP\n"
	"  --kubeconfig=FILE          API server access (default: in-cluster service account)\n"
	"  --policy=FILE              filter policy JSON or YAML, reloaded (default: built-in)\n"
	"  --health-listen=HOST:PORT  /healthz, /readyz, /metrics over HTTP (default "
	"0.0.0.0:8081)\n"
	"  --reload-interval=DUR      how often to check files for changes (default 2s)\n"
	"  --drain-timeout=DUR        longest wait for in-flight calls on SIGTERM (default 10s)\n"
	"  --max-body=BYTES           largest request body (default 67108864)\n"
	"  --max-staleness=DUR        unready when the inventory has not been confirmed by the\n"
	"                             API server for this long; 0 never (default 600s)\n"
	"  --max-connections=N        open connections; more are closed at once (default 1024)\n"
	"  --idle-timeout=DUR         keep-alive idle and per-read timeout (default 60s)\n"
	"  --request-timeout=DUR      a started request (on a new connection: the TLS\n"
	"                             handshake and first request) must arrive whole within\n"
	"                             this (default 10s)\n"
	"  --log-level=LEVEL          debug, info, warn or error (default info)\n"
	"  --check-policy=FILE        check a policy file and exit\n"
	"  --print-default-policy     print the built-in policy and exit\n"
	"  --help, --version\n"
	"\n"
	"Docs: docs/extender.md.\n";

enum { OPT_PREFIX = SG_OPT_OWN, OPT_STALENESS, OPT_MAX_CONNS, OPT_IDLE, OPT_REQUEST };

static const struct option options[] = {
	{"url-prefix", required_argument, NULL, OPT_PREFIX},
	{"max-staleness", required_argument, NULL, OPT_STALENESS},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNS},
	{"idle-timeout", required_argument, NULL, OPT_IDLE},
	{"request-timeout", required_argument, NULL, OPT_REQUEST},
	{NULL, 0, NULL, 0},
};

/* The listener's limits, the same flags as the webhook's. */
static int server_option(struct ex_config *c, int opt, char *arg)
{
	long v;

	if (opt == OPT_MAX_CONNS) {
		if ((v = sg_flag_count(arg, 1000000)) < 0)
			return sg_flag_invalid(program, "max-connections", arg, "1 to 1000000");
		c->max_conns = (int)v;
	} else if (opt == OPT_IDLE) {
		if ((v = sg_flag_duration_ms(arg)) < 1000)
			return sg_flag_invalid(program, "idle-timeout", arg, "at least 1s");
		c->io_timeout_ms = (int)v;
	} else {
		if ((v = sg_flag_duration_ms(arg)) < 100)
			return sg_flag_invalid(program, "request-timeout", arg, "at least 100ms");
		c->request_timeout_ms = (int)v;
	}
	return 0;
}

static int option(void *cfg, int opt, char *arg)
{
	struct ex_config *c = cfg;
	size_t n = strlen(arg);

	if (opt == OPT_MAX_CONNS || opt == OPT_IDLE || opt == OPT_REQUEST)
		return server_option(c, opt, arg);
	if (opt == OPT_STALENESS) {
		c->max_staleness_ms = sg_flag_duration_ms(arg);
		if (c->max_staleness_ms < 0)
			return sg_flag_invalid(program, "max-staleness", arg,
					       "a duration like 600s");
		return 0;
	}
	if (opt != OPT_PREFIX)
		return 0;
	/* "/x/" and "/x" mean the same; "/" means no prefix. */
	while (n > 0 && arg[n - 1] == '/')
		arg[--n] = '\0';
	if (arg[0] && arg[0] != '/')
		return sg_flag_invalid(program, "url-prefix", arg, "a path starting with /");
	c->url_prefix = arg;
	return 0;
}

static int check_policy(const char *path, char **cause)
{
	struct ex_policy *p = ex_policy_load(path, cause);

	ex_policy_free(p);
	return p ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct sg_program prog = {program,	     usage,   ex_default_policy_json,
					       check_policy, options, option};
	struct ex_config c;
	int rc;

	ex_config_init(&c);
	sg_log_set_component("extender");
	if ((rc = sg_flags_parse(&prog, &c.common, &c, argc, argv)) >= 0)
		return rc;
	if (!c.common.tls_cert != !c.common.tls_key) {
		fprintf(stderr, "sandbox-guard-extender: --tls-cert and --tls-key go together\n");
		return 2;
	}
	return ex_daemon_run(&c);
}
