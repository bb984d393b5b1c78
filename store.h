/*
 * store.h - persistence: the journal (an append-only, checksummed record
 * file), the state directory, and a bounded key -> value store on top of
 * the journal.
 *
 * ---- The journal (struct px_journal)
 *
 * One mechanism for everything the proxy persists (the Responses store, the
 * usage records). A journal file is an 8-byte magic chosen by its user, then
 * records:
 *
 *   u32 len      bytes of the body that follows the 8-byte head (>= 1)
 *   u32 crc      CRC-32 (IEEE) of the body
 *   body:        u8 type, then len - 1 bytes that the user defines
 *
 * integers little-endian. The type byte lets several kinds of record share
 * one file; the journal itself only frames and checks them.
 *
 * Crash safety. A record (or a batch of whole records) is appended with one
 * write() call on an O_APPEND descriptor; a short or failed write is undone
 * with ftruncate() back to the last good record, so the file never holds a
 * torn record followed by good ones. There is no fsync per append: a crash
 * of the process loses nothing that write() accepted; a crash of the machine
 * can lose what the kernel had not written back yet. At open the file is
 * replayed and replay stops at the first record that is incomplete (torn
 * tail), fails its checksum, is longer than the user's bound, or that the
 * user's callback rejects; those bytes are counted (dropped) and cut off
 * with ftruncate() so later appends follow good records. A file that does
 * not start with the magic (another program's file, or a format this build
 * does not know) is renamed to "<path>.bad" and a new journal is started:
 * it is never trusted and never overwritten.
 *
 * Rewrite (compaction): the user writes the records to keep into
 * "<path>.tmp", and commit renames it over the journal. With PX_JOURNAL_SYNC
 * the temporary file is fsync()ed before the rename and the directory after
 * it, so a power loss leaves either the old or the new journal complete;
 * without it (the Responses store: disposable data, compacted often) the
 * rename is not synced. Appends are never synced.
 *
 * A journal is used from one thread. Its struct is visible so users can
 * embed it; its fields are private.
 *
 * ---- The state directory
 *
 * px_state_dir() resolves where the proxy persists things (see below).
 *
 * ---- The key/value store (struct px_store)
 *
 * A bounded key -> value store: in memory, with a TTL, byte and
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
 * torn or corrupt record (it is never trusted, never a crash; see the
 * journal above for the tail and for a file that is not a store log). When dead
 * bytes (overwritten, deleted, evicted or expired records) exceed live
 * bytes, the log is compacted: the live entries are written to "<path>.tmp"
 * which is renamed over the log. The log is created with mode 0600.
 *
 * Log format: a journal with the magic "PXSTORE1" whose records are
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
#include <sys/uio.h>

/* ================================================================ journal */

#define PX_JOURNAL_MAGIC_LEN 8
#define PX_JOURNAL_HEAD      8     /* len + crc */
#define PX_JOURNAL_PARTIAL (-2)    /* need more bytes */
#define PX_JOURNAL_ERROR   (-1)    /* not a record */

#define PX_JOURNAL_SYNC    1u      /* fsync a rewrite (file and directory) */

#ifndef PX_JOURNAL_WBUF
#define PX_JOURNAL_WBUF (64u * 1024)  /* rewrite buffer */
#endif

struct px_journal_stats {
	size_t size;                 /* bytes of the file: magic + good records */
	size_t dropped;              /* bytes cut off at open (torn/corrupt) */
	unsigned long records;       /* records replayed at open */
	unsigned long rewrites;      /* committed rewrites */
	int moved_aside;             /* 1: the file had another magic and was
	                                renamed to "<path>.bad" */
};

/*
 * Replay callback: one record of `type` whose body (after the type byte) is
 * body[0..n); rec_bytes is the whole record on disk (head included). body
 * is borrowed until the callback returns. Return 0 to go on, or -1 to
 * reject the record: replay stops there as at a corrupt record.
 */
typedef int (*px_journal_fn)(void *ctx, int type, const char *body, size_t n,
                             size_t rec_bytes);

