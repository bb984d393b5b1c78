/*
 * usage.c - usage and cost records. See usage.h for the contract, the log
 * format, the roll-up rule and the cost formula.
 *
 * Why varints: a record is mostly small integers (-1 for unknown, token
 * counts, status) and a few short names; LEB128 keeps a typical record
 * around 60 bytes, so 30 days of raw records at 100k requests a day stay
 * near 200 MB. The decoder is strict (canonical varints, ranges checked,
 * no trailing bytes) so every accepted body re-encodes to the same bytes,
 * which the fuzzer checks.
 *
 * The request path (px_usage_add) does a price lookup, a few additions and
 * a memcpy into the write buffer; the loop's flush turns the buffer into
 * one write(). A full buffer is written at once, still one write().
 *
 * Why compactions run in a child process: a roll-up rewrites and fsyncs
 * the whole log (about 3 s per million records on a plain disk), which
 * must not stall the event loop once a day. The child rewrites the prefix
 * the log had when it was forked and syncs it; the loop goes on appending;
 * when the child reports (on a pipe, so a SIGCHLD disposition of SIG_IGN
 * does not matter) the loop copies the records appended since and renames
 * (px_journal_swap). Only the compaction at open runs inline.
 *
 * Memory is bounded: spend for PX_USAGE_KEYS_MAX keys, chart series for
 * PX_USAGE_SERIES_MAX names per dimension (the rest share "(other)"), each
 * with PX_USAGE_HOURS + PX_USAGE_DAYS buckets in rings, and a compaction or
 * a report holds only the groups it is summing (one per day, key, model
 * and provider being rolled up; one per row of a report), at most
 * PX_USAGE_ROLLUP_MAX.
 *
 * Prices: every figure in the built-in table was read on a vendor page
 * (see the table); a model whose price could not be confirmed is left out,
 * so it costs "unknown" until the config prices it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "usage.h"

#define DAY_MS  86400000LL
#define HOUR_MS 3600000LL
#define TOK_MAX 1000000000LL       /* tokens per category per request that
                                      can be priced (keeps sums in 64 bits) */
#define USD_MAX 1000               /* highest price accepted, USD/Mtok */
#define FNV0 2166136261u

/* ============================================================ helpers */

static uint32_t
fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

static long long
sat_add(long long a, long long b)
{
	if (b > 0 && a > LLONG_MAX - b)
		return LLONG_MAX;
	return a + b;
}

/* known tokens: -1 (unknown) counts as 0 */
static long long
tok(long long v)
{
	return v > 0 ? v : 0;
}

static struct px_str
cut(struct px_str s)
{
	if (!s.p)
		s.n = 0;
	if (s.n > PX_USAGE_STR_MAX)
		s.n = PX_USAGE_STR_MAX;
	return s;
}

static int
str_eq(struct px_str a, const char *b, size_t bn)
{
	return a.n == bn && (bn == 0 || memcmp(a.p, b, bn) == 0);
}

/* "%lld.%06lld" for micro-USD >= 0 */
static int
fmt_usd(char *buf, size_t cap, long long uusd)
{
	return snprintf(buf, cap, "%lld.%06lld", uusd / 1000000,
	    uusd % 1000000);
}

/* ------------------------------------------------------------ calendar */

/* see usage.h */
long long
px_usage_day_of(long long t)
{
	long long q = t / DAY_MS;

	if (t % DAY_MS < 0)
		q--;
	return q;
}

static long long
hour_of(long long t)
{
	long long q = t / HOUR_MS;

	if (t % HOUR_MS < 0)
		q--;
	return q;
}

/* days since 1970-01-01 of a civil date (H. Hinnant's algorithm) */
static long long
days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(long long z, long long *y, int *m, int *d)
{
	long long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y += *m <= 2;
}

/* see usage.h */
void
px_usage_day_str(long long day, char *buf)
{
	long long y;
	int m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(buf, 24, "%04lld-%02d-%02d", y, m, d);
}

/* months since year 0 of a day */
static long long
month_of_day(long long day)
{
	long long y;
	int m, d;

	civil_from_days(day, &y, &m, &d);
	return y * 12 + m - 1;
}

/* see usage.h */
long long
px_usage_period_end(long long now, int period)
{
	long long day = px_usage_day_of(now), y;
	int m, d;

	if (period != PX_USAGE_MONTH)
		return (day + 1) * DAY_MS;
	civil_from_days(day, &y, &m, &d);
	if (++m > 12) {
		m = 1;
		y++;
	}
	return days_from_civil(y, m, 1) * DAY_MS;
}

/* ============================================================ encoding */

struct wb {
	unsigned char *p;
	size_t n, cap;
	int err;
};

static void
put_u(struct wb *b, unsigned long long v)
{
	do {
		unsigned char c = v & 0x7f;
		v >>= 7;
		if (v)
			c |= 0x80;
		if (b->n >= b->cap) {
			b->err = 1;
			return;
		}
		b->p[b->n++] = c;
	} while (v);
}

static void
put_s(struct wb *b, long long v)
{
	unsigned long long u = (unsigned long long)v << 1;

	put_u(b, v < 0 ? ~u : u);       /* zigzag */
}

static void
put_str(struct wb *b, struct px_str s)
{
	s = cut(s);
	put_u(b, s.n);
	if (b->err || s.n > b->cap - b->n) {
		b->err = 1;
		return;
	}
	if (s.n)
		memcpy(b->p + b->n, s.p, s.n);
	b->n += s.n;
}

struct rb {
	const unsigned char *p;
	size_t n, off;
	int err;
};

static unsigned long long
get_u(struct rb *b)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < 10; i++) {
		unsigned c;
		if (b->off >= b->n)
			break;
		c = b->p[b->off++];
		if (i == 9 && c > 1)
			break;                  /* past 64 bits */
		v |= (unsigned long long)(c & 0x7f) << (7 * i);
		if (!(c & 0x80)) {
			if (c == 0 && i > 0)
				break;          /* not canonical */
			return v;
		}
	}
	b->err = 1;
	return 0;
}

static long long
get_s(struct rb *b)
{
	unsigned long long u = get_u(b);

	return (long long)(u >> 1) ^ -(long long)(u & 1);
}

/* a signed field >= lo (and <= hi) */
static long long
get_range(struct rb *b, long long lo, long long hi)
{
	long long v = get_s(b);

	if (v < lo || v > hi)
		b->err = 1;
	return v;
}

/* an unsigned field that fits a long long */
static long long
get_count(struct rb *b)
{
	unsigned long long v = get_u(b);

	if (v > (unsigned long long)LLONG_MAX)
		b->err = 1;
	return (long long)v;
}

static struct px_str
get_str(struct rb *b)
{
	struct px_str s = { "", 0 };
	unsigned long long n = get_u(b);

	if (b->err || n > PX_USAGE_STR_MAX || n > b->n - b->off) {
		b->err = 1;
		return s;
	}
	s.p = (const char *)b->p + b->off;
	s.n = (size_t)n;
	b->off += (size_t)n;
	return s;
}

