#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

char *fixture_text(const char *rel, size_t *len)
{
	char path[1024];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/%s", SG_FIXTURES, rel);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open fixture %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

cJSON *fixture_json(const char *rel)
{
	char *text = fixture_text(rel, NULL);
	cJSON *j = parse_or_die(text);

	free(text);
	return j;
}

cJSON *parse_or_die(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	cr_assert_not_null(j, "invalid JSON: %.200s", text);
	return j;
}

const cJSON *find_op(const cJSON *ops, const char *path)
{
	const cJSON *op;

	cJSON_ArrayForEach(op, ops)
	{
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(op, "path");

		if (cJSON_IsString(p) && strcmp(p->valuestring, path) == 0)
			return op;
	}
	return NULL;
}

char *b64decode(const char *in)
{
	size_t n = strlen(in);
	unsigned char *out = malloc(n + 1);
	int len;

	cr_assert_not_null(out);
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	cr_assert_geq(len, 0, "invalid base64");
	/* EVP_DecodeBlock counts padding bytes as output; drop them. */
	while (n > 0 && in[n - 1] == '=') {
		len--;
		n--;
	}
	out[len] = '\0';
	return (char *)out;
}

void temp_dir_make(char *tmpl)
{
	cr_assert_not_null(mkdtemp(tmpl), "mkdtemp %s", tmpl);
}

void temp_dir_remove(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}
