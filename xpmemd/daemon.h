/* SPDX-License-Identifier: GPL-2.0 */
#ifndef XPMEMD_DAEMON_H
#define XPMEMD_DAEMON_H

#include "config.h"

/* Run the daemon until SIGTERM/SIGINT; returns the exit status. */
int daemon_run(struct xconfig *cfg);

#endif
