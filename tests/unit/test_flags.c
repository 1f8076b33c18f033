#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "sg_flags.h"

Test(flags, durations)
{
	cr_expect_eq(sg_flag_duration_ms("250ms"), 250);
	cr_expect_eq(sg_flag_duration_ms("2s"), 2000);
	cr_expect_eq(sg_flag_duration_ms("3"), 3000);
	cr_expect_eq(sg_flag_duration_ms("0.5s"), 500);
	cr_expect_eq(sg_flag_duration_ms("0"), 0);
	cr_expect_eq(sg_flag_duration_ms("86400s"), 86400000);
}

Test(flags, bad_durations)
{
	const char *bad[] = {"", "s", "-1s", "2m", "2 s", "1e300", "nan", "inf", "86401s", "ms2"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(sg_flag_duration_ms(bad[i]), -1, "%s", bad[i]);
}

Test(flags, counts)
{
	cr_expect_eq(sg_flag_count("1", 10), 1);
	cr_expect_eq(sg_flag_count("10", 10), 10);
	cr_expect_eq(sg_flag_count("11", 10), -1);
	cr_expect_eq(sg_flag_count("0", 10), -1);
	cr_expect_eq(sg_flag_count("-3", 10), -1);
	cr_expect_eq(sg_flag_count("3k", 10), -1);
	cr_expect_eq(sg_flag_count("", 10), -1);
	cr_expect_eq(sg_flag_count("99999999999999999999999", 1L << 30), -1);
}

struct own {
	int seen;
	const char *last;
};

static int own_option(void *cfg, int opt, char *arg)
{
	struct own *o = cfg;

	if (strcmp(arg, "bad") == 0)
		return 2;
	o->seen += opt - SG_OPT_OWN + 1;
	o->last = arg;
	return 0;
}

static int check_ok(const char *path, char **cause)
{
	if (strcmp(path, "good.json") == 0)
		return 0;
	*cause = strdup("bad policy");
	return -1;
}

static const struct option own_options[] = {
	{"mine", required_argument, NULL, SG_OPT_OWN},
	{NULL, 0, NULL, 0},
};

static const struct sg_program prog = {"prog",	 "usage\n",   "{}\n",
				       check_ok, own_options, own_option};

/* argv's strings must outlive the parse: the results point into them. */
static char store[16][64];

static int parse(struct sg_common_config *c, struct own *o, const char *const *args)
{
	char *argv[16];
	int argc = 0;

	argv[argc++] = (char *)"prog";
	for (; *args; args++, argc++) {
		snprintf(store[argc], sizeof(store[argc]), "%s", *args);
		argv[argc] = store[argc];
	}
	argv[argc] = NULL;
	memset(c, 0, sizeof(*c));
	memset(o, 0, sizeof(*o));
	return sg_flags_parse(&prog, c, o, argc, argv);
}

Test(flags, parse_common_and_own)
{
	struct sg_common_config c;
	struct own o;
	const char *const args[] = {
		"--listen=127.0.0.1:1", "--tls-cert", "a.crt", "--drain-timeout=1.5s",
		"--max-body=100",	"--mine=x",   NULL};

	cr_assert_eq(parse(&c, &o, args), -1, "go on and run");
	cr_expect_str_eq(c.listen, "127.0.0.1:1");
	cr_expect_str_eq(c.tls_cert, "a.crt");
	cr_expect_eq(c.drain_timeout_ms, 1500);
	cr_expect_eq(c.max_body, 100);
	cr_expect_eq(o.seen, 1);
	cr_expect_str_eq(o.last, "x");
}

Test(flags, parse_exits, .init = cr_redirect_stdout)
{
	struct sg_common_config c;
	struct own o;
	const char *const help[] = {"--help", NULL},
			  *const bad_dur[] = {"--reload-interval=5ms", NULL},
			  *const bad_own[] = {"--mine=bad", NULL}, *const extra[] = {"stray", NULL},
			  *const check_good[] = {"--check-policy=good.json", NULL},
			  *const unknown[] = {"--nope", NULL};

	cr_expect_eq(parse(&c, &o, help), 0);
	cr_expect_eq(parse(&c, &o, bad_dur), 2);
	cr_expect_eq(parse(&c, &o, bad_own), 2);
	cr_expect_eq(parse(&c, &o, extra), 2);
	cr_expect_eq(parse(&c, &o, check_good), 0);
	cr_expect_eq(parse(&c, &o, unknown), 2);
}

Test(flags, check_policy_failure_exits_1, .init = cr_redirect_stderr)
{
	struct sg_common_config c;
	struct own o;
	const char *const args[] = {"--check-policy=other.json", NULL};

	cr_expect_eq(parse(&c, &o, args), 1);
	fflush(stderr);
	cr_expect_stderr_eq_str("bad policy\n");
}
