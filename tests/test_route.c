/*
 * test_route.c - the gateway's decisions under a fake clock.
 *
 * Most tests are scenarios: a table of steps (start a request, expect the
 * next candidate, report an outcome with its headers, expect the end with a
 * status and Retry-After), driven against one px_gw, the way the parsers'
 * tests feed byte splits. Times are milliseconds after T0
 * (2023-11-14T22:13:20Z). Around them: the time parsers, the ranking,
 * reload, bounded state, health-check scheduling and the admin view.
 */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "route.h"

#define T0 1700000000000LL        /* 2023-11-14T22:13:20Z */

static char err[4096];

static struct px_config *
load(const char *text)
{
	struct px_config *c = px_config_new();

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(px_config_parse(c, "t.json", text, strlen(text), err,
	    sizeof err) == 0, "%s", err);
	return c;
}

static const char base_cfg[] =
"{\"providers\": [\n"
" {\"name\": \"a\", \"type\": \"openai\", \"api_keys\": [\"a1\", \"a2\", \"a3\"]},\n"
" {\"name\": \"f\", \"type\": \"openai\", \"api_keys\": [\"f1\", \"f2\"],\n"
"  \"strategy\": \"fill-first\"},\n"
" {\"name\": \"b\", \"type\": \"anthropic\", \"api_key\": \"b1\"},\n"
" {\"name\": \"c\", \"type\": \"gemini\", \"api_key\": \"c1\"}],\n"
" \"models\": {\n"
"  \"rr\": \"a\",\n"
"  \"ff\": \"f\",\n"
"  \"ff-chain\": [\"f\", \"b\"],\n"
"  \"chain\": [\"a\", \"b\", \"c\"],\n"
"  \"ff-two\": [\"f/m1\", \"f/m2\", \"b\"],\n"
"  \"bc\": [\"b\", \"c\"],\n"
"  \"limited\": {\"targets\": [\"a/x\", \"b\", \"c\"], \"retry\": "
"{\"max_attempts\": 2}},\n"
"  \"budget\": {\"targets\": [\"b\", \"c\"], \"retry\": {\"budget_ms\": 1000}},\n"
"  \"nobudget\": {\"targets\": [\"b\", \"c\"], \"retry\": {\"budget_ms\": 0}}\n"
" }}";

/* ------------------------------------------------------------ scenarios */

enum { OK_ = PX_OUT_OK, DNS = PX_OUT_DNS, CON = PX_OUT_CONNECT,
    TLS = PX_OUT_TLS, TMO = PX_OUT_TIMEOUT, HTTP = PX_OUT_HTTP,
    EVT = PX_OUT_STREAM_ERROR };

struct step {
	char op;          /* R request, N next, O outcome, K keep?, E end */
	long long t;      /* ms after T0 */
	const char *s;    /* R: model; N: "provider/label"; O: headers
	                     "name: value|name: value" */
	int cls, status;
	int want;         /* O: verdict; K: keep; E: status */
	long long ra;     /* E: Retry-After seconds (0 = none) */
};

#define R(t, m)           { 'R', t, m, 0, 0, 0, 0 }
#define N(t, l)           { 'N', t, l, 0, 0, 0, 0 }
#define O(t, c, st, h, v) { 'O', t, h, c, st, v, 0 }
#define K(v)              { 'K', 0, NULL, 0, 0, v, 0 }
#define E(t, st, ra)      { 'E', t, NULL, 0, 0, st, ra }
#define RETRY PX_RETRY
#define ANSWER PX_ANSWER
#define OK(t) O(t, OK_, 200, "", ANSWER)

