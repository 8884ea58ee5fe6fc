/* SPDX-License-Identifier: GPL-2.0 */
#ifndef XPMEMD_CONFIG_H
#define XPMEMD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define XPMEMD_DEFAULT_CONFIG "/etc/xpmem/xpmemd.conf"
#define XPMEMD_DEFAULT_NODE_KEY "/etc/xpmem/node.key"
#define XPMEMD_DEFAULT_STATE_DIR "/var/lib/xpmem"
#define XPMEMD_MAX_PEERS 64
/* node ids: the kernel keeps 15 bits of node in a segid (XPMEM_ID_NODE_BITS in
 * xpmem-kmod/xpmem_private.h) and refuses a peer above that on the channel */
#define XPMEMD_NODE_MAX 32767U

struct peer_conf {
	uint32_t id;
	char address[128];	/* host:port */
	char window[128];	/* shared-memory window: PCI address or phys:BASE+SIZE */
	uint8_t public_key[32];	/* its Ed25519 identity (crypto_sign public key) */
	int has_public_key;
	int line;		/* section line, for messages */
};

struct xconfig {
	uint32_t node_id;
	char provider[64];
	char listen[128];
	char channel[256];
	char node_key[256];	/* this node's Ed25519 secret key (base64 seed) */
	char state_dir[256];	/* persisted state: the incarnation counter */
	char grpc_socket[256];	/* Management service; "" = disabled */
	uint32_t grpc_socket_mode;	/* its mode (default 0666: read-only calls for any user) */
	char admin_group[64];	/* group allowed mutating Management calls besides root; "" = root only */
	long long admin_gid;	/* admin_group resolved by config_check; -1: none */
	int peer_source_filter;	/* the fabric listener admits peers' addresses only */
	char stats_file[256];
	char log_level[16];
	uint32_t ack_timeout_ms;
	uint32_t heartbeat_ms;
	uint32_t dead_after;	/* missed heartbeats before a peer is dead */
	uint32_t max_pending_per_peer;	/* requests pending per peer, each direction */
	uint32_t poll_us;	/* busy-poll this long after work before sleeping (0: never) */
	/* the fabric's memory (docs/protocol.md 2): ofi_rxm's per-connection
	 * receive queue and its bounce-buffer size; the environment
	 * (FI_OFI_RXM_MSG_RX_SIZE, FI_OFI_RXM_BUFFER_SIZE) overrides */
	uint32_t fabric_rx_size;
	uint32_t fabric_buffer_size;
	int remote_root_trusted;	/* remote_root = trusted: a peer's uid 0 passes the
					 * permit mode (CHECK_GET); default untrusted */
	int npeers;
	struct peer_conf peers[XPMEMD_MAX_PEERS];
	char err[512];		/* first error, "file:line: message" */
	/* SIGHUP: the configuration read again as at start (file, then the
	 * command line's flags), checked; 0, or -1 with out->err set */
	int (*reload)(struct xconfig *out);
};

/* poll_us's bound: a spinning loop costs a core; past a millisecond an
 * epoll wakeup is cheap in comparison */
#define XPMEMD_POLL_US_MAX 1000

void config_defaults(struct xconfig *c);
/* Returns 0, or -1 with c->err set (naming the line). A missing file is an
 * error only if must_exist. */
int config_load(struct xconfig *c, const char *path, int must_exist);
/* Semantic checks after flags were applied; -1 with c->err set. */
int config_check(struct xconfig *c);
/*
 * A [peer N] window: where this node sees the peer's memory (peer physical
 * address X is local physical address base + X, X < size).
 *   DDDD:BB:DD.F        a PCI device whose BAR2 is the window (ivshmem in the
 *                       emulated cluster): start and size from
 *                       /sys/bus/pci/devices/ADDR/resource, read at start
 *   phys:BASE+SIZE      an explicit physical range (CXL window on real hardware)
 * window_check: syntax only (config time), -1 if bad.
 * window_resolve: 0 with base and size set, or -1 with err set. The sysfs root can
 * be moved with $XPMEMD_SYSFS_ROOT (tests).
 */
int window_check(const char *spec);
int window_resolve(const char *spec, uint64_t *base, uint64_t *size, char *err, size_t errlen);
/*
 * Our kernel's requests to a peer wait 3 * ack_timeout_ms in the daemon; the
 * module's own wait (remote_timeout_ms, read under the sysfs root) must be
 * longer. Logs a warning and returns 1 if it is not; 0 if it is or the
 * module is not loaded.
 */
int config_warn_fault_deadline(const struct xconfig *c);
/* Split "host:port"; returns -1 on bad syntax. */
int split_hostport(const char *s, char *host, size_t hlen, char *port, size_t plen);

#endif
