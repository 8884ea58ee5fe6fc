/* SPDX-License-Identifier: GPL-2.0 */
/* Reliable-datagram (FI_EP_RDM) messaging over libfabric for xpmemd. */
#ifndef XPMEMD_FABRIC_H
#define XPMEMD_FABRIC_H

#include <stddef.h>
#include <stdint.h>
#include <rdma/fabric.h>

struct fab;

typedef void (*fab_recv_cb)(void *arg, const void *buf, size_t len);

/*
 * The provider's memory, set before the first fab_open (libfabric reads its
 * parameters once, at its initialisation): ofi_rxm's receive queue per
 * connection (FI_OFI_RXM_MSG_RX_SIZE) and bounce-buffer size
 * (FI_OFI_RXM_BUFFER_SIZE), unless the environment sets them. rxm's own
 * defaults (4096 x 16 KiB pre-posted, a large pool per connection) make a
 * daemon ~100 MB resident. 0, or -1 (logged) if setenv fails.
 */
int fab_memory_defaults(uint32_t msg_rx_size, uint32_t buffer_size);
/* Open provider's RDM endpoint bound to host:port. NULL on error (logged). */
struct fab *fab_open(const char *provider, const char *host, const char *port,
		     size_t max_msg);
void fab_close(struct fab *f);
/*
 * on: the listening socket admits only the addresses of peers added with
 * fab_add_peer (a BPF filter in the kernel; before and after this call;
 * none until the first is added). Fails closed: 0, or -1 (logged) if the
 * filter cannot be attached, and then fab_add_peer fails too (-EIO).
 */
int fab_set_source_filter(struct fab *f, int on);
/* Resolve host:port into the address vector; numeric: both must be numeric
 * (no name lookup, which could block the caller's loop). */
int fab_add_peer(struct fab *f, const char *host, const char *port, int numeric,
		 fi_addr_t *out);
/* Queue a message to dest; copies buf; -FI_EAGAIN is absorbed by a shared
 * backlog (test tools; the daemon uses fab_try_send). 0 or negative errno. */
int fab_send(struct fab *f, fi_addr_t dest, const void *buf, size_t len);
/* Hand a message to the provider now (copied): 0, -EAGAIN (not now: the
 * caller queues it, see sendq.h) or another negative errno. No backlog. */
int fab_try_send(struct fab *f, fi_addr_t dest, const void *buf, size_t len);
/* Drain completions (and drive progress), calling cb for every message;
 * at most budget completions (0: all). 1 if the budget ran out. */
int fab_progress(struct fab *f, fab_recv_cb cb, void *arg, int budget);
/* The CQ wait fd for poll/epoll. */
int fab_wait_fd(struct fab *f);
/* 1 if the caller may block on the wait fd, 0 if it must progress first. */
int fab_trywait(struct fab *f);
/* Messages queued locally because the provider said EAGAIN. */
size_t fab_backlog(struct fab *f);
const char *fab_provider_name(struct fab *f);

struct fab_stats {
	uint64_t tx_msgs, rx_msgs, tx_errors, rx_errors, tx_dropped;
	uint64_t rx_post_errors;	/* fi_recv refused a receive buffer (retried) */
	uint64_t cq_errors;		/* fi_cq_read failed */
};
void fab_get_stats(struct fab *f, struct fab_stats *s);

#endif
