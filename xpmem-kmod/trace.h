/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM xpmem

#if !defined(_XPMEM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _XPMEM_TRACE_H

#include <linux/tracepoint.h>

/* A fault on an attachment: @mapped pages installed, @result vm_fault_t. */
TRACE_EVENT(xpmem_fault,
	    TP_PROTO(s64 segid, unsigned long addr, unsigned long src,
		     unsigned int mapped, int result),
	    TP_ARGS(segid, addr, src, mapped, result),
	    TP_STRUCT__entry(__field(s64, segid)
			     __field(unsigned long, addr)
			     __field(unsigned long, src)
			     __field(unsigned int, mapped)
			     __field(int, result)),
	    TP_fast_assign(__entry->segid = segid;
			   __entry->addr = addr;
			   __entry->src = src;
			   __entry->mapped = mapped;
			   __entry->result = result;),
	    TP_printk("segid=0x%llx addr=0x%lx src=0x%lx mapped=%u result=%d",
		      __entry->segid, __entry->addr, __entry->src,
		      __entry->mapped, __entry->result)
);

/* The source range [start, end) of a segment was invalidated. */
TRACE_EVENT(xpmem_invalidate,
	    TP_PROTO(s64 segid, unsigned long start, unsigned long end,
		     int event),
	    TP_ARGS(segid, start, end, event),
	    TP_STRUCT__entry(__field(s64, segid)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(int, event)),
	    TP_fast_assign(__entry->segid = segid;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->event = event;),
	    TP_printk("segid=0x%llx start=0x%lx end=0x%lx event=%d",
		      __entry->segid, __entry->start, __entry->end,
		      __entry->event)
);

/* Room for the longest name of xpmem_fails.h and its NUL. */
#define XPMEM_FAIL_NAME_MAX	24

/*
 * A failure exit of the fault, resolve or invalidate paths (stats.h): the
 * @path and @reason names of xpmem_fails.h, the segment, the faulting
 * address or segment offset, and the -errno returned or that caused it (0
 * if none).
 */
TRACE_EVENT(xpmem_fail,
	    TP_PROTO(const char *path, const char *reason, s64 segid,
		     unsigned long addr, int err),
	    TP_ARGS(path, reason, segid, addr, err),
	    TP_STRUCT__entry(__array(char, path, XPMEM_FAIL_NAME_MAX)
			     __array(char, reason, XPMEM_FAIL_NAME_MAX)
			     __field(s64, segid)
			     __field(unsigned long, addr)
			     __field(int, err)),
	    TP_fast_assign(strscpy(__entry->path, path, XPMEM_FAIL_NAME_MAX);
			   strscpy(__entry->reason, reason,
				   XPMEM_FAIL_NAME_MAX);
			   __entry->segid = segid;
			   __entry->addr = addr;
			   __entry->err = err;),
	    TP_printk("path=%s reason=%s segid=0x%llx addr=0x%lx err=%d",
		      __entry->path, __entry->reason, __entry->segid,
		      __entry->addr, __entry->err)
);

#endif /* _XPMEM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
