/*
 * json.c - strict JSON parser building a DOM in an arena, and a bounded
 * compact writer.
 *
 * The proxy parses hostile request bodies and upstream streams, so the
 * parser is strict RFC 8259 by default and bounded everywhere: nesting is
 * capped at JSON_MAX_DEPTH (recursion depth is therefore bounded too),
 * every node and decoded string comes from the caller's arena (whose cap
 * turns a memory bomb into JSON_ERR_NOMEM), and no byte at or past src+n
 * is ever read - every look-ahead is checked against `end` first, and the
 * unit tests place inputs against a PROT_NONE page to prove it.
 *
 * Speed: the parser is on every request and every converted stream event.
 * Strings are validated (UTF-8, escapes, surrogate pairs, control
 * characters) and decoded in one pass straight into the free space of the
 * arena's head block - a decoded string is never longer than its source -
 * and the arena is then advanced by exactly the decoded length; only a
 * string longer than that free space is validated and measured first. Runs
 * of bytes that need no attention are found and copied sixteen at a time
 * with SSE2 where the compiler has it, else eight at a time (SWAR: SIMD
 * within a register, plain C), and nodes come from an inline bump. Numbers are only checked against the grammar and kept as source
 * text so that 64-bit ids and long decimals travel unchanged; json_int and
 * json_num convert on demand.
 *
 * The writer tracks, per nesting level, whether a comma is due and whether
 * the level is an object (so key/value alternation can be checked). Output
 * either grows inside an arena by doubling up to `max`, or fills a fixed
 * caller buffer; overflow or misuse sets w->err and drops later output.
 * Strings are escaped a run at a time with the same word-wise scan.
 *
 * Every public function accepts a (NULL, 0) pointer and length pair, and
 * the writer's C-string arguments may be NULL (""): neither does pointer
 * arithmetic on NULL nor passes it to memcpy.
 */
#include "json.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define PX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PX_ASAN 1
#endif
#endif
#ifdef PX_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)    ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n)  ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)    ((void)(p), (void)(n))
#define UNPOISON(p, n)  ((void)(p), (void)(n))
#endif

#define IS_DIGIT(c)  ((unsigned)((unsigned char)(c) - '0') < 10u)

/* ================================================================== arena */

struct px_arena_blk {
	struct px_arena_blk *next;    /* older block */
	size_t size;                  /* usable bytes after the header */
	size_t used;
};

/* Blocks double from ARENA_BLOCK_MIN up to this size, then stay there. */
#define BLK_GROW_MAX  ((size_t)1 << 20)

static unsigned char *
blk_data(struct px_arena_blk *b)
{
	return (unsigned char *)(b + 1);
}

/* Offset in b where n bytes fit 16-byte aligned, or SIZE_MAX. Alignment is
 * computed from the address so a malloc with weaker alignment still works. */
static size_t
blk_fit(struct px_arena_blk *b, size_t n)
{
	uintptr_t addr;
	size_t pad;

	addr = (uintptr_t)(blk_data(b) + b->used);
	pad = (size_t)(-addr & 15u);
	if (pad > b->size - b->used || n > b->size - b->used - pad)
		return SIZE_MAX;
	return b->used + pad;
}

/*
 * The per-thread cache of freed blocks (see json.h): a LIFO list, bounded
 * in bytes and in length so that a search stays short.
 */
#define CACHE_BLOCKS_MAX 32

#if ARENA_CACHE_MAX > 0
static _Thread_local struct px_arena_blk *cache_head;
static _Thread_local size_t cache_bytes;
static _Thread_local unsigned cache_count;
#endif

/* A cached block with at least `want` usable bytes (but not more than
 * twice that) whose whole size is at most `room`; NULL when none. */
static struct px_arena_blk *
cache_take(size_t want, size_t room)
{
#if ARENA_CACHE_MAX > 0
	struct px_arena_blk **pp, *b;

	for (pp = &cache_head; (b = *pp) != NULL; pp = &b->next) {
		if (b->size >= want && b->size / 2 <= want
		    && b->size <= room && sizeof(*b) <= room - b->size) {
			*pp = b->next;
			cache_bytes -= sizeof(*b) + b->size;
			cache_count--;
			return b;
		}
	}
#else
	(void)want;
	(void)room;
#endif
	return NULL;
}

/* Keep b for reuse when the cache has room, else free it. */
static void
cache_put(struct px_arena_blk *b)
{
#if ARENA_CACHE_MAX > 0
	size_t bytes;

	bytes = sizeof(*b) + b->size;
	if (cache_count < CACHE_BLOCKS_MAX && cache_bytes <= ARENA_CACHE_MAX
	    && bytes <= (size_t)ARENA_CACHE_MAX - cache_bytes) {
		POISON(blk_data(b), b->size);
		b->next = cache_head;
		cache_head = b;
		cache_bytes += bytes;
		cache_count++;
		return;
	}
#endif
	UNPOISON(blk_data(b), b->size);
	free(b);
}

/* see json.h */
void
px_arena_cache_free(void)
{
#if ARENA_CACHE_MAX > 0
	struct px_arena_blk *b;

	while ((b = cache_head) != NULL) {
		cache_head = b->next;
		UNPOISON(blk_data(b), b->size);
		free(b);
	}
	cache_bytes = 0;
	cache_count = 0;
#endif
}

/* see json.h */
void
px_arena_init(struct px_arena *a, size_t cap)
{
	a->head = NULL;
	a->total = 0;
	a->cap = cap;
	a->acct = NULL;
}

/*
 * The bump itself: n bytes, 16-byte aligned, from the head block, or NULL
 * when they do not fit there. Inline so the parser's node allocation costs
 * a few instructions.
 */
static inline void *
arena_bump(struct px_arena *a, size_t n)
{
	struct px_arena_blk *b;
	unsigned char *p;
	size_t pad;

	b = a->head;
	if (b == NULL)
		return NULL;
	p = blk_data(b) + b->used;
	pad = (size_t)(-(uintptr_t)p & 15u);
	if (pad > b->size - b->used || n > b->size - b->used - pad)
		return NULL;
	p += pad;
	b->used += pad + n;
	UNPOISON(p, n);
	return p;
}

