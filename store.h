/*
 * store.h - a bounded key -> value store: in memory, with a TTL, byte and
 * entry bounds and LRU eviction, optionally persisted to an append-only log.
 *
 * Keys are byte strings (1..PX_STORE_KEY_MAX bytes), values are opaque bytes
 * (the store adds a NUL after each value for callers that want a C string).
 * Every entry expires `ttl_ms` after its last put; expired entries are
 * dropped lazily on access and by px_store_sweep(). When a put takes the
 * store over max_bytes or max_entries, least recently used entries are
 * evicted (a get counts as a use).
 *
 * Time is passed in by the caller (unix milliseconds) so tests can run a
 * fake clock; nothing in here reads a clock.
 *
 * Persistence (opts.path set): every put and delete appends one record to
 * the log with plain write() - small, sequential, no fsync - so a crash
 * loses at most the records the kernel had not written yet. At open the log
 * is replayed: expired records are skipped, and replay stops at the first
 * torn or corrupt record (it is never trusted, never a crash). When dead
 * bytes (overwritten, deleted, evicted or expired records) exceed live
 * bytes, the log is compacted: the live entries are written to "<path>.tmp"
 * which is renamed over the log. The log is created with mode 0600.
 *
 * Log format: an 8-byte magic "PXSTORE1", then records:
 *
 *   u32 len      bytes after this 8-byte record head (17 + klen + vlen)
 *   u32 crc      CRC-32 (IEEE) of those bytes
 *   u8  type     'P' put, 'D' delete
 *   i64 expires  unix ms (0 = never; 0 for deletes)
 *   u32 klen, u32 vlen
 *   key bytes, value bytes
 *
 * all integers little-endian. A delete has vlen 0.
 *
 * Not thread-safe; one store is used from one thread (the proxy's loop).
 */
#ifndef PX_STORE_H
#define PX_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifndef PX_STORE_KEY_MAX
#define PX_STORE_KEY_MAX 256                 /* bytes of one key */
#endif
#ifndef PX_STORE_VAL_MAX
#define PX_STORE_VAL_MAX (64u * 1024 * 1024) /* bytes of one value (log
                                                records above are corrupt) */
#endif
#ifndef PX_STORE_COMPACT_MIN
#define PX_STORE_COMPACT_MIN (64u * 1024)    /* dead log bytes before a
                                                compaction is considered */
#endif

#define PX_STORE_MAGIC     "PXSTORE1"
#define PX_STORE_MAGIC_LEN 8
#define PX_STORE_HEAD      8     /* len + crc */
#define PX_STORE_FIXED     17    /* type + expires + klen + vlen */

#define PX_STORE_PARTIAL (-2)    /* need more bytes */
#define PX_STORE_ERROR   (-1)    /* corrupt record */

struct px_store_opts {
	size_t max_bytes;            /* memory bound (keys + values + per-entry
	                                overhead); 0 = the store keeps nothing */
	size_t max_entries;          /* 0 = no entry bound */
	long long ttl_ms;            /* <= 0: entries never expire */
	const char *path;            /* log file; NULL or "" = memory only */
};

struct px_store_stats {
	size_t entries;
	size_t bytes;                /* memory accounted against max_bytes */
	size_t log_bytes;            /* size of the log file (0 without one) */
	size_t log_live;             /* bytes of the log that are live records */
	unsigned long evicted;       /* entries dropped by the bounds */
	unsigned long expired;       /* entries dropped by the TTL */
	unsigned long compactions;
	unsigned long replayed;      /* records applied at open */
	unsigned long skipped;       /* records skipped at open (expired) */
	size_t dropped_tail;         /* bytes ignored at open (torn/corrupt) */
};

struct px_store;

/*
 * Create a store; with opts->path, replay the log (creating it if absent).
 * Returns NULL with a message in err only when the log cannot be opened or
 * written (a corrupt log is not an error: its good prefix is kept, see
 * stats.dropped_tail). `now` is unix ms.
 */
struct px_store *px_store_open(const struct px_store_opts *opts,
                               long long now, char *err, size_t errcap);
void px_store_close(struct px_store *s);

/*
 * Insert or replace. Returns 0, or -1 when the entry cannot be kept (empty
 * or too long key, value larger than PX_STORE_VAL_MAX or than the whole
 * byte budget, no memory); an existing entry under the key is then removed.
 * A log write failure does not fail the put (see px_store_error()).
 */
int px_store_put(struct px_store *s, const char *key, size_t kn,
                 const void *val, size_t vn, long long now);

/*
 * Look up. Returns 1 and sets *val and *vn (valid until the next put, delete,
 * sweep, compaction or close; NUL-terminated), or 0 when absent or expired.
 * Marks the entry most recently used.
 */
int px_store_get(struct px_store *s, const char *key, size_t kn,
                 long long now, const char **val, size_t *vn);

/* Remove. Returns 1 when an entry was removed, 0 when there was none. */
int px_store_del(struct px_store *s, const char *key, size_t kn,
                 long long now);

/* Drop expired entries, then compact the log if it is due. Returns the
 * number of entries dropped. */
size_t px_store_sweep(struct px_store *s, long long now);

/* Rewrite the log now from the live entries. 0, or -1 (see
 * px_store_error()). */
int px_store_compact(struct px_store *s);

void px_store_stats(const struct px_store *s, struct px_store_stats *st);

/*
 * The last log I/O error (no keys or values in it; valid until the next
 * call on s), then cleared; NULL when none. After a failed write the log is
 * truncated back to its last good record; if even that fails, persistence
 * is switched off and the store goes on in memory.
 */
const char *px_store_error(struct px_store *s);

/* ---------------------------------------------------- log records */

struct px_store_rec {
	int type;                    /* 'P' or 'D' */
	long long expires;
	const char *key, *val;       /* borrowed from the parsed buffer */
	size_t kn, vn;
};

/*
 * Parse one record at p[0..n). Returns the bytes it takes (> 0), or
 * PX_STORE_PARTIAL when n is too short to tell, or PX_STORE_ERROR when the
 * bytes cannot be a record (bad length, checksum, type or field).
 */
long px_store_rec_parse(const char *p, size_t n, struct px_store_rec *r);

/* Record head (len, crc, type, expires, klen, vlen) for key/val: writes
 * PX_STORE_HEAD + PX_STORE_FIXED bytes to out; the key and value follow it
 * on disk. */
void px_store_rec_head(unsigned char out[PX_STORE_HEAD + PX_STORE_FIXED],
                       int type, long long expires, const char *key,
                       size_t kn, const void *val, size_t vn);

/*
 * Apply a log image (magic + records) to the store, as at open, without
 * touching the store's own log. Returns the length of the good prefix;
 * counts go to the stats. For tests and the fuzzer.
 */
size_t px_store_replay(struct px_store *s, const char *p, size_t n,
                       long long now);

uint32_t px_crc32(uint32_t crc, const void *p, size_t n);

#endif
