// SPDX-License-Identifier: GPL-2.0
/*
 * Memory safety and isolation of xpmem.ko (issue 9), run as root inside the
 * test VM (tests/vm/run --numa) with xpmem.ko loaded. The exporter is always
 * another process (a helper driven over pipes); what it wrote, it checks
 * itself, word by word. Every case prints PASS/FAIL/SKIP with its reason.
 *
 *   maxaddr_attach   attach > 2^47 bytes of a whole-address-space segment
 *   limits           per-user caps on segments and attachments (ENOSPC)
 *   limits_userns    segments made under several uids of a user namespace
 *                    count as its owner's (cap 8 in all, not 8 per uid)
 *   limits_permits   max_permits_per_user: get #9 ENOSPC, release gives back
 *   limits_big       max_big_attachments_per_user: the 3rd 33 GiB attachment
 *                    ENOSPC, small ones and other users unaffected
 *   limits_remove_while_attached
 *                    a removed segment stops counting at once, though
 *                    another user is still attached to it
 *   memfd_secret     secret memory never readable through an attachment
 *   owner_exit_fork  owner exits while a forked child holds its fd
 *   gup_vmsplice     no page reference through an attachment: vmsplice,
 *   gup_io_uring       io_uring fixed buffers, O_DIRECT read; PTE- and
 *   gup_odirect        PMD-mapped (THP source) attachments
 *   access_matrix    load/store/RMW/locked RMW/rep movsb over every source
 *                    state, each within a deadline
 *   uffd_wp_load     a load through a RDWR attachment of a userfaultfd
 *                    write-protected page is served; a store is SIGBUS
 *   fault_rounds     readers fault while the exporter drops the page in a
 *                    loop; the attacher's mmap/munmap stays under 1 s
 *   race_*           6 threads first-touching the same 2 MiB of fresh
 *                    attachments while the source splits, collapses, COWs
 *                    and unmaps; exporter memory compared word by word
 *
 * usage: xpmem-isolation-test [case-name...]
 * XPMEM_STRESS_SECS scales the race cases (seconds per case, default 6).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

#define PARAMS "/sys/module/xpmem/parameters/"

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *signame(int sig)
{
	return sig == 0 ? "no signal" : sig == SIGBUS ? "SIGBUS" :
	       sig == SIGSEGV ? "SIGSEGV" : sig == PROBE_HUNG ? "HUNG" : "signal";
}

/* apid for @segid and an attachment of [off, off+len); NULL on failure. */
static char *attach_seg(xpmem_segid_t segid, int flags, off_t off, size_t len,
			void *at, xpmem_apid_t *apid)
{
	struct xpmem_addr ad = { .offset = off };
	char *p;

	ad.apid = xpmem_get(segid, flags, XPMEM_PERMIT_MODE, NULL);
	if (ad.apid == -1)
		return NULL;
	p = xpmem_attach(ad, len, at);
	if (p == (void *)-1) {
		int e = errno;

		xpmem_release(ad.apid);
		errno = e;
		return NULL;
	}
	if (apid)
		*apid = ad.apid;
	return p;
}

/* ---- generic exporter --------------------------------------------------- */

/*
 * A helper process owning numbered regions, every word of which it filled
 * with gx_word(region, word) (nonzero). Replies are int64: >= 0 success,
 * -errno on failure.
 */
#define GX_MAX 8
#define GX_SECRET 0x5ec2e75ec2e70000ULL

struct gx_region {
	char *addr;
	size_t len;
	int secret;
};

static struct gx_region gx[GX_MAX];
static int gx_n;

static uint64_t gx_word(int region, size_t w)
{
	return mix64(((uint64_t)region << 40) ^ w) | 1;
}

static uint64_t gx_expect(int r, size_t w)
{
	return gx[r].secret ? GX_SECRET | (w & 0xffff) : gx_word(r, w);
}

static int64_t gx_new(char *addr, size_t len, int secret)
{
	if (!addr)
		return -ENOMEM;
	if (gx_n == GX_MAX)
		return -ENOSPC;
	gx[gx_n].addr = addr;
	gx[gx_n].len = len;
	gx[gx_n].secret = secret;
	for (size_t w = 0; w < len / 8; w++)
		((uint64_t *)addr)[w] = gx_expect(gx_n, w);
	return gx_n++;
}

/* Child holding the inherited /dev/xpmem fd, sleeping until killed. */
static pid_t gx_fork_sleeper(int in, int out)
{
	pid_t p = fork();

	if (p == 0) {
		close(in);
		close(out);
		for (int i = 0; i < 120; i++)
			sleep(1);
		_exit(0);
	}
	return p;
}

static void gx_main(int in, int out)
{
	struct cmd c;
	int64_t r;

	while (peer_next(in, &c)) {
		r = 0;
		switch (c.op) {
		case '4': {	/* 4 KiB pages: arg pages, MADV_NOHUGEPAGE */
			char *p = map_anon(c.arg * PG);

			if (p)
				madvise(p, c.arg * PG, MADV_NOHUGEPAGE);
			r = gx_new(p, c.arg * PG, 0);
			break;
		}
		case 'H': {	/* arg THPs, 2 MiB aligned */
			char *p = map_aligned(c.arg * HPAGE, HPAGE);

			if (p)
				madvise(p, c.arg * HPAGE, MADV_HUGEPAGE);
			r = gx_new(p, c.arg * HPAGE, 0);
			break;
		}
		case 'Z': {	/* arg pages of memfd_secret memory */
			int fd = syscall(SYS_memfd_secret, 0);
			char *p;

			if (fd < 0 || ftruncate(fd, c.arg * PG)) {
				r = -errno;
				break;
			}
			p = mmap(NULL, c.arg * PG, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);
			r = p == MAP_FAILED ? -errno : gx_new(p, c.arg * PG, 1);
			close(fd);
			break;
		}
		case 'h':	/* AnonHugePages of region arg, kB */
			r = smaps_anon_huge(gx[c.arg].addr);
			break;
		case 'a':
			r = (uintptr_t)gx[c.arg].addr;
			break;
		case 'S':	/* segment over region arg */
			r = xpmem_make(gx[c.arg].addr, gx[c.arg].len,
				       XPMEM_PERMIT_MODE, PERMIT);
			if (r == -1)
				r = -errno;
			break;
		case 'A':	/* whole address space */
			r = xpmem_make(0, XPMEM_MAXADDR_SIZE, XPMEM_PERMIT_MODE,
				       PERMIT);
			if (r == -1)
				r = -errno;
			break;
		case 'q':
			r = *(volatile uint64_t *)(uintptr_t)c.arg;
			break;
		case 'v': {	/* words of region arg that differ from its fill */
			uint64_t *w = (uint64_t *)gx[c.arg].addr;

			for (size_t i = 0; i < gx[c.arg].len / 8; i++)
				if (w[i] != gx_expect(c.arg, i) && r++ < 4)
					fprintf(stderr, "  exporter: region %d word %zu = %#llx, wrote %#llx\n",
						(int)c.arg, i,
						(unsigned long long)w[i],
						(unsigned long long)gx_expect(c.arg, i));
			break;
		}
		case 'f':
			r = gx_fork_sleeper(in, out);
			break;
		}
		peer_reply(out, r);
	}
	_exit(0);
}

static int64_t gx_cmd(struct peer *p, char op, uint64_t arg)
{
	return (int64_t)peer_cmd(p, op, arg);
}

/* ---- maxaddr_attach ------------------------------------------------------ */

/*
 * A whole-address-space segment of a 5-level-paging process spans 2^56
 * bytes; an attachment of more than 2^47 bytes does not fit the module's
 * attachment slots (47-bit assumption) and must be refused with EINVAL.
 */
static int t_maxaddr_attach(void)
{
	static const struct {
		size_t size;
		int fixed;	/* at a fixed address above 2^47 */
	} tries[] = {
		{ (1UL << 47) + PG, 0 }, { 1UL << 48, 0 }, { 1UL << 52, 0 },
		{ (1UL << 47) + PG, 1 }, { 1UL << 48, 1 }, { 3UL << 47, 1 },
	};
	char *hint = (char *)(1UL << 53);
	int la57 = 0, bad = 0, r;
	struct xpmem_addr ad;
	xpmem_segid_t s;
	struct peer pe;
	char *p, *buf;

	{
		void *hi = mmap(hint, PG, PROT_NONE, MAP_PRIVATE |
				MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		la57 = hi == hint;
		if (hi != MAP_FAILED)
			munmap(hi, PG);
	}
	CHECK(peer_start_fn(&pe, gx_main) == 0);
	r = gx_cmd(&pe, '4', 8);
	CHECK(r >= 0);
	buf = (char *)(uintptr_t)gx_cmd(&pe, 'a', r);
	s = gx_cmd(&pe, 'A', 0);
	CHECK(s > 0);
	ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	CHECK(ad.apid > 0);
	ad.offset = 0;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		if (tries[i].fixed && !la57)
			continue;
		tl_step("attach %#zx bytes%s", tries[i].size,
			tries[i].fixed ? " at 2^53" : "");
		errno = 0;
		p = xpmem_attach(ad, tries[i].size, tries[i].fixed ? hint : NULL);
		if (p == (void *)-1 && errno == EINVAL) {
			fprintf(stderr, "  attach of %#zx bytes%s: EINVAL\n",
				tries[i].size, tries[i].fixed ? " at 2^53" : "");
			continue;
		}
		bad++;
		tl_fail_note(__func__, __LINE__,
			     "attach of %#zx bytes (> 2^47)%s of a whole-address-space segment: %s, want EINVAL",
			     tries[i].size, tries[i].fixed ? " at 2^53" : "",
			     p == (void *)-1 ? strerror(errno) : "succeeded");
		if (p != (void *)-1)
			xpmem_detach(p);
	}
	/* the segment and apid work: the refusals were about the size */
	ad.offset = (uintptr_t)buf;
	p = xpmem_attach(ad, 8 * PG, NULL);
	CHECK(p != (void *)-1);
	for (size_t i = 0; i < 8; i++) {
		uint64_t v;

		CHECK(probe_read((uint64_t *)(p + i * PG), &v) == 0);
		CHECK(v == gx_word(r, i * PG / 8));
	}
	CHECK(xpmem_detach(p) == 0);
	CHECK(xpmem_release(ad.apid) == 0);
	peer_quit(&pe);
	if (bad)
		return 1;
	tl_summary("%s address space; every attach > 2^47 bytes refused with EINVAL, an 8-page attach of the same segment works",
		   la57 ? "57-bit (LA57)" : "47-bit");
	return 0;
}

/* ---- limits ---------------------------------------------------------------- */

/*
 * A helper running as @lim_uid: makes segments (one page each), attaches
 * pages of a given segment. Replies: (count << 16) | errno of the first
 * failure (0 if none).
 */
static uid_t lim_uid;

/* An attachment over 32 GiB: one of the shared "big" file-offset slots. */
#define BIG_ATT (33UL << 30)

/*
 * Attaches @len bytes from offset 0 of @apid @n times, into atts[] (64 at
 * most): 1 << 16 per attachment made, or'ed with the errno that stopped it.
 */
static uint64_t lim_attach(xpmem_apid_t apid, size_t len, uint64_t n,
			   char **atts, int *natts)
{
	uint64_t r = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct xpmem_addr ad = { .apid = apid };
		char *p = *natts < 64 ? xpmem_attach(ad, len, NULL) : (void *)-1;

		if (p == (void *)-1) {
			r |= errno;
			break;
		}
		atts[(*natts)++] = p;
		r += 1 << 16;
	}
	return r;
}

