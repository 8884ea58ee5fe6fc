// SPDX-License-Identifier: GPL-2.0
/*
 * Trust on the fabric (docs/protocol.md 2.2-2.4): real daemons on 127.0.0.1
 * against simulated kernels, with a rogue (rogue.c) in the middle or beside.
 *
 *   replay         a recording relay between nodes 1 and 2 replays INVALIDATE,
 *                  REMOTE_FAULT, HEARTBEAT and HELLO within the session, after
 *                  the receiver restarted, after the sender restarted, and to a
 *                  restarted node while the sender is dead: nothing reaches a
 *                  kernel (no ZAP, RESOLVE or PEER_RESET), nothing makes the
 *                  dead node alive, the counters say why; the restarted node
 *                  then rejoins (no lockout)
 *   impersonation  node 3 is a rogue with its own valid key: it speaks as
 *                  itself (works), then as node 1 towards node 2: HELLOs
 *                  (incarnation 2^64-1), sealed INVALIDATEs and FAULT_REPLYs
 *                  are dropped; node 2's pending fault on node 1 times out
 *                  instead of taking the forged answer; node 1's real traffic
 *                  keeps working
 *   reconcile      the owner's daemon restarts while a peer owes an ack and
 *                  the session takes longer than the ack timeout: the
 *                  replayed invalidation is re-sent once it exists and the
 *                  late ack drains the quarantine
 *   inc_storm      node 3 (a valid key) sends node 2 2000 HELLOs, each of a
 *                  new incarnation already echoing node 2's ephemeral key:
 *                  node 2 adopts at most one per second (backoff), counts the
 *                  rest (rx_hello_rate), sends a handful of PEER_RESETs; a
 *                  later restart of node 3 is still adopted (no lockout)
 *   hello_cheap    forged HELLOs claiming node 1 cost no signature check when
 *                  stale (rx_stale_incarnation), byte-identical copies of the
 *                  last verified HELLO are duplicates (not verified again),
 *                  and the rest are checked at most 20 per second per peer
 *                  (rx_hello_budget); none changes anything about node 1
 *   inc_limit      incarnations stay below 2^63: incarnation_next refuses to
 *                  produce one, HELLOs claiming one are refused
 *                  (rx_bad_incarnation), a fence of a peer at 2^63-1 is 2^63
 *                  and stays there when repeated, and covers every HELLO
 *
 * usage: test_trust CASE PATH-TO-XPMEMD
 */
#define _GNU_SOURCE
#include "harness.h"
#include "rogue.h"
#include "incarnation.h"

#include <errno.h>
#include <sodium.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEG 0x1000
#define SEGSIZE (64ull << 20)
#define MB (1ull << 20)

static struct cluster C;
static struct relay R;
static struct rogue_node N;
static int have_relay, have_node;

static void idle(void)
{
	if (have_relay)
		relay_progress(&R);
	if (have_node)
		rogue_node_progress(&N);
}

static struct simk_stats kstats(int i)
{
	struct simk_stats s;

	simk_get_stats(C.nodes[i].k, &s);
	return s;
}

struct gen_arg { int node; uint64_t gen; int state; };

static int gen_cond(struct cluster *c, void *a)
{
	struct gen_arg *g = a;
	return (int)simk_inval_state(c->nodes[g->node].k, g->gen) == g->state;
}

static int wait_gen(int node, uint64_t gen, int state, int ms)
{
	struct gen_arg a = { node, gen, state };
	return wait_for(&C, gen_cond, &a, ms);
}

struct fault_arg { int node; uint64_t id; };

static int fault_cond(struct cluster *c, void *a)
{
	struct fault_arg *f = a;
	return simk_fault_state(c->nodes[f->node].k, f->id, NULL, NULL, NULL) == 1;
}

struct get_arg { int node; uint64_t id; };

static int get_cond(struct cluster *c, void *a)
{
	struct get_arg *g = a;
	return simk_get_state(c->nodes[g->node].k, g->id, NULL, NULL) == 1;
}

/* node index imp faults node index own's segment after an xpmem_get of it
 * (the grant the owner's kernel resolves under); returns the error */
static int fault(int imp, int own, int ms)
{
	struct fault_arg a = { imp, 0 };
	struct get_arg g = { imp, 0 };
	int err = 1;

	g.id = simk_remote_get(C.nodes[imp].k, C.nodes[own].id, SEG, 2, 1000, 1000);
	CHECK(wait_for(&C, get_cond, &g, ms), "get %d -> %d did not finish", imp + 1, own + 1);
	simk_get_state(C.nodes[imp].k, g.id, &err, NULL);
	CHECK(err == 0, "get %d -> %d: %d", imp + 1, own + 1, err);
	a.id = simk_remote_fault(C.nodes[imp].k, C.nodes[own].id, SEG, 0, MB,
				 XPMEM_CHAN_ACCESS_READ);
	CHECK(wait_for(&C, fault_cond, &a, ms), "fault %d -> %d did not finish", imp + 1, own + 1);
	simk_fault_state(C.nodes[imp].k, a.id, &err, NULL, NULL);
	return err;
}

/* node index own invalidates its segment; its peers ack */
static void invalidate_acked(int own)
{
	uint64_t gen = simk_invalidate(C.nodes[own].k, SEG, 0, SEGSIZE);

	CHECK(gen, "nothing to invalidate");
	CHECK(wait_gen(own, gen, SIMK_ACKED, 5000), "generation %llu not ACKED",
	      (unsigned long long)gen);
}