/* see json.h */
void *
px_arena_alloc(struct px_arena *a, size_t n)
{
	struct px_arena_blk *b;
	size_t off, need, want, bytes;
	int big;
	unsigned char *p;

	if (n == 0)
		n = 1;
	if (n > SIZE_MAX / 4)
		return NULL;
	if ((p = arena_bump(a, n)) != NULL)
		return p;

	need = n + 15;
	want = ARENA_BLOCK_MIN;
	if (a->head != NULL && a->head->size > want / 2) {
		want = a->head->size * 2;
		if (want > BLK_GROW_MAX)
			want = BLK_GROW_MAX;
		if (want < ARENA_BLOCK_MIN)
			want = ARENA_BLOCK_MIN;
	}
	/*
	 * A one-off large allocation gets its own block, slotted in behind
	 * the head so the head's free space keeps serving small requests.
	 */
	big = need > want;
	if (big)
		want = need;
	bytes = sizeof(*b) + want;
	if (a->cap != 0 && (a->total > a->cap || bytes > a->cap - a->total)) {
		/* Near the cap: take whatever budget is left, if enough. */
		if (a->total >= a->cap || a->cap - a->total < sizeof(*b) + need)
			return NULL;
		want = a->cap - a->total - sizeof(*b);
		bytes = sizeof(*b) + want;
	}
	b = cache_take(want, a->cap == 0 ? SIZE_MAX : a->cap - a->total);
	if (b != NULL) {
		want = b->size;
		bytes = sizeof(*b) + want;
	} else {
		b = malloc(bytes);
		if (b == NULL)
			return NULL;
		b->size = want;
		POISON(blk_data(b), want);
	}
	b->used = 0;
	a->total += bytes;
	if (a->acct != NULL)
		*a->acct += bytes;
	if (big && a->head != NULL) {
		b->next = a->head->next;
		a->head->next = b;
	} else {
		b->next = a->head;
		a->head = b;
	}
	off = blk_fit(b, n);          /* fits: want >= n + 15 */
	p = blk_data(b) + off;
	b->used = off + n;
	UNPOISON(p, n);
	return p;
}

/* see json.h */
char *
px_arena_strndup(struct px_arena *a, const char *s, size_t n)
{
	char *d;

	if (n == SIZE_MAX)
		return NULL;
	d = px_arena_alloc(a, n + 1);
	if (d == NULL)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = 0;
	return d;
}

/* see json.h */
void
px_arena_free(struct px_arena *a)
{
	struct px_arena_blk *b, *nx;

	for (b = a->head; b != NULL; b = nx) {
		nx = b->next;
		if (a->acct != NULL)
			*a->acct -= sizeof(*b) + b->size;
		cache_put(b);
	}
	a->head = NULL;
	a->total = 0;
}

/* ================================================================== UTF-8 */

/*
 * Length of the well-formed UTF-8 sequence at p (Unicode table 3-7: no
 * overlongs, no UTF-16 surrogates, nothing above U+10FFFF), 0 when it is
 * ill-formed, -1 when it is a valid prefix cut short by `end`.
 */
static int
utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c, lo, hi;
	int k, i;

	c = p[0];
	lo = 0x80;
	hi = 0xBF;
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		k = 2;
	} else if (c < 0xF0) {
		k = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		k = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	for (i = 1; i < k; i++) {
		if (p + i >= end)
			return -1;
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xBF;
	}
	return k;
}

/* Encode cp (a scalar value) into out when non-NULL; return its length. */
static inline size_t
utf8_put(char *out, unsigned long cp)
{
	unsigned char b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xC0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xE0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xF0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 4;
	}
	if (out != NULL)
		memcpy(out, b, k);
	return k;
}

/* ================================================================== SWAR */

/*
 * Word-at-a-time scanning (SIMD within a register, portable C): a string
 * body is mostly bytes that need no attention, so both the parser and the
 * writer test eight at a time for the four kinds that do: '"', '\\',
 * control characters and bytes >= 0x80 (UTF-8 to validate).
 */
/*
 * With SSE2 (every x86-64), sixteen bytes at a time instead of eight in the
 * parser's string scan; -DJSON_NO_SSE2 keeps to plain C.
 */
#if defined(__SSE2__) && defined(__GNUC__) && !defined(JSON_NO_SSE2)
#define JSON_SSE2 1
#include <emmintrin.h>
#endif

/* A byte that a JSON string carries as itself (no escape, not UTF-8). */
#define PLAIN(c) ((c) >= 0x20 && (c) < 0x80 && (c) != '"' && (c) != '\\')

#define ONES   0x0101010101010101ull
#define HIGHS  0x8080808080808080ull

static inline uint64_t
load8(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

/*
 * Nonzero when one of the 8 bytes of w is '"', '\\', < 0x20 or >= 0x80.
 * A byte's high bit ends up set when the byte is >= 0x80 (| w), or when
 * subtracting 1 from it XOR '"' or '\\' (zero only for those), or 0x20
 * from it, borrows. A borrow can also carry into the bytes above, so the
 * lowest flagged byte is always a real one while bytes above it may be
 * flagged spuriously, which only makes the caller look at a byte it would
 * have copied anyway.
 */
static inline uint64_t
str_special(uint64_t w)
{
	uint64_t q, b;

	q = w ^ (ONES * '"');
	b = w ^ (ONES * '\\');
	return ((q - ONES) | (b - ONES) | (w - ONES * 0x20) | w) & HIGHS;
}

/* Index of the first flagged byte of m (m != 0) in memory order, or 0 where
 * the byte order is unknown (the byte-wise path then finds it). */
static inline size_t
first_flag(uint64_t m)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(m) >> 3;
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) \
    && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return (size_t)__builtin_clzll(m) >> 3;
#else
	(void)m;
	return 0;
#endif
}

/* ================================================================= parser */

struct jp {
	const char *src, *p, *end;
	struct px_arena *a;
	unsigned flags;
	int depth;
	struct json_err *err;
};

/* Record the first error only; returns NULL for tail calls. */
static void *
jfail(struct jp *j, int code, const char *at, const char *msg)
{
	if (j->err->code == JSON_OK) {
		j->err->code = code;
		j->err->pos = (size_t)(at - j->src);
		j->err->msg = msg;
	}
	return NULL;
}

