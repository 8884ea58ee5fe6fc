// SPDX-License-Identifier: GPL-2.0
/*
 * xpmemd integration tests: real daemons on 127.0.0.1 (libfabric tcp;ofi_rxm),
 * each attached to a simulated kernel in this process.
 *
 * usage: test_daemon CASE PATH-TO-XPMEMD
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define SEG 0x1000
#define SEGSIZE (64ull << 20)
#define MB (1ull << 20)

struct gen_arg { int node; uint64_t gen; int state; };

static int gen_cond(struct cluster *c, void *a)
{
	struct gen_arg *g = a;
	return (int)simk_inval_state(c->nodes[g->node].k, g->gen) == g->state;
}

static int wait_gen(struct cluster *c, int node, uint64_t gen, int state, int ms)
{
	struct gen_arg a = { node, gen, state };
	return wait_for(c, gen_cond, &a, ms);
}

struct fault_arg { int node; uint64_t id; };

static int fault_cond(struct cluster *c, void *a)
{
	struct fault_arg *f = a;
	return simk_fault_state(c->nodes[f->node].k, f->id, NULL, NULL, NULL) == 1;
}

static void do_get(struct cluster *c, int imp, uint32_t owner, int64_t segid, uint32_t flags,
		   uint32_t uid, int expect_err, uint64_t expect_size, int ms);

/* node `imp` faults [start, start+len) of node `own`'s segment SEG, under no
 * grant but what earlier gets of the importer's daemon left */
static void fault_nogrant(struct cluster *c, int imp, int own, uint64_t start, uint64_t len,
			  uint32_t access, int expect_err)
{
	struct fault_arg a = { imp, 0 };
	struct xpmem_chan_extent ext;
	uint32_t n = 0;
	int err = 0;

	/* the owner's instance: what is checked here is the grant */
	a.id = simk_remote_fault_inst(c->nodes[imp].k, c->nodes[own].id, SEG, start, len, access,
				      simk_instance(c->nodes[own].k));
	CHECK(wait_for(c, fault_cond, &a, 5000), "remote fault node %d -> %d did not finish",
	      imp + 1, own + 1);
	simk_fault_state(c->nodes[imp].k, a.id, &err, &n, &ext);
	CHECK(err == expect_err, "fault error %d, expected %d", err, expect_err);
	if (!expect_err) {
		CHECK(n == 1, "extents %u", n);
		CHECK(ext.phys == 0x100000000ull + start && ext.len == len,
		      "extent %#llx+%#llx", (unsigned long long)ext.phys,
		      (unsigned long long)ext.len);
	}
}

/* node 2 faults in [0, MB) of node 1's SEG naming another instance of node
 * 1's kernel (a permit from before it rebooted): refused, -ESTALE ("WHAT:
 * error N" otherwise) */
static void fault_stale(struct cluster *c, const char *what)
{
	struct fault_arg a = { 1, 0 };
	int err = 1;

	a.id = simk_remote_fault_inst(c->nodes[1].k, c->nodes[0].id, SEG, 0, MB,
				      XPMEM_CHAN_ACCESS_READ, simk_instance(c->nodes[0].k) ^ 2);
	CHECK(wait_for(c, fault_cond, &a, 5000), "stale fault did not finish");
	simk_fault_state(c->nodes[1].k, a.id, &err, NULL, NULL);
	CHECK(err == -ESTALE, "%s: error %d", what, err);
}

/* the same after an xpmem_get (RDWR) of SEG by the importer: the owner's
 * kernel resolves nothing beyond a grant of the importer's incarnation */
static void do_fault(struct cluster *c, int imp, int own, uint64_t start, uint64_t len,
		     uint32_t access, int expect_err)
{
	do_get(c, imp, c->nodes[own].id, SEG, 2, 1000, 0, SEGSIZE, 5000);
	fault_nogrant(c, imp, own, start, len, access, expect_err);
}

static struct simk_stats kstats(struct cluster *c, int i)
{
	struct simk_stats s;
	simk_get_stats(c->nodes[i].k, &s);
	return s;
}

static struct cluster C;

struct q_arg { int node; uint64_t want; };

static int q_cond(struct cluster *c, void *a)
{
	struct q_arg *q = a;
	return kstats(c, q->node).quarantine_entries == q->want;
}

/* wait until node's kernel holds `want` quarantine entries */
static int wait_quarantine(struct cluster *c, int node, uint64_t want, int ms)
{
	struct q_arg a = { node, want };
	return wait_for(c, q_cond, &a, ms);
}

static void start_all(struct cluster *c)
{
	for (int i = 0; i < c->n; i++)
		node_start(c, i);
	CHECK(wait_ready(c, 15000), "cluster did not come up");
}

/* ------------------------------------------------------------------ */

/* Invalidate/ack round trip with k peers (k importers of one segment). */
static void t_roundtrip(const char *bin, int k)
{
	uint64_t gen;

	cluster_init(&C, bin, k + 1, 0);
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	for (int r = 0; r < 3; r++) {
		for (int i = 1; i <= k; i++)
			do_fault(&C, i, 0, 0, 8 * MB, XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE, 0);
		CHECK(simk_rmap_count(C.nodes[0].k) == (size_t)k, "rmap %zu", simk_rmap_count(C.nodes[0].k));
		for (int i = 1; i <= k; i++)
			CHECK(simk_import_count(C.nodes[i].k) == 1, "imports on node %d", i + 1);
		/* one INVALIDATE, one range, k peers */
		gen = simk_invalidate(C.nodes[0].k, SEG, 0, SEGSIZE);
		CHECK(gen, "nothing to invalidate");
		CHECK(wait_gen(&C, 0, gen, SIMK_ACKED, 5000), "generation %llu not ACKED (state %d)",
		      (unsigned long long)gen, simk_inval_state(C.nodes[0].k, gen));
		for (int i = 1; i <= k; i++)
			CHECK(simk_import_count(C.nodes[i].k) == 0, "node %d still maps", i + 1);
		CHECK(kstats(&C, 0).quarantine_entries == 0, "quarantine");
	}
	CHECK(wait_stat(&C, 0, "acked", 3, 2000), "daemon acked %lld", node_stat(&C, 0, "acked"));
	CHECK(node_stat(&C, 0, "timed_out") == 0, "timeouts");
	/* a peer listed twice and this node itself do not block completion */
	{
		uint32_t list[3] = { 2, 2, 1 };
		gen = simk_invalidate_peers(C.nodes[0].k, SEG, 0, MB, list, 3);
		CHECK(wait_gen(&C, 0, gen, SIMK_ACKED, 5000), "dup/self list not ACKED");
	}
	/* bad requests are answered with errors, not dropped */
	do_fault(&C, 1, 0, SEGSIZE, MB, XPMEM_CHAN_ACCESS_READ, -EINVAL);
	cluster_stop(&C);
}

/* Timeout -> quarantine -> late ack drains it. */
static void t_late_ack(const char *bin)
{
	uint64_t gen;

	cluster_init(&C, bin, 3, 0);
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	do_fault(&C, 1, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, 0);
	do_fault(&C, 2, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, 0);
	simk_hold_zaps(C.nodes[2].k, 1);	/* node 3 is slow to unmap */
	gen = simk_invalidate(C.nodes[0].k, SEG, 0, 2 * MB);
	CHECK(wait_gen(&C, 0, gen, SIMK_TIMED_OUT, 5000), "not TIMED_OUT");
	CHECK(kstats(&C, 0).kernel_timeouts == 0, "kernel timed out itself");
	CHECK(kstats(&C, 0).quarantine_entries == 1, "quarantine %llu",
	      (unsigned long long)kstats(&C, 0).quarantine_entries);
	CHECK(kstats(&C, 0).quarantine_pages == 512, "pages %llu",
	      (unsigned long long)kstats(&C, 0).quarantine_pages);
	CHECK(wait_stat(&C, 0, "timed_out", 1, 2000), "daemon timed_out");
	simk_hold_zaps(C.nodes[2].k, 0);
	CHECK(wait_stat(&C, 0, "late_acks", 1, 5000), "no late ack");
	CHECK(wait_quarantine(&C, 0, 0, 5000), "quarantine not drained");
	CHECK(node_stat(&C, 0, "timed_out_outstanding") == 0, "late-ack record kept");
	cluster_stop(&C);
}