/* pump long enough for anything in flight to be handled and counted */
static void settle(void)
{
	pump(&C, 400);
}

static int node_up_cond(struct cluster *c, void *a)
{
	int i = *(int *)a;
	return simk_connected(c->nodes[i].k) && node_stat(c, i, "pending_invalidations") >= 0;
}

/* start node index i alone (its peers may be down) */
static void start_alone(int i)
{
	node_start(&C, i);
	CHECK(wait_for(&C, node_up_cond, &i, 10000), "node %d did not start", i + 1);
}

static void replay(long idx, const char *what)
{
	CHECK(idx >= 0, "nothing recorded: %s", what);
	fprintf(stderr, "replaying %s (record %ld, incarnation %llu, seq %llu)\n", what, idx,
		(unsigned long long)R.rec[idx].hdr.incarnation,
		(unsigned long long)R.rec[idx].hdr.seq);
	CHECK(relay_replay(&R, idx) == 0, "replay %s", what);
}

/* A = node 1 (index 0), B = node 2 (index 1), every message through R;
 * setup, if set, runs before the daemons start (opening an endpoint takes
 * long enough for a stalled relay to look like a dead peer) */
static void relay_pair(const char *bin, int extra, void (*setup)(void), unsigned hb_ms)
{
	cluster_init(&C, bin, 2, extra);
	/* dead after 3 x hb_ms (at least 400) of silence: this process pumps
	 * the relay, and a loaded host can stall it for longer than the
	 * default 3 x 200 ms */
	C.heartbeat_ms = hb_ms;
	C.via[0][1] = C.spare[0];	/* A is told B is at the relay's port */
	C.via[1][0] = C.spare[1];	/* and B that A is at the other one */
	CHECK(relay_open(&R, C.spare[0], C.spare[1]) == 0, "relay ports");
	CHECK(relay_connect(&R, C.ports[0], C.ports[1]) == 0, "relay peers");
	have_relay = 1;
	harness_idle = idle;
	simk_add_segment(C.nodes[0].k, SEG, 0x100000000ull, SEGSIZE, 0);
	simk_add_segment(C.nodes[1].k, SEG, 0x200000000ull, SEGSIZE, 0);
	if (setup)
		setup();
	for (int i = 0; i < 2; i++)
		node_start(&C, i);
	CHECK(wait_ready(&C, 15000), "nodes did not see each other through the relay");
}

static long stat_of(int i, const char *name)
{
	return (long)node_stat(&C, i, name);
}

