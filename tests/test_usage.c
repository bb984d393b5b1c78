/*
 * test_usage.c - usage and cost records (usage.c): the record encoding
 * (exact bytes, every truncation, strictness), the price table (built-in
 * lookup, dated snapshots, the config's "prices" with its errors), the cost
 * arithmetic in exact micro-USD for each vendor's usage shape as the codecs
 * decode it, the log (spend per day and month, flush timing, a torn or
 * corrupt tail at every offset, kill -9 while writing and while
 * compacting, a failing write), the roll-up (totals unchanged, idempotent,
 * late records merged), the chart JSON and `llmproxy usage` byte for byte.
 */
#include <check.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "convert.h"
#include "store.h"
#include "usage.h"
#include "testutil.h"

static char dir[256];
static char logpath[300];

static void
mkdir_tmp(void)
{
	snprintf(dir, sizeof dir, "%s/pxusage.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(logpath, sizeof logpath, "%s/" PX_USAGE_FILE, dir);
}

static void
rm_tmp(void)
{
	char p[320];

	unlink(logpath);
	snprintf(p, sizeof p, "%s.tmp", logpath);
	unlink(p);
	snprintf(p, sizeof p, "%s.bad", logpath);
	unlink(p);
	ck_assert_int_eq(rmdir(dir), 0);
}

/* unix ms of a UTC time */
static long long
ms(int y, int mo, int d, int h, int mi)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (long long)timegm(&tm) * 1000;
}

#define NOW ms(2026, 12, 4, 10, 30)

static struct px_str
S(const char *s)
{
	struct px_str r = { s, s ? strlen(s) : 0 };
	return r;
}

static struct px_usage_rec
rec(long long t, const char *key, const char *model, const char *prov,
    const char *up, int status, long long in, long long out, long long cr,
    long long cw)
{
	struct px_usage_rec r;

	memset(&r, 0, sizeof r);
	r.t_ms = t;
	r.key = S(key);
	r.fmt = S("chat");
	r.model = S(model);
	r.provider = S(prov);
	r.cred = S("main");
	r.upstream_model = S(up);
	r.status = status;
	r.tok.input = in;
	r.tok.output = out;
	r.tok.cache_read = cr;
	r.tok.cache_write = cw;
	r.tok.reasoning = -1;
	r.tok.cost_uusd = -1;
	r.cost_uusd = -1;
	r.latency_ms = 120;
	r.ttfb_ms = 40;
	r.attempts = 1;
	return r;
}

static struct px_usage *
uopen(const char *path, int retain, const struct px_prices *pt,
      long long now)
{
	struct px_usage_opts o;
	char err[512];
	struct px_usage *u;

	memset(&o, 0, sizeof o);
	o.path = path;
	o.retain_days = retain;
	o.prices = pt;
	err[0] = 0;
	u = px_usage_open(&o, now, err, sizeof err);
	ck_assert_msg(u != NULL, "open: %s", err);
	return u;
}

static void
add(struct px_usage *u, struct px_usage_rec r, long long now)
{
	px_usage_add(u, &r, now);
}

static struct px_usage_stats
stats(const struct px_usage *u)
{
	struct px_usage_stats st;

	px_usage_stats(u, &st);
	return st;
}

