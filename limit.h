/*
 * limit.h - per-key admission: requests per minute, tokens per minute,
 * requests in flight and a spend budget per day or month.
 *
 * I/O-free: the caller passes the time in (unix milliseconds, wall clock)
 * and the spend figure through a callback; nothing here reads a clock, a
 * file or a socket. Not thread-safe: one table per event loop.
 *
 * Per request:
 *
 *	struct lim_hold h;        (kept in the connection)
 *	struct lim_result r;
 *	struct lim_req q = { est_tokens, spent_fn, spent_ctx };
 *
 *	if (lim_admit(t, key, now_ms, &q, &h, &r) != LIM_OK)
 *		answer 429 with lim_headers(&r, style, ...) and lim_message();
 *	... forward; the answer's usage becomes known ...
 *	lim_settle(t, &h, input + output tokens, now_ms);
 *	... the request is over (success, error or client gone) ...
 *	lim_release(t, &h, now_ms);
 *
 * lim_release() without lim_settle() leaves the estimate charged (the
 * usage never came: a cut stream, an upstream error without usage).
 *
 * State lives in a bounded table keyed by the key's name, so it survives a
 * reload of the keys (same name, same buckets; a rotated key keeps its
 * state) and the limits in force are always those of the auth_key passed to
 * lim_admit(). A slot is reused only when it holds nothing: no request in
 * flight and both buckets full, i.e. exactly the state of a new slot.
 */
#ifndef PX_LIMIT_H
#define PX_LIMIT_H

#include <stddef.h>
#include "auth.h"

#ifndef LIM_SLOTS
#define LIM_SLOTS 4096                /* keys with limit state; keep it above
                                         the number of keys */
#endif
#ifndef LIM_RATE_MAX
#define LIM_RATE_MAX 1000000000000LL  /* largest rpm/tpm/parallel accepted */
#endif
#ifndef LIM_DEBT_MINUTES
#define LIM_DEBT_MINUTES 10           /* a token bucket goes at most this
                                         many minutes of refill below zero */
#endif

enum lim_which {
	LIM_OK = 0,
	LIM_RPM,          /* requests per minute */
	LIM_TPM,          /* tokens per minute */
	LIM_PARALLEL,     /* requests in flight */
	LIM_BUDGET,       /* spend budget for the day or month */
	LIM_FULL          /* no free slot in the table (LIM_SLOTS too small) */
};

/*
 * Spend of key `name` (USD) from unix second `since` (the start of the
 * budget period, UTC) until now: the usage module's figure. Called only for
 * keys with a budget, once per admission.
 */
typedef double (*lim_spent_fn)(void *ctx, const char *name, long long since);

struct lim_req {
	long long est_tokens;     /* tokens held while the request runs (input
	                             estimate + max output); <= 0 holds none */
	lim_spent_fn spent;       /* NULL: spend 0 */
	void *spent_ctx;
};

/*
 * A request's claim, filled by lim_admit() and kept by the caller until
 * lim_release(). Zero-initialised (or after release) it is empty: settle
 * and release do nothing.
 */
struct lim_hold {
	int slot;                 /* slot index + 1; 0 = nothing held */
	unsigned gen;             /* slot generation, against stale holds */
	long long est;            /* tokens held by the request */
	int settled;              /* lim_settle() done */
};

/*
 * The outcome of an admission and the numbers for the rate-limit headers.
 * A *_limit of 0 means the key has no such limit (no header for it).
 */
struct lim_result {
	enum lim_which refused;   /* LIM_OK when admitted */
	long long retry_after;    /* seconds (>= 1) when refused, else 0 */
	long long req_limit;      /* rpm */
	long long req_remaining;  /* requests left in the bucket now */
	long long req_reset_ms;   /* until the request bucket is full */
	long long tok_limit;      /* tpm */
	long long tok_remaining;  /* tokens left (held estimates deducted) */
	long long tok_reset_ms;   /* until the token bucket is full */
	long long parallel_limit;
	long long inflight;       /* requests in flight for the key, with this
	                             one when admitted */
	double budget_usd;        /* 0 = no budget */
	double spent_usd;         /* in the current period */
	enum auth_period budget_per;
	long long budget_reset;   /* unix seconds: start of the next period */
};

struct lim_table;

/* A new, empty table of LIM_SLOTS slots; NULL when out of memory. */
struct lim_table *lim_new(void);
void lim_free(struct lim_table *t);

