/*
 * fuzz_cli.c - libFuzzer target for the stream-json reader of command-line
 * upstreams (convert_cli.c and the px_jsonl framer, convert.h).
 *
 * Byte 0 picks what one input does (plus the body length, so every choice
 * gets tried as the fuzzer inserts and erases bytes, without a mutation
 * having to hit byte 0):
 *   bits 0-2  the client format (chat, responses, anthropic, gemini,
 *             completions; modulo 5)
 *   bits 3-4  the operation:
 *             0, 1 stream    the body is a command's output: framed into
 *                            lines, the JSON ones streamed to the client
 *                            format (1: observe-only, no client bytes),
 *                            then ended
 *             2    response  the whole output read by
 *                            px_decode_response(PX_FMT_CLI), encoded for
 *                            the client
 *             3    request   the body decoded as a client request and
 *                            encoded as the command's input
 *   bits 5-7  seed of the cut points
 * The rest is the body, at most FUZZ_BODY_MAX bytes. Every input is also
 * framed twice, whole and cut into pieces of data-derived sizes (each a
 * heap copy of its own so ASan sees an over-read): the lines (and
 * over-long line reports) must be identical. Nothing may crash, leak,
 * read out of bounds or hit undefined behaviour.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"

#define CHECK(c)  do { if (!(c)) abort(); } while (0)
#define FUZZ_BODY_MAX (12u << 10)
#define NCLIENT (PX_FMT_COUNT + 1)         /* the four, then completions */

static struct px_arena reqs_arena;
static struct ir_request reqs[2][NCLIENT];  /* [stream][client] */
static int reqs_ok[2][NCLIENT];

static enum px_fmt
client_fmt(unsigned k)
{
	return k % NCLIENT == PX_FMT_COUNT ? PX_FMT_COMPLETIONS :
	    (enum px_fmt)(k % NCLIENT);
}

static void
init_requests(void)
{
	static const char *const body[NCLIENT] = {
		"{\"model\":\"m\",%s\"messages\":[{\"role\":\"user\","
		"\"content\":\"q\"}],\"stream_options\":{\"include_usage\":"
		"true}}",
		"{\"model\":\"m\",%s\"input\":\"q\",\"reasoning\":{\"summary\":"
		"\"auto\"}}",
		"{\"model\":\"m\",%s\"max_tokens\":5,\"messages\":[{\"role\":"
		"\"user\",\"content\":\"q\"}]}",
		"{%s\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
		"\"q\"}]}],\"generationConfig\":{\"thinkingConfig\":"
		"{\"includeThoughts\":true}}}",
		"{\"model\":\"m\",%s\"prompt\":\"p\"}",
	};
	struct px_err err;
	char buf[512];
	unsigned k, st;
	int n;

	px_arena_init(&reqs_arena, 0);
	for (st = 0; st < 2; st++)
		for (k = 0; k < NCLIENT; k++) {
			n = snprintf(buf, sizeof buf, body[k], st &&
			    client_fmt(k) != PX_FMT_GEMINI ? "\"stream\":true," :
			    "");
			reqs_ok[st][k] = px_decode_request(client_fmt(k),
			    &reqs_arena, buf, (size_t)n, &reqs[st][k], &err) == 0;
			if (client_fmt(k) == PX_FMT_GEMINI)
				reqs[st][k].stream = (int)st;
		}
}

/* A record of what the framer gave, to compare two framings. */
struct rec {
	char *p;
	size_t n, cap;
};

static void
add(struct rec *r, int tag, const char *s, size_t n)
{
	if (r->n + n + 1 + sizeof n > r->cap) {
		r->cap = (r->n + n + 1 + sizeof n) * 2 + 64;
		r->p = realloc(r->p, r->cap);
		CHECK(r->p != NULL);
	}
	r->p[r->n++] = (char)tag;
	memcpy(r->p + r->n, &n, sizeof n);
	r->n += sizeof n;
	if (n)
		memcpy(r->p + r->n, s, n);
	r->n += n;
}

/*
 * Frame p[0..n) in pieces (whole when seed is 0), recording every line;
 * with s set, feed the JSON lines to the stream (out: client bytes or
 * NULL).
 */
