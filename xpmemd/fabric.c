// SPDX-License-Identifier: GPL-2.0
#include "fabric.h"
#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/filter.h>
#include <netdb.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define NRX		64
#define MAX_BACKLOG	4096
#define BACKLOG_AGE_NS	(10ull * 1000000000ull)	/* unsent longer: dropped */
#define MAX_BLOCKED	64
#define MAX_SOURCES	XPMEMD_MAX_PEERS	/* peer addresses the listener admits */
/* a BPF jump offset is 8 bits: the filter holds at most 254 addresses */
_Static_assert(MAX_SOURCES < 255, "source filter jump offsets");

struct rxbuf {
	struct fi_context ctx;	/* first: op_context points here */
	char *data;
	int unposted;		/* the provider refused it: retried on progress */
};

struct txbuf {
	struct fi_context ctx;
	struct txbuf *next;
	fi_addr_t dest;
	uint64_t queued;	/* CLOCK_MONOTONIC ns */
	size_t len;
	char data[];
};

struct fab {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_ep *ep;
	struct fid_av *av;
	struct fid_cq *cq;
	int wait_fd;
	size_t max_msg;
	struct rxbuf rx[NRX];
	int n_unposted;
	struct txbuf *backlog_head, *backlog_tail;
	size_t backlog;
	struct fab_stats st;
	uint16_t port;		/* listen port, network order */
	int filter;		/* admit only peers' addresses (fab_set_source_filter) */
	int nsources;
	uint32_t sources[MAX_SOURCES];	/* IPv4, host order */
};

