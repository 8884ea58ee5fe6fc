/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel <-> xpmemd channel, /dev/xpmem_channel (channel.c): a
 * transport only. The files that handle daemon messages give it their rows
 * (struct xpmem_chan_handler); main.c registers them.
 */
#ifndef _XPMEM_CHANNEL_H
#define _XPMEM_CHANNEL_H

#include <linux/gfp.h>
#include <linux/types.h>

#include <xpmem/xpmem_channel.h>

extern u32 xpmem_node_id;		/* this node, set by HELLO */
extern u64 xpmem_incarnation;		/* random per module load */
int xpmem_chan_init(void);
void xpmem_chan_exit(void);
bool xpmem_chan_connected(void);
void *xpmem_chan_alloc(u16 type, size_t body_len, u64 seq);
void *xpmem_chan_alloc_gfp(u16 type, size_t body_len, u64 seq, gfp_t gfp);
void xpmem_chan_free(void *msg);
#define XPMEM_CHAN_BODY(hdr)	((void *)((struct xpmem_chan_hdr *)(hdr) + 1))
int xpmem_chan_post(void *msg);
int xpmem_chan_call(void *msg, u16 reply_type, u64 key, unsigned int ms,
		    bool killable, void **reply);
u64 xpmem_chan_next_seq(void);
struct seq_file;
int xpmem_chan_reply(const struct xpmem_chan_hdr *req, u16 type,
		     const void *body, size_t len);
int xpmem_chan_status(const struct xpmem_chan_hdr *req, u16 type, int error);
bool xpmem_chan_complete(u16 type, u64 key, struct xpmem_chan_hdr *hdr);
void xpmem_chan_hello_done(u64 daemon_incarnation);
void xpmem_chan_show(struct seq_file *m);

/*
 * One row of the channel's table: the handler of a daemon -> kernel type,
 * run from write() once channel.c has checked the framing and the body's
 * size (the type's row of xpmem_chan_msgs.h). Returns 0 or -errno for
 * write(); sets *taken if it kept @h (a reply handed to its waiter).
 */
struct xpmem_chan_handler {
	u16 type;
	int (*handle)(struct xpmem_chan_hdr *h, bool *taken);
};

int xpmem_chan_register(const struct xpmem_chan_handler *rows);

#endif /* _XPMEM_CHANNEL_H */
