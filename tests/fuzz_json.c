/*
 * fuzz_json.c - libFuzzer target for json.c.
 *
 * Parses the input strictly and with JSON_F_COMMENTS. Whatever parses must
 * re-serialise (jw_value) without error into strict JSON that parses again
 * and re-serialises to the same bytes (idempotent). Also checks that errors
 * carry a position inside the input, that every raw span lies inside the
 * input, that strict success implies comments-mode success with the same
 * output, that json_int agrees with json_num, and that a fixed-buffer
 * writer either fails cleanly or produces the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define CHECK(c)  do { if (!(c)) abort(); } while (0)

static void
walk(const struct json *v, const char *src, size_t n)
{
	const struct json *c;
	long long i;
	double d;
	size_t k;

	CHECK(v->raw >= src && v->rawlen <= n
	    && (size_t)(v->raw - src) <= n - v->rawlen);
	switch (v->type) {
	case JSON_NUMBER:
		CHECK(v->s == v->raw && v->n == v->rawlen);
		CHECK(json_num(v, &d));
		if (json_int(v, &i))
			CHECK(d == (double)i);
		break;
	case JSON_STRING:
		CHECK(v->s[v->n] == 0);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		k = 0;
		for (c = v->child; c != NULL; c = c->next, k++) {
			CHECK((v->type == JSON_OBJECT) == (c->key != NULL));
			if (c->key != NULL)
				CHECK(c->key[c->keylen] == 0);
			walk(c, src, n);
		}
		CHECK(k == v->len);
		break;
	default:
		break;
	}
}

/* Serialise v; returns the writer (buffer in arena a). */
static struct jw
ser(struct px_arena *a, const struct json *v)
{
	struct jw w;

	jw_init(&w, a, 0);
	jw_value(&w, v);
	CHECK(w.err == 0);
	CHECK(w.buf != NULL && w.buf[w.len] == 0);
	return w;
}

static void
one(const char *src, size_t n, unsigned flags, struct jw *out_strict,
    int *strict_ok, struct px_arena *keep)
{
	struct px_arena a;
	struct json_err e;
	struct json *v, *v2;
	struct jw w, w2, wf;
	char fixed[64];

	px_arena_init(&a, 64u << 20);
	v = json_parse(&a, src, n, flags, &e);
	if (v == NULL) {
		CHECK(e.code != JSON_OK && e.pos <= n && e.msg != NULL
		    && e.msg[0] != 0);
		/* strict-valid input must stay valid with comments allowed */
		CHECK(!(flags & JSON_F_COMMENTS) || !*strict_ok
		    || e.code == JSON_ERR_NOMEM);
		goto done;
	}
	CHECK(e.code == JSON_OK);
	walk(v, src, n);
	w = ser(&a, v);
	v2 = json_parse(&a, w.buf, w.len, 0, &e);
	CHECK(v2 != NULL);
	w2 = ser(&a, v2);
	CHECK(w2.len == w.len && memcmp(w.buf, w2.buf, w.len) == 0);

	jw_init_fixed(&wf, fixed, sizeof(fixed));
	jw_value(&wf, v);
	CHECK(wf.err ? w.len > sizeof(fixed) && wf.len <= sizeof(fixed)
	    : wf.len == w.len && memcmp(fixed, w.buf, w.len) == 0);

	if (!(flags & JSON_F_COMMENTS)) {
		*strict_ok = 1;
		out_strict->len = w.len;
		out_strict->buf = px_arena_strndup(keep, w.buf, w.len);
		CHECK(out_strict->buf != NULL);
	} else if (*strict_ok) {
		CHECK(out_strict->len == w.len
		    && memcmp(out_strict->buf, w.buf, w.len) == 0);
	}
done:
	px_arena_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct px_arena keep;
	struct jw strict;
	int strict_ok;

	px_arena_init(&keep, 0);
	memset(&strict, 0, sizeof(strict));
	strict_ok = 0;
	one((const char *)data, size, 0, &strict, &strict_ok, &keep);
	one((const char *)data, size, JSON_F_COMMENTS, &strict, &strict_ok,
	    &keep);
	px_arena_free(&keep);
	return 0;
}
