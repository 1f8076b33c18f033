#include "sg_yaml.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_buf.h"
#include "sg_json.h"

#define MAX_DEPTH 64
#define MAX_SIZE  (4u << 20)

struct line {
	int no;	    /* 1-based line number, for messages */
	int indent; /* leading spaces */
	char *text; /* content: no indent, no comment, no trailing space */
};

struct doc {
	struct line *lines;
	size_t n;
	size_t i; /* next line to read */
	char *err;
};

static void fail(struct doc *d, int line, const char *what)
{
	char msg[256];

	if (d->err)
		return;
	snprintf(msg, sizeof(msg), "line %d: %s", line, what);
	d->err = strdup(msg);
}

/* Cuts a comment ("#" at the start or after a blank, outside quotes) and trailing blanks. */
static void strip(char *s)
{
	char quote = 0;
	size_t n;

	for (char *p = s; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
			else if (quote == '"' && *p == '\\' && p[1])
				p++;
		} else if (*p == '"' || *p == '\'') {
			if (p == s || p[-1] == ' ' || p[-1] == ':' || p[-1] == '-' ||
			    p[-1] == '[' || p[-1] == ',')
				quote = *p;
		} else if (*p == '#' && (p == s || p[-1] == ' ')) {
			*p = '\0';
			break;
		}
	}
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static int split_lines(struct doc *d, char *text)
{
	size_t cap = 64;
	int no = 0;
	char *save = NULL, *raw;

	d->lines = malloc(cap * sizeof(*d->lines));
	if (!d->lines)
		return -1;
	for (char *p = text; p; p = save) {
		save = strchr(p, '\n');
		if (save)
			*save++ = '\0';
		raw = p;
		no++;
		int indent = 0;

		while (raw[indent] == ' ')
			indent++;
		if (raw[indent] == '\t') {
			fail(d, no, "tab in indentation; YAML indents with spaces");
			return -1;
		}
		strip(raw + indent);
		if (raw[indent] == '\0')
			continue;
		if (strcmp(raw + indent, "---") == 0 && d->n == 0)
			continue;
		if (strcmp(raw + indent, "---") == 0 || strcmp(raw + indent, "...") == 0) {
			fail(d, no, "more than one YAML document");
			return -1;
		}
		if (d->n == cap) {
			struct line *l = realloc(d->lines, 2 * cap * sizeof(*l));

			if (!l)
				return -1;
			d->lines = l;
			cap *= 2;
		}
		d->lines[d->n].no = no;
		d->lines[d->n].indent = indent;
		d->lines[d->n].text = raw + indent;
		d->n++;
	}
	return 0;
}

/* A scalar: plain, 'single' or "double" quoted, or an empty or JSON flow collection. */
static cJSON *scalar(struct doc *d, int no, const char *s)
{
	size_t n = strlen(s);

	if (s[0] == '&' || s[0] == '*' || s[0] == '!' || s[0] == '|' || s[0] == '>') {
		fail(d, no, "anchors, aliases, tags and block scalars are not supported");
		return NULL;
	}
	if (s[0] == '[' || s[0] == '{') {
		char *cause = NULL;
		cJSON *j = sg_json_parse(s, n, &cause);

		free(cause);
		if (!j)
			fail(d, no, "flow collections must be written as JSON");
		return j;
	}
	if (s[0] == '"') {
		char *cause = NULL;
		cJSON *j = sg_json_parse(s, n, &cause);

		free(cause);
		if (!j || !cJSON_IsString(j)) {
			cJSON_Delete(j);
			fail(d, no, "invalid double-quoted string");
			return NULL;
		}
		return j;
	}
	if (s[0] == '\'') {
		struct sg_buf b;
		cJSON *j;
		size_t i;

		sg_buf_init(&b, n + 1);
		for (i = 1; i < n; i++) {
			if (s[i] == '\'') {
				if (s[i + 1] == '\'') {
					sg_buf_putc(&b, '\'');
					i++;
					continue;
				}
				break;
			}
			sg_buf_putc(&b, s[i]);
		}
		if (i != n - 1) {
			sg_buf_release(&b);
			fail(d, no, "invalid single-quoted string");
			return NULL;
		}
		j = cJSON_CreateString(b.data ? b.data : "");
		sg_buf_release(&b);
		return j;
	}
	return cJSON_CreateString(s);
}

/*
 * Finds the ':' that ends a mapping key in s (followed by a space or the
 * end), skipping a quoted key. Returns its offset or -1.
 */
static int key_end(const char *s)
{
	size_t i = 0;

	if (s[0] == '"' || s[0] == '\'') {
		char q = s[0];

		for (i = 1; s[i] && s[i] != q; i++)
			if (q == '"' && s[i] == '\\' && s[i + 1])
				i++;
		if (!s[i])
			return -1;
		i++;
	}
	for (; s[i]; i++)
		if (s[i] == ':' && (s[i + 1] == ' ' || s[i + 1] == '\0'))
			return (int)i;
	return -1;
}

static bool is_seq_item(const char *s)
{
	return s[0] == '-' && (s[1] == ' ' || s[1] == '\0');
}

static cJSON *node(struct doc *d, int indent, int depth);

/* The value of a key whose line ended after the ':' — on the following lines, or null. */
static cJSON *block_value(struct doc *d, int key_indent, int depth)
{
	struct line *next = d->i < d->n ? &d->lines[d->i] : NULL;

	if (next && next->indent > key_indent)
		return node(d, next->indent, depth + 1);
	/* kubectl writes a key's sequence at the key's own indentation. */
	if (next && next->indent == key_indent && is_seq_item(next->text))
		return node(d, key_indent, depth + 1);
	return cJSON_CreateNull();
}

