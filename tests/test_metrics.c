/*
 * test_metrics.c - the metrics registry and the proxy's metrics: byte-exact
 * exposition text (HELP/TYPE, label escaping, histogram buckets, number
 * forms), the series cap and its fold, label value cleaning, registration
 * checks, snprintf-style rendering, and Prometheus' own checker
 * (`promtool check metrics`) over the output.
 *
 * promtool comes from Debian's prometheus package, which `make check`
 * installs (scripts/deps.sh check). The promtool tests fail, not skip,
 * when it is missing: set PROMTOOL=/path/to/promtool to use another one.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

static char *
render(const struct met_registry *r)
{
	size_t n = met_render(r, NULL, 0);
	char *b = malloc(n + 1);

	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(met_render(r, b, n + 1), n);
	ck_assert_uint_eq(strlen(b), n);
	return b;
}

#define EXPECT(r, want) do {                                            \
	char *got_ = render(r);                                         \
	ck_assert_str_eq(got_, want);                                   \
	free(got_);                                                     \
} while (0)

START_TEST(t_counter_gauge)
{
	static const char *const lab[] = { "method", "code", NULL };
	struct met_registry *r = met_new("t_");
	struct met_family *c, *g, *u;
	struct met_series *s1, *s2;
	const char *v[2];

	c = met_counter(r, "http_requests_total", "Requests handled", lab, 0);
	g = met_gauge(r, "queue_length", "Items waiting", NULL, 0);
	u = met_counter(r, "unused_total", "Never used", lab, 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(g);
	ck_assert_ptr_nonnull(u);
	v[0] = "GET";
	v[1] = "200";
	s1 = met_get(c, v, NULL);
	met_inc(s1);
	met_add(s1, 2);
	v[0] = "POST";
	s2 = met_get(c, v, NULL);
	met_inc(s2);
	/* the same values are the same series */
	v[0] = "GET";
	ck_assert_ptr_eq(met_get(c, v, NULL), s1);
	met_set(met_get(g, NULL, NULL), -3);
	EXPECT(r,
	    "# HELP http_requests_total Requests handled\n"
	    "# TYPE http_requests_total counter\n"
	    "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
	    "http_requests_total{method=\"POST\",code=\"200\"} 1\n"
	    "# HELP queue_length Items waiting\n"
	    "# TYPE queue_length gauge\n"
	    "queue_length -3\n");
	met_free(r);
}
END_TEST

START_TEST(t_histogram)
{
	static const char *const lab[] = { "route", NULL };
	static const double b[] = { 0.25, 0.5, 1 };
	struct met_registry *r = met_new("t_");
	struct met_family *h;
	struct met_series *s;
	const char *v[1] = { "a" };

	h = met_histogram(r, "lat_seconds", "Latency", lab, b, 3, 0);
	ck_assert_ptr_nonnull(h);
	s = met_get(h, v, NULL);
	met_observe(s, 0.125);
	met_observe(s, 0.25);     /* le is inclusive */
	met_observe(s, 0.75);
	met_observe(s, 3);
	met_observe(s, NAN);      /* ignored */
	v[0] = "b";
	met_get(h, v, NULL);      /* a series with no observations */
	EXPECT(r,
	    "# HELP lat_seconds Latency\n"
	    "# TYPE lat_seconds histogram\n"
	    "lat_seconds_bucket{route=\"a\",le=\"0.25\"} 2\n"
	    "lat_seconds_bucket{route=\"a\",le=\"0.5\"} 2\n"
	    "lat_seconds_bucket{route=\"a\",le=\"1\"} 3\n"
	    "lat_seconds_bucket{route=\"a\",le=\"+Inf\"} 4\n"
	    "lat_seconds_sum{route=\"a\"} 4.125\n"
	    "lat_seconds_count{route=\"a\"} 4\n"
	    "lat_seconds_bucket{route=\"b\",le=\"0.25\"} 0\n"
	    "lat_seconds_bucket{route=\"b\",le=\"0.5\"} 0\n"
	    "lat_seconds_bucket{route=\"b\",le=\"1\"} 0\n"
	    "lat_seconds_bucket{route=\"b\",le=\"+Inf\"} 0\n"
	    "lat_seconds_sum{route=\"b\"} 0\n"
	    "lat_seconds_count{route=\"b\"} 0\n");
	met_free(r);
}
END_TEST

START_TEST(t_histogram_nolabels)
{
	static const double b[] = { 1e-4, 2.5e-3 };
	struct met_registry *r = met_new("t_");
	struct met_family *h;

	h = met_histogram(r, "own_seconds", "Own", NULL, b, 2, 0);
	met_observe(met_get(h, NULL, NULL), 0.001);
	EXPECT(r,
	    "# HELP own_seconds Own\n"
	    "# TYPE own_seconds histogram\n"
	    "own_seconds_bucket{le=\"0.0001\"} 0\n"
	    "own_seconds_bucket{le=\"0.0025\"} 1\n"
	    "own_seconds_bucket{le=\"+Inf\"} 1\n"
	    "own_seconds_sum 0.001\n"
	    "own_seconds_count 1\n");
	met_free(r);
}
END_TEST

