#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "patch.h"

Test(patch, escapes_slash_and_tilde_in_keys)
{
	struct wh_path p;

	wh_path_init(&p);
	wh_path_key(&p, "metadata");
	wh_path_key(&p, "labels");
	wh_path_key(&p, "sandbox-guard.io/network-profile");
	cr_assert_str_eq(p.buf, "/metadata/labels/sandbox-guard.io~1network-profile");
	wh_path_init(&p);
	wh_path_key(&p, "a~b/c~");
	cr_assert_str_eq(p.buf, "/a~0b~1c~0");
}

Test(patch, indexes_and_children)
{
	struct wh_path p, q;

	wh_path_init(&p);
	wh_path_key(&p, "spec");
	wh_path_key(&p, "containers");
	wh_path_index(&p, 12);
	wh_path_child(&q, &p, "securityContext");
	cr_assert_str_eq(p.buf, "/spec/containers/12");
	cr_assert_str_eq(q.buf, "/spec/containers/12/securityContext");
}

Test(patch, builds_an_array_of_add_ops)
{
	struct wh_patch patch;
	struct wh_path p;

	wh_patch_init(&patch);
	cr_assert_eq(wh_patch_finish(&patch), 0);
	cr_assert_eq(patch.buf.len, 0, "no ops means no patch at all");
	wh_path_init(&p);
	wh_path_key(&p, "spec");
	wh_path_key(&p, "runtimeClassName");
	wh_patch_add_str(&patch, &p, "g\"visor");
	wh_path_init(&p);
	wh_path_key(&p, "x");
	wh_patch_add(&patch, &p, "{\"a\":[1]}");
	cr_assert_eq(wh_patch_finish(&patch), 0);
	cr_assert_str_eq(
		patch.buf.data,
		"[{\"op\":\"add\",\"path\":\"/spec/runtimeClassName\",\"value\":\"g\\\"visor\"},"
		"{\"op\":\"add\",\"path\":\"/x\",\"value\":{\"a\":[1]}}]");
	cr_assert_eq(patch.nops, 2);
	wh_patch_release(&patch);
}

Test(patch, overlong_path_fails_the_whole_patch)
{
	struct wh_patch patch;
	struct wh_path p;
	char key[2000];

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	wh_path_init(&p);
	wh_path_key(&p, key);
	cr_assert(p.overflow);
	wh_patch_init(&patch);
	wh_patch_add(&patch, &p, "1");
	cr_assert_neq(wh_patch_finish(&patch), 0);
	wh_patch_release(&patch);
}