/* Importer's daemon dies; invalidation times out; the importer node comes
 * back with a new incarnation (its daemon dropped all mappings): drained. */
static void t_peer_restart(const char *bin)
{
	uint64_t gen;
	long long inc1;

	cluster_init(&C, bin, 2, 0);
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	do_fault(&C, 1, 0, 0, 4 * MB, XPMEM_CHAN_ACCESS_READ, 0);
	inc1 = node_peer_field(&C, 0, 2, "incarnation");
	node_kill(&C, 1, SIGKILL);
	CHECK(simk_import_count(C.nodes[1].k) == 1, "import gone too early");
	gen = simk_invalidate(C.nodes[0].k, SEG, 0, SEGSIZE);
	CHECK(wait_gen(&C, 0, gen, SIMK_TIMED_OUT, 5000), "not TIMED_OUT");
	CHECK(kstats(&C, 0).quarantine_entries == 1, "quarantine");
	node_start(&C, 1);
	CHECK(wait_ready(&C, 10000), "restart");
	CHECK(kstats(&C, 1).zap_alls == 2, "restarted daemon did not ZAP_ALL");
	CHECK(simk_import_count(C.nodes[1].k) == 0, "stale import survived restart");
	CHECK(wait_quarantine(&C, 0, 0, 5000), "quarantine not drained");
	CHECK(node_peer_field(&C, 0, 2, "incarnation") > inc1, "incarnation did not grow");
	cluster_stop(&C);
}

/* Heartbeats detect a dead peer; a restart with the same kernel does not
 * release quarantine the peer still owes (mappings made under its current
 * incarnation). */
static void t_heartbeat(const char *bin)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[256];
	ssize_t n;
	int nfd;

	cluster_init(&C, bin, 2, 0);
	/* systemd Type=notify: READY=1 arrives on NOTIFY_SOCKET */
	snprintf(C.notify, sizeof(C.notify), "%s/notify", C.dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", C.notify);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	CHECK(bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind notify");
	start_all(&C);
	/* STATUS= "waiting for the kernel" may come first (daemon.c) */
	do {
		n = recv(nfd, msg, sizeof(msg) - 1, 0);
		CHECK(n > 0, "no sd_notify READY=1");
		msg[n] = 0;
	} while (!strstr(msg, "READY=1"));
	close(nfd);
	CHECK(node_peer_field(&C, 0, 2, "alive") == 1, "alive");
	node_kill(&C, 1, SIGKILL);
	CHECK(wait_stat(&C, 0, "peer_deaths", 1, 5000), "death not detected");
	CHECK(node_peer_field(&C, 0, 2, "alive") == 0, "still alive");
	node_start(&C, 1);
	CHECK(wait_ready(&C, 10000), "peer did not come back");
	CHECK(node_peer_field(&C, 0, 2, "alive") == 1, "not alive again");
	cluster_stop(&C);
}

/* Owner daemon killed: its kernel times pending invalidations out on its own
 * (channel hangup) and quarantines; a restarted daemon reconciles. Also a
 * stopped (not dead) daemon: the kernel's own timer fires. */
static void t_daemon_restart(const char *bin)
{
	uint64_t g1, g2;

	cluster_init(&C, bin, 2, 0);
	C.kernel_timeout_ms = 1500;
	simk_destroy(C.nodes[0].k);
	C.nodes[0].k = C.ks[0] = simk_create(C.nodes[0].sock, 1, C.kernel_timeout_ms);
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);

	/* a stopped daemon: kernel-side timeout */
	do_fault(&C, 1, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, 0);
	node_kill(&C, 0, SIGSTOP);
	g1 = simk_invalidate(C.nodes[0].k, SEG, 0, MB);
	CHECK(wait_gen(&C, 0, g1, SIMK_TIMED_OUT, 5000), "kernel did not time out");
	CHECK(kstats(&C, 0).kernel_timeouts == 1, "kernel_timeouts");
	CHECK(kstats(&C, 0).quarantine_entries == 1, "quarantine");
	node_kill(&C, 0, SIGCONT);	/* daemon resumes, finishes g1 late */
	CHECK(wait_quarantine(&C, 0, 0, 5000), "late ACKED did not release");
	CHECK(wait_ready(&C, 5000), "peers did not see each other again");

	/* a killed daemon: channel hangup */
	do_fault(&C, 1, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, 0);
	node_kill(&C, 0, SIGKILL);
	CHECK(!simk_connected(C.nodes[0].k), "kernel did not see the hangup");
	g2 = simk_invalidate(C.nodes[0].k, SEG, 0, MB);
	CHECK((int)simk_inval_state(C.nodes[0].k, g2) == SIMK_TIMED_OUT, "no immediate timeout");
	CHECK(kstats(&C, 0).quarantine_entries == 1, "quarantine");
	CHECK(simk_import_count(C.nodes[1].k) == 1, "importer unmapped without a daemon?");
	node_start(&C, 0);
	CHECK(wait_ready(&C, 10000), "restart");
	CHECK(wait_quarantine(&C, 0, 0, 5000), "reconcile did not drain quarantine");
	CHECK(simk_import_count(C.nodes[1].k) == 0, "importer still maps");
	cluster_stop(&C);
}

/* ------------------------------------------------------------------ */
/* A fake node speaking the wire protocol from this process, with its own
 * key (tests/daemon/rogue.c). */

#include "chan.h"
#include "rogue.h"

#include <sodium.h>

static struct rogue_node fake;

static void fake_idle(void)
{
	rogue_node_progress(&fake);
}

static int fake_cond_type(struct cluster *c, void *a)
{
	int *want = a;	/* {type, count} */
	(void)c;
	rogue_node_progress(&fake);
	return fake.rx_count[want[0]] >= want[1];
}

static void fake_wait(int type, int count)
{
	int a[2] = { type, count };
	CHECK(wait_for(&C, fake_cond_type, a, 5000), "fake node: no %s #%d", xw_type_name(type), count);
}

static int fake_established(struct cluster *c, void *a)
{
	(void)a;
	return rogue_node_peer(&fake, 1)->established &&
	       node_peer_field(c, 0, 2, "established") == 1;
}

static void fake_send(const uint8_t *buf, size_t n)
{
	CHECK(rogue_node_send_raw(&fake, 1, buf, n) == 0, "fab_send");
	rogue_node_progress(&fake);
}