#define FI_CHECK(call) do { int _r = (call); if (_r) { \
	log_err("%s: %s", #call, fi_strerror(-_r)); goto fail; } } while (0)

/*
 * One attempt to post b; a buffer the provider does not take now stays
 * unposted and is retried on every fab_progress (counted: fabric_rx_post_errors;
 * with none posted the daemon would hear nothing, which is logged).
 */
static int post_rx(struct fab *f, struct rxbuf *b)
{
	ssize_t r = fi_recv(f->ep, b->data, f->max_msg, NULL, FI_ADDR_UNSPEC, &b->ctx);

	if (r == 0) {
		if (b->unposted) {
			b->unposted = 0;
			f->n_unposted--;
		}
		return 0;
	}
	f->st.rx_post_errors++;
	if (!b->unposted) {
		b->unposted = 1;
		if (f->n_unposted++ == 0 || f->n_unposted == NRX)
			log_err("fabric: fi_recv: %s (%d of %d receive buffers not posted%s)",
				fi_strerror((int)-r), f->n_unposted, NRX,
				f->n_unposted == NRX ? ": nothing can be received" : "");
	}
	return (int)r;
}

static void repost_rx(struct fab *f)
{
	for (int i = 0; i < NRX && f->n_unposted; i++)
		if (f->rx[i].unposted)
			post_rx(f, &f->rx[i]);
}

static int env_default(const char *name, uint32_t value)
{
	const char *cur = getenv(name);
	char buf[16];

	if (cur && *cur) {
		log_info("fabric: %s=%s (from the environment)", name, cur);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%u", value);
	if (setenv(name, buf, 1) < 0) {
		log_err("fabric: setenv %s: %s", name, strerror(errno));
		return -1;
	}
	log_debug("fabric: %s=%s", name, buf);
	return 0;
}

int fab_memory_defaults(uint32_t msg_rx_size, uint32_t buffer_size)
{
	if (env_default("FI_OFI_RXM_MSG_RX_SIZE", msg_rx_size) ||
	    env_default("FI_OFI_RXM_BUFFER_SIZE", buffer_size))
		return -1;
	return 0;
}

struct fab *fab_open(const char *provider, const char *host, const char *port,
		     size_t max_msg)
{
	struct fi_info *hints = fi_allocinfo();
	struct fi_cq_attr cq_attr = { 0 };
	struct fi_av_attr av_attr = { 0 };
	struct fab *f = calloc(1, sizeof(*f));
	int ret;

	if (!hints || !f)
		goto fail;
	f->wait_fd = -1;
	f->max_msg = max_msg;
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG;
	hints->mode = FI_CONTEXT;
	hints->domain_attr->mr_mode = 0;
	hints->addr_format = FI_SOCKADDR_IN;
	hints->fabric_attr->prov_name = strdup(provider);
	f->port = htons((uint16_t)atoi(port));
	ret = fi_getinfo(FI_VERSION(1, 17), host, port, FI_SOURCE, hints, &f->info);
	if (ret) {
		log_err("fi_getinfo(provider %s, %s:%s): %s", provider, host, port,
			fi_strerror(-ret));
		goto fail;
	}
	log_info("libfabric provider %s, fabric %s, domain %s",
		 f->info->fabric_attr->prov_name, f->info->fabric_attr->name,
		 f->info->domain_attr->name);
	FI_CHECK(fi_fabric(f->info->fabric_attr, &f->fabric, NULL));
	FI_CHECK(fi_domain(f->fabric, f->info, &f->domain, NULL));
	cq_attr.format = FI_CQ_FORMAT_MSG;
	cq_attr.wait_obj = FI_WAIT_FD;
	cq_attr.size = 1024;
	FI_CHECK(fi_cq_open(f->domain, &cq_attr, &f->cq, NULL));
	av_attr.type = FI_AV_MAP;
	FI_CHECK(fi_av_open(f->domain, &av_attr, &f->av, NULL));
	FI_CHECK(fi_endpoint(f->domain, f->info, &f->ep, NULL));
	FI_CHECK(fi_ep_bind(f->ep, &f->av->fid, 0));
	FI_CHECK(fi_ep_bind(f->ep, &f->cq->fid, FI_TRANSMIT | FI_RECV));
	FI_CHECK(fi_enable(f->ep));
	FI_CHECK(fi_control(&f->cq->fid, FI_GETWAIT, &f->wait_fd));
	for (int i = 0; i < NRX; i++) {
		f->rx[i].data = malloc(max_msg);
		if (!f->rx[i].data)
			goto fail;
		if (post_rx(f, &f->rx[i])) {
			fi_cq_read(f->cq, NULL, 0);	/* progress, then once more */
			if (post_rx(f, &f->rx[i]))
				goto fail;
		}
	}
	fi_freeinfo(hints);
	return f;
fail:
	if (hints)
		fi_freeinfo(hints);
	fab_close(f);
	return NULL;
}

void fab_close(struct fab *f)
{
	if (!f)
		return;
	if (f->ep)
		fi_close(&f->ep->fid);
	if (f->av)
		fi_close(&f->av->fid);
	if (f->cq)
		fi_close(&f->cq->fid);
	if (f->domain)
		fi_close(&f->domain->fid);
	if (f->fabric)
		fi_close(&f->fabric->fid);
	if (f->info)
		fi_freeinfo(f->info);
	for (int i = 0; i < NRX; i++)
		free(f->rx[i].data);
	while (f->backlog_head) {
		struct txbuf *t = f->backlog_head;
		f->backlog_head = t->next;
		free(t);
	}
	free(f);
}

/*
 * The provider's listening socket: libfabric does not hand it out, so it is
 * found among our fds (a listening AF_INET socket bound to our port).
 */
static int find_listener(struct fab *f)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (!d)
		return -1;
	while ((e = readdir(d)) && found < 0) {
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);
		int fd = atoi(e->d_name), on = 0;
		socklen_t olen = sizeof(on);

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) < 0 || !on)
			continue;
		if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
		    sa.sin_family != AF_INET || sa.sin_port != f->port)
			continue;
		found = fd;
	}
	closedir(d);
	return found;
}

/*
 * A classic BPF socket filter on the listener that drops every packet whose
 * IPv4 source is not a configured peer's address: connections from anywhere
 * else never complete their handshake, so they cost the daemon no fd (the
 * provider accepts and keeps every connection it sees, without limit or
 * timeout). Accepted sockets inherit the filter; peers' packets pass it.
 */
static int attach_source_filter(struct fab *f)
{
	struct sock_filter prog[MAX_SOURCES + 3];
	struct sock_fprog fp = { .filter = prog };
	int n = 0, fd = find_listener(f);

	if (fd < 0) {
		log_err("fabric: peer_source_filter: the provider's IPv4 listening socket "
			"was not found (an IPv6 listen address, or another provider?); "
			"set peer_source_filter = no to run without the filter");
		return -1;
	}
	if (f->nsources) {
		/* A = IPv4 source address (host order) */
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							 SKF_NET_OFF + 12);
		for (int i = 0; i < f->nsources; i++)	/* match: jump to the accept */
			prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
								 f->sources[i],
								 (uint8_t)(f->nsources - i), 0);
	}
	/* no peer added yet: nothing is admitted */
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);		/* drop */
	if (f->nsources)
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
	fp.len = (unsigned short)n;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) < 0) {
		log_err("fabric: peer_source_filter: SO_ATTACH_FILTER on the listener: %s "
			"(set peer_source_filter = no to run without the filter)",
			strerror(errno));
		return -1;
	}
	log_debug("fabric: listener fd %d admits %d peer address(es)", fd, f->nsources);
	return 0;
}