static void
frame(const char *p, size_t n, uint32_t seed, struct rec *r,
    struct px_stream *s, struct jw *out)
{
	struct px_jsonl j;
	struct px_str line;
	struct sse_event ev;
	size_t off = 0, piece, k;
	uint32_t x = seed * 2654435761u + 1;
	char *copy;
	long used;
	int got;

	memset(&j, 0, sizeof j);
	while (off < n) {
		if (seed == 0) {
			piece = n - off;
		} else {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			piece = 1 + (x % 509);
			if (piece > n - off)
				piece = n - off;
		}
		copy = malloc(piece);
		CHECK(copy != NULL);
		memcpy(copy, p + off, piece);
		for (k = 0; k < piece; k += (size_t)used) {
			used = px_jsonl_feed(&j, copy + k, piece - k, &line,
			    &got);
			CHECK(used >= 1 && (size_t)used <= piece - k);
			if (!got) {
				CHECK((size_t)used == piece - k);
				continue;
			}
			CHECK(got == PX_JSONL_LINE || got == PX_JSONL_LONG);
			CHECK(got == PX_JSONL_LONG || line.n <=
			    PX_JSONL_LINE_MAX);
			add(r, got, line.p, line.n);
			if (s && got == PX_JSONL_LINE && px_cli_line(line.p,
			    line.n)) {
				memset(&ev, 0, sizeof ev);
				ev.event = ev.id = "";
				ev.data = line.p;
				ev.data_len = line.n;
				px_stream_feed(s, &ev, out);
				if (out && out->len > (4u << 20))
					jw_reset(out);
			}
		}
		free(copy);
		off += piece;
	}
	got = px_jsonl_finish(&j, &line);
	if (got) {
		add(r, got, line.p, line.n);
		if (s && got == PX_JSONL_LINE && px_cli_line(line.p, line.n)) {
			memset(&ev, 0, sizeof ev);
			ev.event = ev.id = "";
			ev.data = line.p;
			ev.data_len = line.n;
			px_stream_feed(s, &ev, out);
		}
	}
	px_jsonl_free(&j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	struct px_arena a;
	static struct rec whole, cut;       /* reused: fewer page faults */
	struct px_stream *s = NULL;
	struct ir_response resp;
	struct ir_request req;
	struct px_err err;
	struct jw w;
	const char *p;
	unsigned sel, c, op;
	size_t n;

	if (!inited) {
		init_requests();
		inited = 1;
	}
	if (size < 1 || size - 1 > FUZZ_BODY_MAX)
		return 0;
	sel = data[0];
	p = (const char *)data + 1;
	n = size - 1;
	c = (sel + (unsigned)n) % NCLIENT;
	op = ((sel >> 3) + (unsigned)(n >> 3)) & 3;
	px_arena_init(&a, 0);
	jw_init(&w, &a, 16u << 20);
	whole.n = cut.n = 0;

	frame(p, n, 0, &whole, NULL, NULL);
	switch (op) {
	case 0:
	case 1:
		if (reqs_ok[1][c])
			s = px_stream_new(&a, PX_FMT_CLI, client_fmt(c),
			    &reqs[1][c]);
		if (s && op == 0)
			px_stream_begin(s, &w);
		frame(p, n, (sel >> 5) + 1, &cut, s, op == 0 ? &w : NULL);
		if (s) {
			px_stream_end(s, op == 0 ? &w : NULL);
			(void)px_stream_error(s, NULL);
			(void)px_stream_error_msg(s);
			(void)px_stream_content(s);
		}
		break;
	case 2:
		frame(p, n, (sel >> 5) + 1, &cut, NULL, NULL);
		if (reqs_ok[0][c] && px_decode_response(PX_FMT_CLI, &a, p, n,
		    &resp, &err) == 0)
			px_encode_response(client_fmt(c), &reqs[0][c], &resp,
			    &w, &err);
		break;
	default:
		frame(p, n, (sel >> 5) + 1, &cut, NULL, NULL);
		if (px_decode_request(client_fmt(c), &a, p, n, &req, &err) ==
		    0) {
			char buf[256];
			px_encode_request(PX_FMT_CLI, &req, req.model, &w,
			    &err);
			px_dropped_tools(PX_FMT_CLI, &req, buf, sizeof buf);
		}
		break;
	}
	CHECK(whole.n == cut.n && (whole.n == 0 ||
	    memcmp(whole.p, cut.p, whole.n) == 0));
	px_arena_free(&a);
	return 0;
}