static void t_replay(const char *bin)
{
	struct simk_stats ka, kb;
	long inval_ab, hb_ab, hello_ab, fault_ba, hello_ba, hb_ba, fault_ba2;
	uint64_t inc_a1, inc_b1;
	long long deaths;

	relay_pair(bin, 0, NULL, 400);
	/* traffic to record: B faults A's segment, A invalidates it */
	CHECK(fault(1, 0, 5000) == 0, "fault");
	invalidate_acked(0);
	settle();
	inc_a1 = (uint64_t)node_peer_field(&C, 1, 1, "incarnation");
	inc_b1 = (uint64_t)node_peer_field(&C, 0, 2, "incarnation");
	inval_ab = relay_find(&R, RELAY_AB, XW_INVALIDATE, 0, -1);
	hb_ab = relay_find(&R, RELAY_AB, XW_HEARTBEAT, 0, -1);
	hello_ab = relay_find(&R, RELAY_AB, XW_HELLO, 0, -1);
	fault_ba = relay_find(&R, RELAY_BA, XW_REMOTE_FAULT, 0, -1);
	hello_ba = relay_find(&R, RELAY_BA, XW_HELLO, 0, -1);
	hb_ba = relay_find(&R, RELAY_BA, XW_HEARTBEAT, 0, -1);

	/* 1. within the session: the replay window drops them */
	ka = kstats(0);
	kb = kstats(1);
	replay(inval_ab, "INVALIDATE A->B");
	replay(hb_ab, "HEARTBEAT A->B");
	replay(fault_ba, "REMOTE_FAULT B->A");
	replay(hello_ab, "HELLO A->B");
	settle();
	/* what reached a kernel first, then why the daemons dropped them */
	CHECK(kstats(1).zaps == kb.zaps, "B's kernel zapped for a replayed INVALIDATE");
	CHECK(kstats(0).resolves == ka.resolves, "A's kernel resolved a replayed REMOTE_FAULT");
	CHECK(kstats(1).peer_resets == kb.peer_resets, "replayed HELLO: PEER_RESET on B");
	CHECK(wait_stat(&C, 1, "rx_replayed", 2, 3000), "B: replays not counted (%ld)",
	      stat_of(1, "rx_replayed"));
	CHECK(wait_stat(&C, 0, "rx_replayed", 1, 3000), "A: replay not counted (%ld)",
	      stat_of(0, "rx_replayed"));

	/* 2. the receiver B restarts: A's old session messages name another
	 * session; B's own old messages (the sender restarted) are of an older
	 * incarnation at A */
	node_kill(&C, 1, SIGKILL);
	node_start(&C, 1);
	CHECK(wait_ready(&C, 10000), "B did not rejoin");
	settle();
	ka = kstats(0);
	kb = kstats(1);
	CHECK(node_peer_field(&C, 0, 2, "incarnation") > (long long)inc_b1,
	      "B's incarnation did not grow");
	replay(inval_ab, "old-session INVALIDATE A->B");
	replay(hb_ab, "old-session HEARTBEAT A->B");
	replay(hello_ab, "HELLO A->B (A's current incarnation)");
	replay(fault_ba, "REMOTE_FAULT of B's previous incarnation");
	replay(hello_ba, "HELLO of B's previous incarnation");
	replay(hb_ba, "HEARTBEAT of B's previous incarnation");
	settle();
	CHECK(kstats(1).zaps == kb.zaps, "restarted B zapped for an old INVALIDATE");
	CHECK(kstats(1).peer_resets == kb.peer_resets, "old HELLO: PEER_RESET on B");
	CHECK(kstats(0).resolves == ka.resolves, "A resolved B's old REMOTE_FAULT");
	CHECK(kstats(0).peer_resets == ka.peer_resets, "B's old HELLO: PEER_RESET on A");
	CHECK(wait_stat(&C, 1, "rx_stale_session", 2, 3000),
	      "B (restarted): old-session messages not counted as such (%ld)",
	      stat_of(1, "rx_stale_session"));
	CHECK(wait_stat(&C, 0, "rx_stale_incarnation", 3, 3000),
	      "A: B's old incarnation not counted stale (%ld)", stat_of(0, "rx_stale_incarnation"));
	/* the new session works */
	CHECK(fault(1, 0, 5000) == 0, "fault after B's restart");
	invalidate_acked(0);
	settle();
	fault_ba2 = relay_find(&R, RELAY_BA, XW_REMOTE_FAULT, 0, -1);
	CHECK(fault_ba2 > fault_ba, "second REMOTE_FAULT not recorded");

	/* 3. the sender A restarts: its old messages are of an older
	 * incarnation at B; B's messages to the old A name another session */
	node_kill(&C, 0, SIGKILL);
	node_start(&C, 0);
	CHECK(wait_ready(&C, 10000), "A did not rejoin");
	settle();
	ka = kstats(0);
	kb = kstats(1);
	CHECK(node_peer_field(&C, 1, 1, "incarnation") > (long long)inc_a1,
	      "A's incarnation did not grow");
	replay(inval_ab, "INVALIDATE of A's previous incarnation");
	replay(hb_ab, "HEARTBEAT of A's previous incarnation");
	replay(hello_ab, "HELLO of A's previous incarnation");
	replay(fault_ba2, "old-session REMOTE_FAULT B->A");
	settle();
	CHECK(kstats(1).zaps == kb.zaps, "B zapped for an INVALIDATE of A's old incarnation");
	CHECK(kstats(1).peer_resets == kb.peer_resets, "A's old HELLO: PEER_RESET on B");
	CHECK(kstats(0).resolves == ka.resolves, "restarted A resolved an old REMOTE_FAULT");
	CHECK(wait_stat(&C, 1, "rx_stale_incarnation", 3, 3000),
	      "B: A's old incarnation not counted stale (%ld)", stat_of(1, "rx_stale_incarnation"));
	CHECK(wait_stat(&C, 0, "rx_stale_session", 1, 3000),
	      "A (restarted): old-session REMOTE_FAULT not counted (%ld)",
	      stat_of(0, "rx_stale_session"));

	/* 4. A dies: its replayed HELLO and HEARTBEAT do not make it alive, at B
	 * as it is, nor at a B restarted meanwhile (which knows nothing of A) */
	CHECK(fault(1, 0, 5000) == 0, "fault after A's restart");
	settle();
	hello_ab = relay_find(&R, RELAY_AB, XW_HELLO, 0, -1);
	hb_ab = relay_find(&R, RELAY_AB, XW_HEARTBEAT, 0, -1);
	deaths = node_stat(&C, 1, "peer_deaths");
	node_kill(&C, 0, SIGKILL);
	CHECK(wait_stat(&C, 1, "peer_deaths", deaths + 1, 5000), "B did not see A die");
	deaths++;
	kb = kstats(1);
	for (int k = 0; k < 3; k++) {
		replay(hello_ab, "HELLO of the dead A");
		replay(hb_ab, "HEARTBEAT of the dead A");
		pump(&C, 300);
	}
	CHECK(node_peer_field(&C, 1, 1, "alive") == 0, "replays made the dead A alive at B");
	CHECK(node_stat(&C, 1, "peer_deaths") == deaths, "replays made the dead A alive at B "
	      "for a while (peer_deaths %lld -> %lld)", deaths, node_stat(&C, 1, "peer_deaths"));
	CHECK(kstats(1).peer_resets == kb.peer_resets, "replayed HELLO of the dead A: PEER_RESET");
	node_kill(&C, 1, SIGKILL);
	start_alone(1);
	kb = kstats(1);
	for (int k = 0; k < 3; k++) {
		replay(hello_ab, "HELLO of the dead A to a restarted B");
		replay(hb_ab, "HEARTBEAT of the dead A to a restarted B");
		pump(&C, 300);
	}
	CHECK(node_peer_field(&C, 1, 1, "alive") == 0, "a replayed HELLO made the dead A alive");
	CHECK(node_stat(&C, 1, "peer_deaths") == 0, "a replayed HELLO made the dead A alive "
	      "for a while (peer_deaths %lld)", node_stat(&C, 1, "peer_deaths"));
	CHECK(kstats(1).peer_resets == kb.peer_resets, "replayed HELLO: PEER_RESET to the kernel");
	CHECK(node_peer_field(&C, 1, 1, "established") == 0, "session with a dead node");
	CHECK(node_stat(&C, 1, "sessions") == 0, "sessions %lld", node_stat(&C, 1, "sessions"));
	CHECK(wait_stat(&C, 1, "hellos_rx", 1, 3000), "restarted B did not take A's HELLO");
	CHECK(wait_stat(&C, 1, "rx_stale_session", 1, 3000) ||
	      wait_stat(&C, 1, "rx_no_session", 1, 100), "old HEARTBEAT not counted");
	/* A comes back: nothing was locked out */
	node_start(&C, 0);
	CHECK(wait_ready(&C, 10000), "A did not rejoin after the replays");
	CHECK(fault(1, 0, 5000) == 0, "fault after A's return");
	invalidate_acked(0);
	have_relay = 0;
	harness_idle = NULL;
	cluster_stop(&C);
	relay_close(&R);
}