static void lim_main(int in, int out)
{
	char *mem = map_anon(64 * PG);
	xpmem_segid_t segs[64], lseg = -1;
	xpmem_apid_t apids[64];
	char *atts[64];
	int nsegs = 0, natts = 0, naps = 0;
	xpmem_apid_t apid = -1;
	struct cmd c;
	uint64_t r;

	if (setgroups(0, NULL) || setresgid(lim_uid, lim_uid, lim_uid) ||
	    setresuid(lim_uid, lim_uid, lim_uid))
		_exit(3);
	while (peer_next(in, &c)) {
		r = 0;
		switch (c.op) {
		case 'm':	/* make arg segments */
			for (uint64_t i = 0; i < c.arg; i++) {
				xpmem_segid_t s = nsegs < 64 ?
					xpmem_make(mem + nsegs * PG, PG,
						   XPMEM_PERMIT_MODE, PERMIT) : -1;

				if (s == -1) {
					r |= errno;
					break;
				}
				segs[nsegs++] = s;
				r += 1 << 16;
			}
			break;
		case 'r':	/* remove the last segment */
			r = nsegs && xpmem_remove(segs[--nsegs]) == 0 ? 0 : errno;
			break;
		case 'g':	/* get segment arg */
			apid = xpmem_get(c.arg, XPMEM_RDWR, XPMEM_PERMIT_MODE,
					 NULL);
			r = apid == -1 ? errno : 0;
			break;
		case 'a':	/* attach arg times its first page */
			r = lim_attach(apid, PG, c.arg, atts, &natts);
			break;
		case 'd':	/* detach the last attachment */
			r = natts && xpmem_detach(atts[--natts]) == 0 ? 0 : errno;
			break;
		case 'R':	/* release the apid: its attachments die */
			r = xpmem_release(apid) == 0 ? 0 : errno;
			break;
		case 'D':	/* unmap every attachment (dead ones too) */
			while (natts && r == 0)
				r = xpmem_detach(atts[--natts]) == 0 ? 0 : errno;
			break;
		case 's':	/* the segment 'G' gets */
			lseg = c.arg;
			break;
		case 'G':	/* arg more permits for that segment */
			for (uint64_t i = 0; i < c.arg; i++) {
				xpmem_apid_t a = naps < 64 ?
					xpmem_get(lseg, XPMEM_RDWR,
						  XPMEM_PERMIT_MODE, NULL) : -1;

				if (a == -1) {
					r |= errno;
					break;
				}
				apids[naps++] = a;
				r += 1 << 16;
			}
			break;
		case 'L':	/* release the last permit 'G' got */
			r = naps && xpmem_release(apids[--naps]) == 0 ? 0 : errno;
			break;
		case 'B':	/* attach arg times 33 GiB from offset 0 */
			r = lim_attach(apid, BIG_ATT, c.arg, atts, &natts);
			break;
		case 'i':	/* segid of segment number arg (raw reply) */
			r = c.arg < (uint64_t)nsegs ? (uint64_t)segs[c.arg] : 0;
			break;
		case 't': {	/* read the last attachment: signal (raw reply) */
			uint64_t v;

			r = natts ? (uint64_t)probe_read((uint64_t *)atts[natts - 1],
							 &v) : (uint64_t)-3;
			break;
		}
		}
		peer_reply(out, r);
	}
	_exit(0);
}

static int lim_start(struct peer *p, uid_t uid)
{
	lim_uid = uid;
	return peer_start_fn(p, lim_main);
}

/* Command @op @arg to helper @p must answer @count successes, then @err. */
#define LIM(p, who, op, arg, count, err) do { \
	uint64_t _r = peer_cmd(p, op, arg); \
	if (_r == (uint64_t)-2) \
		FAIL("%s: helper died (setresuid failed?)", who); \
	if ((_r >> 16) != (uint64_t)(count) || (_r & 0xffff) != (uint64_t)(err)) \
		FAIL("%s: '%c' %llu: %llu done then %s; want %d then %s", who, \
		     op, (unsigned long long)(arg), \
		     (unsigned long long)(_r >> 16), \
		     (_r & 0xffff) ? strerror(_r & 0xffff) : "no error", \
		     count, (err) ? strerror(err) : "no error"); \
	} while (0)

/* Helpers of uid 65534 (@a) and 65533 (@b); with @op, both do @op @s. */
static int lim_pair(struct peer *a, struct peer *b, char op, uint64_t s)
{
	CHECK(lim_start(a, 65534) == 0);
	CHECK(lim_start(b, 65533) == 0);
	if (op) {
		LIM(a, "uid 65534", op, s, 0, 0);
		LIM(b, "uid 65533", op, s, 0, 0);
	}
	return 0;
}

#define CAP 8

static int limits_body(xpmem_segid_t rootseg)
{
	struct peer a, b, a2;

	if (lim_pair(&a, &b, 0, 0))
		return 1;
	tl_step("segments of uid 65534");
	LIM(&a, "uid 65534", 'm', CAP + 1, CAP, ENOSPC);
	LIM(&b, "uid 65533 while 65534 is at its segment cap", 'm', 1, 1, 0);
	LIM(&a, "uid 65534", 'r', 0, 0, 0);
	LIM(&a, "uid 65534 after removing one", 'm', 1, 1, 0);
	LIM(&a, "uid 65534 at the cap again", 'm', 1, 0, ENOSPC);
	tl_step("attachments of uid 65534");
	LIM(&a, "uid 65534", 'g', rootseg, 0, 0);
	LIM(&a, "uid 65534", 'a', CAP + 1, CAP, ENOSPC);
	LIM(&b, "uid 65533", 'g', rootseg, 0, 0);
	LIM(&b, "uid 65533 while 65534 is at its attachment cap", 'a', 1, 1,
	    0);
	LIM(&a, "uid 65534", 'd', 0, 0, 0);
	LIM(&a, "uid 65534 after detaching one", 'a', 2, 1, ENOSPC);
	/* released attachments still mapped keep their quota until unmapped */
	LIM(&a, "uid 65534", 'R', 0, 0, 0);
	LIM(&a, "uid 65534 detaching its released attachments", 'D', 0, 0, 0);
	LIM(&a, "uid 65534", 'g', rootseg, 0, 0);
	LIM(&a, "uid 65534 after release and detach", 'a', CAP + 1, CAP,
	    ENOSPC);
	tl_step("quota of an exited process");
	peer_quit(&a);
	CHECK(lim_start(&a2, 65534) == 0);
	LIM(&a2, "uid 65534 after its previous process exited", 'm', CAP + 1,
	    CAP, ENOSPC);
	LIM(&a2, "uid 65534 after its previous process exited", 'g', rootseg,
	    0, 0);
	LIM(&a2, "uid 65534 after its previous process exited", 'a', CAP + 1,
	    CAP, ENOSPC);
	peer_quit(&a2);
	peer_quit(&b);
	return 0;
}

static int t_limits(void)
{
	static const char *const names[] = { "max_segments_per_user",
					     "max_attachments_per_user" };
	long old[2];
	char path[128], v[32];
	xpmem_segid_t s;
	char *buf;
	int rc;

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), PARAMS "%s", names[i]);
		old[i] = read_long(path);
		if (old[i] < 0)
			FAIL("module parameter %s missing: no per-user limit",
			     path);
	}
	buf = map_anon(4 * PG);
	CHECK(buf);
	buf[0] = 1;
	s = xpmem_make(buf, 4 * PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	snprintf(v, sizeof(v), "%d", CAP);
	rc = write_param(names[0], v) || write_param(names[1], v);
	if (rc)
		tl_fail_note(__func__, __LINE__, "cannot set the caps to %d",
			     CAP);
	else
		rc = limits_body(s);
	for (int i = 0; i < 2; i++) {
		snprintf(v, sizeof(v), "%ld", old[i]);
		if (write_param(names[i], v))
			FAIL("cannot restore %s=%s", names[i], v);
	}
	CHECK(xpmem_remove(s) == 0);
	if (!rc)
		tl_summary("cap %d per uid: make/attach #%d get ENOSPC, another uid unaffected, remove/detach/exit give quota back; caps restored to %ld/%ld",
			   CAP, CAP + 1, old[0], old[1]);
	return rc;
}

/* ---- limits: review fixes --------------------------------------------------- */

/* Sets module parameter @name to @val; *old gets what it was. 0 or 1 (noted). */
static int param_set(const char *name, const char *val, long *old)
{
	char path[128];

	snprintf(path, sizeof(path), PARAMS "%s", name);
	*old = read_long(path);
	if (*old < 0)
		FAIL("module parameter %s missing: this module has no such cap",
		     path);
	if (write_param(name, val))
		FAIL("cannot set %s to %s", name, val);
	return 0;
}

static int param_restore(const char *name, long old)
{
	char v[32];

	snprintf(v, sizeof(v), "%ld", old);
	if (write_param(name, v))
		FAIL("cannot restore %s=%s", name, v);
	return 0;
}

/*
 * Runs @fn(@s) with module parameter @name set to @val (its old value in
 * *@old) and restores it: 1 if the parameter cannot be set or restored,
 * else what @fn returned.
 */
static int with_param(const char *name, const char *val, long *old,
		      int (*fn)(xpmem_segid_t), xpmem_segid_t s)
{
	int rc;

	if (param_set(name, val, old))
		return 1;
	rc = fn(s);
	if (param_restore(name, *old))
		return 1;
	return rc;
}

/*
 * limits_userns: uid 65534 makes a user namespace mapping inner 0..999 to
 * 200000..200999 and makes segments under several inner uids. They are all
 * its segments (the namespace's owner's): CAP in all, then ENOSPC.
 */
#define UN_OWNER 65534
#define UN_KS 6		/* inner euids 1..UN_KS */
#define UN_PER 2	/* segments tried under each */

struct un_report {
	int stage;	/* 0, or the step that failed (un_stage) */
	int err;
	int made[UN_KS], err_k[UN_KS];
};

static const char *const un_stage[] = {
	"", "chroot(\"/proc/1/root\") (leaving the testbed's chroot, in which CLONE_NEWUSER is refused)",
	"setresuid(65534)", "unshare(CLONE_NEWUSER) as uid 65534",
	"setresuid(0) inside the namespace (uid_map written?)",
	"setresuid(-1, k, -1) inside the namespace",
	"mmap, or opening /dev/xpmem (xpmem_version)",
};

static void un_child(int in, int out)
{
	struct un_report rep = { 0 };
	char *mem = map_anon(UN_KS * UN_PER * PG), go;

	/* our own /dev/xpmem fd, opened as root in the testbed's root */
	if (!mem || xpmem_version() < 0)
		rep.stage = 6;
	else if (chroot("/proc/1/root") || chdir("/"))
		rep.stage = 1;
	else if (setgroups(0, NULL) || setresgid(UN_OWNER, UN_OWNER, UN_OWNER) ||
		 setresuid(UN_OWNER, UN_OWNER, UN_OWNER))
		rep.stage = 2;
	else if (unshare(CLONE_NEWUSER))
		rep.stage = 3;
	rep.err = rep.stage ? errno : 0;
	if (xwrite(out, &rep, sizeof(rep)) || rep.stage ||
	    xread(in, &go, 1))
		_exit(0);
	if (setresuid(0, 0, 0)) {
		rep.stage = 4;
		rep.err = errno;
	}
	for (int k = 0; k < UN_KS && !rep.stage; k++) {
		if (setresuid(-1, k + 1, -1)) {
			rep.stage = 5;
			rep.err = errno;
			break;
		}
		for (int j = 0; j < UN_PER; j++) {
			xpmem_segid_t s = xpmem_make(mem + (k * UN_PER + j) * PG,
						     PG, XPMEM_PERMIT_MODE,
						     PERMIT);

			if (s == -1) {
				rep.err_k[k] = errno;
				break;
			}
			rep.made[k]++;
		}
		if (setresuid(-1, 0, -1)) {
			rep.stage = 5;
			rep.err = errno;
		}
	}
	if (xwrite(out, &rep, sizeof(rep)))
		_exit(1);
	xread(in, &go, 1);	/* the segments live until we are told */
	_exit(0);
}

static int write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];
	int fd, e = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		e = errno ? errno : EIO;
	close(fd);
	return e;
}

static int userns_body(xpmem_segid_t unused)
{
	static const char map[] = "0 200000 1000\n";
	struct un_report rep;
	struct peer ch, o, other, o2;
	int total = 0, e, kinds = 0;
	char desc[256];
	size_t off = 0;

	(void)unused;
	CHECK(peer_start_fn(&ch, un_child) == 0);
	tl_step("child %d: uid %d, unshare(CLONE_NEWUSER)", ch.pid, UN_OWNER);
	CHECK(xread(ch.from, &rep, sizeof(rep)) == 0);
	if (rep.stage == 1 || rep.stage == 3)
		return tl_skip("%s: %s -- user namespaces unavailable here, per-owner counting NOT TESTED",
			       un_stage[rep.stage], strerror(rep.err));
	if (rep.stage)
		FAIL("child: %s: %s", un_stage[rep.stage], strerror(rep.err));
	e = write_proc(ch.pid, "uid_map", map);
	if (e)
		FAIL("writing /proc/%d/uid_map \"0 200000 1000\": %s", ch.pid,
		     strerror(e));
	e = write_proc(ch.pid, "gid_map", map);
	if (e == EPERM && !write_proc(ch.pid, "setgroups", "deny"))
		e = write_proc(ch.pid, "gid_map", map);
	if (e)
		FAIL("writing /proc/%d/gid_map: %s", ch.pid, strerror(e));
	tl_step("child makes segments under inner uids 1..%d", UN_KS);
	CHECK(xwrite(ch.to, "g", 1) == 0);
	CHECK(xread(ch.from, &rep, sizeof(rep)) == 0);
	if (rep.stage)
		FAIL("child: %s: %s", un_stage[rep.stage], strerror(rep.err));
	for (int k = 0; k < UN_KS; k++) {
		total += rep.made[k];
		kinds += rep.made[k] > 0;
		off += snprintf(desc + off, sizeof(desc) - off, "%suid %d (%d): %d%s%s",
				k ? ", " : "", k + 1, 200000 + k + 1, rep.made[k],
				rep.err_k[k] ? " then " : "",
				rep.err_k[k] ? strerror(rep.err_k[k]) : "");
	}
	fprintf(stderr, "  segments made in the namespace of uid %d, per inner uid (outside uid): %s\n",
		UN_OWNER, desc);
	if (total != CAP)
		FAIL("%d segments made under %d different inner uids of uid %d's user namespace, want %d in all (cap %d per user, the namespace owner's): %s",
		     total, kinds, UN_OWNER, CAP, CAP, desc);
	for (int k = 0; k < UN_KS; k++)
		if (rep.made[k] < UN_PER && rep.err_k[k] != ENOSPC)
			FAIL("inner uid %d: make #%d: %s, want ENOSPC", k + 1,
			     rep.made[k] + 1, strerror(rep.err_k[k]));
	if (kinds < 2)
		FAIL("only %d inner uid made segments: not a test of per-uid counting",
		     kinds);

	/* Its owner outside shares the quota; another user does not. */
	tl_step("uid %d outside its namespace", UN_OWNER);
	CHECK(lim_start(&o, UN_OWNER) == 0);
	CHECK(lim_start(&other, 65533) == 0);
	LIM(&o, "uid 65534 outside, its namespace holding 8 segments", 'm', 1,
	    0, ENOSPC);
	LIM(&other, "uid 65533 meanwhile", 'm', 1, 1, 0);
	peer_quit(&other);
	peer_quit(&o);
	tl_step("namespace child exits");
	CHECK(xwrite(ch.to, "q", 1) == 0);
	peer_stop(&ch);
	CHECK(lim_start(&o2, UN_OWNER) == 0);
	LIM(&o2, "uid 65534 after its namespace's process exited", 'm', CAP + 1,
	    CAP, ENOSPC);
	peer_quit(&o2);
	tl_summary("cap %d: segments under %d inner uids of uid %d's namespace (200001..) count as uid %d's: %s; uid %d outside then ENOSPC, 65533 unaffected, quota back at exit",
		   CAP, kinds, UN_OWNER, UN_OWNER, desc, UN_OWNER);
	return 0;
}

