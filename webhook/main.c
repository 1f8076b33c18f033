/*
 * sandbox-guard-webhook: flags, then the daemon.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "daemon.h"
#include "policy.h"
#include "sg_flags.h"
#include "sg_log.h"

static const char program[] = "sandbox-guard-webhook";

static const char usage[] =
	"usage: sandbox-guard-webhook --tls-cert=FILE --tls-key=FILE [options]\n"
	"       sandbox-guard-webhook check [options] FILE|DIR|- ...  (check --help)\n"
	"\n"
	"Admission webhook that runs Agent Sandbox pods under a sandboxed RuntimeClass,\n"
	"hardens them, and refuses what would weaken their isolation.\n"
	"\n"
	"  --listen=HOST:PORT         admission listener, HTTPS (default 0.0.0.0:8443)\n"
	"  --tls-cert=FILE            serving certificate chain, PEM; reloaded on change\n"
	"  --tls-key=FILE             its private key, PEM; reloaded on change\n"
	"  --policy=FILE              policy JSON or YAML, reloaded (default: built-in)\n"
	"  --health-listen=HOST:PORT  /healthz, /readyz, /metrics over HTTP (default "
	"0.0.0.0:8080)\n"
	"  --reload-interval=DUR      how often to check files for changes (default 2s)\n"
	"  --shutdown-delay=DUR       after SIGTERM, keep serving (unready) this long (default "
	"0s)\n"
	"  --drain-timeout=DUR        then the longest wait for in-flight reviews (default 20s)\n"
	"  --max-body=BYTES           largest request body; larger gets 413 (default 8388608)\n"
	"  --max-connections=N        open connections; more are closed at once (default 1024)\n"
	"  --idle-timeout=DUR         keep-alive idle and per-read timeout (default 60s)\n"
	"  --request-timeout=DUR      a started request (on a new connection: the TLS\n"
	"                             handshake too) must arrive whole within (default 10s)\n"
	"  --network-reconciler       keep sandbox-guard's NetworkPolicy in every namespace with\n"
	"                             sandbox pods (needs API access; docs/network.md)\n"
	"  --network-gc               with it, delete that policy where no pod uses it any more\n"
	"  --kubeconfig=FILE          API access (default: in-cluster, if there): to watch\n"
	"                             RuntimeClasses and for the reconciler; without any,\n"
	"                             the policy's RuntimeClass names are trusted\n"
	"  --log-level=LEVEL          debug, info, warn or error (default info)\n"
	"  --check-policy=FILE        check a policy file, print the problem if any, and exit\n"
	"  --print-default-policy     print the built-in policy and exit\n"
	"  --help                     this text\n"
	"  --version                  the version\n"
	"\n"
	"DUR is a number with ms or s (\"500ms\", \"2s\"). Docs: docs/webhook.md, "
	"docs/policy.md.\n";

enum {
	OPT_DELAY = SG_OPT_OWN,
	OPT_MAX_CONNS,
	OPT_IDLE,
	OPT_REQUEST,
	OPT_RECONCILE,
	OPT_GC,
};

static const struct option options[] = {
	{"shutdown-delay", required_argument, NULL, OPT_DELAY},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNS},
	{"idle-timeout", required_argument, NULL, OPT_IDLE},
	{"request-timeout", required_argument, NULL, OPT_REQUEST},
	{"network-reconciler", no_argument, NULL, OPT_RECONCILE},
	{"network-gc", no_argument, NULL, OPT_GC},
	{NULL, 0, NULL, 0},
};

static int option(void *cfg, int opt, char *arg)
{
	struct wh_config *c = cfg;
	long v;

	switch (opt) {
	case OPT_DELAY:
		if ((v = sg_flag_duration_ms(arg)) < 0)
			return sg_flag_invalid(program, "shutdown-delay", arg,
					       "a duration like 5s");
		c->shutdown_delay_ms = (int)v;
		break;
	case OPT_MAX_CONNS:
		if ((v = sg_flag_count(arg, 1000000)) < 0)
			return sg_flag_invalid(program, "max-connections", arg, "1 to 1000000");
		c->max_conns = (int)v;
		break;
	case OPT_IDLE:
		if ((v = sg_flag_duration_ms(arg)) < 1000)
			return sg_flag_invalid(program, "idle-timeout", arg, "at least 1s");
		c->io_timeout_ms = (int)v;
		break;
	case OPT_REQUEST:
		if ((v = sg_flag_duration_ms(arg)) < 100)
			return sg_flag_invalid(program, "request-timeout", arg, "at least 100ms");
		c->request_timeout_ms = (int)v;
		break;
	case OPT_RECONCILE:
		c->reconcile = true;
		break;
	case OPT_GC:
		c->network_gc = true;
		break;
	}
	return 0;
}

static int check_policy(const char *path, char **cause)
{
	struct wh_policy *p = wh_policy_load(path, cause);

	wh_policy_free(p);
	return p ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct sg_program prog = {program,	     usage,   wh_default_policy_json,
					       check_policy, options, option};
	struct wh_config c;
	int rc;

	/* The offline checker shares only the decision code with the daemon. */
	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return wh_check_main(argc - 1, argv + 1, stdout, stderr);
	wh_config_init(&c);
	sg_log_set_component("webhook");
	if ((rc = sg_flags_parse(&prog, &c.common, &c, argc, argv)) >= 0)
		return rc;
	if (c.network_gc && !c.reconcile) {
		fprintf(stderr, "sandbox-guard-webhook: --network-gc needs --network-reconciler\n");
		return 2;
	}
	if (!c.common.tls_cert || !c.common.tls_key) {
		fprintf(stderr, "sandbox-guard-webhook: --tls-cert and --tls-key are required "
				"(certs/gen-dev-certs.sh makes a development pair)\n");
		return 2;
	}
	return wh_daemon_run(&c);
}
