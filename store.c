/*
 * store.c - bounded key -> value store with TTL, LRU eviction and an
 * optional append-only log. See store.h for the contract and the format.
 *
 * Memory: one malloc per entry (head, key and value together), a chained
 * hash table that doubles with the entry count, and a doubly linked LRU
 * list (head = most recently used). Byte accounting counts the whole
 * allocation, so max_bytes bounds what the store really holds.
 *
 * The log is written with writev() of a 25-byte head plus the key and the
 * value: one call per record from the caller's thread. A short or failed
 * write is undone with ftruncate() so the log never holds a torn record
 * followed by good ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "store.h"

#ifndef PX_STORE_READ_CHUNK
#define PX_STORE_READ_CHUNK (64u * 1024)     /* replay read size */
#endif

struct ent {
	struct ent *hnext;           /* hash chain */
	struct ent *prev, *next;     /* LRU list, head = most recent */
	long long expires;           /* unix ms, 0 = never */
	uint32_t hash;
	size_t kn, vn;
	size_t disk;                 /* bytes of its put record in the log */
	char data[];                 /* key, NUL, value, NUL */
};

struct px_store {
	struct px_store_opts o;
	char *path, *tmp;            /* NULL without a log */
	int fd;                      /* log, O_APPEND; -1 when off */
	struct ent **tab;
	size_t nb;                   /* buckets, a power of two */
	struct ent *head, *tail;
	size_t count, bytes;
	size_t log_bytes, log_live;
	struct px_store_stats st;    /* counters; sizes filled on demand */
	char errbuf[160];
	int has_err;
};

/* ------------------------------------------------------------ helpers */