/* ------------------------------------------------------------------ */

struct peer_arg { int node; uint32_t peer; const char *field; long long want; };

static int peer_cond(struct cluster *c, void *a)
{
	struct peer_arg *p = a;
	return node_peer_field(c, p->node, p->peer, p->field) == p->want;
}

static int rogue_established(struct cluster *c, void *a)
{
	(void)c;
	return rogue_node_peer(&N, *(uint32_t *)a)->established;
}

/* a sealed message of the A<->B session, as recorded: its tag, A's incarnation */
static struct xw_hdr a_to_b_header(void)
{
	long i = relay_find(&R, RELAY_AB, XW_HEARTBEAT, 0, -1);

	for (int t = 0; i < 0 && t < 100; t++) {	/* the next heartbeat (5 s at most) */
		pump(&C, 50);
		i = relay_find(&R, RELAY_AB, XW_HEARTBEAT, 0, -1);
	}
	CHECK(i >= 0, "no A->B heartbeat recorded");
	return R.rec[i].hdr;
}

static void rogue_setup(void)
{
	CHECK(rogue_node_open(&N, 3, 1000, C.key[2], C.ports[2]) == 0, "rogue node");
	CHECK(rogue_node_add_peer(&N, 1, C.ports[0], C.pub[0]) == 0 &&
	      rogue_node_add_peer(&N, 2, C.ports[1], C.pub[1]) == 0, "rogue peers");
	have_node = 1;
}

