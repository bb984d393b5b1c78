/*
 * auth.c - client API keys: hashing, constant-time lookup, extraction.
 *
 * Keys are never stored in the clear: a plain key from the config is hashed
 * with SHA-256 (BearSSL's br_sha256) when it is loaded, and a presented key is
 * hashed before it is compared. Comparing digests rather than keys means the
 * comparison always runs over 32 bytes whatever the presented length, and the
 * config can hold a digest only ("sha256": "...") so the file leaks nothing.
 *
 * auth_ct_eq() ORs the XOR of every byte pair into a volatile accumulator, so
 * the compiler cannot turn it into an early-exit memcmp. auth_find() compares
 * against every entry even after a match: how long a lookup takes depends on
 * the number of keys only, not on which one (if any) matched.
 *
 * auth_presented() only picks bytes out of header values the caller already
 * has; it never copies. Precedence follows what SDKs send: OpenAI clients use
 * "Authorization: Bearer", Anthropic's use x-api-key, Google's use
 * x-goog-api-key or ?key=. A non-Bearer Authorization (e.g. Basic) or an empty
 * value is treated as absent so the next source is tried.
 *
 * A key's model allow-list is a short list of '*' patterns checked with
 * auth_glob() against the name the client asked for: the operator writes the
 * names clients use ("claude-*"), not whatever a route renames them to.
 */
#include <string.h>
#include <bearssl.h>

#include "auth.h"

/* see auth.h */
void
auth_sha256(const void *s, size_t n, unsigned char out[32])
{
	br_sha256_context ctx;

	br_sha256_init(&ctx);
	br_sha256_update(&ctx, s, n);
	br_sha256_out(&ctx, out);
}

/* Reset k (no limits, no prefix) and set its name. */
static void
set_name(struct auth_key *k, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	memset(k, 0, sizeof *k);
	if (n >= sizeof k->name)
		n = sizeof k->name - 1;
	if (n)
		memcpy(k->name, name, n);
	k->name[n] = 0;
}

/* see auth.h */
int
auth_key_plain(struct auth_key *k, const char *name, const char *key,
    size_t keylen)
{
	set_name(k, name);
	auth_sha256(key, keylen, k->sha256);
	return 0;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* see auth.h */
int
auth_key_hex(struct auth_key *k, const char *name, const char *hex)
{
	unsigned char d[32];
	size_t i;
	int hi, lo;

	if (hex == NULL || strlen(hex) != 64)
		return -1;
	for (i = 0; i < 32; i++) {
		hi = hexval((unsigned char)hex[2 * i]);
		lo = hexval((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		d[i] = (unsigned char)(hi << 4 | lo);
	}
	set_name(k, name);
	memcpy(k->sha256, d, sizeof d);
	return 0;
}

/* see auth.h */
int
auth_ct_eq(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	volatile unsigned char acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= (unsigned char)(x[i] ^ y[i]);
	return acc == 0;
}

/* see auth.h */
const struct auth_key *
auth_find(const struct auth_key *keys, size_t n, const char *presented,
    size_t len)
{
	const struct auth_key *found = NULL;
	unsigned char d[32];
	size_t i;
	int eq;

	if (presented == NULL)
		return NULL;
	auth_sha256(presented, len, d);
	/* No early exit: every entry is compared, first match is kept. */
	for (i = 0; i < n; i++) {
		eq = auth_ct_eq(d, keys[i].sha256, sizeof d);
		if (eq && found == NULL)
			found = &keys[i];
	}
	return found;
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim optional whitespace (RFC 9110 OWS) on both ends of p[0..*n). */
static const char *
trim(const char *p, size_t *n)
{
	while (*n > 0 && is_ows(p[0])) {
		p++;
		(*n)--;
	}
	while (*n > 0 && is_ows(p[*n - 1]))
		(*n)--;
	return p;
}

/* "Bearer" is a case-insensitive auth-scheme (RFC 9110 §11.1). */
static const char *
bearer(const char *v, size_t vn, size_t *len)
{
	static const char scheme[] = "bearer";
	size_t i, sl = sizeof scheme - 1;

	v = trim(v, &vn);
	if (vn <= sl || !is_ows(v[sl]))
		return NULL;
	for (i = 0; i < sl; i++) {
		char c = v[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != scheme[i])
			return NULL;
	}
	v += sl;
	vn -= sl;
	v = trim(v, &vn);
	if (vn == 0)
		return NULL;
	*len = vn;
	return v;
}

static const char *
plain(const char *v, size_t vn, size_t *len)
{
	if (v == NULL)
		return NULL;
	v = trim(v, &vn);
	if (vn == 0)
		return NULL;
	*len = vn;
	return v;
}

/* see auth.h */
const char *
auth_presented(const char *authorization, size_t alen,
    const char *x_api_key, size_t xlen, const char *goog_key, size_t glen,
    const char *query_key, size_t qlen, size_t *len)
{
	const char *k = NULL;
	size_t n = 0;

	if (authorization != NULL)
		k = bearer(authorization, alen, &n);
	if (k == NULL)
		k = plain(x_api_key, xlen, &n);
	if (k == NULL)
		k = plain(goog_key, glen, &n);
	if (k == NULL)
		k = plain(query_key, qlen, &n);
	*len = k ? n : 0;
	return k;
}

/* see auth.h */
int
auth_glob(const char *p, const char *s, size_t n)
{
	const char *star = NULL;
	size_t i = 0, mark = 0;

	while (i < n) {
		if (*p == '*') {
			star = ++p;
			mark = i;
		} else if (*p != 0 && *p == s[i]) {
			p++;
			i++;
		} else if (star != NULL) {
			/* let the last '*' take one more byte and retry */
			p = star;
			i = ++mark;
		} else
			return 0;
	}
	while (*p == '*')
		p++;
	return *p == 0;
}

/* see auth.h */
int
auth_model_allowed(const struct auth_key *k, const char *model, size_t n)
{
	int i;

	if (k == NULL || k->lim.nmodels == 0)
		return 1;
	if (model == NULL)
		return 0;
	for (i = 0; i < k->lim.nmodels && i < AUTH_MODELS_MAX; i++)
		if (auth_glob(k->lim.models[i], model, n))
			return 1;
	return 0;
}

/* see auth.h */
int
auth_key_expired(const struct auth_key *k, long long now)
{
	return k != NULL && k->lim.expires != 0 && now >= k->lim.expires;
}
