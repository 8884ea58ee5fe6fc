// SPDX-License-Identifier: GPL-2.0
/*
 * Remote-path fixes of issue 9, tested on one node: like channel_test.c this
 * program plays xpmemd on /dev/xpmem_channel (as root, in the test VM, with
 * xpmem.ko loaded by tests/vm/run) and loops remote attachments back onto
 * this node's own RAM through a PEER_WINDOW (ram_windows=1).
 *
 *   zap_unaligned      ZAP {start 0x1800, len 0x1000} covers pages 1 AND 2
 *                      of the segment: both must be unmapped afterwards (and
 *                      {0xfff, 2}: pages 0 and 1; {0x3000, 0x1000}: page 3).
 *                      Right after each ZAP, before any page is mapped
 *                      again, every page of its range is read while the
 *                      owner refuses every REMOTE_FAULT: each read must ask
 *                      the owner and end in SIGBUS (a PTE the ZAP left reads
 *                      without asking). Then the owner answers with new
 *                      frames (zero-filled ones among them) and every page is
 *                      compared word by word with the owner's current data.
 *                      A refault may map pages beyond its own (the window of
 *                      a random fault asks its block from the block's start),
 *                      so no test counts faults per page. Attached at the
 *                      kernel's address and at 3 offsets within a PMD that
 *                      put the window's block start before page 0, at page
 *                      0 and at page 1.
 *   window_replaced    a PEER_WINDOW replaced between a REMOTE_FAULT and its
 *                      FAULT_REPLY: the reply must not be mapped through the
 *                      old window. The same window offset is frame A through
 *                      the old window and frame B through the new one, so
 *                      the importer's data says which window was used. Then
 *                      the race the issue names (the window read before the
 *                      zap sequence is sampled): 250 window flips, each while
 *                      a long ZAP holds the segment and a fault waits for it;
 *                      any read through the old window afterwards is a
 *                      stale, unzappable mapping.
 *   quarantine_unload  a page quarantined (ack_timeout_ms=200, INVALIDATE
 *                      never answered); channel and /dev/xpmem closed: rmmod
 *                      must be refused (module still loaded) with a kernel
 *                      message naming the quarantine. HELLO on a new channel
 *                      replays the INVALIDATE; its ACKED drains the
 *                      quarantine (pages freed: no longer anon and unmapped);
 *                      then rmmod succeeds. The module is inserted again
 *                      (from the path tests/vm/run inserted it from) so the
 *                      guest ends as it began.
 *   kept_answer_other_zap
 *                      page 0's REMOTE_FAULT answered (pages 0..3) only after
 *                      3 ZAPs of pages 8..9: mapped without a second
 *                      REMOTE_FAULT; after a ZAP of page 0 it must refault;
 *                      an error answer after ZAPs of pages 8..9 is SIGBUS,
 *                      not asked again.
 *   peer_page_cap      max_rmap_pages_per_peer=4: peer 1 resolves 4 pages, a
 *                      5th is -ENOSPC, peer 2 is not affected; once the owner
 *                      unmaps peer 1's pages (INVALIDATE acked) it resolves
 *                      again. The parameter is set back to 0 (default).
 *   block_zap_starve   first touch of a page in the middle of a 16-page block
 *                      (asked from the block's start): every REMOTE_FAULT
 *                      starting before it is answered (validly) only after
 *                      a ZAP of the block's first page, so each such answer
 *                      is stale on arrival. The read must end within 3
 *                      REMOTE_FAULTs (the retry asks from the touched page)
 *                      with the owner's data word by word, a tagged and a
 *                      zero-filled page; a read still faulting after 10 s
 *                      (times the slowdown) is reported as starved. Then
 *                      every page of the attachment is the owner's.
 *
 * usage: xpmem-channel-fix-test [CASE...] [--module PATH]   (default: all)
 * Prints PASS/FAIL per case and "N passed, N failed"; a watchdog turns a hang
 * into a FAIL naming the case.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xpmem/xpmem_channel.h>
#include <xpmem/xpmem_ioctl.h>

#include "chanlib.h"

#define PG 4096UL
#define PMD_BYTES (2UL << 20)
#define NODE 3			/* our node id (HELLO) */
#define PEER 1			/* fake remote importer of our segments */
#define RPEER 7			/* fake remote owner (loopback window) */
#define RINST 0x5eed1234ULL	/* its kernel instance (REMOTE_GET_REPLY) */
#define CHAN "/dev/" XPMEM_CHAN_DEVICE_NAME
#define WSIZE (1ULL << 40)

#define SAY(...) do { printf("  "); printf(__VA_ARGS__); putchar('\n'); } while (0)

static const char *module_arg;
static volatile const char *current_case = "setup";
static int slowdown = 1;	/* $XPMEM_VM_SLOWDOWN: watchdogs scale with it */

static int chan_open_hello(void)
{
	struct xpmem_chan_hello h = { .node_id = NODE, .incarnation = 42 };
	struct xpmem_chan_hello *rep;
	union msgbuf m;
	uint64_t seq;

	for (int i = 0; i < 50 && cfd < 0; i++) {
		cfd = open(CHAN, O_RDWR | O_CLOEXEC);
		if (cfd < 0 && errno == EBUSY)
			usleep(100000);	/* a previous opener is still closing */
		else if (cfd < 0)
			break;
	}
	CHECK(cfd >= 0);
	seq = __atomic_add_fetch(&dseq, 1, __ATOMIC_SEQ_CST);
	CHECK(csend_seq(XPMEM_CHAN_HELLO, &h, sizeof(h), seq) == 0);
	CHECK(cexpect(&m, XPMEM_CHAN_HELLO_REPLY, 2000));
	rep = body(&m);
	CHECK(m.h.seq == seq && rep->node_id == NODE);
	return 0;
}

static int peer_window(uint64_t base, uint64_t size)
{
	struct xpmem_chan_peer_window pw = { .peer = RPEER, .base = base,
					     .size = size };
	union msgbuf m;
	uint64_t seq = __atomic_add_fetch(&dseq, 1, __ATOMIC_SEQ_CST);

	if (csend_seq(XPMEM_CHAN_PEER_WINDOW, &pw, sizeof(pw), seq))
		return -999;
	if (!cexpect(&m, XPMEM_CHAN_PEER_WINDOW_DONE, 5000))
		return -998;
	return ((struct xpmem_chan_status *)body(&m))->error;
}

static uint64_t kpage(const char *file, uint64_t pfn)
{
	uint64_t f = 0;
	int fd = open(file, O_RDONLY);

	if (fd < 0)
		return ~0ULL;
	if (pread(fd, &f, 8, pfn * 8) != 8)
		f = ~0ULL;
	close(fd);
	return f;
}

#define KPF_BUDDY 10
#define KPF_ANON 12

/* Pinned, locked, shared anonymous memory whose page k holds tag(k) words. */
static uint64_t *tagged_buffer(unsigned int npages, uint64_t tag0)
{
	uint64_t *b = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (b == MAP_FAILED)
		return NULL;
	if (mlock(b, npages * PG))
		return NULL;
	for (unsigned int k = 0; k < npages; k++)
		for (unsigned int i = 0; i < PG / 8; i++)
			b[k * PG / 8 + i] = tag0 + k;
	return b;
}

/* ---- the importer: a child attaching the node-RPEER segment ------------- */

struct importer {
	pid_t pid;
	int cmd, rep;
	unsigned int at;	/* 0: attach where the kernel chooses; else at
				 * page at - 1 of a PMD */
};

/*
 * Child: xpmem_get(segid) RDWR, attach npages, report 0 (or errno); then
 * for every command (a u32): k < npages: read word 0 of page k and report it
 * (8 bytes); TOUCH_ALL | n: read word 0 of pages [0, n) and report their
 * sum; SPLIT | n: mprotect(PROT_READ) every other page of [0, n) (one vma
 * per page), report 0 or errno; GUARDED | k: read word 0 of page k with
 * SIGBUS caught, report 16 bytes { 0, word } or { GOT_SIGBUS, 0 }; PAGE | k:
 * report all PG bytes of page k; TIMED | k: copy page k with SIGBUS caught
 * and an alarm of TIMED_S seconds (times the slowdown), report 16 bytes
 * { 0, 0 }, { GOT_SIGBUS, 0 } or { GOT_STARVED, 0 } (the access never
 * completed), then the PG bytes copied (zeros if none); anything else
 * ends. A fault it cannot take (outside GUARDED and TIMED) kills it
 * (SIGBUS).
 */
#define TOUCH_ALL 0x80000000u
#define SPLIT 0x40000000u
#define GUARDED 0x20000000u
#define PAGE 0x10000000u
#define TIMED 0x08000000u
#define GOT_SIGBUS 0x5e6b05ULL
#define GOT_STARVED 0x57a4edULL
#define TIMED_S 10

static sigjmp_buf guard_jb;

static void guard_sigbus(int sig)
{
	siglongjmp(guard_jb, sig == SIGALRM ? 2 : 1);
}

