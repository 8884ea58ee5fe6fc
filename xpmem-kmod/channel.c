// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel <-> xpmemd channel, /dev/xpmem_channel
 * (include/uapi/xpmem/xpmem_channel.h).
 *
 * The transport only: framing, the queue of kernel messages, the waiters
 * of kernel requests, the file operations. It names no handler: each
 * daemon -> kernel type is one row, registered by the file that handles it
 * (xpmem_chan_register(), wired by main.c), and its body size rule is its
 * row of include/uapi/xpmem/xpmem_chan_msgs.h, which xpmemd expands too.
 *
 * One opener at a time, CAP_SYS_ADMIN only. read() hands out one queued
 * kernel message per call, write() takes one daemon message per call. The
 * kernel's own requests (REMOTE_GET, REMOTE_FAULT, INVALIDATE) register a
 * waiter keyed by seq (generation for INVALIDATE) and sleep with a timeout;
 * their replies' handlers hand them over with xpmem_chan_complete(). The
 * daemon's requests are answered from write() itself, except RESOLVE,
 * which runs on a workqueue (rmap.c) because it may have to wait for an
 * invalidation that in turn waits for this daemon.
 *
 * Nothing the daemon writes is trusted: framing, type, body size and counts
 * are checked here, field contents by each handler.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include <xpmem/xpmem_channel.h>

#include "channel.h"

u32 xpmem_node_id;
u64 xpmem_incarnation;

/* Messages the daemon has not read yet, at most. */
#define XPMEM_CHAN_MAX_QUEUED	4096

struct xpmem_chan_msg {
	struct list_head node;
	struct xpmem_chan_hdr hdr;	/* followed by the body */
};

/* A kernel request waiting for its reply. Lives on the waiter's stack. */
struct xpmem_chan_waiter {
	struct list_head node;
	u16 type;			/* reply type (ACKED: ACKED or TIMED_OUT) */
	u64 key;			/* seq, or generation for INVALIDATE */
	bool done;
	int status;			/* 0: reply valid; -ENOTCONN: closed */
	struct xpmem_chan_hdr *reply;	/* whole reply message, kmalloc */
};

static struct {
	spinlock_t lock;		/* everything below */
	struct list_head outq;
	unsigned int nqueued;
	struct list_head waiters;
	bool open;
	bool hello;
	u64 daemon_incarnation;
	/* counters (debugfs "channel") */
	u64 nr_tx;
	u64 nr_rx;
	u64 nr_malformed;
	u64 nr_stale;
	u64 nr_dropped;
} chan = {
	.lock = __SPIN_LOCK_UNLOCKED(chan.lock),
	.outq = LIST_HEAD_INIT(chan.outq),
	.waiters = LIST_HEAD_INIT(chan.waiters),
};

static DECLARE_WAIT_QUEUE_HEAD(xpmem_chan_readq);
static DECLARE_WAIT_QUEUE_HEAD(xpmem_chan_waitq);
static atomic64_t xpmem_chan_seq;

/**
 * xpmem_chan_connected() - is a daemon's channel open?
 *
 * Return: true while /dev/xpmem_channel is open.
 */
bool xpmem_chan_connected(void)
{
	return READ_ONCE(chan.open);
}

/**
 * xpmem_chan_next_seq() - a new sequence number for a kernel request
 *
 * Return: the next value of the kernel's request sequence.
 */
u64 xpmem_chan_next_seq(void)
{
	return atomic64_inc_return(&xpmem_chan_seq);
}

/**
 * xpmem_chan_alloc_gfp() - a zeroed channel message
 * @type: the message type
 * @body_len: bytes of body after the header
 * @seq: the header's sequence number
 * @gfp: allocation flags; the mmu notifier passes GFP_ATOMIC, as it must
 *	not enter reclaim
 *
 * Return: the header (the body follows it), or NULL if @body_len is too
 * large for one message or there is no memory.
 */