static long long
clamp(long long v, long long lo, long long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* see usage.h */
size_t
px_usage_encode(const struct px_usage_rec *r, unsigned char *out, size_t cap)
{
	struct wb b = { out, 0, cap, 0 };

	put_s(&b, r->t_ms);
	put_str(&b, r->key);
	put_str(&b, r->fmt);
	put_str(&b, r->model);
	put_str(&b, r->provider);
	put_str(&b, r->cred);
	put_str(&b, r->upstream_model);
	put_s(&b, r->status >= 0 && r->status <= 999 ? r->status : 0);
	put_s(&b, clamp(r->tok.input, -1, LLONG_MAX));
	put_s(&b, clamp(r->tok.output, -1, LLONG_MAX));
	put_s(&b, clamp(r->tok.cache_read, -1, LLONG_MAX));
	put_s(&b, clamp(r->tok.cache_write, -1, LLONG_MAX));
	put_s(&b, clamp(r->tok.reasoning, -1, LLONG_MAX));
	put_s(&b, clamp(r->cost_uusd, -1, LLONG_MAX));
	put_s(&b, clamp(r->latency_ms, -1, LLONG_MAX));
	put_s(&b, clamp(r->ttfb_ms, -1, LLONG_MAX));
	put_s(&b, clamp(r->attempts, 0, 65535));
	return b.err ? 0 : b.n;
}

/* see usage.h */
int
px_usage_decode(const unsigned char *p, size_t n, struct px_usage_rec *r)
{
	struct rb b = { p, n, 0, 0 };

	r->t_ms = get_s(&b);
	r->key = get_str(&b);
	r->fmt = get_str(&b);
	r->model = get_str(&b);
	r->provider = get_str(&b);
	r->cred = get_str(&b);
	r->upstream_model = get_str(&b);
	r->status = (int)get_range(&b, 0, 999);
	r->tok.input = get_range(&b, -1, LLONG_MAX);
	r->tok.output = get_range(&b, -1, LLONG_MAX);
	r->tok.cache_read = get_range(&b, -1, LLONG_MAX);
	r->tok.cache_write = get_range(&b, -1, LLONG_MAX);
	r->tok.reasoning = get_range(&b, -1, LLONG_MAX);
	r->cost_uusd = get_range(&b, -1, LLONG_MAX);
	r->latency_ms = get_range(&b, -1, LLONG_MAX);
	r->ttfb_ms = get_range(&b, -1, LLONG_MAX);
	r->attempts = (int)get_range(&b, 0, 65535);
	return b.err || b.off != n ? -1 : 0;
}

/* see usage.h */
size_t
px_usage_day_encode(const struct px_usage_day *d, unsigned char *out,
                    size_t cap)
{
	struct wb b = { out, 0, cap, 0 };
	long long req = d->requests > 0 ? d->requests : 1;

	put_s(&b, clamp(d->day, -LLONG_MAX / DAY_MS, LLONG_MAX / DAY_MS));
	put_str(&b, d->key);
	put_str(&b, d->model);
	put_str(&b, d->provider);
	put_u(&b, (unsigned long long)req);
	put_u(&b, (unsigned long long)clamp(d->errors, 0, req));
	put_u(&b, (unsigned long long)clamp(d->unpriced, 0, req));
	put_u(&b, (unsigned long long)tok(d->input));
	put_u(&b, (unsigned long long)tok(d->output));
	put_u(&b, (unsigned long long)tok(d->cache_read));
	put_u(&b, (unsigned long long)tok(d->cache_write));
	put_u(&b, (unsigned long long)tok(d->reasoning));
	put_u(&b, (unsigned long long)tok(d->cost_uusd));
	return b.err ? 0 : b.n;
}

/* see usage.h */
int
px_usage_day_decode(const unsigned char *p, size_t n, struct px_usage_day *d)
{
	struct rb b = { p, n, 0, 0 };

	d->day = get_range(&b, -LLONG_MAX / DAY_MS, LLONG_MAX / DAY_MS);
	d->key = get_str(&b);
	d->model = get_str(&b);
	d->provider = get_str(&b);
	d->requests = get_count(&b);
	d->errors = get_count(&b);
	d->unpriced = get_count(&b);
	d->input = get_count(&b);
	d->output = get_count(&b);
	d->cache_read = get_count(&b);
	d->cache_write = get_count(&b);
	d->reasoning = get_count(&b);
	d->cost_uusd = get_count(&b);
	if (d->requests < 1 || d->errors > d->requests ||
	    d->unpriced > d->requests)
		b.err = 1;
	return b.err || b.off != n ? -1 : 0;
}

/* ============================================================ prices */

/*
 * Built-in prices, USD per million tokens (x 10^6 here): input, output,
 * cache read, cache write; then the tier (prompt tokens above which the
 * second set applies to the whole request). -1 = not confirmed.
 *
 * Taken on 2026-12-04 from stored copies of the vendors' pages (each copy
 * was made some time between September and November 2026; they were not
 * re-checked live):
 *
 *  Anthropic: platform.claude.com/docs/en/about-claude/pricing ("Model
 *   pricing": base input, 5m cache writes, cache hits, output) and the
 *   model pages platform.claude.com/docs/en/models/<model>/overview.
 *   Cache writes are priced at the 5-minute rate: the usage Anthropic
 *   reports (and struct ir_usage) does not split 1-hour writes, which cost
 *   2x input. Haiku 4.5's cache prices apply the page's documented
 *   multipliers (reads 0.1x, 5m writes 1.25x input); Haiku 5.5's tier is
 *   its page's "prompts over 100,000 tokens" rates. Left out: Claude
 *   Sonnet 5.5 (the page showed $0.20 cache reads, later reports say
 *   $0.10: not confirmed), Claude Fable 5.2 (no vendor page seen), the
 *   retired Opus 4 / 4.1, and Mythos (limited availability).
 *  OpenAI: developers.openai.com/api/docs/models/<model> ("Text tokens":
 *   input, cached input, cache writes, output; "for requests with more than
 *   272K input tokens, input and cache rates double and output costs 1.5
 *   times the short-context rate for the full request"). Left out: models
 *   whose model page was not seen (gpt-6.1-sol, gpt-6-astra, gpt-6.2-astra,
 *   gpt-5.x). OpenAI's cache-write tokens are not in ir_usage: they are
 *   priced as input.
 *  Google: ai.google.dev/gemini-api/docs/pricing, as transcribed verbatim
 *   on 2026-10-07 (input and output only: the cache prices were not
 *   captured, so a request with cached tokens costs "unknown"; audio input
 *   prices are not modelled). Left out: Gemini 3.8 Flash (an introductory
 *   price that ends on 2026-12-31), models whose output price was not
 *   captured.
 */
const char px_prices_date[] = "2026-12-04";

#define U(x) ((long long)(x))      /* micro-USD per million tokens */
#define P(i, o, r, w) { U(i), U(o), U(r), U(w), 0, -1, -1, -1, -1 }
#define T(i, o, r, w, above, i2, o2, r2, w2) \
	{ U(i), U(o), U(r), U(w), above, U(i2), U(o2), U(r2), U(w2) }

static const struct {
	const char *name;
	struct px_price p;
} builtin[] = {
	/* Anthropic */
	{ "claude-fable-5-1", P(10000000, 50000000, 250000, 12500000) },
	{ "claude-fable-5",   P(10000000, 50000000, 1000000, 12500000) },
	{ "claude-opus-5-5",  P(4000000, 20000000, 200000, 5000000) },
	{ "claude-opus-5",    P(5000000, 25000000, 500000, 6250000) },
	{ "claude-opus-4-8",  P(5000000, 25000000, 500000, 6250000) },
	{ "claude-opus-4-7",  P(5000000, 25000000, 500000, 6250000) },
	{ "claude-opus-4-6",  P(5000000, 25000000, 500000, 6250000) },
	{ "claude-opus-4-5",  P(5000000, 25000000, 500000, 6250000) },
	{ "claude-sonnet-5",  P(2000000, 10000000, 200000, 2500000) },
	{ "claude-haiku-5-5", T(100000, 500000, 10000, 125000,
	                        100000, 500000, 2500000, 50000, 625000) },
	{ "claude-haiku-4-5", P(1000000, 5000000, 100000, 1250000) },
	/* OpenAI */
	{ "gpt-6.2-sol",      T(2000000, 10000000, 100000, 2500000,
	                        272000, 4000000, 15000000, 200000, 5000000) },
	{ "gpt-6-sol",        T(2000000, 10000000, 200000, 2500000,
	                        272000, 4000000, 15000000, 400000, 5000000) },
	/* Google */
	{ "gemini-3.5-flash",      P(1500000, 9000000, -1, -1) },
	{ "gemini-3.5-flash-lite", P(300000, 2500000, -1, -1) },
	{ "gemini-3.1-pro-preview", T(2000000, 12000000, -1, -1,
	                              200000, 4000000, 18000000, -1, -1) },
};

#undef U
#undef P
#undef T

struct pentry {
	char *name;
	size_t n;
	int pattern;                 /* has '*' */
	int none;                    /* null: no price */
	struct px_price p;
};

struct px_prices {
	struct pentry *e;
	size_t n, cap;
};

/* see usage.h */
struct px_prices *
px_prices_new(void)
{
	return calloc(1, sizeof(struct px_prices));
}

/* see usage.h */
void
px_prices_free(struct px_prices *pt)
{
	size_t i;

	if (!pt)
		return;
	for (i = 0; i < pt->n; i++)
		free(pt->e[i].name);
	free(pt->e);
	free(pt);
}

/* '*' matches any run of bytes; everything else itself */
static int
glob(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else
			return 0;
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* model is name + "-YYYYMMDD" or name + "-YYYY-MM-DD" */
static int
dated(const char *model, size_t n, const char *name, size_t nn)
{
	const char *s = model + nn + 1;
	size_t sn;

	if (n <= nn + 1 || memcmp(model, name, nn) != 0 || model[nn] != '-')
		return 0;
	sn = n - nn - 1;
	if (sn == 8)
		return digits(s, 8);
	return sn == 10 && digits(s, 4) && s[4] == '-' && digits(s + 5, 2) &&
	    s[7] == '-' && digits(s + 8, 2);
}

/* pass 0: exact, 1: dated, 2: pattern */
static int
name_match(int pass, const char *name, size_t nn, int pattern,
           const char *model, size_t n)
{
	if (pass == 2)
		return pattern && glob(name, nn, model, n);
	if (pattern)
		return 0;
	if (pass == 0)
		return nn == n && memcmp(name, model, n) == 0;
	return dated(model, n, name, nn);
}

/* see usage.h */
const struct px_price *
px_price_find(const struct px_prices *pt, const char *model, size_t n)
{
	size_t i;
	int pass;

	if (!model)
		return NULL;
	for (pass = 0; pt && pass < 3; pass++)
		for (i = 0; i < pt->n; i++) {
			const struct pentry *e = &pt->e[i];
			if (name_match(pass, e->name, e->n, e->pattern, model, n))
				return e->none ? NULL : &e->p;
		}
	for (pass = 0; pass < 3; pass++)
		for (i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
			const char *b = builtin[i].name;
			if (name_match(pass, b, strlen(b), strchr(b, '*') != NULL,
			    model, n))
				return &builtin[i].p;
		}
	return NULL;
}

/* see usage.h */
long long
px_price_cost(const struct px_price *p, const struct ir_usage *u)
{
	long long in, out, cr, cw, unc, pin, pout, pcr, pcw;
	unsigned long long sum;

	if (!p || u->input < 0 || u->output < 0)
		return PX_COST_UNKNOWN;
	in = u->input;
	out = u->output;
	cr = tok(u->cache_read);
	cw = tok(u->cache_write);
	if (in > TOK_MAX || out > TOK_MAX || cr > TOK_MAX || cw > TOK_MAX)
		return PX_COST_UNKNOWN;
	/* input includes the cached tokens (convert.h); a count that says
	 * otherwise is read as all-cached */
	unc = in - cr - cw;
	if (unc < 0)
		unc = 0;
	if (p->tier_above > 0 && in > p->tier_above) {
		pin = p->in2;
		pout = p->out2;
		pcr = p->cache_read2;
		pcw = p->cache_write2;
	} else {
		pin = p->in;
		pout = p->out;
		pcr = p->cache_read;
		pcw = p->cache_write;
	}
	if ((unc && pin < 0) || (out && pout < 0) || (cr && pcr < 0) ||
	    (cw && pcw < 0))
		return PX_COST_UNKNOWN;
	/* tokens <= 1e9 and prices <= 1e9: each product <= 1e18 */
	sum = (unsigned long long)unc * (unsigned long long)(pin > 0 ? pin : 0);
	sum += (unsigned long long)out * (unsigned long long)(pout > 0 ? pout : 0);
	sum += (unsigned long long)cr * (unsigned long long)(pcr > 0 ? pcr : 0);
	sum += (unsigned long long)cw * (unsigned long long)(pcw > 0 ? pcw : 0);
	return (long long)((sum + 500000) / 1000000);
}

/* a price field: USD per million tokens -> micro-USD per million */
static int
usd(const struct json *v, long long *out)
{
	double x;

	if (!json_num(v, &x) || !(x >= 0) || x > USD_MAX)
		return -1;
	*out = (long long)(x * 1e6 + 0.5);     /* x >= 0: round half up */
	return 0;
}

static int
price_fields(const struct json *o, int tier, long long *in, long long *out,
             long long *cr, long long *cw, long long *above,
             const struct json **bad, const char **why)
{
	const struct json *m;

	*in = *out = *cr = *cw = -1;
	for (m = o->child; m; m = m->next) {
		long long *dst = NULL;
		*bad = m;
		if (json_eq(m->key, m->keylen, "input"))
			dst = in;
		else if (json_eq(m->key, m->keylen, "output"))
			dst = out;
		else if (json_eq(m->key, m->keylen, "cache_read"))
			dst = cr;
		else if (json_eq(m->key, m->keylen, "cache_write"))
			dst = cw;
		else if (tier && json_eq(m->key, m->keylen, "above")) {
			if (!json_int(m, above) || *above < 1) {
				*why = "\"above\" must be a positive number "
				    "of prompt tokens";
				return -1;
			}
			continue;
		} else if (!tier && json_eq(m->key, m->keylen, "tier"))
			continue;
		else {
			*why = tier ? "unknown field in \"tier\" (expected "
			    "above, input, output, cache_read, cache_write)" :
			    "unknown field (expected input, output, "
			    "cache_read, cache_write, tier)";
			return -1;
		}
		if (m->type == JSON_NULL && dst != in && dst != out)
			continue;
		if (usd(m, dst) < 0) {
			*why = "a price must be a number of USD per million "
			    "tokens from 0 to 1000";
			return -1;
		}
	}
	*bad = o;
	if (*in < 0 || *out < 0) {
		*why = tier ? "\"tier\" needs \"input\" and \"output\"" :
		    "\"input\" and \"output\" are required";
		return -1;
	}
	if (tier && *above < 1) {
		*why = "\"tier\" needs \"above\" (prompt tokens)";
		return -1;
	}
	return 0;
}

/* see usage.h */
int
px_prices_parse(struct px_prices *pt, const struct json *obj, char *err,
                size_t errcap, const char **at)
{
	const struct json *m, *bad = obj;
	const char *why = NULL;
	size_t i;

	if (at)
		*at = obj ? obj->raw : NULL;
	if (!obj || obj->type != JSON_OBJECT) {
		snprintf(err, errcap, "prices: expected an object of model "
		    "names or patterns");
		return -1;
	}
	for (m = obj->child; m; m = m->next) {
		struct pentry e;
		long long dummy = 0;
		memset(&e, 0, sizeof e);
		bad = m;
		if (m->keylen == 0 || m->keylen > PX_USAGE_STR_MAX) {
			why = "a model name must be 1 to 128 bytes";
			goto fail;
		}
		for (i = 0; i < pt->n; i++)
			if (pt->e[i].n == m->keylen &&
			    memcmp(pt->e[i].name, m->key, m->keylen) == 0) {
				why = "priced twice";
				goto fail;
			}
		if (pt->n >= PX_PRICES_MAX) {
			why = "too many prices";
			goto fail;
		}
		if (m->type == JSON_NULL)
			e.none = 1;
		else if (m->type != JSON_OBJECT) {
			why = "expected {\"input\": USD, \"output\": USD, ...} "
			    "or null";
			goto fail;
		} else {
			const struct json *t = json_get(m, "tier");
			if (price_fields(m, 0, &e.p.in, &e.p.out,
			    &e.p.cache_read, &e.p.cache_write, &dummy, &bad,
			    &why) < 0)
				goto fail;
			e.p.in2 = e.p.out2 = e.p.cache_read2 =
			    e.p.cache_write2 = -1;
			if (t && t->type != JSON_NULL) {
				bad = t;
				if (t->type != JSON_OBJECT) {
					why = "\"tier\" must be an object";
					goto fail;
				}
				if (price_fields(t, 1, &e.p.in2, &e.p.out2,
				    &e.p.cache_read2, &e.p.cache_write2,
				    &e.p.tier_above, &bad, &why) < 0)
					goto fail;
			}
		}
		if (pt->n == pt->cap) {
			size_t nc = pt->cap ? pt->cap * 2 : 16;
			struct pentry *ne = realloc(pt->e, nc * sizeof *ne);
			if (!ne) {
				why = "out of memory";
				goto fail;
			}
			pt->e = ne;
			pt->cap = nc;
		}
		e.name = malloc(m->keylen + 1);
		if (!e.name) {
			why = "out of memory";
			goto fail;
		}
		memcpy(e.name, m->key, m->keylen);
		e.name[m->keylen] = 0;
		e.n = m->keylen;
		e.pattern = memchr(e.name, '*', e.n) != NULL;
		pt->e[pt->n++] = e;
	}
	return 0;
fail:
	if (m)
		snprintf(err, errcap, "prices: \"%.*s\": %s",
		    (int)(m->keylen > 64 ? 64 : m->keylen), m->key, why);
	if (at)
		*at = bad ? bad->raw : NULL;
	return -1;
}

/* ============================================================ groups */

/* Sums per (day, key, model, provider): a compaction's roll-up, a report's
 * rows. Groups and their names live in an arena; a hash indexes them. */
struct group {
	long long day;
	struct px_str key, model, provider;
	long long requests, errors, unpriced;
	long long input, output, cache_read, cache_write, reasoning, cost;
};

struct gmap {
	struct px_arena a;
	struct group **g;
	size_t n, cap;
	uint32_t *idx;               /* slot -> group index + 1; 0 = empty */
	size_t nidx;                 /* a power of two */
	int full;                    /* PX_USAGE_ROLLUP_MAX or no memory */
};

static void
gmap_free(struct gmap *m)
{
	px_arena_free(&m->a);
	free(m->g);
	free(m->idx);
	memset(m, 0, sizeof *m);
}

static uint32_t
ghash(long long day, struct px_str k, struct px_str mo, struct px_str p)
{
	uint32_t h = fnv(FNV0, &day, sizeof day);

	h = fnv(h, k.p, k.n);
	h = fnv(h, "\0", 1);
	h = fnv(h, mo.p, mo.n);
	h = fnv(h, "\0", 1);
	return fnv(h, p.p, p.n);
}

static int
gmap_grow(struct gmap *m)
{
	size_t nn = m->nidx ? m->nidx * 2 : 256, i;
	uint32_t *ni = calloc(nn, sizeof *ni);

	if (!ni)
		return -1;
	for (i = 0; i < m->n; i++) {
		struct group *g = m->g[i];
		size_t s = ghash(g->day, g->key, g->model, g->provider) &
		    (nn - 1);
		while (ni[s])
			s = (s + 1) & (nn - 1);
		ni[s] = (uint32_t)(i + 1);
	}
	free(m->idx);
	m->idx = ni;
	m->nidx = nn;
	return 0;
}

static struct px_str
adup(struct px_arena *a, struct px_str s)
{
	struct px_str r = { "", 0 };

	s = cut(s);
	if (s.n && (r.p = px_arena_strndup(a, s.p, s.n)) != NULL)
		r.n = s.n;
	else if (s.n)
		r.p = NULL;
	return r;
}

/* the group for the tuple, created empty; NULL when full */
static struct group *
gmap_get(struct gmap *m, long long day, struct px_str k, struct px_str mo,
         struct px_str p)
{
	size_t s;
	struct group *g;

	k = cut(k);
	mo = cut(mo);
	p = cut(p);
	if ((m->n + 1) * 2 > m->nidx && gmap_grow(m) < 0) {
		m->full = 1;
		return NULL;
	}
	s = ghash(day, k, mo, p) & (m->nidx - 1);
	while (m->idx[s]) {
		g = m->g[m->idx[s] - 1];
		if (g->day == day && str_eq(g->key, k.p, k.n) &&
		    str_eq(g->model, mo.p, mo.n) &&
		    str_eq(g->provider, p.p, p.n))
			return g;
		s = (s + 1) & (m->nidx - 1);
	}
	if (m->n >= PX_USAGE_ROLLUP_MAX) {
		m->full = 1;
		return NULL;
	}
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 64;
		struct group **ng = realloc(m->g, nc * sizeof *ng);
		if (!ng) {
			m->full = 1;
			return NULL;
		}
		m->g = ng;
		m->cap = nc;
	}
	g = px_arena_alloc(&m->a, sizeof *g);
	if (!g) {
		m->full = 1;
		return NULL;
	}
	memset(g, 0, sizeof *g);
	g->day = day;
	g->key = adup(&m->a, k);
	g->model = adup(&m->a, mo);
	g->provider = adup(&m->a, p);
	if (!g->key.p || !g->model.p || !g->provider.p) {
		m->full = 1;
		return NULL;
	}
	m->g[m->n++] = g;
	m->idx[s] = (uint32_t)m->n;
	return g;
}

static int
is_error(int status)
{
	return status == 0 || status >= 400;
}

static void
group_add_raw(struct group *g, const struct px_usage_rec *r)
{
	g->requests = sat_add(g->requests, 1);
	g->errors = sat_add(g->errors, is_error(r->status));
	g->unpriced = sat_add(g->unpriced, r->cost_uusd < 0);
	g->input = sat_add(g->input, tok(r->tok.input));
	g->output = sat_add(g->output, tok(r->tok.output));
	g->cache_read = sat_add(g->cache_read, tok(r->tok.cache_read));
	g->cache_write = sat_add(g->cache_write, tok(r->tok.cache_write));
	g->reasoning = sat_add(g->reasoning, tok(r->tok.reasoning));
	g->cost = sat_add(g->cost, tok(r->cost_uusd));
}

static void
group_add_day(struct group *g, const struct px_usage_day *d)
{
	g->requests = sat_add(g->requests, d->requests);
	g->errors = sat_add(g->errors, d->errors);
	g->unpriced = sat_add(g->unpriced, d->unpriced);
	g->input = sat_add(g->input, d->input);
	g->output = sat_add(g->output, d->output);
	g->cache_read = sat_add(g->cache_read, d->cache_read);
	g->cache_write = sat_add(g->cache_write, d->cache_write);
	g->reasoning = sat_add(g->reasoning, d->reasoning);
	g->cost = sat_add(g->cost, d->cost_uusd);
}

static int
pstr_cmp(struct px_str a, struct px_str b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int c = n ? memcmp(a.p, b.p, n) : 0;

	return c ? c : a.n < b.n ? -1 : a.n > b.n;
}

static int
group_cmp(const void *x, const void *y)
{
	const struct group *a = *(struct group *const *)x;
	const struct group *b = *(struct group *const *)y;
	int c;

	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	if ((c = pstr_cmp(a->key, b->key)) != 0)
		return c;
	if ((c = pstr_cmp(a->model, b->model)) != 0)
		return c;
	return pstr_cmp(a->provider, b->provider);
}

/* ============================================================ the log */

struct spend {
	unsigned short n;
	char name[PX_USAGE_STR_MAX];
	long long day, day_uusd;
	long long month, month_uusd;
};

struct bucket {
	long long req, err, in, out, cost;
};

struct series {
	unsigned short n;
	char name[PX_USAGE_STR_MAX];
	struct bucket *hours;        /* PX_USAGE_HOURS, then PX_USAGE_DAYS */
};

struct dim {
	struct series s[PX_USAGE_SERIES_MAX + 1];   /* last: "(other)" */
	int count;
};

#define SPIDX (2 * PX_USAGE_KEYS_MAX)

struct px_usage {
	struct px_journal lg;
	int has_log;
	int retain;
	const struct px_prices *prices;
	unsigned char *buf;          /* framed records waiting for a flush */
	size_t blen;
	unsigned long nbuf;
	long long bfirst;            /* when the oldest buffered was added */
	struct spend *sp;
	int *spidx;                  /* slot -> spend index, -1 empty */
	size_t nsp;
	struct dim dims[2];
	long long hh, dh;            /* newest hour and day in the rings */
	long long oldest_raw;        /* day of the oldest raw record */
	long long next_compact;      /* no compaction before (unix ms) */
	pid_t cpid;                  /* compaction child, 0 when none */
	int cfd;                     /* its result pipe (read end) */
	size_t cupto;                /* log bytes the child rewrites */
	long long fork_oldest;       /* oldest raw day added since the fork */
	unsigned long fork_records;  /* raw records added since the fork */
	struct px_usage_stats st;
	char errbuf[512];
	int has_err;
};

static void
set_err(struct px_usage *u, const char *what, const char *why)
{
	snprintf(u->errbuf, sizeof u->errbuf, "usage log: %s%s%s", what,
	    *what && why ? ": " : "", why ? why : "");
	u->has_err = 1;
}

/* ------------------------------------------------------------ spend */

/* index of a key's spend, or -1; *slot = where it is or would go */
static int
spend_find(const struct px_usage *u, struct px_str k, size_t *slot)
{
	size_t s;

	k = cut(k);
	s = fnv(FNV0, k.p, k.n) & (SPIDX - 1);
	while (u->spidx[s] >= 0) {
		const struct spend *e = &u->sp[u->spidx[s]];
		if (e->n == k.n && (k.n == 0 || memcmp(e->name, k.p, k.n) == 0))
			break;
		s = (s + 1) & (SPIDX - 1);
	}
	*slot = s;
	return u->spidx[s];
}

static void
spend_add(struct px_usage *u, struct px_str key, long long day,
          long long cost, long long now)
{
	long long month = month_of_day(day);
	struct spend *e;
	size_t slot;
	int i;

	/* only the current month matters for budgets */
	if (cost <= 0 || month < month_of_day(px_usage_day_of(now)))
		return;
	if ((i = spend_find(u, key, &slot)) < 0) {
		if (u->nsp >= PX_USAGE_KEYS_MAX) {
			u->st.untracked++;
			return;
		}
		key = cut(key);
		i = (int)u->nsp++;
		e = &u->sp[i];
		e->n = (unsigned short)key.n;
		if (key.n)
			memcpy(e->name, key.p, key.n);
		e->day = e->month = LLONG_MIN;
		u->spidx[slot] = i;
	}
	e = &u->sp[i];
	if (day > e->day) {
		e->day = day;
		e->day_uusd = 0;
	}
	if (day == e->day)
		e->day_uusd = sat_add(e->day_uusd, cost);
	if (month > e->month) {
		e->month = month;
		e->month_uusd = 0;
	}
	if (month == e->month)
		e->month_uusd = sat_add(e->month_uusd, cost);
}

/* see usage.h */
long long
px_usage_spend(const struct px_usage *u, const char *key, size_t kn,
               int period, long long now)
{
	struct px_str k = { key ? key : "", key ? kn : 0 };
	long long day = px_usage_day_of(now);
	const struct spend *e;
	size_t slot;
	int i = spend_find(u, k, &slot);

	if (i < 0)
		return 0;
	e = &u->sp[i];
	if (period == PX_USAGE_MONTH)
		return e->month == month_of_day(day) ? e->month_uusd : 0;
	return e->day == day ? e->day_uusd : 0;
}

/* ------------------------------------------------------------ series */

static size_t
ring(long long x, long long n)
{
	return (size_t)(((x % n) + n) % n);
}

static void
advance(struct px_usage *u, int hours, long long to)
{
	long long *head = hours ? &u->hh : &u->dh;
	long long n = hours ? PX_USAGE_HOURS : PX_USAGE_DAYS, k;
	size_t base = hours ? 0 : PX_USAGE_HOURS;
	int d, i;

	if (to <= *head)
		return;
	for (d = 0; d < 2; d++)
		for (i = 0; i <= PX_USAGE_SERIES_MAX; i++) {
			struct bucket *b = u->dims[d].s[i].hours;
			if (!b)
				continue;
			if (to - *head >= n)
				memset(b + base, 0, (size_t)n * sizeof *b);
			else
				for (k = *head + 1; k <= to; k++)
					memset(&b[base + ring(k, n)], 0,
					    sizeof *b);
		}
	*head = to;
}

static struct series *
series_get(struct px_usage *u, int by, struct px_str name)
{
	struct dim *dm = &u->dims[by];
	struct series *s;
	int i;

	name = cut(name);
	for (i = 0; i < dm->count; i++) {
		s = &dm->s[i];
		if (s->n == name.n && (!name.n ||
		    memcmp(s->name, name.p, name.n) == 0))
			return s;
	}
	if (dm->count < PX_USAGE_SERIES_MAX) {
		s = &dm->s[dm->count++];
		s->n = (unsigned short)name.n;
		if (name.n)
			memcpy(s->name, name.p, name.n);
	} else {
		s = &dm->s[PX_USAGE_SERIES_MAX];
		s->n = 7;
		memcpy(s->name, "(other)", 7);
	}
	if (!s->hours)
		s->hours = calloc(PX_USAGE_HOURS + PX_USAGE_DAYS,
		    sizeof *s->hours);
	return s->hours ? s : NULL;
}

static void
bucket_add(struct bucket *b, const struct bucket *a)
{
	b->req = sat_add(b->req, a->req);
	b->err = sat_add(b->err, a->err);
	b->in = sat_add(b->in, a->in);
	b->out = sat_add(b->out, a->out);
	b->cost = sat_add(b->cost, a->cost);
}

static void
series_add(struct px_usage *u, int by, struct px_str name, long long hour,
           int has_hour, long long day, const struct bucket *a)
{
	struct series *s = series_get(u, by, name);

	if (!s)
		return;
	if (has_hour) {
		advance(u, 1, hour);
		if (hour > u->hh - PX_USAGE_HOURS)
			bucket_add(&s->hours[ring(hour, PX_USAGE_HOURS)], a);
	}
	advance(u, 0, day);
	if (day > u->dh - PX_USAGE_DAYS)
		bucket_add(&s->hours[PX_USAGE_HOURS + ring(day,
		    PX_USAGE_DAYS)], a);
}

static void
count_raw(struct px_usage *u, const struct px_usage_rec *r, long long now)
{
	long long day = px_usage_day_of(r->t_ms), hour = hour_of(r->t_ms);
	struct bucket b;

	b.req = 1;
	b.err = is_error(r->status);
	b.in = tok(r->tok.input);
	b.out = tok(r->tok.output);
	b.cost = tok(r->cost_uusd);
	spend_add(u, r->key, day, b.cost, now);
	series_add(u, PX_USAGE_BY_KEY, r->key, hour, 1, day, &b);
	series_add(u, PX_USAGE_BY_MODEL, r->model, hour, 1, day, &b);
	if (day < u->oldest_raw)
		u->oldest_raw = day;
	if (day < u->fork_oldest)
		u->fork_oldest = day;
}

static void
count_day(struct px_usage *u, const struct px_usage_day *d, long long now)
{
	struct bucket b;

	b.req = d->requests;
	b.err = d->errors;
	b.in = d->input;
	b.out = d->output;
	b.cost = d->cost_uusd;
	spend_add(u, d->key, d->day, b.cost, now);
	series_add(u, PX_USAGE_BY_KEY, d->key, 0, 0, d->day, &b);
	series_add(u, PX_USAGE_BY_MODEL, d->model, 0, 0, d->day, &b);
}

/* ------------------------------------------------------------ open */

struct open_ctx {
	struct px_usage *u;
	long long now;
};

static int
open_rec(void *ctx, int type, const char *body, size_t n, size_t rec_bytes)
{
	struct open_ctx *oc = ctx;
	struct px_usage *u = oc->u;
	const unsigned char *b = (const unsigned char *)body;

	(void)rec_bytes;
	if (type == PX_USAGE_REC_RAW) {
		struct px_usage_rec r;
		if (px_usage_decode(b, n, &r) < 0) {
			u->st.skipped++;
			return 0;
		}
		u->st.records++;
		count_raw(u, &r, oc->now);
	} else if (type == PX_USAGE_REC_DAY) {
		struct px_usage_day d;
		if (px_usage_day_decode(b, n, &d) < 0) {
			u->st.skipped++;
			return 0;
		}
		u->st.day_records++;
		count_day(u, &d, oc->now);
	} else
		u->st.skipped++;        /* a later version's record: kept */
	return 0;
}

static int
compact_due(const struct px_usage *u, long long now)
{
	return u->has_log && u->lg.fd >= 0 && u->oldest_raw != LLONG_MAX &&
	    u->oldest_raw <= px_usage_day_of(now) - u->retain &&
	    now >= u->next_compact;
}

/* see usage.h */
struct px_usage *
px_usage_open(const struct px_usage_opts *o, long long now, char *err,
              size_t errcap)
{
	struct px_usage *u = calloc(1, sizeof *u);
	struct open_ctx oc;
	size_t i;

	if (!u)
		goto nomem;
	u->lg.fd = u->lg.wfd = -1;
	u->retain = o->retain_days > 0 ? o->retain_days : PX_USAGE_RETAIN_DAYS;
	u->prices = o->prices;
	u->hh = hour_of(now);
	u->dh = px_usage_day_of(now);
	u->oldest_raw = LLONG_MAX;
	u->next_compact = LLONG_MIN;
	u->cfd = -1;
	u->fork_oldest = LLONG_MAX;
	u->sp = calloc(PX_USAGE_KEYS_MAX, sizeof *u->sp);
	u->spidx = malloc(SPIDX * sizeof *u->spidx);
	if (!u->sp || !u->spidx)
		goto nomem;
	for (i = 0; i < SPIDX; i++)
		u->spidx[i] = -1;
	if (!o->path || !o->path[0])
		return u;
	if (!(u->buf = malloc(PX_USAGE_BUF)))
		goto nomem;
	oc.u = u;
	oc.now = now;
	if (px_journal_open(&u->lg, o->path, PX_USAGE_MAGIC, PX_USAGE_REC_MAX,
	    PX_JOURNAL_SYNC, open_rec, &oc, err, errcap) < 0) {
		px_usage_close(u, now);
		return NULL;
	}
	u->has_log = 1;
	u->st.dropped = u->lg.st.dropped;
	u->st.moved_aside = u->lg.st.moved_aside;
	/* a failed compaction leaves a good log: report it, go on */
	if (compact_due(u, now))
		px_usage_compact(u, now);
	return u;
nomem:
	snprintf(err, errcap, "usage: out of memory");
	px_usage_close(u, now);
	return NULL;
}

static int flush_write(struct px_usage *u, long long now);
static void compact_stop(struct px_usage *u);

/* see usage.h */
void
px_usage_close(struct px_usage *u, long long now)
{
	int d, i;

	if (!u)
		return;
	compact_stop(u);
	if (u->has_log) {
		flush_write(u, now);    /* no compaction on the way out */
		px_journal_close(&u->lg);
	}
	for (d = 0; d < 2; d++)
		for (i = 0; i <= PX_USAGE_SERIES_MAX; i++)
			free(u->dims[d].s[i].hours);
	free(u->buf);
	free(u->sp);
	free(u->spidx);
	free(u);
}

/* see usage.h */
void
px_usage_set_prices(struct px_usage *u, const struct px_prices *pt)
{
	u->prices = pt;
}

/* ------------------------------------------------------------ writes */

/* Write the buffer: 0, or -1 with the records kept for a retry. */
static int
flush_write(struct px_usage *u, long long now)
{
	long k;

	if (!u->blen)
		return 0;
	k = px_journal_write(&u->lg, u->buf, u->blen);
	if (k < 0) {
		set_err(u, "write", px_journal_error(&u->lg));
		u->bfirst = now;        /* retry after PX_USAGE_FLUSH_MS */
		return -1;
	}
	if (k == 0)
		u->st.lost += u->nbuf;  /* the log is switched off */
	u->blen = 0;
	u->nbuf = 0;
	return 0;
}

/* see usage.h */
long long
px_usage_add(struct px_usage *u, struct px_usage_rec *r, long long now)
{
	unsigned char body[PX_USAGE_REC_MAX];
	struct px_str m = r->upstream_model.n ? r->upstream_model : r->model;
	const struct px_price *p = px_price_find(u->prices, m.p, m.n);
	size_t bn, need;

	r->cost_uusd = px_price_cost(p, &r->tok);
	/* no price for the model: what the upstream reported itself (a
	 * command's total_cost_usd), if anything */
	if (r->cost_uusd < 0 && r->tok.cost_uusd >= 0)
		r->cost_uusd = r->tok.cost_uusd;
	count_raw(u, r, now);
	if (!u->has_log)
		return r->cost_uusd;
	bn = px_usage_encode(r, body, sizeof body);
	need = PX_JOURNAL_HEAD + 1 + bn;
	if (u->blen + need > PX_USAGE_BUF) {
		flush_write(u, now);
		if (u->blen + need > PX_USAGE_BUF) {
			/* writes keep failing: drop what waits */
			u->st.lost += u->nbuf;
			u->blen = 0;
			u->nbuf = 0;
		}
	}
	if (!u->blen)
		u->bfirst = now;
	u->blen += px_journal_frame(u->buf + u->blen, PX_USAGE_BUF - u->blen,
	    PX_USAGE_REC_RAW, body, bn);
	u->nbuf++;
	u->st.records++;
	u->fork_records++;
	return r->cost_uusd;
}

static int compact_start(struct px_usage *u, long long now);
static int compact_poll(struct px_usage *u);

/* see usage.h */
int
px_usage_flush(struct px_usage *u, long long now)
{
	int rc = 0;

	if (!u->has_log)
		return 0;
	if (flush_write(u, now) < 0)
		rc = -1;
	if (u->cpid && compact_poll(u) < 0)
		rc = -1;
	if (rc == 0 && !u->cpid && compact_due(u, now) &&
	    compact_start(u, now) < 0)
		rc = -1;
	return rc;
}

/* see usage.h */
long long
px_usage_flush_due(const struct px_usage *u, long long now)
{
	long long left;

	if (!u->blen)
		return u->cpid ? PX_USAGE_FLUSH_MS : -1;
	left = u->bfirst + PX_USAGE_FLUSH_MS - now;
	return left > 0 ? left : 0;
}

/* ------------------------------------------------------------ compaction */

struct compact_ctx {
	struct px_usage *u;
	long long cutoff;            /* days <= cutoff are rolled up */
	long long lo;                /* 'R' records from lo are merged */
	struct gmap g;
	long long min_kept;
	unsigned long raw, days;
	int fail;
};

static int
keep(struct compact_ctx *cc, int type, const char *body, size_t n)
{
	struct iovec v;

	v.iov_base = (void *)body;
	v.iov_len = n;
	if (px_journal_rewrite_add(&cc->u->lg, type, &v, 1) < 0) {
		cc->fail = 1;
		return -1;
	}
	return 0;
}

static int
compact_rec(void *ctx, int type, const char *body, size_t n, size_t rec_bytes)
{
	struct compact_ctx *cc = ctx;
	const unsigned char *b = (const unsigned char *)body;
	struct group *g;

	(void)rec_bytes;
	if (type == PX_USAGE_REC_RAW) {
		struct px_usage_rec r;
		long long day;
		if (px_usage_decode(b, n, &r) < 0)
			return 0;               /* dropped */
		day = px_usage_day_of(r.t_ms);
		if (day > cc->cutoff) {
			if (day < cc->min_kept)
				cc->min_kept = day;
			cc->raw++;
			return keep(cc, type, body, n);
		}
		if (!(g = gmap_get(&cc->g, day, r.key, r.model, r.provider)))
			goto full;
		group_add_raw(g, &r);
		return 0;
	}
	if (type == PX_USAGE_REC_DAY) {
		struct px_usage_day d;
		if (px_usage_day_decode(b, n, &d) < 0)
			return 0;
		if (d.day < cc->lo || d.day > cc->cutoff) {
			cc->days++;
			return keep(cc, type, body, n);
		}
		if (!(g = gmap_get(&cc->g, d.day, d.key, d.model, d.provider)))
			goto full;
		group_add_day(g, &d);
		return 0;
	}
	return keep(cc, type, body, n);
full:
	cc->fail = 2;
	return -1;
}

/* what a rewrite found, from the child to the parent */
struct compact_res {
	int ok;
	size_t size;                 /* bytes of "<path>.tmp" */
	long long min_kept;          /* oldest raw day kept */
	unsigned long raw, days;     /* records in it */
};

/*
 * Rewrite the log's first `upto` bytes (0: all) into "<path>.tmp": raw
 * records past the window rolled up, everything else copied. On success
 * the rewrite is left open for commit or finish; on failure it is aborted
 * (the error set).
 */
static int
compact_write(struct px_usage *u, long long now, size_t upto,
              struct compact_res *res)
{
	struct compact_ctx cc;
	struct px_journal_stats st;
	char err[256];
	size_t i;
	int rc;

	memset(&cc, 0, sizeof cc);
	cc.u = u;
	cc.cutoff = px_usage_day_of(now) - u->retain;
	cc.lo = u->oldest_raw;
	cc.min_kept = LLONG_MAX;
	if (px_journal_rewrite_begin(&u->lg) < 0) {
		set_err(u, "compaction", px_journal_error(&u->lg));
		return -1;
	}
	rc = px_journal_read(u->lg.path, PX_USAGE_MAGIC, PX_USAGE_REC_MAX, upto,
	    compact_rec, &cc, &st, err, sizeof err);
	if (rc != 0 || cc.fail) {
		set_err(u, "compaction", rc != 0 ? err : cc.fail == 2 ?
		    "too many daily totals to roll up at once" :
		    px_journal_error(&u->lg));
		goto fail;
	}
	if (cc.g.n)
		qsort(cc.g.g, cc.g.n, sizeof *cc.g.g, group_cmp);
	for (i = 0; i < cc.g.n; i++) {
		unsigned char body[PX_USAGE_REC_MAX];
		struct group *g = cc.g.g[i];
		struct px_usage_day d;
		d.day = g->day;
		d.key = g->key;
		d.model = g->model;
		d.provider = g->provider;
		d.requests = g->requests;
		d.errors = g->errors;
		d.unpriced = g->unpriced;
		d.input = g->input;
		d.output = g->output;
		d.cache_read = g->cache_read;
		d.cache_write = g->cache_write;
		d.reasoning = g->reasoning;
		d.cost_uusd = g->cost;
		if (keep(&cc, PX_USAGE_REC_DAY, (const char *)body,
		    px_usage_day_encode(&d, body, sizeof body)) < 0) {
			set_err(u, "compaction", px_journal_error(&u->lg));
			goto fail;
		}
		cc.days++;
	}
	gmap_free(&cc.g);
	res->ok = 1;
	res->min_kept = cc.min_kept;
	res->raw = cc.raw;
	res->days = cc.days;
	return 0;
fail:
	px_journal_rewrite_abort(&u->lg);
	gmap_free(&cc.g);
	return -1;
}

static void
compact_done(struct px_usage *u, const struct compact_res *res,
             unsigned long added, long long added_oldest)
{
	u->oldest_raw = res->min_kept < added_oldest ? res->min_kept :
	    added_oldest;
	u->st.records = res->raw + added;
	u->st.day_records = res->days;
	u->st.compactions++;
}

/* Kill a running child compaction (its rewrite is dropped). */
static void
compact_stop(struct px_usage *u)
{
	if (!u->cpid)
		return;
	kill(u->cpid, SIGKILL);
	while (waitpid(u->cpid, NULL, 0) < 0 && errno == EINTR)
		;
	close(u->cfd);
	u->cfd = -1;
	u->cpid = 0;
	if (u->lg.tmp)
		unlink(u->lg.tmp);
}

/* Fork the child that rewrites the log as it is now. */
static int
compact_start(struct px_usage *u, long long now)
{
	int p[2];
	pid_t pid;

	u->next_compact = now + HOUR_MS;
	if (pipe(p) < 0) {
		set_err(u, "compaction: pipe", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		set_err(u, "compaction: fork", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		struct compact_res res;
		ssize_t w;
		close(p[0]);
		memset(&res, 0, sizeof res);
		if (compact_write(u, now, u->lg.size, &res) < 0 ||
		    px_journal_rewrite_finish(&u->lg, &res.size) < 0)
			res.ok = 0;
		w = write(p[1], &res, sizeof res);
		_exit(w == (ssize_t)sizeof res && res.ok ? 0 : 1);
	}
	close(p[1]);
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	u->cpid = pid;
	u->cfd = p[0];
	u->cupto = u->lg.size;
	u->fork_records = 0;
	u->fork_oldest = LLONG_MAX;
	return 0;
}

/* Has the child reported? Then reap it and put its rewrite in place.
 * 0 (also while it runs), or -1 when it failed. */
static int
compact_poll(struct px_usage *u)
{
	struct compact_res res;
	ssize_t r = read(u->cfd, &res, sizeof res);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;                       /* still running */
	while (waitpid(u->cpid, NULL, 0) < 0 && errno == EINTR)
		;
	close(u->cfd);
	u->cfd = -1;
	u->cpid = 0;
	if (r != (ssize_t)sizeof res || !res.ok) {
		set_err(u, "compaction", "the background rewrite failed");
		unlink(u->lg.tmp);
		return -1;
	}
	if (px_journal_swap(&u->lg, u->cupto, res.size) < 0) {
		set_err(u, "compaction", px_journal_error(&u->lg));
		return -1;
	}
	compact_done(u, &res, u->fork_records, u->fork_oldest);
	return 0;
}

/* see usage.h */
int
px_usage_compact(struct px_usage *u, long long now)
{
	struct compact_res res;

	if (!u->has_log)
		return 0;
	compact_stop(u);
	if (flush_write(u, now) < 0)
		return -1;
	u->next_compact = now + HOUR_MS;
	memset(&res, 0, sizeof res);
	if (compact_write(u, now, 0, &res) < 0)
		return -1;
	if (px_journal_rewrite_commit(&u->lg) < 0) {
		set_err(u, "compaction", px_journal_error(&u->lg));
		return -1;
	}
	compact_done(u, &res, 0, LLONG_MAX);
	return 0;
}

/* ------------------------------------------------------------ readers */

/* see usage.h */
void
px_usage_stats(const struct px_usage *u, struct px_usage_stats *st)
{
	*st = u->st;
	st->log_bytes = u->has_log && u->lg.fd >= 0 ? u->lg.size : 0;
	st->buffered = u->blen;
}

/* see usage.h */
const char *
px_usage_error(struct px_usage *u)
{
	const char *e;

	if (u->has_log && (e = px_journal_error(&u->lg)) != NULL &&
	    !u->has_err)
		set_err(u, "", e);
	if (!u->has_err)
		return NULL;
	u->has_err = 0;
	return u->errbuf;
}

static int
series_cmp(const void *x, const void *y)
{
	const struct series *a = *(struct series *const *)x;
	const struct series *b = *(struct series *const *)y;
	struct px_str sa = { a->name, a->n }, sb = { b->name, b->n };

	return pstr_cmp(sa, sb);
}

/* see usage.h */
int
px_usage_chart_json(struct px_usage *u, struct jw *w, int by, int hourly,
                    int n, long long now)
{
	struct series *list[PX_USAGE_SERIES_MAX + 1];
	long long end, head, span = hourly ? PX_USAGE_HOURS : PX_USAGE_DAYS;
	long long step = hourly ? HOUR_MS : DAY_MS;
	size_t base = hourly ? 0 : PX_USAGE_HOURS;
	struct dim *dm;
	int i, k, nl = 0, f;

	if ((by != PX_USAGE_BY_KEY && by != PX_USAGE_BY_MODEL) || n < 1 ||
	    n > span)
		return -1;
	dm = &u->dims[by];
	end = hourly ? hour_of(now) : px_usage_day_of(now);
	advance(u, hourly, end);
	head = hourly ? u->hh : u->dh;
	for (i = 0; i <= PX_USAGE_SERIES_MAX; i++) {
		struct series *s = &dm->s[i];
		long long x;
		if (!s->hours || (i < PX_USAGE_SERIES_MAX && i >= dm->count))
			continue;
		for (x = end - n + 1; x <= end; x++)
			if (x > head - span && x <= head &&
			    s->hours[base + ring(x, span)].req) {
				list[nl++] = s;
				break;
			}
	}
	/* names sorted, "(other)" (the last slot) stays last */
	if (nl > 1)
		qsort(list, (size_t)(nl - (list[nl - 1] ==
		    &dm->s[PX_USAGE_SERIES_MAX])), sizeof *list, series_cmp);
	jw_obj(w);
	jw_kcstr(w, "by", by == PX_USAGE_BY_KEY ? "key" : "model");
	jw_kcstr(w, "bucket", hourly ? "hour" : "day");
	jw_kint(w, "start", (end - n + 1) * step);
	jw_kint(w, "step_ms", step);
	jw_key(w, "series");
	jw_arr(w);
	for (k = 0; k < nl; k++) {
		static const char *const fields[] = { "requests", "errors",
		    "input_tokens", "output_tokens", "cost_usd" };
		struct series *s = list[k];
		jw_obj(w);
		jw_kstr(w, "name", s->name, s->n);
		for (f = 0; f < 5; f++) {
			long long x;
			jw_key(w, fields[f]);
			jw_arr(w);
			for (x = end - n + 1; x <= end; x++) {
				struct bucket z = { 0, 0, 0, 0, 0 }, *b = &z;
				if (x > head - span && x <= head)
					b = &s->hours[base + ring(x, span)];
				if (f == 4) {
					char c[32];
					jw_raw(w, c, (size_t)fmt_usd(c, sizeof c,
					    b->cost));
				} else
					jw_int(w, f == 0 ? b->req : f == 1 ?
					    b->err : f == 2 ? b->in : b->out);
			}
			jw_arr_end(w);
		}
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
	return 0;
}

/* ============================================================ report */

enum { BY_KEY, BY_MODEL, BY_PROVIDER, BY_DAY };
static const char *const by_name[] = { "key", "model", "provider", "day" };
static const char *const by_head[] = { "KEY", "MODEL", "PROVIDER", "DAY" };

struct report_ctx {
	int by;
	long long since;             /* first day counted */
	struct gmap g;
	unsigned long skipped;
};

static struct group *
report_group(struct report_ctx *rc, long long day, struct px_str key,
             struct px_str model, struct px_str prov)
{
	struct px_str e = { "", 0 };

	switch (rc->by) {
	case BY_KEY:
		return gmap_get(&rc->g, 0, key, e, e);
	case BY_MODEL:
		return gmap_get(&rc->g, 0, e, model, e);
	case BY_PROVIDER:
		return gmap_get(&rc->g, 0, e, e, prov);
	default:
		return gmap_get(&rc->g, day, e, e, e);
	}
}

static int
report_rec(void *ctx, int type, const char *body, size_t n, size_t rec_bytes)
{
	struct report_ctx *rc = ctx;
	const unsigned char *b = (const unsigned char *)body;
	struct group *g;

	(void)rec_bytes;
	if (type == PX_USAGE_REC_RAW) {
		struct px_usage_rec r;
		long long day;
		if (px_usage_decode(b, n, &r) < 0) {
			rc->skipped++;
			return 0;
		}
		day = px_usage_day_of(r.t_ms);
		if (day < rc->since)
			return 0;
		if (!(g = report_group(rc, day, r.key, r.model, r.provider)))
			return -1;
		group_add_raw(g, &r);
	} else if (type == PX_USAGE_REC_DAY) {
		struct px_usage_day d;
		if (px_usage_day_decode(b, n, &d) < 0) {
			rc->skipped++;
			return 0;
		}
		if (d.day < rc->since)
			return 0;
		if (!(g = report_group(rc, d.day, d.key, d.model, d.provider)))
			return -1;
		group_add_day(g, &d);
	}
	return 0;
}

static struct px_str
group_label(const struct group *g, int by, char *daybuf)
{
	struct px_str s;

	switch (by) {
	case BY_KEY:
		return g->key;
	case BY_MODEL:
		return g->model;
	case BY_PROVIDER:
		return g->provider;
	default:
		px_usage_day_str(g->day, daybuf);
		s.p = daybuf;
		s.n = strlen(daybuf);
		return s;
	}
}

static int report_by;           /* for the qsort comparator */

static int
row_cmp(const void *x, const void *y)
{
	const struct group *a = *(struct group *const *)x;
	const struct group *b = *(struct group *const *)y;
	char da[24], db[24];

	if (report_by == BY_DAY)
		return a->day < b->day ? -1 : a->day > b->day;
	if (a->cost != b->cost)
		return a->cost > b->cost ? -1 : 1;
	if (a->requests != b->requests)
		return a->requests > b->requests ? -1 : 1;
	return pstr_cmp(group_label(a, report_by, da),
	    group_label(b, report_by, db));
}

/* cost cell: "unknown" when no request of the row had a price */
static int
cost_text(const struct group *g, char *buf, size_t cap)
{
	if (g->requests > 0 && g->unpriced == g->requests)
		return snprintf(buf, cap, "unknown");
	return fmt_usd(buf, cap, g->cost);
}

#define NCOL 10

/* one table row as cells (malloc'd label) */
static void
row_cells(const struct group *g, struct px_str label, int total,
          char cells[NCOL][48], char **lab)
{
	const long long v[] = { g->requests, g->errors, g->input, g->output,
	    g->cache_read, g->cache_write, g->reasoning };
	size_t i, k = 0;
	char *l;

	if (total)
		label.p = "TOTAL", label.n = 5;
	else if (!label.n)
		label.p = "(none)", label.n = 6;
	/* never send control bytes (escape sequences) to a terminal */
	l = malloc(label.n + 1);
	if (l) {
		for (i = 0; i < label.n; i++) {
			unsigned char c = (unsigned char)label.p[i];
			l[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
		l[k] = 0;
	}
	*lab = l;
	for (i = 0; i < 7; i++)
		snprintf(cells[i + 1], 48, "%lld", v[i]);
	cost_text(g, cells[8], 48);
	snprintf(cells[9], 48, "%lld", g->unpriced);
}

/* display width: UTF-8 continuation bytes take no column */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void
pad(FILE *out, size_t n)
{
	while (n--)
		fputc(' ', out);
}

static void
print_table(FILE *out, struct group **rows, size_t nrows,
            const struct group *total, int by, const char *since)
{
	static const char *const head[NCOL] = { NULL, "REQUESTS", "ERRORS",
	    "INPUT", "OUTPUT", "CACHE_READ", "CACHE_WRITE", "REASONING",
	    "COST_USD", "UNPRICED" };
	size_t w[NCOL], i, c;
	char cells[NCOL][48], *lab;

	w[0] = strlen(by_head[by]);
	for (c = 1; c < NCOL; c++)
		w[c] = strlen(head[c]);
	for (i = 0; i <= nrows; i++) {
		char d[24];
		const struct group *g = i < nrows ? rows[i] : total;
		row_cells(g, i < nrows ? group_label(g, by, d) :
		    (struct px_str){ "", 0 }, i == nrows, cells, &lab);
		if (lab && width(lab) > w[0])
			w[0] = width(lab);
		free(lab);
		for (c = 1; c < NCOL; c++)
			if (strlen(cells[c]) > w[c])
				w[c] = strlen(cells[c]);
	}
	fprintf(out, "usage since %s (UTC), by %s\n", since, by_name[by]);
	fputs(by_head[by], out);
	pad(out, w[0] - strlen(by_head[by]));
	for (c = 1; c < NCOL; c++) {
		pad(out, 2 + w[c] - strlen(head[c]));
		fputs(head[c], out);
	}
	fputc('\n', out);
	for (i = 0; i <= nrows; i++) {
		char d[24];
		const struct group *g = i < nrows ? rows[i] : total;
		row_cells(g, i < nrows ? group_label(g, by, d) :
		    (struct px_str){ "", 0 }, i == nrows, cells, &lab);
		fputs(lab ? lab : "?", out);
		pad(out, w[0] - (lab ? width(lab) : 1));
		free(lab);
		for (c = 1; c < NCOL; c++) {
			pad(out, 2 + w[c] - strlen(cells[c]));
			fputs(cells[c], out);
		}
		fputc('\n', out);
	}
	if (total->unpriced)
		fprintf(out, "UNPRICED: requests without a known cost (no "
		    "price for the model, or no token counts); not in "
		    "COST_USD\n");
}

static void
json_sums(struct jw *w, const struct group *g)
{
	char c[32];

	jw_kint(w, "requests", g->requests);
	jw_kint(w, "errors", g->errors);
	jw_kint(w, "input_tokens", g->input);
	jw_kint(w, "output_tokens", g->output);
	jw_kint(w, "cache_read_tokens", g->cache_read);
	jw_kint(w, "cache_write_tokens", g->cache_write);
	jw_kint(w, "reasoning_tokens", g->reasoning);
	if (g->requests > 0 && g->unpriced == g->requests)
		jw_knull(w, "cost_usd");
	else
		jw_kraw(w, "cost_usd", c, (size_t)fmt_usd(c, sizeof c,
		    g->cost));
	jw_kint(w, "unpriced_requests", g->unpriced);
}

static int
print_json(FILE *out, struct group **rows, size_t nrows,
           const struct group *total, int by, const char *since)
{
	struct px_arena a;
	struct jw w;
	size_t i;
	int rc = 0;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	jw_obj(&w);
	jw_kcstr(&w, "since", since);
	jw_kcstr(&w, "by", by_name[by]);
	jw_key(&w, "rows");
	jw_arr(&w);
	for (i = 0; i < nrows; i++) {
		char d[24];
		struct px_str l = group_label(rows[i], by, d);
		jw_obj(&w);
		jw_kstr(&w, by_name[by], l.p, l.n);
		json_sums(&w, rows[i]);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_key(&w, "total");
	jw_obj(&w);
	json_sums(&w, total);
	jw_obj_end(&w);
	jw_obj_end(&w);
	if (w.err)
		rc = -1;
	else {
		fwrite(w.buf, 1, w.len, out);
		fputc('\n', out);
	}
	px_arena_free(&a);
	return rc;
}

/* RFC 4180 quoting; a leading = + - @ gets a ' so that a spreadsheet does
 * not run a model name a client sent as a formula */
static void
csv_field(FILE *out, struct px_str s)
{
	size_t i;
	int q = 0;

	for (i = 0; i < s.n; i++)
		if (s.p[i] == ',' || s.p[i] == '"' || s.p[i] == '\n' ||
		    s.p[i] == '\r')
			q = 1;
	if (q)
		fputc('"', out);
	if (s.n && strchr("=+-@\t\r", s.p[0]))
		fputc('\'', out);
	for (i = 0; i < s.n; i++) {
		if (s.p[i] == '"')
			fputc('"', out);
		fputc(s.p[i], out);
	}
	if (q)
		fputc('"', out);
}

static void
print_csv(FILE *out, struct group **rows, size_t nrows, int by)
{
	size_t i;

	fprintf(out, "%s,requests,errors,input_tokens,output_tokens,"
	    "cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd,"
	    "unpriced_requests\n", by_name[by]);
	for (i = 0; i < nrows; i++) {
		const struct group *g = rows[i];
		char d[24], c[32];
		csv_field(out, group_label(g, by, d));
		fprintf(out, ",%lld,%lld,%lld,%lld,%lld,%lld,%lld,", g->requests,
		    g->errors, g->input, g->output, g->cache_read,
		    g->cache_write, g->reasoning);
		if (cost_text(g, c, sizeof c) > 0 && c[0] != 'u')
			fputs(c, out);
		fprintf(out, ",%lld\n", g->unpriced);
	}
}

/* "Nd" (the last N days, today included) or "YYYY-MM-DD" */
static int
parse_since(const char *s, long long today, long long *day)
{
	size_t n = strlen(s);

	if (n >= 2 && n <= 6 && s[n - 1] == 'd' && digits(s, n - 1)) {
		long long k = atoll(s);
		if (k < 1 || k > 36500)
			return -1;
		*day = today - k + 1;
		return 0;
	}
	if (n == 10 && digits(s, 4) && s[4] == '-' && digits(s + 5, 2) &&
	    s[7] == '-' && digits(s + 8, 2)) {
		long long y = atoll(s);
		int m = atoi(s + 5), d = atoi(s + 8);
		long long first, next;
		if (m < 1 || m > 12)
			return -1;
		first = days_from_civil(y, m, 1);
		next = m == 12 ? days_from_civil(y + 1, 1, 1) :
		    days_from_civil(y, m + 1, 1);
		if (d < 1 || d > next - first)
			return -1;
		*day = first + d - 1;
		return 0;
	}
	return -1;
}

#define USAGE_LINE "usage: llmproxy usage [--since Nd|YYYY-MM-DD] " \
	"[--by key|model|provider|day] [--json|--csv]\n"

/* see usage.h */
int
px_usage_cmd(int argc, char **argv, const char *state_dir, long long now,
             FILE *out, FILE *err)
{
	struct report_ctx rc;
	struct px_journal_stats st;
	struct group total;
	long long today = px_usage_day_of(now);
	const char *since_arg = "30d", *by_arg = "key";
	char path[PX_STATE_DIR_MAX + 32], e[512], since[24];
	int i, fmt = 0, r, status = 0;       /* fmt 0 table, 1 json, 2 csv */
	size_t k;

	memset(&rc, 0, sizeof rc);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		size_t an = strcspn(a, "=");
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(USAGE_LINE, out);
			return 0;
		}
		if (!strcmp(a, "--json") || !strcmp(a, "--csv")) {
			if (fmt) {
				fprintf(err, "llmproxy usage: --json and --csv "
				    "exclude each other\n" USAGE_LINE);
				return 2;
			}
			fmt = a[2] == 'j' ? 1 : 2;
			continue;
		}
		if ((an == 7 && !strncmp(a, "--since", 7)) ||
		    (an == 4 && !strncmp(a, "--by", 4))) {
			if (a[an] == '=')
				v = a + an + 1;
			else if (i + 1 < argc)
				v = argv[++i];
			else {
				fprintf(err, "llmproxy usage: %s needs a value\n"
				    USAGE_LINE, a);
				return 2;
			}
			if (a[2] == 's')
				since_arg = v;
			else
				by_arg = v;
			continue;
		}
		fprintf(err, "llmproxy usage: unknown argument '%s'\n"
		    USAGE_LINE, a);
		return 2;
	}
	for (rc.by = 0; rc.by < 4 && strcmp(by_arg, by_name[rc.by]); rc.by++)
		;
	if (rc.by == 4) {
		fprintf(err, "llmproxy usage: --by takes key, model, provider "
		    "or day, not '%s'\n", by_arg);
		return 2;
	}
	if (parse_since(since_arg, today, &rc.since) < 0) {
		fprintf(err, "llmproxy usage: --since takes a number of days "
		    "(7d) or a date (YYYY-MM-DD), not '%s'\n", since_arg);
		return 2;
	}
	px_usage_day_str(rc.since, since);
	if ((size_t)snprintf(path, sizeof path, "%s/%s", state_dir,
	    PX_USAGE_FILE) >= sizeof path) {
		fprintf(err, "llmproxy usage: state directory path too long\n");
		return 1;
	}
	r = px_journal_read(path, PX_USAGE_MAGIC, PX_USAGE_REC_MAX, 0,
	    report_rec, &rc, &st, e, sizeof e);
	if (r < 0) {
		fprintf(err, "llmproxy usage: %s\n", e);
		gmap_free(&rc.g);
		return 1;
	}
	if (rc.g.full) {
		fprintf(err, "llmproxy usage: too many rows (more than %u)\n",
		    (unsigned)PX_USAGE_ROLLUP_MAX);
		gmap_free(&rc.g);
		return 1;
	}
	if (r == 1)
		fprintf(err, "llmproxy usage: no usage records yet (%s does "
		    "not exist)\n", path);
	else if (st.dropped)
		fprintf(err, "llmproxy usage: the last %zu byte(s) of %s are "
		    "not a complete record (being written?); not counted\n",
		    st.dropped, path);
	if (rc.skipped)
		fprintf(err, "llmproxy usage: %lu record(s) could not be read "
		    "and are not counted\n", rc.skipped);
	memset(&total, 0, sizeof total);
	for (k = 0; k < rc.g.n; k++) {
		struct group *g = rc.g.g[k];
		total.requests = sat_add(total.requests, g->requests);
		total.errors = sat_add(total.errors, g->errors);
		total.unpriced = sat_add(total.unpriced, g->unpriced);
		total.input = sat_add(total.input, g->input);
		total.output = sat_add(total.output, g->output);
		total.cache_read = sat_add(total.cache_read, g->cache_read);
		total.cache_write = sat_add(total.cache_write, g->cache_write);
		total.reasoning = sat_add(total.reasoning, g->reasoning);
		total.cost = sat_add(total.cost, g->cost);
	}
	report_by = rc.by;
	if (rc.g.n)
		qsort(rc.g.g, rc.g.n, sizeof *rc.g.g, row_cmp);
	if (fmt == 1)
		status = print_json(out, rc.g.g, rc.g.n, &total, rc.by, since) <
		    0 ? 1 : 0;
	else if (fmt == 2)
		print_csv(out, rc.g.g, rc.g.n, rc.by);
	else
		print_table(out, rc.g.g, rc.g.n, &total, rc.by, since);
	gmap_free(&rc.g);
	if (fflush(out) != 0 || ferror(out)) {
		fprintf(err, "llmproxy usage: write error: %s\n",
		    strerror(errno));
		status = 1;
	}
	return status;
}
