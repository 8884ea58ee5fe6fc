/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xpmem.ko's files as the VM tests (tests/api, tests/channel) read and write
 * them: module parameters in /sys/module/xpmem/parameters, "key value"
 * counters in /sys/kernel/debug/xpmem; and the monotonic clock their
 * deadlines count with.
 */
#ifndef XPMEM_TESTS_KMOD_H
#define XPMEM_TESTS_KMOD_H

/* Monotonic seconds. */
double now(void);
/* Writes @val to @path (one write at the close): 0, or -1 (errno set). */
int write_file(const char *path, const char *val);
/* /sys/module/xpmem/parameters/@name = @val: 0, or -1 (errno set). */
int write_param(const char *name, const char *val);
/*
 * The value of the last "@key value" line of @path (lines read while they
 * are "word number"), @absent if none, -1 if @path cannot be opened.
 */
long kv_long(const char *path, const char *key, long absent);
/* A "key value" line of /sys/kernel/debug/xpmem/@file, -1 if absent. */
long debugfs_long(const char *file, const char *key);
/* Failure reason @name (xpmem_fails.h) in debugfs "failures": its count
 * (0: not listed), -1 without debugfs. */
long fail_count(const char *name);

#endif
