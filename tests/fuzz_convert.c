/*
 * fuzz_convert.c - libFuzzer target for the conversion core.
 *
 * Byte 0 picks the formats: low 2 bits = the client format the body is
 * decoded as, next 2 bits = the upstream format used for the stream part.
 * The rest is a request body: px_decode_request, then px_encode_request to
 * every format, and px_decode_response/px_encode_response on the same bytes.
 * Finally the same bytes are cut into SSE events through sse.c and streamed
 * from the upstream format to every client format, including the cut-off
 * path (px_stream_end). The client-only legacy completions format is
 * exercised too: the body decoded as one, and as a stream client.
 * Nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"

static void
stream_all(enum px_fmt up, const char *p, size_t n)
{
	enum px_fmt c;
	const char *cr = "{\"model\":\"m\",\"stream\":true,\"max_tokens\":5,"
	    "\"stream_options\":{\"include_usage\":true},\"messages\":[]}";

	/* every client format, the client-only legacy completions last */
	for (c = 0; c <= PX_FMT_COUNT; c++) {
		enum px_fmt cf = c == PX_FMT_COUNT ? PX_FMT_COMPLETIONS : c;
		struct px_arena a;
		struct jw w;
		struct ir_request req;
		struct px_err err;
		struct px_stream *s;
		struct sse_parser sp;
		struct sse_event ev;
		size_t off = 0;
		int got;
		long k;

		px_arena_init(&a, 64u << 20);
		jw_init(&w, &a, 16u << 20);
		if (px_decode_request(cf, &a, cr, strlen(cr), &req, &err) != 0)
			memset(&req, 0, sizeof req);
		s = px_stream_new(&a, up, cf, &req);
		if (s) {
			sse_init(&sp);
			px_stream_begin(s, &w);
			while (off < n) {
				k = sse_feed(&sp, p + off, n - off, &ev, &got);
				if (k <= 0)
					break;
				off += (size_t)k;
				if (got)
					px_stream_feed(s, &ev, (c & 1) || c == PX_FMT_COUNT ?
					    &w : NULL);
				if (w.len > (8u << 20))
					jw_reset(&w);
			}
			if (sse_finish(&sp, &ev))
				px_stream_feed(s, &ev, &w);
			px_stream_end(s, &w);
			sse_free(&sp);
			px_arena_free(&s->scratch);
		}
		px_arena_free(&a);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum px_fmt from, up, to;
	const char *body;
	size_t n;

	if (size < 1)
		return 0;
	from = (enum px_fmt)(data[0] & 3);
	up = (enum px_fmt)((data[0] >> 2) & 3);
	body = (const char *)data + 1;
	n = size - 1;
	px_set_deterministic(1700000000);
	{
		struct px_arena a;
		struct ir_request req;
		struct ir_response resp;
		struct ir_error e;
		struct px_err err;
		struct jw w;
		char path[256];

		px_arena_init(&a, 64u << 20);
		if (px_decode_request(from, &a, body, n, &req, &err) == 0) {
			for (to = 0; to < PX_FMT_COUNT; to++) {
				jw_init(&w, &a, 16u << 20);
				px_encode_request(to, &req, req.model, &w, &err);
				px_upstream_path(to, req.model, req.stream, path,
				    sizeof path);
			}
			if (px_decode_response(up, &a, body, n, &resp, &err) == 0)
				for (to = 0; to < PX_FMT_COUNT; to++) {
					jw_init(&w, &a, 16u << 20);
					px_encode_response(to, &req, &resp, &w, &err);
				}
		}
		/* the body as a legacy completions request, to every upstream;
		 * any upstream answer back to a completions client */
		if (px_decode_request(PX_FMT_COMPLETIONS, &a, body, n, &req,
		    &err) == 0) {
			for (to = 0; to < PX_FMT_COUNT; to++) {
				jw_init(&w, &a, 16u << 20);
				px_encode_request(to, &req, req.model, &w, &err);
			}
			if (px_decode_response(up, &a, body, n, &resp, &err) == 0) {
				jw_init(&w, &a, 16u << 20);
				px_encode_response(PX_FMT_COMPLETIONS, &req, &resp,
				    &w, &err);
			}
		}
		px_decode_error(from, &a, 500, body, n, &e);
		for (to = 0; to < PX_FMT_COUNT; to++) {
			jw_init(&w, &a, 1u << 20);
			px_encode_error(to, &e, &w);
		}
		jw_init(&w, &a, 16u << 20);
		px_rewrite_model(body, n, px_str_c("x"), &w);
		px_arena_free(&a);
	}
	stream_all(up, body, n);
	return 0;
}
