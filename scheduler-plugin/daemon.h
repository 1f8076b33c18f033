/*
 * daemon: sandbox-guard-extender's running state: the API client and its
 * two informers (sandbox pods, nodes), the inventory, the policy, the
 * extender listener (HTTP, or HTTPS with --tls-cert), the health listener
 * and the shutdown sequence. /readyz turns ready after the first complete
 * list of pods and of nodes.
 */
#ifndef EX_DAEMON_H
#define EX_DAEMON_H

#include <stddef.h>

#include "sg_flags.h"

struct ex_config {
	struct sg_common_config common; /* no tls_cert: plain HTTP */
	const char *url_prefix;		/* routes are <prefix>/filter and <prefix>/prioritize */
	long max_staleness_ms;		/* unready when the inventory is older; 0: never */
	int max_conns;			/* open connections; more are closed at once */
	int io_timeout_ms;		/* keep-alive idle, and each read or write */
	int request_timeout_ms;		/* a connection's first request, or a started one */
};

void ex_config_init(struct ex_config *c);

/* Runs until SIGTERM/SIGINT. 0 after a clean shutdown, 1 if start-up failed. */
int ex_daemon_run(const struct ex_config *c);

#endif
