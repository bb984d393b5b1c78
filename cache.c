/*
 * cache.c - the response cache: keys, the bounded store, the stream
 * recorder. See cache.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bearssl.h>

#include "cache.h"

struct px_cache {
	struct px_store *st;
};

/* see cache.h */
enum px_cache_hdr
px_cache_hdr_parse(const char *v, size_t n)
{
	static const char *const skip[] = { "skip", "bypass", "no", "off",
	    NULL };
	size_t i;

	if (!v)
		return PX_CACHE_HDR_NONE;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	if (n == 3 && strncasecmp(v, "use", 3) == 0)
		return PX_CACHE_HDR_USE;
	for (i = 0; skip[i]; i++)
		if (n == strlen(skip[i]) && strncasecmp(v, skip[i], n) == 0)
			return PX_CACHE_HDR_SKIP;
	return PX_CACHE_HDR_NONE;
}

/* see cache.h */
int
px_cache_wanted(int route_listed, enum px_cache_hdr h)
{
	return h == PX_CACHE_HDR_USE || (route_listed && h != PX_CACHE_HDR_SKIP);
}

static void
field(br_sha256_context *h, const void *p, size_t n)
{
	unsigned char len[8];
	uint64_t v = n;
	int i;

	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(v >> (8 * i));
	br_sha256_update(h, len, 8);
	if (n)
		br_sha256_update(h, p, n);
}

static void
cfield(br_sha256_context *h, const char *s)
{
	field(h, s ? s : "", s ? strlen(s) : 0);
}

/* see cache.h */
void
px_cache_key(const struct px_cache_keyin *in, char out[PX_CACHE_KEY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	br_sha256_context h;
	unsigned char d[32], b[2];
	size_t i;

	br_sha256_init(&h);
	cfield(&h, "llmproxy-cache-1");
	cfield(&h, in->provider);
	cfield(&h, in->model);
	b[0] = (unsigned char)in->fmt;
	b[1] = (unsigned char)(in->stream != 0);
	field(&h, b, 2);
	cfield(&h, in->scope);
	field(&h, in->body, in->body_n);
	br_sha256_out(&h, d);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[PX_CACHE_KEY_LEN] = 0;
}

/* see cache.h */
struct px_cache *
px_cache_open(size_t max_bytes, size_t max_entries, long long ttl_ms,
              long long now)
{
	struct px_store_opts o;
	struct px_cache *c;
	char err[200];

	if (max_bytes == 0 || (c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	memset(&o, 0, sizeof o);
	o.max_bytes = max_bytes;
	o.max_entries = max_entries;
	o.ttl_ms = ttl_ms;
	if ((c->st = px_store_open(&o, now, err, sizeof err)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

/* see cache.h */
void
px_cache_close(struct px_cache *c)
{
	if (!c)
		return;
	px_store_close(c->st);
	free(c);
}

/* see cache.h */
int
px_cache_get(struct px_cache *c, const char *key, long long now, int *stream,
             const char **p, size_t *n)
{
	const char *v;
	size_t vn;

	if (!c || !px_store_get(c->st, key, strlen(key), now, &v, &vn) ||
	    vn < 1 || (v[0] != 'S' && v[0] != 'J'))
		return 0;
	*stream = v[0] == 'S';
	*p = v + 1;
	*n = vn - 1;
	return 1;
}

/* see cache.h */
int
px_cache_put(struct px_cache *c, const char *key, long long now, int stream,
             const char *p, size_t n)
{
	char *v;
	int rc;

	if (!c || n == 0 || n > PX_CACHE_ENTRY_MAX || (v = malloc(n + 1)) == NULL)
		return -1;
	v[0] = stream ? 'S' : 'J';
	memcpy(v + 1, p, n);
	rc = px_store_put(c->st, key, strlen(key), v, n + 1, now);
	free(v);
	return rc;
}

/* see cache.h */
size_t
px_cache_sweep(struct px_cache *c, long long now)
{
	return c ? px_store_sweep(c->st, now) : 0;
}

/* see cache.h */
void
px_cache_stats(const struct px_cache *c, struct px_store_stats *st)
{
	if (c)
		px_store_stats(c->st, st);
	else
		memset(st, 0, sizeof *st);
}

/* see cache.h */
int
px_cache_rec_add(struct px_cache_rec *r, const char *p, size_t n)
{
	if (r->over)
		return -1;
	if (r->len + n > PX_CACHE_ENTRY_MAX) {
		px_cache_rec_free(r);
		r->over = 1;
		return -1;
	}
	if (r->len + n > r->cap) {
		size_t nc = r->cap ? r->cap : 4096;
		char *np;
		while (nc < r->len + n)
			nc *= 2;
		if ((np = realloc(r->buf, nc)) == NULL) {
			px_cache_rec_free(r);
			r->over = 1;
			return -1;
		}
		r->buf = np;
		r->cap = nc;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	return 0;
}

/* see cache.h */
void
px_cache_rec_free(struct px_cache_rec *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
}
