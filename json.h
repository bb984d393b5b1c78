/*
 * json.h - a small JSON parser (DOM in an arena) and a bounded JSON writer.
 *
 * Part of the llmproxy conversion core (json.c, sse.c, convert*.c), which can
 * be vendored into another C program without the server.
 *
 * Memory: everything the parser returns lives in a caller-supplied arena
 * (struct px_arena); nothing is freed piecemeal. The writer appends into a
 * growable buffer whose total size is capped; overflow sets an error flag
 * instead of growing without bound.
 *
 * Limits are #ifndef constants so a vendoring repo can override them with -D.
 */
#ifndef PX_JSON_H
#define PX_JSON_H

#include <stddef.h>
#include <stdint.h>

#ifndef JSON_MAX_DEPTH
#define JSON_MAX_DEPTH 128            /* nesting of arrays/objects */
#endif
#ifndef ARENA_BLOCK_MIN
#define ARENA_BLOCK_MIN (16 * 1024)   /* first/min arena block size */
#endif
#ifndef ARENA_CACHE_MAX
#define ARENA_CACHE_MAX (4 * 1024 * 1024) /* freed blocks kept per thread */
#endif

/* ------------------------------------------------------------------ arena */

/*
 * A bump allocator made of a chain of malloc'd blocks. Zero-initialise, then
 * set `cap` (0 means unlimited). Allocation fails (NULL) once the sum of block
 * sizes would exceed cap. px_arena_free() releases every block at once.
 *
 * `acct` is an optional hook for a memory budget shared by many arenas: when
 * non-NULL, every block the arena mallocs adds its size (the same bytes that
 * `total` counts, block header included) to *acct, and px_arena_free()
 * subtracts the size of every block it frees, so *acct is the sum of `total`
 * over the arenas that share it. It is a plain add, not atomic: arenas that
 * share a counter must be used from one thread. px_arena_init() sets it to
 * NULL; set it after init and before the first allocation (or after a
 * px_arena_free()), and keep the counter alive while the arena holds blocks.
 *
 * Block reuse: px_arena_free() keeps freed blocks, up to ARENA_CACHE_MAX
 * bytes (and 32 blocks) per thread, for the next arenas of the same thread
 * to take instead of calling malloc; the rest go back to free(). Handing a
 * large arena's memory back to the C library lets it return the pages to
 * the kernel, and the next large request then pays a page fault for every
 * 4 KB it touches, which costs more than parsing it. Cached blocks belong
 * to no arena: they count in no `total` and no *acct. A thread other than
 * the main one that used arenas should call px_arena_cache_free() before it
 * exits, or its cache stays allocated; -DARENA_CACHE_MAX=0 turns the cache
 * off.
 */
struct px_arena_blk;
struct px_arena {
	struct px_arena_blk *head;    /* most recent block */
	size_t total;                 /* bytes of all blocks */
	size_t cap;                   /* 0 = no limit */
	size_t *acct;                 /* NULL, or a counter shared by arenas */
};

/* Empty arena with the given cap (0 = unlimited) and acct NULL. */
void  px_arena_init(struct px_arena *a, size_t cap);
/* 16-byte aligned; NULL when the cap is reached or malloc fails. */
void *px_arena_alloc(struct px_arena *a, size_t n);
/* Copy n bytes and add a NUL; NULL on failure. s may be NULL when n is 0. */
char *px_arena_strndup(struct px_arena *a, const char *s, size_t n);
/* Free all blocks (keeping some for reuse, see above); the arena may be
 * used again afterwards (same cap and acct). */
void  px_arena_free(struct px_arena *a);
/* Free the calling thread's cached blocks (see above). */
void  px_arena_cache_free(void);

/* ------------------------------------------------------------------ parser */

enum json_type {
	JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING,
	JSON_ARRAY, JSON_OBJECT
};

/*
 * One parsed value. Children of arrays and objects form a singly linked list
 * (child -> next -> next ...), in document order; object members carry their
 * decoded key. `raw`/`rawlen` are the exact source bytes of the value
 * (borrowed from the input buffer: valid while the input is), which lets
 * opaque fields (signatures, schemas) travel byte for byte.
 */
struct json {
	enum json_type type;
	const char *s;        /* STRING: decoded UTF-8, NUL-terminated (arena);
	                         NUMBER: source text (not NUL-terminated) */
	size_t n;             /* length of s */
	const char *key;      /* member key (decoded, NUL-terminated) or NULL */
	size_t keylen;
	struct json *child;   /* first element/member */
	struct json *next;    /* next sibling */
	size_t len;           /* number of elements/members */
	const char *raw;      /* source bytes of this value */
	size_t rawlen;
};

enum json_err_code {
	JSON_OK = 0,
	JSON_ERR_SYNTAX,      /* unexpected character / token */
	JSON_ERR_EOF,         /* input ended inside a value */
	JSON_ERR_DEPTH,       /* nesting deeper than JSON_MAX_DEPTH */
	JSON_ERR_UTF8,        /* invalid UTF-8 in a string */
	JSON_ERR_ESCAPE,      /* bad \ escape or lone surrogate */
	JSON_ERR_NUMBER,      /* malformed number */
	JSON_ERR_NOMEM,       /* arena exhausted */
	JSON_ERR_TRAILING     /* non-space data after the value */
};

struct json_err {
	int code;             /* enum json_err_code */
	size_t pos;           /* byte offset where the error was detected */
	const char *msg;      /* static string, e.g. "expected ':'" */
};

