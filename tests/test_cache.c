/*
 * test_cache.c - the response cache (cache.c): the header's words, when
 * the cache applies, keys (every field counts, fields cannot run into
 * each other), answers kept by kind, the TTL on a fake clock, the byte
 * bound, and the stream recorder's limit.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

static void
key_of(const char *prov, const char *model, int fmt, int stream,
    const char *scope, const char *body, char out[PX_CACHE_KEY_LEN + 1])
{
	struct px_cache_keyin in;

	in.provider = prov;
	in.model = model;
	in.fmt = fmt;
	in.stream = stream;
	in.scope = scope;
	in.body = body;
	in.body_n = strlen(body);
	px_cache_key(&in, out);
}

START_TEST(t_header)
{
	ck_assert_int_eq(px_cache_hdr_parse("use", 3), PX_CACHE_HDR_USE);
	ck_assert_int_eq(px_cache_hdr_parse(" USE ", 5), PX_CACHE_HDR_USE);
	ck_assert_int_eq(px_cache_hdr_parse("skip", 4), PX_CACHE_HDR_SKIP);
	ck_assert_int_eq(px_cache_hdr_parse("bypass", 6), PX_CACHE_HDR_SKIP);
	ck_assert_int_eq(px_cache_hdr_parse("Off", 3), PX_CACHE_HDR_SKIP);
	ck_assert_int_eq(px_cache_hdr_parse("used", 4), PX_CACHE_HDR_NONE);
	ck_assert_int_eq(px_cache_hdr_parse("", 0), PX_CACHE_HDR_NONE);
	ck_assert_int_eq(px_cache_hdr_parse(NULL, 0), PX_CACHE_HDR_NONE);
	ck_assert_int_eq(px_cache_wanted(0, PX_CACHE_HDR_NONE), 0);
	ck_assert_int_eq(px_cache_wanted(0, PX_CACHE_HDR_USE), 1);
	ck_assert_int_eq(px_cache_wanted(0, PX_CACHE_HDR_SKIP), 0);
	ck_assert_int_eq(px_cache_wanted(1, PX_CACHE_HDR_NONE), 1);
	ck_assert_int_eq(px_cache_wanted(1, PX_CACHE_HDR_USE), 1);
	ck_assert_int_eq(px_cache_wanted(1, PX_CACHE_HDR_SKIP), 0);
}
END_TEST

START_TEST(t_keys)
{
	char k[8][PX_CACHE_KEY_LEN + 1];
	int i, j;

	key_of("oai", "gpt", 0, 0, "s", "{}", k[0]);
	key_of("oai", "gpt", 0, 0, "s", "{ }", k[1]);
	key_of("oai", "gpt", 0, 1, "s", "{}", k[2]);
	key_of("oai", "gpt", 1, 0, "s", "{}", k[3]);
	key_of("oai", "gpt", 0, 0, "t", "{}", k[4]);
	key_of("oa", "igpt", 0, 0, "s", "{}", k[5]);
	key_of("oai", "gp", 0, 0, "ts", "{}", k[6]);
	key_of("ant", "gpt", 0, 0, "s", "{}", k[7]);
	for (i = 0; i < 8; i++) {
		ck_assert_uint_eq(strlen(k[i]), PX_CACHE_KEY_LEN);
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(k[i], k[j]) != 0, "keys %d and %d "
			    "are the same", i, j);
	}
	key_of("oai", "gpt", 0, 0, "s", "{}", k[1]);
	ck_assert_str_eq(k[0], k[1]);          /* deterministic */
}
END_TEST

START_TEST(t_store)
{
	struct px_cache *c = px_cache_open(4096, 100, 1000, 0);
	const char *p;
	size_t n;
	int stream;
	char big[3000];

	ck_assert_ptr_null(px_cache_open(0, 100, 1000, 0));
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(px_cache_get(c, "k1", 0, &stream, &p, &n), 0);
	ck_assert_int_eq(px_cache_put(c, "k1", 0, 1, "data: x\n\n", 9), 0);
	ck_assert_int_eq(px_cache_put(c, "k2", 0, 0, "{\"a\":1}", 7), 0);
	ck_assert_int_eq(px_cache_put(c, "k3", 0, 0, "", 0), -1);
	ck_assert_int_eq(px_cache_get(c, "k1", 10, &stream, &p, &n), 1);
	ck_assert_int_eq(stream, 1);
	ck_assert_uint_eq(n, 9);
	ck_assert_int_eq(memcmp(p, "data: x\n\n", 9), 0);
	ck_assert_int_eq(px_cache_get(c, "k2", 10, &stream, &p, &n), 1);
	ck_assert_int_eq(stream, 0);
	ck_assert_int_eq(memcmp(p, "{\"a\":1}", 7), 0);
	/* the TTL runs from the put */
	ck_assert_int_eq(px_cache_get(c, "k2", 999, &stream, &p, &n), 1);
	ck_assert_int_eq(px_cache_get(c, "k2", 1001, &stream, &p, &n), 0);
	/* the byte bound evicts the least recently used */
	memset(big, 'x', sizeof big);
	ck_assert_int_eq(px_cache_put(c, "k4", 1100, 0, big, sizeof big), 0);
	ck_assert_int_eq(px_cache_put(c, "k5", 1100, 0, big, sizeof big), 0);
	ck_assert_int_eq(px_cache_get(c, "k4", 1100, &stream, &p, &n), 0);
	ck_assert_int_eq(px_cache_get(c, "k5", 1100, &stream, &p, &n), 1);
	px_cache_close(c);
}
END_TEST

START_TEST(t_recorder)
{
	struct px_cache_rec r;
	static char chunk[65536];

	memset(&r, 0, sizeof r);
	ck_assert_int_eq(px_cache_rec_add(&r, "abc", 3), 0);
	ck_assert_int_eq(px_cache_rec_add(&r, "de", 2), 0);
	ck_assert_uint_eq(r.len, 5);
	ck_assert_int_eq(memcmp(r.buf, "abcde", 5), 0);
	while (px_cache_rec_add(&r, chunk, sizeof chunk) == 0)
		ck_assert_uint_le(r.len, PX_CACHE_ENTRY_MAX);
	ck_assert_int_eq(r.over, 1);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_ptr_null(r.buf);
	ck_assert_int_eq(px_cache_rec_add(&r, "x", 1), -1);
	px_cache_rec_free(&r);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, t_header);
	tcase_add_test(tc, t_keys);
	tcase_add_test(tc, t_store);
	tcase_add_test(tc, t_recorder);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
