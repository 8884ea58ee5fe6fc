// SPDX-License-Identifier: GPL-2.0
/* xpmemctl: command line client of the xpmemd gRPC control API. */
#include "config.h"
#include "grpcx.h"
#include "keys.h"
#include "log.h"
#include "state.h"
#include "xpmem.pb-c.h"

#include <getopt.h>
#include <grpc/grpc_security.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int json_out;
static int timeout_ms = 5000;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xpmemctl [options] COMMAND [ARGS]\n"
		"commands (Management API on the local unix socket):\n"
		"  status                 daemon status\n"
		"  peers                  configured peers and their liveness\n"
		"  segments               segments exported by this node\n"
		"  mappings [NODE]        remote peers' mappings of local segments\n"
		"  stats                  counters\n"
		"  fence NODE             declare NODE dead; release what it holds\n"
		"                         (root or admin_group only)\n"
		"  keygen [-o FILE]       new node key: secret key to FILE (default\n"
		"                         " XPMEMD_DEFAULT_NODE_KEY ", 0600, never overwritten),\n"
		"                         public key to FILE.pub and stdout (first argument)\n"
		"options:\n"
		"  -c, --config PATH      xpmemd.conf (for its grpc_socket); default\n"
		"                         $XPMEM_DAEMON_CONF, else " XPMEMD_DEFAULT_CONFIG "\n"
		"  -s, --socket PATH      Management socket (overrides the config)\n"
		"  -j, --json             JSON output\n"
		"  -t, --timeout-ms MS    call timeout (default 5000)\n");
}

static int fail_rpc(const char *what, grpc_status_code st, const char *err)
{
	if (json_out) {
		json_t *o = json_pack("{s:s,s:s,s:s}", "error", grpcx_code_name(st),
				      "method", what, "message", err);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	}
	fprintf(stderr, "xpmemctl: %s: %s: %s\n", what, grpcx_code_name(st), err);
	return 1;
}

static void print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
}

#define CALL(ch, name, req, rtype, rdesc, out) \
	({ char err_[512]; ProtobufCMessage *m_ = NULL; \
	   grpc_status_code st_ = grpcx_call(ch, name, &(req).base, &rdesc, &m_, timeout_ms, \
					     err_, sizeof(err_)); \
	   out = (rtype *)m_; \
	   st_ == GRPC_STATUS_OK ? 0 : fail_rpc(strrchr(name, '/') + 1, st_, err_); })

