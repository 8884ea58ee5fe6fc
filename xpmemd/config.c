// SPDX-License-Identifier: GPL-2.0
#include "config.h"
#include "log.h"

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse_ctx {
	struct xconfig *c;
	const char *path;
	int line;		/* approximate line tracking via ini handler */
	char cur_section[64];
	struct peer_conf *cur_peer;
};

void config_defaults(struct xconfig *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->provider, sizeof(c->provider), "tcp");
	snprintf(c->listen, sizeof(c->listen), "0.0.0.0:7475");
	snprintf(c->channel, sizeof(c->channel), "/dev/xpmem_channel");
	snprintf(c->node_key, sizeof(c->node_key), "%s", XPMEMD_DEFAULT_NODE_KEY);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", XPMEMD_DEFAULT_STATE_DIR);
	snprintf(c->grpc_socket, sizeof(c->grpc_socket), "/run/xpmem/xpmemd.sock");
	c->grpc_socket_mode = 0666;
	c->admin_gid = -1;
	c->peer_source_filter = 1;
	snprintf(c->log_level, sizeof(c->log_level), "info");
	c->ack_timeout_ms = 1000;
	c->heartbeat_ms = 500;
	c->dead_after = 3;
	c->max_pending_per_peer = 1024;
	c->fabric_rx_size = 128;
	c->fabric_buffer_size = 9216;
}

static int parse_u32(const char *v, uint32_t *out, uint32_t min, uint32_t max)
{
	char *end;
	unsigned long long x;

	if (!*v || *v == '-')
		return -1;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end || x < min || x > max)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

int split_hostport(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(s, ':');
	uint32_t p;

	if (!colon || colon == s || !colon[1])
		return -1;
	if ((size_t)(colon - s) >= hlen || strlen(colon + 1) >= plen)
		return -1;
	if (parse_u32(colon + 1, &p, 1, 65535))
		return -1;
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	snprintf(port, plen, "%s", colon + 1);
	return 0;
}

static int parse_pci(const char *v)
{
	unsigned int dom, bus, dev, fn;
	int n = -1;

	if (strlen(v) != 12 || sscanf(v, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &n) != 4 ||
	    n != 12 || dev > 0x1f || fn > 7)
		return -1;
	for (const char *c = v; *c; c++)
		if (!strchr("0123456789abcdefABCDEF:.", *c))
			return -1;
	return 0;
}

static int parse_u64(const char *v, uint64_t *out, char stop)
{
	char *end;
	unsigned long long x;

	if (!*v || *v == '-' || *v == '+' || *v == ' ')
		return -1;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end != stop || end == v)
		return -1;
	*out = x;
	return 0;
}

static int parse_phys(const char *v, uint64_t *base, uint64_t *size)
{
	const char *plus;

	if (strncmp(v, "phys:", 5))
		return -1;
	v += 5;
	plus = strchr(v, '+');
	if (!plus || parse_u64(v, base, '+') || parse_u64(plus + 1, size, 0))
		return -1;
	if (!*size || (*base & 4095) || (*size & 4095) || *base + *size < *base)
		return -1;
	return 0;
}

int window_check(const char *spec)
{
	uint64_t b, s;

	return parse_pci(spec) && parse_phys(spec, &b, &s) ? -1 : 0;
}

int config_warn_fault_deadline(const struct xconfig *c)
{
	const char *root = getenv("XPMEMD_SYSFS_ROOT");
	char path[512];
	unsigned long rt;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/module/xpmem/parameters/remote_timeout_ms",
		 root ? root : "/sys");
	f = fopen(path, "r");
	if (!f)
		return 0;	/* no module (yet): nothing to compare */
	n = fscanf(f, "%lu", &rt);
	fclose(f);
	if (n != 1 || 3ull * c->ack_timeout_ms < rt)
		return 0;
	log_warn("ack_timeout_ms = %u: our kernel's remote faults wait %u ms here, not less "
		 "than xpmem.ko's remote_timeout_ms (%lu), so the kernel fails them first "
		 "(SIGBUS) where an owner's 'ask again' would have come; keep 3 x "
		 "ack_timeout_ms below it, and ack_timeout_ms the same on every node",
		 c->ack_timeout_ms, 3 * c->ack_timeout_ms, rt);
	return 1;
}

