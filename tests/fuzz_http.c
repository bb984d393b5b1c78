/*
 * fuzz_http.c - libFuzzer target for http.c.
 *
 * The same bytes are parsed as a request head, a response head and a
 * chunked body. Beyond "no crash, no over-read" (ASan), it checks the
 * properties the proxy's read loop relies on: a complete head is the same
 * head when the buffer ends right after it; any prefix of it is PARTIAL;
 * views stay inside the input; and chunked decoding gives the same payload,
 * consumed count and outcome however the input is split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static void
check_view(struct http_str s, const char *in, size_t n)
{
	CHECK(s.p != NULL || s.n == 0);
	if (s.n)
		CHECK(s.p >= in && s.p + s.n <= in + n);
}

/* The outcome expected for a prefix of an input whose full parse gave rc. */
static void
check_prefix(int rc, int rc_prefix, size_t k)
{
	if (rc >= 0 && k < (size_t)rc)
		CHECK(rc_prefix == HTTP_PARTIAL);
	else if (rc == HTTP_PARTIAL)
		CHECK(rc_prefix == HTTP_PARTIAL);
	else if (rc == HTTP_ERROR)
		CHECK(rc_prefix == HTTP_PARTIAL || rc_prefix == HTTP_ERROR);
}

static void
fuzz_request(const char *in, size_t n, size_t cut)
{
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	struct http_req req;
	size_t i;
	int rc, rc2;

	rc = http_parse_request(in, n, &req, hdrs, HTTP_MAX_HEADERS);
	if (rc == HTTP_ERROR) {
		CHECK(req.error != NULL);
		CHECK(req.error_status == 400 || req.error_status == 431 ||
		    req.error_status == 501 || req.error_status == 505);
	} else if (rc >= 0) {
		CHECK((size_t)rc <= n && rc >= 16);
		CHECK(req.nhdrs <= HTTP_MAX_HEADERS);
		check_view(req.method, in, (size_t)rc);
		check_view(req.target, in, (size_t)rc);
		check_view(req.query, in, (size_t)rc);
		/* path may be the static "/" for "http://host" */
		if (!(req.path.n == 1 && req.path.p[0] == '/'))
			check_view(req.path, in, (size_t)rc);
		for (i = 0; i < req.nhdrs; i++) {
			check_view(hdrs[i].name, in, (size_t)rc);
			check_view(hdrs[i].value, in, (size_t)rc);
			CHECK(hdrs[i].name.n > 0);
		}
		CHECK(!(req.chunked && req.content_length >= 0));
		rc2 = http_parse_request(in, (size_t)rc, &req, hdrs, HTTP_MAX_HEADERS);
		CHECK(rc2 == rc);
		rc2 = http_parse_request(in, (size_t)rc - 1, &req, hdrs, HTTP_MAX_HEADERS);
		CHECK(rc2 == HTTP_PARTIAL);
	} else {
		CHECK(rc == HTTP_PARTIAL);
	}
	if (cut < n) {
		rc2 = http_parse_request(in, cut, &req, hdrs, HTTP_MAX_HEADERS);
		check_prefix(rc, rc2, cut);
	}
	/* a small header array only ever turns success into 431 */
	rc2 = http_parse_request(in, n, &req, hdrs, 2);
	if (rc2 != rc)
		CHECK(rc2 == HTTP_ERROR && req.error_status == 431);
}

static void
fuzz_response(const char *in, size_t n, size_t cut)
{
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	struct http_resp resp;
	size_t i;
	int rc, rc2;

	rc = http_parse_response(in, n, &resp, hdrs, HTTP_MAX_HEADERS);
	if (rc == HTTP_ERROR) {
		CHECK(resp.error != NULL);
	} else if (rc >= 0) {
		CHECK((size_t)rc <= n);
		CHECK(resp.status >= 100 && resp.status <= 599);
		check_view(resp.reason, in, (size_t)rc);
		for (i = 0; i < resp.nhdrs; i++) {
			check_view(hdrs[i].name, in, (size_t)rc);
			check_view(hdrs[i].value, in, (size_t)rc);
		}
		CHECK(!(resp.chunked && resp.content_length >= 0));
		rc2 = http_parse_response(in, (size_t)rc, &resp, hdrs, HTTP_MAX_HEADERS);
		CHECK(rc2 == rc);
		rc2 = http_parse_response(in, (size_t)rc - 1, &resp, hdrs, HTTP_MAX_HEADERS);
		CHECK(rc2 == HTTP_PARTIAL);
	} else {
		CHECK(rc == HTTP_PARTIAL);
	}
	if (cut < n) {
		rc2 = http_parse_response(in, cut, &resp, hdrs, HTTP_MAX_HEADERS);
		check_prefix(rc, rc2, cut);
	}
}

struct ck_result { long used; size_t olen; int done, err; };

/* Decode in[0..n) in pieces: first up to `cut`, then the rest, each piece
 * in runs of at most `step` bytes (0: unlimited). */
static void
chunked_run(const char *in, size_t n, size_t cut, size_t step, char *out,
            struct ck_result *res)
{
	struct http_chunked c;
	size_t off = 0, lim, end;
	const char *d;
	size_t dl;
	long r;

	memset(&c, 0, sizeof(c));
	memset(res, 0, sizeof(*res));
	while (off < n && !c.done) {
		end = off < cut ? cut : n;
		lim = step && end - off > step ? off + step : end;
		r = http_chunked_feed(&c, in + off, lim - off, &d, &dl);
		if (r < 0) {
			CHECK(r == HTTP_ERROR);
			res->err = 1;
			break;
		}
		CHECK((size_t)r <= lim - off && dl <= (size_t)r);
		CHECK(r > 0 || c.done);
		if (dl) {
			CHECK(d >= in + off && d + dl <= in + off + (size_t)r);
			memcpy(out + res->olen, d, dl);
			res->olen += dl;
		}
		off += (size_t)r;
	}
	res->used = (long)off;
	res->done = c.done;
}

static void
fuzz_chunked(const char *in, size_t n, size_t cut)
{
	struct ck_result a, b;
	char *oa = malloc(n + 1), *ob = malloc(n + 1);

	CHECK(oa && ob);
	chunked_run(in, n, 0, 0, oa, &a);
	chunked_run(in, n, cut, 0, ob, &b);
	CHECK(a.err == b.err && a.done == b.done);
	if (!a.err)
		CHECK(a.used == b.used);
	CHECK(a.olen == b.olen && memcmp(oa, ob, a.olen) == 0);
	if (n <= 4096) {
		chunked_run(in, n, 0, 1, ob, &b);
		CHECK(a.err == b.err && a.done == b.done);
		if (!a.err)
			CHECK(a.used == b.used);
		CHECK(a.olen == b.olen && memcmp(oa, ob, a.olen) == 0);
	}
	free(oa);
	free(ob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t cut;

	cut = size ? ((size_t)data[0] * 131u + data[size - 1]) % (size + 1) : 0;
	fuzz_request(in, size, cut);
	fuzz_response(in, size, cut);
	fuzz_chunked(in, size, cut);
	return 0;
}