static const struct scen {
	const char *name;
	struct step s[48];
} scens[] = {
	{ "round-robin rotates the first key per request", {
	    R(0, "rr"), N(0, "a/a#1"), OK(0),
	    R(1, "rr"), N(1, "a/a#2"), OK(1),
	    R(2, "rr"), N(2, "a/a#3"), OK(2),
	    R(3, "rr"), N(3, "a/a#1"), OK(3) } },
	{ "round-robin: a 429 moves on, later requests skip the cooling key", {
	    R(0, "rr"), N(0, "a/a#1"),
	    O(0, HTTP, 429, "Retry-After: 10", RETRY),
	    N(0, "a/a#2"), OK(0),
	    R(1, "rr"), N(1, "a/a#2"), OK(1),     /* rotation 1 */
	    R(2, "rr"), N(2, "a/a#3"), OK(2),     /* rotation 2 */
	    R(3, "rr"), N(3, "a/a#2"), OK(3),     /* rotation 0: a#1 cools */
	    R(10000, "rr"), N(10000, "a/a#2"), OK(10000),
	    R(10001, "rr"), N(10001, "a/a#3"), OK(10001),
	    R(10002, "rr"), N(10002, "a/a#1"), OK(10002) } },
	{ "fill-first always starts at the first key", {
	    R(0, "ff"), N(0, "f/f#1"), OK(0),
	    R(1, "ff"), N(1, "f/f#1"), OK(1),
	    R(2, "ff"), N(2, "f/f#1"), OK(2) } },
	{ "429 with Retry-After in seconds", {
	    R(0, "ff"), N(0, "f/f#1"),
	    O(0, HTTP, 429, "Retry-After: 10", RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(5000, "ff"), N(5000, "f/f#2"), OK(5000),
	    R(9999, "ff"), N(9999, "f/f#2"), OK(9999),
	    R(10000, "ff"), N(10000, "f/f#1"), OK(10000) } },
	{ "429 with Retry-After as an HTTP-date", {
	    R(0, "ff"), N(0, "f/f#1"),
	    O(0, HTTP, 429, "retry-after: Tue, 14 Nov 2023 22:13:50 GMT",
	      RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(29999, "ff"), N(29999, "f/f#2"), OK(29999),
	    R(30000, "ff"), N(30000, "f/f#1"), OK(30000) } },
	{ "429 with Anthropic resets: the exhausted limit counts", {
	    R(0, "ff"), N(0, "f/f#1"),
	    O(0, HTTP, 429,
	      "anthropic-ratelimit-requests-reset: 2023-11-14T22:14:20Z|"
	      "anthropic-ratelimit-requests-remaining: 0|"
	      "anthropic-ratelimit-tokens-reset: 2023-11-14T22:13:25Z|"
	      "anthropic-ratelimit-tokens-remaining: 5000", RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(59999, "ff"), N(59999, "f/f#2"), OK(59999),
	    R(60000, "ff"), N(60000, "f/f#1"), OK(60000) } },
	{ "429 with Anthropic resets and no remaining counts: the earliest", {
	    R(0, "ff"), N(0, "f/f#1"),
	    O(0, HTTP, 429,
	      "anthropic-ratelimit-output-tokens-reset: "
	      "2023-11-14T23:13:40.500+01:00|"
	      "anthropic-ratelimit-input-tokens-reset: 2023-11-14T22:13:25Z",
	      RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(4999, "ff"), N(4999, "f/f#2"), OK(4999),
	    R(5000, "ff"), N(5000, "f/f#1"), OK(5000) } },
	{ "429 with OpenAI resets: requests exhausted", {
	    R(0, "ff"), N(0, "f/f#1"),
	    O(0, HTTP, 429,
	      "x-ratelimit-reset-requests: 1s|x-ratelimit-remaining-requests: 0|"
	      "x-ratelimit-reset-tokens: 6m0s|x-ratelimit-remaining-tokens: 100",
	      RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(999, "ff"), N(999, "f/f#2"), OK(999),
	    R(1000, "ff"), N(1000, "f/f#1"), OK(1000) } },
	{ "429 with OpenAI resets: tokens exhausted", {
	    R(0, "ff"), N(0, "f/f#1"),
	    O(0, HTTP, 429,
	      "x-ratelimit-reset-requests: 20ms|"
	      "x-ratelimit-remaining-requests: 10|"
	      "x-ratelimit-reset-tokens: 6m0s|x-ratelimit-remaining-tokens: 0",
	      RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(359999, "ff"), N(359999, "f/f#2"), OK(359999),
	    R(360000, "ff"), N(360000, "f/f#1"), OK(360000) } },
	{ "429: retry-after-ms before Retry-After before resets", {
	    R(0, "ff"), N(0, "f/f#1"),
	    O(0, HTTP, 429, "retry-after-ms: 1500|Retry-After: 10|"
	      "x-ratelimit-reset-requests: 1m", RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(1499, "ff"), N(1499, "f/f#2"), OK(1499),
	    R(1500, "ff"), N(1500, "f/f#1"),
	    O(1500, HTTP, 429, "Retry-After: 2|x-ratelimit-reset-requests: 1m",
	      RETRY),
	    N(1500, "f/f#2"), OK(1500),
	    R(3499, "ff"), N(3499, "f/f#2"), OK(3499),
	    R(3500, "ff"), N(3500, "f/f#1"), OK(3500) } },
	{ "429 with an unreadable hint: backoff", {
	    R(0, "ff"), N(0, "f/f#1"),
	    O(0, HTTP, 429, "Retry-After: soon|x-ratelimit-reset-tokens: 5x",
	      RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(999, "ff"), N(999, "f/f#2"), OK(999),
	    R(1000, "ff"), N(1000, "f/f#1"), OK(1000) } },
	{ "429 backoff doubles and a success resets it", {
	    R(0, "ff"), N(0, "f/f#1"), O(0, HTTP, 429, "", RETRY),
	    N(0, "f/f#2"), OK(0),                         /* f#1: 1 s */
	    R(1000, "ff"), N(1000, "f/f#1"), O(1000, HTTP, 429, "", RETRY),
	    N(1000, "f/f#2"), OK(1000),                   /* 2 s */
	    R(2999, "ff"), N(2999, "f/f#2"), OK(2999),
	    R(3000, "ff"), N(3000, "f/f#1"), O(3000, HTTP, 429, "", RETRY),
	    N(3000, "f/f#2"), OK(3000),                   /* 4 s */
	    R(6999, "ff"), N(6999, "f/f#2"), OK(6999),
	    R(7000, "ff"), N(7000, "f/f#1"), OK(7000),    /* reset */
	    R(7001, "ff"), N(7001, "f/f#1"), O(7001, HTTP, 429, "", RETRY),
	    N(7001, "f/f#2"), OK(7001),                   /* 1 s again */
	    R(8000, "ff"), N(8000, "f/f#2"), OK(8000),
	    R(8001, "ff"), N(8001, "f/f#1"), OK(8001) } },
	{ "a rate-limit error event before content is a 429", {
	    R(0, "ff"), N(0, "f/f#1"), O(0, EVT, 429, "", RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(999, "ff"), N(999, "f/f#2"), OK(999) } },
	{ "5xx: the provider cools for the model, short backoff", {
	    R(0, "ff-chain"), N(0, "f/f#1"), O(0, HTTP, 503, "", RETRY),
	    N(0, "b/b#1"), OK(0),                     /* f#2 skipped */
	    R(500, "ff-chain"), N(500, "b/b#1"), OK(500),
	    R(1000, "ff-chain"), N(1000, "f/f#1"),
	    O(1000, HTTP, 529, "", RETRY),            /* 2 s */
	    N(1000, "b/b#1"), OK(1000),
	    R(2999, "ff-chain"), N(2999, "b/b#1"), OK(2999),
	    R(3000, "ff-chain"), N(3000, "f/f#1"), OK(3000),
	    R(3001, "ff-chain"), N(3001, "f/f#1"), OK(3001) } },
	{ "5xx honours Retry-After", {
	    R(0, "ff-chain"), N(0, "f/f#1"),
	    O(0, HTTP, 503, "Retry-After: 7", RETRY), N(0, "b/b#1"), OK(0),
	    R(6999, "ff-chain"), N(6999, "b/b#1"), OK(6999),
	    R(7000, "ff-chain"), N(7000, "f/f#1"), OK(7000) } },
	{ "5xx with Retry-After: 0 still skips the provider's other keys", {
	    R(0, "ff-chain"), N(0, "f/f#1"),
	    O(0, HTTP, 500, "Retry-After: 0", RETRY), N(0, "b/b#1"), OK(0),
	    R(1, "ff-chain"), N(1, "f/f#1"), OK(1) } },
	{ "5xx is about one model: the same key serves the next", {
	    R(0, "ff-two"), N(0, "f/f#1"), O(0, HTTP, 500, "", RETRY),
	    N(0, "f/f#1"), O(0, HTTP, 502, "", RETRY),
	    N(0, "b/b#1"), OK(0) } },
	{ "error events before content: overloaded retries, unknown is 500", {
	    R(0, "ff-two"), N(0, "f/f#1"), O(0, EVT, 529, "", RETRY),
	    N(0, "f/f#1"), O(0, EVT, 0, "", RETRY),
	    N(0, "b/b#1"), O(0, EVT, 400, "", ANSWER) } },
	{ "connection failure: the provider is down for every model", {
	    R(0, "ff-two"), N(0, "f/f#1"), O(0, CON, 0, "", RETRY),
	    N(0, "b/b#1"), OK(0),                     /* f/m2 skipped */
	    R(500, "ff"), E(500, 503, 1),
	    R(1000, "ff"), N(1000, "f/f#1"), O(1000, CON, 0, "", RETRY),
	    E(1000, 503, 2),                          /* 2 s */
	    R(3000, "ff"), N(3000, "f/f#1"), O(3000, TLS, 0, "", RETRY),
	    E(3000, 503, 4),
	    R(7000, "ff"), N(7000, "f/f#1"), O(7000, DNS, 0, "", RETRY),
	    E(7000, 503, 8) } },
	{ "connection failure backoff stops at 30 s", {
	    R(0, "ff"), N(0, "f/f#1"), O(0, CON, 0, "", RETRY), E(0, 503, 1),
	    R(1000, "ff"), N(1000, "f/f#1"), O(1000, CON, 0, "", RETRY),
	    R(3000, "ff"), N(3000, "f/f#1"), O(3000, CON, 0, "", RETRY),
	    R(7000, "ff"), N(7000, "f/f#1"), O(7000, CON, 0, "", RETRY),
	    R(15000, "ff"), N(15000, "f/f#1"), O(15000, CON, 0, "", RETRY),
	    E(15000, 503, 16),
	    R(31000, "ff"), N(31000, "f/f#1"), O(31000, CON, 0, "", RETRY),
	    E(31000, 503, 30),
	    R(61000, "ff"), N(61000, "f/f#1"), O(61000, CON, 0, "", RETRY),
	    E(61000, 503, 30) } },
	{ "401/403 disable a key until reload", {
	    R(0, "ff"), N(0, "f/f#1"), O(0, HTTP, 401, "", RETRY),
	    N(0, "f/f#2"), OK(0),
	    R(86400000, "ff"), N(86400000, "f/f#2"),
	    O(86400000, HTTP, 403, "", RETRY),
	    E(86400000, 403, 0) } },
	{ "client errors are answered at once and change nothing", {
	    R(0, "ff"), N(0, "f/f#1"), O(0, HTTP, 400, "", ANSWER),
	    R(1, "ff"), N(1, "f/f#1"), O(1, HTTP, 404, "", ANSWER),
	    R(2, "ff"), N(2, "f/f#1"), O(2, HTTP, 413, "", ANSWER),
	    R(3, "ff"), N(3, "f/f#1"), O(3, HTTP, 422, "", ANSWER),
	    R(4, "ff"), N(4, "f/f#1"), O(4, HTTP, 501, "", ANSWER),
	    R(5, "ff"), N(5, "f/f#1"), O(5, HTTP, 408, "", ANSWER),
	    E(5, 0, 0) } },
	{ "Retry-After: 0 never retries the same key in one request", {
	    R(0, "bc"), N(0, "b/b#1"), O(0, HTTP, 429, "Retry-After: 0", RETRY),
	    N(0, "c/c#1"), O(0, HTTP, 429, "Retry-After: 0", RETRY),
	    E(0, 429, 1),
	    R(1, "bc"), N(1, "b/b#1"), OK(1) } },
	{ "max_attempts", {
	    R(0, "limited"), N(0, "a/a#1"), O(0, HTTP, 503, "", RETRY), K(1),
	    N(0, "b/b#1"), O(0, HTTP, 503, "", RETRY), K(0),
	    E(0, 503, 1) } },
	{ "a first-byte timeout cools the provider for that model only", {
	    R(0, "ff"), N(0, "f/f#1"), O(0, TMO, 0, "", RETRY),
	    E(0, 503, 1),                             /* "ff" on f: cooling */
	    R(500, "ff-two"), N(500, "f/f#1"), OK(500), /* f/m1: not cooling */
	    R(1000, "ff"), N(1000, "f/f#1"), O(1000, TMO, 0, "", RETRY),
	    E(1000, 503, 2) } },                      /* 2 s */
	{ "budget_ms: no new attempt after the budget", {
	    R(0, "budget"), N(0, "b/b#1"), O(1500, CON, 0, "", RETRY),
	    E(1500, 503, 1),
	    R(2000, "nobudget"), N(2000, "c/c#1"),
	    O(9000, HTTP, 429, "", RETRY), E(9000, 429, 1) } },
	{ "budget_ms does not stop the first attempt", {
	    R(0, "budget"), N(5000, "b/b#1"), OK(5000) } },
	{ "all cooling: Retry-After is the soonest availability", {
	    R(0, "ff-chain"), N(0, "f/f#1"),
	    O(0, HTTP, 429, "Retry-After: 10", RETRY), K(1),
	    N(0, "f/f#2"), O(0, HTTP, 429, "Retry-After: 20", RETRY), K(0),
	    N(0, "b/b#1"), O(0, HTTP, 503, "Retry-After: 5", RETRY), K(0),
	    E(0, 429, 5),
	    R(1000, "ff-chain"), E(1000, 503, 4),     /* b first, a 503 */
	    R(6000, "ff-chain"), N(6000, "b/b#1"),
	    O(6000, HTTP, 503, "Retry-After: 30", RETRY),
	    E(6000, 503, 4),                          /* f#1 at 10 s */
	    R(7000, "ff-chain"), E(7000, 429, 3),     /* f#1 first, a 429 */
	    R(10000, "ff-chain"), N(10000, "f/f#1"), OK(10000) } },
	{ "ranking: an HTTP answer beats a connection failure, 429 beats 5xx", {
	    R(0, "chain"), N(0, "a/a#1"), O(0, CON, 0, "", RETRY), K(1),
	    N(0, "b/b#1"), O(0, HTTP, 429, "", RETRY), K(1),
	    N(0, "c/c#1"), O(0, HTTP, 503, "", RETRY), K(0),
	    E(0, 429, 1) } },
	{ "ranking: no HTTP answer gives 503", {
	    R(0, "chain"), N(0, "a/a#1"), O(0, DNS, 0, "", RETRY), K(1),
	    N(0, "b/b#1"), O(0, TMO, 0, "", RETRY), K(1),
	    N(0, "c/c#1"), O(0, TLS, 0, "", RETRY), K(0),
	    E(0, 503, 1) } },
	{ "ranking: a 401 is less informative than a 5xx", {
	    R(0, "bc"), N(0, "b/b#1"), O(0, HTTP, 401, "", RETRY), K(1),
	    N(0, "c/c#1"), O(0, HTTP, 500, "", RETRY), K(1),
	    E(0, 500, 1) } },
};

/* Offer "name: value|name: value" to o. */
static void
offer_headers(struct px_outcome *o, const char *h)
{
	const char *p = h, *end, *colon;

	while (p != NULL && *p) {
		end = strchr(p, '|');
		if (end == NULL)
			end = p + strlen(p);
		colon = memchr(p, ':', (size_t)(end - p));
		ck_assert_ptr_nonnull(colon);
		px_outcome_header(o, p, (size_t)(colon - p), colon + 1,
		    (size_t)(end - colon - 1));
		p = *end ? end + 1 : end;
	}
}

START_TEST(t_scenario)
{
	const struct scen *sc = &scens[_i];
	struct px_config *c = load(base_cfg);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	struct px_plan_result res;
	const struct step *st;
	const struct px_route *r;
	char got[160];
	int i, rc, have_plan = 0;
	int64_t now;

	ck_assert_ptr_nonnull(gw);
	px_gw_reload(gw, c, T0);
	memset(&a, 0, sizeof a);
	for (i = 0; i < 48 && sc->s[i].op; i++) {
		st = &sc->s[i];
		now = T0 + st->t;
		switch (st->op) {
		case 'R':
			r = px_route_find(c, st->s, strlen(st->s));
			ck_assert_msg(r != NULL, "%s: step %d: no route %s",
			    sc->name, i, st->s);
			ck_assert_int_eq(px_plan_init(&pl, c, r, st->s,
			    strlen(st->s), now), 0);
			have_plan = 1;
			break;
		case 'N':
			ck_assert(have_plan);
			rc = px_plan_next(gw, &pl, now, &a);
			ck_assert_msg(rc == 1, "%s: step %d: no candidate (want "
			    "%s)", sc->name, i, st->s);
			snprintf(got, sizeof got, "%s/%s", a.p->name,
			    a.k->label);
			ck_assert_msg(strcmp(got, st->s) == 0, "%s: step %d: "
			    "got %s, want %s", sc->name, i, got, st->s);
			ck_assert_int_eq(a.n, pl.nattempts);
			ck_assert_ptr_eq(a.p, &c->providers[a.provider]);
			ck_assert_ptr_eq(a.k, &a.p->creds[a.cred]);
			break;
		case 'O':
			px_outcome_init(&o, (enum px_out_class)st->cls,
			    st->status);
			offer_headers(&o, st->s);
			rc = px_gw_report(gw, &pl, &a, &o, now);
			ck_assert_msg(rc == st->want, "%s: step %d: verdict %d, "
			    "want %d", sc->name, i, rc, st->want);
			break;
		case 'K':
			ck_assert_msg(px_plan_keep(&pl, &a) == st->want,
			    "%s: step %d: keep", sc->name, i);
			break;
		case 'E':
			rc = px_plan_next(gw, &pl, now, &a);
			ck_assert_msg(rc == 0, "%s: step %d: a candidate (%s/%s) "
			    "where none was expected", sc->name, i, a.p->name,
			    a.k->label);
			if (st->want == 0)
				break;       /* answered: nothing more to check */
			px_plan_result(&pl, now, &res);
			ck_assert_msg(res.status == st->want, "%s: step %d: "
			    "status %d, want %d", sc->name, i, res.status,
			    st->want);
			ck_assert_msg(px_retry_after_s(res.retry_at, now) ==
			    st->ra, "%s: step %d: Retry-After %lld, want %lld",
			    sc->name, i, px_retry_after_s(res.retry_at, now),
			    st->ra);
			break;
		}
	}
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ details */

/* 429 backoff: 1 s doubling, capped at 5 minutes; a failure older than
 * PX_GW_FORGET_MS no longer counts. */
START_TEST(t_backoff_cap)
{
	struct px_config *c = load(base_cfg);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	struct px_cred_info ci;
	const struct px_route *r = px_route_find(c, "ff", 2);
	int64_t now = T0, want = 1000;
	int i;

	px_gw_reload(gw, c, now);
	for (i = 0; i < 12; i++) {
		px_plan_init(&pl, c, r, "ff", 2, now);
		ck_assert_int_eq(px_plan_next(gw, &pl, now, &a), 1);
		ck_assert_str_eq(a.k->label, "f#1");
		px_outcome_init(&o, PX_OUT_HTTP, 429);
		ck_assert_int_eq(px_gw_report(gw, &pl, &a, &o, now), PX_RETRY);
		ck_assert_int_eq(px_gw_cred_info(gw, c, 1, 0, now, &ci), 0);
		ck_assert_int_eq(ci.state, PX_CRED_COOLING);
		ck_assert_int_eq(ci.until - now, want);
		now = ci.until;
		want = want * 2 > 300000 ? 300000 : want * 2;
	}
	ck_assert_int_eq(want, 300000);
	/* quiet for longer than PX_GW_FORGET_MS: back to 1 s */
	now += PX_GW_FORGET_MS + 1;
	px_plan_init(&pl, c, r, "ff", 2, now);
	ck_assert_int_eq(px_plan_next(gw, &pl, now, &a), 1);
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	px_gw_report(gw, &pl, &a, &o, now);
	px_gw_cred_info(gw, c, 1, 0, now, &ci);
	ck_assert_int_eq(ci.until - now, 1000);
	ck_assert_uint_eq(ci.n_err, 13);
	ck_assert_uint_eq(ci.n_ok, 0);
	ck_assert_int_eq(ci.last_err, now);
	ck_assert_int_eq(ci.last_err_cls, PX_OUT_HTTP);
	ck_assert_int_eq(ci.last_err_status, 429);
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* A hint longer than PX_GW_HINT_MAX_MS is cut to it. */
START_TEST(t_hint_cap)
{
	struct px_config *c = load(base_cfg);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	struct px_cred_info ci;

	px_gw_reload(gw, c, T0);
	px_plan_init(&pl, c, px_route_find(c, "ff", 2), "ff", 2, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	offer_headers(&o, "Retry-After: 999999999");
	px_gw_report(gw, &pl, &a, &o, T0);
	px_gw_cred_info(gw, c, 1, 0, T0, &ci);
	ck_assert_int_eq(ci.until - T0, PX_GW_HINT_MAX_MS);
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* 401 stays until reload; the reload clears it, the same key works. */
/* A run-time credential disabled from outside a request (a failed token
 * renewal) is skipped with its reason in the admin view, and enabled
 * again by px_gw_cred_set(0). */
START_TEST(t_cred_set)
{
	struct px_config *c = load(base_cfg);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_cred_info ci;
	struct px_arena ar;
	struct jw w;
	const struct px_route *r = px_route_find(c, "ff", 2);
	unsigned char nope[32];

	px_gw_reload(gw, c, T0);
	ck_assert_int_eq(px_gw_cred_set(gw, c->providers[1].creds[0].id, 1,
	    401, "renewal refused: invalid_grant\n\"x\"", T0), 0);
	memset(nope, 7, sizeof nope);
	ck_assert_int_eq(px_gw_cred_set(gw, nope, 1, 401, "x", T0), -1);
	px_gw_cred_info(gw, c, 1, 0, T0 + 5, &ci);
	ck_assert_int_eq(ci.state, PX_CRED_DISABLED);
	ck_assert_int_eq(ci.disabled_status, 401);
	/* printable ASCII only: a reason is shown, never interpreted */
	ck_assert_str_eq(ci.disabled_why, "renewal refused: invalid_grant?\"x\"");
	px_plan_init(&pl, c, r, "ff", 2, T0 + 5);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 5, &a), 1);
	ck_assert_str_eq(a.k->label, "f#2");
	px_arena_init(&ar, 0);
	jw_init(&w, &ar, 0);
	px_gw_json(gw, c, T0 + 5, &w);
	ck_assert_ptr_nonnull(strstr(w.buf, "{\"label\":\"f#1\",\"state\":"
	    "\"disabled\",\"disabled\":{\"status\":401,\"since\":"
	    "\"2023-11-14T22:13:20Z\",\"reason\":\"renewal refused: "
	    "invalid_grant?\\\"x\\\"\"}"));
	px_arena_free(&ar);
	ck_assert_int_eq(px_gw_cred_set(gw, c->providers[1].creds[0].id, 0, 0,
	    NULL, T0 + 6), 0);
	px_gw_cred_info(gw, c, 1, 0, T0 + 7, &ci);
	ck_assert_int_eq(ci.state, PX_CRED_OK);
	ck_assert_str_eq(ci.disabled_why, "");
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* A 429 whose reset time came in its body (reset_at) cools the credential
 * until then, over any header; Anthropic's unified reset header (unix
 * seconds) is a hint too. */
START_TEST(t_reset_hints)
{
	struct px_config *c = load(base_cfg);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	struct px_cred_info ci;
	const struct px_route *r = px_route_find(c, "ff", 2);
	char v[32];

	px_gw_reload(gw, c, T0);
	px_plan_init(&pl, c, r, "ff", 2, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	px_outcome_header(&o, "Retry-After", 11, "5", 1);
	o.reset_at = T0 + 3600000;
	ck_assert_int_eq(px_gw_report(gw, &pl, &a, &o, T0), PX_RETRY);
	px_gw_cred_info(gw, c, 1, 0, T0 + 1, &ci);
	ck_assert_int_eq(ci.state, PX_CRED_COOLING);
	ck_assert_int_eq(ci.until, T0 + 3600000);
	/* the second credential: the unified window's reset */
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	snprintf(v, sizeof v, "%lld", (T0 + 7200000) / 1000);
	ck_assert_int_eq(px_outcome_header(&o,
	    "Anthropic-Ratelimit-Unified-Reset", 33, v, strlen(v)), 1);
	ck_assert_int_eq(px_gw_report(gw, &pl, &a, &o, T0), PX_RETRY);
	px_gw_cred_info(gw, c, 1, 1, T0 + 1, &ci);
	ck_assert_int_eq(ci.until, T0 + 7200000);
	/* ... which is no hint for a server error */
	px_plan_init(&pl, c, px_route_find(c, "bc", 2), "bc", 2, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	px_outcome_init(&o, PX_OUT_HTTP, 503);
	px_outcome_header(&o, "anthropic-ratelimit-unified-reset", 33, v,
	    strlen(v));
	o.reset_at = T0 + 3600000;
	px_gw_report(gw, &pl, &a, &o, T0);
	px_gw_cred_info(gw, c, 2, 0, T0 + 1, &ci);
	ck_assert_int_eq(ci.until, T0 + PX_GW_FAIL_MIN_MS);
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

START_TEST(t_disabled_until_reload)
{
	struct px_config *c = load(base_cfg), *c2 = load(base_cfg);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	struct px_cred_info ci;
	const struct px_route *r = px_route_find(c, "ff", 2);

	px_gw_reload(gw, c, T0);
	px_plan_init(&pl, c, r, "ff", 2, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	px_outcome_init(&o, PX_OUT_HTTP, 403);
	ck_assert_int_eq(px_gw_report(gw, &pl, &a, &o, T0), PX_RETRY);
	px_gw_cred_info(gw, c, 1, 0, T0 + 86400000LL * 365, &ci);
	ck_assert_int_eq(ci.state, PX_CRED_DISABLED);
	ck_assert_int_eq(ci.disabled_status, 403);
	/* the reload takes the new config (another copy, same keys) */
	px_gw_reload(gw, c2, T0 + 10);
	px_gw_cred_info(gw, c2, 1, 0, T0 + 10, &ci);
	ck_assert_int_eq(ci.state, PX_CRED_OK);
	ck_assert_uint_eq(ci.n_err, 1);           /* history is kept */
	r = px_route_find(c2, "ff", 2);
	px_plan_init(&pl, c2, r, "ff", 2, T0 + 10);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 10, &a), 1);
	ck_assert_str_eq(a.k->label, "f#1");
	px_gw_free(gw);
	px_config_free(c);
	px_config_free(c2);
}
END_TEST

/* Reload: unchanged credentials keep their cooldowns and counters,
 * removed ones are dropped (coming back, they start clean), a renamed
 * provider is a new one, round-robin continues. */
START_TEST(t_reload_state)
{
	static const char c1t[] =
	    "{\"providers\": [{\"name\": \"p\", \"type\": \"openai\", "
	    "\"api_keys\": [\"k1\", \"k2\"], \"strategy\": \"fill-first\"},\n"
	    " {\"name\": \"q\", \"type\": \"openai\", \"api_key\": \"kq\"}],\n"
	    " \"models\": {\"m\": [\"p\", \"q\"]}}";
	static const char c2t[] =
	    "{\"providers\": [{\"name\": \"p\", \"type\": \"openai\", "
	    "\"api_keys\": [\"k3\", {\"name\": \"first\", \"key\": \"k1\"}], "
	    "\"strategy\": \"fill-first\"},\n"
	    " {\"name\": \"q2\", \"type\": \"openai\", \"api_key\": \"kq\"}],\n"
	    " \"models\": {\"m\": [\"p\", \"q2\"]}}";
	struct px_config *c1 = load(c1t), *c2 = load(c2t), *c3 = load(c1t);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	struct px_cred_info ci;
	size_t nrec, ncred, nprov;

	px_gw_reload(gw, c1, T0);
	px_gw_counts(gw, &nrec, &ncred, &nprov);
	ck_assert_uint_eq(ncred, 3);
	ck_assert_uint_eq(nprov, 2);
	px_plan_init(&pl, c1, px_route_find(c1, "m", 1), "m", 1, T0);
	/* k1: 429 for 60 s; k2: 429 for 30 s; q: 503 */
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	offer_headers(&o, "Retry-After: 60");
	px_gw_report(gw, &pl, &a, &o, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	ck_assert_str_eq(a.k->label, "p#2");
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	offer_headers(&o, "Retry-After: 30");
	px_gw_report(gw, &pl, &a, &o, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	ck_assert_str_eq(a.p->name, "q");
	px_outcome_init(&o, PX_OUT_HTTP, 503);
	px_gw_report(gw, &pl, &a, &o, T0);
	px_gw_counts(gw, &nrec, NULL, NULL);
	ck_assert_uint_eq(nrec, 3);

	/* c2: k1 kept (renamed label, moved), k2 gone, k3 new, q renamed */
	px_gw_reload(gw, c2, T0 + 1000);
	px_gw_counts(gw, &nrec, &ncred, &nprov);
	ck_assert_uint_eq(nrec, 1);                /* k1's */
	ck_assert_uint_eq(ncred, 3);               /* k1, k3, q2's kq */
	ck_assert_uint_eq(nprov, 2);
	px_gw_cred_info(gw, c2, 0, 1, T0 + 1000, &ci);      /* "first" = k1 */
	ck_assert_int_eq(ci.state, PX_CRED_COOLING);
	ck_assert_int_eq(ci.until, T0 + 60000);
	ck_assert_uint_eq(ci.n_err, 1);
	px_gw_cred_info(gw, c2, 0, 0, T0 + 1000, &ci);      /* k3 */
	ck_assert_int_eq(ci.state, PX_CRED_OK);
	ck_assert_uint_eq(ci.n_err, 0);
	px_gw_cred_info(gw, c2, 1, 0, T0 + 1000, &ci);      /* q2: new id */
	ck_assert_int_eq(ci.state, PX_CRED_OK);
	/* the new config's order: k3 first (fill-first), k1 still cooling */
	px_plan_init(&pl, c2, px_route_find(c2, "m", 1), "m", 1, T0 + 1000);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 1000, &a), 1);
	ck_assert_str_eq(a.k->label, "p#1");
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	px_gw_report(gw, &pl, &a, &o, T0 + 1000);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 1000, &a), 1);
	ck_assert_str_eq(a.p->name, "q2");

	/* back to c1: k2 starts clean, k1 keeps its cooldown */
	px_gw_reload(gw, c3, T0 + 2000);
	px_gw_cred_info(gw, c3, 0, 1, T0 + 2000, &ci);
	ck_assert_int_eq(ci.state, PX_CRED_OK);
	ck_assert_uint_eq(ci.n_err, 0);
	px_gw_cred_info(gw, c3, 0, 0, T0 + 2000, &ci);
	ck_assert_int_eq(ci.state, PX_CRED_COOLING);
	ck_assert_uint_eq(ci.n_err, 1);
	px_gw_counts(gw, &nrec, &ncred, &nprov);
	ck_assert_uint_eq(ncred, 3);
	ck_assert_uint_eq(nrec, 1);

	px_gw_free(gw);
	px_config_free(c1);
	px_config_free(c2);
	px_config_free(c3);
}
END_TEST

/* A plan of the old config may report after a reload: a credential that
 * no longer exists gets no state; a kept one does. */
START_TEST(t_reload_inflight)
{
	struct px_config *c1 = load(base_cfg);
	struct px_config *c2 = load("{\"providers\": [{\"name\": \"b\", "
	    "\"type\": \"anthropic\", \"api_key\": \"b1\"}], \"models\": "
	    "{\"*\": \"b\"}}");
	struct px_gw *gw = px_gw_new();
	struct px_plan pl, pl2;
	struct px_attempt a, a2;
	struct px_outcome o;
	struct px_cred_info ci;
	size_t nrec;

	px_gw_reload(gw, c1, T0);
	px_plan_init(&pl, c1, px_route_find(c1, "ff", 2), "ff", 2, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	px_plan_init(&pl2, c1, px_route_find(c1, "bc", 2), "bc", 2, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl2, T0, &a2), 1);
	px_gw_reload(gw, c2, T0 + 1);
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	ck_assert_int_eq(px_gw_report(gw, &pl, &a, &o, T0 + 2), PX_RETRY);
	px_outcome_init(&o, PX_OUT_CONNECT, 0);
	ck_assert_int_eq(px_gw_report(gw, &pl2, &a2, &o, T0 + 2), PX_RETRY);
	px_gw_counts(gw, &nrec, NULL, NULL);
	ck_assert_uint_eq(nrec, 1);             /* b's, not f#1's */
	px_gw_cred_info(gw, c2, 0, 0, T0 + 2, &ci);
	ck_assert_int_eq(ci.state, PX_CRED_COOLING);
	/* the old plan carries on with the old config */
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 2, &a), 1);
	ck_assert_str_eq(a.k->label, "f#2");
	px_gw_free(gw);
	px_config_free(c1);
	px_config_free(c2);
}
END_TEST

/* The record table stays bounded: past 3/4 of PX_GW_SLOTS the expired
 * record goes first, else the one that ends soonest. */
START_TEST(t_bounded)
{
	struct px_config *c = load("{\"providers\": [{\"name\": \"p\", "
	    "\"type\": \"openai\", \"api_key\": \"k\"}], \"models\": "
	    "{\"*\": \"p\"}}");
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	const struct px_route *r = px_route_find(c, "x", 1);
	size_t nrec, max = PX_GW_SLOTS / 4 * 3;
	char m[32], ra[48];
	int i;

	px_gw_reload(gw, c, T0);
	/* model mi cools for (i + 10) s: m0 ends soonest */
	for (i = 0; i < (int)max + 1; i++) {
		snprintf(m, sizeof m, "m%d", i);
		px_plan_init(&pl, c, r, m, strlen(m), T0);
		ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
		px_outcome_init(&o, PX_OUT_HTTP, 429);
		snprintf(ra, sizeof ra, "Retry-After: %d", i + 10);
		offer_headers(&o, ra);
		px_gw_report(gw, &pl, &a, &o, T0);
		px_gw_counts(gw, &nrec, NULL, NULL);
		ck_assert_uint_le(nrec, max);
	}
	ck_assert_uint_eq(nrec, max);
	/* m0 was evicted; m1 and the newest still cool */
	px_plan_init(&pl, c, r, "m0", 2, T0 + 1);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 1, &a), 1);
	px_plan_init(&pl, c, r, "m1", 2, T0 + 1);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 1, &a), 0);
	snprintf(m, sizeof m, "m%d", (int)max);
	px_plan_init(&pl, c, r, m, strlen(m), T0 + 1);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 1, &a), 0);
	/* later, with m1..m20 expired: an expired one goes, not m21 */
	px_plan_init(&pl, c, r, "new", 3, T0 + 30500);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 30500, &a), 1);
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	offer_headers(&o, "Retry-After: 100");
	px_gw_report(gw, &pl, &a, &o, T0 + 30500);
	px_gw_counts(gw, &nrec, NULL, NULL);
	ck_assert_uint_eq(nrec, max);
	px_plan_init(&pl, c, r, "m21", 3, T0 + 30500);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 30500, &a), 0);
	px_plan_init(&pl, c, r, "new", 3, T0 + 30500);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 30500, &a), 0);
	/* successes delete records */
	px_plan_init(&pl, c, r, "m21", 3, T0 + 31000);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 31000, &a), 1);
	px_outcome_init(&o, PX_OUT_OK, 200);
	ck_assert_int_eq(px_gw_report(gw, &pl, &a, &o, T0 + 31000), PX_ANSWER);
	px_gw_counts(gw, &nrec, NULL, NULL);
	ck_assert_uint_eq(nrec, max - 1);
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* Deleting records from the open-addressing table never hides another:
 * fill it with clusters, delete a third, every survivor is still found. */
