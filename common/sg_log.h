/*
 * sg_log: structured logs, one JSON object per line on stderr.
 *
 * A line is built field by field and written whole, so lines from one
 * process never interleave. Under load the lines of one event-loop turn are
 * batched into one write(2): sg_log_attach() hands the logger an event base,
 * and a flush runs once the turn's other callbacks are done. Without a base
 * (tools, tests, start-up) every line is written at once.
 *
 * Messages follow the git style: lowercase, no full stop, what is wrong first.
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sg_buf.h"

struct event_base;

enum sg_log_level {
	SG_LOG_DEBUG = 0,
	SG_LOG_INFO = 1,
	SG_LOG_WARN = 2,
	SG_LOG_ERROR = 3,
};

/* Sets the lowest level written. Default SG_LOG_INFO. */
void sg_log_set_level(enum sg_log_level level);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int sg_log_parse_level(const char *s);

/* True if a line at this level would be written. */
bool sg_log_enabled(enum sg_log_level level);

/* Names the component in every line ("webhook", "extender"). Not copied. */
void sg_log_set_component(const char *name);

/* Batches lines per loop turn on base; NULL returns to immediate writes. */
int sg_log_attach(struct event_base *base);

/* Writes out any batched lines now. */
void sg_log_flush(void);

/* A line under construction. */
struct sg_logline {
	struct sg_buf buf;
	bool on;     /* the level is enabled */
	bool cut;    /* a field did not fit; the rest are dropped */
	bool reused; /* buf is the logger's kept buffer */
};

/* Starts a line with time, level, component and msg. */
void sg_log_begin(struct sg_logline *l, enum sg_log_level level, const char *msg);

/* Adds fields; a NULL string value is written as JSON null. */
void sg_log_str(struct sg_logline *l, const char *key, const char *val);
void sg_log_strn(struct sg_logline *l, const char *key, const char *val, size_t n);
void sg_log_int(struct sg_logline *l, const char *key, int64_t val);
void sg_log_double(struct sg_logline *l, const char *key, double val);
void sg_log_bool(struct sg_logline *l, const char *key, bool val);

/* Finishes the line, writes or queues it, and frees its storage. */
void sg_log_end(struct sg_logline *l);

/* One-shot lines with a printf-style message. */
void sg_log(enum sg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define sg_log_debug(...) sg_log(SG_LOG_DEBUG, __VA_ARGS__)
#define sg_log_info(...)  sg_log(SG_LOG_INFO, __VA_ARGS__)
#define sg_log_warn(...)  sg_log(SG_LOG_WARN, __VA_ARGS__)
#define sg_log_error(...) sg_log(SG_LOG_ERROR, __VA_ARGS__)

/* Releases the logger's resources after a final flush. */
void sg_log_shutdown(void);

#endif
