// SPDX-License-Identifier: GPL-2.0
/*
 * xpmem-simkernel: run simulated kernels (one per SOCKET) so xpmemd can be
 * started by hand without the module: xpmemd --channel SOCKET.
 * usage: xpmem-simkernel NODE_ID:SOCKET [NODE_ID:SOCKET...]
 */
#include "simkernel.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct simk *k[64];
	int n = 0;

	if (argc < 2 || argc > 65) {
		fprintf(stderr, "usage: %s NODE_ID:SOCKET [NODE_ID:SOCKET...]\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		unsigned long id = strtoul(argv[i], NULL, 0);

		if (!colon || !id) {
			fprintf(stderr, "%s: bad argument '%s'\n", argv[0], argv[i]);
			return 2;
		}
		k[n] = simk_create(colon + 1, (uint32_t)id, 5000);
		if (!k[n]) {
			perror(colon + 1);
			return 1;
		}
		n++;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	while (!stop)
		simk_pump(k, n, 1000);
	for (int i = 0; i < n; i++)
		simk_destroy(k[i]);
	return 0;
}
