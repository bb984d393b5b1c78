/*
 * test_auth.c - SHA-256 vectors, hex keys, constant-time compare, lookup,
 * the header precedence of auth_presented(), '*' patterns, the model
 * allow-list and expiry.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "testutil.h"

static void
hex32(const unsigned char d[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[64] = 0;
}

/* FIPS 180-2 / NIST vectors */
static const struct {
	const char *in;
	const char *hex;
} sha_vec[] = {
	{ "abc",
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "",
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};

START_TEST(t_sha256_vectors)
{
	unsigned char d[32];
	char h[65];
	struct guard g;
	const char *in = sha_vec[_i].in;
	char *p = guard_copy(&g, in, strlen(in));

	auth_sha256(p, strlen(in), d);
	hex32(d, h);
	ck_assert_str_eq(h, sha_vec[_i].hex);
	guard_free(&g);
}
END_TEST

START_TEST(t_key_plain)
{
	struct auth_key k;
	char h[65];

	ck_assert_int_eq(auth_key_plain(&k, "ci", "abc", 3), 0);
	ck_assert_str_eq(k.name, "ci");
	hex32(k.sha256, h);
	ck_assert_str_eq(h, sha_vec[0].hex);
}
END_TEST

START_TEST(t_key_name_truncated)
{
	struct auth_key k;
	char longname[200];

	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	auth_key_plain(&k, longname, "x", 1);
	ck_assert_uint_eq(strlen(k.name), AUTH_NAME_MAX - 1);
}
END_TEST

START_TEST(t_key_hex)
{
	struct auth_key a, b, c;

	auth_key_plain(&a, "a", "abc", 3);
	ck_assert_int_eq(auth_key_hex(&b, "b", sha_vec[0].hex), 0);
	ck_assert_int_eq(memcmp(a.sha256, b.sha256, 32), 0);
	ck_assert_str_eq(b.name, "b");
	/* upper case and mixed case */
	ck_assert_int_eq(auth_key_hex(&c, "c",
	    "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
	    0);
	ck_assert_int_eq(memcmp(a.sha256, c.sha256, 32), 0);
	ck_assert_int_eq(auth_key_hex(&c, "c",
	    "Ba7816bF8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015aD"),
	    0);
	ck_assert_int_eq(memcmp(a.sha256, c.sha256, 32), 0);
}
END_TEST

static const char *bad_hex[] = {
	"",
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015add",
	"ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a ",
	" a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	"0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015",
};

START_TEST(t_key_hex_bad)
{
	struct auth_key k;

	memset(&k, 0x55, sizeof k);
	ck_assert_int_eq(auth_key_hex(&k, "x", bad_hex[_i]), -1);
	ck_assert_int_eq(auth_key_hex(&k, "x", NULL), -1);
}
END_TEST

START_TEST(t_ct_eq)
{
	unsigned char a[64], b[64];
	size_t i;

	for (i = 0; i < sizeof a; i++)
		a[i] = b[i] = (unsigned char)(i * 7);
	ck_assert_int_eq(auth_ct_eq(a, b, sizeof a), 1);
	ck_assert_int_eq(auth_ct_eq(a, b, 0), 1);
	/* a difference at every position, and in every bit, is seen */
	for (i = 0; i < sizeof a; i++) {
		int bit;
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= (unsigned char)(1u << bit);
			ck_assert_int_eq(auth_ct_eq(a, b, sizeof a), 0);
			b[i] ^= (unsigned char)(1u << bit);
		}
	}
	ck_assert_int_eq(auth_ct_eq(a, b, sizeof a), 1);
}
END_TEST

START_TEST(t_find)
{
	struct auth_key keys[4];
	const struct auth_key *k;

	auth_key_plain(&keys[0], "one", "sk-one", 6);
	auth_key_plain(&keys[1], "two", "sk-two", 6);
	auth_key_hex(&keys[2], "abc", sha_vec[0].hex);
	auth_key_plain(&keys[3], "dup", "sk-one", 6);

	k = auth_find(keys, 4, "sk-two", 6);
	ck_assert_ptr_eq(k, &keys[1]);
	k = auth_find(keys, 4, "abc", 3);
	ck_assert_ptr_eq(k, &keys[2]);
	/* duplicates: the first entry wins even though all are compared */
	k = auth_find(keys, 4, "sk-one", 6);
	ck_assert_ptr_eq(k, &keys[0]);
	ck_assert_ptr_null(auth_find(keys, 4, "sk-on", 5));
	ck_assert_ptr_null(auth_find(keys, 4, "sk-one ", 7));
	ck_assert_ptr_null(auth_find(keys, 4, "", 0));
	ck_assert_ptr_null(auth_find(keys, 0, "sk-one", 6));
	ck_assert_ptr_null(auth_find(keys, 4, NULL, 0));
	/* length matters: a prefix of the bytes is not the key */
	ck_assert_ptr_null(auth_find(keys, 4, "sk-twoXYZ", 9));
	ck_assert_ptr_eq(auth_find(keys, 4, "sk-twoXYZ", 6), &keys[1]);
}
END_TEST

/* auth_presented(): one row per case. NULL = header absent. */
static const struct {
	const char *authz, *xkey, *goog, *query;
	const char *want;            /* NULL = no key */
} pres[] = {
	{ "Bearer sk-a", "sk-x", "sk-g", "sk-q", "sk-a" },
	{ "bearer sk-a", NULL, NULL, NULL, "sk-a" },
	{ "BEARER sk-a", NULL, NULL, NULL, "sk-a" },
	{ "BeArEr  \t sk-a  ", NULL, NULL, NULL, "sk-a" },
	{ "  Bearer sk-a", NULL, NULL, NULL, "sk-a" },
	{ "Bearer\tsk-a", NULL, NULL, NULL, "sk-a" },
	{ "Bearer sk a", NULL, NULL, NULL, "sk a" },
	/* not Bearer, or empty: fall through to the next source */
	{ "Basic dXNlcjpwYXNz", "sk-x", NULL, NULL, "sk-x" },
	{ "Bearersk-a", "sk-x", NULL, NULL, "sk-x" },
	{ "Bearer", "sk-x", NULL, NULL, "sk-x" },
	{ "Bearer   ", "sk-x", NULL, NULL, "sk-x" },
	{ "", "sk-x", NULL, NULL, "sk-x" },
	{ "Bearer sk-a", NULL, NULL, NULL, "sk-a" },
	{ NULL, "sk-x", "sk-g", "sk-q", "sk-x" },
	{ NULL, " sk-x ", NULL, NULL, "sk-x" },
	{ NULL, "", "sk-g", "sk-q", "sk-g" },
	{ NULL, NULL, "sk-g", "sk-q", "sk-g" },
	{ NULL, NULL, "  ", "sk-q", "sk-q" },
	{ NULL, NULL, NULL, "sk-q", "sk-q" },
	{ "Basic x", NULL, NULL, NULL, NULL },
	{ NULL, NULL, NULL, "", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const char *
gcopy(struct guard *g, const char *s, size_t *n)
{
	*n = s ? strlen(s) : 0;
	if (s == NULL) {
		g->map = NULL;
		return NULL;
	}
	return guard_copy(g, s, *n);
}

START_TEST(t_presented)
{
	struct guard g[4];
	const char *a, *x, *gg, *q, *k;
	size_t an, xn, gn, qn, n = 99;
	int i;

	a = gcopy(&g[0], pres[_i].authz, &an);
	x = gcopy(&g[1], pres[_i].xkey, &xn);
	gg = gcopy(&g[2], pres[_i].goog, &gn);
	q = gcopy(&g[3], pres[_i].query, &qn);
	k = auth_presented(a, an, x, xn, gg, gn, q, qn, &n);
	if (pres[_i].want == NULL) {
		ck_assert_ptr_null(k);
		ck_assert_uint_eq(n, 0);
	} else {
		ck_assert_ptr_nonnull(k);
		ck_assert_uint_eq(n, strlen(pres[_i].want));
		ck_assert_int_eq(memcmp(k, pres[_i].want, n), 0);
	}
	for (i = 0; i < 4; i++)
		if (g[i].map != NULL)
			guard_free(&g[i]);
}
END_TEST

/* Values are length-delimited: nothing past alen is read or returned. */
START_TEST(t_presented_lengths)
{
	const char *h = "Bearer sk-abcdef";
	const char *k;
	size_t n;

	k = auth_presented(h, 10, NULL, 0, NULL, 0, NULL, 0, &n);
	ck_assert_ptr_nonnull(k);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(memcmp(k, "sk-", 3), 0);
	k = auth_presented(h, 7, NULL, 0, NULL, 0, NULL, 0, &n);
	ck_assert_ptr_null(k);
}
END_TEST

/* auth_glob(): one row per case. */
static const struct {
	const char *pat, *s;
	int want;
} globs[] = {
	{ "gpt-4o", "gpt-4o", 1 },
	{ "gpt-4o", "gpt-4o-mini", 0 },
	{ "gpt-4o", "gpt-4", 0 },
	{ "gpt-*", "gpt-4o", 1 },
	{ "gpt-*", "gpt-", 1 },
	{ "gpt-*", "gpt", 0 },
	{ "gpt-*", "GPT-4o", 0 },
	{ "*", "", 1 },
	{ "*", "anything/at:all", 1 },
	{ "", "", 1 },
	{ "", "a", 0 },
	{ "*-mini", "gpt-4o-mini", 1 },
	{ "*-mini", "gpt-4o-mini-x", 0 },
	{ "claude-*-4-5", "claude-sonnet-4-5", 1 },
	{ "claude-*-4-5", "claude-sonnet-4-5-20250929", 0 },
	{ "a*b*c", "abc", 1 },
	{ "a*b*c", "aXbYbZc", 1 },
	{ "a*b*c", "aXbYc d", 0 },
	{ "a**b", "ab", 1 },
	{ "*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	{ "*?", "x?", 1 },
	{ "*?", "xy", 0 },
};

START_TEST(t_glob)
{
	struct guard g;
	size_t n = strlen(globs[_i].s);
	const char *p = guard_copy(&g, globs[_i].s, n);

	ck_assert_int_eq(auth_glob(globs[_i].pat, p, n), globs[_i].want);
	guard_free(&g);
}
END_TEST

START_TEST(t_model_allowed)
{
	struct auth_key k;

	auth_key_plain(&k, "ci", "x", 1);
	/* no list: every model */
	ck_assert_int_eq(auth_model_allowed(&k, "anything", 8), 1);
	ck_assert_int_eq(auth_model_allowed(NULL, "anything", 8), 1);
	strcpy(k.lim.models[0], "gpt-4o-mini");
	strcpy(k.lim.models[1], "claude-*");
	k.lim.nmodels = 2;
	ck_assert_int_eq(auth_model_allowed(&k, "gpt-4o-mini", 11), 1);
	ck_assert_int_eq(auth_model_allowed(&k, "claude-opus-4-1", 15), 1);
	ck_assert_int_eq(auth_model_allowed(&k, "gpt-4o", 6), 0);
	ck_assert_int_eq(auth_model_allowed(&k, "", 0), 0);
	ck_assert_int_eq(auth_model_allowed(&k, NULL, 0), 0);
	/* the length is the name: a longer buffer is not read past n */
	ck_assert_int_eq(auth_model_allowed(&k, "gpt-4o-mini-high", 11), 1);
	ck_assert_int_eq(auth_model_allowed(&k, "gpt-4o-mini", 10), 0);
}
END_TEST

START_TEST(t_expired_and_reset)
{
	struct auth_key k;

	auth_key_plain(&k, "ci", "x", 1);
	ck_assert_int_eq(auth_key_expired(&k, 4000000000LL), 0);
	k.lim.expires = 1000;
	ck_assert_int_eq(auth_key_expired(&k, 999), 0);
	ck_assert_int_eq(auth_key_expired(&k, 1000), 1);
	ck_assert_int_eq(auth_key_expired(NULL, 1000), 0);
	/* filling a key again resets what it may do */
	k.lim.rpm = 5;
	k.lim.nmodels = 1;
	strcpy(k.prefix, "sk-llmp-x");
	k.created = 7;
	auth_key_plain(&k, "ci", "y", 1);
	ck_assert_int_eq(k.lim.expires, 0);
	ck_assert_int_eq(k.lim.rpm, 0);
	ck_assert_int_eq(k.lim.nmodels, 0);
	ck_assert_str_eq(k.prefix, "");
	ck_assert_int_eq(k.created, 0);
	k.lim.tpm = 9;
	ck_assert_int_eq(auth_key_hex(&k, "h", sha_vec[0].hex), 0);
	ck_assert_int_eq(k.lim.tpm, 0);
	/* a bad hex leaves the key alone */
	k.lim.tpm = 9;
	ck_assert_int_eq(auth_key_hex(&k, "h", "zz"), -1);
	ck_assert_int_eq(k.lim.tpm, 9);
	ck_assert_str_eq(k.name, "h");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");
	SRunner *sr;
	int nf;

	tcase_add_loop_test(tc, t_sha256_vectors, 0,
	    (int)(sizeof sha_vec / sizeof sha_vec[0]));
	tcase_add_test(tc, t_key_plain);
	tcase_add_test(tc, t_key_name_truncated);
	tcase_add_test(tc, t_key_hex);
	tcase_add_loop_test(tc, t_key_hex_bad, 0,
	    (int)(sizeof bad_hex / sizeof bad_hex[0]));
	tcase_add_test(tc, t_ct_eq);
	tcase_add_test(tc, t_find);
	tcase_add_loop_test(tc, t_presented, 0,
	    (int)(sizeof pres / sizeof pres[0]));
	tcase_add_test(tc, t_presented_lengths);
	tcase_add_loop_test(tc, t_glob, 0,
	    (int)(sizeof globs / sizeof globs[0]));
	tcase_add_test(tc, t_model_allowed);
	tcase_add_test(tc, t_expired_and_reset);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