static void t_impersonation(const char *bin)
{
	uint8_t buf[XW_MAX_MSG], wrong[XW_KEY_LEN];
	struct xw_invalidate iv = { .generation = 77, .segid = SEG, .start = 0, .len = MB };
	struct rogue_peer *nb;
	struct xw_hdr ab;
	struct simk_stats ka, kb;
	struct xw_hello h;
	uint32_t two = 2;
	size_t n;
	long long a_inc;

	/* node 3: the rogue, with its own key; A silent for 3 s before B calls
	 * it dead: step 3's held fault ends at B's deadline (3 x 500 ms) */
	relay_pair(bin, 1, rogue_setup, 1000);
	nb = rogue_node_peer(&N, 2);
	CHECK(rogue_node_hello(&N, 2) == 0, "hello");
	CHECK(wait_for(&C, rogue_established, &two, 5000), "rogue: no session with B");
	{
		struct peer_arg a = { 1, 3, "established", 1 };
		CHECK(wait_for(&C, peer_cond, &a, 5000), "B: no session with node 3");
	}
	{
		struct peer_arg a = { 1, 1, "alive", 1 };
		CHECK(wait_for(&C, peer_cond, &a, 5000), "B: A not alive");
	}
	CHECK(fault(1, 0, 5000) == 0, "fault B -> A");
	settle();
	ka = kstats(0);
	kb = kstats(1);
	a_inc = node_peer_field(&C, 1, 1, "incarnation");

	/* control: as itself, node 3's key is good: B zaps and acks */
	CHECK(rogue_node_send(&N, 2, XW_INVALIDATE, 0, &iv, sizeof(iv)) == 0, "send");
	{
		uint64_t end = 50;
		while (N.rx_count[XW_ACK] < 1 && end--)
			pump(&C, 100);
	}
	CHECK(N.rx_count[XW_ACK] == 1, "node 3 (as itself) got no ACK");
	CHECK(kstats(1).zaps == kb.zaps + 1, "node 3's INVALIDATE was not applied");
	kb = kstats(1);

	/* 1. HELLO claiming node 1, incarnation 2^64-1 (refused unverified: not
	 * below 2^63) and its current one, signed with node 3's key */
	memcpy(h.eph, N.eph_pk, sizeof(h.eph));
	memset(h.echo, 0, sizeof(h.echo));
	n = xw_hello_build(buf, N.sk, 1, 2, UINT64_MAX, 1, &h);
	CHECK(rogue_node_send_raw(&N, 2, buf, n) == 0, "send");
	CHECK(wait_stat(&C, 1, "rx_bad_incarnation", 1, 3000), "HELLO of 2^64-1 not counted");
	n = xw_hello_build(buf, N.sk, 1, 2, (uint64_t)a_inc, 1, &h);
	CHECK(rogue_node_send_raw(&N, 2, buf, n) == 0, "send");
	CHECK(wait_stat(&C, 1, "rx_forged", 1, 3000), "forged HELLO not counted");
	CHECK(node_peer_field(&C, 1, 1, "hello_incarnation") == a_inc,
	      "a forged HELLO moved node 1's incarnation");

	/* 2. sealed INVALIDATE claiming node 1: in node 3's session with B (its
	 * tag and key), and with the A<->B session's tag and node 3's key */
	n = xw_seal(buf, nb->sess.tx, nb->sess.tag, XW_INVALIDATE, 1, 2, (uint64_t)a_inc, 1000,
		    &iv, sizeof(iv), NULL, 0);
	CHECK(rogue_node_send_raw(&N, 2, buf, n) == 0, "send");
	CHECK(wait_stat(&C, 1, "rx_stale_session", 1, 3000), "INVALIDATE in node 3's session "
	      "claiming node 1 not dropped as another session's");
	ab = a_to_b_header();
	n = xw_seal(buf, nb->sess.tx, ab.session, XW_INVALIDATE, 1, 2, ab.incarnation,
		    ab.seq + 5, &iv, sizeof(iv), NULL, 0);
	CHECK(rogue_node_send_raw(&N, 2, buf, n) == 0, "send");
	CHECK(wait_stat(&C, 1, "rx_forged", 2, 3000), "INVALIDATE claiming node 1 with its "
	      "session's tag not counted forged (%lld)", node_stat(&C, 1, "rx_forged"));
	settle();
	CHECK(kstats(1).zaps == kb.zaps, "an INVALIDATE claiming node 1 was applied");

	/* 3. B's fault on A's segment is pending (the relay holds A's answers);
	 * forged FAULT_REPLYs "from A" must not answer it */
	R.pass[RELAY_AB] = 0;
	{
		struct fault_arg a = { 1, 0 };
		int err = 0;
		long long forged = node_stat(&C, 1, "rx_forged");
		long long other = node_stat(&C, 1, "rx_stale_session");
		uint64_t b_inc = (uint64_t)node_peer_field(&C, 0, 2, "incarnation");

		a.id = simk_remote_fault(C.nodes[1].k, 1, SEG, 0, MB, XPMEM_CHAN_ACCESS_READ);
		pump(&C, 100);
		ab = a_to_b_header();
		for (uint64_t req = 1; req <= 8; req++) {
			struct {
				struct xw_fault_reply r;
				struct xpmem_chan_extent e;
			} rep = { { .req_id = req, .incarnation = b_inc, .error = 0, .nextents = 1 },
				  { 0x100000000ull, MB } };

			randombytes_buf(wrong, sizeof(wrong));
			n = xw_seal(buf, wrong, ab.session, XW_FAULT_REPLY, 1, 2, ab.incarnation,
				    ab.seq + 100 + req, &rep, sizeof(rep), NULL, 0);
			CHECK(rogue_node_send_raw(&N, 2, buf, n) == 0, "send");
			n = xw_seal(buf, nb->sess.tx, nb->sess.tag, XW_FAULT_REPLY, 1, 2,
				    ab.incarnation, 2000 + req, &rep, sizeof(rep), NULL, 0);
			CHECK(rogue_node_send_raw(&N, 2, buf, n) == 0, "send");
		}
		CHECK(wait_stat(&C, 1, "rx_forged", forged + 8, 3000) &&
		      wait_stat(&C, 1, "rx_stale_session", other + 8, 3000),
		      "forged FAULT_REPLYs not counted (forged %lld, other session %lld)",
		      node_stat(&C, 1, "rx_forged"), node_stat(&C, 1, "rx_stale_session"));
		CHECK(wait_for(&C, fault_cond, &a, 5000), "held fault did not finish");
		simk_fault_state(C.nodes[1].k, a.id, &err, NULL, NULL);
		CHECK(err == -ETIMEDOUT, "B's kernel got %d for its fault on A, expected "
		      "-ETIMEDOUT (a forged FAULT_REPLY was delivered?)", err);
	}
	R.pass[RELAY_AB] = 1;

	/* 4. no lockout: A's real traffic still works, A was never reset */
	CHECK(fault(1, 0, 5000) == 0, "fault B -> A after the forgeries");
	invalidate_acked(0);
	CHECK(node_peer_field(&C, 1, 1, "alive") == 1, "A not alive at B");
	CHECK(node_peer_field(&C, 1, 1, "hello_incarnation") == a_inc, "A's incarnation moved");
	CHECK(kstats(1).peer_resets == kb.peer_resets, "PEER_RESET for A on B");
	CHECK(kstats(0).resolves >= ka.resolves + 1, "A's kernel resolves");
	have_node = 0;
	have_relay = 0;
	harness_idle = NULL;
	cluster_stop(&C);
	rogue_node_close(&N);
	relay_close(&R);
}

/* ------------------------------------------------------------------ */

static int quarantine_empty(struct cluster *c, void *a)
{
	(void)c;
	return kstats(*(int *)a).quarantine_entries == 0;
}

/*
 * The owner's daemon restarts while a peer still maps its page; the kernel
 * replays the quarantined invalidation, but no session exists yet (the
 * relay holds every message for longer than the ack timeout), so it times
 * out again. When the session comes up, first contact must not make the
 * daemon forget that the peer still owes the ack (its incarnation did not
 * change): the invalidation is re-sent and the late ack drains the
 * quarantine.
 */
