/*
 * sg_flags: the command line both daemons share. The options every daemon
 * has (listeners, TLS files, policy, API access, timeouts, logging, and the
 * --check-policy / --print-default-policy / --help / --version exits) are
 * parsed here, so that they mean the same on either; a daemon adds its own.
 */
#ifndef SG_FLAGS_H
#define SG_FLAGS_H

#include <getopt.h>
#include <stddef.h>

/* What the common options set. The daemon fills in its defaults first. */
struct sg_common_config {
	const char *listen;
	const char *health_listen;
	const char *tls_cert;
	const char *tls_key;
	const char *policy_path; /* NULL: the built-in default */
	const char *kubeconfig;	 /* NULL: in-cluster */
	int reload_interval_ms;
	int drain_timeout_ms;
	size_t max_body;
};

/* A daemon's own options use values from SG_OPT_OWN on. */
enum { SG_OPT_OWN = 512 };

struct sg_program {
	const char *name;	    /* "sandbox-guard-webhook" */
	const char *usage;	    /* --help text */
	const char *default_policy; /* for --print-default-policy */
	/* Loads the policy at path for --check-policy: 0, or -1 with *cause. */
	int (*check_policy)(const char *path, char **cause);
	/* The daemon's own options (ending in a zero entry) and their handler. */
	const struct option *options;
	/* Applies one own option to cfg (arg is argv's, may be edited): 0, or 2 after printing why.
	 */
	int (*option)(void *cfg, int opt, char *arg);
};

/*
 * Parses argv into c (common options) and cfg (through p->option).
 * Returns -1 when the daemon should run, or the status to exit with: 0
 * after --help, --version or --print-default-policy, 0 or 1 after
 * --check-policy, 2 for a usage error (already reported on stderr).
 */
int sg_flags_parse(const struct sg_program *p, struct sg_common_config *c, void *cfg, int argc,
		   char **argv);

/* "250ms", "2s" or "3" (seconds) in milliseconds, at most a day; -1 if invalid. */
long sg_flag_duration_ms(const char *s);

/* A whole number from 1 to max; -1 if invalid. */
long sg_flag_count(const char *s, long max);

/*
 * Prints "<program>: invalid --<flag> '<value>': <want>" on stderr and
 * returns 2, the exit status for a usage error.
 */
int sg_flag_invalid(const char *program, const char *flag, const char *value, const char *want);

#endif