/* A syntax error at j->p, or EOF when the input simply ran out there. */
static void *
jexpect(struct jp *j, const char *msg)
{
	if (j->p == j->end)
		return jfail(j, JSON_ERR_EOF, j->p, "unexpected end of input");
	return jfail(j, JSON_ERR_SYNTAX, j->p, msg);
}

/* Skip RFC 8259 whitespace and, with JSON_F_COMMENTS, comments. */
static int
skip_ws_slow(struct jp *j)
{
	const char *p, *end;

	p = j->p;
	end = j->end;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\n' || *p == '\r'
		    || *p == '\t')) {
			/* pretty-printed input: indentation after a newline */
			if (*p++ == '\n')
				while (end - p >= 8 && load8((const unsigned char *)p)
				    == ONES * ' ')
					p += 8;
		}
		if (!(j->flags & JSON_F_COMMENTS) || end - p < 2 || *p != '/')
			break;
		if (p[1] == '/') {
			p += 2;
			while (p < end && *p != '\n')
				p++;
		} else if (p[1] == '*') {
			p += 2;
			for (;;) {
				if (end - p < 2) {
					jfail(j, JSON_ERR_EOF, end,
					    "unterminated comment");
					return -1;
				}
				if (p[0] == '*' && p[1] == '/')
					break;
				p++;
			}
			p += 2;
		} else {
			break;
		}
	}
	j->p = p;
	return 0;
}

/* The common case inline: the next byte is neither space nor '/'. */
static inline int
skip_ws(struct jp *j)
{
	unsigned char c;

	if (j->p < j->end) {
		c = (unsigned char)*j->p;
		if (c > ' ' && c != '/')
			return 0;
	}
	return skip_ws_slow(j);
}

/* One more than the value of each hex digit; 0 for every other byte. */
static const unsigned char hexval[256] = {
	['0'] = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	['A'] = 11, 12, 13, 14, 15, 16,
	['a'] = 11, 12, 13, 14, 15, 16,
};

/* Four hex digits at p (escape started at esc) into *cp. */
static inline int
hex4(struct jp *j, const char *esc, const char *p, unsigned long *cp)
{
	unsigned long v;
	unsigned char c;
	unsigned a, b, e, f;
	int i;

	if (j->end - p >= 4) {
		a = hexval[(unsigned char)p[0]];
		b = hexval[(unsigned char)p[1]];
		e = hexval[(unsigned char)p[2]];
		f = hexval[(unsigned char)p[3]];
		if (a != 0 && b != 0 && e != 0 && f != 0) {
			*cp = (unsigned long)((a - 1) << 12 | (b - 1) << 8
			    | (e - 1) << 4 | (f - 1));
			return 0;
		}
	}
	/* cut short or not hex: find out which, and where */
	v = 0;
	for (i = 0; i < 4; i++) {
		if (p + i >= j->end) {
			jfail(j, JSON_ERR_EOF, j->end, "unexpected end of input");
			return -1;
		}
		c = (unsigned char)p[i];
		if (c >= '0' && c <= '9')
			c = (unsigned char)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			c = (unsigned char)((c | 0x20) - 'a' + 10);
		else {
			jfail(j, JSON_ERR_ESCAPE, esc, "invalid \\u escape");
			return -1;
		}
		v = (v << 4) | c;
	}
	*cp = v;
	return 0;
}

/* What the character after a backslash stands for: 0 not an escape, 1 the
 * start of \uXXXX, else the byte itself. */