/* Child: read word 0 of page @p with SIGBUS caught; 16 bytes to @fd. */
static int importer_guarded(volatile uint64_t *p, int fd)
{
	struct sigaction sa = { .sa_handler = guard_sigbus }, old;
	uint64_t r[2] = { 0, 0 };

	if (sigaction(SIGBUS, &sa, &old))
		return -1;
	if (sigsetjmp(guard_jb, 1))
		r[0] = GOT_SIGBUS;
	else
		r[1] = *p;
	if (sigaction(SIGBUS, &old, NULL))
		return -1;
	return write(fd, r, sizeof(r)) == sizeof(r) ? 0 : -1;
}

/*
 * Child: copy page @p (PG bytes) with SIGBUS caught and an alarm; 16 bytes
 * of status, then the copy, to @fd.
 */
static int importer_timed(volatile uint64_t *p, unsigned int secs, int fd)
{
	struct sigaction sa = { .sa_handler = guard_sigbus }, obus, oalrm;
	static uint64_t w[PG / 8];
	uint64_t r[2] = { 0, 0 };

	memset(w, 0, sizeof(w));
	if (sigaction(SIGBUS, &sa, &obus) || sigaction(SIGALRM, &sa, &oalrm))
		return -1;
	switch (sigsetjmp(guard_jb, 1)) {
	case 0:
		alarm(secs);
		for (size_t i = 0; i < PG / 8; i++)
			w[i] = p[i];
		break;
	case 1:
		r[0] = GOT_SIGBUS;
		break;
	default:
		r[0] = GOT_STARVED;
		break;
	}
	alarm(0);
	if (sigaction(SIGBUS, &obus, NULL) || sigaction(SIGALRM, &oalrm, NULL))
		return -1;
	if (write(fd, r, sizeof(r)) != sizeof(r))
		return -1;
	return write(fd, w, PG) == (ssize_t)PG ? 0 : -1;
}

/* Child: an address to attach @npages at, page @at - 1 of a PMD; 0 if none. */
static uint64_t importer_vaddr(unsigned int at, unsigned int npages)
{
	size_t len = 2 * PMD_BYTES + (size_t)npages * PG;
	char *r = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t v;

	if (r == MAP_FAILED)
		return 0;
	v = ((uintptr_t)r + PMD_BYTES - 1) / PMD_BYTES * PMD_BYTES + (at - 1) * PG;
	return munmap(r, len) ? 0 : v;
}

