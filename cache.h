/*
 * cache.h - the response cache: exact-match answers kept for a while, so
 * that the same request to the same upstream is answered without asking it
 * again.
 *
 * What is kept is the upstream's own answer: the body of a non-streamed
 * answer, or the bytes of a stream (its SSE events), as the upstream sent
 * them. A hit is replayed through the same conversion as a live answer, so
 * a stream is replayed as a stream in the client's format and a
 * non-streamed answer as one.
 *
 * The key is a SHA-256 over the routed provider, the upstream model, the
 * upstream wire format, whether the answer streams, a scope (the client
 * key's digest, or "shared") and the request body as sent upstream (the
 * encoders are deterministic, and a same-format body only has its model
 * rewritten): the normalised request. Each field is length-prefixed, so
 * no two different inputs frame the same bytes.
 *
 * Bounds: the store's (bytes and entries, least recently used evicted
 * first, a TTL after the put); one answer is at most PX_CACHE_ENTRY_MAX
 * bytes (a recorder that goes past it stops and the answer is not kept).
 * Memory only. I/O-free; time is passed in. Not thread-safe.
 */
#ifndef PX_CACHE_H
#define PX_CACHE_H

#include <stddef.h>

#include "store.h"

#ifndef PX_CACHE_ENTRY_MAX
#define PX_CACHE_ENTRY_MAX (4u * 1024 * 1024)   /* one answer */
#endif
#ifndef PX_CACHE_MAX_BYTES
#define PX_CACHE_MAX_BYTES (64u * 1024 * 1024)  /* default "max_bytes" */
#endif
#ifndef PX_CACHE_TTL_S
#define PX_CACHE_TTL_S 3600                     /* default "ttl_seconds" */
#endif

#define PX_CACHE_KEY_LEN 64       /* hex digits of a key */

/* What a request's x-llmproxy-cache header says. */
enum px_cache_hdr { PX_CACHE_HDR_NONE, PX_CACHE_HDR_USE, PX_CACHE_HDR_SKIP };

/* "use" / "skip" (also "bypass", "no", "off"), case-insensitive; anything
 * else is NONE. */
enum px_cache_hdr px_cache_hdr_parse(const char *v, size_t n);

/* 1 when the cache applies: the route is listed and the header does not
 * say skip, or the header says use. */
int px_cache_wanted(int route_listed, enum px_cache_hdr h);

struct px_cache_keyin {
	const char *provider, *model; /* routed provider, upstream model */
	int fmt;                      /* upstream wire format (enum px_fmt) */
	int stream;
	const char *scope;            /* client key digest, "shared", or "" */
	const char *body;             /* the request body sent upstream */
	size_t body_n;
};

/* The key, as PX_CACHE_KEY_LEN hex digits and a NUL. */
void px_cache_key(const struct px_cache_keyin *in,
                  char out[PX_CACHE_KEY_LEN + 1]);

struct px_cache;

/* NULL when max_bytes is 0 or on no memory. */
struct px_cache *px_cache_open(size_t max_bytes, size_t max_entries,
                               long long ttl_ms, long long now);
void px_cache_close(struct px_cache *c);

/* An answer: *stream 1 for a stream's bytes, 0 for a body; *p / *n valid
 * until the next put or sweep. 1 on a hit, 0 on a miss. */
int px_cache_get(struct px_cache *c, const char *key, long long now,
                 int *stream, const char **p, size_t *n);
/* Keep an answer (complete and successful: the caller decides). 0 or -1
 * (too large, no memory). */
int px_cache_put(struct px_cache *c, const char *key, long long now,
                 int stream, const char *p, size_t n);
size_t px_cache_sweep(struct px_cache *c, long long now);
void px_cache_stats(const struct px_cache *c, struct px_store_stats *st);

/* Recording a stream's bytes: zero-initialise; add keeps at most
 * PX_CACHE_ENTRY_MAX bytes, after which the recorder is "over" and keeps
 * nothing more (returns -1). free releases the buffer. */
struct px_cache_rec {
	char *buf;
	size_t len, cap;
	int over;
};
int px_cache_rec_add(struct px_cache_rec *r, const char *p, size_t n);
void px_cache_rec_free(struct px_cache_rec *r);

#endif
