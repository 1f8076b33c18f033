#include "sg_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *sg_json_parse(const char *text, size_t n, char **cause)
{
	const char *end = NULL;
	cJSON *root;
	char msg[160];

	if (n == 0) {
		*cause = strdup("empty body, expected a JSON object");
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(text, n, &end, false);
	if (!root) {
		size_t off = end && end >= text ? (size_t)(end - text) : 0;

		snprintf(msg, sizeof(msg), "invalid JSON near byte %zu", off);
		*cause = strdup(msg);
		return NULL;
	}
	/* cJSON stops after the first value; anything but whitespace after it is an error. */
	while (end && (size_t)(end - text) < n) {
		char c = *end;

		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			snprintf(msg, sizeof(msg), "trailing data after JSON value at byte %zu",
				 (size_t)(end - text));
			*cause = strdup(msg);
			cJSON_Delete(root);
			return NULL;
		}
		end++;
	}
	return root;
}

cJSON *sg_json_get(const cJSON *obj, const char *key)
{
	cJSON *it, *found = NULL;

	if (!obj || !cJSON_IsObject(obj))
		return NULL;
	/* The first-byte test skips most strcmp calls: siblings rarely share a first letter. */
	for (it = obj->child; it; it = it->next)
		if (it->string && it->string[0] == key[0] && strcmp(it->string, key) == 0)
			found = it;
	return found;
}

cJSON *sg_json_path(const cJSON *obj, ...)
{
	va_list ap;
	const char *key;
	cJSON *cur = (cJSON *)obj;

	va_start(ap, obj);
	while (cur && (key = va_arg(ap, const char *)) != NULL)
		cur = sg_json_get(cur, key);
	va_end(ap);
	return cur;
}

const char *sg_json_str(const cJSON *obj, const char *key)
{
	cJSON *it = sg_json_get(obj, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

bool sg_json_true(const cJSON *obj, const char *key)
{
	return cJSON_IsTrue(sg_json_get(obj, key));
}

bool sg_json_false(const cJSON *obj, const char *key)
{
	return cJSON_IsFalse(sg_json_get(obj, key));
}

bool sg_json_unset(const cJSON *obj, const char *key)
{
	cJSON *it = sg_json_get(obj, key);

	return !it || cJSON_IsNull(it);
}

cJSON *sg_json_obj(const cJSON *obj, const char *key)
{
	cJSON *it = sg_json_get(obj, key);

	return cJSON_IsObject(it) ? it : NULL;
}

cJSON *sg_json_arr(const cJSON *obj, const char *key)
{
	cJSON *it = sg_json_get(obj, key);

	return cJSON_IsArray(it) ? it : NULL;
}

int sg_json_count(const cJSON *item)
{
	const cJSON *it;
	int n = 0;

	if (!item || !(cJSON_IsArray(item) || cJSON_IsObject(item)))
		return 0;
	for (it = item->child; it; it = it->next)
		n++;
	return n;
}

bool sg_json_arr_has_str(const cJSON *arr, const char *s)
{
	const cJSON *it;

	if (!cJSON_IsArray(arr))
		return false;
	for (it = arr->child; it; it = it->next)
		if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
			return true;
	return false;
}