/*
 * Admit one request of key k at now_ms. Checks the budget, then (all or
 * nothing) requests in flight, the request bucket and the token bucket; on
 * success takes one request, holds q->est_tokens tokens and counts the
 * request in flight, and fills *h. A token estimate larger than the tpm
 * needs only a full bucket (it could never pass otherwise) and leaves the
 * bucket in debt. On refusal nothing is taken, *h is empty, r->refused
 * names the limit that keeps the key waiting longest and r->retry_after is
 * when a retry would pass (for the budget: the start of the next period;
 * for parallel requests: 1 s, the soonest anyone can tell).
 * A key with no limits at all is admitted without touching the table.
 * k, q and r are borrowed for the call; t, h and r MUST NOT be NULL.
 * Returns r->refused.
 */
enum lim_which lim_admit(struct lim_table *t, const struct auth_key *k,
                         long long now_ms, const struct lim_req *q,
                         struct lim_hold *h, struct lim_result *r);

/*
 * The request's real token count is known: give back the held estimate and
 * charge `actual` instead (more or less than the estimate; the bucket may
 * go into debt, at most LIM_DEBT_MINUTES of refill). Once per hold; later
 * calls, and calls on an empty hold, do nothing. actual < 0 keeps the
 * estimate charged.
 */
void lim_settle(struct lim_table *t, struct lim_hold *h, long long actual,
                long long now_ms);

/* The request is over: it no longer counts in flight. Empties *h. An
 * unsettled estimate stays charged. Safe to call twice. */
void lim_release(struct lim_table *t, struct lim_hold *h, long long now_ms);

/*
 * The current numbers for key k (no request taken), for the admin page and
 * for rate-limit headers on answers that were not refused. r->refused is
 * LIM_OK; the budget fields are filled when q (the spend callback) is given.
 */
void lim_peek(struct lim_table *t, const struct auth_key *k, long long now_ms,
              const struct lim_req *q, struct lim_result *r);

/*
 * The tokens to hold for a request before its usage is known: its input
 * estimated at 4 bytes of body per token (rounded up; JSON syntax makes
 * this generous, which is the safe side), plus the output it may produce:
 * its max_tokens (max_output_tokens, maxOutputTokens), or the configured
 * default when it gives none. Negative max_output counts as 0.
 */
long long lim_estimate(size_t body_bytes, long long max_output);

/* Styles of rate-limit headers. */
enum lim_style {
	LIM_HDR_NONE = 0,         /* Retry-After only (Gemini clients) */
	LIM_HDR_OPENAI,           /* x-ratelimit-{limit,remaining,reset}-
	                             {requests,tokens}; reset as "1s", "6m0s" */
	LIM_HDR_ANTHROPIC         /* anthropic-ratelimit-{requests,tokens}-
	                             {limit,remaining,reset}; reset RFC 3339 */
};

/*
 * Write the header lines for r ("Name: value\r\n" each) into buf[cap]:
 * Retry-After when refused, then the style's rate-limit headers for the
 * limits the key has. now_ms dates the Anthropic reset times. Returns the
 * length written (NUL-terminated), or 0 with buf[0] = 0 when it does not
 * fit (256 bytes always do).
 */
size_t lim_headers(const struct lim_result *r, enum lim_style style,
                   long long now_ms, char *buf, size_t cap);

/*
 * The refusal as one sentence for the client's error body, e.g.
 *   rate limit: key "ci" may send 60 requests per minute; retry in 2 s
 *   budget exhausted: key "ci" spent $10.02 of its $10.00 daily budget;
 *   it resets at 2025-06-02T00:00:00Z
 * Returns the length (snprintf-style: truncated to cap - 1).
 */
size_t lim_message(const struct lim_result *r, const char *name, char *buf,
                   size_t cap);

/* "rpm", "tpm", "parallel", "budget", "full" ("" for LIM_OK): the `limit`
 * label of the rejection metric. */
const char *lim_which_name(enum lim_which w);

/*
 * Budget periods, UTC. lim_period_start(): the start of the period holding
 * now (unix seconds); lim_period_end(): the start of the next one. For
 * AUTH_PER_NONE both return 0.
 */
long long lim_period_start(enum auth_period p, long long now);
long long lim_period_end(enum auth_period p, long long now);

/* Civil dates (proleptic Gregorian, UTC) <-> days since 1970-01-01. */
long long lim_days_from_civil(long long y, unsigned m, unsigned d);
void lim_civil_from_days(long long z, long long *y, unsigned *m, unsigned *d);

/* "2025-06-02T00:00:00Z" for unix second t (21 bytes with the NUL). */
void lim_fmt_time(long long t, char out[32]);

#endif
