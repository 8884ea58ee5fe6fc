// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer, stateful: the daemon's handlers driven by kernel messages, peer
 * messages (signed and sealed by fake peers), HELLOs, time passing, fences,
 * a full channel and a busy provider, in any order (fuzz_state.c). State is
 * built afresh per input; counts and caps are checked after every step.
 */
#include "fuzz_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	struct dstate *d = fz_setup();

	while (!fz_step(d, &in))
		;
	fz_teardown(d);
	return 0;
}
