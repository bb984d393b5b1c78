/*
 * rcache.c - the response cache (cache.c) in the request's life: whether
 * a request uses it, the key of each attempt, and what is kept.
 *
 * A request uses the cache when its route is listed in "cache.routes" and
 * its x-llmproxy-cache header does not say skip, or when the header says
 * use (the cache must be configured either way). Each attempt computes the
 * key from the request it would send upstream (see cache.h): a hit is
 * replayed by relay.c through the engine's callbacks as if the upstream
 * had answered; a miss goes upstream, and a complete, successful answer is
 * kept: a non-streamed 2xx body that was answered, or a stream that ended
 * cleanly (never an error status, an error event, or a stream cut off).
 * Entries are per client key unless the route is listed in
 * "cache.shared".
 */
#include <stdio.h>
#include <string.h>

#include "proxy_int.h"

static struct px_cache *cache;
static long long cache_sweep_at;

/* see proxy_int.h */
void
cx_take(struct conn *c, const char *v, size_t n)
{
	c->cache_hdr = (unsigned)px_cache_hdr_parse(v, n);
}

static int
listed(const char **names, int n, const char *pattern)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], pattern) == 0)
			return 1;
	return 0;
}

/* see proxy_int.h */
int
cx_lookup(struct conn *c, const char **p, size_t *n)
{
	const struct px_config *rc = c->cref->cfg;
	struct px_cache_keyin in;
	char scope[65];
	int stream = 0;

	c->cache_state = CX_NONE;
	px_cache_rec_free(&c->cache_rec);
	c->cache_rec.over = 0;
	if (!cache || !c->route || !px_cache_wanted(listed(rc->cache_routes,
	    rc->ncache_routes, c->route->pattern),
	    (enum px_cache_hdr)c->cache_hdr))
		return 0;
	memset(&in, 0, sizeof in);
	in.provider = c->prov->name;
	in.model = c->up_model;
	in.fmt = (int)c->ufmt;
	in.stream = c->req.stream;
	in.body = c->ubody_out;
	in.body_n = c->ubody_out_n;
	if (listed(rc->cache_shared, rc->ncache_shared, c->route->pattern)) {
		in.scope = "shared";
	} else {
		key_scope(c, scope);
		in.scope = scope;
	}
	px_cache_key(&in, c->cache_key);
	c->cache_state = CX_MISS;
	if (!px_cache_get(cache, c->cache_key, wall_ms(), &stream, p, n) ||
	    stream != (c->req.stream != 0)) {
		px_metrics_cache(&metrics, 0);
		return 0;
	}
	c->cache_state = CX_HIT;
	px_metrics_cache(&metrics, 1);
	DBG("conn %lu: cache hit (%zu bytes)", c->id, *n);
	return 1;
}

/* see proxy_int.h */
void
cx_record(struct conn *c, const char *p, size_t n)
{
	if (c->cache_state == CX_MISS)
		px_cache_rec_add(&c->cache_rec, p, n);
}

/* see proxy_int.h */
void
cx_store(struct conn *c, int stream, const char *p, size_t n)
{
	if (c->cache_state != CX_MISS)
		return;
	if (stream) {
		if (c->cache_rec.over || !c->cache_rec.len)
			goto out;
		p = c->cache_rec.buf;
		n = c->cache_rec.len;
	}
	if (px_cache_put(cache, c->cache_key, wall_ms(), stream, p, n) < 0)
		DBG("conn %lu: answer not cached (%zu bytes)", c->id, n);
out:
	c->cache_state = CX_STORED;
	px_cache_rec_free(&c->cache_rec);
}

/* see proxy_int.h */
void
cx_done(struct conn *c)
{
	px_cache_rec_free(&c->cache_rec);
	c->cache_rec.over = 0;
}

/* see proxy_int.h */
void
cx_metrics(void)
{
	struct px_store_stats st;

	if (!cache)
		return;
	px_cache_stats(cache, &st);
	px_metrics_store(&metrics, PX_MET_CACHE, st.entries, st.bytes,
	    st.evicted, st.expired);
}

/* see proxy_int.h */
int
cx_open(void)
{
	if (cfg->cache_max_bytes == 0)
		return 0;
	cache = px_cache_open(cfg->cache_max_bytes, cfg->cache_max_entries,
	    cfg->cache_ttl_s * 1000, wall_ms());
	if (!cache) {
		px_log("cache: out of memory");
		return -1;
	}
	px_log("cache: %zu byte(s), %zu entries, ttl %llds, %d route(s) "
	    "(%d shared)", cfg->cache_max_bytes, cfg->cache_max_entries,
	    cfg->cache_ttl_s, cfg->ncache_routes, cfg->ncache_shared);
	return 0;
}

/* see proxy_int.h */
void
cx_sweep(void)
{
	if (!cache || now_ms() < cache_sweep_at)
		return;
	cache_sweep_at = now_ms() + PX_RSTORE_SWEEP_MS;
	px_cache_sweep(cache, wall_ms());
}

/* see proxy_int.h */
void
cx_close(void)
{
	px_cache_close(cache);
	cache = NULL;
}
