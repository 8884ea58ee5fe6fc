/* SPDX-License-Identifier: GPL-2.0 */
/* Process setup for running as a service: fd limit, systemd watchdog. */
#ifndef XPMEMD_SERVICE_H
#define XPMEMD_SERVICE_H

/*
 * Raise the RLIMIT_NOFILE soft limit to the hard limit (capped at
 * fs.nr_open): connections to the fabric port each hold an fd in the
 * provider until they close, so headroom is what keeps a flood of them from
 * starving the kernel channel and the Management socket. Returns the new
 * soft limit (logged), or -1.
 */
long long service_raise_nofile(void);

/*
 * A timerfd for the main loop's epoll that fires every quarter of
 * WatchdogSec (systemd's watchdog, sd_watchdog_enabled), or -1 when the
 * watchdog is off. On each expiry call service_watchdog_event: it reads the
 * timer and sends WATCHDOG=1, so systemd restarts a daemon whose loop hangs.
 */
int service_watchdog_open(void);
void service_watchdog_event(int fd);

#endif