static int importer_start(struct importer *im, int64_t segid, unsigned int npages)
{
	int a[2], b[2];

	if (pipe(a) || pipe(b))
		return -1;
	im->pid = fork();
	if (im->pid == 0) {
		struct xpmem_cmd_get g = { .segid = segid, .flags = XPMEM_RDWR,
					   .permit_type = XPMEM_PERMIT_MODE,
					   .permit_value = 0600 };
		struct xpmem_cmd_attach at = { .size = npages * PG };
		volatile uint64_t *p;
		uint32_t c;
		int xfd;
		char e;

		close(a[1]);
		close(b[0]);
		close(cfd);
		xfd = open("/dev/xpmem", O_RDWR | O_CLOEXEC);
		if (xfd < 0 || ioctl(xfd, XPMEM_CMD_GET, &g)) {
			e = (char)errno;
			_exit(write(b[1], &e, 1) == 1 ? 3 : 4);
		}
		at.apid = g.apid;
		if (im->at && !(at.vaddr = importer_vaddr(im->at, npages))) {
			e = (char)errno;
			_exit(write(b[1], &e, 1) == 1 ? 5 : 4);
		}
		if (ioctl(xfd, XPMEM_CMD_ATTACH, &at)) {
			e = (char)errno;
			_exit(write(b[1], &e, 1) == 1 ? 5 : 4);
		}
		p = (volatile uint64_t *)(uintptr_t)at.vaddr;
		e = 0;
		if (write(b[1], &e, 1) != 1)
			_exit(6);
		while (read(a[0], &c, 4) == 4) {
			uint64_t v = 0;

			if (c < npages) {
				v = p[(size_t)c * PG / 8];
			} else if ((c & TOUCH_ALL) && (c & ~TOUCH_ALL) <= npages) {
				for (uint32_t k = 0; k < (c & ~TOUCH_ALL); k++)
					v += p[(size_t)k * PG / 8];
			} else if ((c & SPLIT) && (c & ~SPLIT) <= npages) {
				for (uint32_t k = 0; k < (c & ~SPLIT) && !v; k += 2)
					if (mprotect((char *)p + (size_t)k * PG, PG, PROT_READ))
						v = errno;
			} else if ((c & GUARDED) && (c & ~GUARDED) < npages) {
				if (importer_guarded(p + (size_t)(c & ~GUARDED) * PG / 8, b[1]))
					_exit(7);
				continue;
			} else if ((c & PAGE) && (c & ~PAGE) < npages) {
				uint64_t w[PG / 8];

				for (size_t i = 0; i < PG / 8; i++)
					w[i] = p[(size_t)(c & ~PAGE) * PG / 8 + i];
				if (write(b[1], w, PG) != (ssize_t)PG)
					_exit(7);
				continue;
			} else if ((c & TIMED) && (c & ~TIMED) < npages) {
				if (importer_timed(p + (size_t)(c & ~TIMED) * PG / 8,
						   TIMED_S * slowdown, b[1]))
					_exit(7);
				continue;
			} else {
				break;
			}
			if (write(b[1], &v, 8) != 8)
				_exit(7);
		}
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	im->cmd = a[1];
	im->rep = b[0];
	return im->pid > 0 ? 0 : -1;
}

static void importer_stop(struct importer *im)
{
	if (im->pid <= 0)
		return;
	uint32_t q = 0x7fffffff;

	if (write(im->cmd, &q, 4) != 4)
		kill(im->pid, SIGKILL);
	close(im->cmd);
	close(im->rep);
	waitpid(im->pid, NULL, 0);
	im->pid = 0;
}

/* The REMOTE_GET of a new importer, answered with @size; its attach result. */
static int importer_get(struct importer *im, int64_t segid, uint64_t size)
{
	struct xpmem_chan_get_reply gr = { .size = size, .owner_instance = RINST };
	union msgbuf m;
	char e = 1;

	CHECK(importer_start(im, segid, size / PG) == 0);
	CHECK(cexpect(&m, XPMEM_CHAN_REMOTE_GET, 5000));
	CHECK(((struct xpmem_chan_get *)body(&m))->segid == segid);
	CHECK(csend_seq(XPMEM_CHAN_REMOTE_GET_REPLY, &gr, sizeof(gr), m.h.seq) == 0);
	CHECK(read(im->rep, &e, 1) == 1);
	if (e)
		FAIL("importer: get/attach failed: %s", strerror(e));
	return 0;
}

/* FAULT_REPLY to @seq: the window offsets phys[0..n) (one page each). */
static int fault_reply(uint64_t seq, int error, const uint64_t *phys, unsigned int n)
{
	struct {
		struct xpmem_chan_frames f;
		struct xpmem_chan_extent e[64];
	} fr = {};

	fr.f.error = error;
	fr.f.nextents = error ? 0 : n;
	for (unsigned int i = 0; i < fr.f.nextents; i++) {
		fr.e[i].phys = phys[i];
		fr.e[i].len = PG;
	}
	return csend_seq(XPMEM_CHAN_FAULT_REPLY, &fr,
			 sizeof(fr.f) + fr.f.nextents * sizeof(fr.e[0]), seq);
}

/*
 * How REMOTE_FAULTs are answered while an importer access runs: page k of
 * the segment is window offset phys[k]; at most @answer_pages pages per
 * reply (from the fault's start).
 */
struct answerer {
	const uint64_t *phys;
	unsigned int npages, answer_pages;
	int error;			/* answer every fault with this error */
	uint64_t zap_below;		/* a fault starting below it is answered */
	uint64_t zap_start;		/* after a ZAP of [zap_start, +PG) (0: */
	unsigned int zaps;		/* never); the ZAPs sent so */
	unsigned int faults;		/* REMOTE_FAULTs served */
	uint64_t fault_start[16];	/* the last 16 ones' starts */
	uint64_t fault_len[16];		/* and lengths (index: faults % 16) */
};

static int zap(uint64_t start, uint64_t len);

static int serve_fault(struct answerer *an, union msgbuf *m)
{
	struct xpmem_chan_remote_fault *rf = body(m);
	unsigned int first = rf->start / PG, n;

	if (rf->owner != RPEER || rf->owner_instance != RINST || rf->start % PG || !rf->len ||
	    rf->start + rf->len > an->npages * PG)
		FAIL("REMOTE_FAULT owner %u start %#llx len %#llx", rf->owner,
		     (unsigned long long)rf->start, (unsigned long long)rf->len);
	an->fault_start[an->faults % 16] = rf->start;
	an->fault_len[an->faults % 16] = rf->len;
	an->faults++;
	if (rf->start < an->zap_below) {	/* the answer is stale on arrival */
		if (zap(an->zap_start, PG))
			return 1;
		an->zaps++;
	}
	if (an->error)
		return fault_reply(m->h.seq, an->error, NULL, 0) ? 1 : 0;
	n = rf->len / PG;
	if (n > an->answer_pages)
		n = an->answer_pages;
	return fault_reply(m->h.seq, 0, an->phys + first, n) ? 1 : 0;
}

/*
 * Have the importer read word 0 of page @k, answering its REMOTE_FAULTs
 * meanwhile; *val gets what it read. 0, or 1 on error/timeout.
 */
/*
 * The result of the importer's access in flight, answering its REMOTE_FAULTs
 * meanwhile: 0 (*val is what it read), IMPORTER_DIED (it died: EOF), or 1
 * on error/timeout.
 */
#define IMPORTER_DIED 2

static int importer_result_len(struct importer *im, struct answerer *an, void *res,
			      size_t len)
{
	size_t got = 0;

	/* A hang detector: 30 s times the kernel's slowdown (debug: 4). */
	const char *sl = getenv("XPMEM_VM_SLOWDOWN");
	double limit = 30.0 * (sl && atoi(sl) > 0 ? atoi(sl) : 1);
	double end = now() + limit;

	while (now() < end) {
		struct pollfd p[2] = { { .fd = cfd, .events = POLLIN },
				       { .fd = im->rep, .events = POLLIN } };
		union msgbuf m;

		if (poll(p, 2, 200) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			if (!crecv(&m, 0))
				continue;
			if (m.h.type == XPMEM_CHAN_REMOTE_FAULT) {
				if (serve_fault(an, &m))
					return 1;
			} else {
				printf("  (skipping message type %u)\n", m.h.type);
			}
			continue;
		}
		if (p[1].revents) {
			ssize_t r = read(im->rep, (char *)res + got, len - got);

			if (r <= 0)
				return IMPORTER_DIED;
			got += (size_t)r;
			if (got == len)
				return 0;
		}
	}
	FAIL("importer: no result in %.0f s", limit);
}

static int importer_result(struct importer *im, struct answerer *an, uint64_t *val)
{
	return importer_result_len(im, an, val, 8);
}

static int importer_read(struct importer *im, uint32_t k, struct answerer *an,
			 uint64_t *val)
{
	int rc;

	CHECK(write(im->cmd, &k, 4) == 4);
	rc = importer_result(im, an, val);
	if (rc == IMPORTER_DIED)
		FAIL("importer died reading page %#x", k);
	if (rc)
		FAIL("importer read of page %#x: failed", k);
	return 0;
}

/* ======================= zap_unaligned ======================= */

static const int64_t rsegid = ((int64_t)RPEER << 48) | (0x5a5aLL << 32) | 77;

#define ZTAG 0x2a70000000000000ULL
#define ZPAGES 4
#define ZPOOL 5		/* new frames for the 5 pages the 3 ZAPs cover */

static int zap(uint64_t start, uint64_t len)
{
	struct xpmem_chan_zap z = { .segid = rsegid, .owner = RPEER, .start = start,
				    .len = len };
	union msgbuf m;

	CHECK(csend(XPMEM_CHAN_ZAP, &z, sizeof(z)) == 0);
	CHECK(cexpect(&m, XPMEM_CHAN_ZAP_DONE, 5000));
	CHECK(((struct xpmem_chan_status *)body(&m))->error == 0);
	return 0;
}

/*
 * The owner's data: its page k is frame cur[k] (mapped by us, word i of a
 * tagged page is tag + i; zero-filled pages are 0); phys[] (the answerer's)
 * follows it.
 */
struct zowner {
	uint64_t *cur[ZPAGES];
	uint64_t phys[ZPAGES];
	uint64_t *pool;			/* ZPOOL new frames, in order of use */
	unsigned int used;
};

/* Page k of the owner gets its next new frame (as after munmap + mmap). */
static int zowner_replace(struct zowner *o, unsigned int k)
{
	CHECK(o->used < ZPOOL);
	o->cur[k] = o->pool + (size_t)o->used++ * PG / 8;
	CHECK((o->phys[k] = pfn_of(o->cur[k]) * PG));
	return 0;
}

/*
 * Right after a ZAP: page k must not be readable without asking the owner.
 * The owner refuses (-EFAULT) every REMOTE_FAULT: the read must send one
 * covering page k and end in SIGBUS. Counts a page read without asking in
 * *bad.
 */
static int zap_unmapped(struct importer *im, struct answerer *an, unsigned int k,
			const char *why, int *bad)
{
	unsigned int f0 = an->faults, covered = 0;
	uint32_t c = GUARDED | k;
	uint64_t r[2];

	an->error = -EFAULT;
	CHECK(write(im->cmd, &c, 4) == 4);
	if (importer_result_len(im, an, r, sizeof(r)))
		FAIL("importer: guarded read of page %u failed or died", k);
	an->error = 0;
	for (unsigned int f = f0; f < an->faults && f - f0 < 16; f++)
		if (an->fault_start[f % 16] <= k * PG &&
		    k * PG < an->fault_start[f % 16] + an->fault_len[f % 16])
			covered++;
	if (r[0] != GOT_SIGBUS) {
		SAY("FAILED: page %u read %#llx WITHOUT asking the owner (%u REMOTE_FAULTs): "
		    "still mapped after %s", k, (unsigned long long)r[1], an->faults - f0,
		    why);
		++*bad;
	} else if (!covered) {
		FAIL("page %u: SIGBUS without a REMOTE_FAULT covering it (%u sent)", k,
		     an->faults - f0);
	} else {
		SAY("page %u unmapped after %s: %u REMOTE_FAULT(s) refused, SIGBUS", k, why,
		    an->faults - f0);
	}
	return 0;
}

/*
 * Page k word by word against the owner's current data; says which
 * REMOTE_FAULTs (start and pages asked) the read sent.
 */
static int zap_content(struct importer *im, struct answerer *an, struct zowner *o,
		       unsigned int k, const char *why)
{
	static uint64_t w[PG / 8];
	unsigned int f0 = an->faults;
	uint32_t c = PAGE | k;
	char asks[160] = "";
	size_t at = 0;

	CHECK(write(im->cmd, &c, 4) == 4);
	if (importer_result_len(im, an, w, PG))
		FAIL("importer: read of page %u failed or died", k);
	for (size_t i = 0; i < PG / 8; i++)
		if (w[i] != o->cur[k][i])
			FAIL("page %u word %zu after %s reads %#llx, the owner's current data "
			     "is %#llx: not the owner's current frame", k, i, why,
			     (unsigned long long)w[i], (unsigned long long)o->cur[k][i]);
	for (unsigned int f = f0; f < an->faults && f - f0 < 4 && at < sizeof(asks); f++)
		at += (size_t)snprintf(asks + at, sizeof(asks) - at, " %#llx+%llu",
				       (unsigned long long)an->fault_start[f % 16],
				       (unsigned long long)an->fault_len[f % 16] / PG);
	SAY("page %u after %s: the owner's current data (%s), REMOTE_FAULTs:%s", k, why,
	    o->cur[k][0] ? "tagged" : "zero-filled", f0 == an->faults ? " none" : asks);
	return 0;
}

/*
 * ZAP [start, +len), which covers pages zp[0..nz) (in the order probed);
 * the owner replaces their frames; each must be unmapped before any page
 * is read again, then all pages read the owner's current data.
 */
static int zap_round(struct importer *im, struct answerer *an, struct zowner *o,
		     uint64_t start, uint64_t len, const unsigned int *zp, unsigned int nz,
		     int *bad)
{
	char why[64];

	snprintf(why, sizeof(why), "ZAP {start %#llx, len %#llx}",
		 (unsigned long long)start, (unsigned long long)len);
	for (unsigned int i = 0; i < nz; i++)
		if (zowner_replace(o, zp[i]))
			return 1;
	CHECK(zap(start, len) == 0);
	for (unsigned int i = 0; i < nz; i++)
		if (zap_unmapped(im, an, zp[i], why, bad))
			return 1;
	for (unsigned int i = 0; i < nz; i++)
		if (zap_content(im, an, o, zp[i], why))
			return 1;
	for (unsigned int k = 0; k < ZPAGES; k++) {
		unsigned int i = 0;

		while (i < nz && zp[i] != k)
			i++;
		if (i == nz && zap_content(im, an, o, k, why))
			return 1;
	}
	return 0;
}

/* One attachment (at: see struct importer) through 3 ZAPs. */
static int zap_unaligned_at(unsigned int at, int *bad)
{
	static const unsigned int z1[] = { 2, 1 }, z2[] = { 1, 0 }, z3[] = { 3 };
	struct zowner o = { 0 };
	struct answerer an = { .phys = o.phys, .npages = ZPAGES, .answer_pages = ZPAGES };
	struct importer im = { .at = at };
	uint64_t *a = tagged_buffer(ZPAGES + ZPOOL, 0);
	int rc = 1;

	CHECK(a);
	/* Word i of tagged page j: its tag + i; pool frames 0 and 2 zero-filled. */
	for (unsigned int j = 0; j < ZPAGES + ZPOOL; j++)
		for (size_t i = 0; i < PG / 8; i++)
			a[j * PG / 8 + i] = j == ZPAGES || j == ZPAGES + 2 ? 0 :
					    ZTAG + ((uint64_t)at << 40) + ((uint64_t)j << 16) + i;
	for (unsigned int k = 0; k < ZPAGES; k++) {
		o.cur[k] = a + (size_t)k * PG / 8;
		CHECK((o.phys[k] = pfn_of(o.cur[k]) * PG));
	}
	o.pool = a + (size_t)ZPAGES * PG / 8;
	if (at)
		SAY("attached at page %u of a PMD", at - 1);
	else
		SAY("attached where the kernel chose");
	if (importer_get(&im, rsegid, ZPAGES * PG))
		goto out;

	/* Everything mapped by one fault; no fault after that. */
	for (unsigned int k = 0; k < ZPAGES; k++)
		if (zap_content(&im, &an, &o, k, "the first fault"))
			goto out;
	CHECK(an.faults == 1);
	an.answer_pages = 1;	/* from now on, refaults map one page each */

	/* Pages 1 and 2 (the unaligned start's last page is page 2). */
	if (zap_round(&im, &an, &o, 0x1800, 0x1000, z1, 2, bad) ||
	    zap_round(&im, &an, &o, 0xfff, 2, z2, 2, bad) ||
	    /* An aligned ZAP of page 3 alone (the common case) still works. */
	    zap_round(&im, &an, &o, 3 * PG, PG, z3, 1, bad))
		goto out;
	rc = 0;
out:
	importer_stop(&im);
	munmap(a, (ZPAGES + ZPOOL) * PG);
	return rc;
}

static int t_zap_unaligned(void)
{
	/*
	 * At window 16 a random fault asks from page (address / PG) % 16 of
	 * its PMD's 16-page block: at PMD page 15, page 2's refault asks from
	 * page 1; at PMD page 14, page 1's from page 0; at page 0, page 2's
	 * and page 1's from page 0.
	 */
	static const unsigned int ats[] = { 0, 1, 15, 16 };
	int bad = 0;

	CHECK(write_param("fault_window_pages", "16") == 0);
	CHECK(write_param("ram_windows", "1") == 0);
	CHECK(peer_window(0, WSIZE) == 0);
	for (unsigned int i = 0; i < sizeof(ats) / sizeof(ats[0]); i++)
		if (zap_unaligned_at(ats[i], &bad))
			return 1;
	CHECK(peer_window(0, 0) == 0);
	CHECK(write_param("ram_windows", "0") == 0);
	if (bad)
		FAIL("%d page(s) in a ZAP's range were read without asking the owner: a PTE "
		     "the ZAP should have removed", bad);
	return 0;
}

/* ======================= window_replaced ======================= */

#define ATAG 0xa0a0a0a000000000ULL
#define BTAG 0xb0b0b0b000000000ULL

/*
 * Part 1: REMOTE_FAULT received, then the window replaced, then the reply.
 * Window offset e0 is frame A through window 1 and frame B through window 2.
 */
static int window_replaced_simple(uint64_t *a, uint64_t *b)
{
	uint64_t pa = pfn_of(a) * PG, pb = pfn_of(b) * PG, e0, b1, b2, v = 0;
	struct answerer an = { .npages = 1, .answer_pages = 1 };
	struct importer im = { 0 };
	union msgbuf m;
	uint32_t k = 0;

	CHECK(pa && pb);
	e0 = pa < pb ? pa : pb;
	b1 = pa - e0;
	b2 = pb - e0;
	an.phys = &e0;
	CHECK(peer_window(b1, WSIZE) == 0);
	if (importer_get(&im, rsegid, PG))
		return 1;

	CHECK(write(im.cmd, &k, 4) == 4);
	CHECK(cexpect(&m, XPMEM_CHAN_REMOTE_FAULT, 5000));
	CHECK(((struct xpmem_chan_remote_fault *)body(&m))->start == 0);
	/* The window moves while the fault waits for us. */
	CHECK(peer_window(b2, WSIZE) == 0);
	CHECK(fault_reply(m.h.seq, 0, &e0, 1) == 0);
	an.faults = 1;
	/* The importer's read completes; refaults are answered the same way. */
	{
		double end = now() + 15;
		int got = 0;

		while (!got && now() < end) {
			struct pollfd p[2] = { { .fd = cfd, .events = POLLIN },
					       { .fd = im.rep, .events = POLLIN } };

			if (poll(p, 2, 200) <= 0)
				continue;
			if ((p[0].revents & POLLIN) && crecv(&m, 0)) {
				if (m.h.type == XPMEM_CHAN_REMOTE_FAULT && serve_fault(&an, &m))
					return 1;
				continue;
			}
			if (p[1].revents) {
				CHECK(read(im.rep, &v, 8) == 8);
				got = 1;
			}
		}
		CHECK(got);
	}
	SAY("reply sent after the window moved: %u REMOTE_FAULT(s); the importer read %#llx "
	    "(frame A through the old window = %#llx, frame B through the new = %#llx)",
	    an.faults, (unsigned long long)v, (unsigned long long)ATAG,
	    (unsigned long long)BTAG);
	if (v == ATAG)
		FAIL("the reply was mapped through the REPLACED window (read frame A)");
	CHECK(v == BTAG);
	CHECK(an.faults >= 2);
	/* The mapping stays coherent with the current window: no fault now. */
	if (importer_read(&im, 0, &an, &v))
		return 1;
	CHECK(v == BTAG);
	importer_stop(&im);
	return 0;
}

/*
 * Part 2: the race itself. The fault read the window before it sampled the
 * segment's zap sequence, so a window replaced in between was zapped
 * "before" the fault and the reply was mapped through the old window.
 * (Part 1 cannot catch that: the sequence is sampled before the REMOTE_FAULT
 * is sent.) To put a fault there: the importer splits its attachment into
 * one vma per page (mprotect), so a ZAP of that range (a second daemon
 * thread) holds the remote segment's lock and the remote-segment list mutex
 * for ~20 ms while it walks the vmas; the importer then faults on a page
 * outside the range (it reads the current window and waits for the segment
 * lock); the main thread replaces the window (it waits for the list mutex,
 * then wants the segment lock, and sometimes gets it before the fault). The
 * delays vary per round. Whatever the interleaving, the importer must then
 * read through the new window.
 */
#define RACE_VMAS 8192		/* one vma per page: a long ZAP */
#define RACE_ROUNDS 250

struct zapper_arg {
	int go[2], done[2];
};

/* The second daemon thread: one ZAP of the split range per 'z'. */
static void *zap_thread(void *p)
{
	struct zapper_arg *za = p;
	char c;

	while (read(za->go[0], &c, 1) == 1 && c == 'z') {
		struct xpmem_chan_zap z = { .segid = rsegid, .owner = RPEER, .start = 0,
					    .len = (uint64_t)RACE_VMAS * PG };
		double t0 = now(), dt;

		if (csend(XPMEM_CHAN_ZAP, &z, sizeof(z)))
			dt = -1;
		else
			dt = now() - t0;
		if (write(za->done[1], &dt, sizeof(dt)) != sizeof(dt))
			break;
	}
	return NULL;
}

static void spin_us(double us)
{
	double end = now() + us / 1e6;

	while (now() < end)
		;
}

static int window_replaced_race(uint64_t *a, uint64_t *b)
{
	uint64_t pa = pfn_of(a) * PG, pb = pfn_of(b) * PG, e0, base[2], tag[2];
	static uint64_t phys[RACE_VMAS + 2];
	struct answerer an = { .phys = phys, .npages = RACE_VMAS + 2, .answer_pages = 1 };
	struct zapper_arg za;
	struct importer im = { 0 };
	unsigned int stale = 0, rounds, cur = 0, first_stale = 0, retried = 0;
	double zap_s = 0, zap_max = 0;
	uint64_t v;
	pthread_t th;

	CHECK(pa && pb);
	e0 = pa < pb ? pa : pb;
	base[0] = pa - e0;	/* window 0: offset e0 is frame A */
	base[1] = pb - e0;	/* window 1: offset e0 is frame B */
	tag[0] = ATAG;
	tag[1] = BTAG;
	for (unsigned int i = 0; i < RACE_VMAS + 2; i++)
		phys[i] = e0;
	CHECK(peer_window(base[cur], WSIZE) == 0);
	if (importer_get(&im, rsegid, (RACE_VMAS + 2) * PG))
		return 1;
	CHECK(pipe(za.go) == 0 && pipe(za.done) == 0);	/* not the importer's */
	/* Split the attachment into one vma per page below the probe page. */
	if (importer_read(&im, SPLIT | RACE_VMAS, &an, &v))
		return 1;
	if (v)
		FAIL("importer: mprotect to split its attachment: %s", strerror((int)v));
	CHECK(pthread_create(&th, NULL, zap_thread, &za) == 0);
	for (rounds = 0; rounds < RACE_ROUNDS; rounds++) {
		uint32_t probe = RACE_VMAS;	/* outside the ZAP's range */
		unsigned int f0 = an.faults;
		double dt;
		int got = 0, wdone = 0;

		/*
		 * The long ZAP takes the segment lock; the probe's fault reads
		 * the window and waits for that lock; the window flip waits for
		 * the ZAP, then wants the segment lock too.
		 */
		CHECK(write(za.go[1], "z", 1) == 1);
		spin_us(100 + (rounds % 8) * 150);
		CHECK(write(im.cmd, &probe, 4) == 4);
		spin_us(50 + ((rounds / 8) % 8) * 100);
		cur ^= 1;
		{
			struct xpmem_chan_peer_window pw = { .peer = RPEER, .base = base[cur],
							     .size = WSIZE };

			CHECK(csend(XPMEM_CHAN_PEER_WINDOW, &pw, sizeof(pw)) == 0);
		}
		/* Serve the probe's faults; its data must come via window cur. */
		{
			double end = now() + 30;

			while ((!got || !wdone) && now() < end) {
				struct pollfd p[2] = { { .fd = cfd, .events = POLLIN },
						       { .fd = im.rep, .events = POLLIN } };
				union msgbuf m;

				if (poll(p, 2, 200) <= 0)
					continue;
				if ((p[0].revents & POLLIN) && crecv(&m, 0)) {
					if (m.h.type == XPMEM_CHAN_REMOTE_FAULT) {
						if (serve_fault(&an, &m))
							return 1;
					} else if (m.h.type == XPMEM_CHAN_PEER_WINDOW_DONE) {
						CHECK(((struct xpmem_chan_status *)
						       body(&m))->error == 0);
						wdone = 1;
					} else if (m.h.type != XPMEM_CHAN_ZAP_DONE) {
						printf("  (skipping message type %u)\n", m.h.type);
					}
					continue;
				}
				if (p[1].revents && !got) {
					CHECK(read(im.rep, &v, 8) == 8);
					got = 1;
				}
			}
		}
		CHECK(got && wdone);
		CHECK(read(za.done[0], &dt, sizeof(dt)) == sizeof(dt) && dt >= 0);
		zap_s += dt;
		if (dt > zap_max)
			zap_max = dt;
		retried += an.faults - f0 > 1;
		if (getenv("CHANFIX_DEBUG"))
			SAY("round %u: zap %.1f ms, read %#llx, %u fault(s)", rounds, dt * 1e3,
			    (unsigned long long)v, an.faults - f0);
		if (v == tag[cur ^ 1]) {
			if (!stale++)
				first_stale = rounds;
		} else {
			CHECK(v == tag[cur]);
		}
		/* Unmap the probe page again for the next round. */
		CHECK(zap((uint64_t)probe * PG, PG) == 0);
		{
			union msgbuf m;

			while (crecv(&m, 0))
				if (m.h.type != XPMEM_CHAN_ZAP_DONE)
					printf("  (skipping message type %u)\n", m.h.type);
		}
	}
	close(za.go[1]);
	pthread_join(th, NULL);
	close(za.go[0]);
	close(za.done[0]);
	close(za.done[1]);
	importer_stop(&im);
	SAY("race: %u rounds of {ZAP over %u vmas (%.1f ms mean, %.1f max) | fault | window "
	    "flip}: %u fault(s) retried, %u read through the REPLACED window", rounds,
	    RACE_VMAS, zap_s / rounds * 1e3, zap_max * 1e3, retried, stale);
	if (stale)
		FAIL("a fault racing a PEER_WINDOW replacement mapped the old window's frame "
		     "(%u of %u rounds, first in round %u): the window is read before the zap "
		     "sequence is sampled", stale, rounds, first_stale);
	return 0;
}

static int t_window_replaced(void)
{
	uint64_t *a = tagged_buffer(1, ATAG), *b = tagged_buffer(1, BTAG);
	int rc;

	CHECK(a && b);
	CHECK(write_param("ram_windows", "1") == 0);
	rc = window_replaced_simple(a, b);
	if (!rc)
		rc = window_replaced_race(a, b);
	peer_window(0, 0);
	write_param("ram_windows", "0");
	munmap(a, PG);
	munmap(b, PG);
	return rc;
}

/* ======================= quarantine_unload ======================= */

#define QPAGES 16

/*
 * The source: a child exporting QPAGES written pages; 'u' munmaps them,
 * 'f' the first SRC_FRONT of them, anything else ends it.
 */
#define SRC_FRONT 4
struct source {
	pid_t pid;
	int cmd, rep;
	int64_t segid;
	uint64_t pfns[QPAGES];
};

static int source_start(struct source *s)
{
	int a[2], b[2];

	if (pipe(a) || pipe(b))
		return -1;
	s->pid = fork();
	if (s->pid == 0) {
		char *p = mmap(NULL, QPAGES * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct xpmem_cmd_make mk = { .vaddr = (uintptr_t)p, .size = QPAGES * PG,
					     .permit_type = XPMEM_PERMIT_MODE,
					     .permit_value = 0600 };
		int xfd = open("/dev/xpmem", O_RDWR | O_CLOEXEC);
		char c;

		close(a[1]);
		close(b[0]);
		close(cfd);
		for (unsigned int i = 0; i < QPAGES; i++)
			memset(p + i * PG, 'Q' + i, PG);
		s->segid = xfd >= 0 && !ioctl(xfd, XPMEM_CMD_MAKE, &mk) ? mk.segid : -1;
		for (unsigned int i = 0; i < QPAGES; i++)
			s->pfns[i] = pfn_of(p + i * PG);
		if (write(b[1], s, sizeof(*s)) != sizeof(*s))
			_exit(1);
		while (read(a[0], &c, 1) == 1 && (c == 'u' || c == 'f')) {
			munmap(p, (c == 'u' ? QPAGES : SRC_FRONT) * PG);
			if (write(b[1], &c, 1) != 1)
				break;
		}
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	s->cmd = a[1];
	s->rep = b[0];
	{
		struct source t;
		pid_t pid = s->pid;

		if (read(s->rep, &t, sizeof(t)) != sizeof(t))
			return -1;
		*s = t;
		s->pid = pid;
		s->cmd = a[1];
		s->rep = b[0];
	}
	return s->segid > 0 ? 0 : -1;
}

static int source_done(struct source *s, int ms)
{
	struct pollfd p = { .fd = s->rep, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) <= 0)
		return 0;
	return read(s->rep, &c, 1) == 1;
}

static void source_stop(struct source *s)
{
	close(s->cmd);
	close(s->rep);
	waitpid(s->pid, NULL, 0);
}

/* Quarantined pfns still held: anon, mapped nowhere, not free. */
static unsigned int held_pages(const uint64_t *pfns, unsigned int n)
{
	unsigned int held = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t f = kpage("/proc/kpageflags", pfns[i]);
		uint64_t c = kpage("/proc/kpagecount", pfns[i]);

		held += f != ~0ULL && (f & (1ULL << KPF_ANON)) &&
			!(f & (1ULL << KPF_BUDDY)) && c == 0;
	}
	return held;
}

static int module_loaded(void)
{
	struct stat st;

	return stat("/sys/module/xpmem", &st) == 0;
}

/*
 * The xpmem.ko tests/vm/run inserted: --module, else $XPMEM_KMOD (exported
 * by the harness), else the insmod line of our guest-main.
 */
static int module_path(char *out, size_t len)
{
	char cmdline[4096], path[600], line[1024];
	char *p, *node = NULL;
	FILE *f;

	if (module_arg || getenv("XPMEM_KMOD")) {	/* tests/vm/run exports it */
		snprintf(out, len, "%s", module_arg ? module_arg : getenv("XPMEM_KMOD"));
		return 0;
	}
	f = fopen("/proc/cmdline", "r");
	if (!f || !fgets(cmdline, sizeof(cmdline), f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	for (p = strtok(cmdline, " \n"); p; p = strtok(NULL, " \n"))
		if (!strncmp(p, "XPMEM_NODE=", 11))
			node = p + 11;
	if (node) {
		snprintf(path, sizeof(path), "%s/guest-main", node);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			char *e;

			if (strncmp(line, "insmod ", 7))
				continue;
			e = strstr(line, " ||");
			if (!e)
				continue;
			*e = 0;
			fclose(f);
			if (strlen(line + 7) >= len)
				return -1;
			memcpy(out, line + 7, strlen(line + 7) + 1);
			return 0;
		}
		if (f)
			fclose(f);
	}
	return -1;
}

static int reinsert(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0)) {
		printf("  cannot insert %s again: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	for (int i = 0; i < 50 && access("/dev/xpmem", F_OK); i++)
		usleep(20000);
	chmod("/dev/xpmem", 0666);	/* as tests/vm/run does */
	return 0;
}

/* Kernel log lines after the line containing @mark that contain @word. */
static int klog_after(const char *mark, const char *word, char *first, size_t len)
{
	int size = klogctl(10, NULL, 0), n, hits = 0;
	char *buf, *p, *line;

	if (size <= 0)
		size = 1 << 20;
	buf = malloc(size + 1);
	if (!buf)
		return -1;
	n = klogctl(3, buf, size);
	if (n < 0) {
		free(buf);
		return -1;
	}
	buf[n] = 0;
	p = strstr(buf, mark);
	if (!p) {
		free(buf);
		return -1;
	}
	for (line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
		if (strstr(line, mark) || !strcasestr(line, word))
			continue;
		if (!hits++ && first)
			snprintf(first, len, "%s", line);
	}
	free(buf);
	return hits;
}

static void kmsg(const char *s)
{
	int fd = open("/dev/kmsg", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, s, strlen(s)) < 0)
			perror("/dev/kmsg");
		close(fd);
	}
}