static int t_limits_userns(void)
{
	long old;

	return with_param("max_segments_per_user", "8", &old, userns_body, 0);
}

/* limits_permits: xpmem_get #CAP+1 of one user is ENOSPC. */
static int permits_body(xpmem_segid_t s)
{
	struct peer a, b;

	if (lim_pair(&a, &b, 's', s))
		return 1;
	tl_step("permits of uid 65534");
	LIM(&a, "uid 65534", 'G', CAP + 1, CAP, ENOSPC);
	LIM(&b, "uid 65533 while 65534 is at its permit cap", 'G', 2, 2, 0);
	LIM(&a, "uid 65534", 'L', 0, 0, 0);
	LIM(&a, "uid 65534 after releasing one", 'G', 2, 1, ENOSPC);
	/* the refused gets took nothing: release all, the whole cap is back */
	for (int i = 0; i < CAP; i++)
		LIM(&a, "uid 65534 releasing", 'L', 0, 0, 0);
	LIM(&a, "uid 65534 after releasing all", 'G', CAP + 1, CAP, ENOSPC);
	peer_quit(&a);
	peer_quit(&b);
	return 0;
}

static int t_limits_permits(void)
{
	char *buf = map_anon(PG);
	xpmem_segid_t s;
	long old;
	int rc;

	CHECK(buf);
	s = xpmem_make(buf, PG, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	rc = with_param("max_permits_per_user", "8", &old, permits_body, s);
	CHECK(xpmem_remove(s) == 0);
	if (!rc)
		tl_summary("max_permits_per_user=%d: get #%d ENOSPC, uid 65533 unaffected, release gives it back; restored to %ld",
			   CAP, CAP + 1, old);
	return rc;
}

/* limits_big: the 3rd attachment over 32 GiB of one user is ENOSPC. */
#define BIG_CAP 2

static int big_body(xpmem_segid_t s)
{
	struct peer a, b;

	if (lim_pair(&a, &b, 'g', s))
		return 1;
	tl_step("33 GiB attachments of uid 65534");
	LIM(&a, "uid 65534 attaching 33 GiB", 'B', BIG_CAP + 1, BIG_CAP, ENOSPC);
	LIM(&a, "uid 65534 at its big cap, a 1-page attachment", 'a', 1, 1, 0);
	LIM(&a, "uid 65534 detaching the 1-page attachment", 'd', 0, 0, 0);
	LIM(&b, "uid 65533 attaching 33 GiB while 65534 is at its big cap",
	    'B', 1, 1, 0);
	LIM(&a, "uid 65534 detaching a 33 GiB attachment", 'd', 0, 0, 0);
	LIM(&a, "uid 65534 after detaching one", 'B', 2, 1, ENOSPC);
	LIM(&a, "uid 65534", 'D', 0, 0, 0);
	LIM(&b, "uid 65533", 'D', 0, 0, 0);
	LIM(&a, "uid 65534 after detaching all", 'B', BIG_CAP + 1, BIG_CAP,
	    ENOSPC);
	peer_quit(&a);
	peer_quit(&b);
	return 0;
}

static int t_limits_big(void)
{
	xpmem_segid_t s;
	long old;
	int rc;

	s = xpmem_make(0, XPMEM_MAXADDR_SIZE, XPMEM_PERMIT_MODE, PERMIT);
	CHECK(s > 0);
	rc = with_param("max_big_attachments_per_user", "2", &old, big_body, s);
	CHECK(xpmem_remove(s) == 0);
	if (!rc)
		tl_summary("max_big_attachments_per_user=%d: 33 GiB attach #%d ENOSPC (1-page attach fine), uid 65533 unaffected, detach gives it back; restored to %ld",
			   BIG_CAP, BIG_CAP + 1, old);
	return rc;
}

/*
 * limits_remove_while_attached: a segment stops counting against its maker
 * when it is removed, even while another user is still attached to it.
 */
static int rwa_body(xpmem_segid_t unused)
{
	struct peer a, b;
	uint64_t s, sig;

	(void)unused;
	if (lim_pair(&a, &b, 0, 0))
		return 1;
	LIM(&a, "uid 65534", 'm', CAP, CAP, 0);
	LIM(&a, "uid 65534 at its cap", 'm', 1, 0, ENOSPC);
	s = peer_cmd(&a, 'i', CAP - 1);	/* the one 'r' removes */
	CHECK((int64_t)s > 0);
	LIM(&b, "uid 65533 getting a segment of 65534", 'g', s, 0, 0);
	LIM(&b, "uid 65533 attaching it", 'a', 1, 1, 0);
	sig = peer_cmd(&b, 't', 0);
	if (sig)
		FAIL("uid 65533 reading its attachment of 65534's segment: %s",
		     signame(sig));
	tl_step("uid 65534 removes the segment uid 65533 has attached");
	LIM(&a, "uid 65534 removing the segment 65533 has attached", 'r', 0,
	    0, 0);
	sig = peer_cmd(&b, 't', 0);
	if (sig != SIGBUS)
		FAIL("uid 65533's attachment of the removed segment: %s, want SIGBUS",
		     signame(sig));
	LIM(&a, "uid 65534 after removing a segment 65533 still has attached",
	    'm', 1, 1, 0);
	LIM(&a, "uid 65534 at its cap again", 'm', 1, 0, ENOSPC);
	/* 65533 letting go of the removed segment gives nothing back twice */
	LIM(&b, "uid 65533 detaching", 'D', 0, 0, 0);
	LIM(&b, "uid 65533 releasing", 'R', 0, 0, 0);
	LIM(&a, "uid 65534 after 65533 let go of the removed segment", 'm', 1,
	    0, ENOSPC);
	peer_quit(&a);
	peer_quit(&b);
	return 0;
}

static int t_limits_remove_while_attached(void)
{
	long old;
	int rc;

	rc = with_param("max_segments_per_user", "8", &old, rwa_body, 0);
	if (!rc)
		tl_summary("uid 65534 at cap %d removes a segment uid 65533 still attaches (now SIGBUS): it can make one more at once, not twice after 65533 lets go",
			   CAP);
	return rc;
}

/* ---- memfd_secret ---------------------------------------------------------- */

/* Reads/writes every page of @p: each must fault, none may show a secret. */
static int secret_probe(char *p, size_t npages, const char *what)
{
	for (size_t i = 0; i < npages; i++) {
		volatile uint64_t *w = (uint64_t *)(p + i * PG);
		uint64_t v = 0;
		int sig = probe_read(w, &v);

		if (!sig && (v & ~0xffffULL) == GX_SECRET)
			FAIL("%s: page %zu read the secret %#llx through the attachment",
			     what, i, (unsigned long long)v);
		if (!sig)
			FAIL("%s: page %zu read %#llx instead of faulting", what,
			     i, (unsigned long long)v);
		sig = probe_write(w, 0x0badbadbadULL);
		if (!sig)
			FAIL("%s: page %zu: a write through the attachment did not fault",
			     what, i);
	}
	return 0;
}

/* An attachment of @len at @off of @s: NULL if ATTACH refused (said so). */
static char *secret_attach(xpmem_segid_t s, off_t off, size_t len,
			   const char *what)
{
	struct xpmem_addr ad = { .offset = off };
	char *p;

	ad.apid = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	if (ad.apid == -1) {
		tl_fail_note(__func__, __LINE__, "%s: xpmem_get: %s", what,
			     strerror(errno));
		return (char *)-1;
	}
	p = xpmem_attach(ad, len, NULL);
	if (p == (void *)-1) {
		fprintf(stderr, "  %s: attach refused (%s)\n", what,
			strerror(errno));
		return NULL;
	}
	return p;
}

static int t_memfd_secret(void)
{
	xpmem_segid_t s;
	struct peer pe;
	int64_t r;
	char *p, *sec;
	int ranged, rc = 0;

	CHECK(peer_start_fn(&pe, gx_main) == 0);
	r = gx_cmd(&pe, 'Z', 4);
	if (r == -ENOSYS) {
		peer_quit(&pe);
		return tl_skip("memfd_secret(2) (syscall 447) returns ENOSYS in this guest: secret memory is off in this kernel (6.1 needs the secretmem.enable=1 boot parameter, which tests/vm/run does not pass) -- NOT TESTED");
	}
	if (r < 0)
		FAIL("memfd_secret region: %s", strerror(-r));
	sec = (char *)(uintptr_t)gx_cmd(&pe, 'a', r);
	/* a segment over the secret range may be refused outright */
	s = gx_cmd(&pe, 'S', r);
	ranged = s > 0;
	if (!ranged && s != -EINVAL)
		FAIL("xpmem_make over memfd_secret memory: %s; want success or EINVAL",
		     strerror(-s));
	if (ranged) {
		p = secret_attach(s, 0, 4 * PG, "segment over the secret range");
		if (p == (char *)-1 ||
		    (p && secret_probe(p, 4, "segment over the secret range")))
			rc = 1;
	}
	/* a whole-address-space segment covers it in any case */
	s = gx_cmd(&pe, 'A', 0);
	CHECK(s > 0);
	p = secret_attach(s, (uintptr_t)sec, 4 * PG,
			  "whole-address-space segment");
	if (p == (char *)-1 ||
	    (p && secret_probe(p, 4, "whole-address-space segment")))
		rc = 1;
	CHECK(gx_cmd(&pe, 'v', r) == 0);	/* the secret is intact */
	peer_quit(&pe);
	if (rc)
		return 1;
	tl_summary("range segment %s; through a whole-address-space segment every read/write faults; the secret is intact",
		   ranged ? "made, its attachment faults" : "refused (EINVAL)");
	return 0;
}

/* ---- owner_exit_fork ---------------------------------------------------- */

static int holds_xpmem_fd(pid_t pid)
{
	char dir[64], path[PATH_MAX], link[PATH_MAX];
	struct dirent *e;
	int found = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = 0;
			found |= !strcmp(link, "/dev/xpmem");
		}
	}
	closedir(d);
	return found;
}

/*
 * The owner exits while a child it forked still holds its /dev/xpmem fd:
 * its segments must go with its address space (not wait for the fd).
 */
