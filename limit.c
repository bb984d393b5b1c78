/*
 * limit.c - per-key token buckets, requests in flight and budgets.
 *
 * A bucket's level is kept in integer units of 1/60000 of a request (or a
 * token): a limit of N per minute then refills exactly N units per
 * millisecond, and a full bucket is N * 60000 units. No floating point, no
 * rounding drift, and a refill over dt milliseconds is one multiplication
 * (dt is capped at 1 + LIM_DEBT_MINUTES minutes, which fills any bucket
 * from its deepest debt, so it cannot overflow: LIM_RATE_MAX * 60000 *
 * (1 + LIM_DEBT_MINUTES) < 2^63).
 *
 * Tokens are charged twice: at admission the request's estimate is taken
 * from the bucket (the bucket may go below zero when an estimate exceeds
 * what is left of a full bucket, so a request larger than the tpm is not
 * refused forever), and when the answer's usage is known the estimate is
 * given back and the real count taken (lim_settle). The debt is capped at
 * LIM_DEBT_MINUTES of refill so one runaway answer cannot lock a key out
 * for hours.
 *
 * The table is open addressing keyed by the key's name, and slots are never
 * emptied, only reused in place: probe chains stay intact without
 * tombstones. A slot is reused for another name only when it is
 * indistinguishable from a fresh one (nothing in flight, buckets full), so
 * reuse loses no state. Wall-clock steps backwards only pause the refill.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"

#define U 60000LL                 /* units per request or token (ms/min) */

struct slot {
	char name[AUTH_NAME_MAX];     /* "" = never used */
	unsigned gen;
	long long rpm, tpm;           /* rates the buckets run at; 0 = none */
	long long req, tok;           /* levels in units */
	long long last_ms;            /* time of the last refill */
	long long inflight;
};

struct lim_table {
	struct slot s[LIM_SLOTS];
};

/* see limit.h */
struct lim_table *
lim_new(void)
{
	return calloc(1, sizeof(struct lim_table));
}

/* see limit.h */
void
lim_free(struct lim_table *t)
{
	free(t);
}

