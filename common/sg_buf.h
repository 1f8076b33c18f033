/*
 * sg_buf: a growable byte buffer with a hard size cap.
 *
 * Every buffer that holds data derived from input is created with a cap, in
 * the manner of curl's dynbuf: appending past the cap fails cleanly with
 * -E2BIG and leaves the buffer as it was, so a hostile input can cost at most
 * the cap, never a crash or an unbounded allocation. The contents are always
 * NUL-terminated (the NUL is not counted in len), so text can be handed to C
 * string functions directly.
 */
#ifndef SG_BUF_H
#define SG_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct sg_buf {
	char *data; /* NULL until the first append */
	size_t len; /* bytes in use, excluding the trailing NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* hard limit on len */
};

/* Prepares an empty buffer that may grow to max bytes. Allocates nothing. */
void sg_buf_init(struct sg_buf *buf, size_t max);

/* Frees the storage and returns the buffer to the empty state (same max). */
void sg_buf_release(struct sg_buf *buf);

/* Empties the buffer but keeps its storage for reuse. */
void sg_buf_reset(struct sg_buf *buf);

/* sg_buf_append when the buffer must grow (or refuse). */
int sg_buf_append_slow(struct sg_buf *buf, const void *data, size_t n);

/*
 * Appends n bytes. Returns 0, -E2BIG when the result would exceed max, or
 * -ENOMEM. On error the buffer is unchanged. Inline, as most appends fit
 * in the room already there.
 */
static inline int sg_buf_append(struct sg_buf *buf, const void *data, size_t n)
{
	/* cap - len > n: room for the bytes and the NUL (cap is 0 until the first append). */
	if (buf->cap - buf->len > n && buf->max - buf->len >= n) {
		memcpy(buf->data + buf->len, data, n);
		buf->len += n;
		buf->data[buf->len] = '\0';
		return 0;
	}
	return sg_buf_append_slow(buf, data, n);
}

/*
 * Grows the contents by n bytes and stores in *at where they start, for the
 * caller to fill (followed by room for the NUL). Same results as
 * sg_buf_append; the new bytes are uninitialised.
 */
int sg_buf_extend(struct sg_buf *buf, size_t n, char **at);

/* Appends a NUL-terminated string; same results as sg_buf_append. */
static inline int sg_buf_puts(struct sg_buf *buf, const char *s)
{
	return sg_buf_append(buf, s, strlen(s));
}

/* Appends one byte; same results as sg_buf_append. */
static inline int sg_buf_putc(struct sg_buf *buf, char c)
{
	return sg_buf_append(buf, &c, 1);
}

/* Appends formatted text; same results as sg_buf_append, -EINVAL on a bad format. */
int sg_buf_printf(struct sg_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sg_buf_vprintf(struct sg_buf *buf, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * Appends s as a JSON string literal, quotes included, escaping quotes,
 * backslashes and every control character. n is the length of s.
 */
int sg_buf_json_string(struct sg_buf *buf, const char *s, size_t n);

/* sg_buf_json_string for a NUL-terminated string. */
int sg_buf_json_str(struct sg_buf *buf, const char *s);

/*
 * Appends the whole file at path. 0, -E2BIG when the file would take the
 * buffer past max, or another -errno from open or read. On error the
 * buffer holds what was read so far.
 */
int sg_buf_read_file(struct sg_buf *buf, const char *path);

/*
 * Hands the contents to the caller as a NUL-terminated string the caller
 * frees, and leaves the buffer empty. Returns NULL on allocation failure
 * (an empty buffer yields an allocated "").
 */
char *sg_buf_detach(struct sg_buf *buf);

/*
 * Sets *cause to the formatted text (malloc'd; NULL if even that fails) and
 * returns -1: for the "0, or -1 with *cause" functions throughout.
 */
int sg_failf(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sg_vfailf(char **cause, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