static void t_reconcile(const char *bin)
{
	int zero = 0;
	uint64_t gen;

	relay_pair(bin, 0, NULL, 400);
	CHECK(fault(1, 0, 5000) == 0, "fault");
	node_kill(&C, 0, SIGKILL);
	gen = simk_invalidate(C.nodes[0].k, SEG, 0, SEGSIZE);
	CHECK(gen && (int)simk_inval_state(C.nodes[0].k, gen) == SIMK_TIMED_OUT,
	      "no immediate timeout without a daemon");
	CHECK(kstats(0).quarantine_entries == 1, "quarantine");
	R.pass[RELAY_AB] = R.pass[RELAY_BA] = 0;
	start_alone(0);
	CHECK(wait_stat(&C, 0, "timed_out", 1, 5000), "replayed invalidation did not time out");
	pump(&C, 2 * (int)C.ack_timeout_ms);
	CHECK(kstats(0).quarantine_entries == 1, "quarantine released without an ack");
	R.pass[RELAY_AB] = R.pass[RELAY_BA] = 1;
	CHECK(wait_ready(&C, 10000), "session after the relay let go");
	CHECK(wait_for(&C, quarantine_empty, &zero, 5000),
	      "quarantine kept: the daemon forgot the ack node 2 still owes");
	CHECK(wait_stat(&C, 0, "late_acks", 1, 3000), "no late ack");
	CHECK(simk_import_count(C.nodes[1].k) == 0, "node 2 still maps the page");
	have_relay = 0;
	harness_idle = NULL;
	cluster_stop(&C);
	relay_close(&R);
}

/* ------------------------------------------------------------------ */

static int established_at(struct cluster *c, void *a)
{
	(void)c;
	(void)a;
	return rogue_node_peer(&N, 2)->established;
}

/* nodes 1 and 2, node 3 the rogue (its own valid key), talking to node 2 */
static void rogue_beside(const char *bin, uint64_t inc)
{
	cluster_init(&C, bin, 2, 1);
	CHECK(rogue_node_open(&N, 3, inc, C.key[2], C.ports[2]) == 0, "rogue node");
	CHECK(rogue_node_add_peer(&N, 2, C.ports[1], C.pub[1]) == 0, "rogue peer");
	have_node = 1;
	harness_idle = idle;
	node_start(&C, 0);
	node_start(&C, 1);
	CHECK(wait_ready(&C, 15000), "nodes did not see each other");
}

