// SPDX-License-Identifier: GPL-2.0
/* xpmemd: XPMEM cluster coherence daemon. */
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "service.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xpmemd [options]\n"
		"  -c, --config PATH        config file (default " XPMEMD_DEFAULT_CONFIG ")\n"
		"  -n, --node-id N          this node's id\n"
		"  -l, --listen HOST:PORT   fabric listen address\n"
		"  -p, --provider NAME      libfabric provider (default tcp)\n"
		"  -k, --channel PATH       kernel channel (device or simulated-kernel socket)\n"
		"  -K, --node-key PATH      this node's secret key (xpmemctl keygen)\n"
		"  -D, --state-dir PATH     persisted state (the incarnation counter)\n"
		"  -g, --grpc-socket PATH   control API unix socket\n"
		"  -t, --ack-timeout-ms MS  invalidation ack timeout\n"
		"  -b, --heartbeat-ms MS    heartbeat interval\n"
		"  -S, --stats-file PATH    write JSON stats here (debug/tests)\n"
		"  -v, --log-level LEVEL    error|warn|info|debug\n"
		"      --check-config       parse the config, report errors, exit\n"
		"  -h, --help\n");
}

static const struct option opts[] = {
	{ "config", required_argument, 0, 'c' },
	{ "node-id", required_argument, 0, 'n' },
	{ "listen", required_argument, 0, 'l' },
	{ "provider", required_argument, 0, 'p' },
	{ "channel", required_argument, 0, 'k' },
	{ "secret-file", required_argument, 0, 's' },	/* gone: says so */
	{ "node-key", required_argument, 0, 'K' },
	{ "state-dir", required_argument, 0, 'D' },
	{ "grpc-socket", required_argument, 0, 'g' },
	{ "ack-timeout-ms", required_argument, 0, 't' },
	{ "heartbeat-ms", required_argument, 0, 'b' },
	{ "stats-file", required_argument, 0, 'S' },
	{ "log-level", required_argument, 0, 'v' },
	{ "check-config", no_argument, 0, 'C' },
	{ "help", no_argument, 0, 'h' },
	{ 0 }
};

static int main_argc;
static char **main_argv;
static const char *main_path;
static int main_explicit, main_check_only;

/* the flags override the config file (at start and on reload): 0 or -1 */
static int apply_flags(struct xconfig *cfg, int argc, char **argv)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:n:l:p:k:s:K:D:g:t:b:S:v:h", opts, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'n': case 't': case 'b':
			v = strtoul(optarg, &end, 0);
			if (*end || !*optarg || v == 0 || v > 0xfffffffeUL ||
			    (c == 'n' && v > XPMEMD_NODE_MAX)) {
				fprintf(stderr, "xpmemd: --%s: bad number '%s'\n",
					c == 'n' ? "node-id" : c == 't' ? "ack-timeout-ms" :
					"heartbeat-ms", optarg);
				return -1;
			}
			if (c == 'n') cfg->node_id = (uint32_t)v;
			if (c == 't') cfg->ack_timeout_ms = (uint32_t)v;
			if (c == 'b') cfg->heartbeat_ms = (uint32_t)v;
			break;
		case 'l': snprintf(cfg->listen, sizeof(cfg->listen), "%s", optarg); break;
		case 'p': snprintf(cfg->provider, sizeof(cfg->provider), "%s", optarg); break;
		case 'k': snprintf(cfg->channel, sizeof(cfg->channel), "%s", optarg); break;
		case 's':
			fprintf(stderr, "xpmemd: --secret-file: the shared cluster secret is gone; "
				"use --node-key (a key from `xpmemctl keygen`) and the peers' "
				"public_key in the config (docs/protocol.md section 4)\n");
			return -1;
		case 'K': snprintf(cfg->node_key, sizeof(cfg->node_key), "%s", optarg); break;
		case 'D': snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", optarg); break;
		case 'g': snprintf(cfg->grpc_socket, sizeof(cfg->grpc_socket), "%s", optarg); break;
		case 'S': snprintf(cfg->stats_file, sizeof(cfg->stats_file), "%s", optarg); break;
		case 'v': snprintf(cfg->log_level, sizeof(cfg->log_level), "%s", optarg); break;
		case 'C': main_check_only = 1; break;
		}
	}
	return 0;
}

/* SIGHUP: the file again, the same flags over it, checked */
static int reload_config(struct xconfig *out)
{
	config_defaults(out);
	if (config_load(out, main_path, main_explicit))
		return -1;
	if (apply_flags(out, main_argc, main_argv))
		return -1;
	if (xlog_parse_level(out->log_level) < 0) {
		snprintf(out->err, sizeof(out->err), "log_level: expected error|warn|info|debug");
		return -1;
	}
	return config_check(out);
}

int main(int argc, char **argv)
{
	static struct xconfig cfg;
	const char *path = XPMEMD_DEFAULT_CONFIG;
	int explicit_path = 0, c, lvl;

	/* first pass: the config file, so flags override it */
	while ((c = getopt_long(argc, argv, "c:n:l:p:k:s:K:D:g:t:b:S:v:h", opts, NULL)) != -1) {
		if (c == 'c') {
			path = optarg;
			explicit_path = 1;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else if (c == '?') {
			usage(stderr);
			return 2;
		}
	}
	main_argc = argc;
	main_argv = argv;
	main_path = path;
	main_explicit = explicit_path;
	config_defaults(&cfg);
	if (config_load(&cfg, path, explicit_path)) {
		fprintf(stderr, "xpmemd: %s\n", cfg.err);
		return 2;
	}
	if (apply_flags(&cfg, argc, argv))
		return 2;
	lvl = xlog_parse_level(cfg.log_level);
	if (lvl < 0) {
		fprintf(stderr, "xpmemd: log_level: expected error|warn|info|debug, got '%s'\n",
			cfg.log_level);
		return 2;
	}
	xlog_level = lvl;
	if (config_check(&cfg)) {
		fprintf(stderr, "xpmemd: %s: %s\n", path, cfg.err);
		return 2;
	}
	config_warn_fault_deadline(&cfg);
	if (main_check_only) {
		printf("%s: OK (node %u, %d peers)\n", path, cfg.node_id, cfg.npeers);
		return 0;
	}
	{
		char pfx[32];
		snprintf(pfx, sizeof(pfx), "xpmemd[%u]", cfg.node_id);
		xlog_set_prefix(pfx);
	}
	service_raise_nofile();	/* fd headroom: see service.h */
	cfg.reload = reload_config;
	return daemon_run(&cfg);
}