void *xpmem_chan_alloc_gfp(u16 type, size_t body_len, u64 seq, gfp_t gfp)
{
	struct xpmem_chan_msg *m;

	if (body_len > XPMEM_CHAN_MAX_MSG - sizeof(m->hdr))
		return NULL;
	m = kzalloc(sizeof(*m) + body_len, gfp);
	if (!m)
		return NULL;
	m->hdr.magic = XPMEM_CHAN_MAGIC;
	m->hdr.version = XPMEM_CHAN_VERSION;
	m->hdr.type = type;
	m->hdr.len = sizeof(m->hdr) + body_len;
	m->hdr.seq = seq;
	return &m->hdr;
}

/**
 * xpmem_chan_alloc() - xpmem_chan_alloc_gfp() with GFP_KERNEL
 * @type: the message type
 * @body_len: bytes of body after the header
 * @seq: the header's sequence number
 *
 * Return: the header, or NULL.
 */
void *xpmem_chan_alloc(u16 type, size_t body_len, u64 seq)
{
	return xpmem_chan_alloc_gfp(type, body_len, seq, GFP_KERNEL);
}

/**
 * xpmem_chan_free() - free a message
 * @msg: from xpmem_chan_alloc() or a reply of xpmem_chan_call(); may be NULL
 */
void xpmem_chan_free(void *msg)
{
	if (msg)
		kfree(container_of(msg, struct xpmem_chan_msg, hdr));
}

/* Queue under chan.lock. False if the channel is closed or full. */
static bool xpmem_chan_queue_locked(struct xpmem_chan_msg *m)
	__must_hold(&chan.lock)
{
	lockdep_assert_held(&chan.lock);
	if (!chan.open || chan.nqueued >= XPMEM_CHAN_MAX_QUEUED) {
		chan.nr_dropped++;
		return false;
	}
	list_add_tail(&m->node, &chan.outq);
	chan.nqueued++;
	chan.nr_tx++;
	return true;
}

/**
 * xpmem_chan_post() - queue a message for the daemon
 * @msg: from xpmem_chan_alloc(); consumed in every case
 *
 * Return: 0, or -ENOTCONN if no daemon listens or its queue is full (the
 * message is dropped and counted).
 */
int xpmem_chan_post(void *msg)
{
	struct xpmem_chan_msg *m = container_of(msg, struct xpmem_chan_msg, hdr);
	bool ok;

	spin_lock(&chan.lock);
	ok = xpmem_chan_queue_locked(m);
	spin_unlock(&chan.lock);
	if (!ok) {
		kfree(m);
		return -ENOTCONN;
	}
	wake_up_interruptible(&xpmem_chan_readq);
	return 0;
}

/**
 * xpmem_chan_call() - send a request and sleep for its reply
 * @msg: the request; consumed in every case
 * @reply_type: the reply's type (for INVALIDATE: XPMEM_CHAN_ACKED, which
 *	TIMED_OUT answers too)
 * @key: the reply's seq, or the generation for INVALIDATE
 * @ms: how long to wait at most
 * @killable: a fatal signal ends the wait (-EINTR)
 * @reply: on 0, the whole reply message (free it with xpmem_chan_free())
 *
 * Return: 0, -ENOTCONN (no daemon, or it closed the channel), -ETIMEDOUT or
 * -EINTR.
 */
int xpmem_chan_call(void *msg, u16 reply_type, u64 key, unsigned int ms,
		    bool killable, void **reply)
{
	struct xpmem_chan_msg *m = container_of(msg, struct xpmem_chan_msg, hdr);
	struct xpmem_chan_waiter w = { .type = reply_type, .key = key };
	unsigned long timeout = msecs_to_jiffies(ms);
	long left;
	bool done;

	spin_lock(&chan.lock);
	if (!xpmem_chan_queue_locked(m)) {
		spin_unlock(&chan.lock);
		kfree(m);
		return -ENOTCONN;
	}
	list_add_tail(&w.node, &chan.waiters);
	spin_unlock(&chan.lock);
	wake_up_interruptible(&xpmem_chan_readq);

	if (killable)
		left = wait_event_killable_timeout(xpmem_chan_waitq,
						   READ_ONCE(w.done), timeout);
	else
		left = wait_event_timeout(xpmem_chan_waitq, READ_ONCE(w.done),
					  timeout);

	spin_lock(&chan.lock);
	done = w.done;
	if (!done)
		list_del(&w.node);
	spin_unlock(&chan.lock);

	if (done) {
		if (w.status)
			return w.status;
		*reply = w.reply;
		return 0;
	}
	return left < 0 ? -EINTR : -ETIMEDOUT;
}