static int t_quarantine_unload(void)
{
	char kmod[512], mark[96], msg[512];
	struct source s;
	union msgbuf m;
	uint64_t gen;
	unsigned int held;
	long r;
	int hits, err;

	CHECK(module_loaded());
	if (module_path(kmod, sizeof(kmod)))
		FAIL("cannot tell which xpmem.ko was inserted (no XPMEM_NODE/guest-main, "
		     "no --module PATH)");
	SAY("module: %s", kmod);
	snprintf(mark, sizeof(mark), "xpmem-test: quarantine_unload %d", getpid());
	kmsg(mark);

	CHECK(write_param("ack_timeout_ms", "200") == 0);
	if (cfd < 0 && chan_open_hello())
		return 1;
	CHECK(source_start(&s) == 0);
	CHECK(grant(s.segid, PEER, 100, XPMEM_RDONLY) == 0);
	{
		struct xpmem_chan_resolve rq = { .segid = s.segid, .start = 0,
						 .len = QPAGES * PG, .requester = PEER,
						 .access = XPMEM_CHAN_ACCESS_READ,
						 .requester_incarnation = 100,
						 .owner_instance = kinst() };
		uint64_t seq = __atomic_add_fetch(&dseq, 1, __ATOMIC_SEQ_CST);

		CHECK(csend_seq(XPMEM_CHAN_RESOLVE, &rq, sizeof(rq), seq) == 0);
		CHECK(cexpect(&m, XPMEM_CHAN_RESOLVED, 5000) && m.h.seq == seq);
		CHECK(((struct xpmem_chan_frames *)body(&m))->error == 0);
	}
	/* The owner unmaps; the INVALIDATE is never answered. */
	CHECK(write(s.cmd, "u", 1) == 1);
	CHECK(cexpect(&m, XPMEM_CHAN_INVALIDATE, 5000));
	gen = ((struct xpmem_chan_invalidate *)body(&m))->generation;
	CHECK(source_done(&s, 10000));
	source_stop(&s);
	CHECK(query_total(XPMEM_CHAN_Q_QUARANTINE, 0, NULL) == 1);
	CHECK(debugfs_long("channel", "quarantine_pages") == QPAGES);
	held = held_pages(s.pfns, QPAGES);
	SAY("quarantined: generation %llu, %u pages; %u of them held (anon, unmapped, not free)",
	    (unsigned long long)gen, QPAGES, held);
	CHECK(held == QPAGES);

	/* No daemon, no /dev/xpmem user: only the quarantine holds the module. */
	close(cfd);
	cfd = -1;
	usleep(100000);
	errno = 0;
	r = syscall(SYS_delete_module, "xpmem", O_NONBLOCK);
	err = errno;
	if (r == 0 || !module_loaded()) {
		SAY("FAILED: rmmod succeeded with %u quarantined pages: the peer that never "
		    "acked may still map them (%u still held after the unload)", QPAGES,
		    held_pages(s.pfns, QPAGES));
		reinsert(kmod);
		return 1;
	}
	SAY("rmmod refused: %s (module still loaded)", strerror(err));
	CHECK(err == EBUSY || err == EAGAIN);
	hits = klog_after(mark, "quarantin", msg, sizeof(msg));
	if (hits <= 0)
		FAIL("no kernel message naming the quarantine since the test started");
	SAY("kernel log: %s", msg);

	/* A daemon comes back: HELLO replays the INVALIDATE; the ack drains. */
	if (chan_open_hello())
		return 1;
	CHECK(cexpect(&m, XPMEM_CHAN_INVALIDATE, 3000));
	{
		struct xpmem_chan_invalidate *inv = body(&m);
		struct xpmem_chan_acked a = { .generation = inv->generation };

		CHECK(inv->segid == s.segid && inv->npeers == 1 && inv->peers[0] == PEER);
		CHECK(inv->generation == gen);
		CHECK(csend(XPMEM_CHAN_ACKED, &a, sizeof(a)) == 0);
	}
	CHECK(query_total(XPMEM_CHAN_Q_QUARANTINE, 0, NULL) == 0);
	CHECK(debugfs_long("channel", "quarantine_entries") == 0);
	CHECK(debugfs_long("channel", "quarantine_pages") == 0);
	held = held_pages(s.pfns, QPAGES);
	SAY("after the late ack: quarantine empty, %u of %u pages still held", held, QPAGES);
	CHECK(held == 0);
	SAY("objects: tg %ld seg %ld ap %ld att %ld", debugfs_long("objects", "tg"),
	    debugfs_long("objects", "seg"), debugfs_long("objects", "ap"),
	    debugfs_long("objects", "att"));
	CHECK(debugfs_long("objects", "seg") == 0 && debugfs_long("objects", "ap") == 0 &&
	      debugfs_long("objects", "att") == 0);
	CHECK(write_param("ack_timeout_ms", "5000") == 0);

	/* Nothing holds it any more: the unload goes through. */
	close(cfd);
	cfd = -1;
	for (int i = 0; i < 30; i++) {
		r = syscall(SYS_delete_module, "xpmem", O_NONBLOCK);
		if (!r || (errno != EAGAIN && errno != EBUSY))
			break;
		usleep(100000);
	}
	if (r)
		FAIL("rmmod after the late ack: %s", strerror(errno));
	CHECK(!module_loaded());
	SAY("rmmod after the late ack: unloaded");
	if (reinsert(kmod))
		return 1;
	CHECK(module_loaded() && access("/dev/xpmem", F_OK) == 0);
	SAY("inserted again: %s", kmod);
	return 0;
}

