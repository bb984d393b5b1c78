/*
 * test_sse.c - the SSE framer against a case table and the recorded
 * fixtures. Every case is fed whole, byte by byte and split in two at every
 * offset (upstream TLS records cut events anywhere, including between CR and
 * LF), each piece copied against a guard page so an over-read faults.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "testutil.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures"
#endif

/* ------------------------------------------------------------ recording */

/* Events are recorded as "event\x1f" "data\x1f" "id\x1e"; an event returned
 * by sse_finish() is prefixed with "F"; an error appends "ERR". */
struct rec {
	char *p;
	size_t n, cap;
	size_t nev;
};

static void
rec_add(struct rec *r, const char *s, size_t n)
{
	if (r->n + n + 1 > r->cap) {
		r->cap = (r->n + n + 1) * 2;
		r->p = realloc(r->p, r->cap);
		if (r->p == NULL)
			abort();
	}
	memcpy(r->p + r->n, s, n);
	r->n += n;
	r->p[r->n] = 0;
}

static void
rec_ev(struct rec *r, const struct sse_event *ev)
{
	/* Plain checks in the hot path: every ck_assert is a pipe write. */
	if (ev->event == NULL || ev->data == NULL || ev->id == NULL)
		ck_abort_msg("NULL pointer in event");
	rec_add(r, ev->event, ev->event_len);
	rec_add(r, "\x1f", 1);
	rec_add(r, ev->data, ev->data_len);
	rec_add(r, "\x1f", 1);
	rec_add(r, ev->id, ev->id_len);
	rec_add(r, "\x1e", 1);
	r->nev++;
}

/* Re-use a guard mapping made for at least n bytes: copy n bytes so they
 * end at the PROT_NONE page (cheaper than an mmap per piece). */
static const char *
guard_place(struct guard *g, const char *src, size_t n)
{
	char *end;

	end = g->map + g->maplen - (size_t)sysconf(_SC_PAGESIZE);
	if (n > 0)
		memcpy(end - n, src, n);
	return end - n;
}

/*
 * Feed in[0..n) cut at the offsets cuts[0..ncuts) (ascending), each piece
 * from a guard page, then sse_finish(). Returns the recording.
 */
static struct rec
run(const char *in, size_t n, const size_t *cuts, size_t ncuts)
{
	struct sse_parser p;
	struct sse_event ev;
	struct guard g;
	struct rec r;
	const char *piece;
	size_t i, a, b, off;
	long got_n;
	int got, err;

	memset(&r, 0, sizeof(r));
	rec_add(&r, "", 0);
	sse_init(&p);
	err = 0;
	guard_copy(&g, in, n);
	for (i = 0, a = 0; i <= ncuts && !err; i++, a = b) {
		b = i < ncuts ? cuts[i] : n;
		piece = guard_place(&g, in + a, b - a);
		off = 0;
		for (;;) {
			got_n = sse_feed(&p, piece + off, b - a - off, &ev, &got);
			if (got_n == SSE_ERROR) {
				rec_add(&r, "ERR", 3);
				err = 1;
				break;
			}
			if (got_n < 0 || (size_t)got_n > b - a - off
			    || (got && got_n == 0))
				ck_abort_msg("bad return %ld", got_n);
			off += (size_t)got_n;
			if (got) {
				rec_ev(&r, &ev);
				continue;
			}
			if (off != b - a)
				ck_abort_msg("partial consume without event");
			break;
		}
	}
	guard_free(&g);
	if (!err && sse_finish(&p, &ev)) {
		rec_add(&r, "F", 1);
		rec_ev(&r, &ev);
	}
	sse_free(&p);
	return r;
}

/* Whole, byte by byte, and every two-piece split must agree with `want`. */
static void
check_all_splits(const char *in, size_t n, const char *want, size_t wantlen)
{
	struct rec r;
	size_t *cuts, k;

	r = run(in, n, NULL, 0);
	if (r.n != wantlen || memcmp(r.p, want, wantlen) != 0)
		ck_abort_msg("whole feed: got [%.200s] want [%.200s]", r.p, want);
	free(r.p);

	cuts = malloc((n + 1) * sizeof(*cuts));
	ck_assert_ptr_nonnull(cuts);
	for (k = 0; k + 1 < n; k++)
		cuts[k] = k + 1;
	r = run(in, n, cuts, n > 0 ? n - 1 : 0);
	if (r.n != wantlen || memcmp(r.p, want, wantlen) != 0)
		ck_abort_msg("byte by byte: got [%.200s] want [%.200s]", r.p, want);
	free(r.p);

	for (k = 0; k <= n; k++) {
		r = run(in, n, &k, 1);
		if (r.n != wantlen || memcmp(r.p, want, wantlen) != 0)
			ck_abort_msg("split at %zu: got [%.200s] want [%.200s]",
			    k, r.p, want);
		free(r.p);
	}
	free(cuts);
}

