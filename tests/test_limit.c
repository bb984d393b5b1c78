/*
 * test_limit.c - the per-key limits with a fake clock: bucket refill
 * arithmetic, bursts, estimates held then settled over and under,
 * requests in flight, budgets across day and month boundaries, Retry-After
 * values, the rate-limit headers and messages, state across a reload of the
 * keys, and the bounded table.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"

#define T0 1748736000000LL        /* 2025-06-01T00:00:00Z in ms */

static struct lim_table *t;

static void
setup(void)
{
	t = lim_new();
	ck_assert_ptr_nonnull(t);
}

static void
teardown(void)
{
	lim_free(t);
}

static struct auth_key
mk(const char *name, long long rpm, long long tpm, long long par)
{
	struct auth_key k;

	auth_key_plain(&k, name, "secret", 6);
	k.lim.rpm = rpm;
	k.lim.tpm = tpm;
	k.lim.parallel = par;
	return k;
}

static enum lim_which
admit(const struct auth_key *k, long long now, long long est,
    struct lim_hold *h, struct lim_result *r)
{
	struct lim_req q;

	memset(&q, 0, sizeof q);
	q.est_tokens = est;
	return lim_admit(t, k, now, &q, h, r);
}

/* Admit and release at once (requests that do not overlap). */
static enum lim_which
once(const struct auth_key *k, long long now, struct lim_result *r)
{
	struct lim_hold h;
	enum lim_which w = admit(k, now, 0, &h, r);

	lim_release(t, &h, now);
	return w;
}

