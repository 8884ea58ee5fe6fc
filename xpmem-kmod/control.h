/* SPDX-License-Identifier: GPL-2.0 */
/* HELLO, PEER_RESET, QUERY, CHECK_GET: their rows of the channel's table. */
#ifndef _XPMEM_CONTROL_H
#define _XPMEM_CONTROL_H

#include "channel.h"

extern const struct xpmem_chan_handler xpmem_control_chan[];

#endif /* _XPMEM_CONTROL_H */
