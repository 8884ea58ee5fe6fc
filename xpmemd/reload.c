// SPDX-License-Identifier: GPL-2.0
/*
 * SIGHUP: the configuration read again (as at start: file, then flags) and
 * compared with the running one: what can change at runtime is applied, the
 * rest refused with a log line naming it (docs/protocol.md 4).
 */
#include "reload.h"
#include "log.h"
#include "member.h"
#include "pout.h"
#include "state.h"

#include <sodium.h>
#include <string.h>

/* what cannot change at runtime: each change refused with a log line;
 * returns how many */
static int reload_fixed(const struct xconfig *n, const struct xconfig *c)
{
	int refused = 0;

#define FIXED_STR(f) do { if (strcmp(n->f, c->f)) { refused++; \
	log_warn("reload: " #f " cannot change at runtime (restart xpmemd): keeps '%s'", c->f); \
	} } while (0)
#define FIXED_NUM(f) do { if (n->f != c->f) { refused++; \
	log_warn("reload: " #f " cannot change at runtime (restart xpmemd): keeps %llu", \
		 (unsigned long long)c->f); } } while (0)
	FIXED_NUM(node_id);
	FIXED_STR(provider);
	FIXED_STR(listen);
	FIXED_STR(channel);
	FIXED_STR(node_key);
	FIXED_STR(state_dir);
	FIXED_STR(grpc_socket);
	FIXED_NUM(grpc_socket_mode);
	FIXED_STR(admin_group);
	FIXED_NUM(peer_source_filter);
	FIXED_STR(stats_file);
	FIXED_NUM(fabric_rx_size);
	FIXED_NUM(fabric_buffer_size);
#undef FIXED_STR
#undef FIXED_NUM
	return refused;
}

/* what can: log_level, the timeouts, the cap, poll_us, remote_root */
static void reload_apply(const struct xconfig *n, struct xconfig *c)
{
	if (strcmp(n->log_level, c->log_level)) {
		snprintf(c->log_level, sizeof(c->log_level), "%s", n->log_level);
		xlog_level = xlog_parse_level(n->log_level);
	}
	c->ack_timeout_ms = n->ack_timeout_ms;
	config_warn_fault_deadline(c);
	c->heartbeat_ms = n->heartbeat_ms;
	c->dead_after = n->dead_after;
	c->max_pending_per_peer = n->max_pending_per_peer;
	c->poll_us = n->poll_us;
	if (c->remote_root_trusted && !n->remote_root_trusted)
		log_warn("reload: remote_root is now untrusted for new gets; grants "
			 "already given to a remote uid 0 stay until released or the "
			 "peer is fenced (xpmemctl fence)");
	c->remote_root_trusted = n->remote_root_trusted;
}

/* the peer table: new peers are added; a peer's address, window or key,
 * or its removal, need a restart; returns the changes refused */
static int reload_peers(struct dstate *d, const struct xconfig *n)
{
	const struct xconfig *c = d->cfg;
	int refused = 0, npeers = c->npeers;

	for (int i = 0; i < npeers; i++) {
		const struct peer_conf *o = &c->peers[i], *q = NULL;

		for (int j = 0; j < n->npeers && !q; j++)
			if (n->peers[j].id == o->id)
				q = &n->peers[j];
		if (!q) {
			refused++;
			log_warn("reload: [peer %u] was removed from the file: removing a peer needs "
				 "a restart (kept)", o->id);
		} else if (strcmp(q->address, o->address) || strcmp(q->window, o->window) ||
			   sodium_memcmp(q->public_key, o->public_key, sizeof(o->public_key))) {
			refused++;
			log_warn("reload: [peer %u] address, window or public_key changed: that "
				 "needs a restart (kept as it was)", o->id);
		}
	}
	for (int j = 0; j < n->npeers; j++) {
		if (peer_find(d, n->peers[j].id))
			continue;
		if (member_add(d, &n->peers[j]))
			refused++;
	}
	return refused;
}

void daemon_reload(struct dstate *d)
{
	static struct xconfig n;	/* large: not on the stack */
	struct xconfig *c = d->cfg;
	int refused;

	if (!c->reload) {
		log_warn("SIGHUP: no configuration to reload");
		return;
	}
	if (c->reload(&n)) {
		log_err("SIGHUP: configuration not reloaded: %s", n.err);
		return;
	}
	refused = reload_fixed(&n, c);
	reload_apply(&n, c);
	refused += reload_peers(d, &n);
	log_info("SIGHUP: configuration reloaded (log_level %s, %d peers)%s", c->log_level,
		 d->npeers, refused ? "; some changes refused, see above" : "");
	d->dirty = 1;
}