static cJSON *mapping(struct doc *d, int indent, int depth)
{
	cJSON *map = cJSON_CreateObject();

	while (map && !d->err && d->i < d->n) {
		struct line *l = &d->lines[d->i];
		int k;
		cJSON *key, *val;
		char *rest;

		if (l->indent < indent || (l->indent == indent && is_seq_item(l->text)))
			break;
		if (l->indent > indent) {
			fail(d, l->no, "unexpected indentation");
			break;
		}
		k = key_end(l->text);
		if (k < 0) {
			fail(d, l->no, "expected 'key: value'");
			break;
		}
		l->text[k] = '\0';
		key = scalar(d, l->no, l->text);
		rest = l->text + k + 1;
		while (*rest == ' ')
			rest++;
		d->i++;
		if (!key || !cJSON_IsString(key)) {
			cJSON_Delete(key);
			fail(d, l->no, "invalid key");
			break;
		}
		/*
		 * kubectl's reader keeps the last of two equal keys and cJSON's
		 * lookups the first: refuse rather than read another token or
		 * server than kubectl would.
		 */
		if (sg_json_get(map, key->valuestring)) {
			fail(d, l->no, "duplicate key");
			cJSON_Delete(key);
			break;
		}
		val = *rest ? scalar(d, l->no, rest) : block_value(d, indent, depth);
		if (!val) {
			cJSON_Delete(key);
			break;
		}
		cJSON_AddItemToObject(map, key->valuestring, val);
		cJSON_Delete(key);
	}
	return map;
}

static cJSON *sequence(struct doc *d, int indent, int depth)
{
	cJSON *seq = cJSON_CreateArray();

	while (seq && !d->err && d->i < d->n) {
		struct line *l = &d->lines[d->i];
		char *rest;
		cJSON *item;

		if (l->indent != indent || !is_seq_item(l->text))
			break;
		rest = l->text + 1;
		while (*rest == ' ')
			rest++;
		if (!*rest) {
			d->i++;
			item = block_value(d, indent, depth);
		} else if (key_end(rest) >= 0 && rest[0] != '"' && rest[0] != '\'' &&
			   rest[0] != '[' && rest[0] != '{') {
			/* "- key: value": a mapping whose keys line up after the dash. */
			l->indent = indent + (int)(rest - l->text);
			l->text = rest;
			item = mapping(d, l->indent, depth + 1);
		} else if (key_end(rest) >= 0 && (rest[0] == '"' || rest[0] == '\'')) {
			l->indent = indent + (int)(rest - l->text);
			l->text = rest;
			item = mapping(d, l->indent, depth + 1);
		} else {
			d->i++;
			item = scalar(d, l->no, rest);
		}
		if (!item)
			break;
		cJSON_AddItemToArray(seq, item);
	}
	return seq;
}

static cJSON *node(struct doc *d, int indent, int depth)
{
	struct line *l = &d->lines[d->i];

	if (depth > MAX_DEPTH) {
		fail(d, l->no, "nesting too deep");
		return NULL;
	}
	if (is_seq_item(l->text))
		return sequence(d, indent, depth);
	if (key_end(l->text) >= 0)
		return mapping(d, indent, depth);
	d->i++;
	if (d->i < d->n && d->lines[d->i].indent >= indent) {
		fail(d, d->lines[d->i].no, "unexpected content after a scalar");
		return NULL;
	}
	return scalar(d, l->no, l->text);
}

/* The first key that appears twice in one object of tree, or NULL. */
static const char *duplicate_key(const cJSON *tree)
{
	const cJSON *a, *b;
	const char *dup;

	for (a = tree ? tree->child : NULL; a; a = a->next) {
		if (cJSON_IsObject(tree))
			for (b = a->next; b; b = b->next)
				if (strcmp(a->string, b->string) == 0)
					return a->string;
		if ((dup = duplicate_key(a)) != NULL)
			return dup;
	}
	return NULL;
}

/* Takes tree; returns it, or NULL with *cause if an object repeats a key. */
static cJSON *no_duplicates(cJSON *tree, char **cause)
{
	const char *dup = duplicate_key(tree);

	if (!dup)
		return tree;
	sg_failf(cause, "duplicate key '%.64s' in a JSON object", dup);
	cJSON_Delete(tree);
	return NULL;
}

cJSON *sg_yaml_parse(const char *text, size_t len, char **cause)
{
	struct doc d = {0};
	cJSON *root = NULL;
	char *copy;
	size_t i = 0;

	if (len > MAX_SIZE) {
		*cause = strdup("larger than 4 MiB");
		return NULL;
	}
	while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
		i++;
	if (i < len && text[i] == '{') {
		root = sg_json_parse(text, len, cause);
		return root ? no_duplicates(root, cause) : NULL;
	}
	if (memchr(text, '\0', len)) {
		*cause = strdup("NUL byte in YAML");
		return NULL;
	}
	copy = malloc(len + 1);
	if (!copy) {
		*cause = strdup("out of memory");
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (split_lines(&d, copy) == 0 && d.n > 0 && !d.err) {
		root = node(&d, d.lines[0].indent, 0);
		if (!d.err && d.i < d.n)
			fail(&d, d.lines[d.i].no, "unexpected indentation");
	} else if (!d.err && d.n == 0) {
		d.err = strdup("empty document");
	}
	if (d.err || !root) {
		cJSON_Delete(root);
		root = NULL;
		*cause = d.err ? d.err : strdup("out of memory");
		d.err = NULL;
	}
	free(d.err);
	free(d.lines);
	free(copy);
	/* Block mappings were checked as they were read; JSON flow values are checked here. */
	return root ? no_duplicates(root, cause) : NULL;
}
