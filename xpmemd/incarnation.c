// SPDX-License-Identifier: GPL-2.0
/* The persisted incarnation counter (state_dir/incarnation). */
#include "incarnation.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the stored counter (0: no file yet); -1 with err set */
static int inc_read(const char *path, uint64_t *stored, char *err, size_t errlen)
{
	char buf[64], *end;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	*stored = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = 0;
	errno = 0;
	*stored = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end && strcmp(end, "\n")) || *stored == UINT64_MAX) {
		snprintf(err, errlen, "%s: expected the decimal incarnation counter; "
			 "remove the file to restart the counter from the clock", path);
		return -1;
	}
	return 0;
}

/* inc into path, durably: temp file, fsync, rename, fsync of dir */
static int inc_store(const char *dir, const char *path, uint64_t inc, char *err, size_t errlen)
{
	char tmp[620], buf[64];
	int n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)inc), fd;

	snprintf(tmp, sizeof(tmp), "%s/incarnation.tmp", dir);
	errno = 0;	/* a short write sets none: EIO below */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno ? errno : EIO));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* the rename itself is durable once the directory is synced (a file
	 * system that cannot sync directories says EINVAL) */
	if (fd < 0 || (fsync(fd) < 0 && errno != EINVAL)) {
		snprintf(err, errlen, "state_dir %s: fsync: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int incarnation_next(const char *dir, uint64_t *inc, char *err, size_t errlen)
{
	char path[600];
	uint64_t stored, now = realtime_ns();

	snprintf(path, sizeof(path), "%s/incarnation", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "state_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (inc_read(path, &stored, err, errlen))
		return -1;
	/* grows across restarts, clock steps (stored + 1) and lost state (clock) */
	*inc = stored + 1 > now ? stored + 1 : now;
	if (*inc >= INCARNATION_LIMIT) {
		/* peers refuse HELLOs of 2^63 and more (docs/protocol.md 2.2) */
		snprintf(err, errlen, "%s: the next incarnation would be %llu, not below 2^63; "
			 "remove the file to restart the counter from the clock", path,
			 (unsigned long long)*inc);
		return -1;
	}
	return inc_store(dir, path, *inc, err, errlen);
}