START_TEST(t_escaping)
{
	static const char *const lab[] = { "v", NULL };
	struct met_registry *r = met_new("t_");
	struct met_family *g;
	const char *v[1];

	g = met_gauge(r, "esc", "Help with \\ backslash and \"quotes\"", lab,
	    0);
	v[0] = "a\"b\\c\nd";
	met_set(met_get(g, v, NULL), 1);
	v[0] = "caf\xc3\xa9 \xe2\x82\xac";        /* UTF-8 kept */
	met_set(met_get(g, v, NULL), 2);
	v[0] = "bad\xff\xc3x\x01\t\r end";        /* invalid, controls */
	met_set(met_get(g, v, NULL), 3);
	v[0] = "";
	met_set(met_get(g, v, NULL), 4);
	EXPECT(r,
	    "# HELP esc Help with \\\\ backslash and \"quotes\"\n"
	    "# TYPE esc gauge\n"
	    "esc{v=\"a\\\"b\\\\c\\nd\"} 1\n"
	    "esc{v=\"caf\xc3\xa9 \xe2\x82\xac\"} 2\n"
	    "esc{v=\"bad??x??? end\"} 3\n"
	    "esc{v=\"\"} 4\n");
	/* the same raw bytes find the cleaned series again */
	v[0] = "bad\xff\xc3x\x01\t\r end";
	ck_assert_double_eq(met_get(g, v, NULL)->v, 3);
	v[0] = NULL;                              /* NULL is "" */
	ck_assert_double_eq(met_get(g, v, NULL)->v, 4);
	met_free(r);
}
END_TEST

START_TEST(t_value_truncation)
{
	static const char *const lab[] = { "v", NULL };
	struct met_registry *r = met_new("t_");
	struct met_family *g = met_gauge(r, "tr", "T", lab, 0);
	char big[300], want[400];
	const char *v[1] = { big };
	size_t lens[1];
	struct met_series *s;

	memset(big, 'a', 200);
	big[200] = 0;
	s = met_get(g, v, NULL);
	/* 127 bytes kept; a longer value with the same start is the same */
	big[150] = 'b';
	ck_assert_ptr_eq(met_get(g, v, NULL), s);
	/* a character that does not fit whole is left out */
	memset(big, 'c', 126);
	memcpy(big + 126, "\xc3\xa9", 3);
	met_set(met_get(g, v, NULL), 7);
	/* lengths: a slice of a longer string */
	v[0] = "gpt-4o-mini";
	lens[0] = 6;
	met_set(met_get(g, v, lens), 9);
	memset(want, 0, sizeof want);
	strcat(want, "# HELP tr T\n# TYPE tr gauge\ntr{v=\"");
	memset(want + strlen(want), 'a', 127);
	strcat(want, "\"} 0\ntr{v=\"");
	memset(want + strlen(want), 'c', 126);
	strcat(want, "\"} 7\ntr{v=\"gpt-4o\"} 9\n");
	EXPECT(r, want);
	met_free(r);
}
END_TEST

START_TEST(t_numbers)
{
	static const char *const lab[] = { "n", NULL };
	static const struct { double v; const char *s; } nums[] = {
		{ 0, "0" }, { -0.0, "0" }, { 1, "1" }, { -5, "-5" },
		{ 123456789012345.0, "123456789012345" }, { 1e15, "1e+15" },
		{ 0.1, "0.1" }, { 2.5, "2.5" }, { 1.0 / 3, "0.3333333333333333" },
		{ 1e20, "1e+20" }, { 1e-7, "1e-07" }, { INFINITY, "+Inf" },
		{ -INFINITY, "-Inf" }, { NAN, "NaN" },
		{ 9007199254740993.0, "9007199254740992" },
	};
	struct met_registry *r = met_new("t_");
	struct met_family *g = met_gauge(r, "num", "N", lab, 0);
	char name[8], want[2048] = "# HELP num N\n# TYPE num gauge\n", *p;
	const char *v[1] = { name };
	size_t i;

	for (i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		snprintf(name, sizeof name, "%zu", i);
		met_set(met_get(g, v, NULL), nums[i].v);
		p = want + strlen(want);
		snprintf(p, sizeof want - (size_t)(p - want),
		    "num{n=\"%zu\"} %s\n", i, nums[i].s);
	}
	EXPECT(r, want);
	met_free(r);
}
END_TEST

