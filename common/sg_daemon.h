/*
 * sg_daemon: the life of a daemon process around its event loop.
 *
 * sg_daemon_run() makes the loop, has the daemon build itself on it, logs
 * through it, and runs it until the daemon stops it. The first SIGTERM or
 * SIGINT goes to the daemon (to drain and then call event_base_loopexit);
 * a second one ends the loop at once. Whatever happens, the daemon's stop
 * hook frees what start built, even after a start that failed half-way.
 */
#ifndef SG_DAEMON_H
#define SG_DAEMON_H

struct event_base;

struct sg_daemon_ops {
	/* Builds the daemon on base: 0, or -1 with *cause (malloc'd) set. */
	int (*start)(void *arg, struct event_base *base, char **cause);
	/* After a good start, before the loop runs: the start-up log line. */
	void (*started)(void *arg);
	/* The first SIGTERM or SIGINT. */
	void (*signal)(void *arg, int sig);
	/* Frees everything start made; safe on a half-made daemon. */
	void (*stop)(void *arg);
};

/* Runs the daemon to its end: 0, or 1 if it could not start. */
int sg_daemon_run(const struct sg_daemon_ops *ops, void *arg);

#endif