static int cmd_status(grpc_channel *ch)
{
	Xpmem__StatusRequest req = XPMEM__STATUS_REQUEST__INIT;
	Xpmem__StatusReply *r;

	if (CALL(ch, "/xpmem.Management/Status", req, Xpmem__StatusReply,
		 xpmem__status_reply__descriptor, r))
		return 1;
	if (json_out) {
		print_json(json_pack("{s:i,s:I,s:s,s:s,s:b,s:I,s:i,s:i,s:I,s:I,s:s,s:I,s:I,s:I,s:o}",
				     "node_id", (int)r->node_id, "incarnation", (json_int_t)r->incarnation,
				     "provider", r->provider, "listen", r->listen, "ready", r->ready,
				     "uptime_ms", (json_int_t)r->uptime_ms,
				     "peers_total", (int)r->peers_total, "peers_alive", (int)r->peers_alive,
				     "pending_invalidations", (json_int_t)r->pending_invalidations,
				     "timed_out_outstanding", (json_int_t)r->timed_out_outstanding,
				     "version", r->version,
				     "quarantine_entries", (json_int_t)r->quarantine_entries,
				     "quarantine_pages", (json_int_t)r->quarantine_pages,
				     "rss_kb", (json_int_t)r->rss_kb,
				     "kernel_failures", r->kernel_failures_known ?
				     json_integer((json_int_t)r->kernel_failures) : json_null()));
	} else {
		printf("node           %u\n", r->node_id);
		printf("state          %s\n", r->ready ? "ready" : "starting");
		printf("version        %s\n", r->version);
		printf("incarnation    %llu\n", (unsigned long long)r->incarnation);
		printf("provider       %s\n", r->provider);
		printf("listen         %s\n", r->listen);
		printf("uptime         %.1f s\n", (double)r->uptime_ms / 1000.0);
		printf("memory         %.1f MB resident\n", (double)r->rss_kb / 1024.0);
		printf("peers          %u alive / %u\n", r->peers_alive, r->peers_total);
		printf("invalidations  %llu pending, %llu timed out awaiting late acks\n",
		       (unsigned long long)r->pending_invalidations,
		       (unsigned long long)r->timed_out_outstanding);
		if (r->quarantine_entries)
			printf("quarantine     %llu ranges, %llu pages held for peers that did not ack; module unload refused until they ack or rejoin\n",
			       (unsigned long long)r->quarantine_entries,
			       (unsigned long long)r->quarantine_pages);
		else
			printf("quarantine     empty\n");
		if (!r->kernel_failures_known)
			printf("failures       unknown (the kernel did not answer QUERY FAILURES)\n");
		else if (r->kernel_failures)
			printf("failures       %llu in the kernel's fault, resolve and invalidate paths (by reason: xpmemctl stats, kfail_*)\n",
			       (unsigned long long)r->kernel_failures);
		else
			printf("failures       none in the kernel\n");
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static int cmd_peers(grpc_channel *ch)
{
	Xpmem__ListPeersRequest req = XPMEM__LIST_PEERS_REQUEST__INIT;
	Xpmem__ListPeersReply *r;

	if (CALL(ch, "/xpmem.Management/ListPeers", req, Xpmem__ListPeersReply,
		 xpmem__list_peers_reply__descriptor, r))
		return 1;
	if (json_out) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->n_peers; i++) {
			Xpmem__PeerInfo *p = r->peers[i];
			json_t *o = json_pack("{s:i,s:s,s:s,s:b,s:I,s:I,s:I,s:I}",
				"id", (int)p->id, "address", p->address, "window", p->window,
				"alive", p->alive,
				"incarnation", (json_int_t)p->incarnation,
				"last_heard_ms", (json_int_t)p->last_heard_ms,
				"rx", (json_int_t)p->rx, "tx", (json_int_t)p->tx);

			/* added fields (the ones above keep their names) */
			json_t *more = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I}",
				"established", p->established, "sendq", (json_int_t)p->sendq,
				"sendq_max", (json_int_t)p->sendq_max,
				"sendq_dropped", (json_int_t)p->sendq_dropped,
				"backoff_ms", (json_int_t)p->backoff_ms,
				"pending_kernel_requests", (json_int_t)p->pending_kernel_requests,
				"pending_remote_requests", (json_int_t)p->pending_remote_requests);

			json_object_update(o, more);
			json_decref(more);
			json_array_append_new(a, o);
		}
		print_json(a);
	} else {
		printf("%-6s %-24s %-16s %-6s %-20s %-12s %10s %10s %6s %9s\n", "NODE", "ADDRESS",
		       "WINDOW", "STATE", "INCARNATION", "LAST HEARD", "RX", "TX", "SENDQ",
		       "PENDING");
		for (size_t i = 0; i < r->n_peers; i++) {
			Xpmem__PeerInfo *p = r->peers[i];
			char heard[32], pend[24];

			if (p->last_heard_ms < 0)
				snprintf(heard, sizeof(heard), "never");
			else
				snprintf(heard, sizeof(heard), "%lld ms ago", (long long)p->last_heard_ms);
			snprintf(pend, sizeof(pend), "%u/%u", p->pending_kernel_requests,
				 p->pending_remote_requests);
			printf("%-6u %-24s %-16s %-6s %-20llu %-12s %10llu %10llu %6u %9s\n", p->id,
			       p->address, p->window[0] ? p->window : "-", p->alive ? "up" : "down",
			       (unsigned long long)p->incarnation, heard, (unsigned long long)p->rx,
			       (unsigned long long)p->tx, p->sendq, pend);
		}
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static int cmd_segments(grpc_channel *ch)
{
	Xpmem__ListSegmentsRequest req = XPMEM__LIST_SEGMENTS_REQUEST__INIT;
	Xpmem__ListSegmentsReply *r;

	if (CALL(ch, "/xpmem.Management/ListSegments", req, Xpmem__ListSegmentsReply,
		 xpmem__list_segments_reply__descriptor, r))
		return 1;
	if (json_out) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->n_segments; i++) {
			Xpmem__Segment *s = r->segments[i];
			json_array_append_new(a, json_pack("{s:I,s:I,s:I,s:b}",
				"segid", (json_int_t)s->segid, "size", (json_int_t)s->size,
				"phys", (json_int_t)s->phys, "readonly", s->readonly));
		}
		print_json(a);
	} else {
		printf("%-18s %-14s %-18s %s\n", "SEGID", "SIZE", "PHYS", "ACCESS");
		for (size_t i = 0; i < r->n_segments; i++) {
			Xpmem__Segment *s = r->segments[i];
			printf("%#-18llx %-14llu %#-18llx %s\n", (unsigned long long)s->segid,
			       (unsigned long long)s->size, (unsigned long long)s->phys,
			       s->readonly ? "ro" : "rw");
		}
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static int cmd_mappings(grpc_channel *ch, uint32_t peer)
{
	Xpmem__ListRemoteMappingsRequest req = XPMEM__LIST_REMOTE_MAPPINGS_REQUEST__INIT;
	Xpmem__ListRemoteMappingsReply *r;

	req.peer = peer;
	if (CALL(ch, "/xpmem.Management/ListRemoteMappings", req, Xpmem__ListRemoteMappingsReply,
		 xpmem__list_remote_mappings_reply__descriptor, r))
		return 1;
	if (json_out) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->n_mappings; i++) {
			Xpmem__RemoteMapping *m = r->mappings[i];
			json_array_append_new(a, json_pack("{s:i,s:I,s:I,s:I,s:I}",
				"peer", (int)m->peer, "segid", (json_int_t)m->segid,
				"start", (json_int_t)m->start, "len", (json_int_t)m->len,
				"peer_incarnation", (json_int_t)m->peer_incarnation));
		}
		print_json(a);
	} else {
		printf("%-6s %-18s %-18s %-14s %s\n", "PEER", "SEGID", "START", "LEN",
		       "PEER INCARNATION");
		for (size_t i = 0; i < r->n_mappings; i++) {
			Xpmem__RemoteMapping *m = r->mappings[i];
			printf("%-6u %#-18llx %#-18llx %-14llu %llu\n", m->peer,
			       (unsigned long long)m->segid, (unsigned long long)m->start,
			       (unsigned long long)m->len, (unsigned long long)m->peer_incarnation);
		}
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static int cmd_stats(grpc_channel *ch)
{
	Xpmem__StatsRequest req = XPMEM__STATS_REQUEST__INIT;
	Xpmem__StatsReply *r;

	if (CALL(ch, "/xpmem.Management/Stats", req, Xpmem__StatsReply,
		 xpmem__stats_reply__descriptor, r))
		return 1;
	if (json_out) {
		json_t *o = json_object();
		for (size_t i = 0; i < r->n_counters; i++)
			json_object_set_new(o, r->counters[i]->name,
					    json_integer((json_int_t)r->counters[i]->value));
		print_json(o);
	} else {
		printf("%-24s %s\n", "COUNTER", "VALUE");
		for (size_t i = 0; i < r->n_counters; i++)
			printf("%-24s %llu\n", r->counters[i]->name,
			       (unsigned long long)r->counters[i]->value);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static int cmd_fence(grpc_channel *ch, uint32_t node)
{
	Xpmem__FenceRequest req = XPMEM__FENCE_REQUEST__INIT;
	Xpmem__FenceReply *r;

	req.node_id = node;
	if (CALL(ch, "/xpmem.Management/Fence", req, Xpmem__FenceReply,
		 xpmem__fence_reply__descriptor, r))
		return 1;
	if (json_out)
		print_json(json_pack("{s:i,s:I,s:i}", "node_id", (int)r->node_id,
				     "fenced_incarnation", (json_int_t)r->fenced_incarnation,
				     "invalidations_released", (int)r->invalidations_released));
	else
		printf("node %u fenced (incarnations up to %llu dead), %u pending acks released\n",
		       r->node_id, (unsigned long long)r->fenced_incarnation - 1,
		       r->invalidations_released);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (!*s || *end || v > 0xffffffffUL)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* one command with its arguments (argv[optind..argc)): its exit status */
static int run_cmd(grpc_channel *ch, const char *cmd, int argc, char **argv, int optind)
{
	int rc = 2;

	if (!strcmp(cmd, "status") && optind == argc) {
		rc = cmd_status(ch);
	} else if (!strcmp(cmd, "peers") && optind == argc) {
		rc = cmd_peers(ch);
	} else if (!strcmp(cmd, "segments") && optind == argc) {
		rc = cmd_segments(ch);
	} else if (!strcmp(cmd, "mappings") && optind >= argc - 1) {
		uint32_t peer = 0;
		if (optind < argc && parse_u32(argv[optind], &peer))
			fprintf(stderr, "xpmemctl: mappings: bad node '%s'\n", argv[optind]);
		else
			rc = cmd_mappings(ch, peer);
	} else if (!strcmp(cmd, "stats") && optind == argc) {
		rc = cmd_stats(ch);
	} else if (!strcmp(cmd, "fence") && optind == argc - 1) {
		uint32_t node;
		if (parse_u32(argv[optind], &node) || !node)
			fprintf(stderr, "xpmemctl: fence: bad node '%s'\n", argv[optind]);
		else
			rc = cmd_fence(ch, node);
	} else {
		fprintf(stderr, "xpmemctl: unknown command or wrong arguments: %s\n", cmd);
		usage(stderr);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' },
		{ "socket", required_argument, 0, 's' },
		{ "json", no_argument, 0, 'j' },
		{ "timeout-ms", required_argument, 0, 't' },
		{ "help", no_argument, 0, 'h' },
		{ 0 }
	};
	static struct xconfig cfg;
	const char *cfgpath = XPMEMD_DEFAULT_CONFIG, *sock = NULL, *cmd;
	int explicit_cfg = 0, c, rc;

	/* needs no daemon and no config: `xpmemctl keygen [-o FILE]` */
	if (argc >= 2 && !strcmp(argv[1], "keygen"))
		return keys_keygen_main(argc - 1, argv + 1);
	grpc_channel *ch;
	grpc_channel_credentials *creds;
	char addr[300];

	while ((c = getopt_long(argc, argv, "c:s:jt:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cfgpath = optarg; explicit_cfg = 1; break;
		case 's': sock = optarg; break;
		case 'j': json_out = 1; break;
		case 't': timeout_ms = atoi(optarg); if (timeout_ms <= 0) timeout_ms = 5000; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (!explicit_cfg && getenv("XPMEM_DAEMON_CONF") && *getenv("XPMEM_DAEMON_CONF")) {
		cfgpath = getenv("XPMEM_DAEMON_CONF");
		explicit_cfg = 1;
	}
	config_defaults(&cfg);
	/* an unprivileged user may not be able to read the daemon's config:
	 * then the default socket (or -s) is used */
	if (!sock && (explicit_cfg || access(cfgpath, R_OK) == 0) &&
	    config_load(&cfg, cfgpath, explicit_cfg)) {
		fprintf(stderr, "xpmemctl: %s\n", cfg.err);
		return 2;
	}
	xlog_level = LOG_LVL_ERR;
	snprintf(addr, sizeof(addr), "unix:%s", sock ? sock : cfg.grpc_socket);
	grpc_init();
	creds = grpc_insecure_credentials_create();
	ch = grpc_channel_create(addr, creds, NULL);
	grpc_channel_credentials_release(creds);

	rc = run_cmd(ch, cmd, argc, argv, optind);
	grpc_channel_destroy(ch);
	grpc_shutdown();
	return rc;
}
