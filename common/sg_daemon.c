#include "sg_daemon.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

#include <event2/event.h>

#include "sg_log.h"
#include "sg_server.h"

struct daemon {
	const struct sg_daemon_ops *ops;
	void *arg;
	struct event_base *base;
	bool signalled;
};

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (d->signalled) {
		sg_log_warn("second signal %d: exiting without waiting", (int)sig);
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->signalled = true;
	d->ops->signal(d->arg, (int)sig);
}

int sg_daemon_run(const struct sg_daemon_ops *ops, void *arg)
{
	struct daemon d = {ops, arg, NULL, false};
	struct event *term = NULL, *intr = NULL;
	char *cause = NULL;
	int rc = 0;

	signal(SIGPIPE, SIG_IGN);
	d.base = sg_event_base_new();
	if (!d.base) {
		sg_log_error("cannot create the event loop");
		return 1;
	}
	sg_log_attach(d.base);
	term = evsignal_new(d.base, SIGTERM, signal_cb, &d);
	intr = evsignal_new(d.base, SIGINT, signal_cb, &d);
	if (!term || !intr || event_add(term, NULL) || event_add(intr, NULL)) {
		sg_log_error("cannot start: cannot install signal handlers");
		rc = 1;
	} else if (ops->start(arg, d.base, &cause) != 0) {
		sg_log_error("cannot start: %s", cause ? cause : "unknown error");
		free(cause);
		rc = 1;
	} else {
		ops->started(arg);
		event_base_dispatch(d.base);
		sg_log_info("stopped");
	}
	ops->stop(arg);
	if (term)
		event_free(term);
	if (intr)
		event_free(intr);
	sg_log_attach(NULL);
	event_base_free(d.base);
	sg_log_shutdown();
	return rc;
}
