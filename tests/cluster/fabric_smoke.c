// SPDX-License-Identifier: GPL-2.0
/*
 * Proves the emulated memory fabric: partition 0 writes a pattern into a page of
 * its own memory and publishes the page's physical address (pagemap); every
 * other partition finds exactly that pattern at that offset of its window onto
 * partition 0 (ivshmem BAR2), writes a reply there, and partition 0 sees it.
 * Rendezvous goes through files in $XPMEM_CLUSTER_DIR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rendezvous.h"

#define PAGE 4096UL
#define WORDS (PAGE / sizeof(uint64_t))
#define OWNER_WORDS (WORDS / 2)	/* the owner's pattern; replies follow */
#define REPLY_WORDS 32
#define WAIT_SECONDS 120


static void fail(const char *what)
{
	fprintf(stderr, "fabric_smoke: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t pattern(uint64_t nonce, unsigned int i)
{
	return (nonce * 0x9e3779b97f4a7c15ULL) ^ (i * 0x100000001b3ULL);
}

static uint64_t reply(uint64_t nonce, int node, unsigned int i)
{
	return ~pattern(nonce + node, i);
}

static uint64_t phys_addr(void *va)
{
	uint64_t ent;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		fail("open pagemap");
	if (pread(fd, &ent, sizeof(ent), (uintptr_t)va / PAGE * sizeof(ent)) != sizeof(ent))
		fail("read pagemap");
	close(fd);
	if (!(ent & (1ULL << 63)) || !(ent & ((1ULL << 55) - 1))) {
		fprintf(stderr, "fabric_smoke: page not present or PFN hidden (not root?)\n");
		exit(1);
	}
	return (ent & ((1ULL << 55) - 1)) * PAGE;
}

/* PCI address of this partition's window onto node 0, from $XPMEM_CLUSTER. */
static void window_onto_owner(char *pci, size_t len)
{
	const char *path = getenv("XPMEM_CLUSTER");
	char line[256], ip[64], win[64];
	int id;
	FILE *f = path ? fopen(path, "r") : NULL;

	if (!f)
		fail("open $XPMEM_CLUSTER");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %63s %63s", &id, ip, win) == 3 && id == 0) {
			snprintf(pci, len, "%s", win);
			fclose(f);
			return;
		}
	fprintf(stderr, "fabric_smoke: node 0 missing from %s\n", path);
	exit(1);
}

static int owner(int nodes)
{
	uint64_t nonce, *page;
	char text[128], buf[64];
	int node, bad = 0;
	unsigned int i;

	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED || mlock(page, PAGE))
		fail("mmap/mlock");
	nonce = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	for (i = 0; i < WORDS; i++)
		page[i] = i < OWNER_WORDS ? pattern(nonce, i) : 0;
	snprintf(text, sizeof(text), "%" PRIx64 " %" PRIx64 "\n", phys_addr(page), nonce);
	rv_put("owner", "%s", text);
	printf("node0: pattern at physical 0x%" PRIx64 "\n", phys_addr(page));

	for (node = 1; node < nodes; node++) {
		snprintf(text, sizeof(text), "replied.%d", node);
		rv_wait(text, buf, sizeof(buf));
		for (i = 0; i < REPLY_WORDS; i++) {
			volatile uint64_t *w = &page[OWNER_WORDS + (node - 1) * REPLY_WORDS + i];

			if (*w != reply(nonce, node, i))
				bad++;
		}
		printf("node0: reply from node %d %s\n", node, bad ? "WRONG" : "seen");
	}
	return bad ? 1 : 0;
}

static int peer(int node)
{
	char pci[64], path[256], buf[128], text[64];
	uint64_t pa, nonce;
	volatile uint64_t *win;
	unsigned int i, bad = 0;
	int fd;

	window_onto_owner(pci, sizeof(pci));
	rv_wait("owner", buf, sizeof(buf));
	if (sscanf(buf, "%" SCNx64 " %" SCNx64, &pa, &nonce) != 2) {
		fprintf(stderr, "fabric_smoke: bad owner record '%s'\n", buf);
		return 1;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource2", pci);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		fail(path);
	win = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)pa);
	if (win == MAP_FAILED)
		fail("mmap window");
	for (i = 0; i < OWNER_WORDS; i++)
		if (win[i] != pattern(nonce, i))
			bad++;
	printf("node%d: window %s offset 0x%" PRIx64 ": %u of %lu words differ\n",
	       node, pci, pa, bad, OWNER_WORDS);
	for (i = 0; i < REPLY_WORDS; i++)
		win[OWNER_WORDS + (node - 1) * REPLY_WORDS + i] = reply(nonce, node, i);
	__sync_synchronize();
	snprintf(text, sizeof(text), "replied.%d", node);
	rv_put(text, "1\n");
	return bad ? 1 : 0;
}

int main(void)
{
	const char *id = getenv("XPMEM_NODE_ID"), *n = getenv("XPMEM_NODES");

	if (rv_init() || !n) {
		fprintf(stderr, "fabric_smoke: run me under tests/vm/run-cluster\n");
		return 2;
	}
	rv_wait_seconds = WAIT_SECONDS;
	return atoi(id) == 0 ? owner(atoi(n)) : peer(atoi(id));
}
