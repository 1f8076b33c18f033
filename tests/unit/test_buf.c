#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "sg_buf.h"

Test(buf, appends_and_stays_nul_terminated)
{
	struct sg_buf b;

	sg_buf_init(&b, 1024);
	cr_assert_eq(sg_buf_puts(&b, "abc"), 0);
	cr_assert_eq(sg_buf_putc(&b, 'd'), 0);
	cr_assert_eq(sg_buf_printf(&b, "%d-%s", 42, "x"), 0);
	cr_assert_str_eq(b.data, "abcd42-x");
	cr_assert_eq(b.len, 8);
	sg_buf_release(&b);
	cr_assert_null(b.data);
}

Test(buf, refuses_to_grow_past_its_cap_and_keeps_contents)
{
	struct sg_buf b;

	sg_buf_init(&b, 8);
	cr_assert_eq(sg_buf_puts(&b, "12345678"), 0);
	cr_assert_eq(sg_buf_putc(&b, '9'), -E2BIG);
	cr_assert_eq(sg_buf_printf(&b, "%s", "x"), -E2BIG);
	cr_assert_str_eq(b.data, "12345678");
	sg_buf_release(&b);
}

Test(buf, json_string_escapes_quotes_backslashes_and_controls)
{
	struct sg_buf b;
	const char in[] = "a\"b\\c\n\t\x01\x1f<>&\xc3\xa9";

	sg_buf_init(&b, 1024);
	cr_assert_eq(sg_buf_json_string(&b, in, sizeof(in) - 1), 0);
	cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f<>&\xc3\xa9\"");
	sg_buf_release(&b);
}

Test(buf, json_string_with_embedded_nul_is_escaped)
{
	struct sg_buf b;

	sg_buf_init(&b, 64);
	cr_assert_eq(sg_buf_json_string(&b, "a\0b", 3), 0);
	cr_assert_str_eq(b.data, "\"a\\u0000b\"");
	sg_buf_release(&b);
}

Test(buf, failed_json_string_leaves_buffer_unchanged)
{
	struct sg_buf b;

	sg_buf_init(&b, 10);
	cr_assert_eq(sg_buf_puts(&b, "ab"), 0);
	cr_assert_eq(sg_buf_json_str(&b, "0123456789"), -E2BIG);
	cr_assert_str_eq(b.data, "ab");
	cr_assert_eq(b.len, 2);
	sg_buf_release(&b);
}

Test(buf, extend_reserves_room_to_fill)
{
	struct sg_buf b;
	char *at;

	sg_buf_init(&b, 64);
	sg_buf_puts(&b, "x");
	cr_assert_eq(sg_buf_extend(&b, 3, &at), 0);
	memcpy(at, "yz!", 3);
	cr_assert_str_eq(b.data, "xyz!");
	cr_assert_eq(sg_buf_extend(&b, 100, &at), -E2BIG);
	sg_buf_release(&b);
}

Test(buf, detach_hands_over_ownership)
{
	struct sg_buf b;
	char *s;

	sg_buf_init(&b, 64);
	s = sg_buf_detach(&b);
	cr_assert_str_eq(s, "");
	free(s);
	sg_buf_puts(&b, "hello");
	s = sg_buf_detach(&b);
	cr_assert_str_eq(s, "hello");
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	free(s);
}

Test(buf, read_file)
{
	char path[] = "/tmp/sg-test-buf-XXXXXX";
	int fd = mkstemp(path);
	struct sg_buf b;
	char big[20000];

	cr_assert_geq(fd, 0);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	close(fd);

	sg_buf_init(&b, sizeof(big));
	cr_expect_eq(sg_buf_read_file(&b, path), 0);
	cr_expect_eq(b.len, sizeof(big), "a file over several reads arrives whole");
	sg_buf_release(&b);

	sg_buf_init(&b, sizeof(big) - 1);
	cr_expect_eq(sg_buf_read_file(&b, path), -E2BIG, "one byte past the cap");
	sg_buf_release(&b);

	unlink(path);
	cr_expect_eq(sg_buf_read_file(&b, path), -ENOENT);
	cr_expect_eq(sg_buf_read_file(&b, "/"), -EISDIR);
	sg_buf_release(&b);
}

Test(buf, failf)
{
	char *cause = NULL;

	cr_expect_eq(sg_failf(&cause, "bad %s at %d", "thing", 7), -1);
	cr_expect_str_eq(cause, "bad thing at 7");
	free(cause);
}

/* The escaper byte by byte, as the reference for the 16-bytes-at-a-time one. */
static void escape_slowly(const unsigned char *s, size_t n, char *out)
{
	*out++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			*out++ = '\\';
			*out++ = (char)s[i];
		} else if (s[i] == '\n') {
			out += sprintf(out, "\\n");
		} else if (s[i] == '\r') {
			out += sprintf(out, "\\r");
		} else if (s[i] == '\t') {
			out += sprintf(out, "\\t");
		} else if (s[i] < 0x20) {
			out += sprintf(out, "\\u%04x", s[i]);
		} else {
			*out++ = (char)s[i];
		}
	}
	*out++ = '"';
	*out = '\0';
}

Test(buf, json_string_matches_the_byte_by_byte_escaper)
{
	static const unsigned char alphabet[] = {'a', 'Z', '/',	 ' ',  '"',  '\\', '\n', '\t',
						 0,   1,   0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff};
	unsigned seed = 12345;

	for (int round = 0; round < 2000; round++) {
		unsigned char in[80];
		char want[80 * 6 + 3];
		size_t n = (size_t)(round % 80);
		struct sg_buf b;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			/* Mostly plain bytes, so that runs cross the 16-byte blocks. */
			in[i] = (seed >> 16) % 4 ? 'x' : alphabet[(seed >> 20) % sizeof(alphabet)];
		}
		escape_slowly(in, n, want);
		sg_buf_init(&b, 1024);
		cr_assert_eq(sg_buf_json_string(&b, (const char *)in, n), 0);
		cr_assert_str_eq(b.data, want, "round %d", round);
		sg_buf_release(&b);
	}
}
