// SPDX-License-Identifier: GPL-2.0
/*
 * Pins the /dev/xpmem ioctl ABI to the classic XPMEM layout (natural x86_64
 * layout with size_t/off_t fields) so existing MPI binaries keep working.
 * Each struct is compared field by field with a mirror written the classic way.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <xpmem/xpmem_ioctl.h>

static int failures;

#define EXPECT_EQ(a, b)                                                        \
	do {                                                                   \
		unsigned long _a = (unsigned long)(a), _b = (unsigned long)(b); \
		if (_a != _b) {                                                \
			printf("FAIL %s == %s (%lu != %lu)\n", #a, #b, _a, _b); \
			failures++;                                            \
		}                                                              \
	} while (0)

#define SAME_FIELD(ours, classic, f)                                           \
	do {                                                                   \
		EXPECT_EQ(offsetof(struct ours, f), offsetof(struct classic, f)); \
		EXPECT_EQ(sizeof(((struct ours *)0)->f),                       \
			  sizeof(((struct classic *)0)->f));                   \
	} while (0)

/* The classic declarations, as Open MPI/UCX-era xpmem.h spells them. */
struct classic_make { uint64_t vaddr; size_t size; int permit_type; uint64_t permit_value; int64_t segid; };
struct classic_remove { int64_t segid; };
struct classic_get { int64_t segid; int flags; int permit_type; uint64_t permit_value; int64_t apid; };
struct classic_release { int64_t apid; };
struct classic_attach { int64_t apid; off_t offset; size_t size; uint64_t vaddr; int fd; int flags; };
struct classic_detach { uint64_t vaddr; };

int main(void)
{
	SAME_FIELD(xpmem_cmd_make, classic_make, vaddr);
	SAME_FIELD(xpmem_cmd_make, classic_make, size);
	SAME_FIELD(xpmem_cmd_make, classic_make, permit_type);
	SAME_FIELD(xpmem_cmd_make, classic_make, permit_value);
	SAME_FIELD(xpmem_cmd_make, classic_make, segid);
	EXPECT_EQ(sizeof(struct xpmem_cmd_make), sizeof(struct classic_make));

	SAME_FIELD(xpmem_cmd_remove, classic_remove, segid);
	EXPECT_EQ(sizeof(struct xpmem_cmd_remove), sizeof(struct classic_remove));

	SAME_FIELD(xpmem_cmd_get, classic_get, segid);
	SAME_FIELD(xpmem_cmd_get, classic_get, flags);
	SAME_FIELD(xpmem_cmd_get, classic_get, permit_type);
	SAME_FIELD(xpmem_cmd_get, classic_get, permit_value);
	SAME_FIELD(xpmem_cmd_get, classic_get, apid);
	EXPECT_EQ(sizeof(struct xpmem_cmd_get), sizeof(struct classic_get));

	SAME_FIELD(xpmem_cmd_release, classic_release, apid);
	EXPECT_EQ(sizeof(struct xpmem_cmd_release), sizeof(struct classic_release));

	SAME_FIELD(xpmem_cmd_attach, classic_attach, apid);
	SAME_FIELD(xpmem_cmd_attach, classic_attach, offset);
	SAME_FIELD(xpmem_cmd_attach, classic_attach, size);
	SAME_FIELD(xpmem_cmd_attach, classic_attach, vaddr);
	SAME_FIELD(xpmem_cmd_attach, classic_attach, fd);
	SAME_FIELD(xpmem_cmd_attach, classic_attach, flags);
	EXPECT_EQ(sizeof(struct xpmem_cmd_attach), sizeof(struct classic_attach));

	SAME_FIELD(xpmem_cmd_detach, classic_detach, vaddr);
	EXPECT_EQ(sizeof(struct xpmem_cmd_detach), sizeof(struct classic_detach));

	/* _IO('x', n): no size or direction bits. */
	EXPECT_EQ(XPMEM_CMD_VERSION, 0x7800);
	EXPECT_EQ(XPMEM_CMD_MAKE, 0x7801);
	EXPECT_EQ(XPMEM_CMD_REMOVE, 0x7802);
	EXPECT_EQ(XPMEM_CMD_GET, 0x7803);
	EXPECT_EQ(XPMEM_CMD_RELEASE, 0x7804);
	EXPECT_EQ(XPMEM_CMD_ATTACH, 0x7805);
	EXPECT_EQ(XPMEM_CMD_DETACH, 0x7806);
	EXPECT_EQ(XPMEM_CMD_FORK_BEGIN, 0x7807);
	EXPECT_EQ(XPMEM_CMD_FORK_END, 0x7808);

	/* Same major as 2.7.x and at least 0x00027004, so MPI version checks pass. */
	EXPECT_EQ(XPMEM_CURRENT_VERSION >> 16, 0x0002);
	if (XPMEM_CURRENT_VERSION < 0x00027004) {
		printf("FAIL version 0x%x older than 0x00027004\n", XPMEM_CURRENT_VERSION);
		failures++;
	}
	EXPECT_EQ(XPMEM_RDONLY, 0x1);
	EXPECT_EQ(XPMEM_RDWR, 0x2);
	EXPECT_EQ(XPMEM_PERMIT_MODE, 0x1);
	EXPECT_EQ(XPMEM_ERRNO_NOPROC, 2004);

	printf("abi_layout: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
