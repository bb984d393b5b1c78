/*
 * fuzz_sse.c - libFuzzer target for sse.c.
 *
 * The first two input bytes seed the cut points, the rest is the stream.
 * The stream is framed once whole and again cut into pieces: of
 * data-derived sizes, or byte by byte when the stream is at most 1024
 * bytes and the top bit of byte 0 plus its length is odd (one of the two
 * per input keeps an execution cheap; the length flips it as the fuzzer
 * inserts and erases bytes). The sequences of (event, data, id) and the
 * final sse_finish() result must be identical. Each piece is a separate
 * heap copy so ASan sees any over-read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define CHECK(c)  do { if (!(c)) abort(); } while (0)

struct rec {
	char *p;
	size_t n, cap;
};

static void
add(struct rec *r, const void *s, size_t n)
{
	if (r->n + n > r->cap) {
		r->cap = (r->n + n) * 2 + 64;
		r->p = realloc(r->p, r->cap);
		CHECK(r->p != NULL);
	}
	if (n > 0)
		memcpy(r->p + r->n, s, n);
	r->n += n;
}

static void
add_field(struct rec *r, const char *s, size_t n)
{
	CHECK(s != NULL);
	add(r, &n, sizeof(n));
	add(r, s, n);
}

static void
add_ev(struct rec *r, char tag, const struct sse_event *ev)
{
	add(r, &tag, 1);
	add_field(r, ev->event, ev->event_len);
	add_field(r, ev->data, ev->data_len);
	add_field(r, ev->id, ev->id_len);
}

/* Frame s[0..n) cut into pieces of the sizes `next` yields. */
static struct rec
run(const char *s, size_t n, uint32_t seed, int mode)
{
	struct sse_parser p;
	struct sse_event ev;
	struct rec r;
	size_t off, len, k;
	char *piece;
	long got_n;
	int got, err;

	memset(&r, 0, sizeof(r));
	sse_init(&p);
	err = 0;
	for (off = 0; off < n && !err; off += len) {
		if (mode == 0)
			len = n;
		else if (mode == 1)
			len = 1;
		else {
			seed = seed * 1103515245u + 12345u;
			len = (seed >> 16) % 17 + ((seed >> 8) & 1 ? 0 : 64);
			if (len == 0)
				len = 1;
		}
		if (len > n - off)
			len = n - off;
		piece = malloc(len ? len : 1);
		CHECK(piece != NULL);
		memcpy(piece, s + off, len);
		k = 0;
		for (;;) {
			got_n = sse_feed(&p, piece + k, len - k, &ev, &got);
			if (got_n == SSE_ERROR) {
				add(&r, "E", 1);
				err = 1;
				break;
			}
			CHECK(got_n >= 0 && (size_t)got_n <= len - k);
			k += (size_t)got_n;
			if (got) {
				CHECK(got_n > 0);
				add_ev(&r, 'e', &ev);
				continue;
			}
			CHECK(k == len);
			break;
		}
		free(piece);
	}
	if (!err && sse_finish(&p, &ev))
		add_ev(&r, 'f', &ev);
	sse_free(&p);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rec whole, cut;
	uint32_t seed;

	if (size < 2)
		return 0;
	seed = (uint32_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	whole = run((const char *)data, size, 0, 0);
	cut = run((const char *)data, size, seed, (((seed >> 15) + size) & 1) &&
	    size <= 1024 ? 1 : 2);
	/* no events at all leaves both buffers NULL */
	CHECK(whole.n == cut.n &&
	    (whole.n == 0 || memcmp(whole.p, cut.p, whole.n) == 0));
	free(cut.p);
	free(whole.p);
	return 0;
}