START_TEST(t_table_delete)
{
	struct px_config *c = load("{\"providers\": [{\"name\": \"p\", "
	    "\"type\": \"openai\", \"api_key\": \"k\"}], \"models\": "
	    "{\"*\": \"p\"}}");
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	const struct px_route *r = px_route_find(c, "x", 1);
	size_t nrec, n = PX_GW_SLOTS / 4 * 3 - 8;
	char m[32];
	int i, round;

	px_gw_reload(gw, c, T0);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < (int)n; i++) {
			snprintf(m, sizeof m, "r%d-%d", round, i);
			px_plan_init(&pl, c, r, m, strlen(m), T0);
			if (px_plan_next(gw, &pl, T0, &a) == 0)
				continue;          /* still cooling from before */
			px_outcome_init(&o, PX_OUT_HTTP, 429);
			offer_headers(&o, "Retry-After: 60");
			px_gw_report(gw, &pl, &a, &o, T0);
		}
		/* successes on every third model delete their records */
		for (i = 0; i < (int)n; i += 3) {
			snprintf(m, sizeof m, "r%d-%d", round, i);
			px_plan_init(&pl, c, r, m, strlen(m), T0 + 60000);
			ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 60000, &a),
			    1);
			px_outcome_init(&o, PX_OUT_OK, 200);
			px_gw_report(gw, &pl, &a, &o, T0 + 60000);
		}
		for (i = 0; i < (int)n; i++) {
			snprintf(m, sizeof m, "r%d-%d", round, i);
			px_plan_init(&pl, c, r, m, strlen(m), T0 + 1);
			ck_assert_msg(px_plan_next(gw, &pl, T0 + 1, &a) ==
			    (i % 3 == 0), "round %d model %s", round, m);
		}
		/* clear the rest for the next round */
		for (i = 0; i < (int)n; i++) {
			if (i % 3 == 0)
				continue;
			snprintf(m, sizeof m, "r%d-%d", round, i);
			px_plan_init(&pl, c, r, m, strlen(m), T0 + 60000);
			ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 60000, &a),
			    1);
			px_outcome_init(&o, PX_OUT_OK, 200);
			px_gw_report(gw, &pl, &a, &o, T0 + 60000);
		}
		px_gw_counts(gw, &nrec, NULL, NULL);
		ck_assert_uint_eq(nrec, 0);
	}
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* The attempt log: what the access log prints. */
START_TEST(t_log_str)
{
	struct px_config *c = load(base_cfg);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	char buf[256];
	size_t n;

	px_gw_reload(gw, c, T0);
	px_plan_init(&pl, c, px_route_find(c, "chain", 5), "chain", 5, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	px_outcome_init(&o, PX_OUT_CONNECT, 0);
	px_gw_report(gw, &pl, &a, &o, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	px_outcome_init(&o, PX_OUT_STREAM_ERROR, 529);
	px_gw_report(gw, &pl, &a, &o, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	ck_assert_str_eq(a.model, "chain");
	ck_assert_str_eq(a.body_model, "chain");
	ck_assert_int_eq(a.fmt, PX_FMT_GEMINI);
	n = px_plan_log_str(&pl, buf, sizeof buf);
	ck_assert_str_eq(buf, "a/a#1=connect,b/b#1=event529,c/c#1=pending");
	ck_assert_uint_eq(n, strlen(buf));
	px_outcome_init(&o, PX_OUT_HTTP, 200);
	ck_assert_int_eq(px_gw_report(gw, &pl, &a, &o, T0), PX_ANSWER);
	px_plan_log_str(&pl, buf, sizeof buf);
	ck_assert_str_eq(buf, "a/a#1=connect,b/b#1=event529,c/c#1=200");
	ck_assert_int_eq(pl.nattempts, 3);
	/* truncation keeps whole entries */
	px_plan_log_str(&pl, buf, 20);
	ck_assert_str_eq(buf, "a/a#1=connect");
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 0);
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* Attempts carry the upstream model, the Azure deployment and the format. */
START_TEST(t_attempt_fields)
{
	struct px_config *c = load(
	    "{\"providers\": [{\"name\": \"az\", \"type\": \"azure\", "
	    "\"base_url\": \"https://r.openai.azure.com\", \"api_key\": \"k\", "
	    "\"deployments\": {\"gpt-4o\": \"prod\"}, "
	    "\"responses_models\": [\"o3*\"]}],\n"
	    " \"models\": {\"big\": \"az/gpt-4o\", \"o3-pro\": \"az\"}}");
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;

	px_gw_reload(gw, c, T0);
	px_plan_init(&pl, c, px_route_find(c, "big", 3), "big", 3, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	ck_assert_str_eq(a.model, "gpt-4o");
	ck_assert_str_eq(a.body_model, "prod");
	ck_assert_int_eq(a.fmt, PX_FMT_CHAT);
	ck_assert_int_eq(a.target, 0);
	px_plan_init(&pl, c, px_route_find(c, "o3-pro", 6), "o3-pro", 6, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);
	ck_assert_str_eq(a.model, "o3-pro");
	ck_assert_int_eq(a.fmt, PX_FMT_RESPONSES);
	/* a model name too long for the plan */
	{
		char big[PX_PLAN_MODEL_MAX + 1];

		memset(big, 'x', sizeof big);
		ck_assert_int_eq(px_plan_init(&pl, c, px_route_find(c, "big",
		    3), big, sizeof big, T0), -1);
	}
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ health */

static const char health_cfg[] =
"{\"providers\": [\n"
" {\"name\": \"h\", \"type\": \"openai\", \"api_keys\": [\"h1\", \"h2\"],\n"
"  \"health_check\": {\"interval_s\": 30, \"model\": \"probe\"}},\n"
" {\"name\": \"g\", \"type\": \"anthropic\", \"api_key\": \"g1\",\n"
"  \"health_check\": {\"interval_s\": 45, \"model\": \"tiny\"}},\n"
" {\"name\": \"n\", \"type\": \"openai\"}],\n"
" \"models\": {\"m\": [\"h\", \"n\"]}}";

START_TEST(t_health_schedule)
{
	struct px_config *c = load(health_cfg);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	int64_t next = -1;

	px_gw_reload(gw, c, T0);
	/* both due at once on start */
	ck_assert_int_eq(px_gw_health_due(gw, c, T0, &pl, &a, &next), 1);
	ck_assert_str_eq(a.p->name, "h");
	ck_assert_str_eq(a.k->label, "h#1");
	ck_assert_str_eq(a.model, "probe");
	ck_assert_int_eq(a.target, -1);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(px_gw_health_due(gw, c, T0, &pl, &a, &next), 1);
	ck_assert_str_eq(a.p->name, "g");
	ck_assert_int_eq(px_gw_health_due(gw, c, T0, &pl, &a, &next), 0);
	ck_assert_int_eq(next, T0 + 30000);
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 29999, &pl, &a, &next),
	    0);
	ck_assert_int_eq(next, T0 + 30000);
	/* h again, with its next key */
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 30000, &pl, &a, &next),
	    1);
	ck_assert_str_eq(a.k->label, "h#2");
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 30000, &pl, &a, &next),
	    0);
	ck_assert_int_eq(next, T0 + 45000);
	/* a 401 on the check disables h#1: the next checks use h#2 only */
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 60000, &pl, &a, &next),
	    1);
	ck_assert_str_eq(a.k->label, "h#1");
	px_outcome_init(&o, PX_OUT_HTTP, 401);
	px_gw_report(gw, &pl, &a, &o, T0 + 60000);
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 90000, &pl, &a, &next),
	    1);
	ck_assert_str_eq(a.k->label, "h#2");
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 90000, &pl, &a, &next),
	    1);                                           /* g, due at 90 s */
	ck_assert_str_eq(a.p->name, "g");
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 120000, &pl, &a,
	    &next), 1);
	ck_assert_str_eq(a.k->label, "h#2");
	/* no checks configured: next_at 0 */
	{
		struct px_config *c2 = load("{\"providers\": [{\"name\": \"n\", "
		    "\"type\": \"openai\"}]}");

		px_gw_reload(gw, c2, T0);
		ck_assert_int_eq(px_gw_health_due(gw, c2, T0, &pl, &a, &next),
		    0);
		ck_assert_int_eq(next, 0);
		px_config_free(c2);
	}
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* A failing check takes the provider out for every model before a client
 * meets it; a passing one brings it back at once. */
