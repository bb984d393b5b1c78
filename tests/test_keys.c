/*
 * test_keys.c - the keys file and `llmproxy keys`: key generation (base62
 * vectors), names and times, the settings parser (every error, with its
 * position), the file parser (every error with its line, every truncation
 * of a good file), the file written and read back (mode, atomic rename,
 * lock under concurrent writers), create/revoke/rotate, and the command's
 * exact output.
 */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keys.h"
#include "limit.h"
#include "testutil.h"

#define NOW 1748736000LL          /* 2025-06-01T00:00:00Z */

#define HEX_A "4bb046cae28ffe06433f53f601dbf7f0ab1def513162b480b5b0c35a2a7bfd7b"
#define HEX_B "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* ------------------------------------------------------------ secrets */

static const struct {
	unsigned char first, fill, last;
	const char *want;
} b62[] = {
	{ 0, 0, 0, "sk-llmp-0000000000000000000000000000000000000000000" },
	{ 0, 0, 1, "sk-llmp-0000000000000000000000000000000000000000001" },
	{ 0xff, 0xff, 0xff,
	  "sk-llmp-yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1" },
};

START_TEST(t_base62)
{
	unsigned char rnd[32];
	char out[KEYS_SECRET_SIZE];

	memset(rnd, b62[_i].fill, sizeof rnd);
	rnd[0] = b62[_i].first;
	rnd[31] = b62[_i].last;
	memset(out, 'x', sizeof out);
	keys_secret_from_bytes(rnd, out);
	ck_assert_str_eq(out, b62[_i].want);
	ck_assert_uint_eq(strlen(out), KEYS_SECRET_LEN);
}
END_TEST

START_TEST(t_base62_counting)
{
	unsigned char rnd[32];
	char out[KEYS_SECRET_SIZE];
	int i;

	for (i = 0; i < 32; i++)
		rnd[i] = (unsigned char)i;
	keys_secret_from_bytes(rnd, out);
	ck_assert_str_eq(out,
	    "sk-llmp-003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf");
}
END_TEST

START_TEST(t_random)
{
	unsigned char a[32], b[32];

	ck_assert_int_eq(keys_random(a, sizeof a), 0);
	ck_assert_int_eq(keys_random(b, sizeof b), 0);
	ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
	ck_assert_int_eq(keys_random(a, 0), 0);
}
END_TEST

/* ------------------------------------------------------------ names, times */

static const struct {
	const char *name;
	int ok;
} names[] = {
	{ "ci", 1 }, { "alice@example.com", 1 }, { "team.ml-prod_2", 1 },
	{ "A", 1 }, { "9lives", 1 }, { "", 0 }, { "-x", 0 }, { ".x", 0 },
	{ "a b", 0 }, { "a/b", 0 }, { "a\"b", 0 }, { "caf\xc3\xa9", 0 },
	{ "a\n", 0 },
	{ "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc", 1 },
	{ "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd", 0 },
};

START_TEST(t_names)
{
	ck_assert_int_eq(keys_name_ok(names[_i].name), names[_i].ok);
	ck_assert_int_eq(keys_name_ok(NULL), 0);
}
END_TEST

static const struct {
	const char *s;
	long long t;              /* -1: refused */
} times[] = {
	{ "2025-06-01", 1748736000 },
	{ "2025-06-01T00:00:00Z", 1748736000 },
	{ "2025-06-01T23:59:59Z", 1748822399 },
	{ "1970-01-01", 0 },
	{ "2024-02-29", 1709164800 },
	{ "9999-12-31T23:59:59Z", 253402300799LL },
	{ "2023-02-29", -1 }, { "2025-13-01", -1 }, { "2025-00-10", -1 },
	{ "2025-04-31", -1 }, { "2025-06-00", -1 }, { "1969-12-31", -1 },
	{ "2025-06-01T24:00:00Z", -1 }, { "2025-06-01T23:60:00Z", -1 },
	{ "2025-06-01T23:59:60Z", -1 }, { "2025-06-01T23:59:59", -1 },
	{ "2025-06-01 23:59:59Z", -1 }, { "2025-6-01", -1 },
	{ "2025-06-01Z", -1 }, { "", -1 }, { "+025-06-01", -1 },
	{ "2025-06-01T23:59:59+00:00", -1 },
};

START_TEST(t_times)
{
	struct guard g;
	const char *p = guard_copy(&g, times[_i].s, strlen(times[_i].s));
	long long t = 42;
	int rc = keys_parse_time(p, strlen(times[_i].s), &t);

	if (times[_i].t < 0) {
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(t, 42);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(t, times[_i].t);
	}
	guard_free(&g);
}
END_TEST

/* ------------------------------------------------------------ settings */

static struct px_arena arena;

/* Parse s into the test's arena (freeing what it held before). */
static struct json *
parse_json(const char *s)
{
	struct json *v;

	px_arena_free(&arena);
	px_arena_init(&arena, 1 << 20);
	v = json_parse(&arena, s, strlen(s), 0, NULL);
	ck_assert_ptr_nonnull(v);
	return v;
}