static int t_owner_exit_fork(void)
{
	const size_t n = 16;
	xpmem_apid_t a, a2;
	xpmem_segid_t s;
	struct peer pe;
	int64_t r;
	pid_t kid;
	char *p;
	int sig = 0, listed = 1, bad = 0, gerr;
	uint64_t v;

	CHECK(peer_start_fn(&pe, gx_main) == 0);
	r = gx_cmd(&pe, '4', n);
	CHECK(r >= 0);
	s = gx_cmd(&pe, 'S', r);
	CHECK(s > 0);
	p = attach_seg(s, XPMEM_RDWR, 0, n * PG, NULL, &a);
	CHECK(p);
	for (size_t i = 0; i < n; i++)
		CHECK(probe_read((uint64_t *)(p + i * PG), &v) == 0 &&
		      v == gx_word(r, i * PG / 8));
	CHECK(seg_listed(s) == 1);
	kid = gx_cmd(&pe, 'f', 0);
	CHECK(kid > 0);
	CHECK(holds_xpmem_fd(kid));
	tl_step("owner exiting, child %d holds its fd", kid);
	peer_quit(&pe);	/* exits; reaped: its mm is gone */
	CHECK(kill(kid, 0) == 0);	/* the fd holder lives on */

	/* within 2 s: no new access, the attachment faults, not listed */
	for (int t = 0; t < 100; t++) {
		errno = 0;
		a2 = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
		if (a2 != -1)
			xpmem_release(a2);
		sig = probe_read((uint64_t *)p, &v);
		listed = seg_listed(s);
		if (a2 == -1 && sig && listed == 0)
			break;
		usleep(20000);
	}
	errno = 0;
	a2 = xpmem_get(s, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	gerr = errno;
	if (a2 != -1 || (gerr != ENOENT && gerr != EINVAL)) {
		bad++;
		tl_fail_note(__func__, __LINE__,
			     "xpmem_get of the exited owner's segment: %s, want ENOENT or EINVAL",
			     a2 != -1 ? "succeeded" : strerror(gerr));
		if (a2 != -1)
			xpmem_release(a2);
	}
	if (!sig) {
		bad++;
		tl_fail_note(__func__, __LINE__,
			     "the existing attachment still reads %#llx after its owner exited; want SIGBUS",
			     (unsigned long long)v);
	}
	if (listed != 0) {
		bad++;
		tl_fail_note(__func__, __LINE__,
			     "debugfs segments %s segment %#llx of the exited owner",
			     listed < 0 ? "unreadable for" : "still lists",
			     (long long)s);
	}
	fprintf(stderr, "  after the owner exited (child %d holding its fd): get %s, attachment %s, debugfs %s\n",
		kid, a2 == -1 ? strerror(gerr) : "succeeded", signame(sig),
		listed ? "lists it" : "does not list it");
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	xpmem_detach(p);
	xpmem_release(a);
	if (bad)
		return 1;
	tl_summary("owner gone while a forked child held its fd: get %s, old attachment %s, not in debugfs",
		   strerror(gerr), signame(sig));
	return 0;
}

/* ---- GUP refusal ------------------------------------------------------------ */

/*
 * Two attachments of an exporter: 16 pages of a 4 KiB source and one THP
 * (2 MiB aligned on both sides, so a PMD mapping is possible), every page
 * touched and shown present (a second pass takes no fault).
 */
struct gup {
	struct peer pe;
	int reg[2];
	xpmem_segid_t seg[2];
	xpmem_apid_t apid[2];
	char *att[2];
	size_t len[2];
	long long pmds[2];
	long thp_kb;
};

static const char *const gup_name[2] = { "4 KiB source (PTEs)",
					 "THP source" };

static int gup_setup(struct gup *g)
{
	CHECK(peer_start_fn(&g->pe, gx_main) == 0);
	g->reg[0] = gx_cmd(&g->pe, '4', 16);
	g->reg[1] = gx_cmd(&g->pe, 'H', 1);
	CHECK(g->reg[0] >= 0 && g->reg[1] >= 0);
	g->len[0] = 16 * PG;
	g->len[1] = HPAGE;
	g->thp_kb = gx_cmd(&g->pe, 'h', g->reg[1]);
	for (int i = 0; i < 2; i++) {
		long long c0[5], c1[5];
		uint64_t v;

		g->seg[i] = gx_cmd(&g->pe, 'S', g->reg[i]);
		CHECK(g->seg[i] > 0);
		g->att[i] = attach_seg(g->seg[i], XPMEM_RDWR, 0, g->len[i], NULL,
				       &g->apid[i]);
		CHECK(g->att[i]);
		for (size_t pg = 0; pg < g->len[i] / PG; pg++) {
			CHECK(probe_read((uint64_t *)(g->att[i] + pg * PG), &v) == 0);
			CHECK(v == gx_word(g->reg[i], pg * PG / 8));
		}
		CHECK(seg_counters(g->seg[i], c0) == 0);
		for (size_t pg = 0; pg < g->len[i] / PG; pg++)
			CHECK(probe_read((uint64_t *)(g->att[i] + pg * PG), &v) == 0);
		CHECK(seg_counters(g->seg[i], c1) == 0);
		if (c1[0] != c0[0])
			FAIL("%s: attachment not populated: a second pass took %lld faults",
			     gup_name[i], c1[0] - c0[0]);
		g->pmds[i] = c1[4];
		fprintf(stderr, "  %s: %zu pages present (%lld faults, %lld pmds mapped%s)\n",
			gup_name[i], g->len[i] / PG, c1[0], c1[4],
			i ? (((uintptr_t)g->att[i] & (HPAGE - 1)) ? ", unaligned" :
			     "") : "");
	}
	if (g->thp_kb < 2048)
		fprintf(stderr, "  WARNING: THP source is not huge (AnonHugePages %ld kB): its variant tests PTEs only\n",
			g->thp_kb);
	/* where the kernel maps PMDs, the THP variant must test one */
	else if (pmd_mappings_expected() && !g->pmds[1])
		FAIL("%s: map_pmd=Y but the huge source's attachment is not PMD-mapped (%lld PMD fallbacks): GUP through a PMD would go untested",
		     gup_name[1], seg_pmd_fallbacks(g->seg[1]));
	return 0;
}

static void gup_done(struct gup *g)
{
	for (int i = 0; i < 2; i++) {
		xpmem_detach(g->att[i]);
		xpmem_release(g->apid[i]);
	}
	peer_quit(&g->pe);
}

/* The exporter's memory still holds what it wrote (nothing DMA'd into it). */
static int gup_intact(struct gup *g)
{
	for (int i = 0; i < 2; i++) {
		int64_t d = gx_cmd(&g->pe, 'v', g->reg[i]);

		if (d)
			FAIL("%s: %lld words of the exporter's memory changed",
			     gup_name[i], (long long)d);
	}
	return 0;
}

/* Offsets into the attachments: a few pages inside, not at the start. */
static const size_t gup_off[2] = { 4 * PG, 100 * PG };

static const char *gup_thp_note(struct gup *g)
{
	return g->thp_kb < 2048 ? " (source not huge!)" :
	       g->pmds[1] ? " (PMD-mapped)" : " (PTE-mapped)";
}

static int t_gup_vmsplice(void)
{
	struct gup g;
	int bad = 0, pp[2];
	char *plain = map_anon(4 * PG);
	struct iovec iov;
	ssize_t n;

	CHECK(plain);
	memset(plain, 7, 4 * PG);
	CHECK(gup_setup(&g) == 0);
	/* vmsplice itself works here */
	CHECK(pipe(pp) == 0);
	iov.iov_base = plain;
	iov.iov_len = 4 * PG;
	n = vmsplice(pp[1], &iov, 1, 0);
	if (n != 4 * PG)
		FAIL("vmsplice of ordinary memory: %zd (%s)", n, strerror(errno));
	close(pp[0]);
	close(pp[1]);
	for (int i = 0; i < 2; i++) {
		CHECK(pipe(pp) == 0);
		iov.iov_base = g.att[i] + gup_off[i];
		iov.iov_len = 4 * PG;
		tl_step("vmsplice of the %s attachment", gup_name[i]);
		errno = 0;
		n = vmsplice(pp[1], &iov, 1, 0);
		fprintf(stderr, "  vmsplice of 4 pages of the %s attachment%s: %zd (%s)\n",
			gup_name[i], i ? gup_thp_note(&g) : "", n,
			n < 0 ? strerror(errno) : "pages now referenced by the pipe");
		if (n != -1 || errno != EFAULT) {
			bad++;
			tl_fail_note(__func__, __LINE__,
				     "vmsplice of the %s attachment%s: %zd (%s), want EFAULT: the pipe holds references to the exporter's pages",
				     gup_name[i], i ? gup_thp_note(&g) : "", n,
				     n < 0 ? strerror(errno) : "spliced");
		}
		close(pp[0]);
		close(pp[1]);
	}
	CHECK(gup_intact(&g) == 0);
	gup_done(&g);
	if (bad)
		return 1;
	tl_summary("vmsplice EFAULT on both attachments (THP one%s), ordinary memory splices",
		   gup_thp_note(&g));
	return 0;
}

static int t_gup_io_uring(void)
{
	struct io_uring_params par;
	char *plain = map_anon(4 * PG);
	struct iovec iov;
	struct gup g;
	int fd, bad = 0;
	long r;

	CHECK(plain);
	memset(plain, 7, 4 * PG);
	memset(&par, 0, sizeof(par));
	fd = syscall(SYS_io_uring_setup, 4, &par);
	if (fd < 0)
		return tl_skip("io_uring_setup: %s -- io_uring unavailable, buffer registration NOT TESTED",
			       strerror(errno));
	iov.iov_base = plain;
	iov.iov_len = 4 * PG;
	r = syscall(SYS_io_uring_register, fd, IORING_REGISTER_BUFFERS, &iov, 1);
	if (r)
		FAIL("registering ordinary memory as an io_uring buffer: %s",
		     strerror(errno));
	CHECK(syscall(SYS_io_uring_register, fd, IORING_UNREGISTER_BUFFERS,
		      NULL, 0) == 0);
	CHECK(gup_setup(&g) == 0);
	for (int i = 0; i < 2; i++) {
		iov.iov_base = g.att[i] + gup_off[i];
		iov.iov_len = 4 * PG;
		tl_step("io_uring buffer over the %s attachment", gup_name[i]);
		errno = 0;
		r = syscall(SYS_io_uring_register, fd, IORING_REGISTER_BUFFERS,
			    &iov, 1);
		fprintf(stderr, "  IORING_REGISTER_BUFFERS over the %s attachment%s: %ld (%s)\n",
			gup_name[i], i ? gup_thp_note(&g) : "", r,
			r ? strerror(errno) : "pinned");
		if (r == 0) {
			bad++;
			tl_fail_note(__func__, __LINE__,
				     "io_uring registered a fixed buffer over the %s attachment%s: the exporter's pages are pinned",
				     gup_name[i], i ? gup_thp_note(&g) : "");
			syscall(SYS_io_uring_register, fd,
				IORING_UNREGISTER_BUFFERS, NULL, 0);
		} else if (errno != EFAULT && errno != EOPNOTSUPP) {
			bad++;
			tl_fail_note(__func__, __LINE__,
				     "io_uring buffer over the %s attachment: %s, want EFAULT or EOPNOTSUPP",
				     gup_name[i], strerror(errno));
		}
	}
	close(fd);
	CHECK(gup_intact(&g) == 0);
	gup_done(&g);
	if (bad)
		return 1;
	tl_summary("IORING_REGISTER_BUFFERS refused on both attachments (THP one%s), ordinary memory registers",
		   gup_thp_note(&g));
	return 0;
}

/* An ext4 file system on a loop device over a file in /tmp (tmpfs itself has
 * no O_DIRECT). The kernel's own module loading does not see the chroot's
 * modules: load them first. */
#define OD_DIR "/tmp/xpmem-isolation-odirect"

static void odirect_teardown(void)
{
	if (system("umount " OD_DIR "/mnt 2>/dev/null; "
		   "[ -s " OD_DIR "/dev ] && losetup -d $(cat " OD_DIR "/dev) 2>/dev/null; "
		   "rm -rf " OD_DIR))
		return;
}

static int odirect_setup(char *why, size_t len)
{
	static const char *const steps[] = {
		"mkdir -p " OD_DIR "/mnt",
		"truncate -s 8M " OD_DIR "/img",
		"mkfs.ext4 -q -F " OD_DIR "/img >/dev/null 2>&1",
		"modprobe loop 2>/dev/null; losetup -f --show " OD_DIR "/img > " OD_DIR "/dev",
		"modprobe ext4 2>/dev/null; mount -t ext4 $(cat " OD_DIR "/dev) " OD_DIR "/mnt",
	};

	odirect_teardown();
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (system(steps[i])) {
			snprintf(why, len, "'%s' failed", steps[i]);
			odirect_teardown();
			return -1;
		}
	return 0;
}

static int odirect_body(void)
{
	const size_t flen = 64 * 1024;
	char *data = map_anon(flen), *plain = map_aligned(4 * PG, PG);
	int fd, bad = 0;
	struct gup g;
	ssize_t n;

	CHECK(data && plain);
	for (size_t i = 0; i < flen / 8; i++)
		((uint64_t *)data)[i] = 0xd1dec7000000ULL + i;
	fd = open(OD_DIR "/mnt/data", O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, flen) == (ssize_t)flen && fsync(fd) == 0);
	close(fd);
	fd = open(OD_DIR "/mnt/data", O_RDONLY | O_DIRECT);
	if (fd < 0)
		return tl_skip("open(O_DIRECT) on ext4 over loop: %s -- O_DIRECT NOT TESTED",
			       strerror(errno));
	n = pread(fd, plain, 2 * PG, 0);
	if (n != 2 * PG || memcmp(plain, data, 2 * PG))
		FAIL("O_DIRECT read into ordinary memory: %zd (%s)", n,
		     n < 0 ? strerror(errno) : "wrong data");
	CHECK(gup_setup(&g) == 0);
	for (int i = 0; i < 2; i++) {
		tl_step("O_DIRECT read into the %s attachment", gup_name[i]);
		errno = 0;
		n = pread(fd, g.att[i] + gup_off[i], 2 * PG, 0);
		fprintf(stderr, "  O_DIRECT read into the %s attachment%s: %zd (%s)\n",
			gup_name[i], i ? gup_thp_note(&g) : "", n,
			n < 0 ? strerror(errno) : "DMA into pinned pages");
		if (n != -1 || errno != EFAULT) {
			bad++;
			tl_fail_note(__func__, __LINE__,
				     "O_DIRECT read into the %s attachment%s: %zd (%s), want EFAULT",
				     gup_name[i], i ? gup_thp_note(&g) : "", n,
				     n < 0 ? strerror(errno) : "read done through pinned pages");
		}
	}
	close(fd);
	if (!bad)
		CHECK(gup_intact(&g) == 0);
	gup_done(&g);
	if (bad)
		return 1;
	tl_summary("O_DIRECT read (ext4 on loop) EFAULT into both attachments (THP one%s), ordinary memory reads",
		   gup_thp_note(&g));
	return 0;
}

