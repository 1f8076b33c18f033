/*
 * Fuzz target for the kubeconfig loader (common/sg_kubeconfig.c): any
 * bytes as the kubeconfig file, through everything after the YAML reader
 * (contexts, clusters and users looked up by name, inline base64 data,
 * token checks). A load must either succeed with a server URL or fail with
 * a reason; nothing may crash, leak or trip a sanitizer.
 *
 * The loader reads the files a kubeconfig names. Relative names resolve
 * beside the kubeconfig, in this target's scratch directory; inputs that
 * name device, proc or sys files are skipped, since reading /dev/stdin or a
 * tty would block the run (the loader's 4 MiB bound covers the rest).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sg_kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *scratch_file(void)
{
	static char path[64];
	char dir[] = "/tmp/sg-fuzz-kubeconfig-XXXXXX";

	if (!path[0]) {
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/config", dir);
	}
	return path;
}

static int names_special_files(const uint8_t *data, size_t size)
{
	static const char *const bad[] = {"/dev", "/proc", "/sys", "..", "~"};
	size_t i, j, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = strlen(bad[i]);
		for (j = 0; j + n <= size; j++)
			if (memcmp(data + j, bad[i], n) == 0)
				return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = scratch_file();
	struct sg_kube_config c;
	char *cause = NULL;
	FILE *f;

	if (names_special_files(data, size))
		return 0;
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();
	memset(&c, 0, sizeof(c));
	if (sg_kube_config_load(path, &c, &cause) == 0) {
		if (!c.server || !c.server[0] || cause)
			abort();
		free(sg_kube_config_token(&c));
		sg_kube_config_release(&c);
	} else {
		if (!cause || !cause[0])
			abort();
		free(cause);
	}
	return 0;
}
