/*
 * A JSON parser for the hot path: strict RFC 8259 (it refuses some input
 * cJSON takes: "01", control characters, lone surrogates, \u0000 in keys,
 * strings that are not UTF-8; never the reverse), the same tree cJSON builds (so every sg_json
 * helper and cJSON predicate works on it), but every node and string comes from an arena, strings
 * without escapes are copied in one go, and there is nothing to free node by node. cJSON's own
 * parser spent about 40% of a review's time in allocation and per-character copying; this one takes
 * a fraction of that (see docs/benchmarks.md). Trees it returns must never reach cJSON_Delete.
 *
 * The fuzz target tests/fuzz/fuzz_json.c checks it against cJSON: whatever
 * it accepts cJSON accepts too, with the same tree.
 */
#include "sg_json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_arena.h"
#include "sg_scan.h"

/* Deeper documents are refused, as cJSON does (CJSON_NESTING_LIMIT). */
#define MAX_DEPTH 1000

struct parser {
	const char *p;
	const char *end;
	const char *start;
	struct sg_arena *arena;
	const char *error; /* static text */
	int depth;
	unsigned flags;
	bool nul; /* the last string decoded held a \u0000 */
};

static cJSON *node(struct parser *ps, int type)
{
	cJSON *n = sg_arena_alloc(ps->arena, sizeof(*n));

	if (!n) {
		ps->error = "out of memory";
		return NULL;
	}
	memset(n, 0, sizeof(*n));
	n->type = type;
	return n;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
		ps->p++;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Any byte of [s, e) at or above 0x80: eight at a time, no branch per byte. */
static bool any_high_byte(const char *s, const char *e)
{
	uint64_t acc = 0, w;

	for (; e - s >= 8; s += 8) {
		memcpy(&w, s, sizeof(w));
		acc |= w;
	}
	for (; s < e; s++)
		acc |= (unsigned char)*s;
	return (acc & 0x8080808080808080ull) != 0;
}

/*
 * True if [s, e) is well-formed UTF-8 (RFC 3629: shortest forms only, no
 * surrogates, nothing past U+10FFFF). JSON text is UTF-8 (RFC 8259 8.1).
 * Go's decoder, the API server's, turns each invalid byte into U+FFFD, so a
 * string with one would read differently here and there; the API server
 * never sends one, and an answer that echoed it would not be JSON.
 */
static bool utf8_ok(const char *str, const char *end)
{
	const unsigned char *s = (const unsigned char *)str, *e = (const unsigned char *)end;

	if (!any_high_byte(str, end))
		return true;
	while (s < e) {
		unsigned c = *s, cp, min;
		size_t n;

		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if ((size_t)(e - s) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

/*
 * Parses a string at ps->p (the opening quote) into a new NUL-terminated
 * arena string. Escapes follow RFC 8259, with UTF-16 surrogate pairs
 * joined; unescaped control characters are refused (as Go refuses them). A
 * \u0000 ends the C string early, as in cJSON, and sets ps->nul: in a key
 * that would make "a\u0000b" read as "a", so keys refuse it.
 */
static char *parse_string(struct parser *ps)
{
	const char *s = ps->p + 1, *q;
	bool escapes = false;
	char *out, *o;

	ps->nul = false;
	for (q = s;; q++) {
		q = sg_scan_json_special(q, ps->end);
		if (q >= ps->end)
			goto unterminated;
		if (*q == '"')
			break;
		if (*q == '\\') {
			escapes = true;
			if (++q >= ps->end)
				goto unterminated;
		} else {
			ps->error = "control character in string";
			return NULL;
		}
	}
	if (!utf8_ok(s, q)) {
		ps->error = "string is not UTF-8";
		return NULL;
	}
	out = sg_arena_alloc(ps->arena, (size_t)(q - s) + 1);
	if (!out) {
		ps->error = "out of memory";
		return NULL;
	}
	if (!escapes) {
		memcpy(out, s, (size_t)(q - s));
		out[q - s] = '\0';
		ps->p = q + 1;
		return out;
	}
	o = out;
	while (s < q) {
		const char *bs = memchr(s, '\\', (size_t)(q - s));
		size_t run = bs ? (size_t)(bs - s) : (size_t)(q - s);
		unsigned cp, lo;

		memcpy(o, s, run);
		o += run;
		s += run;
		if (s >= q)
			break;
		/* s is at a backslash; the scan above made sure its partner is before q. */
		switch (s[1]) {
		case '"':
		case '\\':
		case '/':
			*o++ = s[1];
			s += 2;
			continue;
		case 'b':
			*o++ = '\b';
			s += 2;
			continue;
		case 'f':
			*o++ = '\f';
			s += 2;
			continue;
		case 'n':
			*o++ = '\n';
			s += 2;
			continue;
		case 'r':
			*o++ = '\r';
			s += 2;
			continue;
		case 't':
			*o++ = '\t';
			s += 2;
			continue;
		case 'u':
			break;
		default:
			goto bad_escape;
		}
		if (q - s < 6 || hex4(s + 2, &cp) != 0)
			goto bad_escape;
		s += 6;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			goto bad_escape; /* a lone low surrogate */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (q - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) != 0 ||
			    lo < 0xdc00 || lo > 0xdfff)
				goto bad_escape;
			s += 6;
			cp = 0x10000 + (((cp & 0x3ff) << 10) | (lo & 0x3ff));
		}
		if (cp == 0)
			ps->nul = true;
		o += put_utf8(o, cp);
	}
	*o = '\0';
	ps->p = q + 1;
	return out;
unterminated:
	ps->error = "unterminated string";
	return NULL;
bad_escape:
	ps->error = "invalid escape in string";
	return NULL;
}

/*
 * Returns the end of the number at ps->p, or NULL if it breaks the JSON
 * number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 */
static const char *number_end(struct parser *ps)
{
	const char *q = ps->p;

	if (q < ps->end && *q == '-')
		q++;
	if (q >= ps->end || *q < '0' || *q > '9')
		goto bad;
	if (*q == '0')
		q++;
	else
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	if (q < ps->end && *q == '.') {
		q++;
		if (q >= ps->end || *q < '0' || *q > '9')
			goto bad;
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < ps->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < ps->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= ps->end || *q < '0' || *q > '9')
			goto bad;
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	}
	return q;
bad:
	ps->error = "invalid number";
	return NULL;
}

static cJSON *parse_number(struct parser *ps)
{
	const char *s = ps->p, *q = number_end(ps);
	char buf[64], *copy = buf, *end;
	size_t n;
	double d;
	cJSON *item;

	if (!q)
		return NULL;
	n = (size_t)(q - s);
	if (n >= sizeof(buf)) {
		copy = sg_arena_alloc(ps->arena, n + 1);
		if (!copy) {
			ps->error = "out of memory";
			return NULL;
		}
	}
	memcpy(copy, s, n);
	copy[n] = '\0';
	/* The grammar above is a subset of strtod's; "C" locale digits only. */
	d = strtod(copy, &end);
	item = node(ps, cJSON_Number);
	if (!item)
		return NULL;
	item->valuedouble = d;
	if (d >= INT_MAX)
		item->valueint = INT_MAX;
	else if (d <= (double)INT_MIN)
		item->valueint = INT_MIN;
	else
		item->valueint = (int)d;
	ps->p = q;
	return item;
}

static cJSON *parse_value(struct parser *ps, const char *key);
static int skip_value(struct parser *ps);

/* Checks a string without keeping it. */
static int skip_string(struct parser *ps)
{
	const char *s = ps->p + 1, *q = s;

	ps->nul = false;
	for (;; q++) {
		q = sg_scan_json_special(q, ps->end);
		if (q >= ps->end) {
			ps->error = "unterminated string";
			return -1;
		}
		if (*q == '"')
			break;
		if (*q != '\\') {
			ps->error = "control character in string";
			return -1;
		}
		/* Escapes are checked as strictly as parse_string does. */
		q++;
		if (q >= ps->end || *q == '\0' || !strchr("\"\\/bfnrtu", *q)) {
			ps->error = "invalid escape in string";
			return -1;
		}
		if (*q == 'u') {
			unsigned cp, lo;

			if (ps->end - q < 5 || hex4(q + 1, &cp) != 0 ||
			    (cp >= 0xdc00 && cp <= 0xdfff)) {
				ps->error = "invalid escape in string";
				return -1;
			}
			q += 4;
			if (cp == 0)
				ps->nul = true;
			/* A high surrogate needs its low half, as parse_string requires. */
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (ps->end - q < 7 || q[1] != '\\' || q[2] != 'u' ||
				    hex4(q + 3, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
					ps->error = "invalid escape in string";
					return -1;
				}
				q += 6;
			}
		}
	}
	if (!utf8_ok(s, q)) {
		ps->error = "string is not UTF-8";
		return -1;
	}
	ps->p = q + 1;
	return 0;
}

/* Checks an array or object without building it. */
static int skip_container(struct parser *ps, bool object)
{
	char close = object ? '}' : ']';

	if (++ps->depth > MAX_DEPTH) {
		ps->error = "nesting too deep";
		return -1;
	}
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		skip_ws(ps);
		if (object) {
			if (ps->p >= ps->end || *ps->p != '"') {
				ps->error = "expected a string key";
				return -1;
			}
			if (skip_string(ps))
				return -1;
			if (ps->nul) {
				ps->error = "\\u0000 in an object key";
				return -1;
			}
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				ps->error = "expected ':'";
				return -1;
			}
			ps->p++;
			skip_ws(ps);
		}
		if (skip_value(ps))
			return -1;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			return 0;
		}
		ps->error = object ? "expected ',' or '}'" : "expected ',' or ']'";
		return -1;
	}
}