static const unsigned char esc_char[256] = {
	['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f',
	['n'] = '\n', ['r'] = '\r', ['t'] = '\t', ['u'] = 1,
};

/*
 * Validate and decode the string body at q (just after the opening quote)
 * in one pass into dst, which has room for cap bytes; with dst NULL only
 * validate and count. Returns 1 with *close at the closing quote and *len
 * the decoded length; 0 when cap bytes are not enough (only with dst;
 * nothing recorded); -1 on an error (recorded). Errors are met in source
 * order, so both modes report the same first error.
 */
static int
str_decode(struct jp *j, const char *q, char *dst, size_t cap,
    const char **close, size_t *len)
{
	const unsigned char *p, *end;
	const char *esc;
	unsigned long cp, lo;
	uint64_t w, m;
	size_t d, k;
#ifdef JSON_SSE2
	__m128i v;
#endif
	int n;
	unsigned char c;

	p = (const unsigned char *)q;
	end = (const unsigned char *)j->end;
	d = 0;
	for (;;) {
		/* Sixteen, then eight bytes at a time while none needs
		 * attention; words with one are still copied whole (when
		 * there is room) and their plain prefix kept. */
		m = 0;
#ifdef JSON_SSE2
		while (end - p >= 16) {
			v = _mm_loadu_si128((const __m128i *)(const void *)p);
			if (dst != NULL) {
				if (cap - d < 16)
					break;
				_mm_storeu_si128((__m128i *)(void *)(dst + d), v);
			}
			/* signed: bytes < 0x20 and >= 0x80 are both < 0x20 */
			m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
			    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
			    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
			if (m != 0) {
				k = (size_t)__builtin_ctz((unsigned)m);
				p += k;
				d += k;
				break;
			}
			p += 16;
			d += 16;
		}
#endif
		while (m == 0 && end - p >= 8) {
			w = load8(p);
			if (dst != NULL) {
				if (cap - d < 8)
					break;
				memcpy(dst + d, &w, 8);
			}
			m = str_special(w);
			if (m != 0) {
				k = first_flag(m);
				p += k;
				d += k;
				break;
			}
			p += 8;
			d += 8;
		}
		if (p == end) {
			jfail(j, JSON_ERR_EOF, j->end, "unterminated string");
			return -1;
		}
		c = *p;
		if (PLAIN(c)) {
			if (dst != NULL) {
				if (d == cap)
					return 0;
				dst[d] = (char)c;
			}
			d++;
			p++;
			continue;
		}
		if (c == '"')
			break;
		if (c == '\\') {
			esc = (const char *)p;
			if (end - p < 2) {
				jfail(j, JSON_ERR_EOF, j->end,
				    "unterminated string");
				return -1;
			}
			c = esc_char[p[1]];
			if (c > 1) {
				if (dst != NULL) {
					if (d == cap)
						return 0;
					dst[d] = (char)c;
				}
				d++;
				p += 2;
				continue;
			}
			if (c == 0) {
				jfail(j, JSON_ERR_ESCAPE, esc, "invalid escape");
				return -1;
			}
			if (hex4(j, esc, (const char *)p + 2, &cp) < 0)
				return -1;
			p += 6;
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				goto lone;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				/* A high surrogate must be followed by an
				 * escaped low one; the pair is one code
				 * point (RFC 8259 s7). */
				if ((p < end && p[0] != '\\')
				    || (end - p >= 2 && p[1] != 'u'))
					goto lone;
				if (end - p < 2) {
					jfail(j, JSON_ERR_EOF, j->end,
					    "unterminated string");
					return -1;
				}
				if (hex4(j, (const char *)p, (const char *)p + 2,
				    &lo) < 0)
					return -1;
				if (lo < 0xDC00 || lo > 0xDFFF)
					goto lone;
				cp = 0x10000 + ((cp - 0xD800) << 10)
				    + (lo - 0xDC00);
				p += 6;
			}
			k = utf8_put(NULL, cp);
			if (dst != NULL) {
				if (cap - d < k)
					return 0;
				utf8_put(dst + d, cp);
			}
			d += k;
			continue;
		}
		if (c < 0x20) {
			jfail(j, JSON_ERR_SYNTAX, (const char *)p,
			    "control character in string");
			return -1;
		}
		/*
		 * A run of UTF-8 sequences (text in most scripts is one
		 * sequence after another). The common 2- and 3-byte forms
		 * are checked inline; anything else (4-byte forms, E0 and ED
		 * leads, errors, the last bytes of the input or of the room)
		 * goes through utf8_seq().
		 */
		do {
			if (end - p >= 4 && (dst == NULL || cap - d >= 4)) {
				if (dst != NULL)
					memcpy(dst + d, p, 4);
				if (c < 0xE0) {
					if (c >= 0xC2 && (p[1] & 0xC0) == 0x80) {
						p += 2;
						d += 2;
						continue;
					}
				} else if (c < 0xF0 && c != 0xE0 && c != 0xED
				    && (p[1] & 0xC0) == 0x80
				    && (p[2] & 0xC0) == 0x80) {
					p += 3;
					d += 3;
					continue;
				}
			}
			n = utf8_seq(p, end);
			if (n < 0) {
				jfail(j, JSON_ERR_EOF, j->end,
				    "unterminated string");
				return -1;
			}
			if (n == 0) {
				jfail(j, JSON_ERR_UTF8, (const char *)p,
				    "invalid UTF-8");
				return -1;
			}
			if (dst != NULL) {
				if (cap - d < (size_t)n)
					return 0;
				memcpy(dst + d, p, (size_t)n);
			}
			d += (size_t)n;
			p += n;
		} while (p < end && (c = *p) >= 0x80);
	}
	*close = (const char *)p;
	*len = d;
	return 1;
lone:
	jfail(j, JSON_ERR_ESCAPE, esc, "lone surrogate");
	return -1;
}

/*
 * How much of the head block's free space one string may decode into
 * before it falls back to validate, allocate, decode. Unlimited normally;
 * under ASan the window is unpoisoned per string, so keep it short.
 */
#ifdef PX_ASAN
#define STR_WINDOW_MAX ((size_t)4096)
#else
#define STR_WINDOW_MAX SIZE_MAX
#endif

/*
 * Parse the string at j->p (an opening quote) into the arena. A decoded
 * string is never longer than its source, so when the head block's free
 * space can hold what is left of the input, or simply turns out to hold
 * the string, it is validated and decoded there in one pass and the arena
 * advanced by exactly its length plus the NUL. Otherwise (a string longer
 * than the space left) it is validated and measured first, then decoded
 * into an exactly sized allocation.
 */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int
parse_str_any(struct jp *j, const char **s, size_t *n)
{
	struct px_arena_blk *b;
	const char *q, *close;
	char *out;
	size_t len, win;
	int rc;

	q = j->p + 1;
	b = j->a->head;
	if (b != NULL && b->size - b->used > 1) {
		win = b->size - b->used;
		if (win > (size_t)(j->end - q) + 1)
			win = (size_t)(j->end - q) + 1;
		if (win > STR_WINDOW_MAX)
			win = STR_WINDOW_MAX;
		out = (char *)blk_data(b) + b->used;
		UNPOISON(out, win);
		rc = str_decode(j, q, out, win - 1, &close, &len);
		if (rc > 0) {
			out[len] = 0;
			b->used += len + 1;
			POISON(out + len + 1, win - len - 1);
			goto done;
		}
		POISON(out, win);
		if (rc < 0)
			return -1;
	}
	if (str_decode(j, q, NULL, SIZE_MAX, &close, &len) < 0)
		return -1;
	out = px_arena_alloc(j->a, len + 1);
	if (out == NULL) {
		jfail(j, JSON_ERR_NOMEM, j->p, "out of memory");
		return -1;
	}
	str_decode(j, q, out, len, &close, &len);
	out[len] = 0;
done:
	*s = out;
	*n = len;
	j->p = close + 1;
	return 0;
}

/*
 * parse_str_any() for any string; this inline front takes the short plain
 * ones (keys, ids, most deltas) without the call: the closing quote within
 * sixteen bytes with nothing before it that needs a look, copied with one
 * SSE2 load and store.
 */
static inline int
parse_str(struct jp *j, const char **s, size_t *n)
{
#ifdef JSON_SSE2
	struct px_arena_blk *b = j->a->head;
	const char *q = j->p + 1;
	char *out;
	size_t len;

	if (b != NULL && b->size - b->used >= 16 && j->end - q >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
		    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
		len = m != 0 ? (size_t)__builtin_ctz(m) : 16;
		if (len < 16 && q[len] == '"') {
			out = (char *)blk_data(b) + b->used;
			UNPOISON(out, 16);
			_mm_storeu_si128((__m128i *)(void *)out, v);
			out[len] = 0;
			b->used += len + 1;
			POISON(out + len + 1, 16 - len - 1);
			*s = out;
			*n = len;
			j->p = q + len + 1;
			return 0;
		}
	}
#endif
	return parse_str_any(j, s, n);
}