int fab_set_source_filter(struct fab *f, int on)
{
	f->filter = on;
	return on ? attach_source_filter(f) : 0;
}

int fab_add_peer(struct fab *f, const char *host, const char *port, int numeric,
		 fi_addr_t *out)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
				  .ai_flags = numeric ? AI_NUMERICHOST | AI_NUMERICSERV : 0 };
	struct addrinfo *res;
	int ret = getaddrinfo(host, port, &hints, &res);

	if (ret) {
		log_err("resolve %s:%s: %s%s", host, port, gai_strerror(ret),
			numeric ? " (a numeric IPv4 address and port are required here)" : "");
		return -EINVAL;
	}
	ret = fi_av_insert(f->av, res->ai_addr, 1, out, 0, NULL);
	if (ret == 1 && f->nsources < MAX_SOURCES) {
		uint32_t a = ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
		int dup = 0;

		for (int i = 0; i < f->nsources; i++)
			dup |= f->sources[i] == a;
		if (!dup) {
			f->sources[f->nsources++] = a;
			if (f->filter && attach_source_filter(f)) {
				freeaddrinfo(res);
				return -EIO;
			}
		}
	}
	freeaddrinfo(res);
	if (ret != 1) {
		log_err("fi_av_insert %s:%s failed (%d)", host, port, ret);
		return -EINVAL;
	}
	return 0;
}