int window_resolve(const char *spec, uint64_t *base, uint64_t *size, char *err, size_t errlen)
{
	const char *root = getenv("XPMEMD_SYSFS_ROOT");
	char path[512], line[256];
	unsigned long long start = 0, end = 0, flags = 0;
	FILE *f;
	int ok = 0;

	if (!parse_phys(spec, base, size))
		return 0;
	if (parse_pci(spec)) {
		snprintf(err, errlen, "window '%s': expected a PCI address or phys:BASE+SIZE "
			 "(page aligned, size > 0)", spec);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource",
		 root && *root ? root : "/sys", spec);
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "window %s: %s: %s", spec, path, strerror(errno));
		return -1;
	}
	/* one line per resource: start end flags; BAR2 is the third */
	for (int i = 0; i < 3; i++)
		ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	if (!ok || sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3) {
		snprintf(err, errlen, "window %s: %s has no BAR2 line", spec, path);
		return -1;
	}
	if (!start || end <= start) {
		snprintf(err, errlen, "window %s: BAR2 is not assigned (%s: %#llx %#llx)",
			 spec, path, start, end);
		return -1;
	}
	*base = start;
	*size = end - start + 1;
	return 0;
}

static int set_str(char *dst, size_t n, const char *v)
{
	if (strlen(v) >= n)
		return -1;
	snprintf(dst, n, "%s", v);
	return 0;
}

#define FAIL(...) do { if (!c->err[0]) snprintf(c->err, sizeof(c->err), __VA_ARGS__); return 0; } while (0)

/* long: inih's callback, one branch per configuration key (the order of
 * deploy/xpmemd.conf); split up, the table of keys would be scattered */
