#include "sg_flags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_log.h"

enum {
	OPT_LISTEN = 256,
	OPT_HEALTH,
	OPT_CERT,
	OPT_KEY,
	OPT_POLICY,
	OPT_KUBECONFIG,
	OPT_RELOAD,
	OPT_DRAIN,
	OPT_MAX_BODY,
	OPT_LOG_LEVEL,
	OPT_CHECK,
	OPT_PRINT,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option common[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"health-listen", required_argument, NULL, OPT_HEALTH},
	{"tls-cert", required_argument, NULL, OPT_CERT},
	{"tls-key", required_argument, NULL, OPT_KEY},
	{"policy", required_argument, NULL, OPT_POLICY},
	{"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
	{"reload-interval", required_argument, NULL, OPT_RELOAD},
	{"drain-timeout", required_argument, NULL, OPT_DRAIN},
	{"max-body", required_argument, NULL, OPT_MAX_BODY},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"check-policy", required_argument, NULL, OPT_CHECK},
	{"print-default-policy", no_argument, NULL, OPT_PRINT},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
};

#define NCOMMON (sizeof(common) / sizeof(common[0]))

long sg_flag_duration_ms(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !(v >= 0))
		return -1;
	if (strcmp(end, "s") == 0 || *end == '\0')
		v *= 1000;
	else if (strcmp(end, "ms") != 0)
		return -1;
	return v > 86400000 ? -1 : (long)v;
}

long sg_flag_count(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return (end == s || *end || errno || v <= 0 || v > max) ? -1 : v;
}

int sg_flag_invalid(const char *program, const char *flag, const char *value, const char *want)
{
	fprintf(stderr, "%s: invalid --%s '%s': %s\n", program, flag, value, want);
	return 2;
}

static int check_policy(const struct sg_program *p, const char *path)
{
	char *cause = NULL;

	if (p->check_policy(path, &cause) != 0) {
		fprintf(stderr, "%s\n", cause ? cause : "out of memory");
		free(cause);
		return 1;
	}
	printf("%s: ok\n", path);
	return 0;
}

/* One common option: -1 to go on, or the exit status. */
static int common_option(const struct sg_program *p, struct sg_common_config *c, int opt,
			 const char *arg)
{
	long v;

	switch (opt) {
	case OPT_LISTEN:
		c->listen = arg;
		return -1;
	case OPT_HEALTH:
		c->health_listen = arg;
		return -1;
	case OPT_CERT:
		c->tls_cert = arg;
		return -1;
	case OPT_KEY:
		c->tls_key = arg;
		return -1;
	case OPT_POLICY:
		c->policy_path = arg;
		return -1;
	case OPT_KUBECONFIG:
		c->kubeconfig = arg;
		return -1;
	case OPT_RELOAD:
		if ((v = sg_flag_duration_ms(arg)) < 100)
			return sg_flag_invalid(p->name, "reload-interval", arg, "at least 100ms");
		c->reload_interval_ms = (int)v;
		return -1;
	case OPT_DRAIN:
		if ((v = sg_flag_duration_ms(arg)) < 0)
			return sg_flag_invalid(p->name, "drain-timeout", arg,
					       "a duration like 10s");
		c->drain_timeout_ms = (int)v;
		return -1;
	case OPT_MAX_BODY:
		if ((v = sg_flag_count(arg, 1L << 30)) < 0)
			return sg_flag_invalid(p->name, "max-body", arg, "bytes, 1 to 1073741824");
		c->max_body = (size_t)v;
		return -1;
	case OPT_LOG_LEVEL:
		if (sg_log_parse_level(arg) < 0)
			return sg_flag_invalid(p->name, "log-level", arg,
					       "debug, info, warn or error");
		sg_log_set_level((enum sg_log_level)sg_log_parse_level(arg));
		return -1;
	case OPT_CHECK:
		return check_policy(p, arg);
	case OPT_PRINT:
		fputs(p->default_policy, stdout);
		return 0;
	case OPT_HELP:
		fputs(p->usage, stdout);
		return 0;
	case OPT_VERSION:
		printf("%s %s\n", p->name, SG_VERSION);
		return 0;
	default:
		fputs(p->usage, stderr);
		return 2;
	}
}

int sg_flags_parse(const struct sg_program *p, struct sg_common_config *c, void *cfg, int argc,
		   char **argv)
{
	struct option *all;
	size_t nown = 0;
	int opt, rc = -1;

	while (p->options && p->options[nown].name)
		nown++;
	all = calloc(NCOMMON + nown + 1, sizeof(*all));
	if (!all) {
		fprintf(stderr, "%s: out of memory\n", p->name);
		return 1;
	}
	memcpy(all, common, sizeof(common));
	if (nown)
		memcpy(all + NCOMMON, p->options, nown * sizeof(*all));
	optind = 1;
	while (rc < 0 && (opt = getopt_long(argc, argv, "", all, NULL)) != -1) {
		if (opt >= SG_OPT_OWN)
			rc = p->option(cfg, opt, optarg) ? 2 : -1;
		else
			rc = common_option(p, c, opt, optarg);
	}
	free(all);
	if (rc < 0 && optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", p->name, argv[optind]);
		rc = 2;
	}
	return rc;
}