static void t_security(const char *bin)
{
	uint8_t buf[XW_MAX_MSG], bad[XW_KEY_LEN], opk[KEYS_PK_LEN], osk[KEYS_SK_LEN];
	struct xw_invalidate iv = { .generation = 77, .segid = 5, .start = 0, .len = MB };
	struct xw_ack ack;
	struct xw_hello h;
	struct rogue_peer *np;
	uint64_t inc = 1000, seq = 0, gen, node1_inc;
	size_t n;
	uint32_t peer = 2;

	cluster_init(&C, bin, 1, 1);	/* node 1 real, node 2 is us, with node 2's key */
	CHECK(rogue_node_open(&fake, 2, inc, C.key[1], C.ports[1]) == 0, "fake node");
	CHECK(rogue_node_add_peer(&fake, 1, C.ports[0], C.pub[0]) == 0, "fake node's peer");
	np = rogue_node_peer(&fake, 1);
	harness_idle = fake_idle;
	node_start(&C, 0);
	CHECK(wait_ready(&C, 10000), "daemon");
	/* the handshake: the daemon HELLOs us until the session is established */
	CHECK(wait_for(&C, fake_established, NULL, 5000), "no session with the fake node");
	CHECK(wait_stat(&C, 0, "sessions", 1, 3000), "sessions not counted");

	/* valid INVALIDATE from node 2 -> ZAP in node 1's kernel -> ACK */
	n = xw_seal(buf, np->sess.tx, np->sess.tag, XW_INVALIDATE, 2, 1, inc, ++seq, &iv,
		    sizeof(iv), NULL, 0);
	fake_send(buf, n);
	fake_wait(XW_ACK, 1);
	memcpy(&ack, fake.last_body, sizeof(ack));
	CHECK(ack.generation == 77 && ack.error == 0 && ack.incarnation == inc, "ack gen %llu",
	      (unsigned long long)ack.generation);
	CHECK(kstats(&C, 0).zaps == 1, "zaps %llu", (unsigned long long)kstats(&C, 0).zaps);

	/* the very same bytes again: replay */
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "rx_replayed", 1, 3000), "replay not counted");
	/* forged: right format and session, wrong key */
	randombytes_buf(bad, sizeof(bad));
	n = xw_seal(buf, bad, np->sess.tag, XW_INVALIDATE, 2, 1, inc, ++seq, &iv, sizeof(iv),
		    NULL, 0);
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "rx_forged", 1, 3000), "forgery not counted");
	/* tampered: valid tag, then one ciphertext byte flipped */
	n = xw_seal(buf, np->sess.tx, np->sess.tag, XW_INVALIDATE, 2, 1, inc, ++seq, &iv,
		    sizeof(iv), NULL, 0);
	buf[sizeof(struct xw_hdr) + 8] ^= 1;
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "rx_forged", 2, 3000), "tampering not counted");
	/* tampered header (associated data): another seq */
	n = xw_seal(buf, np->sess.tx, np->sess.tag, XW_INVALIDATE, 2, 1, inc, ++seq, &iv,
		    sizeof(iv), NULL, 0);
	((struct xw_hdr *)buf)->seq += 7;
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "rx_forged", 3, 3000), "header tampering not counted");
	/* malformed: truncated */
	n = xw_seal(buf, np->sess.tx, np->sess.tag, XW_INVALIDATE, 2, 1, inc, ++seq, &iv,
		    sizeof(iv), NULL, 0);
	fake_send(buf, n - 5);
	CHECK(wait_stat(&C, 0, "rx_malformed", 1, 3000), "malformed not counted");
	/* an older incarnation of node 2 */
	n = xw_seal(buf, np->sess.tx, np->sess.tag, XW_HEARTBEAT, 2, 1, inc - 1, 1000, NULL, 0,
		    NULL, 0);
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "rx_stale_incarnation", 1, 3000), "stale incarnation not counted");
	/* a HELLO of node 2 signed with another key (its current incarnation: a
	 * newer one this soon after the last is dropped unverified, rx_hello_rate) */
	CHECK(crypto_sign_keypair(opk, osk) == 0, "keypair");
	memcpy(h.eph, fake.eph_pk, sizeof(h.eph));
	memset(h.echo, 0, sizeof(h.echo));
	n = xw_hello_build(buf, osk, 2, 1, inc, 1, &h);
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "rx_forged", 4, 3000), "HELLO with another key not counted");
	pump(&C, 200);
	CHECK(kstats(&C, 0).zaps == 1, "a dropped message was applied (zaps %llu)",
	      (unsigned long long)kstats(&C, 0).zaps);
	CHECK(node_peer_field(&C, 0, 2, "hello_incarnation") == (long long)inc,
	      "a forged HELLO changed node 2's incarnation");

	/* the kernel channel: malformed messages are dropped and counted */
	{
		uint8_t cb[XPMEM_CHAN_MAX_MSG];
		struct xpmem_chan_invalidate civ = { .segid = 1, .len = 1, .generation = 999,
						     .npeers = 5 };
		size_t cn = chan_build(cb, XPMEM_CHAN_INVALIDATE, 1, &civ, sizeof(civ), NULL, 0);

		CHECK(simk_send_raw(C.nodes[0].k, cb, cn) == 0, "raw send");	/* count lies */
		CHECK(simk_send_raw(C.nodes[0].k, "garbage", 7) == 0, "raw send");
		((struct xpmem_chan_hdr *)cb)->magic = 0;
		CHECK(simk_send_raw(C.nodes[0].k, cb, cn) == 0, "raw send");
		CHECK(wait_stat(&C, 0, "chan_malformed", 3, 3000), "channel garbage not counted");
		CHECK(node_stat(&C, 0, "invalidations") == 0, "malformed INVALIDATE accepted");
	}

	/* acks: node 1's kernel invalidates towards node 2 */
	gen = simk_invalidate_peers(C.nodes[0].k, SEG, 0, MB, &peer, 1);
	fake_wait(XW_INVALIDATE, 1);
	node1_inc = fake.last_hdr.incarnation;
	memcpy(&iv, fake.last_body, sizeof(iv));
	CHECK(iv.generation == gen, "gen on the wire %llu != %llu",
	      (unsigned long long)iv.generation, (unsigned long long)gen);
	/* an ack echoing another incarnation of node 1 must not complete it */
	ack = (struct xw_ack){ .generation = gen, .incarnation = node1_inc - 1 };
	n = xw_seal(buf, np->sess.tx, np->sess.tag, XW_ACK, 2, 1, inc, ++seq, &ack, sizeof(ack),
		    NULL, 0);
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "stale_acks", 1, 3000), "ack for old incarnation not counted");
	pump(&C, 50);
	CHECK((int)simk_inval_state(C.nodes[0].k, gen) == SIMK_PENDING,
	      "ack for another incarnation completed it");
	/* stale ack (older generation) must not complete it */
	ack = (struct xw_ack){ .generation = gen - 1, .incarnation = node1_inc };
	n = xw_seal(buf, np->sess.tx, np->sess.tag, XW_ACK, 2, 1, inc, ++seq, &ack, sizeof(ack),
		    NULL, 0);
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "stale_acks", 2, 3000), "stale ack not counted");
	pump(&C, 50);
	CHECK((int)simk_inval_state(C.nodes[0].k, gen) == SIMK_PENDING, "stale ack completed it");
	/* forged ack for the right generation must not complete it */
	ack.generation = gen;
	n = xw_seal(buf, bad, np->sess.tag, XW_ACK, 2, 1, inc, ++seq, &ack, sizeof(ack), NULL, 0);
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "rx_forged", 5, 3000), "forged ack not counted");
	pump(&C, 50);
	CHECK((int)simk_inval_state(C.nodes[0].k, gen) == SIMK_PENDING, "forged ack completed it");
	/* the real one does */
	n = xw_seal(buf, np->sess.tx, np->sess.tag, XW_ACK, 2, 1, inc, ++seq, &ack, sizeof(ack),
		    NULL, 0);
	fake_send(buf, n);
	CHECK(wait_gen(&C, 0, gen, SIMK_ACKED, 3000), "real ack did not complete");
	/* duplicate (fresh seq, same generation) and its replay */
	n = xw_seal(buf, np->sess.tx, np->sess.tag, XW_ACK, 2, 1, inc, ++seq, &ack, sizeof(ack),
		    NULL, 0);
	fake_send(buf, n);
	fake_send(buf, n);
	CHECK(wait_stat(&C, 0, "rx_replayed", 2, 3000), "replayed ack not counted");
	CHECK(wait_stat(&C, 0, "stale_acks", 3, 3000), "duplicate ack not counted");
	harness_idle = NULL;
	rogue_node_close(&fake);
	cluster_stop(&C);
}