static int try_send(struct fab *f, struct txbuf *t)
{
	ssize_t r = fi_send(f->ep, t->data, t->len, NULL, t->dest, &t->ctx);

	if (r == 0)
		return 0;
	return (int)r;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Sends the provider could not take yet (-FI_EAGAIN: e.g. the connection to
 * that peer is still being set up, or the peer is down) wait here in order
 * per destination; a destination that is not ready never holds up the
 * others. Messages older than BACKLOG_AGE_NS are dropped (the protocol
 * retransmits what matters: invalidations, heartbeats, HELLO on contact).
 */
static void flush_backlog(struct fab *f)
{
	fi_addr_t blocked[MAX_BLOCKED];
	int nblocked = 0;
	uint64_t now = mono_ns();
	struct txbuf **pp = &f->backlog_head, *prev = NULL;

	while (*pp) {
		struct txbuf *t = *pp;
		int skip = 0, r;

		for (int i = 0; i < nblocked && !skip; i++)
			skip = blocked[i] == t->dest;
		if (skip && now - t->queued < BACKLOG_AGE_NS) {
			prev = t;
			pp = &t->next;
			continue;
		}
		r = skip ? -FI_ETIMEDOUT : try_send(f, t);
		if (r == -FI_EAGAIN && now - t->queued < BACKLOG_AGE_NS) {
			if (nblocked < MAX_BLOCKED)
				blocked[nblocked++] = t->dest;
			else
				break;	/* keep order: stop here */
			prev = t;
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		if (f->backlog_tail == t)
			f->backlog_tail = prev;
		f->backlog--;
		if (r == -FI_EAGAIN || r == -FI_ETIMEDOUT) {
			f->st.tx_dropped++;
			free(t);
		} else if (r) {
			f->st.tx_errors++;
			free(t);
		}
		/* r == 0: the completion frees t */
	}
}

static int dest_backlogged(struct fab *f, fi_addr_t dest)
{
	for (struct txbuf *t = f->backlog_head; t; t = t->next)
		if (t->dest == dest)
			return 1;
	return 0;
}

/* a send buffer holding a copy of buf (queued: when it entered the backlog) */
static struct txbuf *txbuf_new(fi_addr_t dest, const void *buf, size_t len, uint64_t queued)
{
	struct txbuf *t = malloc(sizeof(*t) + len);

	if (!t)
		return NULL;
	t->dest = dest;
	t->len = len;
	t->next = NULL;
	t->queued = queued;
	memcpy(t->data, buf, len);
	return t;
}

int fab_try_send(struct fab *f, fi_addr_t dest, const void *buf, size_t len)
{
	struct txbuf *t = txbuf_new(dest, buf, len, 0);
	int r;

	if (!t)
		return -ENOMEM;
	r = try_send(f, t);
	if (r == 0) {
		f->st.tx_msgs++;
		return 0;
	}
	free(t);
	if (r == -FI_EAGAIN)
		return -EAGAIN;
	f->st.tx_errors++;
	log_debug("fi_send: %s", fi_strerror(-r));
	return r < 0 ? r : -EIO;
}

int fab_send(struct fab *f, fi_addr_t dest, const void *buf, size_t len)
{
	struct txbuf *t = txbuf_new(dest, buf, len, mono_ns());
	int r;

	if (!t)
		return -ENOMEM;
	f->st.tx_msgs++;
	if (!dest_backlogged(f, dest)) {
		r = try_send(f, t);
		if (r == 0)
			return 0;
		if (r != -FI_EAGAIN) {
			f->st.tx_errors++;
			free(t);
			return r;
		}
	}
	if (f->backlog >= MAX_BACKLOG) {
		f->st.tx_dropped++;
		free(t);
		return -ENOBUFS;
	}
	if (f->backlog_tail)
		f->backlog_tail->next = t;
	else
		f->backlog_head = t;
	f->backlog_tail = t;
	f->backlog++;
	return 0;
}

static int is_rx(struct fab *f, void *ctx)
{
	return (char *)ctx >= (char *)&f->rx[0] && (char *)ctx < (char *)&f->rx[NRX];
}

/*
 * errno is cleared before every fi_cq_read: it drives the tcp provider's
 * progress, and libfabric 1.17's tcp provider (xnet_recv_cm_msg) reads a
 * connection request with recv() and, when recv returns 0 (the peer closed
 * before sending its CM message), returns whatever errno was left over. A
 * stale EAGAIN (ours or the provider's) keeps that connection forever in
 * CLOSE_WAIT, one fd each, re-read on every progress pass: a flood of
 * connect-and-close to the fabric port leaked fds and spun the loop
 * (test_exposure flood). Fixed upstream in 2025 (ofiwg/libfabric#10926).
 */
int fab_progress(struct fab *f, fab_recv_cb cb, void *arg, int budget)
{
	struct fi_cq_msg_entry comp[16];
	int done = 0;

	repost_rx(f);
	for (;;) {
		ssize_t n;

		if (budget && done >= budget) {
			flush_backlog(f);
			return 1;	/* more may wait: the caller comes back at once */
		}
		errno = 0;
		n = fi_cq_read(f->cq, comp, 16);

		if (n == -FI_EAGAIN)
			break;
		if (n == -FI_EAVAIL) {
			struct fi_cq_err_entry err = { 0 };

			done++;
			if (fi_cq_readerr(f->cq, &err, 0) != 1)
				break;
			if (is_rx(f, err.op_context)) {
				f->st.rx_errors++;
				post_rx(f, (struct rxbuf *)err.op_context);
			} else {
				f->st.tx_errors++;
				log_debug("send failed: %s", fi_strerror(err.err));
				free(err.op_context);
			}
			continue;
		}
		if (n < 0) {
			f->st.cq_errors++;
			log_err("fi_cq_read: %s", fi_strerror((int)-n));
			break;
		}
		done += (int)n;
		for (ssize_t i = 0; i < n; i++) {
			if (is_rx(f, comp[i].op_context)) {
				struct rxbuf *b = comp[i].op_context;

				f->st.rx_msgs++;
				cb(arg, b->data, comp[i].len);
				post_rx(f, b);
			} else {
				free(comp[i].op_context);
			}
		}
	}
	flush_backlog(f);
	return 0;
}

int fab_wait_fd(struct fab *f)
{
	return f->wait_fd;
}

int fab_trywait(struct fab *f)
{
	struct fid *fids[1] = { &f->cq->fid };

	/* a backlog is retried on the caller's short timeout, not by spinning */
	return fi_trywait(f->fabric, fids, 1) == FI_SUCCESS;
}

size_t fab_backlog(struct fab *f)
{
	return f->backlog;
}

const char *fab_provider_name(struct fab *f)
{
	return f->info->fabric_attr->prov_name;
}

void fab_get_stats(struct fab *f, struct fab_stats *s)
{
	*s = f->st;
}