#define JSON_F_COMMENTS 1u    /* allow // and block comments, trailing commas
                                 (config files only; never on the wire) */

/*
 * Parse exactly one JSON value from src[0..n) (surrounding whitespace
 * allowed). Strict RFC 8259 unless flags say otherwise: UTF-8 is validated,
 * surrogate pairs combined, lone surrogates rejected, numbers checked for
 * grammar and kept as source text. Returns the root, or NULL with *err set
 * (err may be NULL). src is borrowed and MUST outlive the result (raw and
 * number text point into it); a NULL src is the empty input.
 */
struct json *json_parse(struct px_arena *a, const char *src, size_t n,
                        unsigned flags, struct json_err *err);

/* Member lookup by key (first match, linear). NULL if obj is not an object,
 * key is NULL or the key is absent. */
struct json *json_get(const struct json *obj, const char *key);
/* Element i of an array, or NULL. */
struct json *json_at(const struct json *arr, size_t i);
/* Type-checked accessors: return 1 and set *out when v has that type. */
int json_str(const struct json *v, const char **s, size_t *n);
/* json_int: exact; accepts any number whose value is an integer that fits
 * (10, 1.0e1 and 100e-1 all give 10; 1.5 and 2^63 give 0). json_num: the
 * correctly rounded double; +/-HUGE_VAL when out of range. */
int json_int(const struct json *v, long long *out);   /* integral number */
int json_num(const struct json *v, double *out);
int json_bool(const struct json *v, int *out);
/* Convenience: string member or NULL; *n may be NULL. */
const char *json_get_str(const struct json *obj, const char *key, size_t *n);
/* 1 when s[0..n) equals the NUL-terminated lit (s may be NULL when n is 0;
 * a NULL lit is ""). */
int json_eq(const char *s, size_t n, const char *lit);

/* ------------------------------------------------------------------ writer */

/*
 * Compact JSON writer with automatic commas. The buffer either grows inside
 * an arena up to `max` bytes, or is a fixed caller buffer (arena NULL).
 * Any overflow sets w->err and further output is dropped; check w->err once
 * at the end. jw_put() appends raw bytes with no comma logic (for SSE framing
 * around documents); jw_reset() empties the buffer and nesting state but
 * keeps the storage.
 *
 * Notes: max == 0 means no limit but the arena's cap. In arena mode buf is
 * NULL until the first write, then NUL-terminated (buf[len] == 0); a fixed
 * buffer is NUL-terminated while len < cap. Misuse also sets err: a key
 * outside an object or after a key, a value in an object without a key, a
 * mismatched or extra close, nesting deeper than JSON_MAX_DEPTH. Values at
 * depth 0 get no commas, so several documents can be written one after
 * another. Bytes of writer input strings that are not valid UTF-8 are
 * written as \ufffd; U+2028/2029 are escaped. Any (pointer, length)
 * argument may be (NULL, 0), and a NULL C-string argument (jw_key,
 * jw_cstr, jw_puts, the k* shorthands) is taken as "".
 */
struct jw {
	char *buf;
	size_t len, cap, max;
	struct px_arena *arena;       /* NULL: fixed buffer */
	int err;                      /* nonzero after overflow/misuse */
	int depth;
	unsigned char need_comma[JSON_MAX_DEPTH + 1];
	unsigned char after_key;
};

void jw_init(struct jw *w, struct px_arena *a, size_t max);
void jw_init_fixed(struct jw *w, char *buf, size_t cap);
void jw_reset(struct jw *w);
void jw_put(struct jw *w, const char *s, size_t n);   /* raw bytes */
void jw_puts(struct jw *w, const char *s);            /* raw C string */
void jw_obj(struct jw *w);        /* { */
void jw_obj_end(struct jw *w);    /* } */
void jw_arr(struct jw *w);        /* [ */
void jw_arr_end(struct jw *w);    /* ] */
void jw_key(struct jw *w, const char *k);                 /* "k": */
void jw_keyn(struct jw *w, const char *k, size_t n);
void jw_str(struct jw *w, const char *s, size_t n);       /* escaped */
void jw_cstr(struct jw *w, const char *s);
void jw_int(struct jw *w, long long v);
void jw_double(struct jw *w, double v);  /* shortest form that round-trips */
void jw_bool(struct jw *w, int v);
void jw_null(struct jw *w);
/* Insert an already-serialised JSON value verbatim (e.g. json->raw). */
void jw_raw(struct jw *w, const char *s, size_t n);
/* Re-serialise a parsed value compactly (strings re-escaped, numbers as
 * their source text). */
void jw_value(struct jw *w, const struct json *v);
/* key + value shorthands */
void jw_kstr(struct jw *w, const char *k, const char *s, size_t n);
void jw_kcstr(struct jw *w, const char *k, const char *s);
void jw_kint(struct jw *w, const char *k, long long v);
void jw_kbool(struct jw *w, const char *k, int v);
void jw_knull(struct jw *w, const char *k);
void jw_kraw(struct jw *w, const char *k, const char *s, size_t n);

/* Append a JSON string's escaped contents (no quotes) - used when building a
 * JSON-in-a-string such as tool call arguments. No comma logic; to emit a
 * string value piecewise: jw_raw(w, "\"", 1); jw_escaped(w, ...) ...;
 * jw_put(w, "\"", 1); (jw_raw does the comma/key bookkeeping). */
void jw_escaped(struct jw *w, const char *s, size_t n);

#endif