/**
 * xpmem_chan_complete() - hand a reply to the kernel request waiting for it
 * @type: the waiter's reply type
 * @key: the waiter's key (the request's seq, or its generation)
 * @hdr: the whole reply message
 *
 * Return: true if a waiter took @hdr (it is the waiter's to free now).
 */
bool xpmem_chan_complete(u16 type, u64 key, struct xpmem_chan_hdr *hdr)
{
	struct xpmem_chan_waiter *w;
	bool found = false;

	spin_lock(&chan.lock);
	list_for_each_entry(w, &chan.waiters, node) {
		if (w->key != key || w->type != type)
			continue;
		list_del(&w->node);
		w->reply = hdr;
		w->status = 0;
		WRITE_ONCE(w->done, true);
		found = true;
		break;
	}
	if (!found)
		chan.nr_stale++;
	spin_unlock(&chan.lock);
	if (found)
		wake_up_all(&xpmem_chan_waitq);
	return found;
}

/**
 * xpmem_chan_reply() - answer a daemon request, echoing its seq
 * @req: the request
 * @type: the reply's type
 * @body: the reply's body
 * @len: its size
 *
 * Return: 0, -ENOMEM or xpmem_chan_post()'s error.
 */
int xpmem_chan_reply(const struct xpmem_chan_hdr *req, u16 type,
		     const void *body, size_t len)
{
	struct xpmem_chan_hdr *h = xpmem_chan_alloc(type, len, req->seq);

	if (!h)
		return -ENOMEM;
	memcpy(h + 1, body, len);
	return xpmem_chan_post(h);
}

/**
 * xpmem_chan_status() - answer a daemon request with a status
 * @req: the request
 * @type: the reply's type
 * @error: 0 or the -errno carried in the reply's struct xpmem_chan_status
 *
 * Return: xpmem_chan_reply()'s result.
 */
int xpmem_chan_status(const struct xpmem_chan_hdr *req, u16 type, int error)
{
	struct xpmem_chan_status st = { .error = error };

	return xpmem_chan_reply(req, type, &st, sizeof(st));
}

/**
 * xpmem_chan_hello_done() - HELLO was answered
 * @daemon_incarnation: the incarnation the daemon runs (shown in debugfs)
 */
void xpmem_chan_hello_done(u64 daemon_incarnation)
{
	spin_lock(&chan.lock);
	chan.hello = true;
	chan.daemon_incarnation = daemon_incarnation;
	spin_unlock(&chan.lock);
}

/* ---- the message table -------------------------------------------------- */

/* The size rule of one type: its row of xpmem_chan_msgs.h. */
struct xpmem_chan_layout {
	u32 body;		/* fixed part; 0: no such type */
	u32 count;		/* offset of the __u32 element count */
	u32 elem;		/* size of one trailing element, 0 if none */
	u32 max;		/* most elements */
	u32 dir;		/* XPMEM_CHAN_DIR_K2D or _D2K */
};

/*
 * An ARRAY row's count is a __u32 (xpmem_chan_body_size() reads four
 * bytes): xpmemd's build asserts it for every row (xpmemd/chan.c), the
 * kernel refuses every message of a row where it is not
 * (xpmem_chan_count_sizes).
 */
#define XPMEM_CHAN_FIXED(name, d, type)					\
	[XPMEM_CHAN_##name] = {						\
		.body = sizeof(struct type),				\
		.dir = XPMEM_CHAN_DIR_##d,				\
	},
#define XPMEM_CHAN_ARRAY(name, d, type, cnt, arr, mx)			\
	[XPMEM_CHAN_##name] = {						\
		.body = sizeof(struct type),				\
		.count = offsetof(struct type, cnt),			\
		.elem = sizeof_field(struct type, arr[0]),		\
		.max = mx,						\
		.dir = XPMEM_CHAN_DIR_##d,				\
	},
static const struct xpmem_chan_layout
xpmem_chan_layouts[XPMEM_CHAN_TYPE_MAX + 1] = {
#include <xpmem/xpmem_chan_msgs.h>
};

#undef XPMEM_CHAN_FIXED
#undef XPMEM_CHAN_ARRAY