START_TEST(t_health_effect)
{
	struct px_config *c = load(health_cfg);
	struct px_gw *gw = px_gw_new();
	struct px_plan pl, hp;
	struct px_attempt a, ha;
	struct px_outcome o;
	const struct px_route *r = px_route_find(c, "m", 1);

	px_gw_reload(gw, c, T0);
	ck_assert_int_eq(px_gw_health_due(gw, c, T0, &hp, &ha, NULL), 1);
	px_outcome_init(&o, PX_OUT_HTTP, 503);
	offer_headers(&o, "Retry-After: 100");
	px_gw_report(gw, &hp, &ha, &o, T0);
	/* requests skip h (a 503 on "probe" counts for "m" too) */
	px_plan_init(&pl, c, r, "m", 1, T0 + 10);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 10, &a), 1);
	ck_assert_str_eq(a.p->name, "n");
	/* the next check passes: h is back before its 100 s end */
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 30000, &hp, &ha, NULL),
	    1);
	px_outcome_init(&o, PX_OUT_OK, 200);
	ck_assert_int_eq(px_gw_report(gw, &hp, &ha, &o, T0 + 30000),
	    PX_ANSWER);
	px_plan_init(&pl, c, r, "m", 1, T0 + 30000);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 30000, &a), 1);
	ck_assert_str_eq(a.p->name, "h");
	/* a connection failure on a check */
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 30000, &hp, &ha, NULL),
	    1);
	ck_assert_str_eq(ha.p->name, "g");
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 60000, &hp, &ha, NULL),
	    1);
	ck_assert_str_eq(ha.p->name, "h");
	px_outcome_init(&o, PX_OUT_CONNECT, 0);
	px_gw_report(gw, &hp, &ha, &o, T0 + 60000);
	px_plan_init(&pl, c, r, "m", 1, T0 + 60001);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 60001, &a), 1);
	ck_assert_str_eq(a.p->name, "n");
	/* a health plan hands out nothing more */
	ck_assert_int_eq(px_plan_next(gw, &hp, T0 + 60000, &ha), 0);
	/* while a check fails, it keeps the provider out */
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 90000, &hp, &ha, NULL),
	    1);
	px_outcome_init(&o, PX_OUT_TIMEOUT, 0);
	px_gw_report(gw, &hp, &ha, &o, T0 + 90000);
	px_plan_init(&pl, c, r, "m", 1, T0 + 90999);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 90999, &a), 1);
	ck_assert_str_eq(a.p->name, "n");
	ck_assert_int_eq(px_gw_health_due(gw, c, T0 + 120000, &hp, &ha, NULL),
	    1);
	px_outcome_init(&o, PX_OUT_HTTP, 200);
	px_gw_report(gw, &hp, &ha, &o, T0 + 120000);
	px_plan_init(&pl, c, r, "m", 1, T0 + 120000);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 120000, &a), 1);
	ck_assert_str_eq(a.p->name, "h");
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ admin view */

