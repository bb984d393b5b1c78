/*
 * auth.h - client API keys. Keys are stored only as SHA-256 digests (a key
 * given in plain text in the config is hashed at load time); a presented key
 * is hashed and compared against every stored digest in constant time, so
 * neither timing nor logs reveal a key. Upstream credentials will live here
 * too (pools, OAuth tokens) in later versions.
 *
 * A key also carries what it may do (struct auth_limits): a model allow-list,
 * rate limits, a spend budget and an expiry. The same structure serves keys
 * from the config file and keys from the keys file (keys.h); the limits are
 * enforced by limit.h, the allow-list and the expiry here.
 */
#ifndef PX_AUTH_H
#define PX_AUTH_H

#include <stddef.h>

#ifndef AUTH_NAME_MAX
#define AUTH_NAME_MAX 64
#endif
#ifndef AUTH_MODELS_MAX
#define AUTH_MODELS_MAX 16            /* allow-list patterns per key */
#endif
#ifndef AUTH_PATTERN_MAX
#define AUTH_PATTERN_MAX 128          /* bytes of one pattern, with NUL */
#endif
#ifndef AUTH_PREFIX_MAX
#define AUTH_PREFIX_MAX 16            /* shown prefix of a generated key */
#endif

enum auth_period {
	AUTH_PER_NONE = 0,
	AUTH_PER_DAY,                 /* resets at 00:00 UTC */
	AUTH_PER_MONTH                /* resets at 00:00 UTC on the 1st */
};

/*
 * What a key may do. All zero (memset) is a key without limits: every
 * model, no rates, no budget, no expiry.
 */
struct auth_limits {
	char models[AUTH_MODELS_MAX][AUTH_PATTERN_MAX]; /* '*' wildcards */
	int nmodels;                  /* 0 = every model */
	long long rpm;                /* requests per minute; 0 = unlimited */
	long long tpm;                /* tokens per minute; 0 = unlimited */
	long long parallel;           /* requests in flight; 0 = unlimited */
	double budget_usd;            /* spend per period; 0 = no budget */
	enum auth_period budget_per;  /* NONE exactly when budget_usd is 0 */
	long long expires;            /* unix seconds; 0 = never */
};

struct auth_key {
	char name[AUTH_NAME_MAX];     /* shown in the access log; never the key */
	unsigned char sha256[32];
	struct auth_limits lim;
	char prefix[AUTH_PREFIX_MAX]; /* start of a generated key, for lists
	                                 ("sk-llmp-AbCd"); "" for config keys */
	long long created;            /* unix seconds; 0 = unknown */
	long long rotated;            /* unix seconds of the last rotation; 0 */
};

/* SHA-256 of s[0..n). */
void auth_sha256(const void *s, size_t n, unsigned char out[32]);

/* Fill k from a plain key (hashed). Every other field is reset: the key has
 * no limits until they are set (keys_settings_parse() in keys.h). Returns 0. */
int auth_key_plain(struct auth_key *k, const char *name, const char *key,
                   size_t keylen);
/* Fill k from a 64-character hex SHA-256, resetting the other fields as
 * auth_key_plain() does. Returns 0, or -1 (k untouched) if hex is not 64
 * hex digits. */
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

/*
 * '*' matches any run of bytes (also none); every other byte of the
 * NUL-terminated pattern matches itself (case-sensitive). s[0..n) need not
 * be NUL-terminated. Linear: one backtrack point, no recursion.
 */
int auth_glob(const char *pattern, const char *s, size_t n);

/*
 * 1 when key k may use the requested model model[0..n): its allow-list is
 * empty (every model) or one of its patterns matches (auth_glob). The
 * caller checks the model name the client asked for, before routing;
 * a refusal is a 403 in the client's format.
 */
int auth_model_allowed(const struct auth_key *k, const char *model, size_t n);

/* 1 when k has an expiry and now (unix seconds) is at or past it. */
int auth_key_expired(const struct auth_key *k, long long now);

#endif