/* ------------------------------------------------------------------ */
/* gRPC control plane through xpmemctl (run while the kernels are pumped) */

#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <poll.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grpc/grpc_security.h>
#include "grpcx.h"
#include "xpmem.pb-c.h"

static char ctl_bin[512];
static char out[65536];
/* >= 0: ctl() runs xpmemctl as this uid (gid 65534, supplementary groups
 * ctl_groups) */
static int ctl_uid = -1;
static gid_t ctl_groups[1];
static int ctl_ngroups;

/* run xpmemctl ARGS...; returns exit status, stdout+stderr in out */
static int ctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ctl(const char *fmt, ...)
{
	char args[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return run_ctl(&C, ctl_bin, ctl_uid, ctl_groups, ctl_ngroups, args, out, sizeof(out));
}

static json_t *ctl_json(const char *args)
{
	json_t *j;
	CHECK(ctl("--json %s", args) == 0, "xpmemctl --json %s failed", args);
	j = json_loads(out, 0, NULL);
	CHECK(j, "xpmemctl --json %s: not JSON", args);
	return j;
}

static grpc_status_code raw_call(const char *target, const char *method, const void *req,
				 size_t len)
{
	grpc_channel_credentials *cr;
	grpc_channel *ch;
	ProtobufCMessage *rep = NULL;
	char err[256];
	grpc_status_code st;

	grpc_init();
	cr = grpc_insecure_credentials_create();
	ch = grpc_channel_create(target, cr, NULL);
	st = grpcx_call_raw(ch, method, req, len, &xpmem__fence_reply__descriptor,
					     &rep, 3000, err, sizeof(err));

	grpc_channel_credentials_release(cr);
	fprintf(stderr, "raw %s %s -> %s: %s\n", target, method, grpcx_code_name(st), err);
	if (rep)
		protobuf_c_message_free_unpacked(rep, NULL);
	grpc_channel_destroy(ch);
	grpc_shutdown();
	return st;
}

#define ADMIN_GID 4242	/* admin_group of the grpc case (needs no /etc/group entry) */

static void t_grpc(const char *bin)
{
	char sock[300], unixaddr[300], peer1[64];
	json_t *j, *a;
	uint64_t gen;

	{
		char *dup = strdup(bin);
		snprintf(ctl_bin, sizeof(ctl_bin), "%s/xpmemctl", dirname(dup));
		free(dup);
	}
	cluster_init(&C, bin, 2, 0);
	snprintf(C.extra_conf, sizeof(C.extra_conf), "admin_group = %d", ADMIN_GID);
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	simk_add_segment(C.nodes[0].k, SEG + 1, 0x200000000ull, MB, 1);
	start_all(&C);
	do_fault(&C, 1, 0, 0, 8 * MB, XPMEM_CHAN_ACCESS_READ, 0);
	snprintf(sock, sizeof(sock), "-s %s", C.nodes[0].grpc);
	snprintf(unixaddr, sizeof(unixaddr), "unix:%s", C.nodes[0].grpc);
	snprintf(peer1, sizeof(peer1), "127.0.0.1:%d", C.nodes[0].grpc_port);

	/* tables */
	CHECK(ctl("%s status", sock) == 0 && strstr(out, "node           1") &&
	      strstr(out, "ready") && strstr(out, "1 alive / 1"), "status table");
	CHECK(ctl("%s peers", sock) == 0 && strstr(out, "NODE") && strstr(out, " up "), "peers table");
	CHECK(ctl("%s segments", sock) == 0 && strstr(out, "0x1000 ") && strstr(out, " ro") &&
	      strstr(out, " rw"), "segments table");
	CHECK(ctl("%s mappings", sock) == 0 && strstr(out, "PEER") && strstr(out, "8388608"),
	      "mappings table");
	CHECK(ctl("%s stats", sock) == 0 && strstr(out, "resolves"), "stats table");

	/* JSON */
	snprintf(out, sizeof(out), "%s status", sock);
	j = ctl_json(out);
	CHECK(json_integer_value(json_object_get(j, "node_id")) == 1, "json node_id");
	CHECK(json_integer_value(json_object_get(j, "peers_alive")) == 1, "json peers_alive");
	json_decref(j);
	snprintf(out, sizeof(out), "%s peers", sock);
	a = ctl_json(out);
	CHECK(json_array_size(a) == 1 &&
	      json_integer_value(json_object_get(json_array_get(a, 0), "id")) == 2 &&
	      !strcmp(json_string_value(json_object_get(json_array_get(a, 0), "window")),
		      "phys:0x20000000000+0x40000000") &&
	      json_is_true(json_object_get(json_array_get(a, 0), "alive")), "json peers");
	/* on demand, per peer: session, send queue, pending requests both ways */
	CHECK(json_is_true(json_object_get(json_array_get(a, 0), "established")) &&
	      json_is_integer(json_object_get(json_array_get(a, 0), "sendq")) &&
	      json_is_integer(json_object_get(json_array_get(a, 0), "sendq_max")) &&
	      json_is_integer(json_object_get(json_array_get(a, 0), "backoff_ms")) &&
	      json_is_integer(json_object_get(json_array_get(a, 0), "pending_kernel_requests")) &&
	      json_integer_value(json_object_get(json_array_get(a, 0),
						 "pending_remote_requests")) == 0,
	      "json peers: send queue and pending requests");
	json_decref(a);
	snprintf(out, sizeof(out), "%s segments", sock);
	a = ctl_json(out);
	CHECK(json_array_size(a) == 2, "json segments");
	json_decref(a);
	snprintf(out, sizeof(out), "%s mappings 2", sock);
	a = ctl_json(out);
	CHECK(json_array_size(a) == 1 &&
	      json_integer_value(json_object_get(json_array_get(a, 0), "segid")) == SEG &&
	      json_integer_value(json_object_get(json_array_get(a, 0), "len")) == (long long)(8 * MB),
	      "json mappings");
	json_decref(a);
	snprintf(out, sizeof(out), "%s stats", sock);
	j = ctl_json(out);
	CHECK(json_integer_value(json_object_get(j, "resolves")) == 1, "json stats resolves");
	CHECK(json_integer_value(json_object_get(j, "rss_kb")) > 1000, "json stats rss_kb");
	json_decref(j);
	/* the kernel's failure counters (QUERY FAILURES): none yet; a RESOLVE
	 * naming another owner instance is refused, and status and stats show
	 * it by reason (and no other) */
	CHECK(ctl("%s status", sock) == 0 && strstr(out, "failures       none in the kernel"),
	      "status without kernel failures");
	CHECK(ctl("%s stats", sock) == 0 && !strstr(out, "kfail_"), "kfail_ counter without a failure");
	fault_stale(&C, "stale fault");
	CHECK(ctl("%s status", sock) == 0 && strstr(out, "failures       1 in the kernel"),
	      "status: one kernel failure");
	CHECK(ctl("%s stats", sock) == 0 && strstr(out, "kfail_resolve_stale"), "kfail_ table");
	snprintf(out, sizeof(out), "%s stats", sock);
	j = ctl_json(out);
	CHECK(json_integer_value(json_object_get(j, "kfail_resolve_stale")) == 1 &&
	      !json_object_get(j, "kfail_resolve_no_grant"), "kfail_ counters in stats");
	json_decref(j);
	snprintf(out, sizeof(out), "%s status", sock);
	j = ctl_json(out);
	CHECK(json_integer_value(json_object_get(j, "kernel_failures")) == 1,
	      "json kernel_failures");
	json_decref(j);
	/* a kernel that does not answer QUERY FAILURES: unknown, not "none"
	 * (review of session 7) */
	simk_no_failures(C.nodes[0].k, 1);
	CHECK(ctl("%s status", sock) == 0 && strstr(out, "failures       unknown") &&
	      !strstr(out, "none in the kernel"), "status: kernel failures unknown");
	snprintf(out, sizeof(out), "%s status", sock);
	j = ctl_json(out);
	CHECK(json_is_null(json_object_get(j, "kernel_failures")), "json kernel_failures null");
	json_decref(j);
	simk_no_failures(C.nodes[0].k, 0);

	/* Management socket: created 0666, owned by the daemon's user; any
	 * local user may read, only root (or admin_group) may change state */
	{
		struct stat st;

		CHECK(stat(C.nodes[0].grpc, &st) == 0 && S_ISSOCK(st.st_mode) &&
		      (st.st_mode & 0777) == 0666 && st.st_uid == geteuid() &&
		      (geteuid() || st.st_gid == ADMIN_GID), "socket mode %o uid %u gid %u",
		      (unsigned)(st.st_mode & 0777), (unsigned)st.st_uid, (unsigned)st.st_gid);
	}
	if (geteuid() == 0) {
		CHECK(chmod(C.dir, 0755) == 0, "chmod %s", C.dir);
		ctl_uid = 65534;	/* nobody */
		ctl_ngroups = 0;
		CHECK(ctl("%s status", sock) == 0 && strstr(out, "node           1") &&
		      strstr(out, "1 alive / 1"), "unprivileged status refused");
		CHECK(ctl("%s peers", sock) == 0 && strstr(out, " up "), "unprivileged peers");
		CHECK(ctl("%s mappings", sock) == 0 && strstr(out, "8388608"),
		      "unprivileged mappings");
		CHECK(ctl("%s stats", sock) == 0 && strstr(out, "resolves"), "unprivileged stats");
		snprintf(out, sizeof(out), "%s segments", sock);
		a = ctl_json(out);
		CHECK(json_array_size(a) == 2 &&
		      json_integer_value(json_object_get(json_array_get(a, 0), "phys")) == 0 &&
		      json_integer_value(json_object_get(json_array_get(a, 1), "phys")) == 0,
		      "physical addresses shown to an unprivileged user");
		json_decref(a);
		/* a phys: window is a physical address too (root saw it above) */
		snprintf(out, sizeof(out), "%s peers", sock);
		a = ctl_json(out);
		CHECK(json_array_size(a) == 1 &&
		      !strcmp(json_string_value(json_object_get(json_array_get(a, 0), "window")),
			      "phys"), "a peer's physical window shown to an unprivileged user");
		json_decref(a);
		CHECK(ctl("%s peers", sock) == 0 && !strstr(out, "0x20000000000"),
		      "peers table: physical window shown to an unprivileged user");
		CHECK(ctl("%s fence 2", sock) == 1 && strstr(out, "PERMISSION_DENIED") &&
		      strstr(out, "Fence changes daemon state: only root or members of "
			     "admin_group '4242' may call it"),
		      "unprivileged fence not refused");
		CHECK(ctl("%s fence 9", sock) == 1 && strstr(out, "PERMISSION_DENIED"),
		      "unprivileged fence of an unknown node not refused first");
		/* the same user in admin_group (a supplementary group: SO_PEERGROUPS)
		 * passes the check: fence 9 gets as far as the peer lookup */
		ctl_groups[0] = ADMIN_GID;
		ctl_ngroups = 1;
		CHECK(ctl("%s fence 9", sock) == 1 && strstr(out, "NOT_FOUND"),
		      "admin_group member refused");
		ctl_ngroups = 0;
		ctl_uid = -1;
		CHECK(ctl("%s status", sock) == 0 && strstr(out, "1 alive / 1"),
		      "the refused fence fenced");
	} else {
		fprintf(stderr, "not root: unprivileged Management checks skipped\n");
	}

	/* no Peer service: its old port is closed, the method unknown */
	CHECK(raw_call(peer1, "/xpmem.Peer/Hello", "\x08\x02", 2) == GRPC_STATUS_UNAVAILABLE,
	      "something answers on the old Peer gRPC port");

	/* malformed and misdirected requests */
	CHECK(raw_call(unixaddr, "/xpmem.Management/Fence", "\xff\xff\xff", 3) ==
	      GRPC_STATUS_INVALID_ARGUMENT, "garbage request");
	CHECK(raw_call(unixaddr, "/xpmem.Management/NoSuch", "", 0) == GRPC_STATUS_UNIMPLEMENTED,
	      "unknown method");
	CHECK(raw_call(unixaddr, "/xpmem.Peer/Hello", "", 0) == GRPC_STATUS_UNIMPLEMENTED,
	      "Peer on the unix socket");
	CHECK(ctl("%s fence 9", sock) == 1 && strstr(out, "NOT_FOUND"), "fence unknown node");
	CHECK(ctl("%s --json fence 9", sock) == 1 && strstr(out, "\"error\": \"NOT_FOUND\""),
	      "fence unknown node json");
	CHECK(ctl("%s fence x", sock) == 2, "fence bad arg");
	CHECK(ctl("-s %s/nothing status", C.dir) == 1 && strstr(out, "UNAVAILABLE"), "no daemon");

	/* fence: node 2 dies holding a mapping; the invalidation times out and
	 * quarantines; fencing node 2 releases it */
	node_kill(&C, 1, SIGKILL);
	gen = simk_invalidate(C.nodes[0].k, SEG, 0, SEGSIZE);
	CHECK(wait_gen(&C, 0, gen, SIMK_TIMED_OUT, 5000), "not TIMED_OUT");
	CHECK(kstats(&C, 0).quarantine_entries == 1, "quarantine");
	snprintf(out, sizeof(out), "%s stats", sock);
	j = ctl_json(out);
	CHECK(json_integer_value(json_object_get(j, "quarantine_entries")) == 1 &&
	      json_integer_value(json_object_get(j, "quarantine_pages")) == (long long)(SEGSIZE / 4096),
	      "quarantine not visible in stats");
	json_decref(j);
	CHECK(ctl("%s fence 2", sock) == 0 && strstr(out, "node 2 fenced"), "fence");
	CHECK(wait_quarantine(&C, 0, 0, 3000), "fence did not release quarantine");
	snprintf(out, sizeof(out), "%s stats", sock);
	j = ctl_json(out);
	CHECK(json_integer_value(json_object_get(j, "quarantine_entries")) == 0, "stats after fence");
	json_decref(j);
	/* the stats snapshot is written by a thread of its own, up to 50 ms
	 * after the change (a make check read the old value once) */
	for (int t = 0; t < 30 && node_stat(&C, 0, "timed_out_outstanding") != 0; t++)
		pump(&C, 100);
	CHECK(node_stat(&C, 0, "timed_out_outstanding") == 0, "late-ack record kept");
	cluster_stop(&C);
}

struct get_arg { int node; uint64_t id; };

static int get_cond(struct cluster *c, void *a)
{
	struct get_arg *g = a;
	return simk_get_state(c->nodes[g->node].k, g->id, NULL, NULL) == 1;
}

/* node `imp` does xpmem_get of `segid` owned by node id `owner` */
static void do_get(struct cluster *c, int imp, uint32_t owner, int64_t segid, uint32_t flags,
		   uint32_t uid, int expect_err, uint64_t expect_size, int ms)
{
	struct get_arg a = { imp, 0 };
	uint64_t size = 0;
	int err = 0;

	a.id = simk_remote_get(c->nodes[imp].k, owner, segid, flags, uid, uid);
	CHECK(wait_for(c, get_cond, &a, ms), "remote get node %d of %#llx on node %u did not finish",
	      imp + 1, (unsigned long long)segid, owner);
	simk_get_state(c->nodes[imp].k, a.id, &err, &size);
	CHECK(err == expect_err, "get %#llx flags %u uid %u: error %d, expected %d",
	      (unsigned long long)segid, flags, uid, err, expect_err);
	CHECK(size == expect_size, "get size %llu, expected %llu", (unsigned long long)size,
	      (unsigned long long)expect_size);
}

/* REMOTE_GET -> owner's CHECK_GET -> REMOTE_GET_REPLY, with the owner's
 * permission check, unknown segments and nodes, a dead owner. */
static void t_remote_get(const char *bin)
{
	cluster_init(&C, bin, 3, 1);	/* node 4 is configured but never runs */
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	simk_set_segment_perm(C.nodes[0].k, SEG, 1000, 1000, 0600);
	simk_add_segment(C.nodes[0].k, SEG + 1, 0x200000000ull, MB, 1);	/* read-only */
	simk_add_segment(C.nodes[1].k, SEG, 0x300000000ull, 2 * MB, 0);
	start_all(&C);
	/* owner's user: read-write and read-only */
	do_get(&C, 1, 1, SEG, 2, 1000, 0, SEGSIZE, 5000);
	do_get(&C, 2, 1, SEG, 1, 1000, 0, SEGSIZE, 5000);
	/* nobody: mode 0600 refuses */
	do_get(&C, 1, 1, SEG, 1, 65534, -EACCES, 0, 5000);
	do_get(&C, 1, 1, SEG, 2, 65534, -EACCES, 0, 5000);
	/* a remote uid 0 is no root (remote_root = untrusted, the default); a
	 * read-only segment refuses RDWR to everybody */
	do_get(&C, 1, 1, SEG, 2, 0, -EACCES, 0, 5000);
	do_get(&C, 1, 1, SEG + 1, 1, 65534, 0, MB, 5000);
	do_get(&C, 1, 1, SEG + 1, 2, 0, -EACCES, 0, 5000);
	/* unknown segment, unknown node, the other direction */
	do_get(&C, 1, 1, SEG + 9, 1, 0, -ENOENT, 0, 5000);
	do_get(&C, 1, 77, SEG, 1, 0, -ENOENT, 0, 5000);
	do_get(&C, 0, 2, SEG, 2, 1000, 0, 2 * MB, 5000);
	/* node 4 never answers: times out after ack_timeout */
	do_get(&C, 1, 4, SEG, 1, 0, -ETIMEDOUT, 0, 5000);
	CHECK(kstats(&C, 0).check_gets == 8, "owner checks %llu",
	      (unsigned long long)kstats(&C, 0).check_gets);
	CHECK(wait_stat(&C, 1, "remote_gets", 9, 2000), "remote_gets %lld",
	      node_stat(&C, 1, "remote_gets"));
	CHECK(wait_stat(&C, 1, "get_errors", 7, 2000) && node_stat(&C, 1, "get_errors") == 7,
	      "get_errors %lld", node_stat(&C, 1, "get_errors"));
	CHECK(wait_stat(&C, 0, "get_checks", 8, 2000), "get_checks %lld",
	      node_stat(&C, 0, "get_checks"));
	/* the owner dies: once it is known dead, a get fails at once */
	node_kill(&C, 0, SIGKILL);
	pump(&C, 2000);		/* > dead_after heartbeats */
	do_get(&C, 1, 1, SEG, 1, 1000, -EHOSTDOWN, 0, 1000);
	cluster_stop(&C);
}

struct grant_arg { int node; int64_t segid; uint32_t peer; size_t n; uint32_t ro, rw; };

static int grant_cond(struct cluster *c, void *a)
{
	struct grant_arg *g = a;
	uint32_t ro, rw;

	return simk_grant_count(c->nodes[g->node].k, g->segid, g->peer, &ro, &rw) == g->n &&
	       ro == g->ro && rw == g->rw;
}

/* wait until node's kernel holds n grant records of peer on segid, with
 * ro/rw permits in all */
static int wait_grant(struct cluster *c, int node, int64_t segid, uint32_t peer, size_t n,
		      uint32_t ro, uint32_t rw, int ms)
{
	struct grant_arg a = { node, segid, peer, n, ro, rw };

	return wait_for(c, grant_cond, &a, ms);
}

/* Grants in the owner's kernel (issue 15): RESOLVE only within what
 * CHECK_GET granted the requester's incarnation; a remote uid 0 is not root
 * unless the owner's config trusts it; xpmem_release on the importer gives
 * the permit back through both daemons (REMOTE_RELEASE, RELEASE,
 * RELEASE_GRANT) and the owner revokes what the importer mapped beyond
 * what is left; a restart of the importer's daemon drops its grants. */
static void t_grants(const char *bin)
{
	cluster_init(&C, bin, 3, 0);
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	simk_set_segment_perm(C.nodes[0].k, SEG, 1000, 1000, 0644);
	start_all(&C);
	/* no get: nothing resolves */
	fault_nogrant(&C, 1, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, -EACCES);
	CHECK(simk_rmap_count(C.nodes[0].k) == 0, "rmap without a grant");
	/* a read-only permit (user 65534, mode 0644): reads, no writes */
	do_get(&C, 1, 1, SEG, 1, 65534, 0, SEGSIZE, 5000);
	do_get(&C, 1, 1, SEG, 2, 65534, -EACCES, 0, 5000);
	CHECK(wait_grant(&C, 0, SEG, 2, 1, 1, 0, 2000), "grant after a read-only get");
	fault_nogrant(&C, 1, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, 0);
	fault_nogrant(&C, 1, 0, MB, MB, XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE,
		      -EACCES);
	/* the permit holds the owner kernel's instance (GET_REPLY through both
	 * daemons; test_faults' faults after gets name it); one naming another (a
	 * permit from before the owner rebooted) is refused: ESTALE */
	fault_stale(&C, "fault naming another owner instance");
	CHECK(simk_rmap_count(C.nodes[0].k) == 1, "rmap after a stale fault");
	/* node 3 has none of node 2's grant */
	fault_nogrant(&C, 2, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, -EACCES);
	/* remote root is just uid 0 (remote_root = untrusted by default) */
	simk_set_segment_perm(C.nodes[0].k, SEG, 1000, 1000, 0600);
	do_get(&C, 2, 1, SEG, 1, 0, -EACCES, 0, 5000);
	simk_set_segment_perm(C.nodes[0].k, SEG, 1000, 1000, 0644);
	/* a second process of node 2 gets it read-write: writes resolve */
	do_get(&C, 1, 1, SEG, 2, 1000, 0, SEGSIZE, 5000);
	CHECK(wait_grant(&C, 0, SEG, 2, 1, 1, 1, 2000), "grant after a read-write get");
	fault_nogrant(&C, 1, 0, MB, MB, XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE, 0);
	CHECK(simk_rmap_count(C.nodes[0].k) == 2, "rmap %zu", simk_rmap_count(C.nodes[0].k));
	/* the read-write permit is released: its write mapping is revoked
	 * (INVALIDATE, node 2 zaps and acks), the read one stays */
	CHECK(simk_remote_release(C.nodes[1].k, 1, SEG, 2) == 0, "REMOTE_RELEASE");
	CHECK(wait_grant(&C, 0, SEG, 2, 1, 1, 0, 5000), "read-write permit not given back");
	CHECK(wait_stat(&C, 0, "acked", 1, 5000), "write mapping not revoked");
	CHECK(simk_rmap_count(C.nodes[0].k) == 1, "rmap %zu", simk_rmap_count(C.nodes[0].k));
	fault_nogrant(&C, 1, 0, MB, MB, XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE,
		      -EACCES);
	/* the last permit: the grant and every mapping go */
	CHECK(simk_remote_release(C.nodes[1].k, 1, SEG, 1) == 0, "REMOTE_RELEASE");
	CHECK(wait_grant(&C, 0, SEG, 2, 0, 0, 0, 5000), "grant not dropped");
	CHECK(wait_stat(&C, 0, "acked", 2, 5000), "mapping not revoked");
	CHECK(simk_rmap_count(C.nodes[0].k) == 0, "rmap %zu", simk_rmap_count(C.nodes[0].k));
	CHECK(simk_import_count(C.nodes[1].k) == 0, "importer still maps");
	fault_nogrant(&C, 1, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, -EACCES);
	CHECK(wait_stat(&C, 1, "releases_sent", 2, 2000), "releases_sent");
	CHECK(wait_stat(&C, 0, "releases_rx", 2, 2000), "releases_rx");
	/* a release nobody holds: refused by the kernel, counted */
	CHECK(simk_remote_release(C.nodes[1].k, 1, SEG, 1) == 0, "REMOTE_RELEASE");
	CHECK(wait_stat(&C, 0, "release_errors", 1, 5000), "release_errors");
	/* the importer's daemon restarts: the old incarnation's grant goes */
	do_get(&C, 2, 1, SEG, 1, 65534, 0, SEGSIZE, 5000);
	CHECK(wait_grant(&C, 0, SEG, 3, 1, 1, 0, 2000), "node 3's grant");
	node_kill(&C, 2, SIGKILL);
	node_start(&C, 2);
	CHECK(wait_ready(&C, 10000), "restart");
	CHECK(wait_grant(&C, 0, SEG, 3, 0, 0, 0, 5000), "old incarnation's grant kept");
	fault_nogrant(&C, 2, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, -EACCES);
	/* segment removal drops its grants */
	do_get(&C, 2, 1, SEG, 1, 65534, 0, SEGSIZE, 5000);
	fault_nogrant(&C, 2, 0, 0, MB, XPMEM_CHAN_ACCESS_READ, 0);
	CHECK(simk_remove_segment(C.nodes[0].k, SEG), "nothing invalidated at removal");
	CHECK(simk_grant_count(C.nodes[0].k, SEG, 0, NULL, NULL) == 0, "grants after removal");
	CHECK(wait_stat(&C, 0, "acked", 3, 5000), "removal not acked");
	cluster_stop(&C);

	/* remote_root = trusted: a peer's uid 0 passes the mode (CHECK_GET flag) */
	cluster_init(&C, bin, 2, 0);
	snprintf(C.extra_conf, sizeof(C.extra_conf), "remote_root = trusted");
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	simk_set_segment_perm(C.nodes[0].k, SEG, 1000, 1000, 0600);
	start_all(&C);
	do_get(&C, 1, 1, SEG, 2, 0, 0, SEGSIZE, 5000);
	do_get(&C, 1, 1, SEG, 1, 65534, -EACCES, 0, 5000);
	CHECK(wait_grant(&C, 0, SEG, 2, 1, 0, 1, 2000), "root's grant");
	fault_nogrant(&C, 1, 0, 0, MB, XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE, 0);
	cluster_stop(&C);
}

static int node2_up_cond(struct cluster *c, void *a)
{
	(void)a;
	return node_peer_field(c, 0, 2, "established") == 1 &&
	       node_peer_field(c, 1, 1, "established") == 1;
}

/* A permit is released after its holder's daemon restarted (review, issue
 * 15): REMOTE_RELEASE carries the incarnation REMOTE_GET_REPLY gave the
 * permit, so a permit of the old incarnation neither uses up one granted
 * to another process after the restart nor revokes that one's mappings
 * (read-only, then read-write). */
static void t_stale_release(const char *bin)
{
	for (uint32_t flags = 1; flags <= 2; flags++) {
		uint32_t ro = 0, rw = 0;

		cluster_init(&C, bin, 2, 0);
		simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
		start_all(&C);
		/* process P1 on node 2: a permit under incarnation I1 */
		do_get(&C, 1, 1, SEG, flags, 1000, 0, SEGSIZE, 5000);
		/* node 2's xpmemd restarts; its kernel, and P1's permit, live on */
		node_kill(&C, 1, SIGKILL);
		node_start(&C, 1);
		CHECK(wait_for(&C, node2_up_cond, NULL, 15000), "node 2 did not rejoin");
		CHECK(wait_grant(&C, 0, SEG, 2, 0, 0, 0, 5000), "I1 grant not dropped");
		/* process P2 on node 2: the same permit under I2 */
		do_get(&C, 1, 1, SEG, flags, 1000, 0, SEGSIZE, 5000);
		CHECK(wait_grant(&C, 0, SEG, 2, 1, flags == 1, flags == 2, 2000), "I2 grant");
		fault_nogrant(&C, 1, 0, 0, MB, flags == 1 ? XPMEM_CHAN_ACCESS_READ :
			      XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE, 0);
		/* P1 releases its I1 permit: node 2's daemon drops it */
		CHECK(simk_remote_release(C.nodes[1].k, 1, SEG, flags) == 0, "REMOTE_RELEASE");
		pump(&C, 800);
		simk_grant_count(C.nodes[0].k, SEG, 2, &ro, &rw);
		CHECK(ro == (flags == 1) && rw == (flags == 2),
		      "the I1 release used up P2's I2 permit (ro %u rw %u)", ro, rw);
		CHECK(wait_stat(&C, 1, "releases_stale", 1, 2000), "stale release not counted");
		CHECK(node_stat(&C, 0, "releases_rx") == 0, "owner got a stale release");
		CHECK(node_stat(&C, 0, "acked") == 0, "P2's mappings revoked");
		fault_nogrant(&C, 1, 0, MB, MB, flags == 1 ? XPMEM_CHAN_ACCESS_READ :
			      XPMEM_CHAN_ACCESS_READ | XPMEM_CHAN_ACCESS_WRITE, 0);
		/* P2's release, of the current incarnation, does give it back */
		CHECK(simk_remote_release(C.nodes[1].k, 1, SEG, flags) == 0, "REMOTE_RELEASE");
		CHECK(wait_grant(&C, 0, SEG, 2, 0, 0, 0, 5000), "I2 permit not given back");
		CHECK(wait_stat(&C, 0, "releases_rx", 1, 2000), "releases_rx");
		cluster_stop(&C);
	}
}

/* PEER_WINDOW: one per peer after HELLO, from phys:BASE+SIZE or a PCI BAR2 */
static void t_windows(const char *bin)
{
	uint64_t base, size;
	char path[300];
	FILE *f;

	cluster_init(&C, bin, 3, 0);
	start_all(&C);
	for (int i = 0; i < 3; i++) {
		CHECK(kstats(&C, i).windows == 2, "node %d windows %llu", i + 1,
		      (unsigned long long)kstats(&C, i).windows);
		for (uint32_t j = 1; j <= 3; j++) {
			if (j == C.nodes[i].id) {
				CHECK(simk_peer_window(C.nodes[i].k, j, &base, &size) < 0, "own window");
				continue;
			}
			CHECK(simk_peer_window(C.nodes[i].k, j, &base, &size) == 0 &&
			      base == PEER_BASE(j) && size == WINDOW_SIZE,
			      "node %d window onto %u: %#llx+%#llx", i + 1, j,
			      (unsigned long long)base, (unsigned long long)size);
		}
		CHECK(wait_stat(&C, i, "windows", 2, 2000), "windows stat");
	}
	cluster_stop(&C);

	/* PCI windows: BAR2 (third line of the sysfs resource file) */
	cluster_init(&C, bin, 2, 0);
	C.pci_windows = 1;
	for (int j = 0; j < 2; j++) {
		snprintf(path, sizeof(path), "mkdir -p %s/sys/bus/pci/devices/0000:00:%02x.0",
			 C.dir, 0x10 + j);
		CHECK(system(path) == 0, "mkdir");
		snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:00:%02x.0/resource",
			 C.dir, 0x10 + j);
		f = fopen(path, "w");
		CHECK(f, "%s", path);
		fprintf(f, "0x00000000fea00000 0x00000000fea000ff 0x0000000000040200\n"
			   "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
			   "0x000000%d000000000 0x000000%d01fffffff 0x000000000014220c\n"
			   "0x0000000000000000 0x0000000000000000 0x0000000000000000\n", j + 1, j + 1);
		fclose(f);
	}
	start_all(&C);
	CHECK(simk_peer_window(C.nodes[0].k, 2, &base, &size) == 0 &&
	      base == 0x2000000000ull && size == 512 * MB, "PCI window %#llx+%#llx",
	      (unsigned long long)base, (unsigned long long)size);
	CHECK(simk_peer_window(C.nodes[1].k, 1, &base, &size) == 0 &&
	      base == 0x1000000000ull && size == 512 * MB, "PCI window %#llx+%#llx",
	      (unsigned long long)base, (unsigned long long)size);
	/* a window that cannot be resolved stops the daemon at start, named */
	node_kill(&C, 1, SIGTERM);
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:00:10.0/resource", C.dir);
	unlink(path);
	node_start(&C, 1);
	{
		uint64_t end = 0;
		int st = 0;
		char log[8192] = "";
		size_t n;

		for (end = 0; end < 1000 && waitpid(C.nodes[1].pid, &st, WNOHANG) == 0; end++)
			pump(&C, 10);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "daemon with a bad window did not exit 1");
		C.nodes[1].pid = 0;
		f = fopen(C.nodes[1].log, "r");
		n = f ? fread(log, 1, sizeof(log) - 1, f) : 0;
		log[n] = 0;
		if (f)
			fclose(f);
		CHECK(strstr(log, "[peer 1] window 0000:00:10.0:"), "error does not name the window");
	}
	cluster_stop(&C);
}