/* The size of each ARRAY row's count: 4, or its messages are refused. */
#define XPMEM_CHAN_FIXED(name, d, type)
#define XPMEM_CHAN_ARRAY(name, d, type, cnt, arr, mx)			\
	[XPMEM_CHAN_##name] = sizeof_field(struct type, cnt),
static const u8 xpmem_chan_count_sizes[XPMEM_CHAN_TYPE_MAX + 1] = {
#include <xpmem/xpmem_chan_msgs.h>
};

#undef XPMEM_CHAN_FIXED
#undef XPMEM_CHAN_ARRAY

/* The registered handlers, by type; written before the device exists. */
static const struct xpmem_chan_handler *
xpmem_chan_rows[XPMEM_CHAN_TYPE_MAX + 1] __ro_after_init;

/**
 * xpmem_chan_register() - take the rows of the types one file handles
 * @rows: handlers, ending with a row of type 0
 *
 * Called before xpmem_chan_init() (the device does not exist yet). Each
 * type must be a daemon -> kernel one of xpmem_chan_msgs.h and have one row.
 *
 * Return: 0 or -EINVAL.
 */
int xpmem_chan_register(const struct xpmem_chan_handler *rows)
{
	const struct xpmem_chan_handler *r;

	for (r = rows; r->type; r++) {
		if (WARN_ON(r->type > XPMEM_CHAN_TYPE_MAX || !r->handle ||
			    xpmem_chan_layouts[r->type].dir !=
			    XPMEM_CHAN_DIR_D2K || xpmem_chan_rows[r->type]))
			return -EINVAL;
		xpmem_chan_rows[r->type] = r;
	}
	return 0;
}

/* Expected body size of a daemon message, or -EINVAL. */
static long xpmem_chan_body_size(const struct xpmem_chan_hdr *h, size_t blen)
{
	const struct xpmem_chan_layout *l;
	u32 n;

	/* unknown, unhandled, or a kernel->daemon type */
	if (h->type > XPMEM_CHAN_TYPE_MAX || !xpmem_chan_rows[h->type])
		return -EINVAL;
	l = &xpmem_chan_layouts[h->type];
	if (!l->elem)
		return l->body;
	/* a row whose count is not a __u32 is refused, not misread */
	if (blen < l->body || xpmem_chan_count_sizes[h->type] != sizeof(n))
		return -EINVAL;
	memcpy(&n, (const char *)(h + 1) + l->count, sizeof(n));
	if (n > l->max)
		return -EINVAL;
	return l->body + (size_t)n * l->elem;
}

static int xpmem_chan_validate(const struct xpmem_chan_hdr *h, size_t len)
{
	long want;

	if (h->magic != XPMEM_CHAN_MAGIC || h->version != XPMEM_CHAN_VERSION ||
	    h->len != len || h->flags)
		return -EINVAL;
	want = xpmem_chan_body_size(h, len - sizeof(*h));
	if (want < 0 || want != len - sizeof(*h))
		return -EINVAL;
	return 0;
}

/* ---- file operations ---------------------------------------------------- */

static int xpmem_chan_open(struct inode *inode, struct file *file)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	spin_lock(&chan.lock);
	if (chan.open) {
		spin_unlock(&chan.lock);
		return -EBUSY;
	}
	chan.open = true;
	chan.hello = false;
	spin_unlock(&chan.lock);
	return nonseekable_open(inode, file);
}

/*
 * The daemon went away: drop what it did not read and fail every waiter at
 * once (remote gets/faults fail, invalidations take the timeout path).
 */
static int xpmem_chan_release(struct inode *inode, struct file *file)
{
	struct xpmem_chan_waiter *w, *tw;
	struct xpmem_chan_msg *m, *tm;
	LIST_HEAD(drop);

	spin_lock(&chan.lock);
	chan.open = false;
	chan.hello = false;
	list_splice_init(&chan.outq, &drop);
	chan.nqueued = 0;
	list_for_each_entry_safe(w, tw, &chan.waiters, node) {
		list_del(&w->node);
		w->status = -ENOTCONN;
		WRITE_ONCE(w->done, true);
	}
	spin_unlock(&chan.lock);
	wake_up_all(&xpmem_chan_waitq);

	list_for_each_entry_safe(m, tm, &drop, node)
		kfree(m);
	return 0;
}