/* ------------------------------------------------------------ the table */

#define E(ev, data, id)   ev "\x1f" data "\x1f" id "\x1e"
#define FE(ev, data, id)  "F" E(ev, data, id)

struct sse_case {
	const char *name;
	const char *in;
	size_t len;               /* 0: strlen(in) */
	const char *want;         /* concatenated E()/FE()/"ERR" */
};

static const struct sse_case cases[] = {
	{ "lf", "data: a\n\n", 0, E("", "a", "") },
	{ "crlf", "data: a\r\n\r\n", 0, E("", "a", "") },
	{ "cr", "data: a\r\r", 0, E("", "a", "") },
	{ "mixed_ends", "data: a\r\ndata: b\rdata: c\n\r\n", 0,
	    E("", "a\nb\nc", "") },
	{ "cr_then_lf_is_one_end", "data: a\r\n\ndata: b\r\r", 0,
	    E("", "a", "") E("", "b", "") },
	{ "lf_cr_is_two_ends", "data: a\n\rdata: b\n\n", 0,
	    E("", "a", "") E("", "b", "") },
	{ "no_space", "data:a\n\n", 0, E("", "a", "") },
	{ "one_space_only", "data:  a \n\n", 0, E("", " a ", "") },
	{ "tab_kept", "data:\ta\n\n", 0, E("", "\ta", "") },
	{ "multiline", "data: a\ndata:b\ndata:  c\n\n", 0,
	    E("", "a\nb\n c", "") },
	{ "event_and_id", "event: ping\nid: 7\ndata: {}\n\n", 0,
	    E("ping", "{}", "7") },
	{ "fields_any_order", "data: x\nevent: e\ndata: y\nid: 1\n\n", 0,
	    E("e", "x\ny", "1") },
	{ "event_last_wins", "event: a\nevent: bb\ndata: x\nevent: c\n\n", 0,
	    E("c", "x", "") },
	{ "event_reset_after_dispatch", "event: a\ndata: 1\n\ndata: 2\n\n", 0,
	    E("a", "1", "") E("", "2", "") },
	{ "id_persists", "id: 5\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\n", 0,
	    E("", "1", "5") E("", "2", "5") E("", "3", "") },
	{ "id_with_nul_ignored", "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n",
	    sizeof("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n") - 1,
	    E("", "a", "1") E("", "b", "1") },
	{ "comments", ": hello\ndata: a\n:\n: x: y\ndata: b\n\n", 0,
	    E("", "a\nb", "") },
	{ "only_comments", ": ping\n\n: ping\r\n\r\n", 0, "" },
	{ "event_without_data", "event: x\n\ndata: y\n\n", 0,
	    E("", "y", "") },
	{ "empty_data_line", "data:\n\n", 0, E("", "", "") },
	{ "empty_data_no_colon", "data\n\n", 0, E("", "", "") },
	{ "two_empty_data", "data\ndata\n\n", 0, E("", "\n", "") },
	{ "empty_then_text", "data:\ndata: a\n\n", 0, E("", "\na", "") },
	{ "unknown_fields", "foo: bar\nretry: 100\ndata: a\nDATA: b\n"
	    "data : c\n\n", 0, E("", "a", "") },
	{ "colon_in_value", "data: a: b:c\n\n", 0, E("", "a: b:c", "") },
	{ "bom", "\xEF\xBB\xBF" "data: a\n\n", 0, E("", "a", "") },
	{ "bom_then_comment", "\xEF\xBB\xBF: c\ndata: a\n\n", 0,
	    E("", "a", "") },
	{ "bom_only_at_start", "data: a\n\n\xEF\xBB\xBF" "data: b\n\n", 0,
	    E("", "a", "") },
	{ "two_boms", "\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n", 0, "" },
	{ "leading_blank_lines", "\n\r\n\rdata: a\n\n", 0, E("", "a", "") },
	{ "utf8_kept", "data: h\xC3\xA9llo \xF0\x9F\x98\x80\n\n", 0,
	    E("", "h\xC3\xA9llo \xF0\x9F\x98\x80", "") },
	{ "many_events", "data: 1\n\ndata: 2\n\nevent: e\ndata: 3\n\n", 0,
	    E("", "1", "") E("", "2", "") E("e", "3", "") },
	{ "unterminated_tail", "data: a\n\ndata: b\n", 0,
	    E("", "a", "") FE("", "b", "") },
	{ "unterminated_line", "event: e\ndata: b", 0, FE("e", "b", "") },
	{ "unterminated_cr", "data: b\r", 0, FE("", "b", "") },
	{ "tail_without_data", "data: a\n\nevent: x\n", 0, E("", "a", "") },
	{ "done_marker", "data: {\"x\":1}\n\ndata: [DONE]\n\n", 0,
	    E("", "{\"x\":1}", "") E("", "[DONE]", "") },
	{ "empty_input", "", 0, "" },
	{ "only_newlines", "\n\n\n\r\r\n", 0, "" },
	{ "event_colon_no_space", "event:x\nid:y\ndata:z\n\n", 0,
	    E("x", "z", "y") },
	{ "empty_event_value", "event: a\nevent:\ndata: z\n\n", 0,
	    E("", "z", "") },
	{ "slot_grows_under_data", "data: abc\nevent: 0123456789abcdefghij"
	    "0123456789\ndata: def\nid: 0123456789012345678901234567890123456"
	    "789\ndata: g\n\n", 0, E("0123456789abcdefghij0123456789",
	    "abc\ndef\ng", "0123456789012345678901234567890123456789") },
	{ "slots_shrink_values", "event: longer-name-here\nid: long-id-value\n"
	    "data: 1\n\nevent: s\nid: i\ndata: 2\n\ndata: 3\n\n", 0,
	    E("longer-name-here", "1", "long-id-value") E("s", "2", "i")
	    E("", "3", "i") },
	{ "id_before_event", "id: 1\nevent: e\ndata: a\ndata: b\nid: 22\n"
	    "event: ff\n\n", 0, E("ff", "a\nb", "22") },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

START_TEST(t_case)
{
	const struct sse_case *c = &cases[_i];
	size_t n;

	n = c->len ? c->len : strlen(c->in);
	check_all_splits(c->in, n, c->want, strlen(c->want));
}
END_TEST

/* An event/id value of exactly SSE_FIELD_MAX is fine, one more is an error. */
START_TEST(t_field_max)
{
	char *in, *want;
	size_t n, k;

	in = malloc(SSE_FIELD_MAX + 64);
	want = malloc(SSE_FIELD_MAX + 64);
	for (k = 0; k < 2; k++) {
		n = (size_t)sprintf(in, "event: ");
		memset(in + n, 'e', SSE_FIELD_MAX + k);
		n += SSE_FIELD_MAX + k;
		n += (size_t)sprintf(in + n, "\ndata: a\n\n");
		if (k == 0) {
			memset(want, 'e', SSE_FIELD_MAX);
			memcpy(want + SSE_FIELD_MAX, "\x1f" "a\x1f\x1e", 5);
			want[SSE_FIELD_MAX + 5] = 0;
		} else {
			strcpy(want, "ERR");
		}
		check_all_splits(in, n, want, strlen(want));
	}
	free(in);
	free(want);
}
END_TEST

/* Feed a big input in fixed-size chunks, recording events. */
static struct rec
run_chunked(const char *in, size_t n, size_t chunk)
{
	size_t *cuts, nc, k;
	struct rec r;

	nc = n / chunk;
	cuts = malloc((nc + 1) * sizeof(*cuts));
	for (k = 0; k < nc; k++)
		cuts[k] = (k + 1) * chunk;
	if (nc > 0 && cuts[nc - 1] >= n)
		nc--;
	r = run(in, n, cuts, nc);
	free(cuts);
	return r;
}

START_TEST(t_event_max)
{
	char *in;
	size_t n, pay;
	struct rec r;

	/* The longest line that fits: "data:" + payload == SSE_EVENT_MAX. */
	in = malloc(2 * SSE_EVENT_MAX);
	pay = SSE_EVENT_MAX - 5;
	memcpy(in, "data:", 5);
	memset(in + 5, 'x', pay);
	memcpy(in + 5 + pay, "\n\ndata: b\n\n", 11);
	n = 5 + pay + 11;
	r = run_chunked(in, n, 65536);
	ck_assert_uint_eq(r.nev, 2);
	ck_assert_uint_eq(r.n, pay + 3 + 4);
	ck_assert(r.p[0] == '\x1f' && r.p[1] == 'x' && r.p[pay] == 'x');
	ck_assert(memcmp(r.p + 1 + pay, "\x1f\x1e\x1f" "b\x1f\x1e", 6) == 0);
	free(r.p);

	/* One byte more is an error, and the error is sticky. */
	memcpy(in, "data:x", 6);
	memset(in + 6, 'x', pay);
	memcpy(in + 6 + pay, "\n\n", 2);
	r = run_chunked(in, 6 + pay + 2, 65536);
	ck_assert_msg(strcmp(r.p, "ERR") == 0, "nev %zu len %zu tail %s", r.nev, r.n, r.n > 8 ? r.p + r.n - 8 : r.p);
	free(r.p);

	/* Many data lines adding up past the limit: error too. */
	for (n = 0; n < SSE_EVENT_MAX + SSE_EVENT_MAX / 64; n += 1024) {
		memcpy(in + n, "data:", 5);
		memset(in + n + 5, 'x', 1018);
		in[n + 1023] = '\n';
	}
	in[n] = '\n';
	r = run_chunked(in, n + 1, 4093);
	ck_assert_msg(strcmp(r.p, "ERR") == 0, "nev %zu len %zu tail %s", r.nev, r.n, r.n > 8 ? r.p + r.n - 8 : r.p);
	free(r.p);
	free(in);
}
END_TEST

START_TEST(t_error_sticky)
{
	struct sse_parser p;
	struct sse_event ev;
	char *big;
	int got;

	big = malloc(SSE_EVENT_MAX + 1);
	memset(big, 'a', SSE_EVENT_MAX + 1);
	sse_init(&p);
	ck_assert_int_eq(sse_feed(&p, big, SSE_EVENT_MAX + 1, &ev, &got),
	    SSE_ERROR);
	ck_assert_int_eq(sse_feed(&p, "\n\ndata: a\n\n", 11, &ev, &got),
	    SSE_ERROR);
	ck_assert_int_eq(sse_finish(&p, &ev), 0);
	sse_free(&p);
	/* A fresh parser after sse_free() works again. */
	ck_assert_int_eq(sse_feed(&p, "data: a\n\n", 9, &ev, &got), 9);
	ck_assert_int_eq(got, 1);
	sse_free(&p);
	free(big);
}
END_TEST

/* Comment lines are never buffered: a huge keep-alive is no overflow. */
START_TEST(t_huge_comment)
{
	char *in;
	size_t n;
	struct rec r;

	n = SSE_EVENT_MAX * 2;
	in = malloc(n + 32);
	in[0] = ':';
	memset(in + 1, 'c', n - 1);
	memcpy(in + n, "\ndata: ok\n\n", 11);
	r = run_chunked(in, n + 11, 100000);
	ck_assert_str_eq(r.p, E("", "ok", ""));
	free(r.p);
	free(in);
}
END_TEST

/* sse_feed() stops after each event; the caller loops on the rest. */
START_TEST(t_one_event_per_call)
{
	static const char in[] = "data: 1\n\ndata: 2\r\n\r\n: c\n\n";
	struct sse_parser p;
	struct sse_event ev;
	long r;
	int got;

	sse_init(&p);
	r = sse_feed(&p, in, sizeof(in) - 1, &ev, &got);
	ck_assert_int_eq(r, 9);
	ck_assert_int_eq(got, 1);
	ck_assert(ev.data_len == 1 && ev.data[0] == '1');
	r = sse_feed(&p, in + 9, sizeof(in) - 1 - 9, &ev, &got);
	ck_assert_int_eq(r, 10);       /* up to the CR of the blank line */
	ck_assert_int_eq(got, 1);
	ck_assert(ev.data_len == 1 && ev.data[0] == '2');
	r = sse_feed(&p, in + 19, sizeof(in) - 1 - 19, &ev, &got);
	ck_assert_int_eq(r, (long)sizeof(in) - 1 - 19);
	ck_assert_int_eq(got, 0);
	ck_assert_int_eq(sse_feed(&p, "", 0, &ev, &got), 0);
	ck_assert_int_eq(got, 0);
	ck_assert_int_eq(sse_finish(&p, &ev), 0);
	sse_free(&p);
}
END_TEST

/* ------------------------------------------------------------ fixtures */

static char *fixtures[64];
static size_t nfixtures;

static void
load_fixture_names(void)
{
	DIR *d;
	struct dirent *de;
	size_t l;

	d = opendir(FIXTURE_DIR);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && nfixtures < 64) {
		l = strlen(de->d_name);
		if (l > 4 && strcmp(de->d_name + l - 4, ".sse") == 0)
			fixtures[nfixtures++] = strdup(de->d_name);
	}
	closedir(d);
}