START_TEST(t_json)
{
	struct px_config *c = load(
	    "{\"providers\": [\n"
	    " {\"name\": \"p\", \"type\": \"openai\", \"api_keys\": "
	    "[\"sk-secret-1\", {\"name\": \"team\", \"key\": \"sk-secret-2\"}, "
	    "\"sk-secret-3\"]},\n"
	    " {\"name\": \"q\", \"type\": \"anthropic\", \"health_check\": "
	    "{\"interval_s\": 60, \"model\": \"tiny\"}}],\n"
	    " \"models\": {\"m\": [\"p\", \"q\"]}}");
	struct px_gw *gw = px_gw_new();
	struct px_plan pl;
	struct px_attempt a;
	struct px_outcome o;
	struct px_arena ar;
	struct jw w;

	px_gw_reload(gw, c, T0);
	px_plan_init(&pl, c, px_route_find(c, "m", 1), "m", 1, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);     /* p#1 */
	px_outcome_init(&o, PX_OUT_HTTP, 429);
	offer_headers(&o, "Retry-After: 30");
	px_gw_report(gw, &pl, &a, &o, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);     /* team */
	px_outcome_init(&o, PX_OUT_HTTP, 401);
	px_gw_report(gw, &pl, &a, &o, T0);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0, &a), 1);     /* p#3 */
	px_outcome_init(&o, PX_OUT_OK, 200);
	px_gw_report(gw, &pl, &a, &o, T0 + 1000);
	px_plan_init(&pl, c, px_route_find(c, "m", 1), "m", 1, T0 + 2000);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 2000, &a), 1);
	ck_assert_str_eq(a.k->label, "p#3");
	px_outcome_init(&o, PX_OUT_CONNECT, 0);
	px_gw_report(gw, &pl, &a, &o, T0 + 2000);
	ck_assert_int_eq(px_plan_next(gw, &pl, T0 + 2000, &a), 1);
	ck_assert_str_eq(a.p->name, "q");
	px_outcome_init(&o, PX_OUT_HTTP, 503);
	px_gw_report(gw, &pl, &a, &o, T0 + 2000);

	px_arena_init(&ar, 0);
	jw_init(&w, &ar, 0);
	px_gw_json(gw, c, T0 + 2500, &w);
	ck_assert_int_eq(w.err, 0);
	ck_assert_str_eq(w.buf,
	    "{\"providers\":["
	    "{\"name\":\"p\",\"type\":\"openai\",\"state\":\"down\","
	    "\"down\":{\"until\":\"2023-11-14T22:13:23Z\",\"class\":\"connect\","
	    "\"status\":0},"
	    "\"cooling\":[],\"health_check\":null,"
	    "\"credentials\":["
	    "{\"label\":\"p#1\",\"state\":\"cooling\",\"disabled\":null,"
	    "\"cooling\":[{\"model\":\"m\",\"until\":\"2023-11-14T22:13:50Z\","
	    "\"class\":\"http\",\"status\":429}],"
	    "\"last_success\":null,\"last_error\":{\"class\":\"http\","
	    "\"status\":429,\"at\":\"2023-11-14T22:13:20Z\"},"
	    "\"successes\":0,\"failures\":1},"
	    "{\"label\":\"team\",\"state\":\"disabled\",\"disabled\":"
	    "{\"status\":401,\"since\":\"2023-11-14T22:13:20Z\",\"reason\":null},"
	    "\"cooling\":[],\"last_success\":null,\"last_error\":"
	    "{\"class\":\"http\",\"status\":401,\"at\":\"2023-11-14T22:13:20Z\"},"
	    "\"successes\":0,\"failures\":1},"
	    "{\"label\":\"p#3\",\"state\":\"cooling\",\"disabled\":null,"
	    "\"cooling\":[],\"last_success\":\"2023-11-14T22:13:21Z\","
	    "\"last_error\":{\"class\":\"connect\",\"status\":0,"
	    "\"at\":\"2023-11-14T22:13:22Z\"},\"successes\":1,\"failures\":1}]},"
	    "{\"name\":\"q\",\"type\":\"anthropic\",\"state\":\"degraded\","
	    "\"down\":null,\"cooling\":[{\"model\":\"m\","
	    "\"until\":\"2023-11-14T22:13:23Z\",\"class\":\"http\","
	    "\"status\":503}],"
	    "\"health_check\":{\"interval_s\":60,\"model\":\"tiny\","
	    "\"next\":\"2023-11-14T22:13:20Z\"},"
	    "\"credentials\":[{\"label\":\"q#1\",\"state\":\"cooling\","
	    "\"disabled\":null,\"cooling\":[],\"last_success\":null,"
	    "\"last_error\":{\"class\":\"http\",\"status\":503,"
	    "\"at\":\"2023-11-14T22:13:22Z\"},\"successes\":0,\"failures\":1}]}"
	    "]}");
	ck_assert_ptr_null(strstr(w.buf, "secret"));
	px_arena_free(&ar);
	px_gw_free(gw);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ ranking */