static ssize_t xpmem_chan_read(struct file *file, char __user *buf,
			       size_t count, loff_t *ppos)
{
	struct xpmem_chan_msg *m;
	u32 len;
	int ret;

	for (;;) {
		spin_lock(&chan.lock);
		m = list_first_entry_or_null(&chan.outq, struct xpmem_chan_msg,
					     node);
		if (m) {
			len = m->hdr.len;
			if (len > count) {
				spin_unlock(&chan.lock);
				return -EMSGSIZE;
			}
			list_del(&m->node);
			chan.nqueued--;
		}
		spin_unlock(&chan.lock);
		if (m)
			break;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(xpmem_chan_readq,
					       !list_empty_careful(&chan.outq));
		if (ret)
			return ret;
	}

	if (copy_to_user(buf, &m->hdr, len)) {
		spin_lock(&chan.lock);
		list_add(&m->node, &chan.outq);
		chan.nqueued++;
		spin_unlock(&chan.lock);
		return -EFAULT;
	}
	kfree(m);
	return len;
}

static ssize_t xpmem_chan_write(struct file *file, const char __user *buf,
				size_t count, loff_t *ppos)
{
	struct xpmem_chan_msg *m;
	bool taken = false;
	int ret;

	if (count < sizeof(struct xpmem_chan_hdr) || count > XPMEM_CHAN_MAX_MSG)
		return -EINVAL;
	m = kmalloc(sizeof(*m) - sizeof(m->hdr) + count, GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	if (copy_from_user(&m->hdr, buf, count)) {
		kfree(m);
		return -EFAULT;
	}
	ret = xpmem_chan_validate(&m->hdr, count);
	if (ret) {
		spin_lock(&chan.lock);
		chan.nr_malformed++;
		spin_unlock(&chan.lock);
	} else {
		spin_lock(&chan.lock);
		chan.nr_rx++;
		spin_unlock(&chan.lock);
		ret = xpmem_chan_rows[m->hdr.type]->handle(&m->hdr, &taken);
	}
	if (!taken)
		kfree(m);
	return ret ? ret : count;
}

static __poll_t xpmem_chan_poll(struct file *file, poll_table *wait)
{
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &xpmem_chan_readq, wait);
	if (!list_empty_careful(&chan.outq))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static const struct file_operations xpmem_chan_fops = {
	.owner		= THIS_MODULE,
	.open		= xpmem_chan_open,
	.release	= xpmem_chan_release,
	.read		= xpmem_chan_read,
	.write		= xpmem_chan_write,
	.poll		= xpmem_chan_poll,
};

static struct miscdevice xpmem_chan_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= XPMEM_CHAN_DEVICE_NAME,
	.fops	= &xpmem_chan_fops,
	.mode	= 0600,
};

/**
 * xpmem_chan_show() - debugfs "channel": the channel's state and counters
 * @m: the seq_file
 */
void xpmem_chan_show(struct seq_file *m)
{
	spin_lock(&chan.lock);
	seq_printf(m, "open %d\nhello %d\nnode_id %u\nincarnation %llu\n"
		   "daemon_incarnation %llu\nqueued %u\ntx %llu\nrx %llu\n"
		   "malformed %llu\nstale_replies %llu\ndropped %llu\n",
		   chan.open, chan.hello, READ_ONCE(xpmem_node_id),
		   xpmem_incarnation, chan.daemon_incarnation, chan.nqueued,
		   chan.nr_tx, chan.nr_rx, chan.nr_malformed, chan.nr_stale,
		   chan.nr_dropped);
	spin_unlock(&chan.lock);
}

/**
 * xpmem_chan_init() - pick this load's instance, register the channel device
 *
 * Return: 0 or misc_register()'s error.
 */
int xpmem_chan_init(void)
{
	xpmem_incarnation = get_random_u64() >> 1 ?: 1;
	return misc_register(&xpmem_chan_misc);
}

/**
 * xpmem_chan_exit() - deregister the channel device
 */
void xpmem_chan_exit(void)
{
	misc_deregister(&xpmem_chan_misc);
}
