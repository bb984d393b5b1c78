/*
 * auth.h - client API keys. Keys are stored only as SHA-256 digests (a key
 * given in plain text in the config is hashed at load time); a presented key
 * is hashed and compared against every stored digest in constant time, so
 * neither timing nor logs reveal a key. Upstream credentials will live here
 * too (pools, OAuth tokens) in later versions.
 */
#ifndef PX_AUTH_H
#define PX_AUTH_H

#include <stddef.h>

#ifndef AUTH_NAME_MAX
#define AUTH_NAME_MAX 64
#endif

struct auth_key {
	char name[AUTH_NAME_MAX];     /* shown in the access log; never the key */
	unsigned char sha256[32];
};

/* SHA-256 of s[0..n). */
void auth_sha256(const void *s, size_t n, unsigned char out[32]);

/* Fill k from a plain key (hashed). Returns 0. */
int auth_key_plain(struct auth_key *k, const char *name, const char *key,
                   size_t keylen);
/* Fill k from a 64-character hex SHA-256. Returns 0, or -1 if hex is not
 * 64 hex digits. */
int auth_key_hex(struct auth_key *k, const char *name, const char *hex);

/* Constant-time equality of two n-byte buffers (1 equal, 0 not). */
int auth_ct_eq(const void *a, const void *b, size_t n);

/*
 * Find the presented key among keys[0..n). Hashes it and compares against
 * every entry without early exit. Returns the matching entry or NULL.
 */
const struct auth_key *auth_find(const struct auth_key *keys, size_t n,
                                 const char *presented, size_t len);

/*
 * Extract the key a client presented, from (in order) `Authorization:
 * Bearer X`, `x-api-key`, `x-goog-api-key`, `?key=` (the caller passes the
 * raw header values, NULL when absent, and the decoded query value).
 * Returns a pointer to the key bytes and sets *len, or NULL if none.
 */
const char *auth_presented(const char *authorization, size_t alen,
                           const char *x_api_key, size_t xlen,
                           const char *goog_key, size_t glen,
                           const char *query_key, size_t qlen, size_t *len);

#endif
