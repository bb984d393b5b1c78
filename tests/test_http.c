/*
 * test_http.c - request/response head parsing and chunked decoding.
 *
 * Every table case is fed whole, cut at every length (a valid head cut
 * anywhere must be HTTP_PARTIAL), and from a guard page so that a read
 * past the input crashes. Chunked bodies are also fed byte by byte and
 * split at every offset, because TLS records cut bodies anywhere.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "testutil.h"

#define S(lit) lit, sizeof(lit) - 1
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int
view_is(struct http_str s, const char *lit)
{
	return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* ---------------------------------------------------------------- requests */

struct req_case {
	const char *in;
	size_t len;
	int status;             /* 0: valid; else expected error_status */
	size_t head;            /* valid: head length, 0 = whole input */
	const char *method, *path, *query;
	int minor;
	size_t nhdrs;
	int64_t cl;
	int chunked, keep_alive, expect;
};

#define OK(in, head, m, p, q, minor, nh, cl, ch, ka, ex) \
	{ S(in), 0, head, m, p, q, minor, nh, cl, ch, ka, ex }
#define BAD(in, st) { S(in), st, 0, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0 }

static const struct req_case req_cases[] = {
	OK("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0,
	   "GET", "/", "", 1, 1, -1, 0, 1, 0),
	OK("POST /v1/chat/completions?x=1&y=2 HTTP/1.1\r\nHost: api\r\n"
	   "Content-Length: 11\r\nContent-Type: application/json\r\n\r\n"
	   "{\"a\":\"bc\"}\n", 109,
	   "POST", "/v1/chat/completions", "x=1&y=2", 1, 3, 11, 0, 1, 0),
	OK("GET /x HTTP/1.0\r\n\r\n", 0, "GET", "/x", "", 0, 0, -1, 0, 0, 0),
	OK("GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0,
	   "GET", "/x", "", 0, 1, -1, 0, 1, 0),
	OK("GET /x HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0,
	   "GET", "/x", "", 0, 1, -1, 0, 0, 0),
	OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo ,  CLOSE\r\n\r\n", 0,
	   "GET", "/", "", 1, 2, -1, 0, 0, 0),
	OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", 0,
	   "GET", "/", "", 1, 2, -1, 0, 1, 0),
	OK("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
	   "POST", "/u", "", 1, 2, -1, 1, 1, 0),
	OK("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \t ChUnKeD \t\r\n\r\n", 0,
	   "POST", "/u", "", 1, 2, -1, 1, 1, 0),
	OK("POST /u HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
	   "Content-Length: 0\r\n\r\n", 0, "POST", "/u", "", 1, 3, 0, 0, 1, 1),
	OK("POST /u HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 0,
	   "POST", "/u", "", 1, 2, -1, 0, 1, 0),
	/* RFC 9112 §2.2: empty lines before the request line */
	OK("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0,
	   "GET", "/", "", 1, 1, -1, 0, 1, 0),
	OK("GET http://example.com/v1/models?limit=2 HTTP/1.1\r\nHost: example.com\r\n\r\n", 0,
	   "GET", "/v1/models", "limit=2", 1, 1, -1, 0, 1, 0),
	OK("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", 0,
	   "GET", "/", "", 1, 1, -1, 0, 1, 0),
	OK("GET http://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n", 0,
	   "GET", "/", "q", 1, 1, -1, 0, 1, 0),
	OK("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0,
	   "OPTIONS", "*", "", 1, 1, -1, 0, 1, 0),
	OK("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", 0, "GET", "/a", "", 1, 1, -1, 0, 1, 0),
	OK("GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n", 0, "GET", "/a", "b?c", 1, 1, -1, 0, 1, 0),
	OK("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Ws: \t \r\n"
	   "X-Utf8: caf\xc3\xa9\r\n\r\n", 0, "GET", "/", "", 1, 4, -1, 0, 1, 0),
	OK("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", 0,
	   "PUT", "/", "", 1, 2, 7, 0, 1, 0),
	OK("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", 0,
	   "PUT", "/", "", 1, 2, INT64_MAX, 0, 1, 0),
	OK("M-X.Y~ / HTTP/1.1\r\nhOST: a\r\n\r\n", 0, "M-X.Y~", "/", "", 1, 1, -1, 0, 1, 0),

	/* request line */
	BAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
	BAD("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
	BAD("GET / HTTP/0.9\r\n\r\n", 505),
	BAD("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
	BAD("GET / HTTP/11.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET / HTTQ/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
	BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET ftp://h/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\nHost: a\n\n", 400),
	BAD("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
	BAD("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),

	/* Host (RFC 9112 §3.2) */
	BAD("GET / HTTP/1.1\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
	BAD("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400),

	/* smuggling: framing */
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "content-length: 6\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5x\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
	    "99999999999999999999999999999999\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x\r\n\r\n", 501),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400),
	BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),

	/* smuggling: header syntax */
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX\0: ab\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: ab\r\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: ab\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: ab\r\n\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: ab\r\n\r\r", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\n: novalue\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: z\r\n\r\n", 400),
};

static int
req_parse(const char *p, size_t n, struct http_req *req)
{
	struct http_hdr hdrs[HTTP_MAX_HEADERS];

	return http_parse_request(p, n, req, hdrs, NELEM(hdrs));
}

static void
req_check(const struct req_case *tc, const char *in, int rc,
          const struct http_req *req)
{
	size_t head = tc->head ? tc->head : tc->len;

	if (tc->status) {
		ck_assert_int_eq(rc, HTTP_ERROR);
		ck_assert_int_eq(req->error_status, tc->status);
		ck_assert_ptr_nonnull(req->error);
		return;
	}
	ck_assert_msg(rc == (int)head, "rc %d (%s) want %zu", rc,
	    req->error ? req->error : "-", head);
	ck_assert(view_is(req->method, tc->method));
	ck_assert(view_is(req->path, tc->path));
	ck_assert(view_is(req->query, tc->query));
	ck_assert_int_eq(req->minor, tc->minor);
	ck_assert_uint_eq(req->nhdrs, tc->nhdrs);
	ck_assert(req->content_length == tc->cl);
	ck_assert_int_eq(req->chunked, tc->chunked);
	ck_assert_int_eq(req->keep_alive, tc->keep_alive);
	ck_assert_int_eq(req->expect_continue, tc->expect);
	/* views borrow the input */
	ck_assert(req->method.p >= in && req->method.p + req->method.n <= in + head);
	ck_assert(req->target.p >= in && req->target.p + req->target.n <= in + head);
}

START_TEST(t_req_whole)
{
	const struct req_case *tc = &req_cases[_i];
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	struct http_req req;
	int rc;

	rc = http_parse_request(tc->in, tc->len, &req, hdrs, NELEM(hdrs));
	req_check(tc, tc->in, rc, &req);
	if (rc >= 0)
		ck_assert_ptr_eq(req.hdrs, hdrs);
}
END_TEST

/* Every prefix from a guard page: valid heads must be PARTIAL until the
 * last byte; invalid ones may error early but never succeed. */
START_TEST(t_req_truncated)
{
	const struct req_case *tc = &req_cases[_i];
	size_t head = tc->head ? tc->head : tc->len, k;
	struct http_req req;
	struct guard g;
	char *p;
	int rc;

	for (k = 0; k <= tc->len; k++) {
		p = guard_copy(&g, tc->in, k);
		rc = req_parse(p, k, &req);
		if (tc->status == 0 && k < head)
			ck_assert_msg(rc == HTTP_PARTIAL, "len %zu: rc %d (%s)",
			    k, rc, req.error ? req.error : "-");
		else if (tc->status == 0)
			req_check(tc, p, rc, &req);
		else if (k == tc->len)
			req_check(tc, p, rc, &req);
		else
			ck_assert(rc == HTTP_PARTIAL || rc == HTTP_ERROR);
		if (rc == HTTP_ERROR)
			ck_assert_int_eq(req.error_status, tc->status);
		guard_free(&g);
	}
}
END_TEST

START_TEST(t_req_headers_view)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost:  a.b \r\n"
	    "X-Empty:\r\nX-Tab:\tv a l\t\r\nContent-Length: 3\r\n\r\nabc";
	struct http_hdr hdrs[8];
	const struct http_hdr *h;
	struct http_req req;

	ck_assert_int_eq(http_parse_request(in, sizeof(in) - 1, &req, hdrs, 8),
	    (int)sizeof(in) - 4);
	ck_assert_uint_eq(req.nhdrs, 4);
	ck_assert(view_is(hdrs[0].name, "Host"));
	ck_assert(view_is(hdrs[0].value, "a.b"));
	ck_assert(view_is(hdrs[1].value, ""));
	ck_assert(view_is(hdrs[2].value, "v a l"));
	h = http_find(hdrs, req.nhdrs, "x-TAB");
	ck_assert_ptr_eq(h, &hdrs[2]);
	ck_assert_ptr_null(http_find(hdrs, req.nhdrs, "x-ta"));
	ck_assert_ptr_null(http_find(hdrs, req.nhdrs, "x-tabs"));
	ck_assert(view_is(req.target, "/"));
}
END_TEST

/* 431: more header lines than the caller's array holds. */
START_TEST(t_req_too_many_headers)
{
	char buf[8192];
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	struct http_req req;
	size_t n, i;
	int rc;

	for (i = HTTP_MAX_HEADERS - 1; i <= HTTP_MAX_HEADERS + 1; i++) {
		size_t k;

		n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
		for (k = 1; k < i; k++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%zu: v\r\n", k);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
		rc = http_parse_request(buf, n, &req, hdrs, NELEM(hdrs));
		if (i <= HTTP_MAX_HEADERS) {
			ck_assert_int_eq(rc, (int)n);
			ck_assert_uint_eq(req.nhdrs, i);
		} else {
			ck_assert_int_eq(rc, HTTP_ERROR);
			ck_assert_int_eq(req.error_status, 431);
		}
	}
	rc = http_parse_request(S("GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n"),
	    &req, hdrs, 1);
	ck_assert_int_eq(rc, HTTP_ERROR);
	ck_assert_int_eq(req.error_status, 431);
	rc = http_parse_request(S("GET / HTTP/1.0\r\n\r\n"), &req, NULL, 0);
	ck_assert_int_eq(rc, 18);
}
END_TEST

START_TEST(t_req_error_strings)
{
	struct http_req req;

	ck_assert_int_eq(req_parse(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), &req), HTTP_ERROR);
	ck_assert_str_eq(req.error, "Content-Length with Transfer-Encoding");
	ck_assert_int_eq(req_parse(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n"), &req), HTTP_ERROR);
	ck_assert_str_eq(req.error, "duplicate Content-Length");
}
END_TEST

/* ---------------------------------------------------------------- responses */

struct resp_case {
	const char *in;
	size_t len;
	int ok;
	size_t head;            /* 0 = whole input */
	int status, minor;
	const char *reason;
	size_t nhdrs;
	int64_t cl;
	int chunked, keep_alive, no_body;
};

#define ROK(in, head, st, minor, rs, nh, cl, ch, ka, nb) \
	{ S(in), 1, head, st, minor, rs, nh, cl, ch, ka, nb }
#define RBAD(in) { S(in), 0, 0, 0, 0, NULL, 0, 0, 0, 0, 0 }

static const struct resp_case resp_cases[] = {
	ROK("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 38,
	    200, 1, "OK", 1, 5, 0, 1, 0),
	ROK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Type: text/event-stream\r\n\r\n", 0,
	    200, 1, "OK", 2, -1, 1, 1, 0),
	ROK("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0,
	    200, 0, "OK", 1, 0, 0, 0, 0),
	ROK("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 0,
	    200, 0, "OK", 2, 0, 0, 1, 0),
	ROK("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", 0,
	    200, 1, "OK", 2, 2, 0, 0, 0),
	ROK("HTTP/1.1 200 OK\r\n\r\n", 0, 200, 1, "OK", 0, -1, 0, 0, 0),
	ROK("HTTP/1.1 204 No Content\r\n\r\n", 0, 204, 1, "No Content", 0, -1, 0, 1, 1),
	ROK("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", 0,
	    304, 1, "Not Modified", 1, 99, 0, 1, 1),
	ROK("HTTP/1.1 100 Continue\r\n\r\n", 0, 100, 1, "Continue", 0, -1, 0, 1, 1),
	ROK("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n"
	    "Content-Length: 0\r\n\r\n", 0, 429, 1, "Too Many Requests", 2, 0, 0, 1, 0),
	ROK("HTTP/1.1 529 Site Overloaded\r\nContent-Length: 2\r\n\r\n{}", 51,
	    529, 1, "Site Overloaded", 1, 2, 0, 1, 0),
	ROK("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, 200, 1, "", 1, 0, 0, 1, 0),
	ROK("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, 200, 1, "", 1, 0, 0, 1, 0),
	ROK("HTTP/1.1 599 x y\tz\r\nContent-Length: 0\r\n\r\n", 0,
	    599, 1, "x y\tz", 1, 0, 0, 1, 0),

	RBAD("HTTP/2 200 OK\r\n\r\n"),
	RBAD("HTTP/2.0 200 OK\r\n\r\n"),
	RBAD("HTTP/1.1 20 OK\r\n\r\n"),
	RBAD("HTTP/1.1 2000 OK\r\n\r\n"),
	RBAD("HTTP/1.1 099 x\r\n\r\n"),
	RBAD("HTTP/1.1 600 x\r\n\r\n"),
	RBAD("HTTP/1.1  200 OK\r\n\r\n"),
	RBAD("HTTP/1.1 200 O\0K\r\n\r\n"),
	RBAD("HTTP/1.1 200 OK\n\r\n"),
	RBAD("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	RBAD("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
	RBAD("HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\n"),
	RBAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
	RBAD("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	RBAD("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
	RBAD("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"),
	RBAD("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"),
	RBAD("HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n"),
};

static void
resp_check(const struct resp_case *tc, int rc, const struct http_resp *r)
{
	size_t head = tc->head ? tc->head : tc->len;

	if (!tc->ok) {
		ck_assert_int_eq(rc, HTTP_ERROR);
		ck_assert_ptr_nonnull(r->error);
		return;
	}
	ck_assert_msg(rc == (int)head, "rc %d (%s) want %zu", rc,
	    r->error ? r->error : "-", head);
	ck_assert_int_eq(r->status, tc->status);
	ck_assert_int_eq(r->minor, tc->minor);
	ck_assert(view_is(r->reason, tc->reason));
	ck_assert_uint_eq(r->nhdrs, tc->nhdrs);
	ck_assert(r->content_length == tc->cl);
	ck_assert_int_eq(r->chunked, tc->chunked);
	ck_assert_int_eq(r->keep_alive, tc->keep_alive);
	ck_assert_int_eq(r->no_body, tc->no_body);
}

START_TEST(t_resp_whole)
{
	const struct resp_case *tc = &resp_cases[_i];
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	struct http_resp r;

	resp_check(tc, http_parse_response(tc->in, tc->len, &r, hdrs,
	    NELEM(hdrs)), &r);
}
END_TEST

START_TEST(t_resp_truncated)
{
	const struct resp_case *tc = &resp_cases[_i];
	size_t head = tc->head ? tc->head : tc->len, k;
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	struct http_resp r;
	struct guard g;
	char *p;
	int rc;

	for (k = 0; k <= tc->len; k++) {
		p = guard_copy(&g, tc->in, k);
		rc = http_parse_response(p, k, &r, hdrs, NELEM(hdrs));
		if (tc->ok && k < head)
			ck_assert_msg(rc == HTTP_PARTIAL, "len %zu: rc %d", k, rc);
		else if (tc->ok || k == tc->len)
			resp_check(tc, rc, &r);
		else
			ck_assert(rc == HTTP_PARTIAL || rc == HTTP_ERROR);
		guard_free(&g);
	}
}
END_TEST

START_TEST(t_resp_too_many_headers)
{
	struct http_hdr hdrs[2];
	struct http_resp r;

	ck_assert_int_eq(http_parse_response(S("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n"
	    "Content-Length: 0\r\n\r\n"), &r, hdrs, 2), HTTP_ERROR);
	ck_assert_int_eq(http_parse_response(S("HTTP/1.1 200 OK\r\nA: 1\r\n"
	    "Content-Length: 0\r\n\r\n"), &r, hdrs, 2), 44);
	ck_assert(view_is(http_find(hdrs, r.nhdrs, "content-length")->value, "0"));
}
END_TEST

/* ---------------------------------------------------------------- chunked */

struct ck_case {
	const char *in;
	size_t len;
	const char *payload;    /* NULL: must fail */
	size_t consumed;        /* 0 = whole input */
};

#define CK(in, out, used) { S(in), out, used }

static const struct ck_case ck_cases[] = {
	CK("5\r\nhello\r\n0\r\n\r\n", "hello", 0),
	CK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0),
	CK("A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 0),
	CK("1f\r\nabcdefghijklmnopqrstuvwxyz01234\r\n0\r\n\r\n",
	   "abcdefghijklmnopqrstuvwxyz01234", 0),
	CK("0\r\n\r\n", "", 0),
	CK("0003\r\nabc\r\n000\r\n\r\n", "abc", 0),
	CK("a;name=val\r\n0123456789\r\n0;x;y=\"q z\"\r\n\r\n", "0123456789", 0),
	CK("5 ;x\r\nhello\r\n0\t;\r\n\r\n", "hello", 0),
	CK("3\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n", "abc", 0),
	CK("3\nabc\n0\nX: 1\n\n", "abc", 0),
	CK("3\r\n\r\n\r\r\n0\r\n\r\n", "\r\n\r", 0),
	CK("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abc", 13),
	CK("0\r\n\r\n0\r\n\r\n", "", 5),
	CK("2\r\n\xff\x80\r\n0\r\n\r\n", "\xff\x80", 0),

	CK("g\r\n", NULL, 0),
	CK("\r\n", NULL, 0),
	CK(";x\r\n", NULL, 0),
	CK("-5\r\nhello\r\n0\r\n\r\n", NULL, 0),
	CK("0x5\r\nhello\r\n0\r\n\r\n", NULL, 0),
	CK("FFFFFFFFFFFFFFFFF\r\n", NULL, 0),
	CK("10000000001\r\n", NULL, 0),
	CK("5\r\nhelloX\r\n0\r\n\r\n", NULL, 0),
	CK("5\r\nhello\rX0\r\n\r\n", NULL, 0),
	CK("5\r\nhello0\r\n\r\n", NULL, 0),
	CK("5 \r\nhello\r\n0\r\n\r\n", NULL, 0),
	CK("5\rX", NULL, 0),
	CK("5;a\0b\r\nhello\r\n0\r\n\r\n", NULL, 0),
	CK("5\r\nhello\r\n0\r\nX: a\rb\r\n\r\n", NULL, 0),
	CK("5\r\nhello\r\n0\r\n\rX", NULL, 0),
	CK("5\r\nhello\r\n0\r\nX\0\r\n\r\n", NULL, 0),
};

/* Feed in[0..n) in pieces of at most `step` bytes (0 = all at once, or
 * split at `cut` if nonzero); append payload to out. Returns consumed
 * total, or -1 on error. Checks that done appears only at the end. */
static long
ck_run(const char *in, size_t n, size_t step, size_t cut, char *out,
       size_t *olen, int *done)
{
	struct http_chunked c;
	size_t off = 0, lim;
	const char *d;
	size_t dl;
	long r;

	memset(&c, 0, sizeof(c));
	*olen = 0;
	while (off < n && !c.done) {
		if (step)
			lim = off + step < n ? off + step : n;
		else if (cut && off < cut)
			lim = cut;
		else
			lim = n;
		r = http_chunked_feed(&c, in + off, lim - off, &d, &dl);
		if (r < 0) {
			ck_assert_int_eq(r, HTTP_ERROR);
			/* errors are sticky */
			ck_assert_int_eq(http_chunked_feed(&c, in + off, lim - off,
			    &d, &dl), HTTP_ERROR);
			return -1;
		}
		ck_assert((size_t)r <= lim - off);
		ck_assert(dl <= (size_t)r);
		if (dl) {
			ck_assert(d >= in + off && d + dl <= in + off + r);
			memcpy(out + *olen, d, dl);
			*olen += dl;
		}
		off += (size_t)r;
		ck_assert_msg(r > 0 || c.done, "no progress");
	}
	*done = c.done;
	if (c.done) {
		/* nothing more is consumed after the end */
		r = http_chunked_feed(&c, in + off, n - off, &d, &dl);
		ck_assert_int_eq(r, 0);
		ck_assert_uint_eq(dl, 0);
	}
	return (long)off;
}

static void
ck_expect(const struct ck_case *tc, long r, const char *out, size_t olen,
          int done)
{
	size_t want = tc->consumed ? tc->consumed : tc->len;

	if (tc->payload == NULL) {
		ck_assert_int_eq(r, -1);
		return;
	}
	ck_assert_int_eq(r, (long)want);
	ck_assert_int_eq(done, 1);
	ck_assert_uint_eq(olen, strlen(tc->payload));
	ck_assert(memcmp(out, tc->payload, olen) == 0);
}

START_TEST(t_chunked_whole)
{
	const struct ck_case *tc = &ck_cases[_i];
	char out[256];
	size_t olen;
	int done = 0;
	struct guard g;
	char *p = guard_copy(&g, tc->in, tc->len);

	long r;

	r = ck_run(p, tc->len, 0, 0, out, &olen, &done);
	ck_expect(tc, r, out, olen, done);
	guard_free(&g);
}
END_TEST

START_TEST(t_chunked_bytewise)
{
	const struct ck_case *tc = &ck_cases[_i];
	char out[256];
	size_t olen;
	int done = 0;
	struct guard g;
	char *p = guard_copy(&g, tc->in, tc->len);

	long r;

	r = ck_run(p, tc->len, 1, 0, out, &olen, &done);
	ck_expect(tc, r, out, olen, done);
	guard_free(&g);
}
END_TEST

START_TEST(t_chunked_split)
{
	const struct ck_case *tc = &ck_cases[_i];
	char out[256];
	size_t olen, cut;
	int done;
	long r;

	for (cut = 1; cut < tc->len; cut++) {
		done = 0;
		r = ck_run(tc->in, tc->len, 0, cut, out, &olen, &done);
		ck_expect(tc, r, out, olen, done);
	}
}
END_TEST

/* A truncated valid body is never done and never an error. */
START_TEST(t_chunked_truncated)
{
	const struct ck_case *tc = &ck_cases[_i];
	size_t want = tc->consumed ? tc->consumed : tc->len, k, olen;
	char out[256];
	int done;
	struct guard g;
	char *p;

	if (tc->payload == NULL)
		return;
	for (k = 0; k < want; k++) {
		done = 0;
		p = guard_copy(&g, tc->in, k);
		ck_assert_int_eq(ck_run(p, k, 0, 0, out, &olen, &done), (long)k);
		ck_assert_int_eq(done, 0);
		guard_free(&g);
	}
}
END_TEST

START_TEST(t_chunked_limits)
{
	struct http_chunked c;
	const char *d;
	size_t dl;

	/* exactly HTTP_CHUNK_MAX (2^40) is allowed; one more is not */
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(http_chunked_feed(&c, S("10000000000\r\nab"), &d, &dl), 15);
	ck_assert_uint_eq(dl, 2);
	ck_assert(memcmp(d, "ab", 2) == 0);
	ck_assert(c.left == HTTP_CHUNK_MAX - 2);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(http_chunked_feed(&c, S("10000000001"), &d, &dl), HTTP_ERROR);
	/* leading zeros don't count against the cap */
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(http_chunked_feed(&c,
	    S("00000000000000000000000000000000000000001\r\nxy"), &d, &dl), 44);
	ck_assert_uint_eq(dl, 1);
	ck_assert_int_eq(d[0], 'x');
	/* a data run is returned alone; the CRLF after it is the next call */
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(http_chunked_feed(&c, S("2\r\nxy\r\n0\r\n\r\n"), &d, &dl), 5);
	ck_assert_uint_eq(dl, 2);
	ck_assert(memcmp(d, "xy", 2) == 0);
	ck_assert_int_eq(http_chunked_feed(&c, S("\r\n0\r\n\r\n"), &d, &dl), 7);
	ck_assert_int_eq(c.done, 1);
	ck_assert_int_eq(http_chunked_feed(&c, "", 0, &d, &dl), 0);
}
END_TEST

/* ---------------------------------------------------------------- misc */

struct qp_case {
	const char *query, *name;
	int rc;
	const char *value;
};

static const struct qp_case qp_cases[] = {
	{ "a=1&b=2", "b", 1, "2" },
	{ "a=1&b=2", "a", 1, "1" },
	{ "a=1&ab=2", "b", -1, NULL },
	{ "ab=2&b=3", "b", 1, "3" },
	{ "ab=2", "a", -1, NULL },
	{ "a=2", "ab", -1, NULL },
	{ "q=hello+world%21", "q", 12, "hello world!" },
	{ "q=%41%62%2b%2B", "q", 4, "Ab++" },
	{ "q=%e2%82%AC", "q", 3, "\xe2\x82\xac" },
	{ "x", "x", 0, "" },
	{ "x=", "x", 0, "" },
	{ "%62=1", "b", 1, "1" },
	{ "b+c=1", "b c", 1, "1" },
	{ "b%=1", "b%", 1, "1" },
	{ "b=1&b=2", "b", 1, "1" },
	{ "q=%zz", "q", 3, "%zz" },
	{ "q=%4", "q", 2, "%4" },
	{ "q=%", "q", 1, "%" },
	{ "q=%4&r=1", "q", 2, "%4" },
	{ "q=%00", "q", -1, NULL },
	{ "", "a", -1, NULL },
	{ "&&a=1&", "a", 1, "1" },
	{ "a=b=c", "a", 3, "b=c" },
	{ "=v", "", 1, "v" },
	{ "key=AIza-._~", "key", 8, "AIza-._~" },
	{ "alt=sse&key=k", "alt", 3, "sse" },
};

START_TEST(t_query_param)
{
	const struct qp_case *tc = &qp_cases[_i];
	struct http_str q;
	struct guard g;
	char out[64];

	q.n = strlen(tc->query);
	q.p = guard_copy(&g, tc->query, q.n);
	memset(out, 'Z', sizeof(out));
	ck_assert_int_eq(http_query_param(q, tc->name, out, sizeof(out)), tc->rc);
	if (tc->rc >= 0) {
		ck_assert_str_eq(out, tc->value);
		/* exact fit works, one byte less does not */
		ck_assert_int_eq(http_query_param(q, tc->name, out,
		    (size_t)tc->rc + 1), tc->rc);
		ck_assert_int_eq(http_query_param(q, tc->name, out,
		    (size_t)tc->rc), -1);
	}
	guard_free(&g);
}
END_TEST

START_TEST(t_reason)
{
	static const struct { int code; const char *s; } t[] = {
		{ 100, "Continue" }, { 200, "OK" }, { 204, "No Content" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 413, "Content Too Large" }, { 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
		{ 529, "Site Overloaded" }, { 418, "Client Error" },
		{ 299, "Success" }, { 0, "Unknown" }, { 1000, "Unknown" },
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++)
		ck_assert_str_eq(http_reason(t[i].code), t[i].s);
}
END_TEST

START_TEST(t_str_cmp)
{
	struct http_str s = { "Content-Length", 14 }, e = { "", 0 };

	ck_assert(http_str_ieq(s, "content-length"));
	ck_assert(http_str_ieq(s, "CONTENT-LENGTH"));
	ck_assert(!http_str_ieq(s, "content-lengt"));
	ck_assert(!http_str_ieq(s, "content-lengths"));
	ck_assert(http_str_eq(s, "Content-Length"));
	ck_assert(!http_str_eq(s, "content-length"));
	ck_assert(http_str_eq(e, ""));
	ck_assert(http_str_ieq(e, ""));
	ck_assert(!http_str_ieq(e, "a"));
	/* only ASCII letters fold: '@' (0x40) vs '`' (0x60) differ */
	s.p = "@";
	s.n = 1;
	ck_assert(!http_str_ieq(s, "`"));
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = tcase_create("request");
	tcase_add_loop_test(tc, t_req_whole, 0, NELEM(req_cases));
	tcase_add_loop_test(tc, t_req_truncated, 0, NELEM(req_cases));
	tcase_add_test(tc, t_req_headers_view);
	tcase_add_test(tc, t_req_too_many_headers);
	tcase_add_test(tc, t_req_error_strings);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_loop_test(tc, t_resp_whole, 0, NELEM(resp_cases));
	tcase_add_loop_test(tc, t_resp_truncated, 0, NELEM(resp_cases));
	tcase_add_test(tc, t_resp_too_many_headers);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_add_loop_test(tc, t_chunked_whole, 0, NELEM(ck_cases));
	tcase_add_loop_test(tc, t_chunked_bytewise, 0, NELEM(ck_cases));
	tcase_add_loop_test(tc, t_chunked_split, 0, NELEM(ck_cases));
	tcase_add_loop_test(tc, t_chunked_truncated, 0, NELEM(ck_cases));
	tcase_add_test(tc, t_chunked_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_add_loop_test(tc, t_query_param, 0, NELEM(qp_cases));
	tcase_add_test(tc, t_reason);
	tcase_add_test(tc, t_str_cmp);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