START_TEST(t_settings_good)
{
	static const char *const also[] = { "name", "key", NULL };
	const char *s = "{\"name\":\"x\",\"models\":[\"gpt-*\",\"o3\"],"
	    "\"rpm\":60,\"tpm\":100000,\"parallel\":4,\"budget\":{\"usd\":10.5,"
	    "\"per\":\"month\"},\"expires\":\"2026-01-01\",\"key\":\"k\"}";
	struct auth_limits lim;
	struct keys_err e;
	struct jw w;
	char buf[512];

	ck_assert_int_eq(keys_settings_parse(&lim, parse_json(s), also, &e), 0);
	ck_assert_int_eq(lim.nmodels, 2);
	ck_assert_str_eq(lim.models[0], "gpt-*");
	ck_assert_str_eq(lim.models[1], "o3");
	ck_assert_int_eq(lim.rpm, 60);
	ck_assert_int_eq(lim.tpm, 100000);
	ck_assert_int_eq(lim.parallel, 4);
	ck_assert_double_eq(lim.budget_usd, 10.5);
	ck_assert_int_eq(lim.budget_per, AUTH_PER_MONTH);
	ck_assert_int_eq(lim.expires, 1767225600);
	jw_init_fixed(&w, buf, sizeof buf);
	jw_obj(&w);
	keys_settings_write(&w, &lim);
	jw_obj_end(&w);
	ck_assert_int_eq(w.err, 0);
	ck_assert_str_eq(buf, "{\"models\":[\"gpt-*\",\"o3\"],\"rpm\":60,"
	    "\"tpm\":100000,\"parallel\":4,\"budget\":{\"usd\":10.5,\"per\":"
	    "\"month\"},\"expires\":\"2026-01-01T00:00:00Z\"}");
	keys_settings_str(&lim, buf, sizeof buf);
	ck_assert_str_eq(buf, "models=gpt-*,o3 rpm=60 tpm=100000 parallel=4 "
	    "budget=$10.50/month expires=2026-01-01T00:00:00Z");
	ck_assert_uint_eq(keys_settings_str(&lim, buf, 8), 7);
	ck_assert_str_eq(buf, "models=");
	/* also == NULL: other members are the caller's business */
	ck_assert_int_eq(keys_settings_parse(&lim,
	    parse_json("{\"anything\":[1],\"rpm\":1}"), NULL, &e), 0);
	ck_assert_int_eq(lim.rpm, 1);
	/* nothing set: no limits, written as nothing */
	ck_assert_int_eq(keys_settings_parse(&lim, parse_json("{}"), NULL,
	    NULL), 0);
	keys_settings_str(&lim, buf, sizeof buf);
	ck_assert_str_eq(buf, "-");
	lim.budget_usd = 0.125;
	lim.budget_per = AUTH_PER_DAY;
	keys_settings_str(&lim, buf, sizeof buf);
	ck_assert_str_eq(buf, "budget=$0.125/day");
	px_arena_free(&arena);
}
END_TEST

static const struct {
	const char *json;
	const char *msg;
	const char *at;           /* the text the error points at, or NULL */
} bad_settings[] = {
	{ "[]", "key settings must be an object", "[]" },
	{ "{\"nam\":1}", "unknown key \"nam\"", "1}" },
	{ "{\"rpm\":1,\"rpm\":2}", "duplicate key \"rpm\"", "2}" },
	{ "{\"rpm\":0}", "\"rpm\" must be a positive integer (at most "
	  "1000000000000)", "0}" },
	{ "{\"tpm\":-5}", "\"tpm\" must be a positive integer (at most "
	  "1000000000000)", "-5}" },
	{ "{\"parallel\":1.5}", "\"parallel\" must be a positive integer (at "
	  "most 1000000000000)", "1.5}" },
	{ "{\"rpm\":\"60\"}", "\"rpm\" must be a positive integer (at most "
	  "1000000000000)", "\"60\"}" },
	{ "{\"rpm\":1000000000001}", "\"rpm\" must be a positive integer (at "
	  "most 1000000000000)", "1000000000001}" },
	{ "{\"models\":[]}", "\"models\" must be a non-empty array of model "
	  "names or patterns (leave it out for every model)", "[]}" },
	{ "{\"models\":\"gpt-*\"}", "\"models\" must be a non-empty array of "
	  "model names or patterns (leave it out for every model)",
	  "\"gpt-*\"}" },
	{ "{\"models\":[\"a\",\"\"]}", "\"models\" entries must be non-empty "
	  "strings", "\"\"]}" },
	{ "{\"models\":[\"a\",7]}", "\"models\" entries must be non-empty "
	  "strings", "7]}" },
	{ "{\"models\":[\"a\\u0000b\"]}", "\"models\" entry contains control "
	  "characters", "\"a\\u0000b\"]}" },
	{ "{\"models\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\","
	  "\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}",
	  "\"models\" has more than 16 patterns", "[\"a\"" },
	{ "{\"budget\":10}", "\"budget\" must be {\"usd\": N, \"per\": \"day\" "
	  "or \"month\"}", "10}" },
	{ "{\"budget\":{\"usd\":10}}", "\"budget\" needs \"usd\" and \"per\"",
	  "{\"usd\":10}}" },
	{ "{\"budget\":{\"usd\":0,\"per\":\"day\"}}", "\"budget\".\"usd\" must "
	  "be a positive number of US dollars (at most 1000000000)",
	  "0,\"per\"" },
	{ "{\"budget\":{\"usd\":1e10,\"per\":\"day\"}}", "\"budget\".\"usd\" "
	  "must be a positive number of US dollars (at most 1000000000)",
	  "1e10," },
	{ "{\"budget\":{\"usd\":5,\"per\":\"week\"}}", "\"budget\".\"per\" "
	  "must be \"day\" or \"month\"", "\"week\"}}" },
	{ "{\"budget\":{\"usd\":5,\"per\":\"day\",\"x\":1}}", "unknown key "
	  "\"x\" in \"budget\"", "1}}" },
	{ "{\"budget\":{\"usd\":5,\"usd\":6,\"per\":\"day\"}}", "duplicate key "
	  "\"usd\" in \"budget\"", "6,\"per\"" },
	{ "{\"expires\":\"2023-02-29\"}", "\"expires\" must be a UTC date "
	  "\"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SSZ\"", "\"2023-02-29\"}" },
	{ "{\"expires\":1767225600}", "\"expires\" must be a UTC date "
	  "\"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SSZ\"", "1767225600}" },
};

