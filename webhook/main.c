/*
 * sandbox-guard-webhook: flags, then the daemon.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "policy.h"
#include "sg_flags.h"
#include "sg_log.h"

static const char program[] = "sandbox-guard-webhook";

static const char usage[] =
	"usage: sandbox-guard-webhook --tls-cert=FILE --tls-key=FILE [options]\n"
	"\n"
	"Admission webhook that runs Agent Sandbox pods under a sandboxed RuntimeClass,\n"
	"hardens them, and refuses what would weaken their isolation.\n"
	"\n"
	"  --listen=HOST:PORT         admission listener, HTTPS (default 0.0.0.0:8443)\n"
	"  --tls-cert=FILE            serving certificate chain, PEM; reloaded on change\n"
	"  --tls-key=FILE             its private key, PEM; reloaded on change\n"
	"  --policy=FILE              policy JSON, reloaded on change (default: built-in)\n"
	"  --health-listen=HOST:PORT  /healthz, /readyz, /metrics over HTTP (default "
	"0.0.0.0:8080)\n"
	"  --reload-interval=DUR      how often to check files for changes (default 2s)\n"
	"  --shutdown-delay=DUR       after SIGTERM, keep serving (unready) this long (default "
	"0s)\n"
	"  --drain-timeout=DUR        then the longest wait for in-flight reviews (default 20s)\n"
	"  --max-body=BYTES           largest request body; larger gets 413 (default 8388608)\n"
	"  --max-connections=N        open connections before accept pauses (default 4096)\n"
	"  --idle-timeout=DUR         keep-alive idle and per-read timeout (default 60s)\n"
	"  --request-timeout=DUR      a started request must arrive whole within (default 10s)\n"
	"  --network-reconciler       keep sandbox-guard's NetworkPolicy in every namespace with\n"
	"                             sandbox pods (needs API access; docs/network.md)\n"
	"  --network-gc               with it, delete that policy where no pod uses it any more\n"
	"  --kubeconfig=FILE          API access for the reconciler (default: in-cluster)\n"
	"  --log-level=LEVEL          debug, info, warn or error (default info)\n"
	"  --check-policy=FILE        check a policy file, print the problem if any, and exit\n"
	"  --print-default-policy     print the built-in policy and exit\n"
	"  --help                     this text\n"
	"  --version                  the version\n"
	"\n"
	"DUR is a number with ms or s (\"500ms\", \"2s\"). Docs: docs/webhook.md, "
	"docs/policy.md.\n";

enum {
	OPT_LISTEN = 256,
	OPT_CERT,
	OPT_KEY,
	OPT_POLICY,
	OPT_HEALTH,
	OPT_RELOAD,
	OPT_DRAIN,
	OPT_DELAY,
	OPT_MAX_BODY,
	OPT_MAX_CONNS,
	OPT_IDLE,
	OPT_REQUEST,
	OPT_LOG_LEVEL,
	OPT_RECONCILE,
	OPT_GC,
	OPT_KUBECONFIG,
	OPT_CHECK,
	OPT_PRINT,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option options[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"tls-cert", required_argument, NULL, OPT_CERT},
	{"tls-key", required_argument, NULL, OPT_KEY},
	{"policy", required_argument, NULL, OPT_POLICY},
	{"health-listen", required_argument, NULL, OPT_HEALTH},
	{"reload-interval", required_argument, NULL, OPT_RELOAD},
	{"drain-timeout", required_argument, NULL, OPT_DRAIN},
	{"shutdown-delay", required_argument, NULL, OPT_DELAY},
	{"max-body", required_argument, NULL, OPT_MAX_BODY},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNS},
	{"idle-timeout", required_argument, NULL, OPT_IDLE},
	{"request-timeout", required_argument, NULL, OPT_REQUEST},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"network-reconciler", no_argument, NULL, OPT_RECONCILE},
	{"network-gc", no_argument, NULL, OPT_GC},
	{"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
	{"check-policy", required_argument, NULL, OPT_CHECK},
	{"print-default-policy", no_argument, NULL, OPT_PRINT},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static int check_policy(const char *path)
{
	char *cause = NULL;
	struct wh_policy *p = wh_policy_load(path, &cause);

	if (!p) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return 1;
	}
	printf("%s: ok\n", path);
	wh_policy_free(p);
	return 0;
}

int main(int argc, char **argv)
{
	struct wh_config c;
	long v;
	int opt;

	wh_config_init(&c);
	sg_log_set_component("webhook");
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN:
			c.listen = optarg;
			break;
		case OPT_CERT:
			c.tls_cert = optarg;
			break;
		case OPT_KEY:
			c.tls_key = optarg;
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
						       "a duration like 20s");
			c.drain_timeout_ms = (int)v;
			break;
		case OPT_DELAY:
			if ((v = sg_flag_duration_ms(optarg)) < 0)
				return sg_flag_invalid(program, "shutdown-delay", optarg,
						       "a duration like 5s");
			c.shutdown_delay_ms = (int)v;
			break;
		case OPT_MAX_BODY:
			if ((v = sg_flag_count(optarg, 1L << 30)) < 0)
				return sg_flag_invalid(program, "max-body", optarg,
						       "bytes, 1 to 1073741824");
			c.max_body = (size_t)v;
			break;
		case OPT_MAX_CONNS:
			if ((v = sg_flag_count(optarg, 1000000)) < 0)
				return sg_flag_invalid(program, "max-connections", optarg,
						       "1 to 1000000");
			c.max_conns = (int)v;
			break;
		case OPT_IDLE:
			if ((v = sg_flag_duration_ms(optarg)) < 1000)
				return sg_flag_invalid(program, "idle-timeout", optarg,
						       "at least 1s");
			c.io_timeout_ms = (int)v;
			break;
		case OPT_REQUEST:
			if ((v = sg_flag_duration_ms(optarg)) < 100)
				return sg_flag_invalid(program, "request-timeout", optarg,
						       "at least 100ms");
			c.request_timeout_ms = (int)v;
			break;
		case OPT_LOG_LEVEL:
			if (sg_log_parse_level(optarg) < 0)
				return sg_flag_invalid(program, "log-level", optarg,
						       "debug, info, warn or error");
			sg_log_set_level((enum sg_log_level)sg_log_parse_level(optarg));
			break;
		case OPT_RECONCILE:
			c.reconcile = true;
			break;
		case OPT_GC:
			c.network_gc = true;
			break;
		case OPT_KUBECONFIG:
			c.kubeconfig = optarg;
			break;
		case OPT_CHECK:
			return check_policy(optarg);
		case OPT_PRINT:
			fputs(wh_default_policy_json, stdout);
			return 0;
		case OPT_HELP:
			fputs(usage, stdout);
			return 0;
		case OPT_VERSION:
			printf("sandbox-guard-webhook %s\n", SG_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sandbox-guard-webhook: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if ((c.network_gc || c.kubeconfig) && !c.reconcile) {
		fprintf(stderr, "sandbox-guard-webhook: --network-gc and --kubeconfig need "
				"--network-reconciler\n");
		return 2;
	}
	if (!c.tls_cert || !c.tls_key) {
		fprintf(stderr, "sandbox-guard-webhook: --tls-cert and --tls-key are required "
				"(certs/gen-dev-certs.sh makes a development pair)\n");
		return 2;
	}
	return wh_daemon_run(&c);
}