static int literal(struct parser *ps, const char *word, size_t n);

static int skip_value(struct parser *ps)
{
	const char *q;

	if (ps->p >= ps->end) {
		ps->error = "unexpected end of input";
		return -1;
	}
	switch (*ps->p) {
	case '{':
		return skip_container(ps, true);
	case '[':
		return skip_container(ps, false);
	case '"':
		return skip_string(ps);
	case 't':
		return literal(ps, "true", 4);
	case 'f':
		return literal(ps, "false", 5);
	case 'n':
		return literal(ps, "null", 4);
	default:
		q = number_end(ps);
		if (!q)
			return -1;
		ps->p = q;
		return 0;
	}
}

static int literal(struct parser *ps, const char *word, size_t n)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
		ps->error = "invalid literal";
		return -1;
	}
	ps->p += n;
	return 0;
}

/*
 * Parses '[' ... ']' or '{' ... '}' at ps->p. parent is the key this
 * container is the value of (NULL at the root and in arrays).
 */
static cJSON *parse_container(struct parser *ps, bool object, const char *parent)
{
	bool skip_managed = object && (ps->flags & SG_JSON_SKIP_MANAGED_FIELDS) && parent &&
			    strcmp(parent, "metadata") == 0;
	char close = object ? '}' : ']';
	cJSON *item, *last = NULL;

	if (++ps->depth > MAX_DEPTH) {
		ps->error = "nesting too deep";
		return NULL;
	}
	item = node(ps, object ? cJSON_Object : cJSON_Array);
	if (!item)
		return NULL;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return item;
	}
	for (;;) {
		char *key = NULL;
		cJSON *child;

		skip_ws(ps);
		if (object) {
			if (ps->p >= ps->end || *ps->p != '"') {
				ps->error = "expected a string key";
				return NULL;
			}
			key = parse_string(ps);
			if (!key)
				return NULL;
			if (ps->nul) {
				/* Go keeps the NUL; a key cut short here could shadow another. */
				ps->error = "\\u0000 in an object key";
				return NULL;
			}
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				ps->error = "expected ':'";
				return NULL;
			}
			ps->p++;
			skip_ws(ps);
			if (skip_managed && strcmp(key, "managedFields") == 0) {
				if (skip_value(ps))
					return NULL;
				goto next;
			}
		}
		child = parse_value(ps, key);
		if (!child)
			return NULL;
		child->string = key;
		/* cJSON keeps the first child's prev pointing at the last child. */
		if (!last) {
			item->child = child;
		} else {
			last->next = child;
			child->prev = last;
		}
		last = child;
		item->child->prev = last;
	next:
		skip_ws(ps);
		if (ps->p >= ps->end) {
			ps->error = object ? "unterminated object" : "unterminated array";
			return NULL;
		}
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			break;
		}
		ps->error = object ? "expected ',' or '}'" : "expected ',' or ']'";
		return NULL;
	}
	ps->depth--;
	return item;
}