START_TEST(t_fold)
{
	static const char *const lab[] = { "k", NULL };
	struct met_registry *r = met_new("t_");
	struct met_family *f = met_counter(r, "f_total", "F", lab, 2);
	const char *v[1];
	struct met_series *a;

	v[0] = "a";
	a = met_get(f, v, NULL);
	met_inc(a);
	v[0] = "b";
	met_inc(met_get(f, v, NULL));
	v[0] = "c";
	met_inc(met_get(f, v, NULL));
	v[0] = "d";
	met_inc(met_get(f, v, NULL));
	/* known values still find their own series */
	v[0] = "a";
	ck_assert_ptr_eq(met_get(f, v, NULL), a);
	EXPECT(r,
	    "# HELP t_metric_series_folded_total Lookups folded into the "
	    "\"other\" series because the metric reached its series cap\n"
	    "# TYPE t_metric_series_folded_total counter\n"
	    "t_metric_series_folded_total{metric=\"f_total\"} 2\n"
	    "# HELP f_total F\n"
	    "# TYPE f_total counter\n"
	    "f_total{k=\"a\"} 1\n"
	    "f_total{k=\"b\"} 1\n"
	    "f_total{k=\"other\"} 2\n");
	met_free(r);
}
END_TEST

START_TEST(t_fold_real_other)
{
	static const char *const lab[] = { "k", NULL };
	struct met_registry *r = met_new("t_");
	struct met_family *f = met_counter(r, "f_total", "F", lab, 2);
	const char *v[1];

	/* a real "other" made before the cap takes the folded counts */
	v[0] = "other";
	met_inc(met_get(f, v, NULL));
	v[0] = "b";
	met_inc(met_get(f, v, NULL));
	v[0] = "c";
	met_inc(met_get(f, v, NULL));
	v[0] = "other";
	met_inc(met_get(f, v, NULL));
	EXPECT(r,
	    "# HELP t_metric_series_folded_total Lookups folded into the "
	    "\"other\" series because the metric reached its series cap\n"
	    "# TYPE t_metric_series_folded_total counter\n"
	    "t_metric_series_folded_total{metric=\"f_total\"} 1\n"
	    "# HELP f_total F\n"
	    "# TYPE f_total counter\n"
	    "f_total{k=\"other\"} 3\n"
	    "f_total{k=\"b\"} 1\n");
	met_free(r);
}
END_TEST

START_TEST(t_register_checks)
{
	static const char *const ok[] = { "a", NULL };
	static const char *const le[] = { "le", NULL };
	static const char *const dunder[] = { "__x", NULL };
	static const char *const dup[] = { "a", "a", NULL };
	static const char *const badl[] = { "a-b", NULL };
	static const char *const seven[] = { "a", "b", "c", "d", "e", "f",
	    "g", NULL };
	static const double inc[] = { 1, 2 }, flat[] = { 1, 1 },
	    nan_[] = { 1, NAN }, many[MET_BUCKETS_MAX + 1] = { 0 };
	struct met_registry *r = met_new("t_");
	struct met_series *s;

	ck_assert_ptr_null(met_counter(r, "9bad", "x", NULL, 0));
	ck_assert_ptr_null(met_counter(r, "bad-name", "x", NULL, 0));
	ck_assert_ptr_null(met_counter(r, "", "x", NULL, 0));
	ck_assert_ptr_null(met_counter(r, NULL, "x", NULL, 0));
	ck_assert_ptr_null(met_counter(r, "x", NULL, NULL, 0));
	ck_assert_ptr_null(met_counter(r, "x", "two\nlines", NULL, 0));
	ck_assert_ptr_nonnull(met_counter(r, "ns:x_total", "x", ok, 0));
	ck_assert_ptr_null(met_gauge(r, "ns:x_total", "x", ok, 0));
	ck_assert_ptr_null(met_histogram(r, "h1", "x", le, inc, 2, 0));
	ck_assert_ptr_nonnull(met_gauge(r, "g_le", "x", le, 0));
	ck_assert_ptr_null(met_gauge(r, "g1", "x", dunder, 0));
	ck_assert_ptr_null(met_gauge(r, "g2", "x", dup, 0));
	ck_assert_ptr_null(met_gauge(r, "g3", "x", badl, 0));
	ck_assert_ptr_null(met_gauge(r, "g4", "x", seven, 0));
	ck_assert_ptr_null(met_histogram(r, "h2", "x", ok, flat, 2, 0));
	ck_assert_ptr_null(met_histogram(r, "h3", "x", ok, nan_, 2, 0));
	ck_assert_ptr_null(met_histogram(r, "h4", "x", ok, many,
	    MET_BUCKETS_MAX + 1, 0));
	ck_assert_ptr_null(met_histogram(r, "h5", "x", ok, NULL, 2, 0));
	ck_assert_ptr_nonnull(met_histogram(r, "h6", "x", ok, NULL, 0, 0));
	/* a failed registration is a NULL family; its series is a sink */
	s = met_get(NULL, NULL, NULL);
	ck_assert_ptr_nonnull(s);
	met_inc(s);
	met_observe(s, 1);
	/* nothing of the failures shows */
	EXPECT(r, "");
	met_free(r);
	met_free(NULL);
}
END_TEST

