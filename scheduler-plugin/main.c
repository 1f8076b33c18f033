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
	"  --policy=FILE              filter policy JSON, reloaded on change (default: built-in)\n"
	"  --health-listen=HOST:PORT  /healthz, /readyz, /metrics over HTTP (default "
	"0.0.0.0:8081)\n"
	"  --reload-interval=DUR      how often to check files for changes (default 2s)\n"
	"  --drain-timeout=DUR        longest wait for in-flight calls on SIGTERM (default 10s)\n"
	"  --max-body=BYTES           largest request body (default 67108864)\n"
	"  --log-level=LEVEL          debug, info, warn or error (default info)\n"
	"  --check-policy=FILE        check a policy file and exit\n"
	"  --print-default-policy     print the built-in policy and exit\n"
	"  --help, --version\n"
	"\n"
	"Docs: docs/extender.md.\n";

enum {
	OPT_LISTEN = 256,
	OPT_PREFIX,
	OPT_CERT,
	OPT_KEY,
	OPT_KUBECONFIG,
	OPT_POLICY,
	OPT_HEALTH,
	OPT_RELOAD,
	OPT_DRAIN,
	OPT_MAX_BODY,
	OPT_LOG_LEVEL,
	OPT_CHECK,
	OPT_PRINT,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option options[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"url-prefix", required_argument, NULL, OPT_PREFIX},
	{"tls-cert", required_argument, NULL, OPT_CERT},
	{"tls-key", required_argument, NULL, OPT_KEY},
	{"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
	{"policy", required_argument, NULL, OPT_POLICY},
	{"health-listen", required_argument, NULL, OPT_HEALTH},
	{"reload-interval", required_argument, NULL, OPT_RELOAD},
	{"drain-timeout", required_argument, NULL, OPT_DRAIN},
	{"max-body", required_argument, NULL, OPT_MAX_BODY},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"check-policy", required_argument, NULL, OPT_CHECK},
	{"print-default-policy", no_argument, NULL, OPT_PRINT},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static int check_policy(const char *path)
{
	char *cause = NULL;
	struct ex_policy *p = ex_policy_load(path, &cause);

	if (!p) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return 1;
	}
	printf("%s: ok\n", path);
	ex_policy_free(p);
	return 0;
}

int main(int argc, char **argv)
{
	struct ex_config c;
	long v;
	int opt;

	ex_config_init(&c);
	sg_log_set_component("extender");
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN:
			c.listen = optarg;
			break;
		case OPT_PREFIX:
			/* "/x/" and "/x" mean the same; "/" means no prefix. */
			while (strlen(optarg) > 0 && optarg[strlen(optarg) - 1] == '/')
				optarg[strlen(optarg) - 1] = '\0';
			if (optarg[0] && optarg[0] != '/')
				return sg_flag_invalid(program, "url-prefix", optarg,
						       "a path starting with /");
			c.url_prefix = optarg;
			break;
		case OPT_CERT:
			c.tls_cert = optarg;
			break;
		case OPT_KEY:
			c.tls_key = optarg;
			break;
		case OPT_KUBECONFIG:
			c.kubeconfig = optarg;
			break;
		case OPT_POLICY:
			c.policy_path = optarg;
			break;
		case OPT_HEALTH:
			c.health_listen = optarg;
			break;
		case OPT_RELOAD:
			if ((v = sg_flag_duration_ms(optarg)) < 100)
				return sg_flag_invalid(program, "reload-interval", optarg,
						       "at least 100ms");
			c.reload_interval_ms = (int)v;
			break;
		case OPT_DRAIN:
			if ((v = sg_flag_duration_ms(optarg)) < 0)
				return sg_flag_invalid(program, "drain-timeout", optarg,
						       "a duration like 10s");
			c.drain_timeout_ms = (int)v;
			break;
		case OPT_MAX_BODY:
			if ((v = sg_flag_count(optarg, 1L << 30)) < 0)
				return sg_flag_invalid(program, "max-body", optarg,
						       "bytes, 1 to 1073741824");
			c.max_body = (size_t)v;
			break;
		case OPT_LOG_LEVEL:
			if (sg_log_parse_level(optarg) < 0)
				return sg_flag_invalid(program, "log-level", optarg,
						       "debug, info, warn or error");
			sg_log_set_level((enum sg_log_level)sg_log_parse_level(optarg));
			break;
		case OPT_CHECK:
			return check_policy(optarg);
		case OPT_PRINT:
			fputs(ex_default_policy_json, stdout);
			return 0;
		case OPT_HELP:
			fputs(usage, stdout);
			return 0;
		case OPT_VERSION:
			printf("sandbox-guard-extender %s\n", SG_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sandbox-guard-extender: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!c.tls_cert != !c.tls_key) {
		fprintf(stderr, "sandbox-guard-extender: --tls-cert and --tls-key go together\n");
		return 2;
	}
	return ex_daemon_run(&c);
}