static inline struct json *
new_node(struct jp *j, enum json_type t)
{
	struct json *v;

	v = arena_bump(j->a, sizeof(*v));
	if (v == NULL && (v = px_arena_alloc(j->a, sizeof(*v))) == NULL)
		return jfail(j, JSON_ERR_NOMEM, j->p, "out of memory");
	memset(v, 0, sizeof(*v));
	v->type = t;
	v->raw = j->p;
	return v;
}

/* RFC 8259 s6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static struct json *
parse_number(struct jp *j)
{
	struct json *v;
	const char *p, *end;

	p = j->p;
	end = j->end;
	if (*p == '-')
		p++;
	if (p == end || !IS_DIGIT(*p))
		return jfail(j, JSON_ERR_NUMBER, p, "expected digit");
	if (*p == '0') {
		p++;
		if (p < end && IS_DIGIT(*p))
			return jfail(j, JSON_ERR_NUMBER, p, "leading zero");
	} else {
		while (p < end && IS_DIGIT(*p))
			p++;
	}
	if (p < end && *p == '.') {
		p++;
		if (p == end || !IS_DIGIT(*p))
			return jfail(j, JSON_ERR_NUMBER, p,
			    "expected digit after '.'");
		while (p < end && IS_DIGIT(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !IS_DIGIT(*p))
			return jfail(j, JSON_ERR_NUMBER, p,
			    "expected digit in exponent");
		while (p < end && IS_DIGIT(*p))
			p++;
	}
	v = new_node(j, JSON_NUMBER);
	if (v == NULL)
		return NULL;
	v->s = j->p;
	v->n = (size_t)(p - j->p);
	v->rawlen = v->n;
	j->p = p;
	return v;
}

static struct json *
parse_literal(struct jp *j, const char *lit, size_t len, enum json_type t)
{
	struct json *v;
	size_t i;

	if ((size_t)(j->end - j->p) >= len) {
		uint32_t a, b;          /* the first four bytes in one compare */
		memcpy(&a, j->p, 4);
		memcpy(&b, lit, 4);
		if (a != b || (len > 4 && j->p[4] != lit[4]))
			return jfail(j, JSON_ERR_SYNTAX, j->p, "invalid literal");
	} else {
		for (i = 0; i < len; i++) {
			if (j->p + i == j->end)
				return jfail(j, JSON_ERR_EOF, j->end,
				    "unexpected end of input");
			if (j->p[i] != lit[i])
				return jfail(j, JSON_ERR_SYNTAX, j->p,
				    "invalid literal");
		}
	}
	v = new_node(j, t);
	if (v == NULL)
		return NULL;
	v->rawlen = len;
	j->p += len;
	return v;
}

static struct json *parse_value(struct jp *j);

/* Arrays and objects share one loop; `obj` selects member syntax. */
static struct json *
parse_container(struct jp *j, int obj)
{
	struct json *v, *e, **tail;
	const char *key;
	size_t keylen, len;
	char close;

	close = obj ? '}' : ']';
	if (j->depth >= JSON_MAX_DEPTH)
		return jfail(j, JSON_ERR_DEPTH, j->p, "nesting too deep");
	v = new_node(j, obj ? JSON_OBJECT : JSON_ARRAY);
	if (v == NULL)
		return NULL;
	j->depth++;
	j->p++;
	tail = &v->child;
	len = 0;
	if (skip_ws(j) < 0)
		return NULL;
	if (j->p < j->end && *j->p == close)
		goto done;
	for (;;) {
		key = NULL;
		keylen = 0;
		if (obj) {
			if (j->p == j->end || *j->p != '"')
				return jexpect(j, "expected string key");
			if (parse_str(j, &key, &keylen) < 0)
				return NULL;
			if (skip_ws(j) < 0)
				return NULL;
			if (j->p == j->end || *j->p != ':')
				return jexpect(j, "expected ':'");
			j->p++;
			if (skip_ws(j) < 0)
				return NULL;
		}
		e = parse_value(j);
		if (e == NULL)
			return NULL;
		e->key = key;
		e->keylen = keylen;
		*tail = e;
		tail = &e->next;
		len++;
		if (skip_ws(j) < 0)
			return NULL;
		if (j->p < j->end && *j->p == close)
			break;
		if (j->p == j->end || *j->p != ',')
			return jexpect(j, obj ? "expected ',' or '}'"
			    : "expected ',' or ']'");
		j->p++;
		if (skip_ws(j) < 0)
			return NULL;
		/* Trailing comma: config files only, never on the wire. */
		if ((j->flags & JSON_F_COMMENTS) && j->p < j->end
		    && *j->p == close)
			break;
	}
done:
	j->p++;
	j->depth--;
	v->len = len;
	v->rawlen = (size_t)(j->p - v->raw);
	return v;
}

/* One value at j->p (whitespace already skipped). */
static struct json *
parse_value(struct jp *j)
{
	struct json *v;

	if (j->p == j->end)
		return jfail(j, JSON_ERR_EOF, j->p, "unexpected end of input");
	switch (*j->p) {
	case '{':
		return parse_container(j, 1);
	case '[':
		return parse_container(j, 0);
	case '"':
		v = new_node(j, JSON_STRING);
		if (v == NULL || parse_str(j, &v->s, &v->n) < 0)
			return NULL;
		v->rawlen = (size_t)(j->p - v->raw);
		return v;
	case 't':
		return parse_literal(j, "true", 4, JSON_TRUE);
	case 'f':
		return parse_literal(j, "false", 5, JSON_FALSE);
	case 'n':
		return parse_literal(j, "null", 4, JSON_NULL);
	default:
		if (*j->p == '-' || IS_DIGIT(*j->p))
			return parse_number(j);
		return jfail(j, JSON_ERR_SYNTAX, j->p, "expected value");
	}
}

/* see json.h */
struct json *
json_parse(struct px_arena *a, const char *src, size_t n, unsigned flags,
    struct json_err *err)
{
	struct json_err dummy;
	struct jp j;
	struct json *root;