START_TEST(t_families_max)
{
	struct met_registry *r = met_new("t_");
	char name[32];
	int i;

	/* the registry's own counter takes one place */
	for (i = 0; i < MET_FAMILIES_MAX - 1; i++) {
		snprintf(name, sizeof name, "m%d", i);
		ck_assert_ptr_nonnull(met_gauge(r, name, "x", NULL, 0));
	}
	ck_assert_ptr_null(met_gauge(r, "one_more", "x", NULL, 0));
	met_free(r);
}
END_TEST

START_TEST(t_render_truncated)
{
	struct met_registry *r = met_new("t_");
	char b[16], *full;
	size_t n;

	met_set(met_get(met_gauge(r, "g", "G", NULL, 0), NULL, NULL), 1);
	full = render(r);
	memset(b, 'x', sizeof b);
	n = met_render(r, b, 10);
	ck_assert_uint_eq(n, strlen(full));
	ck_assert_int_eq(memcmp(b, full, 9), 0);
	ck_assert_int_eq(b[9], 0);
	ck_assert_int_eq(b[10], 'x');
	ck_assert_uint_eq(met_render(r, b, 1), strlen(full));
	ck_assert_int_eq(b[0], 0);
	ck_assert_uint_eq(met_render(NULL, b, sizeof b), 0);
	ck_assert_str_eq(b, "");
	free(full);
	met_free(r);
}
END_TEST

/* ------------------------------------------------------------ proxy */

static void
sample_traffic(struct px_metrics *m)
{
	struct px_metrics_req q;

	memset(&q, 0, sizeof q);
	q.client_format = "chat";
	q.model = "gpt-4o";
	q.provider = "oai";
	q.status = 200;
	q.input_tokens = 10;
	q.output_tokens = 20;
	q.cost_usd = 0.0015;
	q.total_s = 1.25;
	q.ttfb_s = 0.25;
	q.overhead_s = 0.0004;
	px_metrics_request(m, &q);
	q.client_format = "anthropic";
	q.model = "claude-sonnet-4-5-xyz";
	q.model_len = 17;
	q.provider = "ant";
	q.status = 529;
	q.input_tokens = -1;
	q.output_tokens = 0;
	q.cost_usd = -1;
	q.total_s = 0.05;
	q.ttfb_s = -1;
	q.overhead_s = 0.0001;
	px_metrics_request(m, &q);
	q.client_format = "gemini";
	q.model = NULL;
	q.model_len = 0;
	q.provider = NULL;
	q.status = 0;
	q.total_s = -1;
	q.overhead_s = -1;
	px_metrics_request(m, &q);
	px_metrics_attempt(m, "oai", NULL);
	px_metrics_attempt(m, "ant", "status_5xx");
	px_metrics_attempt(m, "ant", "status_5xx");
	px_metrics_credential(m, "ant", "ant#1", MET_CRED_COOLING_DOWN);
	px_metrics_credential(m, "ant", "ant#2", MET_CRED_OK);
	px_metrics_credential(m, "ant", "ant#2", MET_CRED_DISABLED);
	px_metrics_rejected(m, "ci", "rpm");
	met_add(m->streams, 1);
	met_add(m->streams, 1);
	met_add(m->streams, -1);
	px_metrics_cache(m, 0);
	px_metrics_cache(m, 1);
	px_metrics_cache(m, 1);
	px_metrics_store(m, PX_MET_CACHE, 3, 4096, 5, 6);
	px_metrics_session(m, "new");
	px_metrics_session(m, "continued");
	px_metrics_session(m, "continued");
	px_metrics_session(m, "unknown");
	px_metrics_store(m, PX_MET_SESSIONS, 1, 900, 0, 7);
}

