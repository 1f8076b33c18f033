#include "sg_flags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long sg_flag_duration_ms(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !(v >= 0))
		return -1;
	if (strcmp(end, "s") == 0 || *end == '\0')
		v *= 1000;
	else if (strcmp(end, "ms") != 0)
		return -1;
	return v > 86400000 ? -1 : (long)v;
}

long sg_flag_count(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return (end == s || *end || errno || v <= 0 || v > max) ? -1 : v;
}

int sg_flag_invalid(const char *program, const char *flag, const char *value, const char *want)
{
	fprintf(stderr, "%s: invalid --%s '%s': %s\n", program, flag, value, want);
	return 2;
}
