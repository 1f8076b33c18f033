/*
 * daemon: sandbox-guard-webhook's running state.
 *
 * Owns the policy (reloaded when its file changes), the serving
 * certificate (reloaded likewise), the HTTPS listener with /mutate and
 * /validate, the health listener, the metrics, and the shutdown sequence:
 * on SIGTERM or SIGINT readiness turns false, the HTTPS listener drains
 * (in-flight reviews are answered), then the loop ends and the process
 * exits 0.
 */
#ifndef WH_DAEMON_H
#define WH_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "sg_flags.h"

struct wh_config {
	struct sg_common_config common; /* kubeconfig: for the reconciler */
	int shutdown_delay_ms;		/* keep serving this long after SIGTERM, unready */
	int max_conns;
	int io_timeout_ms;
	int request_timeout_ms;
	bool reconcile;	 /* run the network-policy reconciler */
	bool network_gc; /* and delete policies no pod needs */
};

void wh_config_init(struct wh_config *c);

/*
 * Runs the webhook until it is told to stop. Returns the process exit
 * status: 0 after a clean shutdown, 1 when start-up failed (the reason is
 * logged).
 */
int wh_daemon_run(const struct wh_config *c);

#endif