START_TEST(t_proxy_metrics)
{
	struct px_metrics m;

	ck_assert_int_eq(px_metrics_init(&m, "0.9.0", 1748736000), 0);
	EXPECT(m.reg,
	    "# HELP llmproxy_streams_open Streamed answers in progress\n"
	    "# TYPE llmproxy_streams_open gauge\n"
	    "llmproxy_streams_open 0\n"
	    "# HELP llmproxy_build_info Build information (always 1)\n"
	    "# TYPE llmproxy_build_info gauge\n"
	    "llmproxy_build_info{version=\"0.9.0\"} 1\n"
	    "# HELP llmproxy_start_time_seconds Start time of the process "
	    "since the Unix epoch in seconds\n"
	    "# TYPE llmproxy_start_time_seconds gauge\n"
	    "llmproxy_start_time_seconds 1748736000\n"
	    "# HELP llmproxy_cache_entries Answers held in the response cache\n"
	    "# TYPE llmproxy_cache_entries gauge\n"
	    "llmproxy_cache_entries 0\n"
	    "# HELP llmproxy_cache_bytes Memory the response cache counts for "
	    "the answers it holds\n"
	    "# TYPE llmproxy_cache_bytes gauge\n"
	    "llmproxy_cache_bytes 0\n"
	    "# HELP llmproxy_sessions Conversation sessions held\n"
	    "# TYPE llmproxy_sessions gauge\n"
	    "llmproxy_sessions 0\n"
	    "# HELP llmproxy_session_bytes Memory the session store counts for "
	    "the sessions it holds\n"
	    "# TYPE llmproxy_session_bytes gauge\n"
	    "llmproxy_session_bytes 0\n");
	sample_traffic(&m);
	EXPECT(m.reg,
	    "# HELP llmproxy_requests_total Requests answered, by client "
	    "format, requested model, provider and status class\n"
	    "# TYPE llmproxy_requests_total counter\n"
	    "llmproxy_requests_total{client_format=\"chat\",model=\"gpt-4o\","
	    "provider=\"oai\",status_class=\"2xx\"} 1\n"
	    "llmproxy_requests_total{client_format=\"anthropic\",model="
	    "\"claude-sonnet-4-5\",provider=\"ant\",status_class=\"5xx\"} 1\n"
	    "llmproxy_requests_total{client_format=\"gemini\",model=\"none\","
	    "provider=\"none\",status_class=\"none\"} 1\n"
	    "# HELP llmproxy_tokens_total Tokens reported by upstreams, by "
	    "provider, model and direction (input, output)\n"
	    "# TYPE llmproxy_tokens_total counter\n"
	    "llmproxy_tokens_total{provider=\"oai\",model=\"gpt-4o\","
	    "direction=\"input\"} 10\n"
	    "llmproxy_tokens_total{provider=\"oai\",model=\"gpt-4o\","
	    "direction=\"output\"} 20\n"
	    "# HELP llmproxy_cost_usd_total Cost of answered requests in US "
	    "dollars, from the price table\n"
	    "# TYPE llmproxy_cost_usd_total counter\n"
	    "llmproxy_cost_usd_total{provider=\"oai\",model=\"gpt-4o\"} "
	    "0.0015\n"
	    "# HELP llmproxy_request_duration_seconds Time from request "
	    "received to the last byte answered\n"
	    "# TYPE llmproxy_request_duration_seconds histogram\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"0.05\"} 0\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"0.1\"} 0\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"0.25\"} 0\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"0.5\"} 0\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"1\"} 0\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"2.5\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"5\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"10\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"20\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"30\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"60\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"120\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"300\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"600\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format=\"chat\","
	    "provider=\"oai\",le=\"+Inf\"} 1\n"
	    "llmproxy_request_duration_seconds_sum{client_format=\"chat\","
	    "provider=\"oai\"} 1.25\n"
	    "llmproxy_request_duration_seconds_count{client_format=\"chat\","
	    "provider=\"oai\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"0.05\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"0.1\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"0.25\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"0.5\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"1\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"2.5\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"5\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"10\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"20\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"30\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"60\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"120\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"300\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"600\"} 1\n"
	    "llmproxy_request_duration_seconds_bucket{client_format="
	    "\"anthropic\",provider=\"ant\",le=\"+Inf\"} 1\n"
	    "llmproxy_request_duration_seconds_sum{client_format="
	    "\"anthropic\",provider=\"ant\"} 0.05\n"
	    "llmproxy_request_duration_seconds_count{client_format="
	    "\"anthropic\",provider=\"ant\"} 1\n"
	    "# HELP llmproxy_time_to_first_byte_seconds Time from request "
	    "received to the first byte of the answer\n"
	    "# TYPE llmproxy_time_to_first_byte_seconds histogram\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"0.05\"} 0\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"0.1\"} 0\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"0.25\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"0.5\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"1\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"2.5\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"5\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"10\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"20\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"30\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"60\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"120\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"300\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"600\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_bucket{client_format="
	    "\"chat\",provider=\"oai\",le=\"+Inf\"} 1\n"
	    "llmproxy_time_to_first_byte_seconds_sum{client_format=\"chat\","
	    "provider=\"oai\"} 0.25\n"
	    "llmproxy_time_to_first_byte_seconds_count{client_format="
	    "\"chat\",provider=\"oai\"} 1\n"
	    "# HELP llmproxy_overhead_seconds Time the proxy itself added to "
	    "a request (total minus time spent waiting on upstreams)\n"
	    "# TYPE llmproxy_overhead_seconds histogram\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.0001\"} 0\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.00025\"} 0\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.0005\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.001\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.0025\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.005\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.01\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.025\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.05\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.1\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"0.25\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"1\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"chat\",le="
	    "\"+Inf\"} 1\n"
	    "llmproxy_overhead_seconds_sum{client_format=\"chat\"} 0.0004\n"
	    "llmproxy_overhead_seconds_count{client_format=\"chat\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.0001\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.00025\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.0005\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.001\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.0025\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.005\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.01\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.025\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.05\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.1\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"0.25\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"1\"} 1\n"
	    "llmproxy_overhead_seconds_bucket{client_format=\"anthropic\",le="
	    "\"+Inf\"} 1\n"
	    "llmproxy_overhead_seconds_sum{client_format=\"anthropic\"} "
	    "0.0001\n"
	    "llmproxy_overhead_seconds_count{client_format=\"anthropic\"} 1\n"
	    "# HELP llmproxy_streams_open Streamed answers in progress\n"
	    "# TYPE llmproxy_streams_open gauge\n"
	    "llmproxy_streams_open 1\n"
	    "# HELP llmproxy_upstream_attempts_total Requests sent to "
	    "upstreams, fallbacks and retries included\n"
	    "# TYPE llmproxy_upstream_attempts_total counter\n"
	    "llmproxy_upstream_attempts_total{provider=\"oai\"} 1\n"
	    "llmproxy_upstream_attempts_total{provider=\"ant\"} 2\n"
	    "# HELP llmproxy_upstream_failures_total Upstream attempts that "
	    "failed, by reason\n"
	    "# TYPE llmproxy_upstream_failures_total counter\n"
	    "llmproxy_upstream_failures_total{provider=\"ant\",reason="
	    "\"status_5xx\"} 2\n"
	    "# HELP llmproxy_credential_state Upstream credential state: 1 "
	    "for the current one of ok, cooling_down, disabled\n"
	    "# TYPE llmproxy_credential_state gauge\n"
	    "llmproxy_credential_state{provider=\"ant\",credential=\"ant#1\","
	    "state=\"ok\"} 0\n"
	    "llmproxy_credential_state{provider=\"ant\",credential=\"ant#1\","
	    "state=\"cooling_down\"} 1\n"
	    "llmproxy_credential_state{provider=\"ant\",credential=\"ant#1\","
	    "state=\"disabled\"} 0\n"
	    "llmproxy_credential_state{provider=\"ant\",credential=\"ant#2\","
	    "state=\"ok\"} 0\n"
	    "llmproxy_credential_state{provider=\"ant\",credential=\"ant#2\","
	    "state=\"cooling_down\"} 0\n"
	    "llmproxy_credential_state{provider=\"ant\",credential=\"ant#2\","
	    "state=\"disabled\"} 1\n"
	    "# HELP llmproxy_ratelimit_rejections_total Requests refused by a "
	    "client key's limits, by key name and limit\n"
	    "# TYPE llmproxy_ratelimit_rejections_total counter\n"
	    "llmproxy_ratelimit_rejections_total{key=\"ci\",limit=\"rpm\"} 1\n"
	    "# HELP llmproxy_build_info Build information (always 1)\n"
	    "# TYPE llmproxy_build_info gauge\n"
	    "llmproxy_build_info{version=\"0.9.0\"} 1\n"
	    "# HELP llmproxy_start_time_seconds Start time of the process "
	    "since the Unix epoch in seconds\n"
	    "# TYPE llmproxy_start_time_seconds gauge\n"
	    "llmproxy_start_time_seconds 1748736000\n"
	    "# HELP llmproxy_cache_lookups_total Response cache lookups, by "
	    "result (hit, miss)\n"
	    "# TYPE llmproxy_cache_lookups_total counter\n"
	    "llmproxy_cache_lookups_total{result=\"miss\"} 1\n"
	    "llmproxy_cache_lookups_total{result=\"hit\"} 2\n"
	    "# HELP llmproxy_cache_entries Answers held in the response cache\n"
	    "# TYPE llmproxy_cache_entries gauge\n"
	    "llmproxy_cache_entries 3\n"
	    "# HELP llmproxy_cache_bytes Memory the response cache counts for "
	    "the answers it holds\n"
	    "# TYPE llmproxy_cache_bytes gauge\n"
	    "llmproxy_cache_bytes 4096\n"
	    "# HELP llmproxy_cache_evictions_total Cached answers dropped, by "
	    "reason (bounds, ttl)\n"
	    "# TYPE llmproxy_cache_evictions_total counter\n"
	    "llmproxy_cache_evictions_total{reason=\"bounds\"} 5\n"
	    "llmproxy_cache_evictions_total{reason=\"ttl\"} 6\n"
	    "# HELP llmproxy_session_requests_total Requests with sessions on, "
	    "by result: continued (a known session id), new (no id given), "
	    "unknown (an id not found, expired or of another key)\n"
	    "# TYPE llmproxy_session_requests_total counter\n"
	    "llmproxy_session_requests_total{result=\"new\"} 1\n"
	    "llmproxy_session_requests_total{result=\"continued\"} 2\n"
	    "llmproxy_session_requests_total{result=\"unknown\"} 1\n"
	    "# HELP llmproxy_sessions Conversation sessions held\n"
	    "# TYPE llmproxy_sessions gauge\n"
	    "llmproxy_sessions 1\n"
	    "# HELP llmproxy_session_bytes Memory the session store counts for "
	    "the sessions it holds\n"
	    "# TYPE llmproxy_session_bytes gauge\n"
	    "llmproxy_session_bytes 900\n"
	    "# HELP llmproxy_session_evictions_total Sessions dropped, by "
	    "reason (bounds, ttl)\n"
	    "# TYPE llmproxy_session_evictions_total counter\n"
	    "llmproxy_session_evictions_total{reason=\"bounds\"} 0\n"
	    "llmproxy_session_evictions_total{reason=\"ttl\"} 7\n");
	px_metrics_free(&m);
}
END_TEST

