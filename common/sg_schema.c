#include "sg_schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sg_buf.h"
#include "sg_json.h"

int sg_schema_fail(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_vfailf(cause, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int sg_schema_oom(char **cause)
{
	sg_failf(cause, "out of memory");
	return -ENOMEM;
}

int sg_schema_only_keys(const cJSON *obj, const char *where, const char *const *allowed,
			char **cause)
{
	const cJSON *it;

	if (!cJSON_IsObject(obj))
		return sg_schema_fail(cause, "%s must be an object", where);
	cJSON_ArrayForEach(it, obj)
	{
		const char *const *a;

		for (a = allowed; *a; a++)
			if (strcmp(*a, it->string) == 0)
				break;
		if (!*a)
			return sg_schema_fail(cause, "unknown field '%s' in %s", it->string, where);
	}
	return 0;
}

int sg_schema_bool(const cJSON *obj, const char *key, const char *where, bool *out, char **cause)
{
	const cJSON *it = sg_json_get(obj, key);

	if (!it)
		return 0;
	if (!cJSON_IsBool(it))
		return sg_schema_fail(cause, "%s.%s must be true or false", where, key);
	*out = cJSON_IsTrue(it);
	return 0;
}

int sg_schema_str(const cJSON *obj, const char *key, const char *where, const char **out,
		  char **cause)
{
	const cJSON *it = sg_json_get(obj, key);

	if (!it)
		return 0;
	if (!cJSON_IsString(it))
		return sg_schema_fail(cause, "%s.%s must be a string", where, key);
	*out = it->valuestring;
	return 0;
}

int sg_schema_str_list(const cJSON *obj, const char *key, const char *where, const cJSON **out,
		       char **cause)
{
	const cJSON *it = sg_json_get(obj, key), *e;

	if (!it)
		return 0;
	if (!cJSON_IsArray(it))
		return sg_schema_fail(cause, "%s.%s must be an array of strings", where, key);
	cJSON_ArrayForEach(e, it)
	{
		if (!cJSON_IsString(e) || e->valuestring[0] == '\0')
			return sg_schema_fail(cause, "%s.%s must hold only non-empty strings",
					      where, key);
	}
	*out = it;
	return 0;
}

int sg_schema_int(const cJSON *obj, const char *key, const char *where, long min, long max,
		  const char *note, long *out, char **cause)
{
	const cJSON *it = sg_json_get(obj, key);

	if (!it)
		return 0;
	/* The range is checked before the cast, which is undefined for values out of range. */
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= (double)min) ||
	    !(it->valuedouble <= (double)max) || it->valuedouble != (double)(long)it->valuedouble)
		return sg_schema_fail(cause, "%s.%s must be a whole number from %ld to %ld%s%s%s",
				      where, key, min, max, note ? " (" : "", note ? note : "",
				      note ? ")" : "");
	*out = (long)it->valuedouble;
	return 0;
}

int sg_schema_duration(const cJSON *obj, const char *key, const char *where, double min, double max,
		       double *out, char **cause)
{
	const cJSON *it = sg_json_get(obj, key);

	if (!it)
		return 0;
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= min) || !(it->valuedouble <= max))
		return sg_schema_fail(cause,
				      "%s.%s must be a number of seconds from %.15g to %.15g",
				      where, key, min, max);
	*out = it->valuedouble;
	return 0;
}
