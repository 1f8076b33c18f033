#include "patch.h"

#include <stdio.h>
#include <string.h>

/* Large enough for any pod patch we write; a patch over it is an error, not a truncation. */
#define PATCH_MAX (256u << 10)

void wh_path_init(struct wh_path *p)
{
	p->buf[0] = '\0';
	p->len = 0;
	p->overflow = false;
}

static void put(struct wh_path *p, const char *s, size_t n)
{
	if (p->overflow || p->len + n >= sizeof(p->buf)) {
		p->overflow = true;
		return;
	}
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

void wh_path_key(struct wh_path *p, const char *key)
{
	put(p, "/", 1);
	while (*key) {
		size_t run = strcspn(key, "~/");

		put(p, key, run);
		key += run;
		if (*key)
			put(p, *key++ == '~' ? "~0" : "~1", 2);
	}
}

void wh_path_index(struct wh_path *p, int i)
{
	char num[16];
	int n = snprintf(num, sizeof(num), "/%d", i);

	put(p, num, (size_t)n);
}

void wh_path_child(struct wh_path *dst, const struct wh_path *base, const char *key)
{
	/* Copies only the bytes in use: paths are short, the buffer is not. */
	memcpy(dst->buf, base->buf, base->len + 1);
	dst->len = base->len;
	dst->overflow = base->overflow;
	wh_path_key(dst, key);
}

void wh_patch_init(struct wh_patch *p)
{
	char *at;

	sg_buf_init(&p->buf, PATCH_MAX);
	/* One allocation that fits a typical pod patch, instead of four doublings. */
	if (sg_buf_extend(&p->buf, 2048, &at) == 0)
		sg_buf_reset(&p->buf);
	p->nops = 0;
	p->failed = false;
}

void wh_patch_release(struct wh_patch *p)
{
	sg_buf_release(&p->buf);
}

/* Writes the op up to the value; the caller appends the value and the closing brace. */
static size_t op_begin(struct wh_patch *p, const struct wh_path *path, int *rc)
{
	size_t mark = p->buf.len;

	if (path->overflow) {
		*rc = -1;
		return mark;
	}
	*rc = sg_buf_puts(&p->buf, p->nops ? "," : "[");
	*rc = *rc ? *rc : sg_buf_puts(&p->buf, "{\"op\":\"add\",\"path\":");
	*rc = *rc ? *rc : sg_buf_json_string(&p->buf, path->buf, path->len);
	*rc = *rc ? *rc : sg_buf_puts(&p->buf, ",\"value\":");
	return mark;
}

static void op_end(struct wh_patch *p, size_t mark, int rc)
{
	rc = rc ? rc : sg_buf_putc(&p->buf, '}');
	if (rc) {
		p->failed = true;
		p->buf.len = mark;
		if (p->buf.data)
			p->buf.data[mark] = '\0';
		return;
	}
	p->nops++;
}

void wh_patch_add(struct wh_patch *p, const struct wh_path *path, const char *value_json)
{
	int rc;
	size_t mark = op_begin(p, path, &rc);

	op_end(p, mark, rc ? rc : sg_buf_puts(&p->buf, value_json));
}

void wh_patch_add_str(struct wh_patch *p, const struct wh_path *path, const char *value)
{
	int rc;
	size_t mark = op_begin(p, path, &rc);

	op_end(p, mark, rc ? rc : sg_buf_json_str(&p->buf, value));
}

int wh_patch_finish(struct wh_patch *p)
{
	if (p->failed)
		return -1;
	if (p->nops && sg_buf_putc(&p->buf, ']') != 0)
		return -1;
	return 0;
}