struct px_journal {
	int fd;                      /* O_WRONLY|O_APPEND; -1 when off */
	char *path, *tmp;
	char magic[PX_JOURNAL_MAGIC_LEN];
	size_t rec_max;              /* longest body accepted (type included) */
	unsigned flags;
	size_t size;                 /* end of the last good record */
	int wfd;                     /* rewrite in progress: "<path>.tmp" */
	char *wbuf;
	size_t wlen, wsize;          /* buffered, and bytes of the new file */
	int wfail;                   /* a rewrite write failed */
	struct px_journal_stats st;
	char errbuf[200];
	int has_err;
};

/*
 * Open (creating with mode 0600) and replay the journal at path. magic is
 * PX_JOURNAL_MAGIC_LEN bytes; rec_max bounds a record's body (type byte
 * included): longer records are corrupt. fn (may be NULL) sees every good
 * record in file order. A torn or corrupt tail is cut off, a foreign file
 * moved aside (see the top of this file; both are counted in the stats).
 * Returns 0, or -1 with a message in err when the file cannot be opened,
 * read or written (nothing is left open then). lg needs no initialisation.
 */
int px_journal_open(struct px_journal *lg, const char *path,
                    const char magic[PX_JOURNAL_MAGIC_LEN], size_t rec_max,
                    unsigned flags, px_journal_fn fn, void *ctx, char *err,
                    size_t errcap);
void px_journal_close(struct px_journal *lg);

/*
 * Replay a journal file without changing it (no create, no truncation): for
 * readers such as `llmproxy usage` while the proxy may be appending. Only
 * the first `limit` bytes are read (0: the whole file). Returns 0 (stats
 * filled: size = good prefix, dropped = bytes after it), 1 when the file
 * does not exist, -1 with a message in err on an I/O error or a file with
 * another magic.
 */
int px_journal_read(const char *path, const char magic[PX_JOURNAL_MAGIC_LEN],
                    size_t rec_max, size_t limit, px_journal_fn fn,
                    void *ctx, struct px_journal_stats *st, char *err,
                    size_t errcap);

/*
 * Replay a journal image from memory (tests, fuzzers). Returns the length
 * of the good prefix (0 when the magic is missing); *records (may be NULL)
 * gets the number of records accepted.
 */
size_t px_journal_replay(const char *p, size_t n,
                         const char magic[PX_JOURNAL_MAGIC_LEN],
                         size_t rec_max, px_journal_fn fn, void *ctx,
                         unsigned long *records);

/*
 * Parse one record at p[0..n). Returns its size (> 0) with *type and the
 * body after the type byte (*body, *bn; borrowed from p), or
 * PX_JOURNAL_PARTIAL when n is too short to tell, or PX_JOURNAL_ERROR (bad
 * length or checksum).
 */
long px_journal_parse(const char *p, size_t n, size_t rec_max, int *type,
                      const char **body, size_t *bn);

/*
 * Record head for a body given as pieces: writes PX_JOURNAL_HEAD + 1 bytes
 * (len, crc, type) to out; the pieces follow it on disk. Returns the size
 * of the whole record.
 */
size_t px_journal_head(unsigned char out[PX_JOURNAL_HEAD + 1], int type,
                       const struct iovec *body, int nbody);

/*
 * Frame one record into out[0..cap): head, type, body. Returns its size, or
 * 0 when it does not fit (nothing written). For callers that batch records
 * in memory and hand them to px_journal_write().
 */
size_t px_journal_frame(void *out, size_t cap, int type, const void *body,
                        size_t bn);

/*
 * Append one record with a single writev(). Returns the record's size, 0
 * when the journal is off (lg->fd < 0), -1 when the write failed: the file
 * is then cut back to its last good record (if even that fails the journal
 * is switched off). See px_journal_error().
 */
long px_journal_append(struct px_journal *lg, int type,
                       const struct iovec *body, int nbody);

/*
 * Append p[0..n), which MUST be whole framed records, with a single
 * write(). Same returns and failure handling as px_journal_append().
 */
long px_journal_write(struct px_journal *lg, const void *p, size_t n);

