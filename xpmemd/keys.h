/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Node identity keys (libsodium crypto_sign, Ed25519).
 *
 * A node's secret key file holds the 32-byte Ed25519 seed in base64 (one
 * line, 44 characters, like a WireGuard private key); the public key is the
 * 32-byte crypto_sign public key in base64, configured in every other node's
 * [peer N] public_key. `xpmemctl keygen` makes both (keys_generate).
 */
#ifndef XPMEMD_KEYS_H
#define XPMEMD_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_PK_LEN	32	/* crypto_sign_PUBLICKEYBYTES */
#define KEYS_SK_LEN	64	/* crypto_sign_SECRETKEYBYTES */
#define KEYS_SEED_LEN	32	/* crypto_sign_SEEDBYTES */
#define KEYS_B64_LEN	45	/* base64 of 32 bytes + NUL */

/* base64 (original variant, padded) of a 32-byte key; out has KEYS_B64_LEN */
void keys_pk_to_base64(char out[KEYS_B64_LEN], const uint8_t pk[KEYS_PK_LEN]);
/* decode a configured public key; -1 unless exactly 32 bytes of base64 */
int keys_pk_from_base64(uint8_t pk[KEYS_PK_LEN], const char *b64);

/*
 * Load this node's secret key. Refuses (err names the file and the problem)
 * a symlink, anything but a regular file, a file group/other can access, a
 * file owned by another user than the effective uid, and content that is not
 * one base64 Ed25519 seed. pk and sk are the derived key pair.
 */
int keys_load(const char *path, uint8_t pk[KEYS_PK_LEN], uint8_t sk[KEYS_SK_LEN],
	      char *err, size_t errlen);

/*
 * Generate a key pair: the secret key (seed) to path, created with
 * O_CREAT|O_EXCL|O_NOFOLLOW mode 0600 (never overwrites), the public key to
 * path.pub (0644, replaced). pk_b64 gets the public key.
 */
int keys_generate(const char *path, char pk_b64[KEYS_B64_LEN], char *err, size_t errlen);

/* `xpmemctl keygen [-o FILE]`: argv[0] is "keygen"; returns the exit status */
int keys_keygen_main(int argc, char **argv);

#endif
