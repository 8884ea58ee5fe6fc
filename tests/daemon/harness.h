/* SPDX-License-Identifier: GPL-2.0 */
/* Test harness: real xpmemd processes on loopback, one simulated kernel each. */
#ifndef XPMEMD_TEST_HARNESS_H
#define XPMEMD_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "keys.h"
#include "simkernel.h"

#define MAXN 72	/* 65 for tests/bench/bench_fanout (64 peers) */

struct node {
	uint32_t id;
	int port;
	pid_t pid;
	struct simk *k;
	char conf[256], sock[256], stats[256], log[256], grpc[256];
	int grpc_port;
};

struct cluster {
	int n;			/* daemons */
	int extra;		/* extra configured peers (test-driven fake nodes) */
	int ports[2 * (MAXN + 4) + 4];	/* fabric ports, then Peer gRPC ports, then spare */
	char dir[128];
	/* node id j+1's identity (daemons and fake nodes): secret key file
	 * (mode 0600) and public key, as in every other node's [peer j+1] */
	char key[MAXN + 4][200];
	char pub[MAXN + 4][KEYS_B64_LEN];
	/* via[i][j]: port node i's config gives for node id j+1 (0: its own port):
	 * routes i's traffic to j through a relay (tests/daemon/rogue.c) */
	int via[MAXN][MAXN + 4];
	int spare[4];		/* free ports (claimed with the others) for relays */
	const char *bin;
	char notify[256];	/* NOTIFY_SOCKET for started daemons, if set */
	char extra_conf[256];	/* more [xpmemd] lines for every daemon's config */
	uint32_t ack_timeout_ms, heartbeat_ms, kernel_timeout_ms;
	int pci_windows;	/* windows as PCI addresses 0000:00:1J.0 under dir/sys
				 * (XPMEMD_SYSFS_ROOT), else phys:PEER_BASE(J)+WINDOW_SIZE */
	struct node nodes[MAXN];
	struct simk *ks[MAXN];
};

/* the window through which every node sees node id j's memory */
#define PEER_BASE(j) ((uint64_t)(j) << 40)
#define WINDOW_SIZE (1ull << 30)

extern const char *test_name;
/* called on every harness loop iteration (e.g. to progress a fake node) */
extern void (*harness_idle)(void);

#define CHECK(cond, ...) do { if (!(cond)) { \
	fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); \
	harness_fail(); } } while (0)

void harness_fail(void) __attribute__((noreturn));
/* n daemons, node ids 1..n; `extra` more peers (ids n+1..) in every config. */
void cluster_init(struct cluster *c, const char *bin, int n, int extra);
void node_start(struct cluster *c, int i);
/* (re)write node i's config as node_start does (peers: ids 1..n+extra) */
void node_write_conf(struct cluster *c, int i);
void node_kill(struct cluster *c, int i, int sig);
void cluster_stop(struct cluster *c);
/* pump simulated kernels until cond() or timeout; returns 1 if cond held */
int wait_for(struct cluster *c, int (*cond)(struct cluster *, void *), void *arg, int timeout_ms);
void pump(struct cluster *c, int ms);
/*
 * Run `CTL ARGS` (ARGS: shell words) with stdout and stderr in out (NUL
 * terminated), pumping c's simulated kernels meanwhile (they answer the
 * daemon's queries). uid >= 0: run as that uid, gid 65534, supplementary
 * groups groups[0..ngroups). Echoes the command and its output to stderr.
 * Returns the exit status, 128 if killed.
 */
int run_ctl(struct cluster *c, const char *ctl, int uid, const gid_t *groups,
	    int ngroups, const char *args, char *out, size_t outlen);
/* a counter from a node's stats file ("stats.<name>"), -1 if unavailable */
long long node_stat(struct cluster *c, int i, const char *name);
/* peer field from stats ("alive", "incarnation"), -1 if unavailable */
long long node_peer_field(struct cluster *c, int i, uint32_t peer, const char *field);
/* utime + stime of pid (all threads, ended ones included) in clock ticks,
 * -1 if unreadable */
long long cpu_ticks(pid_t pid);
int wait_stat(struct cluster *c, int i, const char *name, long long atleast, int timeout_ms);
int wait_ready(struct cluster *c, int timeout_ms);

#endif
