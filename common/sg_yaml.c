#include "sg_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "sg_buf.h"
#include "sg_json.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

struct anchor {
	char *name;
	cJSON *node;  /* a private copy of the anchored node */
	size_t nodes; /* how many nodes a copy of it adds */
};

struct reader {
	yaml_parser_t parser;
	bool strings; /* every scalar a string (the kubeconfig) */
	size_t nodes;
	size_t alias_nodes;
	struct anchor *anchors; /* of the current document */
	size_t nanchors, cap;
	char *err;
	int err_line, err_col;
};

static void fail_at(struct reader *r, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_at(struct reader *r, const yaml_mark_t *m, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (r->err)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	r->err_line = m ? (int)m->line + 1 : 0;
	r->err_col = m ? (int)m->column + 1 : 0;
	if (m)
		sg_failf(&r->err, "line %d, column %d: %s", r->err_line, r->err_col, what);
	else
		sg_failf(&r->err, "%s", what);
}

/* The next event, or false with r->err set (libyaml's own message, with its position). */
static bool next(struct reader *r, yaml_event_t *ev)
{
	if (yaml_parser_parse(&r->parser, ev))
		return true;
	if (r->parser.error == YAML_MEMORY_ERROR) {
		fail_at(r, NULL, "out of memory");
	} else {
		const yaml_parser_t *p = &r->parser;

		fail_at(r, &p->problem_mark, "%s%s%s", p->problem ? p->problem : "syntax error",
			p->context ? " " : "", p->context ? p->context : "");
	}
	return false;
}

static void anchors_clear(struct reader *r)
{
	for (size_t i = 0; i < r->nanchors; i++) {
		free(r->anchors[i].name);
		cJSON_Delete(r->anchors[i].node);
	}
	r->nanchors = 0;
}

/* Remembers node under name (a later anchor of the same name wins, as in YAML). */
static void anchor_add(struct reader *r, const yaml_mark_t *m, const char *name, const cJSON *node,
		       size_t nodes)
{
	struct anchor *a;

	if (r->nanchors == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 8;
		void *grown = realloc(r->anchors, cap * sizeof(*r->anchors));

		if (!grown)
			return fail_at(r, m, "out of memory");
		r->anchors = grown;
		r->cap = cap;
	}
	a = &r->anchors[r->nanchors];
	a->name = strdup(name);
	a->node = cJSON_Duplicate(node, 1);
	a->nodes = nodes;
	if (!a->name || !a->node) {
		free(a->name);
		cJSON_Delete(a->node);
		return fail_at(r, m, "out of memory");
	}
	r->nanchors++;
}

static const struct anchor *anchor_find(const struct reader *r, const char *name)
{
	for (size_t i = r->nanchors; i-- > 0;)
		if (strcmp(r->anchors[i].name, name) == 0)
			return &r->anchors[i];
	return NULL;
}

static bool in(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static const char *const yes_words[] = {"y",	"Y",	"yes", "Yes", "YES", "true",
					"True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const no_words[] = {"n",	"N",	 "no",	"No",  "NO",  "false",
				       "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const special_floats[] = {".nan",  ".NaN",  ".NAN",	".inf",	 ".Inf",
					     ".INF",  "+.inf", "+.Inf", "+.INF", "-.inf",
					     "-.Inf", "-.INF", NULL};

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/*
 * Go's strconv.ParseInt(s, 0, 64), then ParseUint(s, 0, 64), on s with
 * its underscores removed, as go-yaml v2 resolves a plain scalar.
 */
static bool parse_int(const char *s, double *out)
{
	bool neg = false, sign = false;
	unsigned base = 10;
	uint64_t v = 0;
	size_t n = 0;

	if (*s == '+' || *s == '-') {
		neg = *s == '-';
		sign = true;
		s++;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16, s += 2;
	else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
		base = 8, s += 2;
	else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
		base = 2, s += 2;
	else if (s[0] == '0' && s[1])
		base = 8, s += 1;
	for (; *s; s++, n++) {
		unsigned d = (unsigned)digit_value(*s);

		if (*s == '_')
			continue;
		if (d >= base)
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	if (n == 0)
		return false;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = -(double)v;
	} else {
		if (sign && v > (uint64_t)INT64_MAX)
			return false;
		*out = (double)v;
	}
	return true;
}

/* go-yaml v2's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool float_syntax(const char *s)
{
	size_t i = 0, d = 0;

	if (s[i] == '+' || s[i] == '-')
		i++;
	if (s[i] == '.') {
		for (i++; s[i] >= '0' && s[i] <= '9'; i++)
			d++;
		if (!d)
			return false;
	} else {
		for (; s[i] >= '0' && s[i] <= '9'; i++)
			d++;
		if (!d)
			return false;
		if (s[i] == '.')
			for (i++; s[i] >= '0' && s[i] <= '9'; i++)
				;
	}
	if (s[i] == 'e' || s[i] == 'E') {
		i++;
		if (s[i] == '+' || s[i] == '-')
			i++;
		for (d = 0; s[i] >= '0' && s[i] <= '9'; i++)
			d++;
		if (!d)
			return false;
	}
	return s[i] == '\0';
}

static bool parse_float(const char *s, double *out)
{
	char buf[128], *end;
	size_t n = 0;
	double v;

	/* go-yaml v2 drops underscores before it tries a number. */
	for (; *s && n < sizeof(buf) - 1; s++)
		if (*s != '_')
			buf[n++] = *s;
	if (*s)
		return false;
	buf[n] = '\0';
	if (!float_syntax(buf))
		return false;
	errno = 0;
	v = strtod(buf, &end);
	if (*end || !isfinite(v))
		return false; /* out of range: go-yaml keeps it a string */
	*out = v;
	return true;
}

enum scalar_type { T_STR, T_NULL, T_BOOL, T_NUM, T_SPECIAL_FLOAT };

/* What a plain scalar means under go-yaml v2's YAML 1.1 rules. */
static enum scalar_type resolve(const char *s, bool *b, double *num)
{
	/* go-yaml's first-character table: most scalars are plain words. */
	if (s[0] && !strchr("yYnNtTfFoO~+-.0123456789", s[0]))
		return T_STR;
	if (in(s, null_words))
		return T_NULL;
	if (in(s, yes_words)) {
		*b = true;
		return T_BOOL;
	}
	if (in(s, no_words)) {
		*b = false;
		return T_BOOL;
	}
	if (in(s, special_floats))
		return T_SPECIAL_FLOAT;
	if ((s[0] >= '0' && s[0] <= '9') || s[0] == '+' || s[0] == '-' || s[0] == '.') {
		if (s[0] != '.' && parse_int(s, num))
			return T_NUM;
		if (parse_float(s, num))
			return T_NUM;
	}
	return T_STR;
}

/* The short name of a core tag ("str" for tag:yaml.org,2002:str), or NULL. */
static const char *core_tag(const yaml_char_t *tag)
{
	if (!tag)
		return NULL;
	if (strncmp((const char *)tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
		return (const char *)tag + strlen(TAG_PREFIX);
	return NULL;
}

/* Checks a node's tag: none, "!" (non-specific) or one of the core tags. */
static bool tag_ok(struct reader *r, const yaml_event_t *ev, const yaml_char_t *tag,
		   const char *const *allowed)
{
	const char *t = core_tag(tag);

	if (!tag || strcmp((const char *)tag, "!") == 0 || (t && in(t, allowed)))
		return true;
	fail_at(r, &ev->start_mark, "tag '%.100s' is not supported (only the YAML core tags)",
		(const char *)tag);
	return false;
}

static cJSON *scalar(struct reader *r, const yaml_event_t *ev)
{
	static const char *const scalar_tags[] = {"str", "int", "float", "bool", "null", NULL};
	const char *s = (const char *)ev->data.scalar.value;
	const char *t = core_tag(ev->data.scalar.tag);
	enum scalar_type type;
	bool b = false;
	double num = 0;

	if (!tag_ok(r, ev, ev->data.scalar.tag, scalar_tags))
		return NULL;
	if (strlen(s) != ev->data.scalar.length) {
		fail_at(r, &ev->start_mark, "a NUL character in a scalar");
		return NULL;
	}
	if (r->strings || (t && strcmp(t, "str") == 0) ||
	    (!t && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) ||
	    (ev->data.scalar.tag && !t)) /* "!" makes a string, quoted or not */
		return cJSON_CreateString(s);
	type = resolve(s, &b, &num);
	if (t) {
		bool match = (strcmp(t, "null") == 0 && type == T_NULL) ||
			     (strcmp(t, "bool") == 0 && type == T_BOOL) ||
			     ((strcmp(t, "int") == 0 || strcmp(t, "float") == 0) && type == T_NUM);

		if (!match) {
			fail_at(r, &ev->start_mark, "'%.60s' is not a !!%s", s, t);
			return NULL;
		}
	}
	switch (type) {
	case T_NULL:
		return cJSON_CreateNull();
	case T_BOOL:
		return cJSON_CreateBool(b);
	case T_NUM:
		return cJSON_CreateNumber(num);
	case T_SPECIAL_FLOAT:
		fail_at(r, &ev->start_mark, "'%s' is not a number JSON can hold", s);
		return NULL;
	case T_STR:
		break;
	}
	return cJSON_CreateString(s);
}

/*
 * A mapping key as sigs.k8s.io/yaml writes it into JSON: the text, except
 * that a plain key that go-yaml reads as a boolean or number is written
 * canonically ("on" is "true", "0x10" is "16"). A null key is refused.
 */
static char *key_text(struct reader *r, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	char buf[64];
	bool b = false;
	double num = 0;

	if (!tag_ok(r, ev, ev->data.scalar.tag, (const char *const[]){"str", NULL}))
		return NULL;
	if (strlen(s) != ev->data.scalar.length) {
		fail_at(r, &ev->start_mark, "a NUL character in a key");
		return NULL;
	}
	if (r->strings || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag)
		return strdup(s);
	if (strcmp(s, "<<") == 0) {
		fail_at(r, &ev->start_mark,
			"merge keys (<<) are not supported; write the keys out");
		return NULL;
	}
	switch (resolve(s, &b, &num)) {
	case T_NULL:
		fail_at(r, &ev->start_mark, "a null key");
		return NULL;
	case T_BOOL:
		return strdup(b ? "true" : "false");
	case T_NUM:
		if (num == floor(num) && fabs(num) < 1e18)
			snprintf(buf, sizeof(buf), "%.0f", num);
		else
			snprintf(buf, sizeof(buf), "%.9g", num);
		return strdup(buf);
	case T_SPECIAL_FLOAT:
	case T_STR:
		break;
	}
	return strdup(s);
}

struct seen_key {
	const char *key;
	yaml_mark_t mark;
};

static int cmp_seen(const void *a, const void *b)
{
	const struct seen_key *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return x->mark.index < y->mark.index ? -1 : x->mark.index > y->mark.index;
}

/*
 * Refuses a key given twice in one mapping, naming the second. Sorting
 * keeps a mapping of many keys from costing the square of their number.
 */
static bool no_duplicates(struct reader *r, const cJSON *obj, const yaml_mark_t *marks, size_t n)
{
	struct seen_key *k;
	const cJSON *it;
	size_t i = 0;

	if (n < 2)
		return true;
	k = malloc(n * sizeof(*k));
	if (!k) {
		fail_at(r, NULL, "out of memory");
		return false;
	}
	cJSON_ArrayForEach(it, obj)
	{
		k[i].key = it->string;
		k[i].mark = marks[i];
		i++;
	}
	qsort(k, n, sizeof(*k), cmp_seen);
	for (i = 1; i < n; i++)
		if (strcmp(k[i - 1].key, k[i].key) == 0) {
			fail_at(r, &k[i].mark, "duplicate key '%.100s' (first on line %d)",
				k[i].key, (int)k[i - 1].mark.line + 1);
			break;
		}
	free(k);
	return !r->err;
}

static cJSON *node(struct reader *r, yaml_event_t *ev, int depth, size_t *count);

static bool count_node(struct reader *r, const yaml_event_t *ev, size_t *count)
{
	(*count)++;
	if (++r->nodes > SG_YAML_MAX_NODES) {
		fail_at(r, &ev->start_mark, "more than %u nodes in one document",
			SG_YAML_MAX_NODES);
		return false;
	}
	return true;
}

static cJSON *sequence(struct reader *r, const yaml_event_t *start, int depth, size_t *count)
{
	static const char *const seq_tags[] = {"seq", NULL};
	cJSON *arr = cJSON_CreateArray();
	yaml_event_t ev;

	if (!arr || !tag_ok(r, start, start->data.sequence_start.tag, seq_tags)) {
		cJSON_Delete(arr);
		return NULL;
	}
	for (;;) {
		cJSON *child;

		if (!next(r, &ev))
			break;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return arr;
		}
		child = node(r, &ev, depth + 1, count);
		yaml_event_delete(&ev);
		if (!child)
			break;
		cJSON_AddItemToArray(arr, child);
	}
	cJSON_Delete(arr);
	return NULL;
}

static cJSON *mapping(struct reader *r, const yaml_event_t *start, int depth, size_t *count)
{
	static const char *const map_tags[] = {"map", NULL};
	cJSON *obj = cJSON_CreateObject();
	yaml_mark_t *marks = NULL;
	size_t n = 0, cap = 0;
	yaml_event_t ev;

	if (!obj || !tag_ok(r, start, start->data.mapping_start.tag, map_tags))
		goto fail;
	for (;;) {
		cJSON *value;
		yaml_mark_t at;
		char *key;

		if (!next(r, &ev))
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			fail_at(r, &ev.start_mark,
				ev.type == YAML_ALIAS_EVENT ? "an alias as a key"
							    : "a key that is not a scalar");
			yaml_event_delete(&ev);
			goto fail;
		}
		at = ev.start_mark;
		key = key_text(r, &ev);
		yaml_event_delete(&ev);
		if (!key)
			goto fail;
		if (!next(r, &ev)) {
			free(key);
			goto fail;
		}
		value = node(r, &ev, depth + 1, count);
		yaml_event_delete(&ev);
		if (!value) {
			free(key);
			goto fail;
		}
		if (n == cap) {
			size_t c = cap ? 2 * cap : 16;
			void *grown = realloc(marks, c * sizeof(*marks));

			if (!grown) {
				free(key);
				cJSON_Delete(value);
				fail_at(r, NULL, "out of memory");
				goto fail;
			}
			marks = grown;
			cap = c;
		}
		marks[n++] = at;
		cJSON_AddItemToObject(obj, key, value);
		free(key);
	}
	if (!no_duplicates(r, obj, marks, n))
		goto fail;
	free(marks);
	return obj;
fail:
	free(marks);
	cJSON_Delete(obj);
	return NULL;
}

/*
 * Builds the node that starts with ev (which the caller deletes), adding
 * its node count to *count. NULL with r->err set on error.
 */
static cJSON *node(struct reader *r, yaml_event_t *ev, int depth, size_t *count)
{
	const yaml_char_t *anchor = NULL;
	size_t mine = 0;
	cJSON *j = NULL;

	if (depth > SG_YAML_MAX_DEPTH) {
		fail_at(r, &ev->start_mark, "nested deeper than %d levels", SG_YAML_MAX_DEPTH);
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT: {
		const struct anchor *a = anchor_find(r, (const char *)ev->data.alias.anchor);

		if (!a) {
			fail_at(r, &ev->start_mark, "alias *%.100s names no anchor before it",
				(const char *)ev->data.alias.anchor);
			return NULL;
		}
		r->alias_nodes += a->nodes;
		r->nodes += a->nodes;
		if (r->alias_nodes > SG_YAML_MAX_ALIAS_NODES || r->nodes > SG_YAML_MAX_NODES) {
			fail_at(r, &ev->start_mark,
				"aliases expand to more than %u nodes (an alias bomb?)",
				r->alias_nodes > SG_YAML_MAX_ALIAS_NODES ? SG_YAML_MAX_ALIAS_NODES
									 : SG_YAML_MAX_NODES);
			return NULL;
		}
		*count += a->nodes;
		j = cJSON_Duplicate(a->node, 1);
		if (!j)
			fail_at(r, NULL, "out of memory");
		return j;
	}
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		if (count_node(r, ev, &mine))
			j = scalar(r, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		if (count_node(r, ev, &mine))
			j = sequence(r, ev, depth, &mine);
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		if (count_node(r, ev, &mine))
			j = mapping(r, ev, depth, &mine);
		break;
	default:
		fail_at(r, &ev->start_mark, "unexpected YAML event");
		return NULL;
	}
	if (!j) {
		fail_at(r, &ev->start_mark, "out of memory");
		return NULL;
	}
	if (anchor) {
		anchor_add(r, &ev->start_mark, (const char *)anchor, j, mine);
		if (r->err) {
			cJSON_Delete(j);
			return NULL;
		}
	}
	*count += mine;
	return j;
}

void sg_yaml_docs_free(struct sg_yaml_doc *docs, size_t ndocs)
{
	for (size_t i = 0; i < ndocs; i++)
		cJSON_Delete(docs[i].tree);
	free(docs);
}

/*
 * Reads the stream, handing each document to fn as soon as it is built
 * (so a stream's memory is that of its largest document). Per document:
 * SG_YAML_MAX_NODES nodes and its own anchors; per stream: the alias budget.
 */
static int each(const char *text, size_t len, bool strings, sg_yaml_doc_fn fn, void *arg,
		int err_line[2], char **cause)
{
	struct reader r;
	yaml_event_t ev;
	bool done = false;

	if (err_line)
		err_line[0] = err_line[1] = 0;
	memset(&r, 0, sizeof(r));
	r.strings = strings;
	if (!yaml_parser_initialize(&r.parser))
		return sg_failf(cause, "out of memory");
	yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
	while (!done && next(&r, &ev)) {
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT: {
			yaml_event_t first;
			int line;

			yaml_event_delete(&ev);
			if (!next(&r, &first))
				break;
			line = (int)first.start_mark.line + 1;
			r.nodes = 0;
			if (first.type == YAML_SCALAR_EVENT && first.data.scalar.length == 0 &&
			    first.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			    !first.data.scalar.tag && !first.data.scalar.anchor) {
				fn(arg, NULL, line); /* an empty document */
			} else {
				size_t count = 0;
				cJSON *tree = node(&r, &first, 1, &count);

				if (tree)
					fn(arg, tree, line);
			}
			yaml_event_delete(&first);
			anchors_clear(&r);
			break;
		}
		case YAML_STREAM_END_EVENT:
			done = true;
			yaml_event_delete(&ev);
			break;
		default: /* stream start, document end */
			yaml_event_delete(&ev);
			break;
		}
		if (r.err)
			break;
	}
	anchors_clear(&r);
	free(r.anchors);
	yaml_parser_delete(&r.parser);
	if (r.err) {
		if (err_line) {
			err_line[0] = r.err_line;
			err_line[1] = r.err_col;
		}
		*cause = r.err;
		return -1;
	}
	return 0;
}

int sg_yaml_each_document(const char *text, size_t len, sg_yaml_doc_fn fn, void *arg,
			  int err_line[2], char **cause)
{
	return each(text, len, false, fn, arg, err_line, cause);
}

struct collect {
	struct sg_yaml_doc *docs;
	size_t n, cap;
	bool oom;
};

static void collect(void *arg, cJSON *tree, int line)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 4;
		void *grown = c->oom ? NULL : realloc(c->docs, cap * sizeof(*c->docs));

		if (!grown) {
			c->oom = true;
			cJSON_Delete(tree);
			return;
		}
		c->docs = grown;
		c->cap = cap;
	}
	c->docs[c->n].tree = tree;
	c->docs[c->n].line = line;
	c->n++;
}