START_TEST(t_rank)
{
	static const struct { int cls, status; } order[] = {
		{ PX_OUT_HTTP, 429 }, { PX_OUT_HTTP, 529 }, { PX_OUT_HTTP, 503 },
		{ PX_OUT_HTTP, 500 }, { PX_OUT_HTTP, 401 }, { PX_OUT_HTTP, 418 },
		{ PX_OUT_TIMEOUT, 0 }, { PX_OUT_TLS, 0 }, { PX_OUT_CONNECT, 0 },
		{ PX_OUT_DNS, 0 },
	};
	size_t i;

	for (i = 1; i < sizeof order / sizeof order[0]; i++)
		ck_assert_int_gt(px_outcome_rank(order[i - 1].cls,
		    order[i - 1].status), px_outcome_rank(order[i].cls,
		    order[i].status));
	ck_assert_int_eq(px_outcome_rank(PX_OUT_HTTP, 502),
	    px_outcome_rank(PX_OUT_HTTP, 504));
	ck_assert_int_eq(px_outcome_rank(PX_OUT_STREAM_ERROR, 429),
	    px_outcome_rank(PX_OUT_HTTP, 429));
	ck_assert_int_eq(px_outcome_rank(PX_OUT_STREAM_ERROR, 0),
	    px_outcome_rank(PX_OUT_HTTP, 500));
	ck_assert_int_eq(px_outcome_rank(PX_OUT_HTTP, 403),
	    px_outcome_rank(PX_OUT_HTTP, 401));
	ck_assert_str_eq(px_out_class_name(PX_OUT_STREAM_ERROR),
	    "stream_error");
	ck_assert_int_eq(px_retry_after_s(0, T0), 0);
	ck_assert_int_eq(px_retry_after_s(T0 - 5, T0), 1);
	ck_assert_int_eq(px_retry_after_s(T0 + 1, T0), 1);
	ck_assert_int_eq(px_retry_after_s(T0 + 1001, T0), 2);
	ck_assert_int_eq(px_retry_after_s(T0 + 2000, T0), 2);
}
END_TEST