/* ======================= kept_answer_other_zap ======================= */

#define KPAGES 16
#define KANSWER 4		/* pages in each answer: 0..3 */
#define KOTHER 8		/* the other ZAPs: pages 8..9 */
#define KTAG 0x4b70000000000000ULL

/*
 * Page 0's REMOTE_FAULT is answered only after ZAPs of @zstart/@zlen (each
 * waited for); the answer is pages [0, KANSWER) or @error. Returns like
 * importer_result(); *refaults gets the REMOTE_FAULTs after the first.
 */
static int fault_after_zaps(struct importer *im, const uint64_t *phys, int nzaps,
			    uint64_t zstart, uint64_t zlen, int error, uint64_t *val,
			    unsigned int *refaults)
{
	struct answerer an = { .phys = phys, .npages = KPAGES, .answer_pages = KANSWER,
			       .error = error };
	struct xpmem_chan_remote_fault *rf;
	union msgbuf m;
	uint32_t k = 0;
	int rc;

	CHECK(write(im->cmd, &k, 4) == 4);
	CHECK(cexpect(&m, XPMEM_CHAN_REMOTE_FAULT, 5000));
	rf = body(&m);
	CHECK(rf->owner == RPEER && rf->start == 0 && rf->len >= KANSWER * PG);
	for (int i = 0; i < nzaps; i++)
		CHECK(zap(zstart, zlen) == 0);
	CHECK(fault_reply(m.h.seq, error, error ? NULL : phys, error ? 0 : KANSWER) == 0);
	rc = importer_result(im, &an, val);
	*refaults = an.faults;
	return rc;
}

