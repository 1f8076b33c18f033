#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "sg_watch.h"

static char dir[] = "/tmp/sg-watch-XXXXXX";

static void setup(void)
{
	temp_dir_make(dir);
}

static void teardown(void)
{
	temp_dir_remove(dir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

TestSuite(watch, .init = setup, .fini = teardown);

Test(watch, signature_changes_on_rewrite_and_symlink_swap)
{
	char a[300], b[300], link[300], data[300], tmp[300];
	struct sg_filesig s1, s2, s3;

	snprintf(a, sizeof(a), "%s/v1", dir);
	snprintf(b, sizeof(b), "%s/v2", dir);
	snprintf(data, sizeof(data), "%s/..data", dir);
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
	snprintf(link, sizeof(link), "%s/policy.json", dir);
	write_file(a, "{}");
	write_file(b, "{}");
	cr_assert_eq(symlink("v1", data), 0);
	cr_assert_eq(symlink("..data", link), 0);
	sg_filesig_read(link, &s1);
	cr_assert_eq(s1.err, 0);
	/* Same size, same content, different file: the kubelet's swap. */
	cr_assert_eq(symlink("v2", tmp), 0);
	cr_assert_eq(rename(tmp, data), 0);
	sg_filesig_read(link, &s2);
	cr_assert(!sg_filesig_equal(&s1, &s2));
	/* An in-place rewrite. */
	write_file(b, "{\"mode\":\"warn\"}");
	sg_filesig_read(link, &s3);
	cr_assert(!sg_filesig_equal(&s2, &s3));
}

Test(watch, missing_file_has_its_own_signature)
{
	char path[300];
	struct sg_filesig s1, s2;

	snprintf(path, sizeof(path), "%s/nope", dir);
	sg_filesig_read(path, &s1);
	cr_assert_neq(s1.err, 0);
	write_file(path, "x");
	sg_filesig_read(path, &s2);
	cr_assert(!sg_filesig_equal(&s1, &s2));
}