static void rogue_beside_stop(void)
{
	have_node = 0;
	harness_idle = NULL;
	cluster_stop(&C);
	rogue_node_close(&N);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* review issue 15 #2: new incarnations at any rate */
static void t_inc_storm(const char *bin)
{
	struct rogue_peer *nb;
	uint8_t buf[XW_MAX_MSG];
	uint64_t resets0, resets, t0;
	int count = 2000;

	rogue_beside(bin, 1000);
	CHECK(rogue_node_hello(&N, 2) == 0, "hello");
	CHECK(wait_for(&C, established_at, NULL, 10000), "rogue: no session with node 2");
	nb = rogue_node_peer(&N, 2);
	t0 = mono_ms();	/* node 3's first incarnation adopted */
	pump(&C, 300);
	resets0 = kstats(1).peer_resets;
	for (int i = 0; i < count; i++) {
		struct xw_hello h;
		size_t n;

		memcpy(h.eph, N.eph_pk, sizeof(h.eph));
		memcpy(h.echo, nb->eph, sizeof(h.echo));
		n = xw_hello_build(buf, N.sk, 3, 2, 2000 + (uint64_t)i, ++N.hello_seq, &h);
		CHECK(n && rogue_node_send_raw(&N, 2, buf, n) == 0, "send");
		if (i % 50 == 0)	/* over 4 s or more */
			pump(&C, 100);
	}
	pump(&C, 2000);
	resets = kstats(1).peer_resets - resets0;
	fprintf(stderr, "%d HELLOs of new incarnations in %llu ms: %llu PEER_RESETs, "
		"rx_hello_rate %lld, sessions %lld\n", count,
		(unsigned long long)(mono_ms() - t0), (unsigned long long)resets,
		node_stat(&C, 1, "rx_hello_rate"), node_stat(&C, 1, "sessions"));
	/* adopted at about 1 s, then 2 s later (interval doubled), then 4 s... */
	CHECK(resets >= 1 && resets <= (mono_ms() - t0) / 1000 / 2 + 2,
	      "node 3 made node 2 reset it %llu times in %llu ms", (unsigned long long)resets,
	      (unsigned long long)(mono_ms() - t0));
	CHECK(node_stat(&C, 1, "rx_hello_rate") >= count - 20, "dropped HELLOs not counted");
	CHECK(node_stat(&C, 1, "sessions") < 20, "a session per HELLO");
	/* a real restart afterwards: re-sending HELLO as a daemon does, it is
	 * adopted once the backoff (at most 16 s) has passed */
	N.inc = 100000;
	t0 = mono_ms();
	while (node_peer_field(&C, 1, 3, "incarnation") != 100000 && mono_ms() - t0 < 20000) {
		CHECK(rogue_node_hello(&N, 2) == 0, "hello");
		pump(&C, 200);
	}
	fprintf(stderr, "node 3's restart adopted after %llu ms\n",
		(unsigned long long)(mono_ms() - t0));
	CHECK(node_peer_field(&C, 1, 3, "incarnation") == 100000, "node 3 locked out");
	CHECK(wait_for(&C, established_at, NULL, 5000), "no session after the restart");
	rogue_node_close(&N);
	have_node = 0;
	harness_idle = NULL;
	cluster_stop(&C);
}

static long long stat_sum(int i, const char *a, const char *b, const char *c)
{
	return node_stat(&C, i, a) + node_stat(&C, i, b) + node_stat(&C, i, c);
}

/* send n copies of buf as the rogue, paced; wait until node 2 counted them
 * in the three counters */
static void flood(const uint8_t *buf, size_t len, int n, const char *a, const char *b,
		  const char *c)
{
	long long base = stat_sum(1, a, b, c);

	for (int i = 0; i < n; i++) {
		while (rogue_node_send_raw(&N, 2, buf, len) != 0)
			pump(&C, 1);
		if (i % 25 == 24)
			pump(&C, 2);
	}
	for (int t = 0; t < 50 && stat_sum(1, a, b, c) < base + n; t++)
		pump(&C, 100);
	fprintf(stderr, "%d sent: %s %lld %s %lld %s %lld (peer_deaths %lld)\n", n, a,
		node_stat(&C, 1, a), b, node_stat(&C, 1, b), c, node_stat(&C, 1, c),
		node_stat(&C, 1, "peer_deaths"));
}

/* review issue 15 #5: forged HELLOs cost a signature check each */
static void t_hello_cheap(const char *bin)
{
	uint8_t buf[XW_MAX_MSG], fake_sk[64], fake_pk[32];
	long long a_inc, forged0, stale0, budget0, dup0, rx0;
	uint64_t resets0, t0, ms;
	struct rogue_peer *nb;
	struct xw_hello h;
	size_t n;

	CHECK(sodium_init() >= 0, "sodium");
	rogue_beside(bin, 1000);
	CHECK(rogue_node_hello(&N, 2) == 0, "hello");
	CHECK(wait_for(&C, established_at, NULL, 10000), "rogue: no session with node 2");
	nb = rogue_node_peer(&N, 2);
	pump(&C, 300);
	a_inc = node_peer_field(&C, 1, 1, "hello_incarnation");
	forged0 = node_stat(&C, 1, "rx_forged");
	stale0 = node_stat(&C, 1, "rx_stale_incarnation");
	resets0 = kstats(1).peer_resets;
	crypto_sign_keypair(fake_pk, fake_sk);
	randombytes_buf(h.eph, sizeof(h.eph));
	memset(h.echo, 0, sizeof(h.echo));

	/* 1. claiming node 1, an older incarnation: stale, never verified */
	n = xw_hello_build(buf, fake_sk, 1, 2, 1, 1, &h);
	flood(buf, n, 500, "rx_stale_incarnation", "rx_forged", "rx_hello_budget");
	CHECK(node_stat(&C, 1, "rx_stale_incarnation") - stale0 >= 450,
	      "stale forged HELLOs not counted stale (%lld)",
	      node_stat(&C, 1, "rx_stale_incarnation") - stale0);
	CHECK(node_stat(&C, 1, "rx_forged") == forged0, "stale HELLOs were verified (%lld)",
	      node_stat(&C, 1, "rx_forged") - forged0);

	/* 2. node 3's own HELLO, then byte-identical copies: duplicates */
	memcpy(h.eph, N.eph_pk, sizeof(h.eph));
	memcpy(h.echo, nb->eph, sizeof(h.echo));
	n = xw_hello_build(buf, N.sk, 3, 2, N.inc, ++N.hello_seq, &h);
	rx0 = node_stat(&C, 1, "hellos_rx");
	CHECK(rogue_node_send_raw(&N, 2, buf, n) == 0, "send");
	CHECK(wait_stat(&C, 1, "hellos_rx", rx0 + 1, 3000), "node 3's HELLO not accepted");
	dup0 = node_stat(&C, 1, "hellos_duplicate");
	budget0 = node_stat(&C, 1, "rx_hello_budget");
	CHECK(dup0 >= 0, "no hellos_duplicate counter");
	flood(buf, n, 300, "hellos_duplicate", "hellos_rx", "rx_hello_budget");
	CHECK(node_stat(&C, 1, "hellos_duplicate") - dup0 >= 280 &&
	      node_stat(&C, 1, "hellos_rx") == rx0 + 1 &&
	      node_stat(&C, 1, "rx_hello_budget") == budget0,
	      "copies of the last verified HELLO were verified again");

	/* 3. claiming node 1, its own incarnation, another signature: checked at
	 * most 20 per second, the rest dropped unverified */
	randombytes_buf(h.eph, sizeof(h.eph));
	memset(h.echo, 0, sizeof(h.echo));
	n = xw_hello_build(buf, fake_sk, 1, 2, (uint64_t)a_inc, 7, &h);
	forged0 = node_stat(&C, 1, "rx_forged");
	t0 = mono_ms();
	flood(buf, n, 1000, "rx_forged", "rx_hello_budget", "rx_stale_incarnation");
	ms = mono_ms() - t0;
	fprintf(stderr, "flood took %llu ms: rx_forged +%lld\n", (unsigned long long)ms,
		node_stat(&C, 1, "rx_forged") - forged0);
	CHECK(node_stat(&C, 1, "rx_hello_budget") - budget0 >= 500,
	      "forged HELLOs over budget not dropped (%lld)",
	      node_stat(&C, 1, "rx_hello_budget") - budget0);
	CHECK(node_stat(&C, 1, "rx_forged") - forged0 <= 20 * (long long)(ms / 1000 + 2),
	      "%lld signature checks in %llu ms", node_stat(&C, 1, "rx_forged") - forged0,
	      (unsigned long long)ms);

	/* 4. and a newer incarnation claiming node 1: never adopted */
	n = xw_hello_build(buf, fake_sk, 1, 2, (uint64_t)a_inc + 1000, 8, &h);
	flood(buf, n, 200, "rx_forged", "rx_hello_budget", "rx_hello_rate");

	/* nothing about node 1 changed */
	pump(&C, 500);
	CHECK(node_peer_field(&C, 1, 1, "hello_incarnation") == a_inc &&
	      node_peer_field(&C, 1, 1, "incarnation") == a_inc, "node 1's incarnation moved");
	CHECK(node_peer_field(&C, 1, 1, "established") == 1 &&
	      node_peer_field(&C, 1, 1, "alive") == 1, "node 1's session at node 2 lost");
	CHECK(kstats(1).peer_resets == resets0, "PEER_RESET at node 2");
	rogue_beside_stop();
}

/* xpmemctl fence NODE on node index i; the last incarnation it reports dead */
static unsigned long long fence(const char *bin, int i, uint32_t node)
{
	char cmd[1200], line[512], *dir = strdup(bin), *sl = strrchr(dir, '/');
	unsigned long long upto = 0;
	FILE *f;

	*sl = 0;
	snprintf(cmd, sizeof(cmd), "%s/xpmemctl -s %s fence %u 2>&1", dir, C.nodes[i].grpc, node);
	free(dir);
	f = popen(cmd, "r");
	CHECK(f, "popen");
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "incarnations up to ");

		fputs(line, stderr);
		if (p)
			upto = strtoull(p + strlen("incarnations up to "), NULL, 10);
	}
	CHECK(pclose(f) == 0, "xpmemctl fence failed");
	return upto;
}

