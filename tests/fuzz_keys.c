/*
 * fuzz_keys.c - libFuzzer target for the keys file parser (keys.c).
 *
 * The input is a keys file image. keys_parse() must never crash or read
 * outside it, must explain every refusal, and whatever it accepts must
 * write back (keys_format) to a file that parses to the same keys: format
 * of the re-parse equals the first format byte for byte. The same bytes
 * also go through the settings parser (as the config's api_keys objects
 * would) and the time parser, and every accepted key through the
 * allow-list and expiry checks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "limit.h"

#define CHECK(c)  do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
format(const struct keys_set *ks, struct px_arena *a, struct jw *w)
{
	px_arena_init(a, 0);
	jw_init(w, a, 0);
	CHECK(keys_format(ks, w) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const also[] = { "name", "sha256", "key", NULL };
	char *copy = malloc(size ? size : 1);
	struct keys_set ks, ks2;
	struct px_arena a1, a2, a3;
	struct jw w1, w2;
	struct json *root;
	struct auth_limits lim;
	struct keys_err ke;
	char err[512], t[32];
	long long tm;
	size_t i;

	CHECK(copy != NULL);
	memcpy(copy, data, size);

	err[0] = 0;
	if (keys_parse(&ks, "f", copy, size, err, sizeof err) == 0) {
		format(&ks, &a1, &w1);
		CHECK(keys_parse(&ks2, "g", w1.buf, w1.len, err,
		    sizeof err) == 0);
		CHECK(ks2.n == ks.n);
		format(&ks2, &a2, &w2);
		CHECK(w1.len == w2.len && memcmp(w1.buf, w2.buf, w1.len) == 0);
		for (i = 0; i < ks.n; i++) {
			CHECK(keys_name_ok(ks.keys[i].name));
			CHECK(strcmp(ks.keys[i].name, ks2.keys[i].name) == 0);
			CHECK(memcmp(ks.keys[i].sha256, ks2.keys[i].sha256,
			    32) == 0);
			(void)auth_model_allowed(&ks.keys[i], copy,
			    size < 64 ? size : 64);
			(void)auth_key_expired(&ks.keys[i], 1748736000);
			keys_settings_str(&ks.keys[i].lim, err, sizeof err);
		}
		px_arena_free(&a1);
		px_arena_free(&a2);
		keys_free(&ks2);
		keys_free(&ks);
	} else {
		CHECK(err[0] == 'f' && err[1] == ':');
		CHECK(memchr(err, 0, sizeof err) != NULL);
	}

	/* the same bytes as one api_keys settings object */
	px_arena_init(&a3, 1u << 24);
	root = json_parse(&a3, copy, size, JSON_F_COMMENTS, NULL);
	if (root != NULL) {
		ke.msg[0] = 0;
		if (keys_settings_parse(&lim, root, also, &ke) == 0) {
			CHECK(lim.nmodels >= 0 && lim.nmodels <= AUTH_MODELS_MAX);
			CHECK((lim.budget_usd > 0) ==
			    (lim.budget_per != AUTH_PER_NONE));
		} else {
			CHECK(ke.msg[0] != 0);
			CHECK(ke.at == NULL || (ke.at >= copy &&
			    ke.at <= copy + size));
		}
		(void)keys_settings_parse(&lim, root, NULL, NULL);
	}
	px_arena_free(&a3);

	if (keys_parse_time(copy, size, &tm) == 0) {
		lim_fmt_time(tm, t);
		CHECK(strlen(t) == 20);
		CHECK(size == 20 ? memcmp(t, copy, 20) == 0 :
		    memcmp(t, copy, 10) == 0);
	}
	free(copy);
	return 0;
}