static char *
load_fixture(const char *name, size_t *n)
{
	char path[512];
	char *s;

	snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, name);
	s = read_file(path, n);
	ck_assert_msg(s != NULL, "cannot read %s", path);
	return s;
}

START_TEST(t_fixture_splits)
{
	struct rec whole;
	char *s;
	size_t n;

	ck_assert_uint_gt(nfixtures, 0);
	if ((size_t)_i >= nfixtures)
		return;
	s = load_fixture(fixtures[_i], &n);
	whole = run(s, n, NULL, 0);
	ck_assert_msg(whole.nev > 0, "%s: no events", fixtures[_i]);
	ck_assert_msg(strstr(whole.p, "ERR") == NULL, "%s", fixtures[_i]);
	/* Every fixture event carries data; no stray CR survives framing. */
	ck_assert_msg(memchr(whole.p, '\r', whole.n) == NULL, "%s",
	    fixtures[_i]);
	check_all_splits(s, n, whole.p, whole.n);
	free(whole.p);
	free(s);
}
END_TEST

/* The exact event sequence of one recorded Anthropic stream. */
START_TEST(t_fixture_anthropic_text)
{
	static const char *const names[] = {
		"message_start", "content_block_start", "ping",
		"content_block_delta", "content_block_delta",
		"content_block_delta", "content_block_stop", "message_delta",
		"message_stop"
	};
	struct sse_parser p;
	struct sse_event ev;
	char *s;
	size_t n, off, k;
	long r;
	int got;

	s = load_fixture("anthropic_stream_text.sse", &n);
	sse_init(&p);
	k = 0;
	for (off = 0; off < n; off += (size_t)r) {
		r = sse_feed(&p, s + off, n - off, &ev, &got);
		ck_assert_int_gt(r, 0);
		if (!got)
			continue;
		ck_assert_uint_lt(k, 9);
		ck_assert_msg(ev.event_len == strlen(names[k])
		    && memcmp(ev.event, names[k], ev.event_len) == 0,
		    "event %zu: %.*s", k, (int)ev.event_len, ev.event);
		ck_assert(ev.data_len > 2 && ev.data[0] == '{'
		    && ev.data[ev.data_len - 1] == '}');
		k++;
	}
	ck_assert_uint_eq(k, 9);
	ck_assert_int_eq(sse_finish(&p, &ev), 0);
	sse_free(&p);
	free(s);
}
END_TEST