static unsigned
hash_name(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static long long
clampll(long long v, long long lo, long long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static long long
ceil_div(long long a, long long b)
{
	return a <= 0 ? 0 : (a + b - 1) / b;
}

/* Refill both buckets up to now at the rates they ran at. */
static void
refill(struct slot *s, long long now)
{
	long long dt = now - s->last_ms;

	if (dt < 0)
		dt = 0;
	if (dt > U * (1 + LIM_DEBT_MINUTES))
		dt = U * (1 + LIM_DEBT_MINUTES);
	s->last_ms = now;
	if (s->rpm > 0 && dt > 0)
		s->req = s->req + dt * s->rpm > s->rpm * U ? s->rpm * U :
		    s->req + dt * s->rpm;
	if (s->tpm > 0 && dt > 0)
		s->tok = s->tok + dt * s->tpm > s->tpm * U ? s->tpm * U :
		    s->tok + dt * s->tpm;
}

/* Bring the slot's rates to the key's: a new bucket starts full, a changed
 * one keeps its level within the new size. */
static void
apply(struct slot *s, const struct auth_key *k)
{
	long long rpm = clampll(k->lim.rpm, 0, LIM_RATE_MAX);
	long long tpm = clampll(k->lim.tpm, 0, LIM_RATE_MAX);

	if (rpm != s->rpm) {
		if (s->rpm == 0 || s->req > rpm * U)
			s->req = rpm * U;
		s->rpm = rpm;
	}
	if (tpm != s->tpm) {
		if (s->tpm == 0 || s->tok > tpm * U)
			s->tok = tpm * U;
		s->tpm = tpm;
	}
}

static int
idle(struct slot *s, long long now)
{
	refill(s, now);
	return s->inflight == 0 && (s->rpm == 0 || s->req >= s->rpm * U) &&
	    (s->tpm == 0 || s->tok >= s->tpm * U);
}

/* The slot for name; with add, a new or reused one. NULL when absent (or
 * the table is full of busy slots). */
static struct slot *
find(struct lim_table *t, const char *name, long long now, int add)
{
	unsigned i, h = hash_name(name) % LIM_SLOTS;
	struct slot *s, *victim = NULL;
	size_t n;

	for (i = 0; i < LIM_SLOTS; i++) {
		s = &t->s[(h + i) % LIM_SLOTS];
		if (s->name[0] == 0) {
			victim = s;
			break;
		}
		if (strcmp(s->name, name) == 0)
			return s;
		if (add && victim == NULL && idle(s, now))
			victim = s;
	}
	if (!add || victim == NULL)
		return NULL;
	n = strlen(name);
	if (n >= sizeof victim->name)
		n = sizeof victim->name - 1;
	memcpy(victim->name, name, n);
	victim->name[n] = 0;
	victim->gen++;
	victim->rpm = victim->tpm = 0;
	victim->req = victim->tok = 0;
	victim->inflight = 0;
	victim->last_ms = now;
	return victim;
}

static int
needs_slot(const struct auth_key *k)
{
	return k->lim.rpm > 0 || k->lim.tpm > 0 || k->lim.parallel > 0;
}

/* Header numbers from the slot (or a fresh one when s is NULL). */
static void
numbers(const struct slot *s, const struct auth_key *k, struct lim_result *r)
{
	long long c;

	r->req_limit = clampll(k->lim.rpm, 0, LIM_RATE_MAX);
	r->tok_limit = clampll(k->lim.tpm, 0, LIM_RATE_MAX);
	r->parallel_limit = clampll(k->lim.parallel, 0, LIM_RATE_MAX);
	r->req_remaining = r->req_limit;
	r->tok_remaining = r->tok_limit;
	r->req_reset_ms = r->tok_reset_ms = 0;
	r->inflight = s ? s->inflight : 0;
	if (s == NULL)
		return;
	if (s->rpm > 0) {
		c = s->rpm * U;
		r->req_remaining = s->req > 0 ? s->req / U : 0;
		r->req_reset_ms = ceil_div(c - s->req, s->rpm);
	}
	if (s->tpm > 0) {
		c = s->tpm * U;
		r->tok_remaining = s->tok > 0 ? s->tok / U : 0;
		r->tok_reset_ms = ceil_div(c - s->tok, s->tpm);
	}
}

static void
budget(const struct auth_key *k, long long now_ms, const struct lim_req *q,
    struct lim_result *r)
{
	long long now = now_ms >= 0 ? now_ms / 1000 : -((-now_ms + 999) / 1000);

	if (!(k->lim.budget_usd > 0) || k->lim.budget_per == AUTH_PER_NONE)
		return;
	r->budget_usd = k->lim.budget_usd;
	r->budget_per = k->lim.budget_per;
	r->budget_reset = lim_period_end(k->lim.budget_per, now);
	if (q != NULL && q->spent != NULL)
		r->spent_usd = q->spent(q->spent_ctx, k->name,
		    lim_period_start(k->lim.budget_per, now));
}

/* see limit.h */
enum lim_which
lim_admit(struct lim_table *t, const struct auth_key *k, long long now_ms,
    const struct lim_req *q, struct lim_hold *h, struct lim_result *r)
{
	struct slot *s;
	enum lim_which which = LIM_OK;
	long long wait = 0, w, est, need;

	memset(h, 0, sizeof *h);
	memset(r, 0, sizeof *r);
	numbers(NULL, k, r);
	budget(k, now_ms, q, r);
	if (r->budget_usd > 0 && r->spent_usd >= r->budget_usd) {
		r->refused = LIM_BUDGET;
		r->retry_after = ceil_div(r->budget_reset * 1000 - now_ms, 1000);
		if (r->retry_after < 1)
			r->retry_after = 1;
		return r->refused;
	}
	if (!needs_slot(k))
		return LIM_OK;
	if ((s = find(t, k->name, now_ms, 1)) == NULL) {
		r->refused = LIM_FULL;
		r->retry_after = 1;
		return r->refused;
	}
	refill(s, now_ms);
	apply(s, k);
	est = clampll(q ? q->est_tokens : 0, 0, LIM_RATE_MAX);

	/* every limit is checked; the longest wait is the one reported */
	if (k->lim.parallel > 0 && s->inflight >= k->lim.parallel) {
		which = LIM_PARALLEL;
		wait = 1000;
	}
	if (s->rpm > 0 && s->req < U) {
		w = ceil_div(U - s->req, s->rpm);
		if (w > wait || which == LIM_OK) {
			which = LIM_RPM;
			wait = w;
		}
	}
	if (s->tpm > 0) {
		need = (est < s->tpm ? est : s->tpm) * U;
		if (s->tok < need) {
			w = ceil_div(need - s->tok, s->tpm);
			if (w > wait || which == LIM_OK) {
				which = LIM_TPM;
				wait = w;
			}
		}
	}
	if (which != LIM_OK) {
		numbers(s, k, r);
		r->refused = which;
		r->retry_after = ceil_div(wait, 1000);
		if (r->retry_after < 1)
			r->retry_after = 1;
		return which;
	}

	if (s->rpm > 0)
		s->req -= U;
	if (s->tpm > 0) {
		s->tok -= est * U;
		if (s->tok < -LIM_DEBT_MINUTES * s->tpm * U)
			s->tok = -LIM_DEBT_MINUTES * s->tpm * U;
	}
	s->inflight++;
	h->slot = (int)(s - t->s) + 1;
	h->gen = s->gen;
	h->est = s->tpm > 0 ? est : 0;
	numbers(s, k, r);
	return LIM_OK;
}

static struct slot *
held(struct lim_table *t, const struct lim_hold *h)
{
	struct slot *s;

	if (h->slot <= 0 || h->slot > LIM_SLOTS)
		return NULL;
	s = &t->s[h->slot - 1];
	return s->gen == h->gen ? s : NULL;
}

/* see limit.h */
void
lim_settle(struct lim_table *t, struct lim_hold *h, long long actual,
    long long now_ms)
{
	struct slot *s;
	long long c;

	if ((s = held(t, h)) == NULL || h->settled)
		return;
	h->settled = 1;
	if (actual < 0 || s->tpm == 0)
		return;
	actual = clampll(actual, 0, LIM_RATE_MAX);
	refill(s, now_ms);
	c = s->tpm * U;
	s->tok = clampll(s->tok + (h->est - actual) * U,
	    -LIM_DEBT_MINUTES * c, c);
	h->est = 0;
}

/* see limit.h */
void
lim_release(struct lim_table *t, struct lim_hold *h, long long now_ms)
{
	struct slot *s;

	(void)now_ms;             /* in the contract for symmetry; unused */
	if ((s = held(t, h)) != NULL && s->inflight > 0)
		s->inflight--;
	memset(h, 0, sizeof *h);
}

/* see limit.h */
void
lim_peek(struct lim_table *t, const struct auth_key *k, long long now_ms,
    const struct lim_req *q, struct lim_result *r)
{
	struct slot *s = NULL;

	memset(r, 0, sizeof *r);
	if (needs_slot(k) && (s = find(t, k->name, now_ms, 0)) != NULL) {
		refill(s, now_ms);
		apply(s, k);
	}
	numbers(s, k, r);
	budget(k, now_ms, q, r);
}

/* see limit.h */
long long
lim_estimate(size_t body_bytes, long long max_output)
{
	long long in = (long long)(body_bytes / 4 + (body_bytes % 4 != 0));

	if (max_output < 0)
		max_output = 0;
	return clampll(in + clampll(max_output, 0, LIM_RATE_MAX), 0,
	    LIM_RATE_MAX);
}

/* ------------------------------------------------------------ headers */

/* Go-style duration as OpenAI sends it: "250ms", "1s", "6m0s", "1h0m0s";
 * whole seconds rounded up from one second on. */
static void
fmt_dur(long long ms, char *b, size_t cap)
{
	long long s;

	if (ms <= 0) {
		snprintf(b, cap, "0s");
		return;
	}
	if (ms < 1000) {
		snprintf(b, cap, "%lldms", ms);
		return;
	}
	s = ceil_div(ms, 1000);
	if (s >= 3600)
		snprintf(b, cap, "%lldh%lldm%llds", s / 3600, s % 3600 / 60,
		    s % 60);
	else if (s >= 60)
		snprintf(b, cap, "%lldm%llds", s / 60, s % 60);
	else
		snprintf(b, cap, "%llds", s);
}

struct out {
	char *p;
	size_t len, cap;
	int err;
};

static void
put(struct out *o, const char *name, const char *val)
{
	int n;

	if (o->err)
		return;
	n = snprintf(o->p + o->len, o->cap - o->len, "%s: %s\r\n", name, val);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->err = 1;
	else
		o->len += (size_t)n;
}

static void
putll(struct out *o, const char *name, long long v)
{
	char b[24];

	snprintf(b, sizeof b, "%lld", v);
	put(o, name, b);
}

static void
put_reset(struct out *o, enum lim_style st, const char *name, long long ms,
    long long now_ms)
{
	char b[32];

	if (st == LIM_HDR_OPENAI)
		fmt_dur(ms, b, sizeof b);
	else
		lim_fmt_time(ceil_div(now_ms + ms, 1000), b);
	put(o, name, b);
}

/* see limit.h */
size_t
lim_headers(const struct lim_result *r, enum lim_style st, long long now_ms,
    char *buf, size_t cap)
{
	struct out o = { buf, 0, cap, cap == 0 };
	int oa = st == LIM_HDR_OPENAI;

	if (r->refused != LIM_OK)
		putll(&o, "Retry-After", r->retry_after);
	if (st != LIM_HDR_NONE && r->req_limit > 0) {
		putll(&o, oa ? "x-ratelimit-limit-requests" :
		    "anthropic-ratelimit-requests-limit", r->req_limit);
		putll(&o, oa ? "x-ratelimit-remaining-requests" :
		    "anthropic-ratelimit-requests-remaining", r->req_remaining);
		put_reset(&o, st, oa ? "x-ratelimit-reset-requests" :
		    "anthropic-ratelimit-requests-reset", r->req_reset_ms,
		    now_ms);
	}
	if (st != LIM_HDR_NONE && r->tok_limit > 0) {
		putll(&o, oa ? "x-ratelimit-limit-tokens" :
		    "anthropic-ratelimit-tokens-limit", r->tok_limit);
		putll(&o, oa ? "x-ratelimit-remaining-tokens" :
		    "anthropic-ratelimit-tokens-remaining", r->tok_remaining);
		put_reset(&o, st, oa ? "x-ratelimit-reset-tokens" :
		    "anthropic-ratelimit-tokens-reset", r->tok_reset_ms,
		    now_ms);
	}
	if (o.err) {
		if (cap)
			buf[0] = 0;
		return 0;
	}
	if (cap)
		buf[o.len] = 0;
	return o.len;
}

/* see limit.h */
size_t
lim_message(const struct lim_result *r, const char *name, char *buf,
    size_t cap)
{
	char t[32];
	int n;

	switch (r->refused) {
	case LIM_RPM:
		n = snprintf(buf, cap, "rate limit: key \"%s\" may send %lld "
		    "requests per minute; retry in %lld s", name, r->req_limit,
		    r->retry_after);
		break;
	case LIM_TPM:
		n = snprintf(buf, cap, "rate limit: key \"%s\" may use %lld "
		    "tokens per minute; retry in %lld s", name, r->tok_limit,
		    r->retry_after);
		break;
	case LIM_PARALLEL:
		n = snprintf(buf, cap, "rate limit: key \"%s\" may have %lld "
		    "requests in flight; retry in %lld s", name,
		    r->parallel_limit, r->retry_after);
		break;
	case LIM_BUDGET:
		lim_fmt_time(r->budget_reset, t);
		n = snprintf(buf, cap, "budget exhausted: key \"%s\" spent "
		    "$%.2f of its $%.2f %s budget; it resets at %s", name,
		    r->spent_usd, r->budget_usd,
		    r->budget_per == AUTH_PER_DAY ? "daily" : "monthly", t);
		break;
	case LIM_FULL:
		n = snprintf(buf, cap, "rate limit: too many keys to track; "
		    "retry in %lld s", r->retry_after);
		break;
	default:
		n = snprintf(buf, cap, "ok");
		break;
	}
	if (n < 0)
		n = 0;
	if (cap == 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* see limit.h */
const char *
lim_which_name(enum lim_which w)
{
	switch (w) {
	case LIM_RPM: return "rpm";
	case LIM_TPM: return "tpm";
	case LIM_PARALLEL: return "parallel";
	case LIM_BUDGET: return "budget";
	case LIM_FULL: return "full";
	default: return "";
	}
}

/* ------------------------------------------------------------ dates */

/* see limit.h (H. Hinnant's days_from_civil) */
long long
lim_days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? (long long)m - 3 : (long long)m + 9) + 2) / 5 +
	    (long long)d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* see limit.h */
void
lim_civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
	long long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static long long
floor_div(long long a, long long b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* see limit.h */
long long
lim_period_start(enum auth_period p, long long now)
{
	long long day = floor_div(now, 86400), y;
	unsigned m, d;

	switch (p) {
	case AUTH_PER_DAY:
		return day * 86400;
	case AUTH_PER_MONTH:
		lim_civil_from_days(day, &y, &m, &d);
		return lim_days_from_civil(y, m, 1) * 86400;
	default:
		return 0;
	}
}

/* see limit.h */
long long
lim_period_end(enum auth_period p, long long now)
{
	long long day = floor_div(now, 86400), y;
	unsigned m, d;

	switch (p) {
	case AUTH_PER_DAY:
		return (day + 1) * 86400;
	case AUTH_PER_MONTH:
		lim_civil_from_days(day, &y, &m, &d);
		if (m == 12)
			return lim_days_from_civil(y + 1, 1, 1) * 86400;
		return lim_days_from_civil(y, m + 1, 1) * 86400;
	default:
		return 0;
	}
}

/* see limit.h */
void
lim_fmt_time(long long t, char out[32])
{
	long long day = floor_div(t, 86400), y;
	unsigned m, d, sec = (unsigned)(t - day * 86400);
	char b[96];
	size_t n;

	lim_civil_from_days(day, &y, &m, &d);
	snprintf(b, sizeof b, "%04lld-%02u-%02uT%02u:%02u:%02uZ", y, m, d,
	    sec / 3600, sec % 3600 / 60, sec % 60);
	/* 20 bytes for years 0..9999; absurd years are cut, not overrun */
	n = strlen(b);
	if (n > 31)
		n = 31;
	memcpy(out, b, n);
	out[n] = 0;
}