static int parse(const char *text, size_t len, bool strings, struct sg_yaml_doc **docs,
		 size_t *ndocs, int err_line[2], char **cause)
{
	struct collect c = {0};

	*docs = NULL;
	*ndocs = 0;
	if (each(text, len, strings, collect, &c, err_line, cause) != 0) {
		sg_yaml_docs_free(c.docs, c.n);
		return -1;
	}
	if (c.oom) {
		sg_yaml_docs_free(c.docs, c.n);
		return sg_failf(cause, "out of memory");
	}
	*docs = c.docs;
	*ndocs = c.n;
	return 0;
}

int sg_yaml_parse_stream(const char *text, size_t len, struct sg_yaml_doc **docs, size_t *ndocs,
			 int err_line[2], char **cause)
{
	return parse(text, len, false, docs, ndocs, err_line, cause);
}

/* The one document of text, or NULL with *cause. */
static cJSON *one(const char *text, size_t len, bool strings, char **cause)
{
	struct sg_yaml_doc *docs;
	size_t n;
	cJSON *tree;

	if (parse(text, len, strings, &docs, &n, NULL, cause) != 0)
		return NULL;
	if (n > 1) {
		sg_failf(cause, "line %d: more than one YAML document", docs[1].line);
		sg_yaml_docs_free(docs, n);
		return NULL;
	}
	if (n == 0 || !docs[0].tree) {
		sg_failf(cause, "empty document");
		sg_yaml_docs_free(docs, n);
		return NULL;
	}
	tree = docs[0].tree;
	docs[0].tree = NULL;
	sg_yaml_docs_free(docs, n);
	return tree;
}

cJSON *sg_yaml_parse(const char *text, size_t len, char **cause)
{
	if (len > SG_YAML_KUBECONFIG_MAX) {
		sg_failf(cause, "larger than %u bytes", SG_YAML_KUBECONFIG_MAX);
		return NULL;
	}
	return one(text, len, true, cause);
}

cJSON *sg_config_parse(const char *text, size_t len, char **cause)
{
	size_t i = 0;

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i < len && text[i] == '{')
		return sg_json_parse(text, len, cause);
	return one(text, len, false, cause);
}