/* Headers are matched in any case and trimmed; others are ignored. */
START_TEST(t_outcome_headers)
{
	struct px_outcome o;

	px_outcome_init(&o, PX_OUT_HTTP, 429);
	ck_assert_int_eq(px_outcome_header(&o, "RETRY-AFTER", 11, "  12 ",
	    5), 1);
	ck_assert_int_eq(o.hdr[PX_H_RETRY_AFTER].n, 2);
	ck_assert_int_eq(memcmp(o.hdr[PX_H_RETRY_AFTER].p, "12", 2), 0);
	ck_assert_int_eq(px_outcome_header(&o, "X-RateLimit-Remaining-Tokens",
	    28, "0", 1), 1);
	ck_assert_int_eq(o.remaining[PX_H_OAI_TOKENS].n, 1);
	ck_assert_int_eq(px_outcome_header(&o, "retry-after-m", 13, "1", 1),
	    0);
	ck_assert_int_eq(px_outcome_header(&o, "content-type", 12, "x", 1),
	    0);
	ck_assert_int_eq(px_outcome_header(&o, "anthropic-ratelimit-input-"
	    "tokens-reset", 38, "2023-11-14T22:13:25Z", 20), 1);
	ck_assert_int_eq(o.hdr[PX_H_ANT_INPUT].n, 20);
}
END_TEST