/* review issue 15 #4: incarnation 2^64-1 and fence */
static void t_inc_limit(const char *bin)
{
	char dir[] = "/tmp/xpmemd-inc-XXXXXX", path[200], err[600];
	uint64_t inc = 0, top = (1ull << 63) - 1;
	FILE *f;

	/* the state file: 2^63 - 2 gives 2^63 - 1, the last usable one */
	CHECK(mkdtemp(dir), "mkdtemp");
	snprintf(path, sizeof(path), "%s/incarnation", dir);
	f = fopen(path, "w");
	CHECK(f && fprintf(f, "%llu\n", (unsigned long long)(top - 1)) > 0 && fclose(f) == 0,
	      "write %s", path);
	CHECK(incarnation_next(dir, &inc, err, sizeof(err)) == 0 && inc == top,
	      "incarnation_next after 2^63-2: %s", err);
	err[0] = 0;
	CHECK(incarnation_next(dir, &inc, err, sizeof(err)) == -1,
	      "incarnation_next produced %llu, not below 2^63", (unsigned long long)inc);
	fprintf(stderr, "refused: %s\n", err);
	unlink(path);
	rmdir(dir);

	/* a HELLO of 2^64-1 from node 3 (its own valid key) is refused */
	rogue_beside(bin, UINT64_MAX);
	CHECK(rogue_node_hello(&N, 2) == 0, "hello");
	CHECK(wait_stat(&C, 1, "rx_bad_incarnation", 1, 3000),
	      "HELLO of incarnation 2^64-1 not counted (%lld)",
	      node_stat(&C, 1, "rx_bad_incarnation"));
	pump(&C, 500);
	CHECK(!rogue_node_peer(&N, 2)->established &&
	      node_peer_field(&C, 1, 3, "hello_incarnation") == 0,
	      "HELLO of incarnation 2^64-1 accepted");

	/* 2^63-1 is accepted; a fence makes it 2^63, and again 2^63 */
	N.inc = top;
	CHECK(rogue_node_hello(&N, 2) == 0, "hello");
	CHECK(wait_for(&C, established_at, NULL, 5000), "no session at 2^63-1");
	CHECK(fence(bin, 1, 3) == top, "fence of 2^63-1 is not 2^63");
	CHECK(fence(bin, 1, 3) == top, "a second fence moved past 2^63");
	/* the stats file is rewritten after the fence: wait for it */
	for (int k = 0; k < 60 && node_peer_field(&C, 1, 3, "incarnation") !=
	     (long long)(1ull << 63); k++)
		pump(&C, 50);
	CHECK(node_peer_field(&C, 1, 3, "incarnation") == (long long)(1ull << 63),
	      "PEER_RESET not at 2^63 (%lld)", node_peer_field(&C, 1, 3, "incarnation"));
	{
		long long stale = node_stat(&C, 1, "rx_stale_incarnation");
		long long bad = node_stat(&C, 1, "rx_bad_incarnation");

		CHECK(rogue_node_hello(&N, 2) == 0, "hello");
		CHECK(wait_stat(&C, 1, "rx_stale_incarnation", stale + 1, 3000),
		      "fenced 2^63-1 not stale");
		N.inc = UINT64_MAX;
		CHECK(rogue_node_hello(&N, 2) == 0, "hello");
		CHECK(wait_stat(&C, 1, "rx_bad_incarnation", bad + 1, 3000), "2^64-1 not refused");
		pump(&C, 300);
		CHECK(node_peer_field(&C, 1, 3, "established") == 0, "fenced node 3 came back");
	}
	rogue_beside_stop();
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s CASE XPMEMD\n", argv[0]);
		return 2;
	}
	test_name = argv[1];
	alarm(110);
	if (!strcmp(argv[1], "replay"))
		t_replay(argv[2]);
	else if (!strcmp(argv[1], "impersonation"))
		t_impersonation(argv[2]);
	else if (!strcmp(argv[1], "reconcile"))
		t_reconcile(argv[2]);
	else if (!strcmp(argv[1], "inc_storm"))
		t_inc_storm(argv[2]);
	else if (!strcmp(argv[1], "hello_cheap"))
		t_hello_cheap(argv[2]);
	else if (!strcmp(argv[1], "inc_limit"))
		t_inc_limit(argv[2]);
	else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	printf("%s: OK\n", test_name);
	return 0;
}
