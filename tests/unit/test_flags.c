#include <criterion/criterion.h>

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