static int t_gup_odirect(void)
{
	char why[256];
	int rc;

	if (odirect_setup(why, sizeof(why)))
		return tl_skip("no O_DIRECT-capable file system (tmpfs has none; ext4 on a loop device: %s) -- O_DIRECT NOT TESTED",
			       why);
	rc = odirect_body();
	odirect_teardown();
	return rc;
}

/* ---- access_matrix ---------------------------------------------------------- */

enum { K_LOAD, K_STORE, K_RMW, K_LOCKRMW, K_MOVSIN, K_MOVSOUT, MX_KINDS };
enum { S_UNTOUCHED, S_ZERO, S_WRITTEN, S_COW, S_RDONLY, S_THP, MX_STATES };

static const char *const mx_kind[MX_KINDS] = {
	"load", "store", "rmw", "lock-rmw", "movsb-in", "movsb-out" };
static const char *const mx_state[MX_STATES] = {
	"untouched", "zero-page", "written", "cow-shared", "read-only", "thp" };

#define MX_WORD 100		/* accessed word in the page */
#define MX_THP_PAGE 77		/* accessed page in a THP */
#define MX_MOVS 8		/* words copied by rep movsb */
#define MX_DEADLINE_MS 4000

/* Shared with the exporter (MAP_SHARED, made before the fork). */
struct mx_shared {
	uint64_t base[MX_STATES];
	long thp_kb;
	int nmods;
	struct {
		uint64_t addr, val;
		int any;	/* the access hung: either value */
	} mods[MX_KINDS * MX_STATES * MX_MOVS];
};

static struct mx_shared *mx;

static size_t mx_stride(int st)
{
	return st == S_THP ? HPAGE : PG;
}

static uint64_t mx_init(int st, size_t w)
{
	if (st == S_UNTOUCHED || st == S_ZERO)
		return 0;
	return w % 4 == 3 ? 0 : mix64(((uint64_t)st << 48) ^ w) | 1;
}

/* Word index (from its region's start) of the word accessed for @k. */
static size_t mx_widx(int st, int k)
{
	return (k * mx_stride(st) +
		(st == S_THP ? MX_THP_PAGE * PG : 0)) / 8 + MX_WORD;
}

/* What the region's word @w should hold now (fill, then recorded writes). */
static int mx_expected(int st, size_t w, uint64_t *v)
{
	uint64_t addr = mx->base[st] + w * 8;

	*v = mx_init(st, w);
	for (int i = 0; i < mx->nmods; i++)
		if (mx->mods[i].addr == addr) {
			if (mx->mods[i].any)
				return -1;
			*v = mx->mods[i].val;
		}
	return 0;
}

static void mx_cow_child(int in, int out)
{
	struct cmd c;
	uint64_t r;

	while (xread(in, &c, sizeof(c)) == 0) {
		r = 0;
		if (c.op == 'q') {
			r = *(volatile uint64_t *)(uintptr_t)c.arg;
		} else if (c.op == 'v') {	/* never sees anyone's write */
			uint64_t *w = (uint64_t *)(uintptr_t)mx->base[S_COW];

			for (size_t i = 0; i < MX_KINDS * PG / 8; i++)
				r += w[i] != mx_init(S_COW, i);
		}
		if (xwrite(out, &r, sizeof(r)))
			break;
	}
	_exit(0);
}

static void mx_exporter(int in, int out)
{
	struct peer child = { 0 };
	struct cmd c;
	uint64_t r;

	while (peer_next(in, &c)) {
		r = 0;
		switch (c.op) {
		case 'I':
			for (int st = 0; st < MX_STATES; st++) {
				size_t len = MX_KINDS * mx_stride(st);
				uint64_t *p = st == S_THP ?
					map_aligned(len, HPAGE) : map_anon(len);

				if (!p)
					_exit(2);
				mx->base[st] = (uintptr_t)p;
				madvise(p, len, st == S_THP ? MADV_HUGEPAGE :
					MADV_NOHUGEPAGE);
				if (st != S_COW)	/* nothing else is shared */
					madvise(p, len, MADV_DONTFORK);
				if (st == S_ZERO)
					for (size_t i = 0; i < len / 8; i += PG / 8)
						r += ((volatile uint64_t *)p)[i];
				if (st >= S_WRITTEN)
					for (size_t i = 0; i < len / 8; i++)
						p[i] = mx_init(st, i);
				if (st == S_RDONLY)
					mprotect(p, len, PROT_READ);
			}
			mx->thp_kb = smaps_anon_huge((void *)mx->base[S_THP]);
			if (peer_start_fn(&child, mx_cow_child))
				_exit(3);
			r = xpmem_make(0, XPMEM_MAXADDR_SIZE, XPMEM_PERMIT_MODE,
				       PERMIT);
			break;
		case 'q':
			r = *(volatile uint64_t *)(uintptr_t)c.arg;
			break;
		case 'c':	/* the COW child's word */
			r = peer_cmd(&child, 'q', c.arg);
			break;
		case 'V': {	/* words differing from what was written */
			for (int st = 0; st < MX_STATES; st++) {
				volatile uint64_t *p =
					(uint64_t *)(uintptr_t)mx->base[st];

				for (size_t i = 0; i < MX_KINDS * mx_stride(st) / 8; i++) {
					uint64_t want;

					if (mx_expected(st, i, &want) || p[i] == want)
						continue;
					if (r++ < 8)
						fprintf(stderr, "  exporter: %s page %zu word %zu = %#llx, want %#llx\n",
							mx_state[st], i / 512, i % 512,
							(unsigned long long)p[i],
							(unsigned long long)want);
				}
			}
			r += peer_cmd(&child, 'v', 0) << 32;
			break;
		}
		}
		peer_reply(out, r);
	}
	_exit(0);
}

struct mx_acc {
	int kind;
	uint64_t *p;
	uint64_t val;
	uint64_t buf[MX_MOVS];
};

static void mx_do(void *arg)
{
	struct mx_acc *a = arg;
	void *d, *s;
	size_t n = MX_MOVS * 8;

	switch (a->kind) {
	case K_LOAD:
		a->buf[0] = *(volatile uint64_t *)a->p;
		break;
	case K_STORE:
		*(volatile uint64_t *)a->p = a->val;
		break;
	case K_RMW:
		__asm__ volatile("addq $1, %0" : "+m"(*a->p));
		break;
	case K_LOCKRMW:
		__asm__ volatile("lock addq $1, %0" : "+m"(*a->p));
		break;
	case K_MOVSIN:
		d = a->p;
		s = a->buf;
		__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : :
				 "memory");
		break;
	case K_MOVSOUT:
		d = a->buf;
		s = a->p;
		__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : :
				 "memory");
		break;
	}
}

static void mx_record(uint64_t addr, uint64_t val, int any)
{
	mx->mods[mx->nmods].addr = addr;
	mx->mods[mx->nmods].val = val;
	mx->mods[mx->nmods].any = any;
	mx->nmods++;
}

/* One access kind on one source state through a fresh attachment. */
static int mx_case(struct peer *pe, xpmem_apid_t apid, xpmem_segid_t seg,
		   int st, int k, int *hung)
{
	size_t w = mx_widx(st, k), pgw = w % (mx_stride(st) / 8);
	uint64_t src = mx->base[st] + k * mx_stride(st), ex = src + pgw * 8;
	int writes = k != K_LOAD && k != K_MOVSOUT;
	int must_fault = writes && st == S_RDONLY;
	struct xpmem_addr ad = { .apid = apid, .offset = src };
	struct mx_acc a = { .kind = k };
	uint64_t v0 = mx_init(st, w), want[MX_MOVS], got;
	long long c0[5], c1[5];
	int sig, nw = k == K_MOVSIN || k == K_MOVSOUT ? MX_MOVS : 1;
	char *att;

	for (int i = 0; i < nw; i++)
		want[i] = mx_init(st, w + i);
	att = xpmem_attach(ad, mx_stride(st), NULL);
	if (att == (void *)-1)
		FAIL("%s/%s: attach: %s", mx_kind[k], mx_state[st],
		     strerror(errno));
	a.p = (uint64_t *)(att + pgw * 8);
	a.val = 0x5a5a000000000000ULL | st << 8 | k;
	for (int i = 0; i < MX_MOVS; i++)
		a.buf[i] = a.val + i * 0x10000;
	seg_counters(seg, c0);
	tl_step("%s on a %s source page", mx_kind[k], mx_state[st]);
	sig = probe_call(mx_do, &a, MX_DEADLINE_MS);
	seg_counters(seg, c1);
	tl_step("checking %s on a %s source page", mx_kind[k], mx_state[st]);
	xpmem_detach(att);

	if (sig == PROBE_HUNG) {
		for (int i = 0; i < nw; i++)
			mx_record(ex + i * 8, 0, 1);
		(*hung)++;
		FAIL("%s/%s: HUNG -- no progress in %d ms, %lld faults meanwhile",
		     mx_kind[k], mx_state[st], MX_DEADLINE_MS, c1[0] - c0[0]);
	}
	if (must_fault && sig != SIGBUS && sig != SIGSEGV)
		FAIL("%s/%s: %s; a write to a read-only source must raise SIGBUS or SIGSEGV",
		     mx_kind[k], mx_state[st], signame(sig));
	if (!must_fault && sig)
		FAIL("%s/%s: %s", mx_kind[k], mx_state[st], signame(sig));
	/* what the attacher got */
	if (k == K_LOAD && a.buf[0] != v0)
		FAIL("%s/%s: read %#llx, source holds %#llx", mx_kind[k],
		     mx_state[st], (unsigned long long)a.buf[0],
		     (unsigned long long)v0);
	if (k == K_MOVSOUT)
		for (int i = 0; i < MX_MOVS; i++)
			if (a.buf[i] != want[i])
				FAIL("%s/%s: copied word %d = %#llx, source holds %#llx",
				     mx_kind[k], mx_state[st], i,
				     (unsigned long long)a.buf[i],
				     (unsigned long long)want[i]);
	/* what the exporter must see now */
	if (!must_fault) {
		if (k == K_STORE)
			want[0] = a.val;
		else if (k == K_RMW || k == K_LOCKRMW)
			want[0] = v0 + 1;
		else if (k == K_MOVSIN)
			memcpy(want, a.buf, sizeof(want));
		if (writes)
			for (int i = 0; i < nw; i++)
				mx_record(ex + i * 8, want[i], 0);
	}
	for (int i = 0; i < nw; i += nw - 1 ? nw - 1 : 1) {
		got = peer_cmd(pe, 'q', ex + i * 8);
		if (got != want[i])
			FAIL("%s/%s: exporter's word %d = %#llx, want %#llx",
			     mx_kind[k], mx_state[st], i,
			     (unsigned long long)got, (unsigned long long)want[i]);
	}
	if (st == S_COW) {
		got = peer_cmd(pe, 'c', ex);
		if (got != v0)
			FAIL("%s/%s: the exporter's COW child sees %#llx, want its own %#llx",
			     mx_kind[k], mx_state[st], (unsigned long long)got,
			     (unsigned long long)v0);
	}
	fprintf(stderr, "  %-9s %-10s ok: %s, %lld faults\n", mx_kind[k],
		mx_state[st], signame(sig), c1[0] - c0[0]);
	return 0;
}