/* Gemini streams use CRLF throughout; every event is a bare data line. */
START_TEST(t_fixture_gemini_crlf)
{
	struct rec r;
	char *s;
	size_t n, i, nev;

	s = load_fixture("gemini_stream_text.sse", &n);
	r = run(s, n, NULL, 0);
	nev = 0;
	for (i = 0; i + 3 < n; i++)
		if (memcmp(s + i, "\r\n\r\n", 4) == 0)
			nev++;
	ck_assert_uint_eq(r.nev, nev);
	ck_assert_uint_gt(nev, 0);
	ck_assert(r.p[0] == '\x1f');       /* no event name */
	free(r.p);
	free(s);
}
END_TEST

static Suite *
sse_suite(void)
{
	Suite *s;
	TCase *tc;

	s = suite_create("sse");
	tc = tcase_create("cases");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, t_case, 0, (int)NCASES);
	tcase_add_test(tc, t_field_max);
	tcase_add_test(tc, t_one_event_per_call);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_event_max);
	tcase_add_test(tc, t_error_sticky);
	tcase_add_test(tc, t_huge_comment);
	suite_add_tcase(s, tc);

	tc = tcase_create("fixtures");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, t_fixture_splits, 0,
	    nfixtures > 0 ? (int)nfixtures : 1);
	tcase_add_test(tc, t_fixture_anthropic_text);
	tcase_add_test(tc, t_fixture_gemini_crlf);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int nf;

	load_fixture_names();
	sr = srunner_create(sse_suite());
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	while (nfixtures > 0)
		free(fixtures[--nfixtures]);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
