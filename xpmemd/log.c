// SPDX-License-Identifier: GPL-2.0
/*
 * Leveled logging to stderr. Under systemd (JOURNAL_STREAM set) every line
 * gets a "<N>" syslog priority prefix, which journald turns into the entry's
 * priority; otherwise lines carry a timestamp and the level name.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

atomic_int xlog_level = LOG_LVL_INFO;
static char prefix[64] = "xpmemd";

void xlog_set_prefix(const char *p)
{
	snprintf(prefix, sizeof(prefix), "%s", p);
}

int xlog_parse_level(const char *s)
{
	if (!strcasecmp(s, "error") || !strcasecmp(s, "err")) return LOG_LVL_ERR;
	if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning")) return LOG_LVL_WARN;
	if (!strcasecmp(s, "info")) return LOG_LVL_INFO;
	if (!strcasecmp(s, "debug")) return LOG_LVL_DEBUG;
	return -1;
}

void xlog(int level, const char *fmt, ...)
{
	static const char *names[8] = { "emerg", "alert", "crit", "error",
					"warn", "notice", "info", "debug" };
	char msg[1024];
	va_list ap;

	if (level > xlog_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (getenv("JOURNAL_STREAM")) {
		fprintf(stderr, "<%d>%s\n", level, msg);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		fprintf(stderr, "%ld.%03ld %s %s: %s\n", (long)ts.tv_sec,
			ts.tv_nsec / 1000000, prefix, names[level & 7], msg);
	}
}