static int t_access_matrix(void)
{
	int failed = 0, hung = 0, n = 0;
	xpmem_segid_t seg;
	xpmem_apid_t apid;
	struct peer pe;
	uint64_t r;

#ifndef __x86_64__
	return tl_skip("x86-64 inline assembly (RMW, rep movsb)");
#endif
	mx = mmap(NULL, sizeof(*mx), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(mx != MAP_FAILED);
	CHECK(peer_start_fn(&pe, mx_exporter) == 0);
	seg = peer_cmd(&pe, 'I', 0);
	CHECK(seg > 0);
	if (mx->thp_kb < (long)(MX_KINDS * HPAGE / 1024))
		fprintf(stderr, "  WARNING: THP source only %ld kB huge\n",
			mx->thp_kb);
	apid = xpmem_get(seg, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	CHECK(apid > 0);
	for (int st = 0; st < MX_STATES; st++)
		for (int k = 0; k < MX_KINDS; k++) {
			n++;
			failed += mx_case(&pe, apid, seg, st, k, &hung) != 0;
		}
	tl_step("exporter compares its memory");
	r = peer_cmd(&pe, 'V', 0);
	if (r)
		tl_fail_note(__func__, __LINE__,
			     "afterwards %llu words of the exporter's memory and %llu of its COW child's differ from what was written",
			     (unsigned long long)(r & 0xffffffff),
			     (unsigned long long)(r >> 32));
	peer_quit(&pe);
	xpmem_release(apid);
	fprintf(stderr, "  %d cases: %d failed (%d hung)\n", n, failed, hung);
	if (failed || r)
		return 1;
	if (mx->thp_kb < (long)(MX_KINDS * HPAGE / 1024))
		return tl_skip("all cases passed, but the THP source was only %ld kB huge (want %lu kB): the THP state is NOT TESTED",
			       mx->thp_kb, MX_KINDS * HPAGE / 1024);
	tl_summary("%d access kinds x %d source states, none hung (deadline %d ms), exporter and COW child memory word-exact",
		   MX_KINDS, MX_STATES, MX_DEADLINE_MS);
	return 0;
}

/* ---- uffd_wp_load ------------------------------------------------------------ */

/*
 * The exporter write-protects one written page with userfaultfd (nobody
 * reads the uffd). A writable attachment's load asks for write access
 * first; where that fails (uffd-wp) the load must still be served,
 * read-only. A store must fail (SIGBUS), not hang; once the protection is
 * lifted the store goes through.
 */
#define UF_PAGES 4
#define UF_WP 1			/* the write-protected page */
#define UF_WORD 5		/* the word accessed in a page */

struct uf_shared {
	uint64_t base;
	int stage, err;		/* where the uffd set-up failed */
	uint64_t features, ioctls;
};

static struct uf_shared *uf;

static uint64_t uf_val(int pg, int w)
{
	return mix64(0x0ffd0000ULL + pg * 4096 + w) | 1;
}

static const char *const uf_stage[] = {
	"", "userfaultfd(2)", "UFFDIO_API", "UFFDIO_REGISTER (MODE_WP)",
	"UFFDIO_WRITEPROTECT", "xpmem_make", "UFFDIO_WRITEPROTECT (off)",
	"the registered range has no _UFFDIO_WRITEPROTECT",
};

static void uf_exporter(int in, int out)
{
	uint64_t *p = map_anon(UF_PAGES * PG);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { 0 };
	struct uffdio_writeprotect wp = { 0 };
	struct cmd c;
	int64_t r;
	int fd = -1;

	if (!p)
		_exit(2);
	madvise(p, UF_PAGES * PG, MADV_NOHUGEPAGE);
	for (int pg = 0; pg < UF_PAGES; pg++)
		for (int w = 0; w < (int)(PG / 8); w++)
			p[pg * PG / 8 + w] = uf_val(pg, w);
	uf->base = (uintptr_t)p;
	reg.range.start = wp.range.start = (uintptr_t)p + UF_WP * PG;
	reg.range.len = wp.range.len = PG;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	while (peer_next(in, &c)) {
		r = 0;
		switch (c.op) {
		case 'I':
			fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
			if (fd < 0)
				uf->stage = 1;
			else if (ioctl(fd, UFFDIO_API, &api))
				uf->stage = 2;
			else if (ioctl(fd, UFFDIO_REGISTER, &reg))
				uf->stage = 3;
			else if (!(reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT)))
				uf->stage = 7;
			else if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp))
				uf->stage = 4;
			uf->err = uf->stage ? errno : 0;
			uf->features = api.features;
			uf->ioctls = reg.ioctls;
			if (uf->stage) {
				r = -1;
				break;
			}
			r = xpmem_make(p, UF_PAGES * PG, XPMEM_PERMIT_MODE,
				       PERMIT);
			if (r == -1) {
				uf->stage = 5;
				uf->err = errno;
			}
			break;
		case 'U':	/* lift the write protection */
			wp.mode = 0;
			if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp)) {
				uf->stage = 6;
				uf->err = errno;
				r = -1;
			}
			break;
		case 'q':
			r = *(volatile uint64_t *)(uintptr_t)c.arg;
			break;
		}
		peer_reply(out, r);
	}
	_exit(0);
}

struct uf_acc {
	volatile uint64_t *p;
	uint64_t v;
	int store;
};

static void uf_do(void *arg)
{
	struct uf_acc *a = arg;

	if (a->store)
		*a->p = a->v;
	else
		a->v = *a->p;
}

#define UF_DEADLINE_MS 4000

/* Load or store word UF_WORD of attachment page @pg within the deadline. */
static int uf_access(char *att, int pg, int store, uint64_t *v)
{
	struct uf_acc a = { .p = (uint64_t *)(att + pg * PG) + UF_WORD,
			    .v = *v, .store = store };
	int sig;

	tl_step("%s of page %d%s", store ? "store" : "load", pg,
		pg == UF_WP ? " (uffd write-protected)" : "");
	sig = probe_call(uf_do, &a, UF_DEADLINE_MS);
	*v = a.v;
	return sig;
}

