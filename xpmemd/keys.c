// SPDX-License-Identifier: GPL-2.0
/* Node identity keys: generate, load and check (see keys.h). */
#include "keys.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(KEYS_PK_LEN == crypto_sign_PUBLICKEYBYTES, "pk size");
_Static_assert(KEYS_SK_LEN == crypto_sign_SECRETKEYBYTES, "sk size");
_Static_assert(KEYS_SEED_LEN == crypto_sign_SEEDBYTES, "seed size");

void keys_pk_to_base64(char out[KEYS_B64_LEN], const uint8_t pk[KEYS_PK_LEN])
{
	sodium_bin2base64(out, KEYS_B64_LEN, pk, KEYS_PK_LEN, sodium_base64_VARIANT_ORIGINAL);
}

static int decode32(uint8_t out[32], const char *b64, size_t len)
{
	size_t n = 0;
	const char *end = NULL;

	if (sodium_base642bin(out, 32, b64, len, NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || n != 32 || end != b64 + len)
		return -1;
	return 0;
}

int keys_pk_from_base64(uint8_t pk[KEYS_PK_LEN], const char *b64)
{
	return decode32(pk, b64, strlen(b64));
}

/* long: every check on the key file (type, owner, mode, size, encoding,
 * the pair matching) in order, each with its own message */
int keys_load(const char *path, uint8_t pk[KEYS_PK_LEN], uint8_t sk[KEYS_SK_LEN],
	      char *err, size_t errlen)
{
	char buf[256];
	uint8_t seed[KEYS_SEED_LEN];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO must not block the open (it is refused below) */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			snprintf(err, errlen, "node key %s: is a symbolic link; refusing it "
				 "(point node_key at the file itself)", path);
		else
			snprintf(err, errlen, "node key %s: %s%s", path, strerror(errno),
				 errno == ENOENT ? " (create one with: xpmemctl keygen -o FILE)" : "");
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "node key %s: fstat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "node key %s: not a regular file; refusing it", path);
		goto out;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "node key %s: mode %03o lets group/others access it; "
			 "refusing it (chmod 600 %s)", path, (unsigned)(st.st_mode & 0777), path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "node key %s: owned by uid %u, not by this process's "
			 "user (uid %u); refusing it", path, (unsigned)st.st_uid,
			 (unsigned)geteuid());
		goto out;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		snprintf(err, errlen, "node key %s: read: %s", path, strerror(errno));
		goto out;
	}
	len = (size_t)n;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	if (decode32(seed, buf, len)) {
		snprintf(err, errlen, "node key %s: expected one line with a base64 Ed25519 "
			 "secret key (32 bytes, as written by xpmemctl keygen)", path);
		goto out;
	}
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0) {
		snprintf(err, errlen, "node key %s: cannot derive the key pair", path);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(seed, sizeof(seed));
	close(fd);
	return rc;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int keys_generate(const char *path, char pk_b64[KEYS_B64_LEN], char *err, size_t errlen)
{
	uint8_t pk[KEYS_PK_LEN], sk[KEYS_SK_LEN], seed[KEYS_SEED_LEN];
	char line[KEYS_B64_LEN + 1], pubpath[4200];
	int fd, rc = -1;

	if (snprintf(pubpath, sizeof(pubpath), "%s.pub", path) >= (int)sizeof(pubpath)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	randombytes_buf(seed, sizeof(seed));
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0) {
		snprintf(err, errlen, "crypto_sign_seed_keypair failed");
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
			 errno == EEXIST ? " (never overwritten; remove it first)" : "");
		goto out;
	}
	sodium_bin2base64(line, KEYS_B64_LEN, seed, sizeof(seed), sodium_base64_VARIANT_ORIGINAL);
	strcat(line, "\n");
	if (write_all(fd, line, strlen(line)) || fsync(fd)) {
		snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	if (close(fd)) {
		snprintf(err, errlen, "%s: close: %s", path, strerror(errno));
		unlink(path);
		goto out;
	}
	keys_pk_to_base64(pk_b64, pk);
	fd = open(pubpath, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, pk_b64, strlen(pk_b64)) || write_all(fd, "\n", 1)) {
		snprintf(err, errlen, "%s: %s (the secret key %s was written)", pubpath,
			 strerror(errno), path);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (close(fd)) {
		snprintf(err, errlen, "%s: close: %s", pubpath, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(line, sizeof(line));
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

int keys_keygen_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' },
		{ 0 }
	};
	const char *path = XPMEMD_DEFAULT_NODE_KEY;
	char pk[KEYS_B64_LEN], err[4400];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': path = optarg; break;
		case 'h':
			printf("usage: xpmemctl keygen [-o FILE]\n"
			       "  writes a new node secret key to FILE (default %s, mode 0600,\n"
			       "  never overwritten) and its public key to FILE.pub; prints the\n"
			       "  public key (for the other nodes' [peer N] public_key)\n",
			       XPMEMD_DEFAULT_NODE_KEY);
			return 0;
		default:
			fprintf(stderr, "usage: xpmemctl keygen [-o FILE]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: xpmemctl keygen [-o FILE]\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "xpmemctl: keygen: libsodium init failed\n");
		return 1;
	}
	if (keys_generate(path, pk, err, sizeof(err))) {
		fprintf(stderr, "xpmemctl: keygen: %s\n", err);
		return 1;
	}
	printf("%s\n", pk);
	return 0;
}