static cJSON *parse_value(struct parser *ps, const char *key)
{
	cJSON *item;
	char *s;

	if (ps->p >= ps->end) {
		ps->error = "unexpected end of input";
		return NULL;
	}
	switch (*ps->p) {
	case '{':
		return parse_container(ps, true, key);
	case '[':
		return parse_container(ps, false, NULL);
	case '"':
		s = parse_string(ps);
		if (!s)
			return NULL;
		item = node(ps, cJSON_String);
		if (item)
			item->valuestring = s;
		return item;
	case 't':
		return literal(ps, "true", 4) ? NULL : node(ps, cJSON_True);
	case 'f':
		return literal(ps, "false", 5) ? NULL : node(ps, cJSON_False);
	case 'n':
		return literal(ps, "null", 4) ? NULL : node(ps, cJSON_NULL);
	default:
		return parse_number(ps);
	}
}

cJSON *sg_json_parse_arena(const char *text, size_t n, struct sg_arena *arena, unsigned flags,
			   char **cause)
{
	struct parser ps = {text, text + n, text, arena, NULL, 0, flags, false};
	cJSON *root;
	char msg[160];

	if (n == 0) {
		*cause = strdup("empty body, expected a JSON object");
		return NULL;
	}
	skip_ws(&ps);
	root = parse_value(&ps, NULL);
	if (root) {
		skip_ws(&ps);
		if (ps.p < ps.end) {
			snprintf(msg, sizeof(msg), "trailing data after JSON value at byte %zu",
				 (size_t)(ps.p - ps.start));
			*cause = strdup(msg);
			return NULL;
		}
		return root;
	}
	snprintf(msg, sizeof(msg), "invalid JSON near byte %zu: %s", (size_t)(ps.p - ps.start),
		 ps.error ? ps.error : "syntax error");
	*cause = strdup(msg);
	return NULL;
}