START_TEST(t_settings_bad)
{
	static const char *const also[] = { "name", NULL };
	const char *s = bad_settings[_i].json;
	struct auth_limits lim;
	struct keys_err e;
	struct json *v = parse_json(s);

	memset(&e, 0, sizeof e);
	ck_assert_int_eq(keys_settings_parse(&lim, v, also, &e), -1);
	ck_assert_str_eq(e.msg, bad_settings[_i].msg);
	ck_assert_ptr_nonnull(e.at);
	ck_assert_int_eq(strncmp(e.at, bad_settings[_i].at,
	    strlen(bad_settings[_i].at)), 0);
	/* a failed parse leaves no half-set limits */
	ck_assert_int_eq(lim.rpm, 0);
	ck_assert_int_eq(lim.nmodels, 0);
	/* and without an error struct it still fails */
	ck_assert_int_eq(keys_settings_parse(&lim, v, also, NULL), -1);
	px_arena_free(&arena);
}
END_TEST

START_TEST(t_settings_pattern_len)
{
	char j[400], pat[200];
	struct auth_limits lim;
	struct keys_err e;

	memset(pat, 'm', AUTH_PATTERN_MAX - 1);
	pat[AUTH_PATTERN_MAX - 1] = 0;
	snprintf(j, sizeof j, "{\"models\":[\"%s\"]}", pat);
	ck_assert_int_eq(keys_settings_parse(&lim, parse_json(j), NULL, &e), 0);
	ck_assert_str_eq(lim.models[0], pat);
	px_arena_free(&arena);
	pat[AUTH_PATTERN_MAX - 1] = 'm';
	pat[AUTH_PATTERN_MAX] = 0;
	snprintf(j, sizeof j, "{\"models\":[\"%s\"]}", pat);
	ck_assert_int_eq(keys_settings_parse(&lim, parse_json(j), NULL, &e),
	    -1);
	ck_assert_str_eq(e.msg, "\"models\" entry is too long (max 127 bytes)");
	px_arena_free(&arena);
}
END_TEST

/* ------------------------------------------------------------ the file */

static const char good_file[] =
    "{\"version\":1,\"keys\":[\n"
    "{\"name\":\"alice\",\"sha256\":\"" HEX_A "\",\"prefix\":\"sk-llmp-AbCd\","
    "\"created\":\"2025-06-01T00:00:00Z\",\"models\":[\"gpt-*\",\"claude-*\"],"
    "\"rpm\":60,\"tpm\":100000,\"parallel\":4,\"budget\":{\"usd\":10,\"per\":"
    "\"day\"},\"expires\":\"2026-01-01T00:00:00Z\"},\n"
    "{\"name\":\"bob\",\"sha256\":\"" HEX_B "\",\"created\":"
    "\"2025-05-01T12:00:00Z\",\"rotated\":\"2025-05-02T12:00:00Z\"}\n"
    "]}\n";

START_TEST(t_parse_good)
{
	struct keys_set ks;
	char err[256] = "";
	const struct auth_key *k;
	struct px_arena a;
	struct jw w;
	const char *p;

	ck_assert_int_eq(keys_parse(&ks, "keys.json", good_file,
	    strlen(good_file), err, sizeof err), 0);
	ck_assert_uint_eq(ks.n, 2);
	k = &ks.keys[0];
	ck_assert_str_eq(k->name, "alice");
	ck_assert_str_eq(k->prefix, "sk-llmp-AbCd");
	ck_assert_int_eq(k->created, NOW);
	ck_assert_int_eq(k->rotated, 0);
	ck_assert_int_eq(k->lim.rpm, 60);
	ck_assert_int_eq(k->lim.budget_per, AUTH_PER_DAY);
	ck_assert_int_eq(k->lim.expires, 1767225600);
	/* the stored digest is the key's: "sk-llmp-test" */
	ck_assert_ptr_eq(auth_find(ks.keys, ks.n, "sk-llmp-test", 12), k);
	ck_assert_ptr_eq(auth_find(ks.keys, ks.n, "abc", 3), &ks.keys[1]);
	ck_assert_str_eq(ks.keys[1].prefix, "");
	ck_assert_int_eq(ks.keys[1].rotated, 1746187200);
	ck_assert_int_eq(ks.keys[1].lim.nmodels, 0);
	/* written back byte for byte */
	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	ck_assert_int_eq(keys_format(&ks, &w), 0);
	ck_assert_str_eq(w.buf, good_file);
	px_arena_free(&a);
	keys_free(&ks);
	ck_assert_ptr_null(ks.keys);
	ck_assert_uint_eq(ks.n, 0);
	/* an empty set, and comments (people edit this file) */
	p = "// none yet\n{\"version\":1,\"keys\":[],}";
	ck_assert_int_eq(keys_parse(&ks, NULL, p, strlen(p), err, sizeof err),
	    0);
	ck_assert_uint_eq(ks.n, 0);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	keys_format(&ks, &w);
	ck_assert_str_eq(w.buf, "{\"version\":1,\"keys\":[\n]}\n");
	px_arena_free(&a);
	keys_free(&ks);
}
END_TEST

#define E1 "{\"version\":1,\"keys\":[\n"
#define KA "{\"name\":\"a\",\"sha256\":\"" HEX_A "\""
#define KB "{\"name\":\"b\",\"sha256\":\"" HEX_B "\""