static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	struct xconfig *c = ctx->c;

	if (!name) {		/* new section (INI_CALL_HANDLER_ON_NEW_SECTION) */
		return 1;
	}
	if (!strcmp(section, "xpmemd") || !strcmp(section, "")) {
		if (!strcmp(name, "node_id")) {
			if (parse_u32(value, &c->node_id, 1, XPMEMD_NODE_MAX))
				FAIL("node_id: expected an integer 1..%u, got '%s'", XPMEMD_NODE_MAX, value);
		} else if (!strcmp(name, "provider")) {
			if (set_str(c->provider, sizeof(c->provider), value) || !*value)
				FAIL("provider: bad value '%s'", value);
		} else if (!strcmp(name, "listen")) {
			char h[128], p[16];
			if (split_hostport(value, h, sizeof(h), p, sizeof(p)) ||
			    set_str(c->listen, sizeof(c->listen), value))
				FAIL("listen: expected HOST:PORT, got '%s'", value);
		} else if (!strcmp(name, "channel")) {
			if (set_str(c->channel, sizeof(c->channel), value))
				FAIL("channel: path too long");
		} else if (!strcmp(name, "secret_file")) {
			FAIL("secret_file: the shared cluster secret is gone; every node has its "
			     "own key now. Run `xpmemctl keygen -o %s` on each node, set "
			     "node_key = %s, put each node's public key (printed, and in "
			     "node.key.pub) into the other nodes' [peer N] public_key, and remove "
			     "secret_file (docs/protocol.md section 4)",
			     XPMEMD_DEFAULT_NODE_KEY, XPMEMD_DEFAULT_NODE_KEY);
		} else if (!strcmp(name, "node_key")) {
			if (set_str(c->node_key, sizeof(c->node_key), value) || !*value)
				FAIL("node_key: expected a path (at most 255 bytes)");
		} else if (!strcmp(name, "state_dir")) {
			if (set_str(c->state_dir, sizeof(c->state_dir), value) || !*value)
				FAIL("state_dir: expected a path (at most 255 bytes)");
		} else if (!strcmp(name, "grpc_socket")) {
			if (set_str(c->grpc_socket, sizeof(c->grpc_socket), value))
				FAIL("grpc_socket: path too long");
		} else if (!strcmp(name, "grpc_socket_mode")) {
			uint32_t m;
			char *end;
			unsigned long x = strtoul(value, &end, 8);

			m = (uint32_t)x;
			if (!*value || *end || x > 0777 || (m & 0111) || !(m & 0600))
				FAIL("grpc_socket_mode: expected an octal mode like 0666 or 0660 "
				     "(owner rw, no execute bits), got '%s'", value);
			c->grpc_socket_mode = m;
		} else if (!strcmp(name, "admin_group")) {
			if (set_str(c->admin_group, sizeof(c->admin_group), value) || !*value ||
			    strchr(value, ' ') || strchr(value, ':'))
				FAIL("admin_group: expected a group name or number, got '%s'", value);
		} else if (!strcmp(name, "peer_source_filter")) {
			if (!strcmp(value, "yes"))
				c->peer_source_filter = 1;
			else if (!strcmp(value, "no"))
				c->peer_source_filter = 0;
			else
				FAIL("peer_source_filter: expected yes or no, got '%s'", value);
		} else if (!strcmp(name, "peer_grpc_listen")) {
			FAIL("peer_grpc_listen: the Peer gRPC service was removed (daemons talk "
			     "only over the authenticated fabric protocol, see docs/security.md); "
			     "delete this line");
		} else if (!strcmp(name, "stats_file")) {
			if (set_str(c->stats_file, sizeof(c->stats_file), value))
				FAIL("stats_file: path too long");
		} else if (!strcmp(name, "log_level")) {
			if (xlog_parse_level(value) < 0 ||
			    set_str(c->log_level, sizeof(c->log_level), value))
				FAIL("log_level: expected error|warn|info|debug, got '%s'", value);
		} else if (!strcmp(name, "ack_timeout_ms")) {
			if (parse_u32(value, &c->ack_timeout_ms, 1, 3600000))
				FAIL("ack_timeout_ms: expected 1..3600000, got '%s'", value);
		} else if (!strcmp(name, "heartbeat_ms")) {
			if (parse_u32(value, &c->heartbeat_ms, 1, 3600000))
				FAIL("heartbeat_ms: expected 1..3600000, got '%s'", value);
		} else if (!strcmp(name, "dead_after")) {
			if (parse_u32(value, &c->dead_after, 1, 1000))
				FAIL("dead_after: expected 1..1000, got '%s'", value);
		} else if (!strcmp(name, "poll_us")) {
			if (parse_u32(value, &c->poll_us, 0, XPMEMD_POLL_US_MAX))
				FAIL("poll_us: expected 0..%u, got '%s'", XPMEMD_POLL_US_MAX, value);
		} else if (!strcmp(name, "max_pending_per_peer")) {
			if (parse_u32(value, &c->max_pending_per_peer, 1, 1 << 20))
				FAIL("max_pending_per_peer: expected 1..1048576, got '%s'", value);
		} else if (!strcmp(name, "fabric_rx_size")) {
			if (parse_u32(value, &c->fabric_rx_size, 16, 65536))
				FAIL("fabric_rx_size: expected 16..65536, got '%s'", value);
		} else if (!strcmp(name, "fabric_buffer_size")) {
			/* a sealed message (XW_MAX_MSG) and rxm's header fit one buffer */
			if (parse_u32(value, &c->fabric_buffer_size, 9216, 1 << 20))
				FAIL("fabric_buffer_size: expected 9216..1048576, got '%s'", value);
		} else if (!strcmp(name, "remote_root")) {
			if (!strcmp(value, "trusted"))
				c->remote_root_trusted = 1;
			else if (!strcmp(value, "untrusted"))
				c->remote_root_trusted = 0;
			else
				FAIL("remote_root: expected trusted|untrusted, got '%s'", value);
		} else {
			FAIL("unknown key '%s' in [%s]", name, section[0] ? section : "xpmemd");
		}
		return 1;
	}
	if (!strncmp(section, "peer", 4)) {
		uint32_t id;
		struct peer_conf *p = ctx->cur_peer;

		if (!p || strcmp(ctx->cur_section, section)) {
			const char *idstr = section + 4;
			while (*idstr == ' ')
				idstr++;
			if (section[4] != ' ' || parse_u32(idstr, &id, 1, XPMEMD_NODE_MAX))
				FAIL("bad section [%s]: expected [peer N] with N in 1..%u", section,
				     XPMEMD_NODE_MAX);
			for (int i = 0; i < c->npeers; i++)
				if (c->peers[i].id == id)
					FAIL("duplicate section [peer %u]", id);
			if (c->npeers >= XPMEMD_MAX_PEERS)
				FAIL("too many peers (max %d)", XPMEMD_MAX_PEERS);
			p = &c->peers[c->npeers++];
			memset(p, 0, sizeof(*p));
			p->id = id;
			ctx->cur_peer = p;
			snprintf(ctx->cur_section, sizeof(ctx->cur_section), "%s", section);
		}
		if (!strcmp(name, "id")) {
			if (parse_u32(value, &id, 1, XPMEMD_NODE_MAX) || id != p->id)
				FAIL("id = %s does not match section [%s]", value, section);
		} else if (!strcmp(name, "address")) {
			char h[128], pt[16];
			if (split_hostport(value, h, sizeof(h), pt, sizeof(pt)) ||
			    set_str(p->address, sizeof(p->address), value))
				FAIL("address: expected HOST:PORT, got '%s'", value);
		} else if (!strcmp(name, "window")) {
			if (window_check(value) || set_str(p->window, sizeof(p->window), value))
				FAIL("window: expected a PCI address (0000:00:10.0) or "
				     "phys:BASE+SIZE, got '%s'", value);
		} else if (!strcmp(name, "public_key")) {
			size_t n = 0;
			const char *end = NULL;

			if (sodium_base642bin(p->public_key, sizeof(p->public_key), value,
					      strlen(value), NULL, &n, &end,
					      sodium_base64_VARIANT_ORIGINAL) != 0 ||
			    n != sizeof(p->public_key) || end != value + strlen(value))
				FAIL("public_key: expected the node's 32-byte public key in base64 "
				     "(44 characters, as printed by xpmemctl keygen), got '%s'", value);
			p->has_public_key = 1;
		} else {
			FAIL("unknown key '%s' in [%s]", name, section);
		}
		return 1;
	}
	FAIL("unknown section [%s]", section);
}