/*
 * Inside the object at ps->p, finds the last member named key and leaves
 * ps->p at its value; -1 when absent or invalid.
 */
static int seek_member(struct parser *ps, const char *key)
{
	const char *found = NULL;
	size_t klen = strlen(key);

	if (ps->p >= ps->end || *ps->p != '{')
		return -1;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}')
		return -1;
	for (;;) {
		const char *k;

		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"')
			return -1;
		k = ps->p + 1;
		if (skip_string(ps))
			return -1;
		/* Keys with escapes never match: Kubernetes field names have none. */
		bool match = (size_t)(ps->p - k - 1) == klen && memcmp(k, key, klen) == 0;

		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return -1;
		ps->p++;
		skip_ws(ps);
		if (match)
			found = ps->p;
		if (skip_value(ps))
			return -1;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}')
			break;
		return -1;
	}
	if (!found)
		return -1;
	ps->p = found;
	return 0;
}

int sg_json_array_spans(const char *text, size_t n, const char *const *keys, size_t nkeys,
			struct sg_span *spans, size_t max, size_t *count)
{
	struct parser ps = {text, text + n, text, NULL, NULL, 0, 0, false};

	*count = 0;
	skip_ws(&ps);
	for (size_t i = 0; i < nkeys; i++)
		if (seek_member(&ps, keys[i]))
			return -1;
	if (ps.p >= ps.end || *ps.p != '[')
		return -1;
	ps.p++;
	skip_ws(&ps);
	if (ps.p < ps.end && *ps.p == ']')
		return 0;
	for (;;) {
		const char *start;

		skip_ws(&ps);
		start = ps.p;
		if (skip_value(&ps))
			return -1;
		if (*count < max) {
			spans[*count].start = (size_t)(start - text);
			spans[*count].len = (size_t)(ps.p - start);
		}
		(*count)++;
		skip_ws(&ps);
		if (ps.p < ps.end && *ps.p == ',') {
			ps.p++;
			continue;
		}
		if (ps.p < ps.end && *ps.p == ']')
			return 0;
		return -1;
	}
}