/*
 * Rewrite: begin opens "<path>.tmp" (0600, truncated) and writes the magic;
 * add buffers one record (returns its size, or -1); commit writes the
 * buffer, syncs (PX_JOURNAL_SYNC), renames over the journal and appends go
 * to the new file from then on; abort drops the temporary file. On any
 * failure (-1) the old journal stays in place and in use. No appends may
 * happen between begin and commit/abort. Returns 0 or -1.
 */
int px_journal_rewrite_begin(struct px_journal *lg);
long px_journal_rewrite_add(struct px_journal *lg, int type,
                            const struct iovec *body, int nbody);
int px_journal_rewrite_commit(struct px_journal *lg);
void px_journal_rewrite_abort(struct px_journal *lg);

/*
 * A rewrite in two processes, so that the process appending never waits
 * for a long rewrite. A child process (forked from a single-threaded
 * parent) rewrites the journal's first `upto` bytes: begin, add, then
 * px_journal_rewrite_finish(), which writes and syncs "<path>.tmp" without
 * renaming it and gives its size (0 or -1). Meanwhile the parent goes on
 * appending. When the child is done the parent calls px_journal_swap(lg,
 * upto, size): the records appended since (bytes upto..end) are copied to
 * the end of "<path>.tmp", which is synced and renamed over the journal;
 * appends go to it from then on. 0, or -1 (the old journal stays in use,
 * "<path>.tmp" is removed).
 */
int px_journal_rewrite_finish(struct px_journal *lg, size_t *size);
int px_journal_swap(struct px_journal *lg, size_t upto, size_t tmp_size);

/* The last I/O error message (never record contents), then cleared; NULL
 * when none. Valid until the next call on lg. */
const char *px_journal_error(struct px_journal *lg);

uint32_t px_crc32(uint32_t crc, const void *p, size_t n);

/* ========================================================= state directory */

#ifndef PX_STATE_DIR_MAX
#define PX_STATE_DIR_MAX 1024
#endif

/*
 * Resolve, create and check the state directory, the one place where the
 * proxy persists things. The first of these that is set and not empty:
 *
 *   configured               the config's "state_dir" (may be NULL)
 *   $LLMPROXY_STATE_DIR
 *   $STATE_DIRECTORY         systemd's StateDirectory= (first of a list)
 *   $XDG_STATE_HOME/llmproxy (only an absolute XDG_STATE_HOME, per XDG)
 *   $HOME/.local/state/llmproxy
 *
 * Missing directories are created with mode 0700 (parents too). The
 * directory is refused when it is not a directory, not owned by the
 * effective user, or writable by group or others. Returns 0 with the path
 * (trailing slashes removed) in out and, when source is not NULL, a static
 * string naming where it came from ("state_dir", "$LLMPROXY_STATE_DIR",
 * ...); or -1 with a message in err.
 */
int px_state_dir(const char *configured, char *out, size_t outcap,
                 const char **source, char *err, size_t errcap);

/*
 * Replace the small file path (in directory dir) with buf[0..n), so that a
 * crash leaves the old file or the new one, never a mix: the bytes go to
 * tmp (created mode 0600, never through a symlink), are fsync()ed, tmp is
 * renamed over path, and dir is synced so the rename lasts. before_rename
 * (may be NULL) runs between the write and the rename (tests stop there).
 * Returns 0, or -1 with a message naming the file in err (tmp removed).
 * The keys file and the stored accounts are written this way.
 */
int px_file_replace(const char *dir, const char *path, const char *tmp,
                    const void *buf, size_t n, void (*before_rename)(int),
                    char *err, size_t errcap);

/* ============================================================ key/value */

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
#define PX_STORE_MAGIC_LEN PX_JOURNAL_MAGIC_LEN
#define PX_STORE_HEAD      PX_JOURNAL_HEAD
#define PX_STORE_FIXED     17    /* type + expires + klen + vlen */

#define PX_STORE_PARTIAL PX_JOURNAL_PARTIAL
#define PX_STORE_ERROR   PX_JOURNAL_ERROR

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

#endif