	if (err == NULL)
		err = &dummy;
	err->code = JSON_OK;
	err->pos = 0;
	err->msg = "";
	if (src == NULL) {
		src = "";
		n = 0;
	}
	j.src = src;
	j.p = src;
	j.end = src + n;
	j.a = a;
	j.flags = flags;
	j.depth = 0;
	j.err = err;
	if (skip_ws(&j) < 0)
		goto fail;
	root = parse_value(&j);
	if (root == NULL)
		goto fail;
	if (skip_ws(&j) < 0)
		goto fail;
	if (j.p != j.end) {
		jfail(&j, JSON_ERR_TRAILING, j.p, "unexpected data after value");
		goto fail;
	}
	return root;
fail:
	return NULL;
}

/* ============================================================== accessors */

/* see json.h */
int
json_eq(const char *s, size_t n, const char *lit)
{
	size_t l;

	l = lit != NULL ? strlen(lit) : 0;
	return l == n && (n == 0 || memcmp(s, lit, n) == 0);
}

/* see json.h */
struct json *
json_get(const struct json *obj, const char *key)
{
	struct json *m;
	size_t n;

	if (obj == NULL || obj->type != JSON_OBJECT || key == NULL)
		return NULL;
	/* the key's length once, then length and first byte before memcmp:
	 * most members are rejected without a call */
	n = strlen(key);
	for (m = obj->child; m != NULL; m = m->next)
		if (m->keylen == n && (n == 0 || (m->key[0] == key[0] &&
		    memcmp(m->key, key, n) == 0)))
			return m;
	return NULL;
}

/* see json.h */
struct json *
json_at(const struct json *arr, size_t i)
{
	struct json *e;

	if (arr == NULL || arr->type != JSON_ARRAY)
		return NULL;
	for (e = arr->child; e != NULL && i > 0; e = e->next)
		i--;
	return e;
}

/* see json.h */
int
json_str(const struct json *v, const char **s, size_t *n)
{
	if (v == NULL || v->type != JSON_STRING)
		return 0;
	if (s != NULL)
		*s = v->s;
	if (n != NULL)
		*n = v->n;
	return 1;
}

/* see json.h */
int
json_bool(const struct json *v, int *out)
{
	if (v == NULL || (v->type != JSON_TRUE && v->type != JSON_FALSE))
		return 0;
	if (out != NULL)
		*out = v->type == JSON_TRUE;
	return 1;
}

/* see json.h */
const char *
json_get_str(const struct json *obj, const char *key, size_t *n)
{
	const char *s;
	size_t l;

	if (!json_str(json_get(obj, key), &s, &l))
		return NULL;
	if (n != NULL)
		*n = l;
	return s;
}

/*
 * Split grammar-valid number text into sign, significant digits (as the
 * ranges int[0..il) ++ frac[0..fl) with leading zeros not yet stripped) and
 * a decimal exponent saturated to +/-1e9 (far outside any double).
 */
struct numparts {
	int neg;
	const char *ip, *fp;
	size_t il, fl;
	long long e;
};

static void
num_split(const char *s, size_t n, struct numparts *np)
{
	const char *p, *end;
	int eneg;

	p = s;
	end = s + n;
	np->neg = p < end && *p == '-';
	if (np->neg)
		p++;
	np->ip = p;
	while (p < end && IS_DIGIT(*p))
		p++;
	np->il = (size_t)(p - np->ip);
	np->fp = p;
	np->fl = 0;
	if (p < end && *p == '.') {
		np->fp = ++p;
		while (p < end && IS_DIGIT(*p))
			p++;
		np->fl = (size_t)(p - np->fp);
	}
	np->e = 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		eneg = p < end && *p == '-';
		if (p < end && (*p == '-' || *p == '+'))
			p++;
		for (; p < end && IS_DIGIT(*p); p++)
			if (np->e < 1000000000)
				np->e = np->e * 10 + (*p - '0');
		if (eneg)
			np->e = -np->e;
	}
}

/* Digit i of the concatenated int++frac digit string. */
static int
num_digit(const struct numparts *np, size_t i)
{
	return i < np->il ? np->ip[i] - '0' : np->fp[i - np->il] - '0';
}

/* see json.h */
int
json_int(const struct json *v, long long *out)
{
	struct numparts np;
	size_t lz, nd, i;
	long long e;
	unsigned long long acc, lim;

	if (v == NULL || v->type != JSON_NUMBER || v->s == NULL || v->n == 0)
		return 0;
	if (v->n == 1) {                /* a single digit: an index, mostly */
		*out = v->s[0] - '0';
		return 1;
	}
	/*
	 * Exact: value = digits * 10^(e - fl). After dropping trailing zeros
	 * the value is integral iff the exponent is >= 0, so 10, 1.0e1 and
	 * 100e-1 are all the integer 10 while 1.5 is rejected.
	 */
	num_split(v->s, v->n, &np);
	nd = np.il + np.fl;
	e = np.e - (long long)np.fl;
	while (nd > 0 && num_digit(&np, nd - 1) == 0) {
		nd--;
		e++;
	}
	for (lz = 0; lz < nd && num_digit(&np, lz) == 0; lz++)
		;
	if (lz == nd) {
		*out = 0;
		return 1;
	}
	if (e < 0 || (long long)(nd - lz) + e > 19)
		return 0;
	acc = 0;
	for (i = lz; i < nd; i++)
		acc = acc * 10 + (unsigned long long)num_digit(&np, i);
	for (; e > 0; e--)
		acc *= 10;        /* at most 19 digits: < 2^64 */
	lim = np.neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	if (acc > lim)
		return 0;
	if (np.neg)
		*out = acc == lim ? LLONG_MIN : -(long long)acc;
	else
		*out = (long long)acc;
	return 1;
}

/* Significant digits kept for strtod: 767 decide any double's rounding,
 * one more (a sticky 1 for non-zero dropped digits) breaks ties right. */
#define NUM_SIG_MAX 767