/* Section headers, checked with their own line numbers (inih reports a bad
 * section only at its first key, and merges repeated adjacent sections). */
static int prescan_sections(struct xconfig *c, FILE *f, const char *path)
{
	char line[512], seen[XPMEMD_MAX_PEERS + 1][64];
	int nseen = 0, lineno = 0;

	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end, name[64];
		uint32_t id;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '[')
			continue;
		end = strchr(p, ']');
		if (!end || (size_t)(end - p - 1) >= sizeof(name))
			continue;	/* inih reports it */
		memcpy(name, p + 1, end - p - 1);
		name[end - p - 1] = 0;
		if (strcmp(name, "xpmemd")) {
			const char *idstr = name + 4;

			while (*idstr == ' ')
				idstr++;
			if (strncmp(name, "peer ", 5) || parse_u32(idstr, &id, 1, XPMEMD_NODE_MAX)) {
				snprintf(c->err, sizeof(c->err),
					 "%.250s:%d: bad section [%s]: expected [xpmemd] or [peer N] with N in 1..%u",
					 path, lineno, name, XPMEMD_NODE_MAX);
				return -1;
			}
			snprintf(name, sizeof(name), "peer %u", id);
		}
		for (int i = 0; i < nseen; i++)
			if (!strcmp(seen[i], name)) {
				snprintf(c->err, sizeof(c->err), "%.250s:%d: duplicate section [%s]",
					 path, lineno, name);
				return -1;
			}
		if (nseen <= XPMEMD_MAX_PEERS)
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
	}
	rewind(f);
	return 0;
}

int config_load(struct xconfig *c, const char *path, int must_exist)
{
	struct parse_ctx ctx = { .c = c, .path = path };
	FILE *f = fopen(path, "r");
	int rc;

	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		snprintf(c->err, sizeof(c->err), "%s: %s", path, strerror(errno));
		return -1;
	}
	c->err[0] = 0;
	if (prescan_sections(c, f, path)) {
		fclose(f);
		return -1;
	}
	rc = ini_parse_file(f, handler, &ctx);
	fclose(f);
	if (rc == 0)
		return 0;
	{
		char msg[sizeof(c->err)], loc[300];
		size_t l;

		snprintf(msg, sizeof(msg), "%.*s", (int)sizeof(msg) - 1,
			 c->err[0] ? c->err :
			 "syntax error (expected [section], key = value or ; comment)");
		if (rc > 0)
			snprintf(loc, sizeof(loc), "%.250s:%d: ", path, rc);
		else
			snprintf(loc, sizeof(loc), "%.250s: ", path);
		if (rc < 0)
			snprintf(msg, sizeof(msg), "%s", rc == -2 ? "out of memory" : "cannot read");
		l = strlen(loc);
		memcpy(c->err, loc, l);
		snprintf(c->err + l, sizeof(c->err) - l, "%.*s", (int)(sizeof(c->err) - l - 1), msg);
	}
	return -1;
}

int config_check(struct xconfig *c)
{
	/* "none" disables the Management socket */
	if (!strcmp(c->grpc_socket, "none"))
		c->grpc_socket[0] = 0;
	c->admin_gid = -1;
	if (c->admin_group[0]) {
		char *end;
		unsigned long g = strtoul(c->admin_group, &end, 10);
		struct group *gr;

		if (!*end && g < 0xffffffffUL) {
			c->admin_gid = (long long)g;
		} else {
			errno = 0;
			gr = getgrnam(c->admin_group);
			if (!gr) {
				snprintf(c->err, sizeof(c->err), "admin_group: no group '%.60s'%s%s",
					 c->admin_group, errno ? ": " : "",
					 errno ? strerror(errno) : "");
				return -1;
			}
			c->admin_gid = gr->gr_gid;
		}
	}
	if (!c->node_id) {
		snprintf(c->err, sizeof(c->err), "node_id is not set");
		return -1;
	}
	for (int i = 0; i < c->npeers; i++) {
		if (!c->peers[i].address[0]) {
			snprintf(c->err, sizeof(c->err), "[peer %u] has no address",
				 c->peers[i].id);
			return -1;
		}
		if (c->peers[i].id == c->node_id) {
			snprintf(c->err, sizeof(c->err),
				 "[peer %u] has this node's own id", c->peers[i].id);
			return -1;
		}
		if (!c->peers[i].has_public_key) {
			snprintf(c->err, sizeof(c->err),
				 "[peer %u] has no public_key (the node's key from xpmemctl keygen)",
				 c->peers[i].id);
			return -1;
		}
	}
	return 0;
}
