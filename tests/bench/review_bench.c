/*
 * In-process cost of one admission review, without TLS or HTTP: the
 * parser against cJSON's own on the same ~3 KB sandbox-pod review (the
 * reference, in the same run), then the whole decision (decode, decide,
 * patch, encode) as the daemon runs it.
 *
 *   build/bench/review-bench [iterations, default 200000]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "admission.h"
#include "policy.h"
#include "sg_arena.h"
#include "sg_buf.h"
#include "sg_json.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
	struct sg_buf b;

	sg_buf_init(&b, 1u << 20);
	if (sg_buf_read_file(&b, path) != 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	*len = b.len;
	return sg_buf_detach(&b);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	size_t len;
	char *body = slurp(SG_BENCH_BODY, &len), *cause = NULL;
	struct sg_arena arena;
	struct sg_buf out;
	struct wh_outcome res;
	struct wh_policy *pol;
	double t, cj, fast, admit;
	long sink = 0;

	if (n <= 0)
		n = 200000;
	sg_arena_init(&arena, WH_ARENA_CHUNK, WH_ARENA_MAX);
	sg_buf_init(&out, 16u << 20);
	pol = wh_policy_parse(wh_default_policy_json, strlen(wh_default_policy_json), "built-in",
			      &cause);
	if (!pol) {
		fprintf(stderr, "%s\n", cause);
		return 1;
	}

	t = now();
	for (long i = 0; i < n; i++) {
		cJSON *j = cJSON_ParseWithLength(body, len);

		sink += j != NULL;
		cJSON_Delete(j);
	}
	cj = (now() - t) / (double)n;

	t = now();
	for (long i = 0; i < n; i++) {
		sg_arena_reset(&arena);
		sink += sg_json_parse_arena(body, len, &arena, 0, &cause) != NULL;
	}
	fast = (now() - t) / (double)n;

	t = now();
	for (long i = 0; i < n; i++) {
		sg_buf_reset(&out);
		sink += wh_admit(pol, WH_MUTATE, body, len, &arena, &out, &res) == 200;
	}
	admit = (now() - t) / (double)n;

	if (sink != 3 * n) {
		fprintf(stderr, "a parse or review failed\n");
		return 1;
	}
	printf("| step (%zu-byte sandbox-pod review, %ld runs) | us per review | vs cJSON parse "
	       "|\n",
	       len, n);
	printf("|---|---|---|\n");
	printf("| cJSON_ParseWithLength + cJSON_Delete (reference) | %.2f | 1.00 |\n", cj * 1e6);
	printf("| sg_json_parse_arena | %.2f | %.2f |\n", fast * 1e6, fast / cj);
	printf("| wh_admit, /mutate: decode, decide, patch, encode (decision: %s, %d ops) | %.2f | "
	       "%.2f |\n",
	       res.decision, res.patch_ops, admit * 1e6, admit / cj);
	wh_policy_free(pol);
	sg_buf_release(&out);
	sg_arena_release(&arena);
	free(body);
	return 0;
}
