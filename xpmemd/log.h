/* SPDX-License-Identifier: GPL-2.0 */
#ifndef XPMEMD_LOG_H
#define XPMEMD_LOG_H

#include <stdatomic.h>

enum { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* set on the loop (startup, SIGHUP), read by every thread that logs */
extern atomic_int xlog_level;
void xlog_set_prefix(const char *prefix);
int xlog_parse_level(const char *s);
void xlog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   xlog(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  xlog(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  xlog(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (xlog_level >= LOG_LVL_DEBUG) xlog(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