START_TEST(t_rpm_refill)
{
	struct auth_key k = mk("a", 60, 0, 0);
	struct lim_result r;
	int i;

	/* a full bucket: 60 at once */
	for (i = 0; i < 60; i++) {
		ck_assert_int_eq(once(&k, T0, &r), LIM_OK);
		ck_assert_int_eq(r.req_remaining, 59 - i);
	}
	ck_assert_int_eq(r.req_limit, 60);
	ck_assert_int_eq(r.req_reset_ms, 60000);
	ck_assert_int_eq(once(&k, T0, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 1);
	ck_assert_int_eq(r.req_remaining, 0);
	/* one request per second comes back: 999 ms is not enough */
	ck_assert_int_eq(once(&k, T0 + 999, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 1);
	ck_assert_int_eq(once(&k, T0 + 1000, &r), LIM_OK);
	ck_assert_int_eq(r.req_remaining, 0);
	ck_assert_int_eq(once(&k, T0 + 1000, &r), LIM_RPM);
	/* 10.5 s later: 10 requests, not 11 */
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(once(&k, T0 + 11500, &r), LIM_OK);
	ck_assert_int_eq(once(&k, T0 + 11500, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 1);   /* 500 ms, rounded up */
}
END_TEST

START_TEST(t_rpm_slow)
{
	struct auth_key k1 = mk("one", 1, 0, 0), k7 = mk("seven", 7, 0, 0);
	struct lim_result r;
	int i;

	ck_assert_int_eq(once(&k1, T0, &r), LIM_OK);
	ck_assert_int_eq(once(&k1, T0, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 60);
	ck_assert_int_eq(once(&k1, T0 + 30000, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 30);
	ck_assert_int_eq(once(&k1, T0 + 59001, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 1);
	ck_assert_int_eq(once(&k1, T0 + 60000, &r), LIM_OK);

	/* 7 per minute: one every 8571.43 ms, waits rounded up */
	for (i = 0; i < 7; i++)
		ck_assert_int_eq(once(&k7, T0, &r), LIM_OK);
	ck_assert_int_eq(once(&k7, T0, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 9);
	ck_assert_int_eq(once(&k7, T0 + 8571, &r), LIM_RPM);
	ck_assert_int_eq(once(&k7, T0 + 8572, &r), LIM_OK);
	/* the 4 units (1/15000 of a request) left over are kept, not
	 * rounded away: 51428 ms later exactly 6 more pass */
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(once(&k7, T0 + 8572 + 51428, &r), LIM_OK);
	ck_assert_int_eq(once(&k7, T0 + 8572 + 51428, &r), LIM_RPM);
}
END_TEST

START_TEST(t_burst_capped)
{
	struct auth_key k = mk("b", 10, 0, 0);
	struct lim_result r;
	int i;

	for (i = 0; i < 10; i++)
		ck_assert_int_eq(once(&k, T0, &r), LIM_OK);
	ck_assert_int_eq(once(&k, T0, &r), LIM_RPM);
	/* an hour idle fills the bucket, no more */
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(once(&k, T0 + 3600000, &r), LIM_OK);
	ck_assert_int_eq(once(&k, T0 + 3600000, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 6);
}
END_TEST

START_TEST(t_tokens_settle_under)
{
	struct auth_key k = mk("tok", 0, 1000, 0);
	struct lim_hold h1, h2;
	struct lim_result r;

	ck_assert_int_eq(admit(&k, T0, 600, &h1, &r), LIM_OK);
	ck_assert_int_eq(r.tok_limit, 1000);
	ck_assert_int_eq(r.tok_remaining, 400);
	ck_assert_int_eq(r.tok_reset_ms, 36000);
	ck_assert_int_eq(r.req_limit, 0);
	/* the estimate is held: 600 more do not fit (200 missing = 12 s) */
	ck_assert_int_eq(admit(&k, T0, 600, &h2, &r), LIM_TPM);
	ck_assert_int_eq(r.retry_after, 12);
	ck_assert_int_eq(r.tok_remaining, 400);
	ck_assert_int_eq(h2.slot, 0);
	/* the answer used 100: 500 come back */
	lim_settle(t, &h1, 100, T0);
	ck_assert_int_eq(admit(&k, T0, 600, &h2, &r), LIM_OK);
	ck_assert_int_eq(r.tok_remaining, 300);
	/* settling twice changes nothing */
	lim_settle(t, &h1, 0, T0);
	lim_peek(t, &k, T0, NULL, &r);
	ck_assert_int_eq(r.tok_remaining, 300);
	lim_release(t, &h1, T0);
	lim_release(t, &h2, T0);
	/* an unsettled estimate stays charged after release */
	lim_peek(t, &k, T0, NULL, &r);
	ck_assert_int_eq(r.tok_remaining, 300);
}
END_TEST

START_TEST(t_tokens_settle_over)
{
	struct auth_key k = mk("tok", 0, 1000, 0);
	struct lim_hold h;
	struct lim_result r;

	ck_assert_int_eq(admit(&k, T0, 600, &h, &r), LIM_OK);
	/* it used 1500: 900 more than held, the bucket owes 500 */
	lim_settle(t, &h, 1500, T0);
	lim_release(t, &h, T0);
	lim_peek(t, &k, T0, NULL, &r);
	ck_assert_int_eq(r.tok_remaining, 0);
	ck_assert_int_eq(r.tok_reset_ms, 90000);   /* 1500 tokens to refill */
	/* 100 tokens need 600 of refill: 36 s */
	ck_assert_int_eq(admit(&k, T0, 100, &h, &r), LIM_TPM);
	ck_assert_int_eq(r.retry_after, 36);
	ck_assert_int_eq(admit(&k, T0 + 35999, 100, &h, &r), LIM_TPM);
	ck_assert_int_eq(r.retry_after, 1);
	ck_assert_int_eq(admit(&k, T0 + 36000, 100, &h, &r), LIM_OK);
	ck_assert_int_eq(r.tok_remaining, 0);
	lim_release(t, &h, T0 + 36000);
}
END_TEST

START_TEST(t_tokens_unknown_usage)
{
	struct auth_key k = mk("tok", 0, 1000, 0);
	struct lim_hold h;
	struct lim_result r;

	ck_assert_int_eq(admit(&k, T0, 300, &h, &r), LIM_OK);
	lim_settle(t, &h, -1, T0);            /* usage never came */
	lim_settle(t, &h, 0, T0);             /* and cannot be given later */
	lim_release(t, &h, T0);
	lim_peek(t, &k, T0, NULL, &r);
	ck_assert_int_eq(r.tok_remaining, 700);
	/* empty holds are harmless */
	memset(&h, 0, sizeof h);
	lim_settle(t, &h, 5, T0);
	lim_release(t, &h, T0);
	lim_release(t, &h, T0);
}
END_TEST

START_TEST(t_tokens_large_estimate)
{
	struct auth_key k = mk("big", 0, 1000, 0);
	struct lim_hold h;
	struct lim_result r;

	/* larger than the tpm: needs a full bucket, leaves a debt */
	ck_assert_int_eq(admit(&k, T0, 3000, &h, &r), LIM_OK);
	ck_assert_int_eq(r.tok_remaining, 0);
	ck_assert_int_eq(r.tok_reset_ms, 180000);
	lim_release(t, &h, T0);
	ck_assert_int_eq(admit(&k, T0 + 60000, 3000, &h, &r), LIM_TPM);
	ck_assert_int_eq(r.retry_after, 120);   /* 2000 owed + 1000 needed */
	ck_assert_int_eq(admit(&k, T0 + 180000, 3000, &h, &r), LIM_OK);
	lim_release(t, &h, T0 + 180000);
	/* full again at +360 s; the debt is capped at LIM_DEBT_MINUTES of
	 * refill */
	ck_assert_int_eq(admit(&k, T0 + 359999, 1000, &h, &r), LIM_TPM);
	ck_assert_int_eq(admit(&k, T0 + 360000, 1000000000, &h, &r), LIM_OK);
	lim_release(t, &h, T0 + 360000);
	lim_peek(t, &k, T0 + 360000, NULL, &r);
	ck_assert_int_eq(r.tok_reset_ms, (LIM_DEBT_MINUTES + 1) * 60000LL);
	/* and it is repaid in that time */
	ck_assert_int_eq(admit(&k, T0 + 360000 + (LIM_DEBT_MINUTES + 1) *
	    60000LL - 1, 1000, &h, &r), LIM_TPM);
	ck_assert_int_eq(admit(&k, T0 + 360000 + (LIM_DEBT_MINUTES + 1) *
	    60000LL, 10, &h, &r), LIM_OK);
	/* an answer far over its estimate hits the same floor */
	lim_settle(t, &h, 999999999999LL, T0 + 360000 +
	    (LIM_DEBT_MINUTES + 1) * 60000LL);
	lim_release(t, &h, T0 + 360000 + (LIM_DEBT_MINUTES + 1) * 60000LL);
	lim_peek(t, &k, T0 + 360000 + (LIM_DEBT_MINUTES + 1) * 60000LL, NULL,
	    &r);
	ck_assert_int_eq(r.tok_reset_ms, (LIM_DEBT_MINUTES + 1) * 60000LL);
}
END_TEST

START_TEST(t_parallel)
{
	struct auth_key k = mk("p", 60, 0, 2);
	struct lim_hold h1, h2, h3;
	struct lim_result r;

	ck_assert_int_eq(admit(&k, T0, 0, &h1, &r), LIM_OK);
	ck_assert_int_eq(r.inflight, 1);
	ck_assert_int_eq(admit(&k, T0, 0, &h2, &r), LIM_OK);
	ck_assert_int_eq(r.inflight, 2);
	ck_assert_int_eq(r.req_remaining, 58);
	ck_assert_int_eq(admit(&k, T0, 0, &h3, &r), LIM_PARALLEL);
	ck_assert_int_eq(r.retry_after, 1);
	ck_assert_int_eq(r.parallel_limit, 2);
	/* all or nothing: the refusal took no request */
	ck_assert_int_eq(r.req_remaining, 58);
	lim_release(t, &h1, T0 + 10);
	lim_release(t, &h1, T0 + 10);         /* twice: still one slot */
	ck_assert_int_eq(admit(&k, T0 + 10, 0, &h3, &r), LIM_OK);
	ck_assert_int_eq(admit(&k, T0 + 10, 0, &h1, &r), LIM_PARALLEL);
	lim_release(t, &h2, T0 + 20);
	lim_release(t, &h3, T0 + 20);
	lim_peek(t, &k, T0 + 20, NULL, &r);
	ck_assert_int_eq(r.inflight, 0);
}
END_TEST

START_TEST(t_longest_wait_wins)
{
	struct auth_key k = mk("w", 60, 1000, 1);
	struct lim_hold h, h2;
	struct lim_result r;
	int i;

	for (i = 0; i < 60; i++) {
		ck_assert_int_eq(admit(&k, T0, i == 0 ? 1000 : 0, &h, &r),
		    LIM_OK);
		lim_release(t, &h, T0);
	}
	/* rpm waits 1 s, tpm 6 s for 100 tokens */
	ck_assert_int_eq(admit(&k, T0, 100, &h, &r), LIM_TPM);
	ck_assert_int_eq(r.retry_after, 6);
	/* rpm alone */
	ck_assert_int_eq(admit(&k, T0, 0, &h, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 1);
	/* in flight (1 s) against a 0.4 s rpm wait: parallel is reported */
	ck_assert_int_eq(admit(&k, T0 + 1500, 0, &h, &r), LIM_OK);
	ck_assert_int_eq(admit(&k, T0 + 1600, 0, &h2, &r), LIM_PARALLEL);
	ck_assert_int_eq(r.retry_after, 1);
	lim_release(t, &h, T0 + 1600);
	/* with the request done, the rpm wait is what is left */
	ck_assert_int_eq(admit(&k, T0 + 1600, 0, &h2, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 1);
}
END_TEST

START_TEST(t_estimate)
{
	ck_assert_int_eq(lim_estimate(0, 0), 0);
	ck_assert_int_eq(lim_estimate(1, 0), 1);
	ck_assert_int_eq(lim_estimate(4, 0), 1);
	ck_assert_int_eq(lim_estimate(5, 0), 2);
	ck_assert_int_eq(lim_estimate(4000, 1024), 2024);
	ck_assert_int_eq(lim_estimate(4000, -1), 1000);
	ck_assert_int_eq(lim_estimate(8, LIM_RATE_MAX), LIM_RATE_MAX);
	ck_assert_int_eq(lim_estimate((size_t)-1, 0), LIM_RATE_MAX);
}
END_TEST

START_TEST(t_no_limits)
{
	struct auth_key k;
	struct lim_hold h;
	struct lim_result r;
	int i;

	auth_key_plain(&k, "free", "x", 1);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(admit(&k, T0, 1000000, &h, &r), LIM_OK);
	ck_assert_int_eq(h.slot, 0);
	ck_assert_int_eq(r.req_limit, 0);
	ck_assert_int_eq(r.tok_limit, 0);
	ck_assert_int_eq(r.budget_usd, 0);
	lim_settle(t, &h, 5, T0);
	lim_release(t, &h, T0);
}
END_TEST

/* ------------------------------------------------------------ budgets */

struct spend {
	double usd;
	long long since;
	int calls;
	char name[AUTH_NAME_MAX];
};

static double
spent(void *ctx, const char *name, long long since)
{
	struct spend *s = ctx;

	s->since = since;
	s->calls++;
	snprintf(s->name, sizeof s->name, "%s", name);
	return s->usd;
}

static const struct {
	const char *when;         /* for messages */
	long long now_ms;
	enum auth_period per;
	long long start, reset, retry;
} bud[] = {
	{ "2025-06-01 00:00", 1748736000000LL, AUTH_PER_DAY, 1748736000,
	  1748822400, 86400 },
	{ "2025-06-01 23:59:59", 1748822399000LL, AUTH_PER_DAY, 1748736000,
	  1748822400, 1 },
	{ "2025-06-01 23:59:59.500", 1748822399500LL, AUTH_PER_DAY,
	  1748736000, 1748822400, 1 },
	{ "2025-06-01 23:59:59.999", 1748822399999LL, AUTH_PER_DAY,
	  1748736000, 1748822400, 1 },
	{ "2025-06-02 00:00", 1748822400000LL, AUTH_PER_DAY, 1748822400,
	  1748908800, 86400 },
	{ "2025-06-01 mid month", 1748736000000LL, AUTH_PER_MONTH, 1748736000,
	  1751328000, 2592000 },
	{ "2024-02-29 23:59:59", 1709251199000LL, AUTH_PER_MONTH, 1706745600,
	  1709251200, 1 },
	{ "2024-03-01 00:00", 1709251200000LL, AUTH_PER_MONTH, 1709251200,
	  1711929600, 2678400 },
	{ "2024-12-31 12:00", 1735646400000LL, AUTH_PER_MONTH, 1733011200,
	  1735689600, 43200 },
	{ "2024-12-31 12:00 day", 1735646400000LL, AUTH_PER_DAY, 1735603200,
	  1735689600, 43200 },
};

START_TEST(t_budget_periods)
{
	struct auth_key k = mk("bud", 0, 0, 0);
	struct spend s = { 0, 0, 0, "" };
	struct lim_req q = { 0, spent, &s };
	struct lim_hold h;
	struct lim_result r;

	k.lim.budget_usd = 10;
	k.lim.budget_per = bud[_i].per;
	s.usd = 9.99;
	ck_assert_int_eq(lim_admit(t, &k, bud[_i].now_ms, &q, &h, &r), LIM_OK);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_str_eq(s.name, "bud");
	ck_assert_int_eq(s.since, bud[_i].start);
	ck_assert_int_eq(r.budget_reset, bud[_i].reset);
	ck_assert_double_eq(r.spent_usd, 9.99);
	ck_assert_double_eq(r.budget_usd, 10);
	ck_assert_int_eq(r.retry_after, 0);
	ck_assert_int_eq(h.slot, 0);          /* a budget needs no slot */
	s.usd = 10;
	ck_assert_int_eq(lim_admit(t, &k, bud[_i].now_ms, &q, &h, &r),
	    LIM_BUDGET);
	ck_assert_int_eq(r.retry_after, bud[_i].retry);
	ck_assert_int_eq(r.budget_reset, bud[_i].reset);
	ck_assert_int_eq(r.budget_per, bud[_i].per);
	ck_assert_int_eq(lim_period_start(bud[_i].per, bud[_i].now_ms / 1000),
	    bud[_i].start);
	ck_assert_int_eq(lim_period_end(bud[_i].per, bud[_i].now_ms / 1000),
	    bud[_i].reset);
}
END_TEST

START_TEST(t_budget_before_rates)
{
	struct auth_key k = mk("both", 1, 0, 1);
	struct spend s = { 50, 0, 0, "" };
	struct lim_req q = { 0, spent, &s };
	struct lim_hold h;
	struct lim_result r;

	k.lim.budget_usd = 20;
	k.lim.budget_per = AUTH_PER_MONTH;
	ck_assert_int_eq(lim_admit(t, &k, T0, &q, &h, &r), LIM_BUDGET);
	ck_assert_int_eq(h.slot, 0);
	/* the refusal took nothing from the other limits */
	s.usd = 0;
	ck_assert_int_eq(lim_admit(t, &k, T0, &q, &h, &r), LIM_OK);
	ck_assert_int_eq(r.req_remaining, 0);
	lim_release(t, &h, T0);
	/* no callback: spend 0 */
	q.spent = NULL;
	ck_assert_int_eq(lim_admit(t, &k, T0 + 60000, &q, &h, &r), LIM_OK);
	lim_release(t, &h, T0 + 60000);
	/* keys without a budget never call it */
	k.lim.budget_usd = 0;
	k.lim.budget_per = AUTH_PER_NONE;
	q.spent = spent;
	s.calls = 0;
	lim_admit(t, &k, T0 + 120000, &q, &h, &r);
	ck_assert_int_eq(s.calls, 0);
	lim_release(t, &h, T0 + 120000);
}
END_TEST

START_TEST(t_civil)
{
	long long z, y;
	unsigned m, d;
	char b[32];

	for (z = -800000; z <= 800000; z += 7) {
		lim_civil_from_days(z, &y, &m, &d);
		ck_assert_int_eq(lim_days_from_civil(y, m, d), z);
	}
	ck_assert_int_eq(lim_days_from_civil(1970, 1, 1), 0);
	ck_assert_int_eq(lim_days_from_civil(2000, 3, 1), 11017);
	lim_fmt_time(0, b);
	ck_assert_str_eq(b, "1970-01-01T00:00:00Z");
	lim_fmt_time(1709251199, b);
	ck_assert_str_eq(b, "2024-02-29T23:59:59Z");
	lim_fmt_time(253402300799LL, b);
	ck_assert_str_eq(b, "9999-12-31T23:59:59Z");
	lim_fmt_time(-1, b);
	ck_assert_str_eq(b, "1969-12-31T23:59:59Z");
	ck_assert_int_eq(lim_period_start(AUTH_PER_DAY, -1), -86400);
	ck_assert_int_eq(lim_period_end(AUTH_PER_NONE, 5), 0);
}
END_TEST

/* ------------------------------------------------------------ headers */

START_TEST(t_headers_openai)
{
	struct auth_key k = mk("h", 60, 1000, 0);
	struct lim_hold h;
	struct lim_result r;
	char b[512];
	size_t n;

	ck_assert_int_eq(admit(&k, T0, 100, &h, &r), LIM_OK);
	n = lim_headers(&r, LIM_HDR_OPENAI, T0, b, sizeof b);
	ck_assert_str_eq(b,
	    "x-ratelimit-limit-requests: 60\r\n"
	    "x-ratelimit-remaining-requests: 59\r\n"
	    "x-ratelimit-reset-requests: 1s\r\n"
	    "x-ratelimit-limit-tokens: 1000\r\n"
	    "x-ratelimit-remaining-tokens: 900\r\n"
	    "x-ratelimit-reset-tokens: 6s\r\n");
	ck_assert_uint_eq(n, strlen(b));
	lim_settle(t, &h, 1000, T0);
	ck_assert_int_eq(admit(&k, T0, 900, &h, &r), LIM_TPM);
	lim_headers(&r, LIM_HDR_OPENAI, T0, b, sizeof b);
	ck_assert_str_eq(b,
	    "Retry-After: 54\r\n"
	    "x-ratelimit-limit-requests: 60\r\n"
	    "x-ratelimit-remaining-requests: 59\r\n"
	    "x-ratelimit-reset-requests: 1s\r\n"
	    "x-ratelimit-limit-tokens: 1000\r\n"
	    "x-ratelimit-remaining-tokens: 0\r\n"
	    "x-ratelimit-reset-tokens: 1m0s\r\n");
	/* sub-second and hour forms */
	r.req_reset_ms = 250;
	r.tok_reset_ms = 3600000 + 61000 + 1;
	r.refused = LIM_OK;
	lim_headers(&r, LIM_HDR_OPENAI, T0, b, sizeof b);
	ck_assert_ptr_nonnull(strstr(b, "x-ratelimit-reset-requests: 250ms\r\n"));
	ck_assert_ptr_nonnull(strstr(b, "x-ratelimit-reset-tokens: 1h1m2s\r\n"));
	r.req_reset_ms = 0;
	lim_headers(&r, LIM_HDR_OPENAI, T0, b, sizeof b);
	ck_assert_ptr_nonnull(strstr(b, "x-ratelimit-reset-requests: 0s\r\n"));
	lim_release(t, &h, T0);
}
END_TEST

START_TEST(t_headers_anthropic_gemini)
{
	struct auth_key k = mk("h", 60, 1000, 0);
	struct lim_hold h;
	struct lim_result r;
	char b[512];

	ck_assert_int_eq(admit(&k, T0, 100, &h, &r), LIM_OK);
	lim_headers(&r, LIM_HDR_ANTHROPIC, T0, b, sizeof b);
	ck_assert_str_eq(b,
	    "anthropic-ratelimit-requests-limit: 60\r\n"
	    "anthropic-ratelimit-requests-remaining: 59\r\n"
	    "anthropic-ratelimit-requests-reset: 2025-06-01T00:00:01Z\r\n"
	    "anthropic-ratelimit-tokens-limit: 1000\r\n"
	    "anthropic-ratelimit-tokens-remaining: 900\r\n"
	    "anthropic-ratelimit-tokens-reset: 2025-06-01T00:00:06Z\r\n");
	/* Gemini clients: Retry-After only, and only when refused */
	ck_assert_uint_eq(lim_headers(&r, LIM_HDR_NONE, T0, b, sizeof b), 0);
	ck_assert_str_eq(b, "");
	r.refused = LIM_RPM;
	r.retry_after = 7;
	lim_headers(&r, LIM_HDR_NONE, T0, b, sizeof b);
	ck_assert_str_eq(b, "Retry-After: 7\r\n");
	/* too small a buffer: nothing, never a cut header */
	ck_assert_uint_eq(lim_headers(&r, LIM_HDR_ANTHROPIC, T0, b, 40), 0);
	ck_assert_str_eq(b, "");
	/* a key with only a tpm gets only token headers */
	k = mk("t", 0, 500, 0);
	ck_assert_int_eq(admit(&k, T0, 0, &h, &r), LIM_OK);
	lim_headers(&r, LIM_HDR_OPENAI, T0, b, sizeof b);
	ck_assert_str_eq(b,
	    "x-ratelimit-limit-tokens: 500\r\n"
	    "x-ratelimit-remaining-tokens: 500\r\n"
	    "x-ratelimit-reset-tokens: 0s\r\n");
	lim_release(t, &h, T0);
}
END_TEST

START_TEST(t_messages)
{
	struct lim_result r;
	char b[256];
	size_t n;

	memset(&r, 0, sizeof r);
	r.refused = LIM_RPM;
	r.req_limit = 60;
	r.retry_after = 2;
	n = lim_message(&r, "ci", b, sizeof b);
	ck_assert_str_eq(b, "rate limit: key \"ci\" may send 60 requests per "
	    "minute; retry in 2 s");
	ck_assert_uint_eq(n, strlen(b));
	r.refused = LIM_TPM;
	r.tok_limit = 1000;
	lim_message(&r, "ci", b, sizeof b);
	ck_assert_str_eq(b, "rate limit: key \"ci\" may use 1000 tokens per "
	    "minute; retry in 2 s");
	r.refused = LIM_PARALLEL;
	r.parallel_limit = 3;
	r.retry_after = 1;
	lim_message(&r, "ci", b, sizeof b);
	ck_assert_str_eq(b, "rate limit: key \"ci\" may have 3 requests in "
	    "flight; retry in 1 s");
	r.refused = LIM_BUDGET;
	r.spent_usd = 10.016;
	r.budget_usd = 10;
	r.budget_per = AUTH_PER_DAY;
	r.budget_reset = 1748822400;
	lim_message(&r, "ci", b, sizeof b);
	ck_assert_str_eq(b, "budget exhausted: key \"ci\" spent $10.02 of its "
	    "$10.00 daily budget; it resets at 2025-06-02T00:00:00Z");
	r.budget_per = AUTH_PER_MONTH;
	r.budget_reset = 1751328000;
	lim_message(&r, "ci", b, sizeof b);
	ck_assert_str_eq(b, "budget exhausted: key \"ci\" spent $10.02 of its "
	    "$10.00 monthly budget; it resets at 2025-07-01T00:00:00Z");
	n = lim_message(&r, "ci", b, 10);
	ck_assert_uint_eq(n, 9);
	ck_assert_str_eq(b, "budget ex");
	ck_assert_str_eq(lim_which_name(LIM_RPM), "rpm");
	ck_assert_str_eq(lim_which_name(LIM_TPM), "tpm");
	ck_assert_str_eq(lim_which_name(LIM_PARALLEL), "parallel");
	ck_assert_str_eq(lim_which_name(LIM_BUDGET), "budget");
	ck_assert_str_eq(lim_which_name(LIM_OK), "");
}
END_TEST

/* ------------------------------------------------------------ table */

START_TEST(t_survives_reload)
{
	struct auth_key k = mk("ci", 2, 0, 0), k2;
	struct lim_result r;

	ck_assert_int_eq(once(&k, T0, &r), LIM_OK);
	ck_assert_int_eq(once(&k, T0, &r), LIM_OK);
	/* reloaded: a new struct (another secret, same name) */
	auth_key_plain(&k2, "ci", "rotated", 7);
	k2.lim.rpm = 2;
	ck_assert_int_eq(once(&k2, T0 + 1, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 30);
	/* the limit raised to 4: the empty bucket refills at the new rate */
	k2.lim.rpm = 4;
	ck_assert_int_eq(once(&k2, T0 + 1, &r), LIM_RPM);
	ck_assert_int_eq(r.retry_after, 15);
	ck_assert_int_eq(once(&k2, T0 + 15000, &r), LIM_RPM);
	ck_assert_int_eq(once(&k2, T0 + 15001, &r), LIM_OK);
	/* lowered to 1: a fuller bucket is cut to the new size */
	ck_assert_int_eq(once(&k2, T0 + 120000, &r), LIM_OK);
	k2.lim.rpm = 1;
	ck_assert_int_eq(once(&k2, T0 + 120000, &r), LIM_OK);
	ck_assert_int_eq(once(&k2, T0 + 120000, &r), LIM_RPM);
	/* another name is another bucket */
	k = mk("other", 1, 0, 0);
	ck_assert_int_eq(once(&k, T0 + 120000, &r), LIM_OK);
}
END_TEST

START_TEST(t_clock_backwards)
{
	struct auth_key k = mk("c", 60, 0, 0);
	struct lim_result r;
	int i;

	for (i = 0; i < 60; i++)
		once(&k, T0, &r);
	/* a step back pauses the refill; it resumes from there */
	ck_assert_int_eq(once(&k, T0 - 3600000, &r), LIM_RPM);
	ck_assert_int_eq(once(&k, T0 - 3600000 + 999, &r), LIM_RPM);
	ck_assert_int_eq(once(&k, T0 - 3600000 + 1000, &r), LIM_OK);
}
END_TEST

START_TEST(t_peek)
{
	struct auth_key k = mk("pk", 10, 100, 3);
	struct lim_result r;

	lim_peek(t, &k, T0, NULL, &r);      /* unknown key: a fresh state */
	ck_assert_int_eq(r.req_remaining, 10);
	ck_assert_int_eq(r.tok_remaining, 100);
	ck_assert_int_eq(r.inflight, 0);
	ck_assert_int_eq(r.refused, LIM_OK);
	once(&k, T0, &r);
	lim_peek(t, &k, T0, NULL, &r);
	lim_peek(t, &k, T0, NULL, &r);
	ck_assert_int_eq(r.req_remaining, 9);
	ck_assert_int_eq(r.req_reset_ms, 6000);
}
END_TEST

START_TEST(t_table_full)
{
	static struct lim_hold h[LIM_SLOTS];
	struct auth_key k;
	struct lim_hold x, stale;
	struct lim_result r;
	char name[32];
	int i;

	for (i = 0; i < LIM_SLOTS; i++) {
		snprintf(name, sizeof name, "k%d", i);
		k = mk(name, 0, 0, 1);
		ck_assert_int_eq(admit(&k, T0, 0, &h[i], &r), LIM_OK);
	}
	k = mk("late", 0, 0, 1);
	ck_assert_int_eq(admit(&k, T0, 0, &x, &r), LIM_FULL);
	ck_assert_int_eq(r.retry_after, 1);
	/* a slot with nothing in flight and full buckets is reused */
	stale = h[77];
	lim_release(t, &h[77], T0);
	ck_assert_int_eq(h[77].slot, 0);
	ck_assert_int_eq(admit(&k, T0, 0, &x, &r), LIM_OK);
	/* the old owner's stale hold cannot release the new owner's request */
	lim_release(t, &stale, T0);
	ck_assert_int_eq(admit(&k, T0, 0, &h[77], &r), LIM_PARALLEL);
	lim_release(t, &x, T0);
	for (i = 0; i < LIM_SLOTS; i++)
		lim_release(t, &h[i], T0);
}
END_TEST

START_TEST(t_table_keeps_state)
{
	struct auth_key k;
	struct lim_result r;
	char name[32];
	int i;

	/* every slot holds a drained bucket: none may be reused */
	for (i = 0; i < LIM_SLOTS; i++) {
		snprintf(name, sizeof name, "k%d", i);
		k = mk(name, 1, 0, 0);
		ck_assert_int_eq(once(&k, T0, &r), LIM_OK);
	}
	k = mk("late", 1, 0, 0);
	ck_assert_int_eq(once(&k, T0 + 59999, &r), LIM_FULL);
	/* the failed insert took nobody's state */
	for (i = 0; i < LIM_SLOTS; i += 97) {
		snprintf(name, sizeof name, "k%d", i);
		k = mk(name, 1, 0, 0);
		ck_assert_int_eq(once(&k, T0 + 59999, &r), LIM_RPM);
	}
	/* a minute on, every bucket is full and a slot is free to reuse */
	k = mk("late", 1, 0, 0);
	ck_assert_int_eq(once(&k, T0 + 60000, &r), LIM_OK);
	ck_assert_int_eq(once(&k, T0 + 60000, &r), LIM_RPM);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("limits");
	SRunner *sr;
	int nf;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_rpm_refill);
	tcase_add_test(tc, t_rpm_slow);
	tcase_add_test(tc, t_burst_capped);
	tcase_add_test(tc, t_tokens_settle_under);
	tcase_add_test(tc, t_tokens_settle_over);
	tcase_add_test(tc, t_tokens_unknown_usage);
	tcase_add_test(tc, t_tokens_large_estimate);
	tcase_add_test(tc, t_parallel);
	tcase_add_test(tc, t_longest_wait_wins);
	tcase_add_test(tc, t_estimate);
	tcase_add_test(tc, t_no_limits);
	tcase_add_loop_test(tc, t_budget_periods, 0,
	    (int)(sizeof bud / sizeof bud[0]));
	tcase_add_test(tc, t_budget_before_rates);
	tcase_add_test(tc, t_civil);
	tcase_add_test(tc, t_headers_openai);
	tcase_add_test(tc, t_headers_anthropic_gemini);
	tcase_add_test(tc, t_messages);
	tcase_add_test(tc, t_survives_reload);
	tcase_add_test(tc, t_clock_backwards);
	tcase_add_test(tc, t_peek);
	tcase_add_test(tc, t_table_full);
	tcase_add_test(tc, t_table_keeps_state);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