static void
spit(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static char *
slurp(const char *path, size_t *n)
{
	char *p = read_file(path, n);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* run `llmproxy usage` with a NULL-terminated argument list; returns the
 * exit status, *out and *err malloc'd */
static int
cmd(long long now, char **out, char **err, ...)
{
	char *argv[16], *a;
	size_t on = 0, en = 0;
	FILE *fo = open_memstream(out, &on), *fe = open_memstream(err, &en);
	va_list ap;
	int argc = 0, rc;

	argv[argc++] = "usage";
	va_start(ap, err);
	while ((a = va_arg(ap, char *)) != NULL && argc < 15)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	rc = px_usage_cmd(argc, argv, dir, now, fo, fe);
	fclose(fo);
	fclose(fe);
	return rc;
}

/* output of a command that must succeed with no diagnostics */
static char *
report(long long now, const char *a1, const char *a2, const char *a3,
       const char *a4)
{
	char *out, *err;

	ck_assert_int_eq(cmd(now, &out, &err, a1, a2, a3, a4, NULL), 0);
	ck_assert_msg(err[0] == 0, "stderr: %s", err);
	free(err);
	return out;
}

/* ------------------------------------------------------------ encoding */

START_TEST(t_encode_exact)
{
	static const unsigned char want[] = {
		0xd0, 0x0f,                     /* t_ms 1000 (zigzag 2000) */
		0x01, 'k', 0x04, 'c', 'h', 'a', 't', 0x01, 'm', 0x01, 'p',
		0x00, 0x01, 'u',                /* key fmt model prov cred up */
		0x90, 0x03,                     /* status 200 */
		0x14, 0x01, 0x01, 0x01, 0x01,   /* in 10, out/cr/cw/rs -1 */
		0x01,                           /* cost -1 */
		0x0a, 0x01, 0x02                /* latency 5, ttfb -1, 1 */
	};
	unsigned char b[PX_USAGE_REC_MAX], b2[PX_USAGE_REC_MAX];
	struct px_usage_rec r, d;
	size_t n, i;

	memset(&r, 0, sizeof r);
	r.t_ms = 1000;
	r.key = S("k");
	r.fmt = S("chat");
	r.model = S("m");
	r.provider = S("p");
	r.cred = S("");
	r.upstream_model = S("u");
	r.status = 200;
	r.tok.input = 10;
	r.tok.output = r.tok.cache_read = r.tok.cache_write = -1;
	r.tok.reasoning = -7;                   /* stored as -1 */
	r.cost_uusd = -1;
	r.latency_ms = 5;
	r.ttfb_ms = -1;
	r.attempts = 1;
	n = px_usage_encode(&r, b, sizeof b);
	ck_assert_uint_eq(n, sizeof want);
	ck_assert_int_eq(memcmp(b, want, n), 0);
	ck_assert_uint_eq(px_usage_encode(&r, b, n - 1), 0);  /* no room */
	ck_assert_int_eq(px_usage_decode(b, n, &d), 0);
	ck_assert_int_eq(d.t_ms, 1000);
	ck_assert_int_eq((int)d.key.n, 1);
	ck_assert_int_eq(d.key.p[0], 'k');
	ck_assert_int_eq((int)d.cred.n, 0);
	ck_assert_int_eq(d.status, 200);
	ck_assert_int_eq(d.tok.input, 10);
	ck_assert_int_eq(d.tok.reasoning, -1);
	ck_assert_int_eq(d.latency_ms, 5);
	ck_assert_int_eq(d.attempts, 1);
	/* every truncation and a trailing byte are refused */
	for (i = 0; i < n; i++) {
		struct guard g;
		unsigned char *p = (unsigned char *)guard_copy(&g, b, i);
		ck_assert_int_eq(px_usage_decode(p, i, &d), -1);
		guard_free(&g);
	}
	b[n] = 0;
	ck_assert_int_eq(px_usage_decode(b, n + 1, &d), -1);
	/* a redundant varint byte (0 as 80 00) is refused */
	b2[0] = 0x80;
	b2[1] = 0x00;
	memcpy(b2 + 2, b + 2, n - 2);
	ck_assert_int_eq(px_usage_decode(b2, n, &d), -1);
	/* a status out of range is refused, and stored as 0 */
	memcpy(b2, b, n);
	b2[16] = 0xd0;                          /* 1000 */
	b2[17] = 0x0f;
	ck_assert_int_eq(px_usage_decode(b2, n, &d), -1);
	r.status = 1000;
	r.attempts = 70000;
	n = px_usage_encode(&r, b, sizeof b);
	ck_assert_int_eq(px_usage_decode(b, n, &d), 0);
	ck_assert_int_eq(d.status, 0);
	ck_assert_int_eq(d.attempts, 65535);
}
END_TEST

START_TEST(t_encode_roundtrip)
{
	char name[300];
	unsigned char b[PX_USAGE_REC_MAX], b2[PX_USAGE_REC_MAX];
	struct px_usage_rec r, d;
	struct px_usage_day day, dd;
	size_t n;

	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = 0;
	r = rec(-5, name, "claude-opus-5", "ant", "", 599,
	    9223372036854775807LL, 0, 5, 6);
	r.cost_uusd = 123456789;
	r.tok.reasoning = 3;
	r.ttfb_ms = -1;
	n = px_usage_encode(&r, b, sizeof b);
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(px_usage_decode(b, n, &d), 0);
	ck_assert_int_eq(d.t_ms, -5);
	ck_assert_uint_eq(d.key.n, PX_USAGE_STR_MAX);   /* cut */
	ck_assert_int_eq(d.status, 599);
	ck_assert_int_eq(d.tok.input, 9223372036854775807LL);
	ck_assert_int_eq(d.tok.output, 0);
	ck_assert_int_eq(d.tok.cache_write, 6);
	ck_assert_int_eq(d.cost_uusd, 123456789);
	ck_assert_uint_eq(px_usage_encode(&d, b2, sizeof b2), n);
	ck_assert_int_eq(memcmp(b, b2, n), 0);

	memset(&day, 0, sizeof day);
	day.day = 20000;
	day.key = S("k");
	day.model = S("m");
	day.provider = S("");
	day.requests = 3;
	day.errors = 1;
	day.unpriced = 2;
	day.input = 100;
	day.cost_uusd = 7;
	n = px_usage_day_encode(&day, b, sizeof b);
	ck_assert_int_eq(px_usage_day_decode(b, n, &dd), 0);
	ck_assert_int_eq(dd.day, 20000);
	ck_assert_int_eq(dd.requests, 3);
	ck_assert_int_eq(dd.errors, 1);
	ck_assert_int_eq(dd.unpriced, 2);
	ck_assert_int_eq(dd.input, 100);
	ck_assert_int_eq(dd.cost_uusd, 7);
	ck_assert_uint_eq(px_usage_day_encode(&dd, b2, sizeof b2), n);
	ck_assert_int_eq(memcmp(b, b2, n), 0);
	ck_assert_int_eq(px_usage_decode(b, n, &d), -1);   /* not a 'U' */
	/* more errors than requests cannot be */
	day.errors = 3;
	n = px_usage_day_encode(&day, b, sizeof b);
	/* ... requests, errors, unpriced, input (100), then five 1-byte
	 * fields */
	ck_assert_int_eq(b[n - 9], 3);
	ck_assert_int_eq(b[n - 8], 3);
	b[n - 8] = 4;               /* errors 3 -> 4 */
	ck_assert_int_eq(px_usage_day_decode(b, n, &dd), -1);
	b[n - 8] = 3;
	ck_assert_int_eq(px_usage_day_decode(b, n, &dd), 0);
}
END_TEST

/* ------------------------------------------------------------ prices */

static long long
price_in(const struct px_prices *pt, const char *model)
{
	const struct px_price *p = px_price_find(pt, model, strlen(model));
	return p ? p->in : -2;
}

START_TEST(t_prices_builtin)
{
	ck_assert_str_eq(px_prices_date, "2026-12-04");
	ck_assert_int_eq(price_in(NULL, "claude-opus-5"), 5000000);
	ck_assert_int_eq(price_in(NULL, "claude-opus-5-5"), 4000000);
	/* dated snapshots map to their family, other suffixes do not */
	ck_assert_int_eq(price_in(NULL, "claude-haiku-4-5-20251001"), 1000000);
	ck_assert_int_eq(price_in(NULL, "claude-opus-5-2026-07-24"), 5000000);
	ck_assert_int_eq(price_in(NULL, "claude-opus-5-latest"), -2);
	ck_assert_int_eq(price_in(NULL, "claude-opus-5-202607"), -2);
	ck_assert_int_eq(price_in(NULL, "claude-opus"), -2);
	ck_assert_int_eq(price_in(NULL, "gpt-6.2-sol"), 2000000);
	ck_assert_int_eq(price_in(NULL, "gpt-6.2-solar"), -2);
	ck_assert_int_eq(price_in(NULL, "gemini-3.5-flash"), 1500000);
	ck_assert_int_eq(price_in(NULL, "gemini-3.5-flash-lite"), 300000);
	ck_assert_int_eq(price_in(NULL, "llama3.1:8b"), -2);
	ck_assert_int_eq(price_in(NULL, ""), -2);
	ck_assert_ptr_null(px_price_find(NULL, NULL, 0));
}
END_TEST

/* parse cfg; on failure return the message and the offset of *at */
static int
parse_prices(struct px_prices *pt, const char *cfg, char *err, size_t errcap,
             long *at_off)
{
	struct px_arena a;
	struct json_err je;
	struct json *root;
	const char *at = NULL;
	int rc;

	px_arena_init(&a, 0);
	root = json_parse(&a, cfg, strlen(cfg), JSON_F_COMMENTS, &je);
	ck_assert_ptr_nonnull(root);
	err[0] = 0;
	rc = px_prices_parse(pt, root, err, errcap, &at);
	*at_off = at ? (long)(at - cfg) : -1;
	px_arena_free(&a);
	return rc;
}

static void
bad_prices(const char *cfg, const char *msg, const char *at_text)
{
	struct px_prices *pt = px_prices_new();
	char err[256];
	long at;

	ck_assert_int_eq(parse_prices(pt, cfg, err, sizeof err, &at), -1);
	ck_assert_str_eq(err, msg);
	ck_assert_msg(at >= 0 && !strncmp(cfg + at, at_text, strlen(at_text)),
	    "%s: at %ld, want \"%s\"", cfg, at, at_text);
	px_prices_free(pt);
}

START_TEST(t_prices_config)
{
	const char *cfg = "{\n"
	    "  \"claude-opus-5\": {\"input\": 1, \"output\": 2},\n"
	    "  \"my-*\": {\"input\": 0.5, \"output\": 1.5, \"cache_read\": "
	    "0.05, \"cache_write\": null},\n"
	    "  \"gpt-6-sol\": null,\n"
	    "  \"local-llama\": {\"input\": 0, \"output\": 0},\n"
	    "  \"tiered\": {\"input\": 1, \"output\": 2, \"cache_read\": 0.1,\n"
	    "     \"tier\": {\"above\": 1000, \"input\": 2, \"output\": 3, "
	    "\"cache_read\": 0.2}},\n"
	    "  \"my-special\": {\"input\": 9, \"output\": 1000},\n"
	    "}";
	struct px_prices *pt = px_prices_new();
	const struct px_price *p;
	struct ir_usage u;
	char err[256];
	long at;

	ck_assert_int_eq(parse_prices(pt, cfg, err, sizeof err, &at), 0);
	/* the config wins over the built-in table, dated snapshots too */
	ck_assert_int_eq(price_in(pt, "claude-opus-5"), 1000000);
	ck_assert_int_eq(price_in(pt, "claude-opus-5-20260724"), 1000000);
	ck_assert_int_eq(price_in(pt, "claude-opus-5-5"), 4000000);
	/* an exact name beats an earlier pattern */
	ck_assert_int_eq(price_in(pt, "my-special"), 9000000);
	p = px_price_find(pt, "my-model", 8);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->in, 500000);
	ck_assert_int_eq(p->out, 1500000);
	ck_assert_int_eq(p->cache_read, 50000);
	ck_assert_int_eq(p->cache_write, -1);
	ck_assert_int_eq(p->tier_above, 0);
	/* null: no price, even though the built-in table has one */
	ck_assert_int_eq(price_in(pt, "gpt-6-sol"), -2);
	/* an explicit 0 is a price: cost 0, not unknown */
	ir_usage_init(&u);
	u.input = 1000;
	u.output = 1000;
	ck_assert_int_eq(px_price_cost(px_price_find(pt, "local-llama", 11), &u),
	    0);
	ck_assert_int_eq(px_price_cost(NULL, &u), PX_COST_UNKNOWN);
	p = px_price_find(pt, "tiered", 6);
	ck_assert_int_eq(p->tier_above, 1000);
	ck_assert_int_eq(p->in2, 2000000);
	ck_assert_int_eq(p->cache_read2, 200000);
	ck_assert_int_eq(p->cache_write2, -1);
	px_prices_free(pt);

	bad_prices("[]", "prices: expected an object of model names or "
	    "patterns", "[]");
	bad_prices("{\"a\": 5}", "prices: \"a\": expected {\"input\": USD, "
	    "\"output\": USD, ...} or null", "5}");
	bad_prices("{\"a\": {\"input\": 1}}", "prices: \"a\": \"input\" and "
	    "\"output\" are required", "{\"input\": 1}");
	bad_prices("{\"a\": {\"input\": -1, \"output\": 1}}", "prices: \"a\": "
	    "a price must be a number of USD per million tokens from 0 to "
	    "1000", "-1,");
	bad_prices("{\"a\": {\"input\": 1, \"output\": 1000.5}}", "prices: "
	    "\"a\": a price must be a number of USD per million tokens from 0 "
	    "to 1000", "1000.5}");
	bad_prices("{\"a\": {\"input\": 1, \"output\": \"2\"}}", "prices: "
	    "\"a\": a price must be a number of USD per million tokens from 0 "
	    "to 1000", "\"2\"");
	bad_prices("{\"a\": {\"input\": 1, \"output\": 2, \"cahce_read\": 1}}",
	    "prices: \"a\": unknown field (expected input, output, cache_read, "
	    "cache_write, tier)", "1}}");
	bad_prices("{\"a\": {\"input\": 1, \"output\": 2},\n \"a\": null}",
	    "prices: \"a\": priced twice", "null}");
	bad_prices("{\"\": {\"input\": 1, \"output\": 2}}", "prices: \"\": a "
	    "model name must be 1 to 128 bytes", "{\"input\"");
	bad_prices("{\"a\": {\"input\": 1, \"output\": 2, \"tier\": {\"input\": "
	    "2, \"output\": 3}}}", "prices: \"a\": \"tier\" needs \"above\" "
	    "(prompt tokens)", "{\"input\": 2");
	bad_prices("{\"a\": {\"input\": 1, \"output\": 2, \"tier\": {\"above\": "
	    "0, \"input\": 2, \"output\": 3}}}", "prices: \"a\": \"above\" must "
	    "be a positive number of prompt tokens", "0,");
	bad_prices("{\"a\": {\"input\": 1, \"output\": 2, \"tier\": 7}}",
	    "prices: \"a\": \"tier\" must be an object", "7}");
	bad_prices("{\"a\": {\"input\": 1, \"output\": 2, \"tier\": {\"above\": "
	    "5, \"input\": 2, \"output\": 3, \"x\": 1}}}", "prices: \"a\": "
	    "unknown field in \"tier\" (expected above, input, output, "
	    "cache_read, cache_write)", "1}}}");
}
END_TEST

/* ------------------------------------------------------------ cost */

/* usage of an upstream answer, as the codec decodes it */
static struct ir_usage
decoded(enum px_fmt f, const char *body)
{
	struct px_arena a;
	struct ir_response resp;
	struct px_err err;
	struct ir_usage u;

	px_arena_init(&a, 0);
	memset(&resp, 0, sizeof resp);
	ck_assert_msg(px_decode_response(f, &a, body, strlen(body), &resp,
	    &err) == 0, "decode: %s", err.msg);
	u = resp.usage;
	px_arena_free(&a);
	return u;
}

static long long
cost_of(const char *model, const struct ir_usage *u)
{
	return px_price_cost(px_price_find(NULL, model, strlen(model)), u);
}

START_TEST(t_cost_vendor_shapes)
{
	struct ir_usage u;
	struct px_prices *pt;
	char err[256];
	long at;

	/* Anthropic: input_tokens excludes the cache, the codec adds both
	 * back: 100 + 2000 written + 30000 read */
	u = decoded(PX_FMT_ANTHROPIC, "{\"id\":\"msg_1\",\"type\":\"message\","
	    "\"role\":\"assistant\",\"model\":\"claude-opus-5\",\"content\":"
	    "[{\"type\":\"text\",\"text\":\"hi\"}],\"stop_reason\":\"end_turn\","
	    "\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":"
	    "2000,\"cache_read_input_tokens\":30000,\"output_tokens\":500}}");
	ck_assert_int_eq(u.input, 32100);
	ck_assert_int_eq(u.cache_read, 30000);
	ck_assert_int_eq(u.cache_write, 2000);
	ck_assert_int_eq(u.output, 500);
	/* 100 x $5 + 30000 x $0.50 + 2000 x $6.25 + 500 x $25 (per Mtok) */
	ck_assert_int_eq(cost_of("claude-opus-5", &u), 500 + 15000 + 12500 +
	    12500);
	ck_assert_int_eq(cost_of("claude-opus-5-5", &u), 400 + 6000 + 10000 +
	    10000);

	/* OpenAI Chat: prompt_tokens includes cached_tokens; reasoning is
	 * inside completion_tokens */
	u = decoded(PX_FMT_CHAT, "{\"id\":\"c\",\"object\":\"chat.completion\","
	    "\"created\":1,\"model\":\"gpt-6.2-sol\",\"choices\":[{\"index\":0,"
	    "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
	    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12000,"
	    "\"completion_tokens\":800,\"total_tokens\":12800,"
	    "\"prompt_tokens_details\":{\"cached_tokens\":10000},"
	    "\"completion_tokens_details\":{\"reasoning_tokens\":300}}}");
	ck_assert_int_eq(u.input, 12000);
	ck_assert_int_eq(u.cache_read, 10000);
	ck_assert_int_eq(u.cache_write, -1);
	ck_assert_int_eq(u.reasoning, 300);
	/* 2000 x $2 + 10000 x $0.10 + 800 x $10 */
	ck_assert_int_eq(cost_of("gpt-6.2-sol", &u), 4000 + 1000 + 8000);

	/* OpenAI Responses, over 272K input: the tier for the whole request */
	u = decoded(PX_FMT_RESPONSES, "{\"id\":\"resp_1\",\"object\":\"response\","
	    "\"created_at\":1,\"status\":\"completed\",\"model\":\"gpt-6-sol\","
	    "\"output\":[{\"type\":\"message\",\"id\":\"m\",\"role\":\"assistant\","
	    "\"content\":[{\"type\":\"output_text\",\"text\":\"hi\"}]}],"
	    "\"usage\":{\"input_tokens\":300000,\"input_tokens_details\":"
	    "{\"cached_tokens\":100000},\"output_tokens\":1000,"
	    "\"output_tokens_details\":{\"reasoning_tokens\":200},"
	    "\"total_tokens\":301000}}");
	ck_assert_int_eq(u.input, 300000);
	ck_assert_int_eq(u.cache_read, 100000);
	/* 200000 x $4 + 100000 x $0.40 + 1000 x $15 */
	ck_assert_int_eq(cost_of("gpt-6-sol", &u), 800000 + 40000 + 15000);
	/* exactly at the threshold: short-context prices */
	u.input = 272000;
	ck_assert_int_eq(cost_of("gpt-6-sol", &u), 172000 * 2 + 100000 / 5 +
	    10000);
	u.input = 272001;
	ck_assert_int_eq(cost_of("gpt-6-sol", &u), 172001 * 4 + 40000 + 15000);

	/* Gemini: thoughts are output; the built-in table has no cache
	 * price for Gemini, so cached tokens make the cost unknown */
	u = decoded(PX_FMT_GEMINI, "{\"candidates\":[{\"content\":{\"role\":"
	    "\"model\",\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}],"
	    "\"usageMetadata\":{\"promptTokenCount\":1000,"
	    "\"candidatesTokenCount\":200,\"thoughtsTokenCount\":50,"
	    "\"totalTokenCount\":1250},\"modelVersion\":\"gemini-3.5-flash\"}");
	ck_assert_int_eq(u.input, 1000);
	ck_assert_int_eq(u.output, 250);
	ck_assert_int_eq(u.reasoning, 50);
	ck_assert_int_eq(cost_of("gemini-3.5-flash", &u), 1500 + 2250);
	u = decoded(PX_FMT_GEMINI, "{\"candidates\":[{\"content\":{\"role\":"
	    "\"model\",\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}],"
	    "\"usageMetadata\":{\"promptTokenCount\":1000,"
	    "\"cachedContentTokenCount\":400,\"candidatesTokenCount\":250,"
	    "\"totalTokenCount\":1250}}");
	ck_assert_int_eq(u.cache_read, 400);
	ck_assert_int_eq(cost_of("gemini-3.5-flash", &u), PX_COST_UNKNOWN);
	pt = px_prices_new();
	ck_assert_int_eq(parse_prices(pt, "{\"gemini-3.5-flash\": {\"input\": "
	    "1.5, \"output\": 9, \"cache_read\": 0.15}}", err, sizeof err, &at),
	    0);
	/* 600 x $1.50 + 400 x $0.15 + 250 x $9 */
	ck_assert_int_eq(px_price_cost(px_price_find(pt, "gemini-3.5-flash",
	    16), &u), 900 + 60 + 2250);
	px_prices_free(pt);

	/* rounding: once, to the nearest micro-USD, halves up */
	ir_usage_init(&u);
	u.input = 5;
	u.output = 0;
	ck_assert_int_eq(cost_of("claude-haiku-5-5", &u), 1);   /* 0.5 */
	u.input = 4;
	ck_assert_int_eq(cost_of("claude-haiku-5-5", &u), 0);   /* 0.4 */
	u.input = 7;
	u.output = 3;
	ck_assert_int_eq(cost_of("claude-haiku-5-5", &u), 2);   /* 0.7+1.5 */
	/* Haiku 5.5's prompt tier, cache included in the prompt */
	u.input = 100000;
	u.cache_read = 50000;
	u.output = 1000;
	ck_assert_int_eq(cost_of("claude-haiku-5-5", &u), 5000 + 500 + 500);
	u.input = 100001;
	ck_assert_int_eq(cost_of("claude-haiku-5-5", &u), 25001 + 2500 + 2500);

	/* unknown: input or output not reported, too many tokens; a cache
	 * count larger than the input reads as all cached */
	ir_usage_init(&u);
	u.output = 10;
	ck_assert_int_eq(cost_of("claude-opus-5", &u), PX_COST_UNKNOWN);
	u.input = 10;
	u.output = -1;
	ck_assert_int_eq(cost_of("claude-opus-5", &u), PX_COST_UNKNOWN);
	u.output = 1000000001;
	ck_assert_int_eq(cost_of("claude-opus-5", &u), PX_COST_UNKNOWN);
	u.output = 0;
	u.cache_read = 50;
	ck_assert_int_eq(cost_of("claude-opus-5", &u), 25);     /* 50 x 0.5 */
	ck_assert_int_eq(cost_of("no-such-model", &u), PX_COST_UNKNOWN);
}
END_TEST

/* ------------------------------------------------------------ the log */

START_TEST(t_spend_and_flush)
{
	struct px_usage *u;
	long long now = NOW, c;
	struct px_usage_rec r;

	mkdir_tmp();
	u = uopen(logpath, 0, NULL, now);
	ck_assert_int_eq(px_usage_flush_due(u, now), -1);
	/* $5/$25 per Mtok: 1000 in + 100 out = 5000 + 2500 */
	r = rec(now - 60000, "alice", "opus", "ant", "claude-opus-5", 200, 1000,
	    100, 0, 0);
	c = px_usage_add(u, &r, now);
	ck_assert_int_eq(c, 7500);
	ck_assert_int_eq(r.cost_uusd, 7500);
	ck_assert_int_eq(px_usage_flush_due(u, now), PX_USAGE_FLUSH_MS);
	ck_assert_int_eq(px_usage_flush_due(u, now + 40), PX_USAGE_FLUSH_MS - 40);
	ck_assert_int_eq(px_usage_flush_due(u, now + 500), 0);
	/* no upstream model: the requested model is priced */
	add(u, rec(ms(2026, 12, 2, 9, 0), "alice", "claude-opus-5", "ant", "",
	    200, 2000, 0, 0, 0), now);
	/* an unpriced model adds nothing, an earlier month neither */
	add(u, rec(now, "alice", "llama", "local", "llama", 200, 10, 10, 0, 0),
	    now);
	add(u, rec(ms(2026, 11, 30, 23, 59), "alice", "claude-opus-5", "ant",
	    "", 200, 1000000, 0, 0, 0), now);
	add(u, rec(now, "bob", "claude-opus-5", "ant", "", 500, 200, 0, 0, 0),
	    now);
	ck_assert_int_eq(px_usage_spend(u, "alice", 5, PX_USAGE_DAY, now), 7500);
	ck_assert_int_eq(px_usage_spend(u, "alice", 5, PX_USAGE_MONTH, now),
	    17500);
	ck_assert_int_eq(px_usage_spend(u, "bob", 3, PX_USAGE_DAY, now), 1000);
	ck_assert_int_eq(px_usage_spend(u, "carol", 5, PX_USAGE_DAY, now), 0);
	/* a model without a price whose upstream reported the cost (a
	 * command's total_cost_usd): that cost; a priced model: the price
	 * table, whatever the upstream says */
	r = rec(now, "dave", "cli-sonnet", "cli", "cli-sonnet", 200, 10, 10, 0,
	    0);
	r.tok.cost_uusd = 4200;
	ck_assert_int_eq(px_usage_add(u, &r, now), 4200);
	r = rec(now, "dave", "opus", "ant", "claude-opus-5", 200, 1000, 100, 0,
	    0);
	r.tok.cost_uusd = 1;
	ck_assert_int_eq(px_usage_add(u, &r, now), 7500);
	r = rec(now, "dave", "cli-sonnet", "cli", "cli-sonnet", 200, 10, 10, 0,
	    0);
	ck_assert_int_eq(px_usage_add(u, &r, now), -1);
	ck_assert_int_eq(px_usage_spend(u, "dave", 4, PX_USAGE_DAY, now), 11700);
	/* the next day: the day resets, the month does not */
	ck_assert_int_eq(px_usage_spend(u, "alice", 5, PX_USAGE_DAY,
	    ms(2026, 12, 5, 0, 0)), 0);
	ck_assert_int_eq(px_usage_spend(u, "alice", 5, PX_USAGE_MONTH,
	    ms(2026, 12, 31, 23, 59)), 17500);
	ck_assert_int_eq(px_usage_spend(u, "alice", 5, PX_USAGE_MONTH,
	    ms(2027, 1, 1, 0, 0)), 0);
	ck_assert_int_eq(px_usage_period_end(now, PX_USAGE_DAY),
	    ms(2026, 12, 5, 0, 0));
	ck_assert_int_eq(px_usage_period_end(now, PX_USAGE_MONTH),
	    ms(2027, 1, 1, 0, 0));
	ck_assert_int_eq(px_usage_period_end(ms(2028, 2, 10, 0, 0),
	    PX_USAGE_MONTH), ms(2028, 3, 1, 0, 0));
	ck_assert_int_eq(stats(u).buffered > 0, 1);
	{
		struct stat sb;
		ck_assert_int_eq(stat(logpath, &sb), 0);
		ck_assert_int_eq(sb.st_size, PX_JOURNAL_MAGIC_LEN); /* no I/O yet */
		ck_assert_int_eq(sb.st_mode & 0777, 0600);
		ck_assert_int_eq(px_usage_flush(u, now + 100), 0);
		ck_assert_int_eq(px_usage_flush_due(u, now + 100), -1);
		ck_assert_int_eq(stat(logpath, &sb), 0);
		ck_assert_int_eq((size_t)sb.st_size, stats(u).log_bytes);
		ck_assert_uint_eq(stats(u).buffered, 0);
	}
	add(u, rec(now, "bob", "claude-opus-5", "ant", "", 200, 200, 0, 0, 0),
	    now);
	px_usage_close(u, now);                 /* flushes */
	u = uopen(logpath, 0, NULL, now);
	ck_assert_uint_eq(stats(u).records, 9);
	ck_assert_uint_eq(stats(u).dropped, 0);
	ck_assert_int_eq(px_usage_spend(u, "alice", 5, PX_USAGE_MONTH, now),
	    17500);
	/* the reported cost was kept in the record */
	ck_assert_int_eq(px_usage_spend(u, "dave", 4, PX_USAGE_DAY, now), 11700);
	ck_assert_int_eq(px_usage_spend(u, "bob", 3, PX_USAGE_DAY, now), 2000);
	px_usage_close(u, now);
	/* memory only: counted, never buffered */
	u = uopen(NULL, 0, NULL, now);
	add(u, rec(now, "bob", "claude-opus-5", "ant", "", 200, 200, 0, 0, 0),
	    now);
	ck_assert_int_eq(px_usage_flush_due(u, now), -1);
	ck_assert_int_eq(px_usage_flush(u, now), 0);
	ck_assert_int_eq(px_usage_spend(u, "bob", 3, PX_USAGE_DAY, now), 1000);
	px_usage_close(u, now);
	rm_tmp();
}
END_TEST

/* A log of n records, one flush each; off[i] = where record i starts,
 * off[n] = the end. */
static char *
log_of(int n, size_t *len, size_t *off)
{
	struct px_usage *u;
	int i;

	unlink(logpath);
	u = uopen(logpath, 0, NULL, NOW);
	for (i = 0; i < n; i++) {
		char key[16];
		off[i] = stats(u).log_bytes;
		snprintf(key, sizeof key, "key%d", i);
		add(u, rec(NOW, key, "claude-opus-5", "ant", "", 200, 1000 * (i + 1),
		    10, 0, 0), NOW);
		ck_assert_int_eq(px_usage_flush(u, NOW), 0);
	}
	off[n] = stats(u).log_bytes;
	px_usage_close(u, NOW);
	return slurp(logpath, len);
}

START_TEST(t_tail_every_offset)
{
	size_t n, off[4], cut, i;
	char *img;

	mkdir_tmp();
	img = log_of(3, &n, off);
	ck_assert_uint_eq(off[3], n);
	/* cut anywhere in the last two records: the earlier ones stay */
	for (cut = off[1]; cut <= n; cut++) {
		struct px_usage *u;
		unsigned long want = cut >= off[3] ? 3 : cut >= off[2] ? 2 : 1;
		spit(logpath, img, cut);
		u = uopen(logpath, 0, NULL, NOW);
		ck_assert_uint_eq(stats(u).records, want);
		ck_assert_uint_eq(stats(u).dropped, cut - off[want]);
		ck_assert_uint_eq(stats(u).log_bytes, off[want]);
		/* key0 spent 1000 x $5 + 10 x $25 = 5250 */
		ck_assert_int_eq(px_usage_spend(u, "key0", 4, PX_USAGE_DAY, NOW),
		    5250);
		ck_assert_int_eq(px_usage_spend(u, "key2", 4, PX_USAGE_DAY, NOW),
		    want == 3 ? 15250 : 0);
		add(u, rec(NOW, "new", "claude-opus-5", "ant", "", 200, 1, 1, 0, 0),
		    NOW);
		px_usage_close(u, NOW);
		u = uopen(logpath, 0, NULL, NOW);
		ck_assert_uint_eq(stats(u).records, want + 1);
		ck_assert_uint_eq(stats(u).dropped, 0);
		ck_assert_uint_eq(stats(u).skipped, 0);
		px_usage_close(u, NOW);
	}
	/* every byte of the last record damaged: only it is lost */
	for (i = off[2]; i < n; i++) {
		struct px_usage *u;
		img[i] ^= 0x41;
		spit(logpath, img, n);
		u = uopen(logpath, 0, NULL, NOW);
		ck_assert_uint_eq(stats(u).records, 2);
		ck_assert_uint_eq(stats(u).dropped, n - off[2]);
		px_usage_close(u, NOW);
		img[i] ^= 0x41;
	}
	free(img);
	rm_tmp();
}
END_TEST

/*
 * kill -9 while the child adds and flushes records: after each successful
 * flush it reports the count on a pipe. The reopened log holds at least
 * every acknowledged record, at most the one in flight, all readable.
 */
START_TEST(t_kill9_while_writing)
{
	int round;

	mkdir_tmp();
	for (round = 0; round < 12; round++) {
		int p[2];
		pid_t pid;
		unsigned long acked = 0, got;
		struct px_usage *u;

		unlink(logpath);
		ck_assert_int_eq(pipe(p), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			unsigned long i;
			close(p[0]);
			u = uopen(logpath, 0, NULL, NOW);
			for (i = 1;; i++) {
				int k;
				/* 1..3 records per write, so batches are cut */
				for (k = 0; k <= (int)(i % 3); k++)
					add(u, rec(NOW, "k", "claude-opus-5", "a", "",
					    200, 100, 10, 0, 0), NOW);
				if (px_usage_flush(u, NOW) != 0)
					_exit(3);
				if (write(p[1], &i, sizeof i) != sizeof i)
					_exit(4);
			}
		}
		close(p[1]);
		/* let it run a while, then kill it mid-flight */
		while (acked < 200 + (unsigned long)round * 97 &&
		    read(p[0], &got, sizeof got) == sizeof got)
			acked = got;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		while (read(p[0], &got, sizeof got) == sizeof got)
			acked = got;
		close(p[0]);
		u = uopen(logpath, 0, NULL, NOW);
		{
			/* flush i wrote 1 + i % 3 records */
			unsigned long want = 0, i;
			for (i = 1; i <= acked; i++)
				want += 1 + i % 3;
			ck_assert_uint_ge(stats(u).records, want);
			ck_assert_uint_le(stats(u).records, want + 1 +
			    (acked + 1) % 3);
			ck_assert_uint_eq(stats(u).skipped, 0);
			ck_assert_int_eq(px_usage_spend(u, "k", 1, PX_USAGE_DAY,
			    NOW), (long long)stats(u).records * 750);
		}
		px_usage_close(u, NOW);
	}
	rm_tmp();
}
END_TEST

/* A log of raw records spread over the 40 days before NOW (never rolled
 * up: long retention while writing). */
static void
write_history(void)
{
	struct px_usage *u = uopen(logpath, 3650, NULL, NOW);
	int d;

	for (d = 0; d < 40; d++) {
		long long t = NOW - (long long)d * 86400000LL;
		add(u, rec(t, "alice", "claude-opus-5", "ant", "", 200, 1000, 100,
		    200, 0), NOW);
		add(u, rec(t - 3600000, d % 2 ? "bob" : "alice", "claude-opus-5",
		    "ant", "", 200, 3000, 10, 0, 100), NOW);
		add(u, rec(t, "bob", "llama", "local", "llama", d % 5 ? 200 : 502,
		    50, 5, -1, -1), NOW);
	}
	ck_assert_int_eq(px_usage_flush(u, NOW), 0);
	ck_assert_uint_eq(stats(u).compactions, 0);
	px_usage_close(u, NOW);
}

/* flush until a background compaction is in place */
static void
wait_compactions(struct px_usage *u, unsigned long want, long long now)
{
	int i;

	for (i = 0; i < 2000 && stats(u).compactions < want; i++) {
		ck_assert_int_ge(px_usage_flush_due(u, now), 0);
		usleep(5000);
		ck_assert_int_eq(px_usage_flush(u, now), 0);
	}
	ck_assert_uint_eq(stats(u).compactions, want);
	ck_assert_int_eq(px_usage_flush_due(u, now), -1);
}

/* all the reports that must not change across a roll-up */
static char *
all_reports(void)
{
	static const char *const by[] = { "key", "model", "provider", "day" };
	char *all = NULL, *one;
	size_t n = 0;
	int i;

	for (i = 0; i < 4; i++) {
		one = report(NOW, "--since", "2026-01-01", "--by", by[i]);
		all = realloc(all, n + strlen(one) + 1);
		memcpy(all + n, one, strlen(one) + 1);
		n += strlen(one);
		free(one);
		one = report(NOW, "--since", "3d", "--by", by[i]);
		all = realloc(all, n + strlen(one) + 1);
		memcpy(all + n, one, strlen(one) + 1);
		n += strlen(one);
		free(one);
	}
	return all;
}

/* count the log's records of each type by decoding the file */
static void
count_types(unsigned long *raw, unsigned long *days, long long *first_day)
{
	size_t n, off = PX_JOURNAL_MAGIC_LEN;
	char *img = slurp(logpath, &n);

	*raw = *days = 0;
	*first_day = 0;
	for (;;) {
		const char *body;
		size_t bn;
		int type;
		long k = px_journal_parse(img + off, n - off, PX_USAGE_REC_MAX,
		    &type, &body, &bn);
		if (k <= 0)
			break;
		if (type == PX_USAGE_REC_RAW)
			(*raw)++;
		else if (type == PX_USAGE_REC_DAY) {
			struct px_usage_day d;
			ck_assert_int_eq(px_usage_day_decode(
			    (const unsigned char *)body, bn, &d), 0);
			if (!*days)
				*first_day = d.day;
			(*days)++;
		}
		off += (size_t)k;
	}
	ck_assert_uint_eq(off, n);
	free(img);
}

START_TEST(t_rollup)
{
	struct px_usage *u;
	char *before, *after, *img1, *img2;
	long long month_a, month_b;
	unsigned long raw, days;
	long long first;
	size_t n1, n2;

	mkdir_tmp();
	write_history();
	before = all_reports();
	u = uopen(logpath, 3650, NULL, NOW);
	month_a = px_usage_spend(u, "alice", 5, PX_USAGE_MONTH, NOW);
	month_b = px_usage_spend(u, "bob", 3, PX_USAGE_MONTH, NOW);
	px_usage_close(u, NOW);
	count_types(&raw, &days, &first);
	ck_assert_uint_eq(raw, 120);
	ck_assert_uint_eq(days, 0);

	/* open with 30 days: the 10 oldest days are rolled up at open */
	u = uopen(logpath, 30, NULL, NOW);
	ck_assert_uint_eq(stats(u).compactions, 1);
	ck_assert_uint_eq(stats(u).records, 90);
	/* per old day: alice/opus/ant, bob/llama/local, and on odd days
	 * bob/opus/ant */
	ck_assert_uint_eq(stats(u).day_records, 25);
	ck_assert_int_eq(px_usage_spend(u, "alice", 5, PX_USAGE_MONTH, NOW),
	    month_a);
	ck_assert_int_eq(px_usage_spend(u, "bob", 3, PX_USAGE_MONTH, NOW),
	    month_b);
	px_usage_close(u, NOW);
	count_types(&raw, &days, &first);
	ck_assert_uint_eq(raw, 90);
	ck_assert_uint_eq(days, 25);
	/* the oldest day first (sorted) */
	ck_assert_int_eq(first, px_usage_day_of(NOW) - 39);
	after = all_reports();
	ck_assert_str_eq(after, before);
	free(after);

	/* a compaction with nothing due changes no byte */
	img1 = slurp(logpath, &n1);
	u = uopen(logpath, 30, NULL, NOW);
	ck_assert_uint_eq(stats(u).compactions, 0);
	ck_assert_int_eq(px_usage_compact(u, NOW), 0);
	px_usage_close(u, NOW);
	img2 = slurp(logpath, &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_int_eq(memcmp(img1, img2, n1), 0);
	free(img1);
	free(img2);

	/* a late record for a rolled-up day joins its total (one record per
	 * day, key, model and provider stays), at the next due flush */
	u = uopen(logpath, 30, NULL, NOW);
	ck_assert_int_eq(px_usage_compact(u, NOW), 0);
	add(u, rec(NOW - 39LL * 86400000, "alice", "claude-opus-5", "ant", "",
	    200, 1000, 100, 200, 0), NOW);
	ck_assert_int_eq(px_usage_flush(u, NOW), 0);
	ck_assert_uint_eq(stats(u).compactions, 1);   /* not within the hour */
	ck_assert_int_eq(px_usage_flush(u, NOW + 3600000), 0);
	wait_compactions(u, 2, NOW + 3600000);
	px_usage_close(u, NOW);
	count_types(&raw, &days, &first);
	ck_assert_uint_eq(raw, 90);
	ck_assert_uint_eq(days, 25);
	after = report(NOW, "--since", "2026-01-01", "--by", "key");
	ck_assert_str_ne(after, before);
	ck_assert_ptr_nonnull(strstr(after, "\nalice        61  "));
	free(after);
	free(before);
	rm_tmp();
}
END_TEST

/*
 * kill -9 during compactions: the child compacts again and again (each a
 * full rewrite, fsync and rename); whenever it dies, the log reopens with
 * the same totals.
 */
START_TEST(t_kill9_while_compacting)
{
	char *before;
	int round;

	mkdir_tmp();
	write_history();
	before = all_reports();
	for (round = 0; round < 10; round++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct px_usage *u = uopen(logpath, 30, NULL, NOW);
			for (;;)
				if (px_usage_compact(u, NOW) != 0)
					_exit(3);
		}
		usleep(2000 + (useconds_t)round * 1700);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		{
			char *after = all_reports();
			ck_assert_str_eq(after, before);
			free(after);
		}
	}
	free(before);
	{
		char tmp[320];
		snprintf(tmp, sizeof tmp, "%s.tmp", logpath);
		unlink(tmp);
	}
	rm_tmp();
}
END_TEST

/* SIGKILL this process's children (Linux: /proc/<pid>/task/<pid>/children);
 * returns how many, -1 when the kernel does not list them */
static int
kill_children(void)
{
	char p[64], buf[256], *s, *end;
	FILE *f;
	int n = 0;

	snprintf(p, sizeof p, "/proc/%d/task/%d/children", (int)getpid(),
	    (int)getpid());
	if (!(f = fopen(p, "r")))
		return -1;
	buf[fread(buf, 1, sizeof buf - 1, f)] = 0;
	fclose(f);
	for (s = buf; *s; s = end) {
		long pid = strtol(s, &end, 10);
		if (end == s)
			break;
		kill((pid_t)pid, SIGKILL);
		n++;
	}
	return n;
}

/*
 * A due compaction at a flush runs in a child while records keep being
 * appended: the result is byte for byte the log an inline compaction
 * followed by the same appends gives; also with SIGCHLD ignored. When the
 * child dies the log stays as it was and the next try is an hour later.
 */
START_TEST(t_background_compaction)
{
	char twin[320], tmp[320], *a, *b;
	size_t an, bn;
	int round, i;
	struct px_usage *u;
	const char *e;

	mkdir_tmp();
	snprintf(twin, sizeof twin, "%s/twin.log", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", logpath);
	for (round = 0; round < 2; round++) {
		unlink(logpath);
		write_history();
		a = slurp(logpath, &an);
		spit(twin, a, an);
		free(a);
		if (round == 1)
			signal(SIGCHLD, SIG_IGN);
		/* ten days earlier nothing is due: no compaction at open */
		u = uopen(logpath, 30, NULL, NOW - 10 * 86400000LL);
		ck_assert_uint_eq(stats(u).compactions, 0);
		ck_assert_int_eq(px_usage_flush(u, NOW), 0);    /* forks */
		ck_assert_int_eq(px_usage_flush_due(u, NOW), PX_USAGE_FLUSH_MS);
		for (i = 0; i < 50; i++) {
			add(u, rec(NOW, "late", "claude-opus-5", "ant", "", 200, i,
			    1, 0, 0), NOW);
			ck_assert_int_eq(px_usage_flush(u, NOW), 0);
		}
		wait_compactions(u, 1, NOW);
		ck_assert_uint_eq(stats(u).records, 140);
		ck_assert_uint_eq(stats(u).day_records, 25);
		px_usage_close(u, NOW);
		signal(SIGCHLD, SIG_DFL);
		ck_assert_int_eq(access(tmp, F_OK), -1);

		u = uopen(twin, 30, NULL, NOW - 10 * 86400000LL);
		ck_assert_int_eq(px_usage_compact(u, NOW), 0);
		for (i = 0; i < 50; i++)
			add(u, rec(NOW, "late", "claude-opus-5", "ant", "", 200, i,
			    1, 0, 0), NOW);
		px_usage_close(u, NOW);
		a = slurp(logpath, &an);
		b = slurp(twin, &bn);
		ck_assert_uint_eq(an, bn);
		ck_assert_int_eq(memcmp(a, b, an), 0);
		free(a);
		free(b);
	}

	/* the child dies */
	unlink(logpath);
	write_history();
	a = slurp(logpath, &an);
	u = uopen(logpath, 30, NULL, NOW - 10 * 86400000LL);
	ck_assert_int_eq(px_usage_flush(u, NOW), 0);
	if (kill_children() > 0) {
		for (i = 0; i < 2000 && px_usage_flush(u, NOW) == 0; i++)
			usleep(5000);
		ck_assert_int_lt(i, 2000);
		ck_assert_ptr_nonnull(e = px_usage_error(u));
		ck_assert_str_eq(e, "usage log: compaction: the background "
		    "rewrite failed");
		ck_assert_int_eq(px_usage_flush_due(u, NOW), -1);
		ck_assert_uint_eq(stats(u).compactions, 0);
		ck_assert_int_eq(access(tmp, F_OK), -1);
		b = slurp(logpath, &bn);
		ck_assert_uint_eq(an, bn);
		ck_assert_int_eq(memcmp(a, b, an), 0);
		free(b);
		/* not again within the hour, then it works */
		ck_assert_int_eq(px_usage_flush(u, NOW + 60000), 0);
		ck_assert_int_eq(px_usage_flush_due(u, NOW + 60000), -1);
		ck_assert_int_eq(px_usage_flush(u, NOW + 3600000), 0);
		wait_compactions(u, 1, NOW + 3600000);
	}
	px_usage_close(u, NOW);
	free(a);
	unlink(twin);
	rm_tmp();
}
END_TEST

/* RLIMIT_FSIZE makes the flush fail: the records wait in the buffer and
 * the next flush writes them. */
START_TEST(t_write_fails)
{
	struct px_usage *u;
	struct rlimit rl;
	const char *e;

	mkdir_tmp();
	signal(SIGXFSZ, SIG_IGN);
	u = uopen(logpath, 0, NULL, NOW);
	add(u, rec(NOW, "a", "claude-opus-5", "ant", "", 200, 1, 1, 0, 0), NOW);
	ck_assert_int_eq(px_usage_flush(u, NOW), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = stats(u).log_bytes + 10;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	add(u, rec(NOW, "a", "claude-opus-5", "ant", "", 200, 2, 2, 0, 0), NOW);
	add(u, rec(NOW, "a", "claude-opus-5", "ant", "", 200, 3, 3, 0, 0), NOW);
	ck_assert_int_eq(px_usage_flush(u, NOW + 100), -1);
	ck_assert_ptr_nonnull(e = px_usage_error(u));
	ck_assert_ptr_nonnull(strstr(e, "usage log: write: "));
	ck_assert_ptr_null(px_usage_error(u));
	ck_assert_uint_gt(stats(u).buffered, 0);
	/* retried after PX_USAGE_FLUSH_MS, not in a busy loop */
	ck_assert_int_eq(px_usage_flush_due(u, NOW + 100), PX_USAGE_FLUSH_MS);
	rl.rlim_cur = rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	ck_assert_int_eq(px_usage_flush(u, NOW + 200), 0);
	px_usage_close(u, NOW);
	u = uopen(logpath, 0, NULL, NOW);
	ck_assert_uint_eq(stats(u).records, 3);
	ck_assert_uint_eq(stats(u).dropped, 0);
	ck_assert_uint_eq(stats(u).lost, 0);
	px_usage_close(u, NOW);
	/* a file that is not a usage log is moved aside */
	spit(logpath, "PXSTORE1", 8);
	u = uopen(logpath, 0, NULL, NOW);
	ck_assert_int_eq(stats(u).moved_aside, 1);
	ck_assert_uint_eq(stats(u).records, 0);
	px_usage_close(u, NOW);
	rm_tmp();
}
END_TEST

/* ------------------------------------------------------------ readers */

/* a small log for the byte-exact outputs */
static void
write_sample(void)
{
	struct px_usage *u = uopen(logpath, 0, NULL, NOW);

	/* alice: opus 5 ($5/$25/$0.50/$6.25): 12000 in (10000 read, 1000
	 * written), 500 out = 5000 + 5000 + 6250 + 12500 = 28750 */
	add(u, rec(NOW - 3600000, "alice", "claude-opus-5", "ant", "", 200,
	    12000, 500, 10000, 1000), NOW);
	/* alice, two days ago, gpt-6.2-sol: 1000 x $2 + 100 x $10 = 3000 */
	add(u, rec(ms(2026, 12, 2, 8, 0), "alice", "fast", "oai", "gpt-6.2-sol",
	    200, 1000, 100, -1, -1), NOW);
	/* bob: an error without usage, and an unpriced local model */
	add(u, rec(NOW, "bob", "claude-opus-5", "ant", "", 502, -1, -1, -1, -1),
	    NOW);
	add(u, rec(NOW, "bob", "llama", "local", "llama3.1:8b", 200, 40, 7, -1,
	    -1), NOW);
	/* no key, a name with a comma and a control byte */
	add(u, rec(ms(2026, 11, 20, 0, 0), "", "x,\"y\"\x1b", "local", "",
	    200, 1, 1, -1, -1), NOW);
	px_usage_close(u, NOW);
}

START_TEST(t_report_outputs)
{
	char *o, *e;

	mkdir_tmp();
	write_sample();
	/* the README's "Usage and cost records" shows this table */
	o = report(NOW, NULL, NULL, NULL, NULL);
	ck_assert_str_eq(o,
	    "usage since 2026-11-05 (UTC), by key\n"
	    "KEY     REQUESTS  ERRORS  INPUT  OUTPUT  CACHE_READ  CACHE_WRITE"
	    "  REASONING  COST_USD  UNPRICED\n"
	    "alice          2       0  13000     600       10000         1000"
	    "          0  0.031750         0\n"
	    "bob            2       1     40       7           0            0"
	    "          0   unknown         2\n"
	    "(none)         1       0      1       1           0            0"
	    "          0   unknown         1\n"
	    "TOTAL          5       1  13041     608       10000         1000"
	    "          0  0.031750         3\n"
	    "UNPRICED: requests without a known cost (no price for the model, "
	    "or no token counts); not in COST_USD\n");
	free(o);
	o = report(NOW, "--by", "model", "--json", NULL);
	ck_assert_str_eq(o, "{\"since\":\"2026-11-05\",\"by\":\"model\",\"rows\":["
	    "{\"model\":\"claude-opus-5\",\"requests\":2,\"errors\":1,"
	    "\"input_tokens\":12000,\"output_tokens\":500,\"cache_read_tokens\":"
	    "10000,\"cache_write_tokens\":1000,\"reasoning_tokens\":0,"
	    "\"cost_usd\":0.028750,\"unpriced_requests\":1},"
	    "{\"model\":\"fast\",\"requests\":1,\"errors\":0,\"input_tokens\":1000,"
	    "\"output_tokens\":100,\"cache_read_tokens\":0,\"cache_write_tokens\":"
	    "0,\"reasoning_tokens\":0,\"cost_usd\":0.003000,\"unpriced_requests\":"
	    "0},"
	    "{\"model\":\"llama\",\"requests\":1,\"errors\":0,\"input_tokens\":40,"
	    "\"output_tokens\":7,\"cache_read_tokens\":0,\"cache_write_tokens\":0,"
	    "\"reasoning_tokens\":0,\"cost_usd\":null,\"unpriced_requests\":1},"
	    "{\"model\":\"x,\\\"y\\\"\\u001b\",\"requests\":1,\"errors\":0,"
	    "\"input_tokens\":1,\"output_tokens\":1,\"cache_read_tokens\":0,"
	    "\"cache_write_tokens\":0,\"reasoning_tokens\":0,\"cost_usd\":null,"
	    "\"unpriced_requests\":1}],"
	    "\"total\":{\"requests\":5,\"errors\":1,\"input_tokens\":13041,"
	    "\"output_tokens\":608,\"cache_read_tokens\":10000,"
	    "\"cache_write_tokens\":1000,\"reasoning_tokens\":0,\"cost_usd\":"
	    "0.031750,\"unpriced_requests\":3}}\n");
	free(o);
	o = report(NOW, "--by=provider", "--csv", NULL, NULL);
	ck_assert_str_eq(o, "provider,requests,errors,input_tokens,output_tokens,"
	    "cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd,"
	    "unpriced_requests\n"
	    "ant,2,1,12000,500,10000,1000,0,0.028750,1\n"
	    "oai,1,0,1000,100,0,0,0,0.003000,0\n"
	    "local,2,0,41,8,0,0,0,,2\n");
	free(o);
	o = report(NOW, "--by", "model", "--csv", NULL);
	ck_assert_ptr_nonnull(strstr(o, "\n\"x,\"\"y\"\"\x1b\",1,0,1,1,0,0,0,,1\n"));
	free(o);
	o = report(NOW, "--since", "3d", "--by", "day");
	ck_assert_str_eq(o,
	    "usage since 2026-12-02 (UTC), by day\n"
	    "DAY         REQUESTS  ERRORS  INPUT  OUTPUT  CACHE_READ  CACHE_WRITE"
	    "  REASONING  COST_USD  UNPRICED\n"
	    "2026-12-02         1       0   1000     100           0            0"
	    "          0  0.003000         0\n"
	    "2026-12-04         3       1  12040     507       10000         1000"
	    "          0  0.028750         2\n"
	    "TOTAL              4       1  13040     607       10000         1000"
	    "          0  0.031750         2\n"
	    "UNPRICED: requests without a known cost (no price for the model, "
	    "or no token counts); not in COST_USD\n");
	free(o);
	/* a date; the control byte is not sent to the terminal */
	o = report(NOW, "--since=2026-11-20", "--by", "model", NULL);
	ck_assert_str_eq(o,
	    "usage since 2026-11-20 (UTC), by model\n"
	    "MODEL          REQUESTS  ERRORS  INPUT  OUTPUT  CACHE_READ"
	    "  CACHE_WRITE  REASONING  COST_USD  UNPRICED\n"
	    "claude-opus-5         2       1  12000     500       10000"
	    "         1000          0  0.028750         1\n"
	    "fast                  1       0   1000     100           0"
	    "            0          0  0.003000         0\n"
	    "llama                 1       0     40       7           0"
	    "            0          0   unknown         1\n"
	    "x,\"y\"?                1       0      1       1           0"
	    "            0          0   unknown         1\n"
	    "TOTAL                 5       1  13041     608       10000"
	    "         1000          0  0.031750         3\n"
	    "UNPRICED: requests without a known cost (no price for the model, "
	    "or no token counts); not in COST_USD\n");
	free(o);
	o = report(NOW, "--since", "1d", "--by", "key");
	ck_assert_ptr_nonnull(strstr(o, "\nTOTAL         3       1  12040  "));
	free(o);

	/* usage errors: exit 2, a message, nothing on stdout */
	ck_assert_int_eq(cmd(NOW, &o, &e, "--by", "user", NULL), 2);
	ck_assert_str_eq(o, "");
	ck_assert_str_eq(e, "llmproxy usage: --by takes key, model, provider or "
	    "day, not 'user'\n");
	free(o);
	free(e);
	ck_assert_int_eq(cmd(NOW, &o, &e, "--since", "2026-02-30", NULL), 2);
	ck_assert_str_eq(e, "llmproxy usage: --since takes a number of days "
	    "(7d) or a date (YYYY-MM-DD), not '2026-02-30'\n");
	free(o);
	free(e);
	ck_assert_int_eq(cmd(NOW, &o, &e, "--since", "0d", NULL), 2);
	free(o);
	free(e);
	ck_assert_int_eq(cmd(NOW, &o, &e, "--since", NULL), 2);
	ck_assert_str_eq(e, "llmproxy usage: --since needs a value\n"
	    "usage: llmproxy usage [--since Nd|YYYY-MM-DD] [--by key|model|"
	    "provider|day] [--json|--csv]\n");
	free(o);
	free(e);
	ck_assert_int_eq(cmd(NOW, &o, &e, "--json", "--csv", NULL), 2);
	free(o);
	free(e);
	ck_assert_int_eq(cmd(NOW, &o, &e, "--verbose", NULL), 2);
	ck_assert_str_eq(e, "llmproxy usage: unknown argument '--verbose'\n"
	    "usage: llmproxy usage [--since Nd|YYYY-MM-DD] [--by key|model|"
	    "provider|day] [--json|--csv]\n");
	free(o);
	free(e);
	ck_assert_int_eq(cmd(NOW, &o, &e, "--help", NULL), 0);
	ck_assert_str_eq(o, "usage: llmproxy usage [--since Nd|YYYY-MM-DD] "
	    "[--by key|model|provider|day] [--json|--csv]\n");
	free(o);
	free(e);

	/* a torn tail (the proxy writing) is reported, not counted */
	{
		size_t n;
		char *img = slurp(logpath, &n);
		spit(logpath, img, n - 3);
		free(img);
		ck_assert_int_eq(cmd(NOW, &o, &e, "--json", NULL), 0);
		ck_assert_ptr_nonnull(strstr(e, "byte(s) of"));
		ck_assert_ptr_nonnull(strstr(o, "\"total\":{\"requests\":4,"));
		free(o);
		free(e);
	}
	/* no log yet: an empty report and a note */
	unlink(logpath);
	ck_assert_int_eq(cmd(NOW, &o, &e, "--csv", NULL), 0);
	ck_assert_str_eq(o, "key,requests,errors,input_tokens,output_tokens,"
	    "cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd,"
	    "unpriced_requests\n");
	ck_assert_ptr_nonnull(strstr(e, "no usage records yet"));
	free(o);
	free(e);
	/* not a usage log: exit 1 */
	spit(logpath, "hello", 5);
	ck_assert_int_eq(cmd(NOW, &o, &e, NULL), 1);
	ck_assert_ptr_nonnull(strstr(e, "not a file of this kind"));
	free(o);
	free(e);
	rm_tmp();
}
END_TEST

START_TEST(t_chart_json)
{
	struct px_usage *u = uopen(NULL, 0, NULL, NOW);
	struct px_arena a;
	struct jw w;
	int i;

	/* hours 08, 09 (two), 10 of the 4th, and the 1st */
	add(u, rec(ms(2026, 12, 4, 8, 5), "alice", "claude-opus-5", "ant", "",
	    200, 1000, 100, 0, 0), NOW);
	add(u, rec(ms(2026, 12, 4, 9, 5), "bob", "claude-opus-5", "ant", "",
	    500, -1, -1, -1, -1), NOW);
	add(u, rec(ms(2026, 12, 4, 9, 59), "alice", "llama", "local", "", 200,
	    10, 10, -1, -1), NOW);
	add(u, rec(ms(2026, 12, 4, 10, 0), "alice", "claude-opus-5", "ant", "",
	    200, 2, 0, 0, 0), NOW);
	add(u, rec(ms(2026, 12, 1, 0, 0), "carol", "claude-opus-5", "ant", "",
	    200, 1, 0, 0, 0), NOW);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_usage_chart_json(u, &w, PX_USAGE_BY_KEY, 1, 3, NOW),
	    0);
	/* 08:00 UTC on 2026-12-04 (day 20791) */
	ck_assert_str_eq(w.buf, "{\"by\":\"key\",\"bucket\":\"hour\",\"start\":"
	    "1796371200000,\"step_ms\":3600000,\"series\":["
	    "{\"name\":\"alice\",\"requests\":[1,1,1],\"errors\":[0,0,0],"
	    "\"input_tokens\":[1000,10,2],\"output_tokens\":[100,10,0],"
	    "\"cost_usd\":[0.007500,0.000000,0.000010]},"
	    "{\"name\":\"bob\",\"requests\":[0,1,0],\"errors\":[0,1,0],"
	    "\"input_tokens\":[0,0,0],\"output_tokens\":[0,0,0],"
	    "\"cost_usd\":[0.000000,0.000000,0.000000]}]}");
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_usage_chart_json(u, &w, PX_USAGE_BY_MODEL, 0, 4,
	    NOW), 0);
	ck_assert_str_eq(w.buf, "{\"by\":\"model\",\"bucket\":\"day\",\"start\":"
	    "1796083200000,\"step_ms\":86400000,\"series\":["
	    "{\"name\":\"claude-opus-5\",\"requests\":[1,0,0,3],\"errors\":"
	    "[0,0,0,1],\"input_tokens\":[1,0,0,1002],\"output_tokens\":"
	    "[0,0,0,100],\"cost_usd\":[0.000005,0.000000,0.000000,0.007510]},"
	    "{\"name\":\"llama\",\"requests\":[0,0,0,1],\"errors\":[0,0,0,0],"
	    "\"input_tokens\":[0,0,0,10],\"output_tokens\":[0,0,0,10],"
	    "\"cost_usd\":[0.000000,0.000000,0.000000,0.000000]}]}");
	/* days later the hours are gone, the days still there */
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_usage_chart_json(u, &w, PX_USAGE_BY_KEY, 1, 2,
	    NOW + 8 * 86400000LL), 0);
	ck_assert_ptr_nonnull(strstr(w.buf, "\"series\":[]}"));
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_usage_chart_json(u, &w, PX_USAGE_BY_KEY, 0, 10,
	    NOW + 6 * 86400000LL), 0);
	ck_assert_ptr_nonnull(strstr(w.buf, "{\"name\":\"alice\",\"requests\":"
	    "[0,0,0,3,0,0,0,0,0,0],"));
	/* bad arguments */
	ck_assert_int_eq(px_usage_chart_json(u, &w, 2, 1, 3, NOW), -1);
	ck_assert_int_eq(px_usage_chart_json(u, &w, 0, 1, 0, NOW), -1);
	ck_assert_int_eq(px_usage_chart_json(u, &w, 0, 1, PX_USAGE_HOURS + 1,
	    NOW), -1);
	ck_assert_int_eq(px_usage_chart_json(u, &w, 0, 0, PX_USAGE_DAYS, NOW), 0);
	/* past PX_USAGE_SERIES_MAX names: "(other)", last (a new object:
	 * the calls above moved the rings' clock ahead) */
	px_usage_close(u, NOW);
	u = uopen(NULL, 0, NULL, NOW);
	for (i = 0; i < 3; i++)
		add(u, rec(NOW - 2 * 3600000, i == 0 ? "alice" : i == 1 ? "bob" :
		    "carol", "m", "p", "", 200, 1, 1, -1, -1), NOW);
	for (i = 0; i < PX_USAGE_SERIES_MAX + 5; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%03d", i);
		add(u, rec(NOW, k, "m", "p", "", 200, 1, 1, -1, -1), NOW);
	}
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_usage_chart_json(u, &w, PX_USAGE_BY_KEY, 1, 1, NOW),
	    0);
	ck_assert_ptr_nonnull(strstr(w.buf, "{\"name\":\"k060\",\"requests\":"
	    "[1],"));
	ck_assert_ptr_null(strstr(w.buf, "\"k061\""));
	ck_assert_ptr_nonnull(strstr(w.buf, "{\"name\":\"(other)\",\"requests\":"
	    "[8],"));
	ck_assert_ptr_nonnull(strstr(w.buf, "]}]}"));
	ck_assert_int_eq(strstr(w.buf, "(other)") > strstr(w.buf, "k060"), 1);
	px_arena_free(&a);
	px_usage_close(u, NOW);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("usage");
	TCase *tc = tcase_create("usage");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_encode_exact);
	tcase_add_test(tc, t_encode_roundtrip);
	tcase_add_test(tc, t_prices_builtin);
	tcase_add_test(tc, t_prices_config);
	tcase_add_test(tc, t_cost_vendor_shapes);
	tcase_add_test(tc, t_spend_and_flush);
	tcase_add_test(tc, t_tail_every_offset);
	tcase_add_test(tc, t_kill9_while_writing);
	tcase_add_test(tc, t_rollup);
	tcase_add_test(tc, t_kill9_while_compacting);
	tcase_add_test(tc, t_background_compaction);
	tcase_add_test(tc, t_write_fails);
	tcase_add_test(tc, t_report_outputs);
	tcase_add_test(tc, t_chart_json);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
