/*
 * fuzz_embed.c - libFuzzer target for the embeddings and token-count codecs.
 *
 * Byte 0 sets the context the answer decoders need: low 2 bits + 1 = the
 * number of inputs the request had, bit 2 = base64 was asked for, bit 3 =
 * the Gemini client used :batchEmbedContents. The rest is one body, given
 * to every decoder in turn:
 *  - as an OpenAI embeddings request (then encoded for Gemini and OpenAI);
 *  - as a Gemini embedContent / batchEmbedContents request (the passthrough
 *    model rewrite, and decoded then encoded for OpenAI);
 *  - as a Gemini embeddings answer for an OpenAI client and an OpenAI
 *    answer for a Gemini client;
 *  - as a Gemini countTokens request (unwrapped, decoded, encoded for
 *    Anthropic and Gemini) and an Anthropic count_tokens request;
 *  - as a count answer of every format converted to every format.
 * What a converter writes must be JSON. Nothing may crash, leak or read out
 * of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"

static void
must_json(struct px_arena *a, const struct jw *w)
{
	if (w->err || !w->buf)
		return;
	if (!json_parse(a, w->buf, w->len, 0, NULL))
		abort();
}

static void
count_requests(struct px_arena *a, enum px_fmt from, const char *p, size_t n)
{
	static const char *const models[] = { "m", "models/g-1" };
	struct ir_request req;
	struct px_err err;
	struct jw w;
	enum px_fmt to;
	size_t k;

	memset(&req, 0, sizeof req);
	req.max_tokens = -1;
	if (px_decode_request(from, a, p, n, &req, &err) != 0)
		return;
	(void)px_request_text_bytes(&req);
	for (to = 0; to < PX_FMT_COUNT; to++)
		for (k = 0; k < 2; k++) {
			jw_init(&w, a, 16u << 20);
			if (px_count_encode_request(to, a, &req,
			    px_str_c(models[k]), &w, &err) == 0)
				must_json(a, &w);
		}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const texts[] = { "a", "", "b\"c", "d" };
	struct px_arena a;
	struct px_embed_req r, ctx;
	struct px_str inputs[4], in;
	struct px_err err;
	struct jw w;
	enum px_fmt up, to;
	const char *body;
	long long t;
	size_t n, k;
	int batch;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	n = size - 1;
	batch = (data[0] >> 3) & 1;
	px_arena_init(&a, 64u << 20);

	/* the request an answer belongs to */
	memset(&ctx, 0, sizeof ctx);
	ctx.model = px_str_c("client-model");
	ctx.ninputs = (size_t)(data[0] & 3) + 1;
	for (k = 0; k < 4; k++)
		inputs[k] = px_str_c(texts[k]);
	ctx.inputs = inputs;
	ctx.base64 = (data[0] >> 2) & 1;
	ctx.dimensions = -1;

	/* OpenAI embeddings request */
	if (px_embed_decode_request(&a, body, n, &r, &err) == 0) {
		jw_init(&w, &a, 16u << 20);
		if (px_embed_encode_gemini(&r, px_str_c("e-1"), &w, &err) == 0)
			must_json(&a, &w);
		jw_init(&w, &a, 16u << 20);
		if (px_embed_encode_openai(&r, px_str_c("u"), batch, &w,
		    &err) == 0)
			must_json(&a, &w);
		(void)px_embed_gemini_batch(&r);
	}

	/* Gemini client's request, both verbs */
	for (k = 0; k < 2; k++) {
		jw_init(&w, &a, 16u << 20);
		if (px_embed_gemini_rewrite(&a, body, n, (int)k,
		    px_str_c(k ? "models/g\"1" : "g-1"), &w, &err) == 0)
			must_json(&a, &w);
		if (px_embed_decode_gemini_request(&a, body, n, (int)k,
		    px_str_c("c"), &r, &err) == 0) {
			jw_init(&w, &a, 16u << 20);
			if (px_embed_encode_openai(&r, px_str_c("u"), (int)k, &w,
			    &err) != 0)
				abort();    /* a decoded request always encodes */
			must_json(&a, &w);
		}
	}

	/* answers */
	jw_init(&w, &a, 16u << 20);
	if (px_embed_decode_gemini(&a, &ctx, body, n, &w, &t, &err) == 0)
		must_json(&a, &w);
	jw_init(&w, &a, 16u << 20);
	if (px_embed_encode_gemini_answer(&a, &ctx, batch, body, n, &w, &t,
	    &err) == 0)
		must_json(&a, &w);

	/* token counting */
	if (px_count_unwrap_gemini(&a, body, n, &in, &err) == 0) {
		if (in.p < body || in.p + in.n > body + n)
			abort();
		count_requests(&a, PX_FMT_GEMINI, in.p, in.n);
	}
	count_requests(&a, PX_FMT_ANTHROPIC, body, n);
	for (up = 0; up < PX_FMT_COUNT; up++)
		for (to = 0; to < PX_FMT_COUNT; to++) {
			jw_init(&w, &a, 4096);
			if (px_count_convert_response(up, to, &a, body, n, &w,
			    &t, &err) == 0)
				must_json(&a, &w);
		}
	px_arena_free(&a);
	return 0;
}