static int t_uffd_wp_load(void)
{
	uint64_t ex = 0, v = 0, want = uf_val(UF_WP, UF_WORD), mine;
	xpmem_segid_t seg;
	xpmem_apid_t apid;
	struct peer pe;
	int64_t r;
	char *att;
	int sig;

	uf = mmap(NULL, sizeof(*uf), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(uf != MAP_FAILED);
	CHECK(peer_start_fn(&pe, uf_exporter) == 0);
	r = peer_cmd(&pe, 'I', 0);
	if (r == -1 && uf->stage && uf->stage != 5) {
		int st = uf->stage, e = uf->err;

		peer_quit(&pe);
		if (e == ENOSYS || e == EINVAL || e == EOPNOTSUPP || st == 7)
			return tl_skip("exporter: %s: %s (api features %#llx, register ioctls %#llx) -- userfaultfd write-protect unavailable in this kernel, uffd-wp loads NOT TESTED",
				       uf_stage[st], strerror(e),
				       (unsigned long long)uf->features,
				       (unsigned long long)uf->ioctls);
		FAIL("exporter: %s: %s", uf_stage[st], strerror(e));
	}
	if (r <= 0)
		FAIL("exporter: %s: %s", uf_stage[uf->stage], strerror(uf->err));
	seg = r;
	ex = uf->base + UF_WP * PG + UF_WORD * 8;
	fprintf(stderr, "  exporter: page %d write-protected with userfaultfd (features %#llx), no handler reading it\n",
		UF_WP, (unsigned long long)uf->features);
	att = attach_seg(seg, XPMEM_RDWR, 0, UF_PAGES * PG, NULL, &apid);
	CHECK(att);

	/* The load: served (read-only), within the deadline. */
	sig = uf_access(att, UF_WP, 0, &v);
	if (sig)
		FAIL("load of the uffd write-protected page through a RDWR attachment: %s (the write fault for a writable attachment hit the uffd-wp and was not retried read-only)",
		     signame(sig));
	if (v != want)
		FAIL("load of the write-protected page read %#llx, the exporter wrote %#llx",
		     (unsigned long long)v, (unsigned long long)want);
	fprintf(stderr, "  load of the write-protected page: %#llx (right)\n",
		(unsigned long long)v);

	/* The store: SIGBUS, not a hang, and nothing written. */
	mine = 0x57073d0000000001ULL;
	v = mine;
	sig = uf_access(att, UF_WP, 1, &v);
	fprintf(stderr, "  store to the write-protected page: %s\n", signame(sig));
	if (sig == PROBE_HUNG)
		FAIL("store to the uffd write-protected page HUNG (> %d ms) with no uffd handler",
		     UF_DEADLINE_MS);
	if (sig != SIGBUS)
		FAIL("store to the uffd write-protected page: %s, want SIGBUS",
		     signame(sig));
	r = peer_cmd(&pe, 'q', ex);
	if ((uint64_t)r != want)
		FAIL("exporter's write-protected word is %#llx after the refused store, wrote %#llx",
		     (unsigned long long)r, (unsigned long long)want);
	sig = uf_access(att, UF_WP, 0, &v);
	if (sig || v != want)
		FAIL("load after the refused store: %s, %#llx", signame(sig),
		     (unsigned long long)v);

	/* A page next to it is unaffected: the store lands. */
	v = mine + 1;
	sig = uf_access(att, 0, 1, &v);
	if (sig)
		FAIL("store to page 0 (not write-protected): %s", signame(sig));
	r = peer_cmd(&pe, 'q', uf->base + UF_WORD * 8);
	if ((uint64_t)r != mine + 1)
		FAIL("exporter's page 0 word %#llx after our store of %#llx",
		     (unsigned long long)r, (unsigned long long)(mine + 1));

	/* Protection lifted: the store goes through. */
	tl_step("lifting the write protection");
	if (peer_cmd(&pe, 'U', 0) != 0)
		FAIL("exporter: %s: %s", uf_stage[uf->stage], strerror(uf->err));
	v = mine + 2;
	sig = uf_access(att, UF_WP, 1, &v);
	if (sig)
		FAIL("store after UFFDIO_WRITEPROTECT off: %s", signame(sig));
	r = peer_cmd(&pe, 'q', ex);
	if ((uint64_t)r != mine + 2)
		FAIL("exporter's word %#llx after our store of %#llx once unprotected",
		     (unsigned long long)r, (unsigned long long)(mine + 2));
	CHECK(xpmem_detach(att) == 0);
	CHECK(xpmem_release(apid) == 0);
	peer_quit(&pe);
	tl_summary("RDWR attachment over a uffd-wp page (no handler): load right, store SIGBUS (word unchanged), neighbour store lands, store lands once unprotected");
	return 0;
}

/* ---- fault_rounds ------------------------------------------------------------ */

/*
 * The exporter drops and rewrites one page as fast as it can, invalidating
 * the attachment over and over; 4 attacher threads read it while another
 * mmap()s and munmap()s 4 KiB in a loop. A fault retrying its sequence
 * must not hold the attacher's mmap_lock (and so its mmap writers) for long.
 */
#define FR_READERS 4
#define FR_MAGIC 0xf4a17ULL
#define FR_MAX_LAT (1 << 20)

struct fr_ctl {
	_Atomic int stop;
	_Atomic uint64_t gen;	/* published BEFORE the page holds it */
	_Atomic long loops;
};

static struct fr_ctl *fr;

static void *fr_mutator(void *arg)
{
	volatile uint64_t *p = arg;
	uint64_t g = 1;

	while (!atomic_load(&fr->stop)) {
		madvise((void *)p, PG, MADV_DONTNEED);
		atomic_store(&fr->gen, ++g);
		p[0] = FR_MAGIC << 32 | g;
		atomic_fetch_add(&fr->loops, 1);
	}
	return NULL;
}

static void fr_exporter(int in, int out)
{
	uint64_t *p = map_anon(PG);
	pthread_t th;
	struct cmd c;
	int64_t r;

	if (!p)
		_exit(2);
	madvise(p, PG, MADV_NOHUGEPAGE);
	atomic_store(&fr->gen, 1);
	p[0] = FR_MAGIC << 32 | 1;
	while (peer_next(in, &c)) {
		r = 0;
		switch (c.op) {
		case 'I':
			r = xpmem_make(p, PG, XPMEM_PERMIT_MODE, PERMIT);
			break;
		case 'M':
			r = pthread_create(&th, NULL, fr_mutator, p);
			break;
		case 'm':
			atomic_store(&fr->stop, 1);
			pthread_join(th, NULL);
			break;
		}
		peer_reply(out, r);
	}
	_exit(0);
}

static struct {
	volatile uint64_t *att;
	_Atomic int stop;
	_Atomic long reads[FR_READERS], bad, sigs;
	_Atomic int done[FR_READERS + 1];
	double *lat;
	long nlat;
	_Atomic double cur_start;	/* of the mmap loop's current round */
} fa;

static void *fr_reader(void *arg)
{
	int i = (int)(uintptr_t)arg;

	while (!atomic_load(&fa.stop)) {
		uint64_t v, g;
		int sig = probe_read(fa.att, &v);

		g = atomic_load(&fr->gen);
		if (sig) {
			if (atomic_fetch_add(&fa.sigs, 1) < 3)
				fprintf(stderr, "  reader %d: %s\n", i, signame(sig));
			continue;
		}
		if (v != 0 && (v >> 32 != FR_MAGIC || (v & 0xffffffff) > g)) {
			if (atomic_fetch_add(&fa.bad, 1) < 3)
				fprintf(stderr, "  reader %d read %#llx: never written (generation now %llu)\n",
					i, (unsigned long long)v,
					(unsigned long long)g);
		}
		atomic_fetch_add(&fa.reads[i], 1);
	}
	atomic_store(&fa.done[i], 1);
	return NULL;
}

static void *fr_mmapper(void *arg)
{
	(void)arg;
	while (!atomic_load(&fa.stop) && fa.nlat < FR_MAX_LAT) {
		double t0 = now_s();
		void *p;

		atomic_store(&fa.cur_start, t0);
		p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			munmap(p, PG);
		fa.lat[fa.nlat++] = now_s() - t0;
	}
	atomic_store(&fa.cur_start, 0);
	atomic_store(&fa.done[FR_READERS], 1);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int t_fault_rounds(void)
{
	/*
	 * A fault that held the attacher's mmap_lock while it retried would
	 * delay most rounds (p99), or one for good (max); a single round of a
	 * second or two is a vCPU the loaded 2-core host descheduled (seen:
	 * max 1624 ms with p99 17.5 ms), not that.
	 */
	double secs = stress_secs(3), t0, lat_max, p99, stuck = 0, bound = 5.0,
	       bound99 = 0.5;
	pthread_t th[FR_READERS + 1];
	long long c0[5], c1[5];
	long minreads = -1;
	xpmem_segid_t seg;
	xpmem_apid_t apid;
	struct peer pe;
	int hung = 0;

	/* a debug kernel (XPMEM_VM_SLOWDOWN) is that much slower */
	if (getenv("XPMEM_VM_SLOWDOWN") && atoi(getenv("XPMEM_VM_SLOWDOWN")) > 1) {
		bound *= atoi(getenv("XPMEM_VM_SLOWDOWN"));
		bound99 *= atoi(getenv("XPMEM_VM_SLOWDOWN"));
	}
	fr = mmap(NULL, sizeof(*fr), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(fr != MAP_FAILED);
	fa.lat = calloc(FR_MAX_LAT, sizeof(double));
	CHECK(fa.lat);
	CHECK(peer_start_fn(&pe, fr_exporter) == 0);
	seg = peer_cmd(&pe, 'I', 0);
	CHECK(seg > 0);
	fa.att = (uint64_t *)attach_seg(seg, XPMEM_RDWR, 0, PG, NULL, &apid);
	CHECK(fa.att);
	CHECK(seg_counters(seg, c0) == 0);
	CHECK(peer_cmd(&pe, 'M', 0) == 0);
	for (int i = 0; i < FR_READERS; i++)
		CHECK(pthread_create(&th[i], NULL, fr_reader,
				     (void *)(uintptr_t)i) == 0);
	CHECK(pthread_create(&th[FR_READERS], NULL, fr_mmapper, NULL) == 0);
	tl_step("%d readers, mmap loop, exporter dropping the page: %.0f s",
		FR_READERS, secs);
	t0 = now_s();
	while (now_s() - t0 < secs)
		usleep(50000);
	atomic_store(&fa.stop, 1);
	/* Every thread must come back within 5 s while the exporter still runs. */
	tl_step("stopping the attacher's threads (exporter still running)");
	for (t0 = now_s(); now_s() - t0 < 5;) {
		int all = 1;

		for (int i = 0; i <= FR_READERS; i++)
			all &= atomic_load(&fa.done[i]);
		if (all)
			break;
		usleep(20000);
	}
	{
		double cs = atomic_load(&fa.cur_start);

		if (cs)
			stuck = now_s() - cs;
	}
	for (int i = 0; i <= FR_READERS; i++)
		hung += !atomic_load(&fa.done[i]);
	tl_step("stopping the exporter");
	CHECK(peer_cmd(&pe, 'm', 0) == 0);
	for (int i = 0; i <= FR_READERS; i++)
		pthread_join(th[i], NULL);
	CHECK(seg_counters(seg, c1) == 0);
	qsort(fa.lat, fa.nlat, sizeof(double), cmp_double);
	lat_max = fa.nlat ? fa.lat[fa.nlat - 1] : 0;
	if (stuck > lat_max)
		lat_max = stuck;
	p99 = fa.nlat ? fa.lat[(long)(fa.nlat * 0.99)] : 0;
	for (int i = 0; i < FR_READERS; i++)
		if (minreads < 0 || fa.reads[i] < minreads)
			minreads = fa.reads[i];
	fprintf(stderr, "  %.0f s: exporter dropped+rewrote the page %ld times; %lld faults, %lld invalidations; reads per thread",
		secs, (long)fr->loops, c1[0] - c0[0], c1[2] - c0[2]);
	for (int i = 0; i < FR_READERS; i++)
		fprintf(stderr, " %ld", (long)fa.reads[i]);
	fprintf(stderr, "; mmap+munmap rounds %ld, latency max %.1f ms p99 %.2f ms\n",
		fa.nlat, lat_max * 1e3, p99 * 1e3);
	CHECK(xpmem_detach((void *)fa.att) == 0);
	CHECK(xpmem_release(apid) == 0);
	peer_quit(&pe);
	if (hung)
		FAIL("%d of %d attacher threads still running 5 s after being told to stop (stuck in a fault behind the exporter's invalidations?)%s",
		     hung, FR_READERS + 1,
		     stuck ? "; the mmap loop among them" : "");
	if (fa.bad || fa.sigs)
		FAIL("readers: %ld values never written, %ld faults (the source always has a page)",
		     (long)fa.bad, (long)fa.sigs);
	if (minreads < 100)
		FAIL("a reader completed only %ld reads in %.0f s (want >= 100)",
		     minreads, secs);
	if (fr->loops < 100 || c1[2] - c0[2] < 100)
		FAIL("the exporter dropped its page only %ld times (%lld invalidations): no pressure",
		     (long)fr->loops, c1[2] - c0[2]);
	if (fa.nlat < 10)
		FAIL("only %ld mmap+munmap rounds in %.0f s", fa.nlat, secs);
	if (lat_max >= bound || p99 >= bound99)
		FAIL("an mmap+munmap of the attacher took %.0f ms (p99 %.1f ms; bounds %.0f ms, p99 %.0f ms): faults retrying the exporter's sequence hold its mmap_lock",
		     lat_max * 1e3, p99 * 1e3, bound * 1e3, bound99 * 1e3);
	tl_summary("%ld exporter drops, %lld faults; reads/thread >= %ld; mmap+munmap %ld rounds, max %.1f ms (bound %.0f), p99 %.2f ms",
		   (long)fr->loops, c1[0] - c0[0], minreads, fa.nlat,
		   lat_max * 1e3, bound * 1e3, p99 * 1e3);
	return 0;
}

/* ---- race_* -------------------------------------------------------------- */

#define RC_CHUNKS 16
#define RC_LEN (RC_CHUNKS * HPAGE)
#define RC_THREADS 6
#define RC_TOUCHES 24		/* per thread and round */
#define RC_MAX_ROUNDS 40
#define RC_MIN_ROUNDS 8
#define RC_SLOTS 512		/* fresh 2 MiB address slots (reused after) */

enum { OP_SPLIT_PROT, OP_SPLIT_DROP, OP_COLLAPSE, OP_COW, OP_UNMAP, RC_OPS };
static const char *const rc_opname[RC_OPS] = {
	"split(mprotect)", "split(dontneed 4k)", "collapse", "cow", "unmap 2M" };

/* Shared by the attacher and the exporter (MAP_SHARED). */
struct rc_ctl {
	int thp, zero;
	_Atomic int stop, chunk;
	_Atomic long ops[RC_OPS];
	_Atomic long collapse_refused;
	_Atomic int collapse_errno;
	_Atomic long corrupt;	/* found before the mutator discarded data */
	long huge_kb;
};

static struct rc_ctl *rc;
static char *rc_src;

/* What word @w of the source holds (the exporter's "copy" of it). */
static uint64_t rc_word(size_t w)
{
	if (rc->zero || w % 8 == 3)	/* patterns have zero words too */
		return 0;
	return mix64(w ^ 0x5eed) | 1;
}

static void rc_fill(size_t w0, size_t nw)
{
	uint64_t *p = (uint64_t *)rc_src;

	if (rc->zero) {	/* populate: one store per page (of zero) */
		for (size_t w = w0; w < w0 + nw; w += PG / 8)
			((volatile uint64_t *)p)[w] = 0;
		return;
	}
	for (size_t w = w0; w < w0 + nw; w++)
		p[w] = rc_word(w);
}

/* Words in [w0, w0+nw) that differ from what the exporter wrote. */
static long rc_verify(size_t w0, size_t nw, const char *when)
{
	static _Atomic int shown;
	long bad = 0;

	for (size_t w = w0; w < w0 + nw; w++) {
		uint64_t v = ((volatile uint64_t *)rc_src)[w];

		if (v == rc_word(w))
			continue;
		bad++;
		if (atomic_fetch_add(&shown, 1) < 8)
			fprintf(stderr, "  exporter%s: chunk %zu page %zu word %zu = %#llx, wrote %#llx\n",
				when, w / (HPAGE / 8), w % (HPAGE / 8) / 512,
				w % 512, (unsigned long long)v,
				(unsigned long long)rc_word(w));
	}
	return bad;
}

static void *rc_mutator(void *arg)
{
	unsigned int seed = 1234;
	unsigned long turn = 0;
	const size_t hw = HPAGE / 8;

	(void)arg;
	while (!atomic_load(&rc->stop)) {
		int c = rand_r(&seed) % 4 ? atomic_load(&rc->chunk) :
			(int)(rand_r(&seed) % RC_CHUNKS);
		char *h = rc_src + c * HPAGE;
		size_t pg = rand_r(&seed) % (HPAGE / PG);
		/* Every kind in turn: a slow host still sees all of them. */
		int op = (int)(turn++ % RC_OPS);
		pid_t kid;

		if (op == OP_COLLAPSE && !rc->thp)
			op = OP_SPLIT_DROP;
		switch (op) {
		case OP_SPLIT_PROT:	/* splits the PMD mapping */
			mprotect(h + pg * PG, PG, PROT_READ);
			usleep(200);
			mprotect(h + pg * PG, PG, PROT_READ | PROT_WRITE);
			break;
		case OP_SPLIT_DROP:	/* splits the THP itself */
			rc->corrupt += rc_verify(c * hw + pg * PG / 8, PG / 8,
						 " (before dropping a page)");
			madvise(h + pg * PG, PG, MADV_DONTNEED);
			rc_fill(c * hw + pg * PG / 8, PG / 8);
			break;
		case OP_COLLAPSE:
			if (madvise(h, HPAGE, MADV_COLLAPSE)) {
				atomic_store(&rc->collapse_errno, errno);
				atomic_fetch_add(&rc->collapse_refused, 1);
				continue;
			}
			break;
		case OP_COW:	/* a child shares the pages; we write: COW */
			rc->corrupt += rc_verify(c * hw, hw, " (before COW)");
			kid = fork();
			if (kid == 0) {
				usleep(2000);
				_exit(0);
			}
			for (size_t w = c * hw; w < (c + 1) * hw; w += PG / 8)
				((volatile uint64_t *)rc_src)[w] = rc_word(w);
			if (kid > 0)
				waitpid(kid, NULL, 0);
			break;
		case OP_UNMAP:	/* the whole 2 MiB, then written again */
			rc->corrupt += rc_verify(c * hw, hw,
						 " (before unmapping a chunk)");
			madvise(h, HPAGE, MADV_DONTNEED);
			rc_fill(c * hw, hw);
			break;
		}
		atomic_fetch_add(&rc->ops[op], 1);
		sched_yield();
	}
	return NULL;
}

static void rc_exporter(int in, int out)
{
	pthread_t mut;
	struct cmd c;
	uint64_t r;

	while (peer_next(in, &c)) {
		r = 0;
		switch (c.op) {
		case 'I':
			rc_src = map_aligned(RC_LEN, HPAGE);
			if (!rc_src)
				_exit(2);
			madvise(rc_src, RC_LEN, rc->thp ? MADV_HUGEPAGE :
				MADV_NOHUGEPAGE);
			rc_fill(0, RC_LEN / 8);
			rc->huge_kb = smaps_anon_huge(rc_src);
			r = xpmem_make(rc_src, RC_LEN, XPMEM_PERMIT_MODE, PERMIT);
			break;
		case 'M':
			r = pthread_create(&mut, NULL, rc_mutator, NULL);
			break;
		case 'm': {
			/* Stop once every kind ran at least once (bounded). */
			int k, left = 600;

			do {
				for (k = 0; k < RC_OPS; k++)
					if (!atomic_load(&rc->ops[k]) &&
					    (k != OP_COLLAPSE || rc->thp))
						break;
			} while (k < RC_OPS && left-- > 0 && !usleep(100000));
			atomic_store(&rc->stop, 1);
			pthread_join(mut, NULL);
			break;
		}
		case 'V':	/* every word against what we wrote */
			r = rc_verify(0, RC_LEN / 8, " (at the end)");
			break;
		}
		peer_reply(out, r);
	}
	_exit(0);
}

/* Attacher side. */
static struct {
	char *att;
	size_t w0;		/* word index of the chunk in the source */
	int half;
	pthread_barrier_t go, done;
	_Atomic int quit, arrived;
	_Atomic int in_first, max_first;	/* threads in their first touch */
	_Atomic int in_touch, max_touch;	/* threads in any touch */
	_Atomic long conc_touches;	/* begun while another was in one */
	_Atomic long touches, bad_reads, read_faults, write_faults;
} ra;

/* Enters a touch: returns how many threads are in one now. */
static int rc_enter(_Atomic int *in, _Atomic int *max)
{
	int n = atomic_fetch_add(in, 1) + 1;
	int m = atomic_load(max);

	while (n > m && !atomic_compare_exchange_weak(max, &m, n))
		;
	return n;
}

static void *rc_toucher(void *arg)
{
	unsigned int seed = (uintptr_t)arg * 7919;

	for (;;) {
		pthread_barrier_wait(&ra.go);
		if (atomic_load(&ra.quit))
			break;
		/* start together: the barrier wakes threads one by one */
		atomic_fetch_add(&ra.arrived, 1);
		while (atomic_load(&ra.arrived) < RC_THREADS)
			sched_yield();
		for (int t = 0; t < RC_TOUCHES; t++) {
			size_t pg = rand_r(&seed) % (HPAGE / PG);
			size_t wd = rand_r(&seed) % (PG / 8);
			size_t w = ra.w0 + pg * 512 + wd;
			uint64_t *p, v, want;
			int sig;

			if (ra.half)	/* the other half is populated */
				pg |= 1, w = ra.w0 + pg * 512 + wd;
			p = (uint64_t *)(ra.att + pg * PG + wd * 8);
			want = rc_word(w);
			if (t == 0)
				rc_enter(&ra.in_first, &ra.max_first);
			if (rc_enter(&ra.in_touch, &ra.max_touch) > 1)
				atomic_fetch_add(&ra.conc_touches, 1);
			sig = probe_read(p, &v);
			if (t == 0)
				atomic_fetch_sub(&ra.in_first, 1);
			if (sig) {
				if (atomic_fetch_add(&ra.read_faults, 1) < 3)
					fprintf(stderr, "  read of chunk word %zu: %s\n",
						w - ra.w0, signame(sig));
			} else if (v != want && v != 0) {
				if (atomic_fetch_add(&ra.bad_reads, 1) < 5)
					fprintf(stderr, "  read %#llx at chunk page %zu word %zu: never written there (want %#llx or 0)\n",
						(unsigned long long)v, pg, wd,
						(unsigned long long)want);
			}
			if (rand_r(&seed) & 1 && probe_write(p, want))
				atomic_fetch_add(&ra.write_faults, 1);
			atomic_fetch_sub(&ra.in_touch, 1);
			atomic_fetch_add(&ra.touches, 1);
		}
		pthread_barrier_wait(&ra.done);
	}
	return NULL;
}

static int race(int thp, int zero, int half)
{
	double t0 = now_s(), secs = stress_secs(6);
	/* 40 rounds in at most 6 s, or as many as XPMEM_STRESS_SECS allows */
	int max_rounds = getenv("XPMEM_STRESS_SECS") ? INT_MAX : RC_MAX_ROUNDS;
	long long faults = 0, pmds = 0, premapped = 0, c0[5], c1[5];
	char window[16];
	pthread_t th[RC_THREADS];
	int rounds = 0, overlap = 0, conc = 0;
	struct xpmem_addr ad;
	xpmem_segid_t seg;
	struct peer pe;
	char *area;
	uint64_t bad;

	rc = mmap(NULL, sizeof(*rc), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(rc != MAP_FAILED);
	rc->thp = thp;
	rc->zero = zero;
	snprintf(window, sizeof(window), "%ld",
		 read_long(PARAMS "local_window_pages"));
	CHECK(peer_start_fn(&pe, rc_exporter) == 0);
	seg = peer_cmd(&pe, 'I', 0);
	CHECK((int64_t)seg > 0);
	fprintf(stderr, "  source: %d x 2 MiB, %s, %s; AnonHugePages %ld kB\n",
		RC_CHUNKS, thp ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE",
		zero ? "zero-filled" : "patterned (1 word in 8 zero)",
		rc->huge_kb);
	if (thp && rc->huge_kb < (long)(RC_LEN / 2048))
		fprintf(stderr, "  WARNING: only %ld of %lu kB are THPs\n",
			rc->huge_kb, RC_LEN / 1024);
	ad.apid = xpmem_get(seg, XPMEM_RDWR, XPMEM_PERMIT_MODE, NULL);
	CHECK(ad.apid > 0);
	/* fresh 2 MiB slots: no page table left over from an earlier round */
	area = mmap(NULL, (RC_SLOTS + 1) * HPAGE, PROT_NONE, MAP_PRIVATE |
		    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(area != MAP_FAILED);
	area = (char *)(((uintptr_t)area + HPAGE - 1) & ~(HPAGE - 1));
	memset(&ra, 0, sizeof(ra));
	ra.half = half;
	pthread_barrier_init(&ra.go, NULL, RC_THREADS + 1);
	pthread_barrier_init(&ra.done, NULL, RC_THREADS + 1);
	for (int i = 0; i < RC_THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, rc_toucher,
				     (void *)(uintptr_t)(i + 1)) == 0);
	CHECK(peer_cmd(&pe, 'M', 0) == 0);
	while (rounds < RC_MIN_ROUNDS ||
	       (rounds < max_rounds && now_s() - t0 < secs)) {
		int c = rounds % RC_CHUNKS;
		char *slot = area + (rounds % RC_SLOTS) * HPAGE;

		tl_step("round %d (chunk %d)", rounds, c);
		atomic_store(&rc->chunk, c);
		ad.offset = c * HPAGE;
		ra.att = xpmem_attach(ad, HPAGE, slot);
		if (ra.att != slot)
			FAIL("round %d: attach at %p: %s", rounds, slot,
			     strerror(errno));
		ra.w0 = c * HPAGE / 8;
		CHECK(seg_counters(seg, c0) == 0);
		if (half) {	/* PTEs (and a page table) for even pages only */
			CHECK(write_param("local_window_pages", "1") == 0);
			for (size_t pg = 0; pg < HPAGE / PG; pg += 2) {
				uint64_t v;

				if (probe_read((uint64_t *)(ra.att + pg * PG), &v))
					atomic_fetch_add(&ra.read_faults, 1);
			}
			CHECK(write_param("local_window_pages", window) == 0);
			CHECK(seg_counters(seg, c1) == 0);
			premapped += c1[1] - c0[1];
			c0[0] = c1[0];
			c0[4] = c1[4];
		}
		atomic_store(&ra.max_first, 0);
		atomic_store(&ra.max_touch, 0);
		atomic_store(&ra.arrived, 0);
		pthread_barrier_wait(&ra.go);
		pthread_barrier_wait(&ra.done);
		CHECK(seg_counters(seg, c1) == 0);
		faults += c1[0] - c0[0];
		pmds += c1[4] - c0[4];
		overlap += atomic_load(&ra.max_first) >= 2;
		conc += atomic_load(&ra.max_touch) >= 2;
		CHECK(xpmem_detach(ra.att) == 0);
		CHECK(mmap(slot, HPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			   MAP_NORESERVE | MAP_FIXED, -1, 0) == slot);
		rounds++;
	}
	atomic_store(&ra.quit, 1);
	pthread_barrier_wait(&ra.go);
	for (int i = 0; i < RC_THREADS; i++)
		pthread_join(th[i], NULL);
	tl_step("exporter compares its memory");
	CHECK(peer_cmd(&pe, 'm', 0) == 0);
	bad = peer_cmd(&pe, 'V', 0);
	peer_quit(&pe);
	xpmem_release(ad.apid);

	fprintf(stderr, "  %d rounds in %.1f s: %ld touches by %d threads (%ld begun while another thread was in one; concurrent touches in %d rounds, concurrent first touches in %d), %lld faults (%lld PMDs mapped); read faults %ld, write faults %ld, bad reads %ld\n",
		rounds, now_s() - t0, (long)ra.touches, RC_THREADS,
		(long)ra.conc_touches, conc, overlap, faults, pmds,
		(long)ra.read_faults, (long)ra.write_faults, (long)ra.bad_reads);
	if (half)
		fprintf(stderr, "  half-populated: %.0f pages mapped per round before the threads started (of %lu)\n",
			(double)premapped / rounds, HPAGE / PG);
	fprintf(stderr, "  mutator:");
	for (int i = 0; i < RC_OPS; i++)
		fprintf(stderr, " %s %ld", rc_opname[i], (long)rc->ops[i]);
	if (rc->collapse_refused)
		fprintf(stderr, " (collapse refused %ld times: %s)",
			(long)rc->collapse_refused, strerror(rc->collapse_errno));
	fputc('\n', stderr);
	if (bad || rc->corrupt)
		FAIL("exporter memory corrupted (%s source): %llu words differ from what it wrote at the end, %ld were found wrong during the run (checked before each discard or rewrite)",
		     zero ? "zero-filled" : "patterned", (unsigned long long)bad,
		     (long)rc->corrupt);
	if (ra.bad_reads)
		FAIL("attacher read %ld values never written at their address",
		     (long)ra.bad_reads);
	if (ra.read_faults)
		FAIL("%ld reads faulted (the source always has a readable page)",
		     (long)ra.read_faults);
	/* not vacuous: concurrent first touches, faults, every mutation */
	if (faults < rounds || ra.touches < (long)rounds * RC_THREADS * RC_TOUCHES)
		FAIL("too little happened: %lld faults, %ld touches in %d rounds",
		     faults, (long)ra.touches, rounds);
	if (conc < rounds / 4 || conc < 2 ||
	    ra.conc_touches < (long)rounds * RC_THREADS)
		FAIL("too little concurrency: threads touched concurrently in %d of %d rounds, %ld touches in all began while another thread was in one",
		     conc, rounds, (long)ra.conc_touches);
	for (int i = 0; i < RC_OPS; i++)
		if (!rc->ops[i] && !(i == OP_COLLAPSE && (!thp || rc->collapse_refused)))
			FAIL("mutator never did %s", rc_opname[i]);
	if (pmds && !pmd_mappings_expected())
		FAIL("%lld PMD mappings, though map_pmd says this kernel makes none",
		     pmds);
	/* fresh slots over THPs: the first touches race a PMD insertion */
	if (thp && !half && rc->huge_kb >= (long)(RC_LEN / 2048) &&
	    pmd_mappings_expected() && !pmds)
		FAIL("no PMD mapped in %d rounds over THPs (map_pmd=Y): the PMD path did not race", rounds);
	tl_summary("%d rounds, %lld faults (%lld PMDs), %ld concurrent touches (in %d rounds; first touches in %d); mutator split %ld+%ld collapse %ld%s cow %ld unmap %ld; exporter memory word-exact",
		   rounds, faults, pmds, (long)ra.conc_touches, conc, overlap,
		   (long)rc->ops[OP_SPLIT_PROT],
		   (long)rc->ops[OP_SPLIT_DROP], (long)rc->ops[OP_COLLAPSE],
		   !thp ? " (n/a: 4 KiB source)" : rc->collapse_refused ?
		   " (some refused)" : "", (long)rc->ops[OP_COW],
		   (long)rc->ops[OP_UNMAP]);
	return 0;
}

static int t_race_thp_zero_fresh(void) { return race(1, 1, 0); }
static int t_race_thp_zero_half(void) { return race(1, 1, 1); }
static int t_race_thp_pattern_fresh(void) { return race(1, 0, 0); }
static int t_race_thp_pattern_half(void) { return race(1, 0, 1); }
static int t_race_4k_zero_fresh(void) { return race(0, 1, 0); }
static int t_race_4k_zero_half(void) { return race(0, 1, 1); }
static int t_race_4k_pattern_fresh(void) { return race(0, 0, 0); }
static int t_race_4k_pattern_half(void) { return race(0, 0, 1); }

/* ---- driver ------------------------------------------------------------- */

static const struct tcase cases[] = {
	{ "maxaddr_attach", t_maxaddr_attach, 30 },
	{ "limits", t_limits, 60 },
	{ "limits_userns", t_limits_userns, 30 },
	{ "limits_permits", t_limits_permits, 30 },
	{ "limits_big", t_limits_big, 30 },
	{ "limits_remove_while_attached", t_limits_remove_while_attached, 30 },
	{ "memfd_secret", t_memfd_secret, 30 },
	{ "owner_exit_fork", t_owner_exit_fork, 30 },
	{ "gup_vmsplice", t_gup_vmsplice, 60 },
	{ "gup_io_uring", t_gup_io_uring, 60 },
	{ "gup_odirect", t_gup_odirect, 60 },
	{ "access_matrix", t_access_matrix, 240 },
	{ "uffd_wp_load", t_uffd_wp_load, 30 },
	{ "fault_rounds", t_fault_rounds, 40 },
	/* last: a kernel that corrupts memory may not survive them */
	{ "race_thp_zero_fresh", t_race_thp_zero_fresh, 90 },
	{ "race_thp_zero_half", t_race_thp_zero_half, 90 },
	{ "race_thp_pattern_fresh", t_race_thp_pattern_fresh, 90 },
	{ "race_thp_pattern_half", t_race_thp_pattern_half, 90 },
	{ "race_4k_zero_fresh", t_race_4k_zero_fresh, 90 },
	{ "race_4k_zero_half", t_race_4k_zero_half, 90 },
	{ "race_4k_pattern_fresh", t_race_4k_pattern_fresh, 90 },
	{ "race_4k_pattern_half", t_race_4k_pattern_half, 90 },
};

int main(int argc, char **argv)
{
	return tl_run(cases, sizeof(cases) / sizeof(cases[0]), argv + 1,
		      argc - 1, check_leaks);
}