static int kept_answer_body(const uint64_t *phys)
{
	struct importer im = { 0 };
	unsigned int refaults;
	uint64_t v = 0;
	int st, rc;

	if (importer_get(&im, rsegid, KPAGES * PG))
		return 1;

	/* 1. Three ZAPs of pages 8..9 while page 0's fault waits. */
	rc = fault_after_zaps(&im, phys, 3, KOTHER * PG, 2 * PG, 0, &v, &refaults);
	if (rc)
		FAIL("importer: %s", rc == IMPORTER_DIED ? "died" : "no result");
	SAY("answer [0, %d pages) sent after 3 ZAPs of pages %d..%d: read %#llx, %u more "
	    "REMOTE_FAULT(s)", KANSWER, KOTHER, KOTHER + 1, (unsigned long long)v, refaults);
	if (v != KTAG)
		FAIL("page 0 reads %#llx, want %#llx", (unsigned long long)v,
		     (unsigned long long)KTAG);
	if (refaults)
		FAIL("page 0 faulted again (%u more REMOTE_FAULTs): its kept answer was thrown "
		     "away for ZAPs of pages %d..%d, which it does not cover", refaults, KOTHER,
		     KOTHER + 1);

	/* 2. A ZAP of page 0 itself meanwhile: the answer is stale, refault. */
	CHECK(zap(0, KPAGES * PG) == 0);
	rc = fault_after_zaps(&im, phys, 1, 0, PG, 0, &v, &refaults);
	if (rc)
		FAIL("importer: %s", rc == IMPORTER_DIED ? "died" : "no result");
	SAY("answer sent after a ZAP of page 0: read %#llx, %u more REMOTE_FAULT(s)",
	    (unsigned long long)v, refaults);
	if (v != KTAG)
		FAIL("page 0 reads %#llx, want %#llx", (unsigned long long)v,
		     (unsigned long long)KTAG);
	if (!refaults)
		FAIL("page 0 did not fault again: an answer older than a ZAP covering it "
		     "was mapped (stale)");

	/* 3. An error answer after ZAPs of other pages still fails the access. */
	CHECK(zap(0, KPAGES * PG) == 0);
	rc = fault_after_zaps(&im, phys, 3, KOTHER * PG, 2 * PG, -EFAULT, &v, &refaults);
	if (rc == 1)
		return 1;
	CHECK(waitpid(im.pid, &st, 0) == im.pid);
	im.pid = 0;
	close(im.cmd);
	close(im.rep);
	SAY("error answer (-EFAULT) sent after 3 ZAPs of pages %d..%d: importer %s, %u more "
	    "REMOTE_FAULT(s)", KOTHER, KOTHER + 1,
	    rc != IMPORTER_DIED ? "read a value" :
	    WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited", refaults);
	if (rc != IMPORTER_DIED || !WIFSIGNALED(st) || WTERMSIG(st) != SIGBUS)
		FAIL("the access whose REMOTE_FAULT failed did not end in SIGBUS");
	if (refaults)
		FAIL("the failed fault was asked again (%u more REMOTE_FAULTs): its error was "
		     "forgotten for ZAPs of pages it does not cover", refaults);
	return 0;
}

static int t_kept_answer_other_zap(void)
{
	uint64_t *buf = tagged_buffer(KPAGES, 0), phys[KPAGES];
	int rc;

	CHECK(buf);
	for (int k = 0; k < KPAGES; k++) {
		buf[k * PG / 8] = KTAG + k;
		CHECK((phys[k] = pfn_of((char *)buf + k * PG) * PG));
	}
	CHECK(write_param("ram_windows", "1") == 0);
	CHECK(peer_window(0, WSIZE) == 0);
	rc = kept_answer_body(phys);
	peer_window(0, 0);
	write_param("ram_windows", "0");
	munmap(buf, KPAGES * PG);
	return rc;
}

/* ======================= block_zap_starve ======================= */

#define SPAGES 48		/* three blocks, attached at page 0 of a PMD */
#define SBLOCK 16		/* fault_window_pages: a block's pages */
#define STAG 0x5b70000000000000ULL
#define SMAXASKS 3		/* REMOTE_FAULTs one read may take */

/* The owner's page k: zero-filled for 3, 40 and 45; else word i is tag + i. */
static uint64_t starve_word(unsigned int k, size_t i)
{
	return k == 3 || k == 40 || k == 45 ? 0 : STAG + ((uint64_t)k << 16) + i;
}

/* Which REMOTE_FAULTs (start page + pages) were sent since @f0, in @out. */
static void asks_str(const struct answerer *an, unsigned int f0, char *out, size_t len)
{
	size_t at = 0;

	out[0] = 0;
	for (unsigned int f = f0; f < an->faults && f - f0 < 6 && at < len; f++)
		at += (size_t)snprintf(out + at, len - at, " %llu+%llu",
				       (unsigned long long)an->fault_start[f % 16] / PG,
				       (unsigned long long)an->fault_len[f % 16] / PG);
	if (an->faults - f0 > 6 && at < len)
		snprintf(out + at, len - at, " ...");
}

/*
 * First touch of page @k in the middle of its block: the fault asks from
 * the block's start. Every REMOTE_FAULT starting before page @k gets a ZAP
 * of the block's first page before its (valid) answer, which is stale
 * then; the read must still end within SMAXASKS REMOTE_FAULTs with the
 * owner's data.
 */
static int starve_read(struct importer *im, struct answerer *an, unsigned int k)
{
	static uint64_t w[PG / 8];
	unsigned int f0 = an->faults, z0 = an->zaps, blk = k / SBLOCK * SBLOCK, n;
	uint32_t c = TIMED | k;
	uint64_t r[2];
	char asks[200];
	int rc;

	an->zap_below = (uint64_t)k * PG;
	an->zap_start = (uint64_t)blk * PG;
	CHECK(write(im->cmd, &c, 4) == 4);
	rc = importer_result_len(im, an, r, sizeof(r));
	if (!rc)
		rc = importer_result_len(im, an, w, PG);
	an->zap_below = 0;
	if (rc)
		FAIL("importer: timed read of page %u: %s", k,
		     rc == IMPORTER_DIED ? "died" : "no result");
	n = an->faults - f0;
	asks_str(an, f0, asks, sizeof(asks));
	SAY("page %u (%s, block %u..%u): %s after %u REMOTE_FAULT(s), %u ZAP(s) of page %u; "
	    "asks (page+pages):%s", k, starve_word(k, 0) ? "tagged" : "zero-filled", blk,
	    blk + SBLOCK - 1, r[0] == GOT_STARVED ? "STARVED" : r[0] == GOT_SIGBUS ? "SIGBUS" :
	    "read", n, an->zaps - z0, blk, asks);
	if (r[0] == GOT_STARVED)
		FAIL("starved: page %u not mapped in %d s; each of its %u REMOTE_FAULTs asked "
		     "from the block start again and a ZAP of page %u made its answer stale",
		     k, TIMED_S * slowdown, n, blk);
	if (r[0] == GOT_SIGBUS)
		FAIL("page %u: SIGBUS, but every answer was valid", k);
	if (!n || an->fault_start[f0 % 16] != (uint64_t)blk * PG)
		FAIL("page %u's first REMOTE_FAULT did not ask from its block's start (page "
		     "%u): the case does not test what it should", k, blk);
	if (an->zaps == z0)
		FAIL("no ZAP was sent: no answer was made stale");
	if (n > SMAXASKS)
		FAIL("page %u took %u REMOTE_FAULTs (at most %d)", k, n, SMAXASKS);
	for (size_t i = 0; i < PG / 8; i++)
		if (w[i] != starve_word(k, i))
			FAIL("page %u word %zu reads %#llx, the owner's is %#llx", k, i,
			     (unsigned long long)w[i], (unsigned long long)starve_word(k, i));
	return 0;
}

static int starve_body(struct importer *im, uint64_t *phys)
{
	struct answerer an = { .phys = phys, .npages = SPAGES, .answer_pages = SPAGES };
	static uint64_t w[PG / 8];
	unsigned int f0;

	if (importer_get(im, rsegid, SPAGES * PG))
		return 1;
	/*
	 * Page 8 (tagged) of block 0..15, then page 40 (zero-filled) of block
	 * 32..47: not where page 8's answer ended (page 8's may reach into
	 * block 16..31), so not sequential either.
	 */
	if (starve_read(im, &an, 8) || starve_read(im, &an, 40))
		return 1;
	/* No more ZAPs: every page is the owner's, word by word. */
	f0 = an.faults;
	for (unsigned int k = 0; k < SPAGES; k++) {
		uint32_t c = PAGE | k;

		CHECK(write(im->cmd, &c, 4) == 4);
		if (importer_result_len(im, &an, w, PG))
			FAIL("importer: read of page %u failed or died", k);
		for (size_t i = 0; i < PG / 8; i++)
			if (w[i] != starve_word(k, i))
				FAIL("page %u word %zu reads %#llx, the owner's is %#llx", k, i,
				     (unsigned long long)w[i],
				     (unsigned long long)starve_word(k, i));
	}
	SAY("all %d pages the owner's, word by word (%u more REMOTE_FAULT(s))", SPAGES,
	    an.faults - f0);
	return 0;
}

static int t_block_zap_starve(void)
{
	uint64_t *own = tagged_buffer(SPAGES, 0), phys[SPAGES];
	struct importer im = { .at = 1 };
	int rc;

	CHECK(own);
	for (unsigned int k = 0; k < SPAGES; k++) {
		for (size_t i = 0; i < PG / 8; i++)
			own[k * PG / 8 + i] = starve_word(k, i);
		CHECK((phys[k] = pfn_of((char *)own + k * PG) * PG));
	}
	CHECK(write_param("fault_window_pages", "16") == 0);
	CHECK(write_param("ram_windows", "1") == 0);
	CHECK(peer_window(0, WSIZE) == 0);
	rc = starve_body(&im, phys);
	if (im.pid > 0) {
		union msgbuf m;

		importer_stop(&im);
		/* Its exit gave the permit back. */
		if (!rc && (!cexpect(&m, XPMEM_CHAN_REMOTE_RELEASE, 5000) ||
			    ((struct xpmem_chan_release *)body(&m))->segid != rsegid))
			rc = 1;
	}
	if (peer_window(0, 0) || write_param("ram_windows", "0"))
		FAIL("cannot remove the loopback window");
	munmap(own, SPAGES * PG);
	return rc;
}

/* ======================= peer_page_cap ======================= */

#define CAP_P 1			/* fake peers importing our segment */
#define CAP_Q 2

/* RESOLVE [start, start+len) of @segid for @peer: its error; *pages resolved. */
static int resolve_pages(int64_t segid, uint64_t start, uint64_t len, uint32_t peer,
			 uint64_t *pages)
{
	struct xpmem_chan_resolve rq = { .segid = segid, .start = start, .len = len,
					 .requester = peer,
					 .access = XPMEM_CHAN_ACCESS_READ,
					 .requester_incarnation = 100,
					 .owner_instance = kinst() };
	struct xpmem_chan_frames *fr;
	union msgbuf m;
	uint64_t seq;

	*pages = 0;
	if (grant(segid, peer, 100, XPMEM_RDONLY))
		return -997;
	seq = __atomic_add_fetch(&dseq, 1, __ATOMIC_SEQ_CST);
	if (csend_seq(XPMEM_CHAN_RESOLVE, &rq, sizeof(rq), seq))
		return -999;
	if (!cexpect(&m, XPMEM_CHAN_RESOLVED, 5000) || m.h.seq != seq)
		return -998;
	fr = body(&m);
	for (unsigned int i = 0; !fr->error && i < fr->nextents; i++)
		*pages += fr->extents[i].len / PG;
	return fr->error;
}

/* The owner unmaps (@c: 'f' or 'u'): ACK the INVALIDATE, which must name @peers. */
static int unmap_acked(struct source *s, char c, const uint32_t *peers, uint32_t npeers)
{
	struct xpmem_chan_invalidate *inv;
	union msgbuf m;

	CHECK(write(s->cmd, &c, 1) == 1);
	CHECK(cexpect(&m, XPMEM_CHAN_INVALIDATE, 5000));
	inv = body(&m);
	CHECK(inv->segid == s->segid && inv->npeers == npeers);
	for (uint32_t i = 0; i < npeers; i++)
		CHECK(inv->peers[i] == peers[i]);
	{
		struct xpmem_chan_acked a = { .generation = inv->generation };

		CHECK(csend(XPMEM_CHAN_ACKED, &a, sizeof(a)) == 0);
	}
	CHECK(source_done(s, 10000));
	return 0;
}

static int peer_cap_body(struct source *s)
{
	static const uint32_t p_only[] = { CAP_P }, both[] = { CAP_P, CAP_Q };
	uint64_t n;
	int e;

	e = resolve_pages(s->segid, 0, 4 * PG, CAP_P, &n);
	if (e || n != 4)
		FAIL("peer %d: RESOLVE of pages 0..3 under a cap of 4: error %d, %llu pages",
		     CAP_P, e, (unsigned long long)n);
	e = resolve_pages(s->segid, 4 * PG, PG, CAP_P, &n);
	SAY("peer %d holding 4 resolved pages (cap 4): RESOLVE of page 4 -> %d (%s)", CAP_P, e,
	    e ? strerror(-e) : "resolved");
	if (e != -ENOSPC)
		FAIL("peer %d: a 5th resolved page under max_rmap_pages_per_peer=4: error %d, "
		     "want -ENOSPC", CAP_P, e);
	e = resolve_pages(s->segid, 8 * PG, 4 * PG, CAP_Q, &n);
	if (e || n != 4)
		FAIL("peer %d while peer %d is at its cap: RESOLVE of pages 8..11: error %d, "
		     "%llu pages", CAP_Q, CAP_P, e, (unsigned long long)n);
	e = resolve_pages(s->segid, 12 * PG, PG, CAP_Q, &n);
	if (e != -ENOSPC)
		FAIL("peer %d: a 5th page: error %d, want -ENOSPC", CAP_Q, e);
	/* The owner unmaps peer P's pages: invalidated, acked, P's share back. */
	if (unmap_acked(s, 'f', p_only, 1))
		return 1;
	e = resolve_pages(s->segid, 4 * PG, PG, CAP_P, &n);
	SAY("after the owner unmapped pages 0..3 (INVALIDATE to peer %d acked): RESOLVE of "
	    "page 4 -> %d, %llu page(s)", CAP_P, e, (unsigned long long)n);
	if (e || n != 1)
		FAIL("peer %d after its pages were invalidated: error %d, %llu pages; want 1",
		     CAP_P, e, (unsigned long long)n);
	/* The rest goes: both peers are asked. */
	return unmap_acked(s, 'u', both, 2);
}

static int t_peer_page_cap(void)
{
	struct source s;
	int rc;

	if (write_param("max_rmap_pages_per_peer", "4"))
		FAIL("cannot set module parameter max_rmap_pages_per_peer: %s (no per-peer "
		     "resolved-page cap in this module)", strerror(errno));
	if (source_start(&s)) {
		write_param("max_rmap_pages_per_peer", "0");
		FAIL("source: no segment");
	}
	rc = peer_cap_body(&s);
	if (rc) {	/* unmap, ACKing whatever it asks, so nothing is quarantined */
		union msgbuf m;
		double end = now() + 10;

		if (write(s.cmd, "u", 1) == 1)
			while (now() < end && !source_done(&s, 0))
				if (crecv(&m, 100) && m.h.type == XPMEM_CHAN_INVALIDATE) {
					struct xpmem_chan_acked a = {
						.generation = ((struct xpmem_chan_invalidate *)
							       body(&m))->generation };

					csend(XPMEM_CHAN_ACKED, &a, sizeof(a));
				}
	}
	source_stop(&s);
	if (write_param("max_rmap_pages_per_peer", "0"))
		FAIL("cannot restore max_rmap_pages_per_peer=0");
	if (!rc && query_total(XPMEM_CHAN_Q_QUARANTINE, 0, NULL) != 0)
		FAIL("something was quarantined");
	return rc;
}

/* ---- main ---------------------------------------------------------------- */

struct tcase {
	const char *name;
	int (*fn)(void);
	int seconds;		/* watchdog */
};

static const struct tcase cases[] = {
	{ "zap_unaligned", t_zap_unaligned, 90 },
	{ "window_replaced", t_window_replaced, 150 },
	{ "quarantine_unload", t_quarantine_unload, 90 },
	{ "kept_answer_other_zap", t_kept_answer_other_zap, 60 },
	{ "peer_page_cap", t_peer_page_cap, 60 },
	{ "block_zap_starve", t_block_zap_starve, 90 },
};

/* Kernel stacks of our threads and children, for a hang report. */
static void dump_stacks(void)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd),
		 "for t in /proc/%d/task/* $(pgrep -P %d | sed 's|^|/proc/|'); do "
		 "echo \"  -- $t ($(cat $t/comm 2>/dev/null))\"; sed 's/^/     /' $t/stack; done",
		 getpid(), getpid());
	if (system(cmd) < 0)
		perror("system");
}