START_TEST(t_status_class)
{
	ck_assert_str_eq(px_status_class(100), "1xx");
	ck_assert_str_eq(px_status_class(200), "2xx");
	ck_assert_str_eq(px_status_class(299), "2xx");
	ck_assert_str_eq(px_status_class(302), "3xx");
	ck_assert_str_eq(px_status_class(429), "4xx");
	ck_assert_str_eq(px_status_class(599), "5xx");
	ck_assert_str_eq(px_status_class(600), "none");
	ck_assert_str_eq(px_status_class(0), "none");
	ck_assert_str_eq(px_status_class(-1), "none");
}
END_TEST

/* Unpriced: a 2xx without a known cost is counted, an error is not. */
START_TEST(t_unpriced)
{
	struct px_metrics m;
	struct px_metrics_req q;
	char *out;

	ck_assert_int_eq(px_metrics_init(&m, "x", 0), 0);
	memset(&q, 0, sizeof q);
	q.client_format = "chat";
	q.model = "local";
	q.provider = "llama";
	q.status = 200;
	q.cost_usd = NAN;
	q.total_s = q.ttfb_s = q.overhead_s = -1;
	px_metrics_request(&m, &q);
	q.status = 500;
	px_metrics_request(&m, &q);
	out = render(m.reg);
	ck_assert_ptr_nonnull(strstr(out,
	    "\nllmproxy_unpriced_requests_total{provider=\"llama\",model="
	    "\"local\"} 1\n"));
	ck_assert_ptr_null(strstr(out, "llmproxy_cost_usd_total{"));
	ck_assert_ptr_null(strstr(out, "llmproxy_request_duration_seconds"));
	free(out);
	px_metrics_free(&m);
}
END_TEST