/* see json.h */
int
json_num(const struct json *v, double *out)
{
	struct numparts np;
	char buf[NUM_SIG_MAX + 32];
	size_t lz, nd, i, k, take;
	long long x;
	int sticky;

	if (v == NULL || v->type != JSON_NUMBER || v->s == NULL || v->n == 0)
		return 0;
	/*
	 * The source text is not NUL-terminated and may be arbitrarily long,
	 * so rewrite it as -0.DDDDe+X in a bounded buffer for strtod: exact,
	 * and no allocation.
	 */
	num_split(v->s, v->n, &np);
	nd = np.il + np.fl;
	for (lz = 0; lz < nd && num_digit(&np, lz) == 0; lz++)
		;
	if (lz == nd) {
		*out = np.neg ? -0.0 : 0.0;
		return 1;
	}
	k = 0;
	if (np.neg)
		buf[k++] = '-';
	buf[k++] = '0';
	buf[k++] = '.';
	take = nd - lz > NUM_SIG_MAX ? NUM_SIG_MAX : nd - lz;
	for (i = 0; i < take; i++)
		buf[k++] = (char)('0' + num_digit(&np, lz + i));
	sticky = 0;
	for (i = lz + take; i < nd && !sticky; i++)
		sticky = num_digit(&np, i) != 0;
	if (sticky)
		buf[k++] = '1';
	/* value = 0.D * 10^(e - fl + ndigits); clamp far beyond range */
	x = np.e - (long long)np.fl + (long long)(nd - lz);
	if (x > 99999)
		x = 99999;
	if (x < -99999)
		x = -99999;
	snprintf(buf + k, sizeof(buf) - k, "e%lld", x);
	*out = strtod(buf, NULL);
	return 1;
}

/* ================================================================= writer */

#define JW_COMMA  1u    /* a value was written at this level */
#define JW_OBJ    2u    /* this level is an object */

/* see json.h */
void
jw_init(struct jw *w, struct px_arena *a, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->arena = a;
	w->max = (max == 0 || max > SIZE_MAX / 4) ? SIZE_MAX / 4 : max;
}

/* see json.h */
void
jw_init_fixed(struct jw *w, char *buf, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
	w->max = cap;
	if (cap > 0)
		buf[0] = 0;
}

/* see json.h */
void
jw_reset(struct jw *w)
{
	w->len = 0;
	w->err = 0;
	w->depth = 0;
	w->after_key = 0;
	w->need_comma[0] = 0;
	if (w->cap > 0)
		w->buf[0] = 0;
}

/* Make room for n more bytes; -1 (and err set) when that is impossible. */
static int
jw_room(struct jw *w, size_t n)
{
	size_t need, ncap;
	char *nb;

	if (w->err)
		return -1;
	if (n > w->max - w->len)
		goto fail;
	need = w->len + n;
	if (w->arena == NULL)
		return need <= w->cap ? 0 : (w->err = 1, -1);
	if (need < w->cap)            /* keep one byte for the NUL */
		return 0;
	ncap = w->cap ? w->cap : 256;
	while (ncap <= need)
		ncap *= 2;            /* need <= SIZE_MAX / 4 */
	if (ncap > w->max + 1)
		ncap = w->max + 1;
	nb = px_arena_alloc(w->arena, ncap);
	if (nb == NULL)
		goto fail;
	if (w->len > 0)
		memcpy(nb, w->buf, w->len);
	w->buf = nb;
	w->cap = ncap;
	return 0;
fail:
	w->err = 1;
	return -1;
}

static void
jw_add(struct jw *w, const char *s, size_t n)
{
	if (jw_room(w, n) < 0)
		return;
	if (n > 0)
		memcpy(w->buf + w->len, s, n);
	w->len += n;
	if (w->len < w->cap)
		w->buf[w->len] = 0;
}

/* Before a value: the comma inside arrays, the key check inside objects. */
static int
jw_pre(struct jw *w)
{
	unsigned char *f;

	if (w->err)
		return -1;
	if (w->depth == 0)
		return 0;
	f = &w->need_comma[w->depth];
	if (*f & JW_OBJ) {
		if (!w->after_key) {
			w->err = 1;   /* value without a key */
			return -1;
		}
		w->after_key = 0;
		return 0;
	}
	if (*f & JW_COMMA)
		jw_add(w, ",", 1);
	*f |= JW_COMMA;
	return w->err ? -1 : 0;
}

/* see json.h */
void
jw_put(struct jw *w, const char *s, size_t n)
{
	jw_add(w, s, n);
}

/* see json.h */
void
jw_puts(struct jw *w, const char *s)
{
	if (s != NULL)
		jw_add(w, s, strlen(s));
}

static void
jw_open(struct jw *w, int obj)
{
	if (jw_pre(w) < 0)
		return;
	if (w->depth >= JSON_MAX_DEPTH) {
		w->err = 1;
		return;
	}
	jw_add(w, obj ? "{" : "[", 1);
	w->depth++;
	w->need_comma[w->depth] = obj ? JW_OBJ : 0;
}

static void
jw_close(struct jw *w, int obj)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->after_key
	    || !(w->need_comma[w->depth] & JW_OBJ) != !obj) {
		w->err = 1;
		return;
	}
	jw_add(w, obj ? "}" : "]", 1);
	w->depth--;
}

/* see json.h */
void
jw_obj(struct jw *w)
{
	jw_open(w, 1);
}

/* see json.h */
void
jw_obj_end(struct jw *w)
{
	jw_close(w, 1);
}

/* see json.h */
void
jw_arr(struct jw *w)
{
	jw_open(w, 0);
}

/* see json.h */
void
jw_arr_end(struct jw *w)
{
	jw_close(w, 0);
}

