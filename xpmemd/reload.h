/* SPDX-License-Identifier: GPL-2.0 */
#ifndef XPMEMD_RELOAD_H
#define XPMEMD_RELOAD_H

struct dstate;

/* SIGHUP: re-read the configuration (cfg->reload); apply log_level, the
 * timeouts, max_pending_per_peer, remote_root and new [peer N] sections;
 * refuse the rest with a log line naming it */
void daemon_reload(struct dstate *d);

#endif
