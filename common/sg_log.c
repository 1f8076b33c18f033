#include "sg_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/* A single line longer than this is cut; a batch longer than this is flushed early. */
#define LINE_MAX_BYTES	(16 * 1024)
#define BATCH_MAX_BYTES (256 * 1024)

static enum sg_log_level min_level = SG_LOG_INFO;
static const char *component = "sandbox-guard";
static struct sg_buf batch = {NULL, 0, 0, BATCH_MAX_BYTES};
static struct event *flush_ev;
/* Lines are built one at a time; their buffer is kept between lines. */
static struct sg_buf line_buf = {NULL, 0, 0, LINE_MAX_BYTES};
static bool line_buf_busy;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void sg_log_set_level(enum sg_log_level level)
{
	min_level = level;
}

int sg_log_parse_level(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

bool sg_log_enabled(enum sg_log_level level)
{
	return level >= min_level;
}

void sg_log_set_component(const char *name)
{
	component = name;
}

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* Nowhere left to report a failing stderr. */
		}
		p += w;
		n -= (size_t)w;
	}
}

void sg_log_flush(void)
{
	if (batch.len) {
		write_all(batch.data, batch.len);
		sg_buf_reset(&batch);
	}
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sg_log_flush();
}

int sg_log_attach(struct event_base *base)
{
	if (flush_ev) {
		sg_log_flush();
		event_free(flush_ev);
		flush_ev = NULL;
	}
	if (!base)
		return 0;
	flush_ev = event_new(base, -1, 0, flush_cb, NULL);
	return flush_ev ? 0 : -ENOMEM;
}

void sg_log_shutdown(void)
{
	sg_log_attach(NULL);
	sg_log_flush();
	sg_buf_release(&batch);
	sg_buf_release(&line_buf);
}

/* Formats the time as 2026-11-28T10:00:00.123456Z; the date part is cached per second. */
static size_t format_time(char *out)
{
	static time_t cached_sec = -1;
	static char cached[32];
	struct timespec ts;
	long us;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S.", &tm);
		cached_sec = ts.tv_sec;
	}
	memcpy(out, cached, 20);
	us = ts.tv_nsec / 1000;
	for (int i = 25; i >= 20; i--) {
		out[i] = (char)('0' + us % 10);
		us /= 10;
	}
	out[26] = 'Z';
	out[27] = '\0';
	return 27;
}

void sg_log_begin(struct sg_logline *l, enum sg_log_level level, const char *msg)
{
	char when[32];

	l->on = sg_log_enabled(level);
	l->cut = false;
	l->reused = false;
	sg_buf_init(&l->buf, LINE_MAX_BYTES);
	if (!l->on)
		return;
	if (!line_buf_busy) {
		l->buf = line_buf;
		l->buf.max = LINE_MAX_BYTES;
		sg_buf_reset(&l->buf);
		l->reused = true;
		line_buf_busy = true;
	}
	sg_buf_puts(&l->buf, "{\"ts\":\"");
	sg_buf_append(&l->buf, when, format_time(when));
	sg_buf_puts(&l->buf, "\",\"level\":\"");
	sg_buf_puts(&l->buf, level_names[level]);
	sg_buf_puts(&l->buf, "\",\"component\":");
	sg_buf_json_str(&l->buf, component);
	sg_buf_puts(&l->buf, ",\"msg\":");
	sg_buf_json_str(&l->buf, msg);
}

/*
 * Every field is written whole or not at all: a field that would pass the
 * line cap is rolled back and the line is marked truncated, so what is
 * written is always valid JSON.
 */
static size_t field_begin(struct sg_logline *l, const char *k)
{
	size_t mark = l->buf.len;

	if (sg_buf_putc(&l->buf, ',') || sg_buf_json_str(&l->buf, k) || sg_buf_putc(&l->buf, ':'))
		l->cut = true;
	return mark;
}

static void field_end(struct sg_logline *l, size_t mark, int rc)
{
	if (rc == 0 && !l->cut)
		return;
	l->cut = true;
	l->buf.len = mark;
	if (l->buf.data)
		l->buf.data[mark] = '\0';
}

void sg_log_strn(struct sg_logline *l, const char *k, const char *val, size_t n)
{
	size_t mark;

	if (!l->on || l->cut)
		return;
	mark = field_begin(l, k);
	field_end(l, mark,
		  val ? sg_buf_json_string(&l->buf, val, n) : sg_buf_puts(&l->buf, "null"));
}

void sg_log_str(struct sg_logline *l, const char *k, const char *val)
{
	sg_log_strn(l, k, val, val ? strlen(val) : 0);
}

void sg_log_int(struct sg_logline *l, const char *k, int64_t val)
{
	char digits[24], *d = digits + sizeof(digits);
	uint64_t u = val < 0 ? (uint64_t)0 - (uint64_t)val : (uint64_t)val;
	size_t mark;

	if (!l->on || l->cut)
		return;
	/* Per-review lines carry several integers; printf is the slow way to write them. */
	do {
		*--d = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (val < 0)
		*--d = '-';
	mark = field_begin(l, k);
	field_end(l, mark, sg_buf_append(&l->buf, d, (size_t)(digits + sizeof(digits) - d)));
}

void sg_log_double(struct sg_logline *l, const char *k, double val)
{
	size_t mark;

	if (!l->on || l->cut)
		return;
	mark = field_begin(l, k);
	field_end(l, mark, sg_buf_printf(&l->buf, "%.6g", val));
}

void sg_log_bool(struct sg_logline *l, const char *k, bool val)
{
	size_t mark;

	if (!l->on || l->cut)
		return;
	mark = field_begin(l, k);
	field_end(l, mark, sg_buf_puts(&l->buf, val ? "true" : "false"));
}

void sg_log_end(struct sg_logline *l)
{
	if (!l->on) {
		sg_buf_release(&l->buf);
		return;
	}
	/* The cap keeps room for the closing text (see sg_log_begin). */
	l->buf.max += 64;
	if (l->cut)
		sg_buf_puts(&l->buf, ",\"truncated\":true");
	sg_buf_puts(&l->buf, "}\n");
	if (!flush_ev) {
		write_all(l->buf.data, l->buf.len);
	} else {
		if (sg_buf_append(&batch, l->buf.data, l->buf.len) != 0) {
			sg_log_flush();
			if (sg_buf_append(&batch, l->buf.data, l->buf.len) != 0)
				write_all(l->buf.data, l->buf.len);
		}
		/* Activating an already active event is a no-op. */
		event_active(flush_ev, EV_TIMEOUT, 0);
	}
	if (l->reused) {
		line_buf = l->buf;
		line_buf_busy = false;
	} else {
		sg_buf_release(&l->buf);
	}
}

void sg_log(enum sg_log_level level, const char *fmt, ...)
{
	struct sg_logline l;
	char msg[1024];
	va_list ap;

	if (!sg_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sg_log_begin(&l, level, msg);
	sg_log_end(&l);
}