/* see json.h */
void
jw_escaped(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p, *end, *run;
	const char *rep;
	char u[6];
	uint64_t m;
	size_t skip;
	int k;

	if (n == 0)
		return;
	p = (const unsigned char *)s;
	end = p + n;
	run = p;
	while (!w->err) {
		/* Find the next byte that needs a look, a word at a time;
		 * runs of plain bytes and valid UTF-8 go out with one copy
		 * each. */
		for (;;) {
			if (end - p < 8) {
				while (p < end && PLAIN(*p))
					p++;
				break;
			}
			m = str_special(load8(p));
			if (m != 0) {
				p += first_flag(m);
				while (PLAIN(*p))
					p++;
				break;
			}
			p += 8;
		}
		if (p == end)
			break;
		skip = 1;
		rep = NULL;
		if (*p >= 0x80) {
			k = utf8_seq(p, end);
			if (k > 1 && !(k == 3 && p[0] == 0xE2 && p[1] == 0x80
			    && (p[2] == 0xA8 || p[2] == 0xA9))) {
				p += k;
				continue;
			}
			/*
			 * U+2028/2029 are legal JSON but end a line in
			 * JavaScript, so escape them for script embedding.
			 * Bytes that are not UTF-8 become U+FFFD so the
			 * output is always valid JSON.
			 */
			if (k == 3) {
				rep = p[2] == 0xA8 ? "\\u2028" : "\\u2029";
				skip = 3;
			} else {
				rep = "\\ufffd";
			}
		} else {
			switch (*p) {
			case '"':  rep = "\\\""; break;
			case '\\': rep = "\\\\"; break;
			case '\n': rep = "\\n"; break;
			case '\r': rep = "\\r"; break;
			case '\t': rep = "\\t"; break;
			case '\b': rep = "\\b"; break;
			case '\f': rep = "\\f"; break;
			default:
				memcpy(u, "\\u00", 4);
				u[4] = hex[*p >> 4];
				u[5] = hex[*p & 15];
				break;
			}
		}
		jw_add(w, (const char *)run, (size_t)(p - run));
		if (rep != NULL)
			jw_add(w, rep, strlen(rep));
		else
			jw_add(w, u, sizeof(u));
		p += skip;
		run = p;
	}
	jw_add(w, (const char *)run, (size_t)(p - run));
}

/* see json.h */
void
jw_keyn(struct jw *w, const char *k, size_t n)
{
	unsigned char *f;

	if (w->err)
		return;
	f = &w->need_comma[w->depth];
	if (w->depth == 0 || !(*f & JW_OBJ) || w->after_key) {
		w->err = 1;
		return;
	}
	if (*f & JW_COMMA)
		jw_add(w, ",", 1);
	*f |= JW_COMMA;
	jw_add(w, "\"", 1);
	jw_escaped(w, k, n);
	jw_add(w, "\":", 2);
	w->after_key = 1;
}

/* see json.h */
void
jw_key(struct jw *w, const char *k)
{
	jw_keyn(w, k, k != NULL ? strlen(k) : 0);
}

/* see json.h */
void
jw_str(struct jw *w, const char *s, size_t n)
{
	if (jw_pre(w) < 0)
		return;
	jw_add(w, "\"", 1);
	jw_escaped(w, s, n);
	jw_add(w, "\"", 1);
}

/* see json.h */
void
jw_cstr(struct jw *w, const char *s)
{
	jw_str(w, s, s != NULL ? strlen(s) : 0);
}

/* see json.h */
void
jw_int(struct jw *w, long long v)
{
	char b[24], *q;
	unsigned long long u;

	if (jw_pre(w) < 0)
		return;
	/* digits from the right; the magnitude is taken unsigned so that
	 * LLONG_MIN needs no special case */
	u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
	q = b + sizeof(b);
	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--q = '-';
	jw_add(w, q, (size_t)(b + sizeof(b) - q));
}

/* see json.h */
void
jw_double(struct jw *w, double v)
{
	static const char *const fmt[] = { "%.15g", "%.16g", "%.17g" };
	char b[32];
	size_t i;
	int n;

	if (!isfinite(v)) {
		jw_null(w);           /* JSON has no NaN or infinities */
		return;
	}
	if (jw_pre(w) < 0)
		return;
	/* Shortest of the three that reads back bit for bit; %.17g always
	 * does for IEEE doubles. */
	n = 0;
	for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		n = snprintf(b, sizeof(b), fmt[i], v);
		if (strtod(b, NULL) == v)
			break;
	}
	jw_add(w, b, (size_t)n);
}

/* see json.h */
void
jw_bool(struct jw *w, int v)
{
	if (jw_pre(w) < 0)
		return;
	if (v)
		jw_add(w, "true", 4);
	else
		jw_add(w, "false", 5);
}

/* see json.h */
void
jw_null(struct jw *w)
{
	if (jw_pre(w) < 0)
		return;
	jw_add(w, "null", 4);
}

/* see json.h */
void
jw_raw(struct jw *w, const char *s, size_t n)
{
	if (jw_pre(w) < 0)
		return;
	jw_add(w, s, n);
}

/* see json.h */
void
jw_value(struct jw *w, const struct json *v)
{
	const struct json *c;

	if (w->err)
		return;
	if (v == NULL) {
		w->err = 1;
		return;
	}
	switch (v->type) {
	case JSON_NULL:
		jw_null(w);
		break;
	case JSON_FALSE:
		jw_bool(w, 0);
		break;
	case JSON_TRUE:
		jw_bool(w, 1);
		break;
	case JSON_NUMBER:
		jw_raw(w, v->s, v->n);
		break;
	case JSON_STRING:
		jw_str(w, v->s, v->n);
		break;
	case JSON_ARRAY:
		jw_arr(w);
		for (c = v->child; c != NULL && !w->err; c = c->next)
			jw_value(w, c);
		jw_arr_end(w);
		break;
	case JSON_OBJECT:
		jw_obj(w);
		for (c = v->child; c != NULL && !w->err; c = c->next) {
			jw_keyn(w, c->key != NULL ? c->key : "", c->keylen);
			jw_value(w, c);
		}
		jw_obj_end(w);
		break;
	default:
		w->err = 1;
		break;
	}
}

/* see json.h */
void
jw_kstr(struct jw *w, const char *k, const char *s, size_t n)
{
	jw_key(w, k);
	jw_str(w, s, n);
}

/* see json.h */
void
jw_kcstr(struct jw *w, const char *k, const char *s)
{
	jw_key(w, k);
	jw_cstr(w, s);
}

/* see json.h */
void
jw_kint(struct jw *w, const char *k, long long v)
{
	jw_key(w, k);
	jw_int(w, v);
}

/* see json.h */
void
jw_kbool(struct jw *w, const char *k, int v)
{
	jw_key(w, k);
	jw_bool(w, v);
}

/* see json.h */
void
jw_knull(struct jw *w, const char *k)
{
	jw_key(w, k);
	jw_null(w);
}

/* see json.h */
void
jw_kraw(struct jw *w, const char *k, const char *s, size_t n)
{
	jw_key(w, k);
	jw_raw(w, s, n);
}