/* A thousand distinct models: memory stays bounded, totals stay right. */
START_TEST(t_proxy_cardinality)
{
	struct px_metrics m;
	struct px_metrics_req q;
	char model[32], *out;
	int i;

	ck_assert_int_eq(px_metrics_init(&m, "x", 0), 0);
	memset(&q, 0, sizeof q);
	q.client_format = "chat";
	q.provider = "oai";
	q.status = 404;
	q.total_s = q.ttfb_s = q.overhead_s = -1;
	q.cost_usd = -1;
	for (i = 0; i < 3000; i++) {
		snprintf(model, sizeof model, "random-%d", i);
		q.model = model;
		px_metrics_request(&m, &q);
	}
	out = render(m.reg);
	ck_assert_ptr_nonnull(strstr(out,
	    "llmproxy_metric_series_folded_total{metric="
	    "\"llmproxy_requests_total\"} 2000\n"));
	ck_assert_ptr_nonnull(strstr(out,
	    "llmproxy_requests_total{client_format=\"other\",model=\"other\","
	    "provider=\"other\",status_class=\"other\"} 2000\n"));
	ck_assert_ptr_nonnull(strstr(out,
	    "llmproxy_requests_total{client_format=\"chat\",model="
	    "\"random-999\",provider=\"oai\",status_class=\"4xx\"} 1\n"));
	ck_assert_ptr_null(strstr(out, "random-1000\""));
	free(out);
	px_metrics_free(&m);
}
END_TEST

/* ------------------------------------------------------------ promtool */

static const char *
promtool(void)
{
	static char path[1024];
	const char *env = getenv("PROMTOOL"), *p, *e;
	size_t n;

	if (env != NULL && env[0] != 0)
		return env;
	for (p = getenv("PATH"); p != NULL && *p; p = *e ? e + 1 : e) {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		n = (size_t)(e - p);
		if (n > 0 && n + 10 < sizeof path) {
			memcpy(path, p, n);
			memcpy(path + n, "/promtool", 10);
			if (access(path, X_OK) == 0)
				return path;
		}
	}
	return NULL;
}

