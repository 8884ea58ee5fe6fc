// SPDX-License-Identifier: LGPL-2.1-or-later OR BSD-2-Clause
/*
 * The classic library's exported helpers, xpmem_init() and xpmem_ioctl(),
 * with the classic prototypes and behaviour (issue 11). On a host without
 * /dev/xpmem both fail with the error of open(2); with the device (in a
 * guest) xpmem_init() succeeds and xpmem_ioctl() drives the ioctls as the
 * wrappers do: VERSION, and MAKE/GET/ATTACH/DETACH/RELEASE/REMOVE of a page.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xpmem.h>

/* the classic prototypes, checked by the compiler */
static int (*const init_fn)(void) = xpmem_init;
static int (*const ioctl_fn)(int, void *) = xpmem_ioctl;

static int fails;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (cond) {                                               \
			printf("PASS " __VA_ARGS__);                      \
		} else {                                                  \
			printf("FAIL " __VA_ARGS__);                      \
			printf("  (%s:%d: %s; errno %d %s)\n", __FILE__,  \
			       __LINE__, #cond, errno, strerror(errno)); \
			fails++;                                          \
		}                                                         \
		putchar('\n');                                            \
	} while (0)

static void without_device(void)
{
	int r;

	errno = 0;
	r = init_fn();
	CHECK(r == -1 && errno == ENOENT, "no device: xpmem_init() = %d, errno ENOENT", r);
	errno = 0;
	r = ioctl_fn(XPMEM_CMD_VERSION, NULL);
	CHECK(r == -1 && errno == ENOENT, "no device: xpmem_ioctl(VERSION) = %d, errno ENOENT", r);
	errno = 0;
	r = xpmem_version();
	CHECK(r == -1 && errno == ENOENT, "no device: xpmem_version() = %d", r);
}

static void with_device(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct xpmem_cmd_make mk = { 0 };
	struct xpmem_cmd_get get = { 0 };
	struct xpmem_cmd_attach at = { 0 };
	struct xpmem_cmd_detach dt = { 0 };
	struct xpmem_cmd_release rel = { 0 };
	struct xpmem_cmd_remove rm = { 0 };
	volatile uint64_t *src, *dst;
	int v, r;

	CHECK(pg > 0, "page size %ld", pg);
	if (pg <= 0)
		return;
	r = init_fn();
	CHECK(r == 0, "xpmem_init() = %d", r);
	r = init_fn();
	CHECK(r == 0, "xpmem_init() again = %d (keeps its fd)", r);
	v = ioctl_fn(XPMEM_CMD_VERSION, NULL);
	CHECK(v == xpmem_version() && v >= 0x00027004,
	      "xpmem_ioctl(XPMEM_CMD_VERSION) = %#x = xpmem_version()", v);

	src = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(src != MAP_FAILED, "mmap source page");
	if (src == MAP_FAILED)
		return;
	src[0] = 0x5eed0001;
	src[1] = 0;
	mk.vaddr = (uintptr_t)src;
	mk.size = (uint64_t)pg;
	mk.permit_type = XPMEM_PERMIT_MODE;
	mk.permit_value = 0600;
	r = ioctl_fn(XPMEM_CMD_MAKE, &mk);
	CHECK(r == 0 && mk.segid > 0, "xpmem_ioctl(MAKE) = %d, segid %lld", r, (long long)mk.segid);
	get.segid = mk.segid;
	get.flags = XPMEM_RDWR;
	get.permit_type = XPMEM_PERMIT_MODE;
	r = ioctl_fn(XPMEM_CMD_GET, &get);
	CHECK(r == 0 && get.apid > 0, "xpmem_ioctl(GET) = %d, apid %lld", r, (long long)get.apid);
	at.apid = get.apid;
	at.size = (uint64_t)pg;
	at.fd = -1;
	r = ioctl_fn(XPMEM_CMD_ATTACH, &at);
	CHECK(r == 0 && at.vaddr != 0, "xpmem_ioctl(ATTACH) = %d at %#llx", r,
	      (unsigned long long)at.vaddr);
	if (r == 0 && at.vaddr) {
		dst = (volatile uint64_t *)(uintptr_t)at.vaddr;
		CHECK(dst[0] == 0x5eed0001 && dst[1] == 0, "attachment reads the source's words");
		dst[1] = 0xabcdef;
		CHECK(src[1] == 0xabcdef, "a write through the attachment reaches the source");
		dt.vaddr = at.vaddr;
		r = ioctl_fn(XPMEM_CMD_DETACH, &dt);
		CHECK(r == 0, "xpmem_ioctl(DETACH) = %d", r);
	}
	rel.apid = get.apid;
	r = ioctl_fn(XPMEM_CMD_RELEASE, &rel);
	CHECK(r == 0, "xpmem_ioctl(RELEASE) = %d", r);
	rm.segid = mk.segid;
	r = ioctl_fn(XPMEM_CMD_REMOVE, &rm);
	CHECK(r == 0, "xpmem_ioctl(REMOVE) = %d", r);
	errno = 0;
	r = ioctl_fn(XPMEM_CMD_REMOVE, &rm);
	CHECK(r == -1 && errno != 0, "xpmem_ioctl(REMOVE) again fails: %d", r);
	CHECK(munmap((void *)src, (size_t)pg) == 0, "munmap");
}

int main(void)
{
	struct stat st;

	if (stat(XPMEM_DEV_PATH, &st) == 0 && S_ISCHR(st.st_mode))
		with_device();
	else if (access(XPMEM_DEV_PATH, F_OK) != 0 && errno == ENOENT)
		without_device();
	else {
		printf("FAIL %s exists but is not a usable character device\n", XPMEM_DEV_PATH);
		fails++;
	}
	printf("%s: %d failure(s)\n", fails ? "FAIL" : "PASS", fails);
	return fails ? 1 : 0;
}