/* ------------------------------------------------------------ time text */

static const struct {
	const char *in;
	long long want;       /* ms after T0; LLONG_MIN = -1 (unparseable) */
} racases[] = {
	{ "0", 0 },
	{ "120", 120000 },
	{ "Tue, 14 Nov 2023 22:13:50 GMT", 30000 },           /* IMF-fixdate */
	{ "Tuesday, 14-Nov-23 22:13:50 GMT", 30000 },         /* RFC 850 */
	{ "Tue Nov 14 22:13:50 2023", 30000 },                /* asctime */
	{ "Tue Nov  4 22:13:50 2023", -10 * 86400000LL + 30000 },
	{ "Tue, 14 Nov 2023 22:13:10 GMT", -10000 },          /* in the past */
	{ "Wed, 01 Jan 2025 00:00:00 GMT", 1735689600000LL - T0 },
	{ "", LLONG_MIN },
	{ "-1", LLONG_MIN },
	{ "1.5", LLONG_MIN },
	{ "soon", LLONG_MIN },
	{ "Tue, 14 Nov 2023 22:13:50 UTC", LLONG_MIN },
	{ "Tue, 14 Nov 2023 22:13:50", LLONG_MIN },
	{ "Tue, 31 Feb 2023 22:13:50 GMT", LLONG_MIN },
	{ "Tue, 14 Nox 2023 22:13:50 GMT", LLONG_MIN },
	{ "Tue, 14 Nov 2023 24:13:50 GMT", LLONG_MIN },
	{ "Tue, 14 Nov 2023 22:13:50 GMTx", LLONG_MIN },
};

START_TEST(t_retry_after)
{
	int64_t t = px_parse_retry_after(racases[_i].in,
	    strlen(racases[_i].in), T0);

	if (racases[_i].want == LLONG_MIN)
		ck_assert_msg(t == -1, "%s: %lld", racases[_i].in, (long long)t);
	else
		ck_assert_msg(t == T0 + racases[_i].want, "%s: %lld",
		    racases[_i].in, (long long)(t - T0));
}
END_TEST

static const struct {
	const char *in;
	long long want;       /* ms after T0, LLONG_MIN = error */
} rfccases[] = {
	{ "2023-11-14T22:13:20Z", 0 },
	{ "2023-11-14t22:13:20z", 0 },
	{ "2023-11-14 22:13:20Z", 0 },
	{ "2023-11-14T22:13:20.5Z", 500 },
	{ "2023-11-14T22:13:20.123456Z", 123 },
	{ "2023-11-14T23:13:20+01:00", 0 },
	{ "2023-11-14T21:43:20-00:30", 0 },
	{ "2024-02-29T00:00:00Z", 1709164800000LL - T0 },
	{ "2023-11-14T22:13:20", LLONG_MIN },
	{ "2023-11-14T22:13Z", LLONG_MIN },
	{ "2023-02-30T00:00:00Z", LLONG_MIN },
	{ "2023-11-14T22:13:20.Z", LLONG_MIN },
	{ "2023-11-14T22:13:20+0100", LLONG_MIN },
	{ "2023-11-14T22:13:20Zx", LLONG_MIN },
	{ "23-11-14T22:13:20Z", LLONG_MIN },
};

START_TEST(t_rfc3339)
{
	int64_t t = 0;
	int rc = px_parse_rfc3339(rfccases[_i].in, strlen(rfccases[_i].in), &t);

	if (rfccases[_i].want == LLONG_MIN)
		ck_assert_msg(rc == -1, "%s", rfccases[_i].in);
	else {
		ck_assert_msg(rc == 0, "%s", rfccases[_i].in);
		ck_assert_msg(t == T0 + rfccases[_i].want, "%s: %lld",
		    rfccases[_i].in, (long long)(t - T0));
	}
}
END_TEST

static const struct {
	const char *in;
	long long ms;         /* LLONG_MIN = error */
} durcases[] = {
	{ "1s", 1000 }, { "6m0s", 360000 }, { "20ms", 20 }, { "0", 0 },
	{ "1h2m3.5s", 3723500 }, { "1.5s", 1500 }, { "250us", 1 },
	{ "250\xc2\xb5s", 1 }, { "1500ns", 1 }, { "2m", 120000 },
	{ "0.001s", 1 }, { "7.66s", 7660 }, { "1m30.25s", 90250 },
	{ "", LLONG_MIN }, { "s", LLONG_MIN }, { "5", LLONG_MIN },
	{ "5x", LLONG_MIN }, { "-1s", LLONG_MIN }, { "1s ", LLONG_MIN },
	{ ".s", LLONG_MIN },
};

START_TEST(t_duration)
{
	int64_t ms = -7;
	int rc = px_parse_duration(durcases[_i].in, strlen(durcases[_i].in),
	    &ms);

	if (durcases[_i].ms == LLONG_MIN)
		ck_assert_msg(rc == -1, "%s", durcases[_i].in);
	else {
		ck_assert_msg(rc == 0, "%s", durcases[_i].in);
		ck_assert_msg(ms == durcases[_i].ms, "%s: %lld",
		    durcases[_i].in, (long long)ms);
	}
}
END_TEST

START_TEST(t_fmt_time)
{
	char buf[32];
	int64_t t;

	ck_assert_str_eq(px_fmt_rfc3339(T0, buf, sizeof buf),
	    "2023-11-14T22:13:20Z");
	ck_assert_str_eq(px_fmt_rfc3339(T0 + 999, buf, sizeof buf),
	    "2023-11-14T22:13:20Z");
	ck_assert_str_eq(px_fmt_rfc3339(0, buf, sizeof buf),
	    "1970-01-01T00:00:00Z");
	ck_assert_str_eq(px_fmt_rfc3339(951782400000LL, buf, sizeof buf),
	    "2000-02-29T00:00:00Z");
	/* round trip over 40 years of days */
	for (t = 0; t < 40LL * 366 * 86400000; t += 86400000LL * 7 + 3601000) {
		int64_t back;

		px_fmt_rfc3339(t, buf, sizeof buf);
		ck_assert_int_eq(px_parse_rfc3339(buf, strlen(buf), &back), 0);
		ck_assert_int_eq(back, t - t % 1000);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("route");
	SRunner *sr;
	int nf;

#define LOOP(t, arr) tcase_add_loop_test(tc, t, 0, \
	    (int)(sizeof arr / sizeof arr[0]))
	LOOP(t_scenario, scens);
	tcase_add_test(tc, t_backoff_cap);
	tcase_add_test(tc, t_hint_cap);
	tcase_add_test(tc, t_disabled_until_reload);
	tcase_add_test(tc, t_cred_set);
	tcase_add_test(tc, t_reset_hints);
	tcase_add_test(tc, t_reload_state);
	tcase_add_test(tc, t_reload_inflight);
	tcase_add_test(tc, t_bounded);
	tcase_add_test(tc, t_table_delete);
	tcase_add_test(tc, t_log_str);
	tcase_add_test(tc, t_attempt_fields);
	tcase_add_test(tc, t_health_schedule);
	tcase_add_test(tc, t_health_effect);
	tcase_add_test(tc, t_json);
	tcase_add_test(tc, t_rank);
	tcase_add_test(tc, t_outcome_headers);
	LOOP(t_retry_after, racases);
	LOOP(t_rfc3339, rfccases);
	LOOP(t_duration, durcases);
	tcase_add_test(tc, t_fmt_time);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