/* Run `promtool check metrics` on text: it must exit 0 and say nothing. */
static void
promtool_ok(const char *text)
{
	const char *pt = promtool();
	char file[] = "/tmp/test_metrics.XXXXXX", cmd[2048], out[4096];
	size_t n, got = 0;
	FILE *f;
	int fd, st;

	if (pt == NULL)
		ck_abort_msg("promtool not found: it comes with Debian's "
		    "prometheus package (`sh scripts/deps.sh check` installs it "
		    "as root; else `sudo apt-get install prometheus`), or set "
		    "PROMTOOL=/path/to/promtool");
	fd = mkstemp(file);
	ck_assert_int_ge(fd, 0);
	n = strlen(text);
	ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
	close(fd);
	snprintf(cmd, sizeof cmd, "'%s' check metrics < '%s' 2>&1", pt, file);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (got < sizeof out - 1 &&
	    (n = fread(out + got, 1, sizeof out - 1 - got, f)) > 0)
		got += n;
	out[got] = 0;
	st = pclose(f);
	unlink(file);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0 && got == 0)) {
		/* the input can be large: stderr, not the check message */
		fprintf(stderr, "--- promtool input ---\n%s--- end ---\n", text);
		ck_abort_msg("promtool check metrics (status %d): %.1000s",
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
	}
}

START_TEST(t_promtool_proxy)
{
	struct px_metrics m;
	char *out;
	int i;

	ck_assert_int_eq(px_metrics_init(&m, "0.9.0 \"dev\"\\", 1748736000),
	    0);
	sample_traffic(&m);
	/* fold a metric past its cap too */
	for (i = 0; i < 1100; i++) {
		char k[16];
		snprintf(k, sizeof k, "key%d", i);
		px_metrics_rejected(&m, k, "tpm");
		px_metrics_rejected(&m, k, "rpm");
	}
	out = render(m.reg);
	promtool_ok(out);
	free(out);
	px_metrics_free(&m);
}
END_TEST

START_TEST(t_promtool_hostile_labels)
{
	static const char *const lab[] = { "v", NULL };
	static const double b[] = { 0.001, 1, 1000 };
	struct met_registry *r = met_new("t_");
	struct met_family *c, *h;
	const char *vals[] = {
		"a\"b\\c\nd", "caf\xc3\xa9", "\xff\xfe", "\x01\x02\t\r",
		"}{,=\"", "", "x\xe2\x82", "\\", "\"", "\n",
	};
	const char *v[1];
	char *out;
	size_t i;

	c = met_counter(r, "hostile_total", "Help \\ with \"odd\" text", lab,
	    0);
	h = met_histogram(r, "hostile_seconds", "H", lab, b, 3, 0);
	for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		v[0] = vals[i];
		met_inc(met_get(c, v, NULL));
		met_observe(met_get(h, v, NULL), (double)i / 3);
	}
	out = render(r);
	promtool_ok(out);
	free(out);
	met_free(r);
}
END_TEST

/* The checker itself catches what we promise to avoid (so a pass means
 * something): a counter without _total and a bad escape are refused. */
START_TEST(t_promtool_rejects)
{
	const char *pt = promtool();
	char cmd[1024];
	int st;

	if (pt == NULL)
		ck_abort_msg("promtool not found (see t_promtool_proxy)");
	snprintf(cmd, sizeof cmd, "printf '# HELP x X\\n# TYPE x counter\\n"
	    "x 1\\n' | '%s' check metrics >/dev/null 2>&1", pt);
	st = system(cmd);
	ck_assert(!(WIFEXITED(st) && WEXITSTATUS(st) == 0));
	snprintf(cmd, sizeof cmd, "printf 'y{a=\"\\\\q\"} 1\\n' | '%s' check "
	    "metrics >/dev/null 2>&1", pt);
	st = system(cmd);
	ck_assert(!(WIFEXITED(st) && WEXITSTATUS(st) == 0));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("registry");
	TCase *tp = tcase_create("proxy");
	TCase *tt = tcase_create("promtool");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, t_counter_gauge);
	tcase_add_test(tc, t_histogram);
	tcase_add_test(tc, t_histogram_nolabels);
	tcase_add_test(tc, t_escaping);
	tcase_add_test(tc, t_value_truncation);
	tcase_add_test(tc, t_numbers);
	tcase_add_test(tc, t_fold);
	tcase_add_test(tc, t_fold_real_other);
	tcase_add_test(tc, t_register_checks);
	tcase_add_test(tc, t_families_max);
	tcase_add_test(tc, t_render_truncated);
	suite_add_tcase(s, tc);
	tcase_add_test(tp, t_proxy_metrics);
	tcase_add_test(tp, t_status_class);
	tcase_add_test(tp, t_unpriced);
	tcase_add_test(tp, t_proxy_cardinality);
	suite_add_tcase(s, tp);
	tcase_set_timeout(tt, 60);
	tcase_add_test(tt, t_promtool_proxy);
	tcase_add_test(tt, t_promtool_hostile_labels);
	tcase_add_test(tt, t_promtool_rejects);
	suite_add_tcase(s, tt);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
