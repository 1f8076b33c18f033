/*
 * sg_flags: the command-line value parsers both daemons share, so that a
 * duration or a size means the same thing on either.
 */
#ifndef SG_FLAGS_H
#define SG_FLAGS_H

/* "250ms", "2s" or "3" (seconds) in milliseconds, at most a day; -1 if invalid. */
long sg_flag_duration_ms(const char *s);

/* A whole number from 1 to max; -1 if invalid. */
long sg_flag_count(const char *s, long max);

/*
 * Prints "<program>: invalid --<flag> '<value>': <want>" on stderr and
 * returns 2, the exit status for a usage error.
 */
int sg_flag_invalid(const char *program, const char *flag, const char *value, const char *want);

#endif