static const struct {
	const char *text;
	const char *err;          /* whole message; or a prefix ending "..." */
} bad_files[] = {
	{ "", "keys.json:1: invalid JSON: ..." },
	{ "{\"version\":1,", "keys.json:1: invalid JSON: ..." },
	{ "[]", "keys.json:1: must be an object {\"version\": 1, \"keys\": "
	  "[...]}" },
	{ "{\"keys\":[]}", "keys.json:1: \"version\" must be 1 (a newer "
	  "llmproxy may have written this file)" },
	{ "{\"version\":2,\"keys\":[]}", "keys.json:1: \"version\" must be 1 "
	  "(a newer llmproxy may have written this file)" },
	{ "{\"version\":1}", "keys.json:1: \"keys\" must be an array" },
	{ "{\"version\":1,\"keys\":{}}", "keys.json:1: \"keys\" must be an "
	  "array" },
	{ "{\"version\":1,\"keys\":[],\n\"x\":1}", "keys.json:2: unknown key "
	  "\"x\"" },
	{ "{\"version\":1,\n\"version\":1,\"keys\":[]}", "keys.json:2: "
	  "duplicate key \"version\"" },
	{ E1 "1]}", "keys.json:2: keys[0] must be an object" },
	{ E1 "{\"sha256\":\"" HEX_A "\"}]}", "keys.json:2: keys[0]: missing "
	  "\"name\"" },
	{ E1 "{\"name\":\"a b\",\"sha256\":\"" HEX_A "\"}]}", "keys.json:2: "
	  "keys[0]: \"name\" must be a name of 1 to 63 characters "
	  "[A-Za-z0-9._@-]" },
	{ E1 "{\"name\":7}]}", "keys.json:2: keys[0]: \"name\" must be a name "
	  "of 1 to 63 characters [A-Za-z0-9._@-]" },
	{ E1 "{\"name\":\"a\"}]}", "keys.json:2: key \"a\": missing "
	  "\"sha256\"" },
	{ E1 "{\"name\":\"a\",\"sha256\":\"abc\"}]}", "keys.json:2: key \"a\": "
	  "\"sha256\" must be 64 hex digits" },
	{ E1 "{\"name\":\"a\",\"sha256\":\"zzb046cae28ffe06433f53f601dbf7f0ab1def513162b480b5b0c35a2a7bfd7b\"}]}",
	  "keys.json:2: key \"a\": \"sha256\" must be 64 hex digits" },
	{ E1 KA ",\"colour\":\"red\"}]}", "keys.json:2: keys[0]: unknown key "
	  "\"colour\"" },
	{ E1 KA ",\"name\":\"b\"}]}", "keys.json:2: key \"a\": duplicate key "
	  "\"name\"" },
	{ E1 KA "},\n" KB ",\n\"rpm\":0}]}", "keys.json:4: key \"b\": \"rpm\" "
	  "must be a positive integer (at most 1000000000000)" },
	{ E1 KA "},\n{\"name\":\"a\",\"sha256\":\"" HEX_B "\"}]}",
	  "keys.json:3: duplicate key name \"a\"" },
	{ E1 KA "},\n{\"name\":\"b\",\"sha256\":\"" HEX_A "\"}]}",
	  "keys.json:3: keys \"a\" and \"b\" have the same sha256" },
	{ E1 KA ",\"prefix\":\"sk-llmp-AbCdEfGhIj\"}]}", "keys.json:2: key "
	  "\"a\": \"prefix\" must be a short string" },
	{ E1 KA ",\"created\":\"yesterday\"}]}", "keys.json:2: key \"a\": "
	  "\"created\" must be a UTC date \"YYYY-MM-DD\" or "
	  "\"YYYY-MM-DDTHH:MM:SSZ\"" },
	{ E1 KA ",\"rotated\":1}]}", "keys.json:2: key \"a\": \"rotated\" must "
	  "be a UTC date \"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SSZ\"" },
	{ E1 KA ",\n\"budget\":{\"usd\":1,\"per\":\"year\"}}]}", "keys.json:3: "
	  "key \"a\": \"budget\".\"per\" must be \"day\" or \"month\"" },
	{ E1 KA ",\"expires\":\"2025-02-30\"}]}", "keys.json:2: key \"a\": "
	  "\"expires\" must be a UTC date \"YYYY-MM-DD\" or "
	  "\"YYYY-MM-DDTHH:MM:SSZ\"" },
};

START_TEST(t_parse_bad)
{
	struct keys_set ks = { (struct auth_key *)&ks, 77 };
	char err[512] = "";
	const char *want = bad_files[_i].err;
	size_t n = strlen(bad_files[_i].text), wl = strlen(want);
	struct guard g;
	const char *p = guard_copy(&g, bad_files[_i].text, n);

	ck_assert_int_eq(keys_parse(&ks, "keys.json", p, n, err, sizeof err),
	    -1);
	if (wl > 3 && strcmp(want + wl - 3, "...") == 0)
		ck_assert_msg(strncmp(err, want, wl - 3) == 0 &&
		    strlen(err) > wl - 3, "got \"%s\"", err);
	else
		ck_assert_str_eq(err, want);
	/* ks untouched */
	ck_assert_ptr_eq(ks.keys, (struct auth_key *)&ks);
	ck_assert_uint_eq(ks.n, 77);
	guard_free(&g);
}
END_TEST

START_TEST(t_parse_too_many)
{
	size_t cap = (KEYS_MAX + 1) * 120 + 64, len, i;
	char *buf = malloc(cap);
	struct keys_set ks;
	char err[256];
	int n;

	ck_assert_ptr_nonnull(buf);
	len = (size_t)snprintf(buf, cap, "{\"version\":1,\"keys\":[");
	for (i = 0; i < KEYS_MAX + 1; i++) {
		n = snprintf(buf + len, cap - len, "%s{\"name\":\"k%zu\","
		    "\"sha256\":\"%064zx\"}", i ? "," : "", i, i);
		len += (size_t)n;
	}
	len += (size_t)snprintf(buf + len, cap - len, "]}");
	ck_assert_int_eq(keys_parse(&ks, "keys.json", buf, len, err,
	    sizeof err), -1);
	ck_assert_str_eq(err, "keys.json:1: more than 1024 keys");
	/* one fewer is fine */
	len = (size_t)(strrchr(buf, '{') - buf) - 1;
	memcpy(buf + len, "]}", 2);
	len += 2;
	ck_assert_int_eq(keys_parse(&ks, "keys.json", buf, len, err,
	    sizeof err), 0);
	ck_assert_uint_eq(ks.n, KEYS_MAX);
	ck_assert_str_eq(ks.keys[KEYS_MAX - 1].name, "k1023");
	keys_free(&ks);
	free(buf);
}
END_TEST

/* Every prefix of a good file fails cleanly (or parses, from the point
 * the JSON is complete), read against a guard page. */
