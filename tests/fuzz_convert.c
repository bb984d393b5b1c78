/*
 * fuzz_convert.c - libFuzzer target for the conversion core.
 *
 * One input is one conversion, so each costs a parse or two and the fuzzer
 * (not the harness) walks the combinations. Byte 0 picks it:
 *   bits 0-1  the operation:
 *             0 request   decode as client format A (incl. legacy
 *                         completions), encode for upstream format B
 *             1 response  decode as upstream format A, encode for client B
 *             2 stream    the body cut into SSE events, streamed from
 *                         upstream A to client B, then ended (the cut-off
 *                         path when the body stops early)
 *             3 error     decode an upstream error of format A, encode it
 *                         for client B; and the passthrough model rewrite
 *   bits 2-4  A (taken modulo the formats it can be)
 *   bits 5-7  plus the body length: B (likewise; a stream with B >= 5
 *             modulo 8 runs observe-only, without client bytes). The
 *             length turns the target as the fuzzer inserts and erases
 *             bytes, so every target of a body gets tried without a
 *             mutation having to hit byte 0.
 * The rest is the body, at most FUZZ_BODY_MAX bytes. The client requests
 * that answers and streams are encoded against are decoded once, up front.
 * Nothing may crash, leak, read out of bounds or hit undefined behaviour.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"

#define FUZZ_BODY_MAX (64u << 10)
#define NCLIENT (PX_FMT_COUNT + 1)         /* the four, then completions */

static struct px_arena reqs_arena;
static struct ir_request reqs[NCLIENT];
static int reqs_ok[NCLIENT];

static enum px_fmt
client_fmt(unsigned k)
{
	return k % NCLIENT == PX_FMT_COUNT ? PX_FMT_COMPLETIONS :
	    (enum px_fmt)(k % NCLIENT);
}

/* one streaming client request per client format, kept for every input */
static void
init_requests(void)
{
	static const char *const body[NCLIENT] = {
		"{\"model\":\"m\",\"stream\":true,\"max_tokens\":5,"
		"\"stream_options\":{\"include_usage\":true},\"messages\":[],"
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
		"\"get_weather\"}}]}",
		"{\"model\":\"m\",\"stream\":true,\"input\":\"q\","
		"\"reasoning\":{\"summary\":\"auto\"},\"tools\":[{\"type\":"
		"\"function\",\"name\":\"get_weather\"},{\"type\":\"custom\","
		"\"name\":\"apply_patch\"}]}",
		"{\"model\":\"m\",\"stream\":true,\"max_tokens\":5,"
		"\"messages\":[],\"tools\":[{\"name\":\"get_weather\","
		"\"input_schema\":{\"type\":\"object\"}}]}",
		"{\"contents\":[],\"generationConfig\":{\"thinkingConfig\":"
		"{\"includeThoughts\":true}}}",
		"{\"model\":\"m\",\"stream\":true,\"prompt\":\"p\","
		"\"stream_options\":{\"include_usage\":true}}",
	};
	struct px_err err;
	unsigned k;

	px_arena_init(&reqs_arena, 0);
	for (k = 0; k < NCLIENT; k++)
		reqs_ok[k] = px_decode_request(client_fmt(k), &reqs_arena,
		    body[k], strlen(body[k]), &reqs[k], &err) == 0;
}

static void
op_request(struct px_arena *a, unsigned ka, unsigned kb, const char *p,
           size_t n)
{
	struct ir_request req;
	struct px_err err;
	struct jw w;
	enum px_fmt to = (enum px_fmt)(kb % PX_FMT_COUNT);
	char buf[256];

	if (px_decode_request(client_fmt(ka), a, p, n, &req, &err) != 0)
		return;
	jw_init(&w, a, 16u << 20);
	px_encode_request(to, &req, req.model, &w, &err);
	px_dropped_tools(to, &req, buf, sizeof buf);
	px_upstream_path(to, req.model, req.stream, buf, sizeof buf);
	(void)px_request_text_bytes(&req);
}

static void
op_response(struct px_arena *a, unsigned ka, unsigned kb, const char *p,
            size_t n)
{
	struct ir_response resp;
	struct px_err err;
	struct jw w;
	unsigned c = kb % NCLIENT;

	if (!reqs_ok[c] || px_decode_response((enum px_fmt)(ka % PX_FMT_COUNT),
	    a, p, n, &resp, &err) != 0)
		return;
	jw_init(&w, a, 16u << 20);
	px_encode_response(client_fmt(c), &reqs[c], &resp, &w, &err);
}

static void
op_stream(struct px_arena *a, unsigned ka, unsigned kb, const char *p,
          size_t n)
{
	struct px_stream *s;
	struct sse_parser sp;
	struct sse_event ev;
	struct jw w, *out;
	size_t off = 0;
	unsigned c = kb % NCLIENT;
	int got;
	long k;

	if (!reqs_ok[c])
		return;
	s = px_stream_new(a, (enum px_fmt)(ka % PX_FMT_COUNT), client_fmt(c),
	    &reqs[c]);
	if (!s)
		return;
	jw_init(&w, a, 16u << 20);
	out = kb >= NCLIENT ? NULL : &w;
	sse_init(&sp);
	px_stream_begin(s, &w);
	while (off < n) {
		k = sse_feed(&sp, p + off, n - off, &ev, &got);
		if (k <= 0)
			break;
		off += (size_t)k;
		if (got)
			px_stream_feed(s, &ev, out);
		if (w.len > (8u << 20))
			jw_reset(&w);
	}
	if (sse_finish(&sp, &ev))
		px_stream_feed(s, &ev, out);
	px_stream_end(s, &w);
	(void)px_stream_done(s);
	sse_free(&sp);
	px_arena_free(&s->scratch);
}

static void
op_error(struct px_arena *a, unsigned ka, unsigned kb, const char *p,
         size_t n)
{
	struct ir_error e;
	struct jw w;
	enum px_fmt to = client_fmt(kb);

	px_decode_error((enum px_fmt)(ka % PX_FMT_COUNT), a, 400 + (int)kb * 17,
	    p, n, &e);
	(void)px_error_status(to, &e);
	jw_init(&w, a, 1u << 20);
	px_encode_error(to, &e, &w);
	jw_init(&w, a, 16u << 20);
	px_rewrite_model(p, n, px_str_c("x\"y"), &w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	struct px_arena a;
	const char *body;
	unsigned ka, kb;
	size_t n;

	if (size < 1 || size - 1 > FUZZ_BODY_MAX)
		return 0;
	px_set_deterministic(1700000000);     /* same ids on a rerun */
	if (!inited) {
		init_requests();
		inited = 1;
	}
	body = (const char *)data + 1;
	n = size - 1;
	ka = (data[0] >> 2) & 7;
	kb = (unsigned)(((data[0] >> 5) + n) & 7);
	px_arena_init(&a, 64u << 20);
	switch (data[0] & 3) {
	case 0: op_request(&a, ka, kb, body, n); break;
	case 1: op_response(&a, ka, kb, body, n); break;
	case 2: op_stream(&a, ka, kb, body, n); break;
	default: op_error(&a, ka, kb, body, n); break;
	}
	px_arena_free(&a);
	return 0;
}
