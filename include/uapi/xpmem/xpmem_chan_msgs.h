/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * Every kernel <-> xpmemd channel message type, once: its direction and the
 * layout of its body (the structs of xpmem_channel.h). The kernel
 * (xpmem-kmod/channel.c) and xpmemd (xpmemd/chan.c) both expand these rows
 * into their size checks, so the two sides cannot disagree. Include it,
 * after xpmem_channel.h, with both row macros defined:
 *
 *   XPMEM_CHAN_FIXED(name, dir, body)
 *	the body is exactly struct body
 *   XPMEM_CHAN_ARRAY(name, dir, body, count, array, max)
 *	struct body followed by body.count elements of body.array[], where
 *	count is a __u32 of at most max
 *
 * name: the type is XPMEM_CHAN_<name>; dir: K2D (kernel -> daemon) or D2K
 * (XPMEM_CHAN_DIR_<dir>). No include guard: each inclusion expands the rows
 * again.
 */
#if !defined(XPMEM_CHAN_FIXED) || !defined(XPMEM_CHAN_ARRAY)
#error "define XPMEM_CHAN_FIXED and XPMEM_CHAN_ARRAY before including xpmem_chan_msgs.h"
#endif

XPMEM_CHAN_ARRAY(INVALIDATE, K2D, xpmem_chan_invalidate, npeers,
		 peers, XPMEM_CHAN_MAX_PEERS)
XPMEM_CHAN_FIXED(ACKED, D2K, xpmem_chan_acked)
XPMEM_CHAN_ARRAY(TIMED_OUT, D2K, xpmem_chan_timed_out, nmissing,
		 missing, XPMEM_CHAN_MAX_PEERS)
XPMEM_CHAN_FIXED(REMOTE_FAULT, K2D, xpmem_chan_remote_fault)
XPMEM_CHAN_ARRAY(FAULT_REPLY, D2K, xpmem_chan_frames, nextents,
		 extents, XPMEM_CHAN_MAX_EXTENTS)
XPMEM_CHAN_FIXED(RESOLVE, D2K, xpmem_chan_resolve)
XPMEM_CHAN_ARRAY(RESOLVED, K2D, xpmem_chan_frames, nextents,
		 extents, XPMEM_CHAN_MAX_EXTENTS)
XPMEM_CHAN_FIXED(ZAP, D2K, xpmem_chan_zap)
XPMEM_CHAN_FIXED(ZAP_DONE, K2D, xpmem_chan_status)
XPMEM_CHAN_FIXED(HELLO, D2K, xpmem_chan_hello)
XPMEM_CHAN_FIXED(HELLO_REPLY, K2D, xpmem_chan_hello)
XPMEM_CHAN_FIXED(PEER_ACKED, D2K, xpmem_chan_peer_acked)
XPMEM_CHAN_FIXED(PEER_RESET, D2K, xpmem_chan_peer_reset)
XPMEM_CHAN_FIXED(QUERY, D2K, xpmem_chan_query)
XPMEM_CHAN_ARRAY(QUERY_REPLY, K2D, xpmem_chan_query_reply, nrecords,
		 records, XPMEM_CHAN_MAX_RECORDS)
XPMEM_CHAN_FIXED(REMOTE_GET, K2D, xpmem_chan_get)
XPMEM_CHAN_FIXED(REMOTE_GET_REPLY, D2K, xpmem_chan_get_reply)
XPMEM_CHAN_FIXED(CHECK_GET, D2K, xpmem_chan_get)
XPMEM_CHAN_FIXED(CHECK_GET_REPLY, K2D, xpmem_chan_get_reply)
XPMEM_CHAN_FIXED(PEER_WINDOW, D2K, xpmem_chan_peer_window)
XPMEM_CHAN_FIXED(PEER_WINDOW_DONE, K2D, xpmem_chan_status)
XPMEM_CHAN_FIXED(REMOTE_RELEASE, K2D, xpmem_chan_release)
XPMEM_CHAN_FIXED(RELEASE_GRANT, D2K, xpmem_chan_release)
XPMEM_CHAN_FIXED(RELEASE_GRANT_DONE, K2D, xpmem_chan_status)
