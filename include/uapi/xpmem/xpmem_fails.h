/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * Failure exits of xpmem.ko's fault, resolve and invalidate paths: one row
 * per reason, X(path, name, description). The kernel counts each reason
 * (debugfs "failures", QUERY FAILURES) and traces it (xpmem:xpmem_fail);
 * xpmemd shows the counts as kfail_<name> in `xpmemctl stats`.
 *
 * A reason's index in XPMEM_FAILS is its number on the channel (the flags
 * of a QUERY FAILURES record): rows are only ever appended, never removed
 * or reordered. The name is the identifier in the kernel's code too
 * (XPMEM_FAIL_<name>), so grepping for it finds the exit.
 *
 * Paths: fault (a local attachment's fault), rfault (a remote attachment's
 * fault and its REMOTE_FAULT), resolve (the owner answering RESOLVE), grant
 * (CHECK_GET's grant and RELEASE_GRANT), invalidate (the notifier, remote
 * INVALIDATE and its wait, quarantine, ZAP).
 */
#ifndef _UAPI_XPMEM_FAILS_H
#define _UAPI_XPMEM_FAILS_H

#define XPMEM_FAIL_PATHS(X)	X(fault) X(rfault) X(resolve) X(grant) X(invalidate)

#define XPMEM_FAILS(X)							\
	X(fault, fault_dead,						\
	  "permit released or segment removed: SIGBUS")			\
	X(fault, fault_range,						\
	  "address outside the attachment's source range: SIGBUS")	\
	X(fault, fault_owner_gone,					\
	  "the exporter's address space has exited: SIGBUS")		\
	X(fault, fault_killed,						\
	  "fatal signal pending: SIGBUS")				\
	X(fault, fault_src_lock,					\
	  "source mmap_lock not taken in time (no retry allowed): SIGBUS") \
	X(fault, fault_no_source,					\
	  "no exportable source vma at the address: SIGBUS")		\
	X(fault, fault_readonly,					\
	  "store to a read-only source: SIGBUS")			\
	X(fault, fault_source_error,					\
	  "the source page could not be faulted in: SIGBUS")		\
	X(fault, fault_nomem,						\
	  "no memory to fault the source or for a page table: OOM")	\
	X(fault, fault_insert,						\
	  "inserting the touched page's PTE or PMD failed")		\
	X(rfault, rfault_dead,						\
	  "permit released or segment gone: SIGBUS")			\
	X(rfault, rfault_range,						\
	  "address outside the attachment's segment range: SIGBUS")	\
	X(rfault, rfault_nomem,						\
	  "no memory for a page table, request or answer")		\
	X(rfault, rfault_no_window,					\
	  "no PEER_WINDOW for the owner")				\
	X(rfault, rfault_no_daemon,					\
	  "no xpmemd on the channel")					\
	X(rfault, rfault_timeout,					\
	  "no FAULT_REPLY within remote_timeout_ms")			\
	X(rfault, rfault_interrupted,					\
	  "fatal signal while waiting for the owner (fault retried)")	\
	X(rfault, rfault_owner_busy,					\
	  "the owner's RESOLVE slots are full: EAGAIN (fault retried)")	\
	X(rfault, rfault_refused,					\
	  "the owner or a daemon answered an error")			\
	X(rfault, rfault_bad_reply,					\
	  "FAULT_REPLY without extents or outside the window")		\
	X(rfault, rfault_failed,					\
	  "the fault's request to the owner failed: SIGBUS or OOM")	\
	X(rfault, rfault_insert,					\
	  "inserting the touched page's PTE or PMD failed")		\
	X(resolve, resolve_invalid,					\
	  "bad fields or range: EINVAL")				\
	X(resolve, resolve_busy,					\
	  "every RESOLVE slot taken: EAGAIN")				\
	X(resolve, resolve_peer_busy,					\
	  "the peer's share of RESOLVE slots taken: EAGAIN")		\
	X(resolve, resolve_stale,					\
	  "names another owner kernel instance: ESTALE")		\
	X(resolve, resolve_no_segment,					\
	  "no such segment, or removed: ENOENT")			\
	X(resolve, resolve_no_grant,					\
	  "beyond the peer's grant: EACCES")				\
	X(resolve, resolve_peer_cap,					\
	  "the peer's resolved-page cap reached")			\
	X(resolve, resolve_owner_gone,					\
	  "the exporter's address space has exited: ENOENT")		\
	X(resolve, resolve_no_source,					\
	  "no exportable source vma: EFAULT")				\
	X(resolve, resolve_readonly,					\
	  "write access to a read-only source: EACCES")			\
	X(resolve, resolve_source_error,				\
	  "the source page could not be faulted in: EFAULT")		\
	X(resolve, resolve_nomem,					\
	  "no memory: ENOMEM, or no answer at all")			\
	X(resolve, resolve_reply_lost,					\
	  "the answer could not be queued (no daemon)")			\
	X(grant, grant_dead,						\
	  "CHECK_GET of a removed segment: ENOENT")			\
	X(grant, grant_cap,						\
	  "grants per segment or per peer, or permits per grant: ENOSPC") \
	X(grant, grant_nomem,						\
	  "no memory for a grant record: ENOMEM")			\
	X(grant, release_invalid,					\
	  "RELEASE_GRANT with bad fields: EINVAL")			\
	X(grant, release_stale,						\
	  "RELEASE_GRANT naming another owner kernel instance: ESTALE")	\
	X(grant, release_no_segment,					\
	  "RELEASE_GRANT of no such segment: ENOENT")			\
	X(grant, release_no_grant,					\
	  "RELEASE_GRANT without a grant: ENOENT")			\
	X(grant, release_no_permit,					\
	  "RELEASE_GRANT of a permit kind not held: EINVAL")		\
	X(grant, release_nomem,						\
	  "no memory to revoke: ENOMEM")				\
	X(invalidate, inval_nonblock,					\
	  "a non-blockable invalidation had work to do: refused")	\
	X(invalidate, inval_too_many_peers,				\
	  "more peers than one INVALIDATE names: all quarantined")	\
	X(invalidate, inval_nomem,					\
	  "no memory for the INVALIDATE: all quarantined")		\
	X(invalidate, inval_no_daemon,					\
	  "no xpmemd to send the INVALIDATE to: all quarantined")	\
	X(invalidate, inval_timeout,					\
	  "no answer within ack_timeout_ms: all quarantined")		\
	X(invalidate, inval_peers_missing,				\
	  "TIMED_OUT: the peers that did not ack are quarantined")	\
	X(invalidate, inval_quar_nomem,					\
	  "no memory for a quarantine entry: held until PEER_RESET")	\
	X(invalidate, inval_replay_nomem,				\
	  "no memory to replay the quarantine on HELLO")		\
	X(invalidate, zap_invalid,					\
	  "ZAP with bad fields: EINVAL")

#endif /* _UAPI_XPMEM_FAILS_H */