static void watchdog(int sig)
{
	char b[200];
	int n;

	(void)sig;
	n = snprintf(b, sizeof(b), "  watchdog: %s hung; kernel stacks:\n", current_case);
	if (write(1, b, n) < 0)
		_exit(3);
	dump_stacks();
	n = snprintf(b, sizeof(b), "FAIL %s (watchdog: the case hung)\n", current_case);
	if (write(1, b, n) < 0)
		_exit(3);
	_exit(1);
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, want[sizeof(cases) / sizeof(cases[0])] = { 0 }, any = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	chan_log = stdout;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, watchdog);
	if (getenv("XPMEM_VM_SLOWDOWN") && atoi(getenv("XPMEM_VM_SLOWDOWN")) > 1)
		slowdown = atoi(getenv("XPMEM_VM_SLOWDOWN"));	/* a debug kernel */
	for (int i = 1; i < argc; i++) {
		size_t c;

		if (!strcmp(argv[i], "--module") && i + 1 < argc) {
			module_arg = argv[++i];
			continue;
		}
		for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
			if (!strcmp(argv[i], cases[c].name))
				break;
		if (c == sizeof(cases) / sizeof(cases[0])) {
			fprintf(stderr, "unknown case %s\n", argv[i]);
			return 2;
		}
		want[c] = any = 1;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double t0 = now();
		int rc;

		if (any && !want[i])
			continue;
		current_case = cases[i].name;
		if (cfd < 0 && chan_open_hello()) {
			printf("FAIL %s (no channel)\n", cases[i].name);
			failed++;
			break;
		}
		alarm(cases[i].seconds * slowdown);
		rc = cases[i].fn();
		alarm(0);
		printf("%s %s (%.1f s)\n", rc ? "FAIL" : "PASS", cases[i].name, now() - t0);
		if (rc)
			failed++;
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