/*
 * The stats file's writer runs as root in a directory that may not be only
 * root's: a stats.json.tmp planted as a symlink to a victim file is never
 * followed (the victim is untouched), the file is still written, 0600.
 * SIGUSR1 only hands a copy to the writer thread: the test waits for the
 * file to be replaced (a new inode: written to the tmp, renamed).
 */
struct ino_arg { int node; ino_t ino; };

static int ino_cond(struct cluster *c, void *a)
{
	struct ino_arg *x = a;
	struct stat st;

	return stat(c->nodes[x->node].stats, &st) == 0 && st.st_ino != x->ino;
}

static void t_stats_file(const char *bin)
{
	static const char victim_text[] = "victim: not the daemon's\n";
	char tmp[300], victim[300], buf[256];
	struct ino_arg ia = { 0, 0 };
	struct stat st;
	FILE *f;
	size_t n;

	cluster_init(&C, bin, 2, 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", C.nodes[0].stats);
	snprintf(victim, sizeof(victim), "%s/victim", C.dir);
	f = fopen(victim, "w");
	CHECK(f && fputs(victim_text, f) >= 0 && fclose(f) == 0, "victim %s", victim);
	CHECK(chmod(victim, 0644) == 0, "chmod victim");
	CHECK(symlink(victim, tmp) == 0, "symlink %s: %s", tmp, strerror(errno));
	start_all(&C);
	CHECK(node_stat(&C, 0, "sessions") >= 0, "node 1 wrote no stats file");
	CHECK(lstat(C.nodes[0].stats, &st) == 0 && S_ISREG(st.st_mode) &&
	      (st.st_mode & 0777) == 0600 && st.st_uid == geteuid(),
	      "stats file mode %o", (unsigned)(st.st_mode & 07777));
	ia.ino = st.st_ino;
	f = fopen(victim, "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = 0;
	CHECK(f && fclose(f) == 0, "victim gone");
	CHECK(!strcmp(buf, victim_text), "the victim was written through the symlink: %.80s", buf);
	CHECK(stat(victim, &st) == 0 && (st.st_mode & 0777) == 0644, "victim mode %o",
	      (unsigned)(st.st_mode & 0777));
	/* SIGUSR1: written by the writer thread, later: wait for the new file */
	CHECK(kill(C.nodes[0].pid, SIGUSR1) == 0, "SIGUSR1");
	CHECK(wait_for(&C, ino_cond, &ia, 5000), "SIGUSR1: stats file not rewritten");
	CHECK(lstat(tmp, &st) < 0 && errno == ENOENT, "tmp left behind");
	CHECK(stat(C.nodes[0].stats, &st) == 0 && (st.st_mode & 0777) == 0600, "rewritten mode %o",
	      (unsigned)(st.st_mode & 0777));
	cluster_stop(&C);
}

static int file_has(const char *path, const char *what)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return strstr(buf, what) != NULL;
}

/*
 * A kernel that never answers a QUERY: the caller gets UNAVAILABLE, and the
 * daemon gives the query up after QUERY_TIMEOUT_MS (logged) instead of
 * keeping it waiting forever; its timer does not spin; queries answered
 * again afterwards work.
 */
static void t_query_timeout(const char *bin)
{
	char sock[300];
	long long t0, t1;

	{
		char *dup = strdup(bin);
		snprintf(ctl_bin, sizeof(ctl_bin), "%s/xpmemctl", dirname(dup));
		free(dup);
	}
	cluster_init(&C, bin, 2, 0);
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	start_all(&C);
	snprintf(sock, sizeof(sock), "-s %s", C.nodes[0].grpc);
	simk_ignore(C.nodes[0].k, XPMEM_CHAN_QUERY, 1);
	for (int i = 0; i < 2; i++)
		CHECK(ctl("%s segments", sock) == 1 && strstr(out, "UNAVAILABLE") &&
		      strstr(out, "kernel did not answer"), "unanswered query: %s", out);
	pump(&C, 200);
	CHECK(file_has(C.nodes[0].log, "not answered in 4000 ms: given up (2 so far)"),
	      "the daemon still keeps the unanswered queries");
	t0 = cpu_ticks(C.nodes[0].pid);
	pump(&C, 1000);
	t1 = cpu_ticks(C.nodes[0].pid);
	CHECK(t0 >= 0 && t1 - t0 < 30, "node 1 used %lld ticks of CPU idle", t1 - t0);
	simk_ignore(C.nodes[0].k, XPMEM_CHAN_QUERY, 0);
	CHECK(ctl("%s segments", sock) == 0 && strstr(out, "0x1000 "), "query after the timeouts");
	cluster_stop(&C);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s CASE XPMEMD\n", argv[0]);
		return 2;
	}
	test_name = argv[1];
	alarm(110);	/* hard bound on any case */
	if (!strcmp(argv[1], "roundtrip1"))
		t_roundtrip(argv[2], 1);
	else if (!strcmp(argv[1], "roundtrip2"))
		t_roundtrip(argv[2], 2);
	else if (!strcmp(argv[1], "roundtrip8"))
		t_roundtrip(argv[2], 8);
	else if (!strcmp(argv[1], "late_ack"))
		t_late_ack(argv[2]);
	else if (!strcmp(argv[1], "peer_restart"))
		t_peer_restart(argv[2]);
	else if (!strcmp(argv[1], "heartbeat"))
		t_heartbeat(argv[2]);
	else if (!strcmp(argv[1], "daemon_restart"))
		t_daemon_restart(argv[2]);
	else if (!strcmp(argv[1], "grpc"))
		t_grpc(argv[2]);
	else if (!strcmp(argv[1], "security"))
		t_security(argv[2]);
	else if (!strcmp(argv[1], "remote_get"))
		t_remote_get(argv[2]);
	else if (!strcmp(argv[1], "windows"))
		t_windows(argv[2]);
	else if (!strcmp(argv[1], "grants"))
		t_grants(argv[2]);
	else if (!strcmp(argv[1], "stale_release"))
		t_stale_release(argv[2]);
	else if (!strcmp(argv[1], "query_timeout"))
		t_query_timeout(argv[2]);
	else if (!strcmp(argv[1], "stats_file"))
		t_stats_file(argv[2]);
	else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	printf("%s: OK\n", test_name);
	return 0;
}