uint32_t
px_crc32(uint32_t crc, const void *p, size_t n)
{
	static uint32_t tab[256];
	static int init;
	const unsigned char *b = p;
	uint32_t c;
	size_t i;

	if (!init) {
		for (i = 0; i < 256; i++) {
			int k;
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			tab[i] = c;
		}
		init = 1;
	}
	c = crc ^ 0xFFFFFFFFu;
	for (i = 0; i < n; i++)
		c = tab[(c ^ b[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t
hash_key(const char *k, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 16777619u;
	}
	return h;
}

static size_t
ent_cost(size_t kn, size_t vn)
{
	return sizeof(struct ent) + kn + vn + 2;
}

static void
set_err(struct px_store *s, const char *what, int e)
{
	snprintf(s->errbuf, sizeof s->errbuf, "store log %s: %s", what,
	    strerror(e));
	s->has_err = 1;
}

/* ------------------------------------------------------------ records */

/* see store.h */
void
px_store_rec_head(unsigned char out[PX_STORE_HEAD + PX_STORE_FIXED],
                  int type, long long expires, const char *key, size_t kn,
                  const void *val, size_t vn)
{
	unsigned char *b = out + PX_STORE_HEAD;
	uint32_t crc;

	b[0] = (unsigned char)type;
	put64(b + 1, (uint64_t)expires);
	put32(b + 9, (uint32_t)kn);
	put32(b + 13, (uint32_t)vn);
	crc = px_crc32(0, b, PX_STORE_FIXED);
	crc = px_crc32(crc, key, kn);
	if (vn)
		crc = px_crc32(crc, val, vn);
	put32(out, (uint32_t)(PX_STORE_FIXED + kn + vn));
	put32(out + 4, crc);
}

/* see store.h */
long
px_store_rec_parse(const char *p, size_t n, struct px_store_rec *r)
{
	const unsigned char *u = (const unsigned char *)p;
	uint32_t len, kn, vn;
	int type;

	if (n < PX_STORE_HEAD)
		return PX_STORE_PARTIAL;
	len = get32(u);
	if (len < PX_STORE_FIXED + 1 ||
	    len > PX_STORE_FIXED + PX_STORE_KEY_MAX + (uint64_t)PX_STORE_VAL_MAX)
		return PX_STORE_ERROR;
	if (n - PX_STORE_HEAD < len)
		return PX_STORE_PARTIAL;
	if (px_crc32(0, u + PX_STORE_HEAD, len) != get32(u + 4))
		return PX_STORE_ERROR;
	u += PX_STORE_HEAD;
	type = u[0];
	kn = get32(u + 9);
	vn = get32(u + 13);
	if ((type != 'P' && type != 'D') || kn == 0 || kn > PX_STORE_KEY_MAX ||
	    vn > PX_STORE_VAL_MAX || (uint64_t)kn + vn != len - PX_STORE_FIXED ||
	    (type == 'D' && vn != 0))
		return PX_STORE_ERROR;
	r->type = type;
	r->expires = (long long)get64(u + 1);
	r->key = (const char *)u + PX_STORE_FIXED;
	r->kn = kn;
	r->val = r->key + kn;
	r->vn = vn;
	if (r->expires < 0)
		return PX_STORE_ERROR;
	return (long)(PX_STORE_HEAD + len);
}

/* ------------------------------------------------------------ table */

static struct ent **
slot(struct px_store *s, const char *key, size_t kn, uint32_t h)
{
	struct ent **pp = &s->tab[h & (s->nb - 1)];

	while (*pp && ((*pp)->hash != h || (*pp)->kn != kn ||
	    memcmp((*pp)->data, key, kn) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

static int
grow(struct px_store *s)
{
	size_t nb = s->nb * 2, i;
	struct ent **t = calloc(nb, sizeof *t);

	if (!t)
		return -1;
	for (i = 0; i < s->nb; i++) {
		struct ent *e = s->tab[i], *nx;
		for (; e; e = nx) {
			nx = e->hnext;
			e->hnext = t[e->hash & (nb - 1)];
			t[e->hash & (nb - 1)] = e;
		}
	}
	free(s->tab);
	s->tab = t;
	s->nb = nb;
	return 0;
}

static void
lru_unlink(struct px_store *s, struct ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_front(struct px_store *s, struct ent *e)
{
	e->prev = NULL;
	e->next = s->head;
	if (s->head)
		s->head->prev = e;
	s->head = e;
	if (!s->tail)
		s->tail = e;
}

/* Remove e (found at *pp in its chain) and free it. */
static void
drop(struct px_store *s, struct ent **pp, struct ent *e)
{
	*pp = e->hnext;
	lru_unlink(s, e);
	s->count--;
	s->bytes -= ent_cost(e->kn, e->vn);
	s->log_live -= e->disk;
	free(e);
}

static void
drop_ent(struct px_store *s, struct ent *e)
{
	drop(s, slot(s, e->data, e->kn, e->hash), e);
}

static int
expired(const struct ent *e, long long now)
{
	return e->expires && e->expires <= now;
}

/* ------------------------------------------------------------ log */

/* Append one record; returns its size, or 0 when the log is off or the
 * write failed (then the log is cut back to its last good record). */
static size_t
log_append(struct px_store *s, int type, long long expires, const char *key,
           size_t kn, const void *val, size_t vn)
{
	unsigned char h[PX_STORE_HEAD + PX_STORE_FIXED];
	struct iovec iov[3];
	size_t total = sizeof h + kn + vn, done = 0;
	int n = 0, i;

	if (s->fd < 0)
		return 0;
	px_store_rec_head(h, type, expires, key, kn, val, vn);
	iov[n].iov_base = h;
	iov[n++].iov_len = sizeof h;
	iov[n].iov_base = (void *)key;
	iov[n++].iov_len = kn;
	if (vn) {
		iov[n].iov_base = (void *)val;
		iov[n++].iov_len = vn;
	}
	while (done < total) {
		ssize_t w;
		/* skip what is written (short writes are rare: regular file) */
		struct iovec v[3];
		size_t skip = done;
		int m = 0;
		for (i = 0; i < n; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			v[m].iov_base = (char *)iov[i].iov_base + skip;
			v[m++].iov_len = iov[i].iov_len - skip;
			skip = 0;
		}
		w = writev(s->fd, v, m);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			set_err(s, "write", w < 0 ? errno : EIO);
			if (ftruncate(s->fd, (off_t)s->log_bytes) < 0) {
				set_err(s, "truncate (persistence off)", errno);
				close(s->fd);
				s->fd = -1;
			}
			return 0;
		}
		done += (size_t)w;
	}
	s->log_bytes += total;
	return total;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* see store.h */
int
px_store_compact(struct px_store *s)
{
	struct ent *e;
	size_t total = PX_STORE_MAGIC_LEN, live = 0;
	int fd, e2;

	if (!s->path)
		return 0;
	fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		set_err(s, "compaction open", errno);
		return -1;
	}
	if (write_all(fd, PX_STORE_MAGIC, PX_STORE_MAGIC_LEN) < 0)
		goto fail;
	/* oldest first: a replay rebuilds the same LRU order */
	for (e = s->tail; e; e = e->prev) {
		unsigned char h[PX_STORE_HEAD + PX_STORE_FIXED];
		const char *v = e->data + e->kn + 1;
		px_store_rec_head(h, 'P', e->expires, e->data, e->kn, v, e->vn);
		if (write_all(fd, h, sizeof h) < 0 ||
		    write_all(fd, e->data, e->kn) < 0 ||
		    write_all(fd, v, e->vn) < 0)
			goto fail;
		total += sizeof h + e->kn + e->vn;
	}
	if (rename(s->tmp, s->path) < 0)
		goto fail;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	for (e = s->tail; e; e = e->prev) {
		e->disk = PX_STORE_HEAD + PX_STORE_FIXED + e->kn + e->vn;
		live += e->disk;
	}
	s->log_bytes = total;
	s->log_live = live;
	s->st.compactions++;
	return 0;
fail:
	e2 = errno ? errno : EIO;
	close(fd);
	unlink(s->tmp);
	set_err(s, "compaction", e2);
	return -1;
}

static void
maybe_compact(struct px_store *s)
{
	size_t dead;

	if (s->fd < 0)
		return;
	dead = s->log_bytes - PX_STORE_MAGIC_LEN - s->log_live;
	if (dead > s->log_live && dead >= PX_STORE_COMPACT_MIN)
		px_store_compact(s);
}

/* ------------------------------------------------------------ core */

/* Insert key -> val (replacing), then evict to the bounds. disk: bytes of
 * the record that holds it in the log (0 when none). */
static int
put_ent(struct px_store *s, const char *key, size_t kn, const void *val,
        size_t vn, long long expires, size_t disk)
{
	uint32_t h = hash_key(key, kn);
	struct ent **pp = slot(s, key, kn, h), *e;
	size_t cost = ent_cost(kn, vn);

	if (*pp)
		drop(s, pp, *pp);
	if (kn == 0 || kn > PX_STORE_KEY_MAX || vn > PX_STORE_VAL_MAX ||
	    cost > s->o.max_bytes)
		return -1;
	if (s->count + 1 > s->nb && grow(s) == 0)
		pp = slot(s, key, kn, h);
	e = malloc(cost - sizeof(struct ent) + sizeof *e);
	if (!e)
		return -1;
	memset(e, 0, sizeof *e);
	e->hash = h;
	e->kn = kn;
	e->vn = vn;
	e->expires = expires;
	memcpy(e->data, key, kn);
	e->data[kn] = 0;
	if (vn)
		memcpy(e->data + kn + 1, val, vn);
	e->data[kn + 1 + vn] = 0;
	e->disk = disk;
	*pp = e;
	lru_front(s, e);
	s->count++;
	s->bytes += cost;
	s->log_live += disk;
	while (s->tail != e && (s->bytes > s->o.max_bytes ||
	    (s->o.max_entries && s->count > s->o.max_entries))) {
		drop_ent(s, s->tail);
		s->st.evicted++;
	}
	return 0;
}

/* see store.h */
int
px_store_put(struct px_store *s, const char *key, size_t kn, const void *val,
             size_t vn, long long now)
{
	long long exp = s->o.ttl_ms > 0 ? now + s->o.ttl_ms : 0;
	size_t disk = 0;
	int rc;

	if (kn == 0 || kn > PX_STORE_KEY_MAX || vn > PX_STORE_VAL_MAX ||
	    ent_cost(kn, vn) > s->o.max_bytes) {
		px_store_del(s, key, kn, now);
		return -1;
	}
	disk = log_append(s, 'P', exp, key, kn, val, vn);
	rc = put_ent(s, key, kn, val, vn, exp, disk);
	if (rc < 0 && disk)
		log_append(s, 'D', 0, key, kn, NULL, 0);
	maybe_compact(s);
	return rc;
}

/* see store.h */
int
px_store_get(struct px_store *s, const char *key, size_t kn, long long now,
             const char **val, size_t *vn)
{
	struct ent **pp, *e;

	if (kn == 0 || kn > PX_STORE_KEY_MAX)
		return 0;
	pp = slot(s, key, kn, hash_key(key, kn));
	if (!(e = *pp))
		return 0;
	if (expired(e, now)) {
		drop(s, pp, e);
		s->st.expired++;
		return 0;
	}
	lru_unlink(s, e);
	lru_front(s, e);
	*val = e->data + e->kn + 1;
	*vn = e->vn;
	return 1;
}

/* see store.h */
int
px_store_del(struct px_store *s, const char *key, size_t kn, long long now)
{
	struct ent **pp, *e;
	int had;

	(void)now;
	if (kn == 0 || kn > PX_STORE_KEY_MAX)
		return 0;
	pp = slot(s, key, kn, hash_key(key, kn));
	e = *pp;
	had = e != NULL && !expired(e, now);
	if (e)
		drop(s, pp, e);
	/* logged even when absent: an evicted entry's put may still be in
	 * the log and must not come back at the next start */
	log_append(s, 'D', 0, key, kn, NULL, 0);
	maybe_compact(s);
	return had;
}

/* see store.h */
size_t
px_store_sweep(struct px_store *s, long long now)
{
	struct ent *e, *nx;
	size_t n = 0;

	for (e = s->head; e; e = nx) {
		nx = e->next;
		if (expired(e, now)) {
			drop_ent(s, e);
			n++;
		}
	}
	s->st.expired += n;
	maybe_compact(s);
	return n;
}

/* Apply records from p[0..n); *used = bytes taken. Returns 0 when the rest
 * is an incomplete record (or nothing), -1 at a corrupt record. */
static int
replay_records(struct px_store *s, const char *p, size_t n, long long now,
               size_t *used)
{
	size_t off = 0;

	for (;;) {
		struct px_store_rec r;
		long k = px_store_rec_parse(p + off, n - off, &r);
		if (k == PX_STORE_PARTIAL) {
			*used = off;
			return 0;
		}
		if (k < 0) {
			*used = off;
			return -1;
		}
		off += (size_t)k;
		if (r.type == 'D' || (r.expires && r.expires <= now)) {
			struct ent **pp = slot(s, r.key, r.kn,
			    hash_key(r.key, r.kn));
			if (*pp)
				drop(s, pp, *pp);
			if (r.type == 'P')
				s->st.skipped++;
			else
				s->st.replayed++;
			continue;
		}
		put_ent(s, r.key, r.kn, r.val, r.vn, r.expires,
		    s->path ? (size_t)k : 0);
		s->st.replayed++;
	}
}

/* see store.h */
size_t
px_store_replay(struct px_store *s, const char *p, size_t n, long long now)
{
	size_t used = 0;

	if (n < PX_STORE_MAGIC_LEN ||
	    memcmp(p, PX_STORE_MAGIC, PX_STORE_MAGIC_LEN) != 0) {
		s->st.dropped_tail += n;
		return 0;
	}
	replay_records(s, p + PX_STORE_MAGIC_LEN, n - PX_STORE_MAGIC_LEN, now,
	    &used);
	s->st.dropped_tail += n - PX_STORE_MAGIC_LEN - used;
	return PX_STORE_MAGIC_LEN + used;
}

/* Replay the log file at open. Returns the good prefix length, or -1 on a
 * read error. */
static long long
replay_file(struct px_store *s, int fd, long long now)
{
	size_t cap = PX_STORE_READ_CHUNK, len = 0, used;
	long long good = 0, total = 0;
	char *buf = malloc(cap);
	int magic = 0, bad = 0, eof = 0;

	if (!buf)
		return -1;
	while (!bad && !eof) {
		ssize_t r;
		if (len == cap) {
			/* a record larger than the buffer: grow (the parser
			 * bounds the length it accepts) */
			char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				bad = 1;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return -1;
		}
		eof = r == 0;
		len += (size_t)r;
		total += r;
		if (!magic) {
			if (len < PX_STORE_MAGIC_LEN && !eof)
				continue;
			if (len < PX_STORE_MAGIC_LEN ||
			    memcmp(buf, PX_STORE_MAGIC, PX_STORE_MAGIC_LEN)) {
				bad = 1;
				break;
			}
			magic = 1;
			memmove(buf, buf + PX_STORE_MAGIC_LEN,
			    len - PX_STORE_MAGIC_LEN);
			len -= PX_STORE_MAGIC_LEN;
			good = PX_STORE_MAGIC_LEN;
		}
		if (replay_records(s, buf, len, now, &used) < 0)
			bad = 1;
		good += (long long)used;
		memmove(buf, buf + used, len - used);
		len -= used;
	}
	/* read the rest only to count it */
	while (bad) {
		ssize_t r = read(fd, buf, cap);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		total += r;
	}
	free(buf);
	s->st.dropped_tail += (size_t)(total - good);
	return good;
}

/* see store.h */
struct px_store *
px_store_open(const struct px_store_opts *opts, long long now, char *err,
              size_t errcap)
{
	struct px_store *s = calloc(1, sizeof *s);
	long long good;
	size_t pl;
	int fd;

	if (!s || !(s->tab = calloc(64, sizeof *s->tab))) {
		free(s);
		snprintf(err, errcap, "store: out of memory");
		return NULL;
	}
	s->nb = 64;
	s->o = *opts;
	s->o.path = NULL;
	s->fd = -1;
	if (!opts->path || !opts->path[0])
		return s;
	pl = strlen(opts->path);
	s->path = malloc(pl + 1);
	s->tmp = malloc(pl + 5);
	if (!s->path || !s->tmp) {
		snprintf(err, errcap, "store: out of memory");
		px_store_close(s);
		return NULL;
	}
	memcpy(s->path, opts->path, pl + 1);
	memcpy(s->tmp, opts->path, pl);
	memcpy(s->tmp + pl, ".tmp", 5);
	fd = open(s->path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errcap, "store: cannot open %s: %s", s->path,
		    strerror(errno));
		px_store_close(s);
		return NULL;
	}
	good = replay_file(s, fd, now);
	close(fd);
	if (good < 0) {
		snprintf(err, errcap, "store: cannot read %s: %s", s->path,
		    strerror(errno));
		px_store_close(s);
		return NULL;
	}
	s->log_bytes = (size_t)good;
	if (s->st.dropped_tail || good < PX_STORE_MAGIC_LEN ||
	    s->log_bytes - PX_STORE_MAGIC_LEN - s->log_live > s->log_live) {
		/* rewrite: drops the bad tail and the dead records */
		if (px_store_compact(s) < 0) {
			snprintf(err, errcap, "store: cannot rewrite %s: %s",
			    s->path, s->errbuf);
			px_store_close(s);
			return NULL;
		}
	} else {
		s->fd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (s->fd < 0) {
			snprintf(err, errcap, "store: cannot open %s: %s",
			    s->path, strerror(errno));
			px_store_close(s);
			return NULL;
		}
	}
	return s;
}

/* see store.h */
void
px_store_close(struct px_store *s)
{
	struct ent *e, *nx;

	if (!s)
		return;
	for (e = s->head; e; e = nx) {
		nx = e->next;
		free(e);
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s->tab);
	free(s->path);
	free(s->tmp);
	free(s);
}

/* see store.h */
void
px_store_stats(const struct px_store *s, struct px_store_stats *st)
{
	*st = s->st;
	st->entries = s->count;
	st->bytes = s->bytes;
	st->log_bytes = s->fd >= 0 ? s->log_bytes : 0;
	st->log_live = s->fd >= 0 ? s->log_live : 0;
}

/* see store.h */
const char *
px_store_error(struct px_store *s)
{
	if (!s->has_err)
		return NULL;
	s->has_err = 0;
	return s->errbuf;
}
