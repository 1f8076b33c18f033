#include "sg_buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sg_scan.h"

void sg_buf_init(struct sg_buf *buf, size_t max)
{
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->max = max;
}

void sg_buf_release(struct sg_buf *buf)
{
	free(buf->data);
	sg_buf_init(buf, buf->max);
}

void sg_buf_reset(struct sg_buf *buf)
{
	buf->len = 0;
	if (buf->data)
		buf->data[0] = '\0';
}

/* Makes room for n more bytes plus the terminating NUL. */
static int grow(struct sg_buf *buf, size_t n)
{
	size_t need, cap;
	char *p;

	if (n > buf->max || buf->len > buf->max - n)
		return -E2BIG;
	need = buf->len + n + 1;
	if (need <= buf->cap)
		return 0;
	cap = buf->cap ? buf->cap : 256;
	while (cap < need)
		cap = cap > (size_t)-1 / 2 ? need : cap * 2;
	if (cap > buf->max + 1)
		cap = buf->max + 1;
	p = realloc(buf->data, cap);
	if (!p)
		return -ENOMEM;
	buf->data = p;
	buf->cap = cap;
	return 0;
}

int sg_buf_append_slow(struct sg_buf *buf, const void *data, size_t n)
{
	int rc = grow(buf, n);

	if (rc)
		return rc;
	if (n)
		memcpy(buf->data + buf->len, data, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	return 0;
}

int sg_buf_extend(struct sg_buf *buf, size_t n, char **at)
{
	int rc = grow(buf, n);

	if (rc)
		return rc;
	*at = buf->data + buf->len;
	buf->len += n;
	buf->data[buf->len] = '\0';
	return 0;
}

int sg_buf_vprintf(struct sg_buf *buf, const char *fmt, va_list ap)
{
	size_t room = buf->cap > buf->len ? buf->cap - buf->len : 0;
	va_list cp;
	int n, rc;

	/* Usually the text fits in the room already there: format once. */
	va_copy(cp, ap);
	n = vsnprintf(room ? buf->data + buf->len : NULL, room, fmt, cp);
	va_end(cp);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < room && (size_t)n <= buf->max - buf->len) {
		buf->len += (size_t)n;
		return 0;
	}
	if (buf->data)
		buf->data[buf->len] = '\0'; /* undo the partial write */
	rc = grow(buf, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
	buf->len += (size_t)n;
	return 0;
}

int sg_buf_printf(struct sg_buf *buf, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = sg_buf_vprintf(buf, fmt, ap);
	va_end(ap);
	return rc;
}

int sg_buf_json_string(struct sg_buf *buf, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const char *p = s, *end = s + n;
	size_t start = buf->len;
	int rc = sg_buf_putc(buf, '"');

	while (rc == 0 && p < end) {
		/* Most text needs no escape: copy each plain run in one step. */
		const char *q = sg_scan_json_special(p, end);
		char esc[6] = {'\\', 0, '0', '0', 0, 0};
		size_t elen = 2;

		if (q > p)
			rc = sg_buf_append(buf, p, (size_t)(q - p));
		if (rc || q == end)
			break;
		switch (*q) {
		case '"':
		case '\\':
			esc[1] = *q;
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			esc[1] = 'u';
			esc[4] = hex[(unsigned char)*q >> 4];
			esc[5] = hex[*q & 15];
			elen = 6;
		}
		rc = sg_buf_append(buf, esc, elen);
		p = q + 1;
	}
	if (rc == 0)
		rc = sg_buf_putc(buf, '"');
	if (rc) {
		/* Leave the buffer as it was, as every append promises. */
		buf->len = start;
		if (buf->data)
			buf->data[start] = '\0';
	}
	return rc;
}

int sg_buf_json_str(struct sg_buf *buf, const char *s)
{
	return sg_buf_json_string(buf, s, strlen(s));
}

char *sg_buf_detach(struct sg_buf *buf)
{
	char *p = buf->data;

	if (!p)
		p = strdup("");
	sg_buf_init(buf, buf->max);
	return p;
}

int sg_buf_read_file(struct sg_buf *buf, const char *path)
{
	char chunk[8192];
	ssize_t n;
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if ((rc = sg_buf_append(buf, chunk, (size_t)n)) != 0)
			break;
	}
	close(fd);
	return rc;
}

int sg_vfailf(char **cause, const char *fmt, va_list ap)
{
	struct sg_buf b;

	sg_buf_init(&b, 16384);
	sg_buf_vprintf(&b, fmt, ap);
	*cause = sg_buf_detach(&b);
	return -1;
}

int sg_failf(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_vfailf(cause, fmt, ap);
	va_end(ap);
	return -1;
}
