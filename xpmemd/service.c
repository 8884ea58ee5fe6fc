// SPDX-License-Identifier: GPL-2.0
#include "service.h"
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

long long service_raise_nofile(void)
{
	struct rlimit rl;
	unsigned long long nr_open = 0;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return -1;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;

		f = fopen("/proc/sys/fs/nr_open", "r");
		if (f) {
			if (fscanf(f, "%llu", &nr_open) != 1)
				nr_open = 0;
			fclose(f);
		}
		if (nr_open && (want == RLIM_INFINITY || want > nr_open))
			want = (rlim_t)nr_open;
		if (want > rl.rlim_cur) {
			struct rlimit n = { .rlim_cur = want, .rlim_max = rl.rlim_max };

			if (setrlimit(RLIMIT_NOFILE, &n) < 0)
				log_warn("setrlimit(RLIMIT_NOFILE, %llu): %s",
					 (unsigned long long)want, strerror(errno));
			else
				rl.rlim_cur = want;
		}
	}
	log_info("fd limit %llu (hard %llu)", (unsigned long long)rl.rlim_cur,
		 (unsigned long long)rl.rlim_max);
	return (long long)rl.rlim_cur;
}

int service_watchdog_open(void)
{
	uint64_t usec = 0;
	struct itimerspec its = { 0 };
	int r = sd_watchdog_enabled(0, &usec), fd;

	if (r < 0)
		log_warn("sd_watchdog_enabled: %s", strerror(-r));
	if (r <= 0 || !usec)
		return -1;
	usec /= 4;		/* at least twice per half period */
	if (!usec)
		usec = 1;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0) {
		log_err("watchdog timerfd: %s", strerror(errno));
		return -1;
	}
	its.it_interval.tv_sec = (time_t)(usec / 1000000);
	its.it_interval.tv_nsec = (long)(usec % 1000000) * 1000;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		log_err("watchdog timerfd_settime: %s", strerror(errno));
		close(fd);
		return -1;
	}
	log_info("systemd watchdog: WATCHDOG=1 every %llu ms",
		 (unsigned long long)(usec / 1000));
	r = sd_notify(0, "WATCHDOG=1");
	if (r < 0)
		log_warn("sd_notify(WATCHDOG=1): %s", strerror(-r));
	return fd;
}

void service_watchdog_event(int fd)
{
	uint64_t n;
	int r;

	if (read(fd, &n, sizeof(n)) != sizeof(n) && errno != EAGAIN)
		log_warn("watchdog timerfd read: %s", strerror(errno));
	r = sd_notify(0, "WATCHDOG=1");
	if (r < 0)
		log_warn("sd_notify(WATCHDOG=1): %s", strerror(-r));
}
