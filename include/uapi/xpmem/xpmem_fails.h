/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * Failure exits of xpmem.ko's fault, resolve and invalidate paths: one row
 * per reason, XPMEM_FAIL(path, name, description). The kernel counts each
 * reason (debugfs "failures", QUERY FAILURES) and traces it
 * (xpmem:xpmem_fail); xpmemd shows the counts as kfail_<name> in
 * `xpmemctl stats`.
 *
 * A list, not a header with a guard: define XPMEM_FAIL(path, name, desc)
 * and include it where the rows are expanded (xpmem-kmod/stats.h, stats.c;
 * xpmemd/mgmt.c). A reason's index here is its number on the channel (the
 * flags of a QUERY FAILURES record): rows are only ever appended, never
 * removed or reordered. The name is the identifier in the kernel's code too
 * (XPMEM_FAIL_<name>), so grepping for it finds its exits.
 *
 * Paths: fault (a local attachment's fault), rfault (a remote attachment's
 * fault and its REMOTE_FAULT), resolve (the owner answering RESOLVE), grant
 * (CHECK_GET's grant and RELEASE_GRANT), invalidate (the notifier, remote
 * INVALIDATE and its wait, quarantine, ZAP).
 */
XPMEM_FAIL(fault, fault_dead,
	   "permit released or segment removed: SIGBUS")
XPMEM_FAIL(fault, fault_range,
	   "address outside the attachment's source range: SIGBUS")
XPMEM_FAIL(fault, fault_owner_gone,
	   "the exporter's address space has exited: SIGBUS")
XPMEM_FAIL(fault, fault_killed,
	   "fatal signal pending: SIGBUS")
XPMEM_FAIL(fault, fault_src_lock,
	   "source mmap_lock not taken in time (no retry allowed): SIGBUS")
XPMEM_FAIL(fault, fault_no_source,
	   "no exportable source vma at the address: SIGBUS")
XPMEM_FAIL(fault, fault_readonly,
	   "store to a read-only source: SIGBUS")
XPMEM_FAIL(fault, fault_source_error,
	   "the source page could not be faulted in: SIGBUS")
XPMEM_FAIL(fault, fault_nomem,
	   "no memory to fault the source or for a page table: OOM")
XPMEM_FAIL(fault, fault_insert,
	   "inserting the touched page's PTE or PMD failed")
XPMEM_FAIL(rfault, rfault_dead,
	   "permit released or segment gone: SIGBUS")
XPMEM_FAIL(rfault, rfault_range,
	   "address outside the attachment's segment range: SIGBUS")
XPMEM_FAIL(rfault, rfault_nomem,
	   "no memory for a page table, request or answer")
XPMEM_FAIL(rfault, rfault_no_window,
	   "no PEER_WINDOW for the owner")
XPMEM_FAIL(rfault, rfault_no_daemon,
	   "no xpmemd on the channel")
XPMEM_FAIL(rfault, rfault_timeout,
	   "no FAULT_REPLY within remote_timeout_ms")
XPMEM_FAIL(rfault, rfault_interrupted,
	   "fatal signal while waiting for the owner (fault retried)")
XPMEM_FAIL(rfault, rfault_owner_busy,
	   "the owner's RESOLVE slots are full: EAGAIN (fault retried)")
XPMEM_FAIL(rfault, rfault_refused,
	   "the owner or a daemon answered an error")
XPMEM_FAIL(rfault, rfault_bad_reply,
	   "FAULT_REPLY without extents or outside the window")
XPMEM_FAIL(rfault, rfault_failed,
	   "the fault's request to the owner failed: SIGBUS or OOM")
XPMEM_FAIL(rfault, rfault_insert,
	   "inserting the touched page's PTE or PMD failed")
XPMEM_FAIL(resolve, resolve_invalid,
	   "bad fields or range: EINVAL")
XPMEM_FAIL(resolve, resolve_busy,
	   "every RESOLVE slot taken: EAGAIN")
XPMEM_FAIL(resolve, resolve_peer_busy,
	   "the peer's share of RESOLVE slots taken: EAGAIN")
XPMEM_FAIL(resolve, resolve_stale,
	   "names another owner kernel instance: ESTALE")
XPMEM_FAIL(resolve, resolve_no_segment,
	   "no such segment, or removed: ENOENT")
XPMEM_FAIL(resolve, resolve_no_grant,
	   "beyond the peer's grant: EACCES")
XPMEM_FAIL(resolve, resolve_peer_cap,
	   "the peer's resolved-page cap reached")
XPMEM_FAIL(resolve, resolve_owner_gone,
	   "the exporter's address space has exited: ENOENT")
XPMEM_FAIL(resolve, resolve_no_source,
	   "no exportable source vma: EFAULT")
XPMEM_FAIL(resolve, resolve_readonly,
	   "write access to a read-only source: EACCES")
XPMEM_FAIL(resolve, resolve_source_error,
	   "the source page could not be faulted in: EFAULT")
XPMEM_FAIL(resolve, resolve_nomem,
	   "no memory: ENOMEM, or no answer at all")
XPMEM_FAIL(resolve, resolve_reply_lost,
	   "the answer could not be queued (no daemon)")
XPMEM_FAIL(grant, grant_dead,
	   "CHECK_GET of a removed segment: ENOENT")
XPMEM_FAIL(grant, grant_cap,
	   "grants per segment or per peer, or permits per grant: ENOSPC")
XPMEM_FAIL(grant, grant_nomem,
	   "no memory for a grant record: ENOMEM")
XPMEM_FAIL(grant, release_invalid,
	   "RELEASE_GRANT with bad fields: EINVAL")
XPMEM_FAIL(grant, release_stale,
	   "RELEASE_GRANT naming another owner kernel instance: ESTALE")
XPMEM_FAIL(grant, release_no_segment,
	   "RELEASE_GRANT of no such segment: ENOENT")
XPMEM_FAIL(grant, release_no_grant,
	   "RELEASE_GRANT without a grant: ENOENT")
XPMEM_FAIL(grant, release_no_permit,
	   "RELEASE_GRANT of a permit kind not held: EINVAL")
XPMEM_FAIL(grant, release_nomem,
	   "no memory to revoke: ENOMEM")
XPMEM_FAIL(invalidate, inval_nonblock,
	   "a non-blockable invalidation had work to do: refused")
XPMEM_FAIL(invalidate, inval_too_many_peers,
	   "more peers than one INVALIDATE names: all quarantined")
XPMEM_FAIL(invalidate, inval_nomem,
	   "no memory for the INVALIDATE: all quarantined")
XPMEM_FAIL(invalidate, inval_no_daemon,
	   "no xpmemd to send the INVALIDATE to: all quarantined")
XPMEM_FAIL(invalidate, inval_timeout,
	   "no answer within ack_timeout_ms: all quarantined")
XPMEM_FAIL(invalidate, inval_peers_missing,
	   "TIMED_OUT: the peers that did not ack are quarantined")
XPMEM_FAIL(invalidate, inval_quar_nomem,
	   "no memory for a quarantine entry: held until PEER_RESET")
XPMEM_FAIL(invalidate, inval_replay_nomem,
	   "no memory to replay the quarantine on HELLO")
XPMEM_FAIL(invalidate, zap_invalid,
	   "ZAP with bad fields: EINVAL")