START_TEST(t_parse_truncated)
{
	size_t n = strlen(good_file), i;
	struct keys_set ks;
	char err[512];
	struct guard g;
	const char *p;
	int rc;

	for (i = 0; i <= n; i++) {
		p = guard_copy(&g, good_file, i);
		err[0] = 0;
		rc = keys_parse(&ks, "k", p, i, err, sizeof err);
		if (i >= n - 1) {
			ck_assert_int_eq(rc, 0);
			keys_free(&ks);
		} else {
			ck_assert_int_eq(rc, -1);
			ck_assert_int_eq(strncmp(err, "k:", 2), 0);
		}
		guard_free(&g);
	}
}
END_TEST

/* ------------------------------------------------------------ on disk */

static char dir[256], state[300];

static void
mkstate(void)
{
	strcpy(dir, "/tmp/test_keys.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(state, sizeof state, "%s/state/llmproxy", dir);
}

static void
rmstate(void)
{
	char cmd[400];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
keys_text(void)
{
	char path[400];

	snprintf(path, sizeof path, "%s/keys.json", state);
	return read_file(path, NULL);
}

static int
is_secret(const char *s)
{
	size_t i;

	if (strlen(s) != KEYS_SECRET_LEN || strncmp(s, "sk-llmp-", 8) != 0)
		return 0;
	for (i = 8; i < KEYS_SECRET_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

START_TEST(t_create_load)
{
	struct auth_limits lim;
	struct keys_set ks;
	struct stat st;
	char secret[KEYS_SECRET_SIZE], s2[KEYS_SECRET_SIZE], err[256], p[400];
	char *text;

	mkstate();
	/* nothing yet: an empty set, and the directory is not created */
	ck_assert_int_eq(keys_load(&ks, state, err, sizeof err), 0);
	ck_assert_uint_eq(ks.n, 0);
	ck_assert_int_eq(stat(state, &st), -1);

	memset(&lim, 0, sizeof lim);
	lim.rpm = 5;
	strcpy(lim.models[0], "gpt-*");
	lim.nmodels = 1;
	ck_assert_int_eq(keys_create(state, "ci", &lim, NOW, secret, err,
	    sizeof err), KEYS_OK);
	ck_assert_msg(is_secret(secret), "secret %s", secret);
	ck_assert_int_eq(keys_create(state, "dev", NULL, NOW + 1, s2, err,
	    sizeof err), KEYS_OK);
	ck_assert_str_ne(secret, s2);

	/* the directory 0700, the file 0600, no temporary left */
	ck_assert_int_eq(stat(state, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	snprintf(p, sizeof p, "%s/keys.json", state);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	snprintf(p, sizeof p, "%s/keys.json.tmp", state);
	ck_assert_int_eq(stat(p, &st), -1);

	/* the secret is nowhere in the file, its prefix is */
	text = keys_text();
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(strstr(text, secret + 8));
	ck_assert_ptr_null(strstr(text, s2 + 8));
	ck_assert_ptr_nonnull(strstr(text, "\"prefix\":\"sk-llmp-"));
	free(text);

	ck_assert_int_eq(keys_load(&ks, state, err, sizeof err), 0);
	ck_assert_uint_eq(ks.n, 2);
	ck_assert_ptr_eq(auth_find(ks.keys, ks.n, secret, strlen(secret)),
	    &ks.keys[0]);
	ck_assert_ptr_eq(auth_find(ks.keys, ks.n, s2, strlen(s2)),
	    &ks.keys[1]);
	ck_assert_str_eq(ks.keys[0].name, "ci");
	ck_assert_int_eq(ks.keys[0].lim.rpm, 5);
	ck_assert_str_eq(ks.keys[0].lim.models[0], "gpt-*");
	ck_assert_int_eq(ks.keys[0].created, NOW);
	ck_assert_int_eq(strncmp(ks.keys[0].prefix, secret, 12), 0);
	ck_assert_uint_eq(strlen(ks.keys[0].prefix), 12);
	ck_assert_int_eq(ks.keys[1].created, NOW + 1);
	keys_free(&ks);

	/* taken names and bad names */
	ck_assert_int_eq(keys_create(state, "ci", NULL, NOW, secret, err,
	    sizeof err), KEYS_EEXIST);
	ck_assert_str_eq(err, "key \"ci\" exists (rotate or revoke it)");
	ck_assert_str_eq(secret, "");
	ck_assert_int_eq(keys_create(state, "a b", NULL, NOW, secret, err,
	    sizeof err), KEYS_EINVAL);
	ck_assert_str_eq(err, "invalid key name: use 1 to 63 characters "
	    "[A-Za-z0-9._@-], starting with a letter or digit");
	lim.rpm = -1;
	ck_assert_int_eq(keys_create(state, "neg", &lim, NOW, secret, err,
	    sizeof err), KEYS_EINVAL);
	ck_assert_str_eq(err, "invalid key settings");
	rmstate();
}
END_TEST

START_TEST(t_rotate_revoke)
{
	struct auth_limits lim;
	struct keys_set ks;
	char old[KEYS_SECRET_SIZE], neu[KEYS_SECRET_SIZE], err[256];
	char *before, *after;

	mkstate();
	memset(&lim, 0, sizeof lim);
	lim.tpm = 1000;
	lim.budget_usd = 2.5;
	lim.budget_per = AUTH_PER_MONTH;
	ck_assert_int_eq(keys_create(state, "ci", &lim, NOW, old, err,
	    sizeof err), KEYS_OK);
	ck_assert_int_eq(keys_rotate(state, "ci", NOW + 60, neu, err,
	    sizeof err), KEYS_OK);
	ck_assert(is_secret(neu));
	ck_assert_str_ne(old, neu);
	ck_assert_int_eq(keys_load(&ks, state, err, sizeof err), 0);
	ck_assert_uint_eq(ks.n, 1);
	ck_assert_ptr_null(auth_find(ks.keys, ks.n, old, strlen(old)));
	ck_assert_ptr_eq(auth_find(ks.keys, ks.n, neu, strlen(neu)),
	    &ks.keys[0]);
	ck_assert_int_eq(ks.keys[0].lim.tpm, 1000);
	ck_assert_double_eq(ks.keys[0].lim.budget_usd, 2.5);
	ck_assert_int_eq(ks.keys[0].created, NOW);
	ck_assert_int_eq(ks.keys[0].rotated, NOW + 60);
	ck_assert_int_eq(strncmp(ks.keys[0].prefix, neu, 12), 0);
	keys_free(&ks);

	ck_assert_int_eq(keys_rotate(state, "nobody", NOW, neu, err,
	    sizeof err), KEYS_ENOENT);
	ck_assert_str_eq(err, "no key \"nobody\"");
	ck_assert_str_eq(neu, "");
	ck_assert_int_eq(keys_revoke(state, "nobody", err, sizeof err),
	    KEYS_ENOENT);

	ck_assert_int_eq(keys_create(state, "b", NULL, NOW, old, err,
	    sizeof err), KEYS_OK);
	ck_assert_int_eq(keys_create(state, "c", NULL, NOW, old, err,
	    sizeof err), KEYS_OK);
	ck_assert_int_eq(keys_revoke(state, "b", err, sizeof err), KEYS_OK);
	ck_assert_int_eq(keys_revoke(state, "b", err, sizeof err),
	    KEYS_ENOENT);
	ck_assert_int_eq(keys_load(&ks, state, err, sizeof err), 0);
	ck_assert_uint_eq(ks.n, 2);
	ck_assert_str_eq(ks.keys[0].name, "ci");
	ck_assert_str_eq(ks.keys[1].name, "c");
	keys_free(&ks);

	/* a broken file is reported and left alone, never overwritten */
	before = keys_text();
	{
		char p[400];
		FILE *f;
		snprintf(p, sizeof p, "%s/keys.json", state);
		f = fopen(p, "a");
		fputs("garbage", f);
		fclose(f);
	}
	free(before);
	before = keys_text();
	ck_assert_int_eq(keys_create(state, "d", NULL, NOW, old, err,
	    sizeof err), KEYS_EIO);
	ck_assert_ptr_nonnull(strstr(err, "/keys.json:"));
	ck_assert_ptr_nonnull(strstr(err, "invalid JSON"));
	ck_assert_int_eq(keys_load(&ks, state, err, sizeof err), -1);
	after = keys_text();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	rmstate();
}
END_TEST

START_TEST(t_changed)
{
	struct keys_stamp st;
	char secret[KEYS_SECRET_SIZE], err[256];

	mkstate();
	memset(&st, 0, sizeof st);
	ck_assert_int_eq(keys_changed(state, &st), 0);        /* absent */
	ck_assert_int_eq(keys_create(state, "a", NULL, NOW, secret, err,
	    sizeof err), KEYS_OK);
	ck_assert_int_eq(keys_changed(state, &st), 1);
	ck_assert_int_eq(keys_changed(state, &st), 0);
	/* a rewrite with the same size is still a change (new inode) */
	ck_assert_int_eq(keys_rotate(state, "a", NOW, secret, err,
	    sizeof err), KEYS_OK);
	ck_assert_int_eq(keys_changed(state, &st), 1);
	ck_assert_int_eq(keys_changed(state, &st), 0);
	ck_assert_int_eq(keys_revoke(state, "a", err, sizeof err), KEYS_OK);
	ck_assert_int_eq(keys_changed(state, &st), 1);
	rmstate();
	ck_assert_int_eq(keys_changed(state, &st), 1);        /* vanished */
	ck_assert_int_eq(keys_changed(state, &st), 0);
	ck_assert_int_eq(keys_changed("", &st), 0);
}
END_TEST

/* Writers in several processes at once lose nothing (the lock). */
START_TEST(t_concurrent_writers)
{
	struct keys_set ks;
	char err[256];
	pid_t pid[4];
	int i, j, st;

	mkstate();
	for (i = 0; i < 4; i++) {
		pid[i] = fork();
		ck_assert_int_ge(pid[i], 0);
		if (pid[i] == 0) {
			char name[32], secret[KEYS_SECRET_SIZE], e[256];
			for (j = 0; j < 15; j++) {
				snprintf(name, sizeof name, "p%d-%d", i, j);
				if (keys_create(state, name, NULL, NOW, secret,
				    e, sizeof e) != KEYS_OK)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(waitpid(pid[i], &st, 0), pid[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	ck_assert_int_eq(keys_load(&ks, state, err, sizeof err), 0);
	ck_assert_uint_eq(ks.n, 60);
	keys_free(&ks);
	rmstate();
}
END_TEST

START_TEST(t_no_state_dir)
{
	struct keys_set ks;
	char secret[KEYS_SECRET_SIZE], err[256];

	ck_assert_int_eq(keys_load(&ks, "", err, sizeof err), -1);
	ck_assert_str_eq(err, "no state directory");
	ck_assert_int_eq(keys_create(NULL, "a", NULL, NOW, secret, err,
	    sizeof err), KEYS_EIO);
	ck_assert_int_eq(keys_create("/proc/self/nonexistent/x", "a", NULL,
	    NOW, secret, err, sizeof err), KEYS_EIO);
	ck_assert_ptr_nonnull(strstr(err, "/proc/self/nonexistent"));
}
END_TEST

START_TEST(t_dup_name)
{
	struct keys_set ks;
	struct auth_key cfg[2];
	char err[256];

	ck_assert_int_eq(keys_parse(&ks, "k", good_file, strlen(good_file),
	    err, sizeof err), 0);
	auth_key_plain(&cfg[0], "carol", "x", 1);
	auth_key_plain(&cfg[1], "zed", "y", 1);
	ck_assert_ptr_null(keys_dup_name(&ks, cfg, 2));
	auth_key_plain(&cfg[1], "bob", "y", 1);
	ck_assert_str_eq(keys_dup_name(&ks, cfg, 2), "bob");
	keys_free(&ks);
}
END_TEST

/* ------------------------------------------------------------ command */

struct cmdout {
	char *out, *err;
	size_t on, en;
	int rc;
};

static long long
last_used(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "alice") == 0 ? NOW + 36000 : 0;
}

static struct cmdout
run(const char *a0, ...)
{
	struct keys_hooks h = { NOW, last_used, NULL };
	struct cmdout r;
	char *argv[32];
	int argc = 0;
	FILE *o, *e;
	va_list ap;
	const char *a;

	argv[argc++] = "keys";
	va_start(ap, a0);
	for (a = a0; a != NULL && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	memset(&r, 0, sizeof r);
	o = open_memstream(&r.out, &r.on);
	e = open_memstream(&r.err, &r.en);
	r.rc = px_keys_cmd_ex(argc, argv, state, o, e, &h);
	fclose(o);
	fclose(e);
	return r;
}

static void
done(struct cmdout *r)
{
	free(r->out);
	free(r->err);
}

START_TEST(t_cmd)
{
	struct cmdout r;
	char a[KEYS_SECRET_SIZE], b[KEYS_SECRET_SIZE], want[1024];
	struct keys_set ks;
	char err[256];

	mkstate();
	r = run("list", NULL);
	ck_assert_int_eq(r.rc, 0);
	snprintf(want, sizeof want, "no keys in %s/keys.json\n", state);
	ck_assert_str_eq(r.out, want);
	done(&r);

	r = run("add", "alice", "--models", "gpt-*, claude-*", "--rpm", "60",
	    "--tpm=100000", "--parallel", "4", "--budget", "10", "--per",
	    "day", "--expires", "2026-01-01", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_uint_eq(r.on, KEYS_SECRET_LEN + 1);
	ck_assert_int_eq(r.out[KEYS_SECRET_LEN], '\n');
	r.out[KEYS_SECRET_LEN] = 0;
	ck_assert(is_secret(r.out));
	strcpy(a, r.out);
	ck_assert_str_eq(r.err, "created key \"alice\" (models=gpt-*,claude-* "
	    "rpm=60 tpm=100000 parallel=4 budget=$10.00/day "
	    "expires=2026-01-01T00:00:00Z); it is shown only this once\n");
	done(&r);

	r = run("add", "bob", "--expires", "30d", NULL);
	ck_assert_int_eq(r.rc, 0);
	r.out[KEYS_SECRET_LEN] = 0;
	strcpy(b, r.out);
	ck_assert_str_eq(r.err, "created key \"bob\" (expires="
	    "2025-07-01T00:00:00Z); it is shown only this once\n");
	done(&r);

	r = run("list", NULL);
	ck_assert_int_eq(r.rc, 0);
	snprintf(want, sizeof want,
	    "NAME   PREFIX        CREATED               LAST USED             "
	    "LIMITS\n"
	    "alice  %.12s  2025-06-01T00:00:00Z  2025-06-01T10:00:00Z  "
	    "models=gpt-*,claude-* rpm=60 tpm=100000 parallel=4 "
	    "budget=$10.00/day expires=2026-01-01T00:00:00Z\n"
	    "bob    %.12s  2025-06-01T00:00:00Z  never                 "
	    "expires=2025-07-01T00:00:00Z\n", a, b);
	ck_assert_str_eq(r.out, want);
	ck_assert_str_eq(r.err, "");
	done(&r);

	r = run("list", "--json", NULL);
	ck_assert_int_eq(r.rc, 0);
	snprintf(want, sizeof want,
	    "{\"keys\":[{\"name\":\"alice\",\"prefix\":\"%.12s\",\"created\":"
	    "\"2025-06-01T00:00:00Z\",\"last_used\":\"2025-06-01T10:00:00Z\","
	    "\"models\":[\"gpt-*\",\"claude-*\"],\"rpm\":60,\"tpm\":100000,"
	    "\"parallel\":4,\"budget\":{\"usd\":10,\"per\":\"day\"},\"expires\":"
	    "\"2026-01-01T00:00:00Z\",\"expired\":false},{\"name\":\"bob\","
	    "\"prefix\":\"%.12s\",\"created\":\"2025-06-01T00:00:00Z\","
	    "\"last_used\":null,\"expires\":\"2025-07-01T00:00:00Z\","
	    "\"expired\":false}]}\n", a, b);
	ck_assert_str_eq(r.out, want);
	done(&r);

	/* rotate: a new key on stdout, the old one gone */
	r = run("rotate", "alice", NULL);
	ck_assert_int_eq(r.rc, 0);
	r.out[KEYS_SECRET_LEN] = 0;
	ck_assert(is_secret(r.out));
	ck_assert_str_ne(r.out, a);
	ck_assert_ptr_nonnull(strstr(r.err, "rotated key \"alice\""));
	ck_assert_int_eq(keys_load(&ks, state, err, sizeof err), 0);
	ck_assert_ptr_null(auth_find(ks.keys, ks.n, a, strlen(a)));
	ck_assert_ptr_eq(auth_find(ks.keys, ks.n, r.out, strlen(r.out)),
	    &ks.keys[0]);
	ck_assert_ptr_eq(auth_find(ks.keys, ks.n, b, strlen(b)), &ks.keys[1]);
	ck_assert_int_eq(ks.keys[0].lim.rpm, 60);
	keys_free(&ks);
	done(&r);

	r = run("revoke", "bob", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "revoked key \"bob\"\n");
	done(&r);
	r = run("revoke", "bob", NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "llmproxy keys: no key \"bob\"\n");
	ck_assert_str_eq(r.out, "");
	done(&r);
	r = run("add", "alice", NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "llmproxy keys: key \"alice\" exists (rotate "
	    "or revoke it)\n");
	ck_assert_str_eq(r.out, "");
	done(&r);
	rmstate();
}
END_TEST

static const struct {
	const char *args[8];
	int rc;
	const char *err;          /* first line of stderr */
} usage[] = {
	{ { "add", NULL }, 2, "usage: llmproxy keys add NAME" },
	{ { "add", "--rpm", "5", NULL }, 2, "usage: llmproxy keys add NAME" },
	{ { "add", "x", "--rpm", "0", NULL }, 2,
	  "llmproxy keys: --rpm takes a positive integer" },
	{ { "add", "x", "--tpm", "1e3", NULL }, 2,
	  "llmproxy keys: --tpm takes a positive integer" },
	{ { "add", "x", "--parallel", NULL }, 2,
	  "llmproxy keys: --parallel needs a value" },
	{ { "add", "x", "--budget", "10", NULL }, 2,
	  "llmproxy keys: --budget and --per go together (--budget 10 --per "
	  "day)" },
	{ { "add", "x", "--per", "day", NULL }, 2,
	  "llmproxy keys: --budget and --per go together (--budget 10 --per "
	  "day)" },
	{ { "add", "x", "--budget", "10", "--per", "week", NULL }, 2,
	  "llmproxy keys: --per takes day or month" },
	{ { "add", "x", "--budget", "-1", "--per", "day", NULL }, 2,
	  "llmproxy keys: --budget takes a positive amount of US dollars" },
	{ { "add", "x", "--budget", "ten", "--per", "day", NULL }, 2,
	  "llmproxy keys: --budget takes a positive amount of US dollars" },
	{ { "add", "x", "--expires", "2025-05-31", NULL }, 2,
	  "llmproxy keys: --expires 2025-05-31 is in the past" },
	{ { "add", "x", "--expires", "soon", NULL }, 2,
	  "llmproxy keys: --expires takes YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or "
	  "Nd" },
	{ { "add", "x", "--models", "a,,b", NULL }, 2,
	  "llmproxy keys: --models takes 1 to 16 comma-separated patterns" },
	{ { "add", "x", "--models", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
	    NULL }, 2,
	  "llmproxy keys: --models takes 1 to 16 comma-separated patterns" },
	{ { "add", "x", "--colour", "red", NULL }, 2,
	  "llmproxy keys: unknown option --colour" },
	{ { "add", "bad name", NULL }, 2,
	  "llmproxy keys: invalid key name: use 1 to 63 characters "
	  "[A-Za-z0-9._@-], starting with a letter or digit" },
	{ { "list", "--csv", NULL }, 2, "usage: llmproxy keys add NAME" },
	{ { "revoke", NULL }, 2, "usage: llmproxy keys add NAME" },
	{ { "rotate", "a", "b", NULL }, 2, "usage: llmproxy keys add NAME" },
	{ { "frobnicate", NULL }, 2, "llmproxy keys: unknown command "
	  "frobnicate" },
	{ { NULL }, 2, "usage: llmproxy keys add NAME" },
};

START_TEST(t_cmd_usage)
{
	struct keys_hooks h = { NOW, NULL, NULL };
	char *argv[10], *out = NULL, *err = NULL;
	size_t on, en;
	FILE *o, *e;
	int argc = 1, rc;

	mkstate();
	argv[0] = "keys";
	while (usage[_i].args[argc - 1] != NULL)
		argv[argc] = (char *)usage[_i].args[argc - 1], argc++;
	argv[argc] = NULL;
	o = open_memstream(&out, &on);
	e = open_memstream(&err, &en);
	rc = px_keys_cmd_ex(argc, argv, state, o, e, &h);
	fclose(o);
	fclose(e);
	ck_assert_int_eq(rc, usage[_i].rc);
	ck_assert_msg(strncmp(err, usage[_i].err, strlen(usage[_i].err)) == 0,
	    "stderr: %s", err);
	ck_assert_str_eq(out, "");
	/* nothing was written */
	ck_assert_ptr_null(keys_text());
	free(out);
	free(err);
	rmstate();
}
END_TEST

START_TEST(t_cmd_help_nodir)
{
	char *argv[3] = { "keys", "help", NULL }, *out = NULL, *err = NULL;
	size_t on, en;
	FILE *o, *e;

	o = open_memstream(&out, &on);
	e = open_memstream(&err, &en);
	ck_assert_int_eq(px_keys_cmd(2, argv, NULL, o, e), 0);
	argv[1] = "list";
	ck_assert_int_eq(px_keys_cmd(2, argv, NULL, o, e), 1);
	fclose(o);
	fclose(e);
	ck_assert_int_eq(strncmp(out, "usage: llmproxy keys add NAME", 29), 0);
	ck_assert_str_eq(err, "llmproxy keys: no state directory\n");
	free(out);
	free(err);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("keys");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, t_base62, 0, (int)(sizeof b62 / sizeof b62[0]));
	tcase_add_test(tc, t_base62_counting);
	tcase_add_test(tc, t_random);
	tcase_add_loop_test(tc, t_names, 0,
	    (int)(sizeof names / sizeof names[0]));
	tcase_add_loop_test(tc, t_times, 0,
	    (int)(sizeof times / sizeof times[0]));
	tcase_add_test(tc, t_settings_good);
	tcase_add_loop_test(tc, t_settings_bad, 0,
	    (int)(sizeof bad_settings / sizeof bad_settings[0]));
	tcase_add_test(tc, t_settings_pattern_len);
	tcase_add_test(tc, t_parse_good);
	tcase_add_loop_test(tc, t_parse_bad, 0,
	    (int)(sizeof bad_files / sizeof bad_files[0]));
	tcase_add_test(tc, t_parse_too_many);
	tcase_add_test(tc, t_parse_truncated);
	tcase_add_test(tc, t_create_load);
	tcase_add_test(tc, t_rotate_revoke);
	tcase_add_test(tc, t_changed);
	tcase_add_test(tc, t_concurrent_writers);
	tcase_add_test(tc, t_no_state_dir);
	tcase_add_test(tc, t_dup_name);
	tcase_add_test(tc, t_cmd);
	tcase_add_loop_test(tc, t_cmd_usage, 0,
	    (int)(sizeof usage / sizeof usage[0]));
	tcase_add_test(tc, t_cmd_help_nodir);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
