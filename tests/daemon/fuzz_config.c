// SPDX-License-Identifier: GPL-2.0
/* libFuzzer target: the INI config parser (config_load + config_check). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xconfig c;
	static char path[64];
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/xpmemd-fuzz-config.%d", getpid());
	f = fopen(path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	config_defaults(&c);
	if (config_load(&c, path, 1) == 0)
		config_check(&c);
	return 0;
}
