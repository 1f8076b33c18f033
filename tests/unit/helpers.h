/* Shared helpers for the unit tests: fixtures and patch inspection. */
#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Reads tests/fixtures/<rel> into a new NUL-terminated string (aborts the test on failure). */
char *fixture_text(const char *rel, size_t *len);

/* Parses tests/fixtures/<rel>. */
cJSON *fixture_json(const char *rel);

/* Parses JSON text or fails the test. */
cJSON *parse_or_die(const char *text);

/* The op in a parsed JSON Patch array whose path equals path, or NULL. */
const cJSON *find_op(const cJSON *ops, const char *path);

/* Makes the directory for a mkdtemp template (in place), or fails the test. */
void temp_dir_make(char *tmpl);

/* Removes that directory and everything in it, or fails the test. */
void temp_dir_remove(const char *dir);

/* Decodes standard base64 (with padding); returns a new string. */
char *b64decode(const char *in);

#endif
