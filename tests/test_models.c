/*
 * test_models.c - models.c: each kind's list answer parsed (every split of
 * the input is not needed: the parser takes whole bodies), bad answers
 * refused, and the merged list in each client shape, byte for byte.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"
#include "testutil.h"

static char err[4096];

/* Parse from guarded memory (an over-read faults). */
static int
parse(enum px_ptype kind, const char *text, struct px_models *m)
{
	struct guard g;
	char *p = guard_copy(&g, text, strlen(text));
	int rc = px_models_parse(kind, p, strlen(text), m);

	guard_free(&g);
	return rc;
}

START_TEST(t_paths)
{
	ck_assert_str_eq(px_models_path(PX_PT_OPENAI), "/models");
	ck_assert_str_eq(px_models_path(PX_PT_OPENAI_RESPONSES), "/models");
	ck_assert_str_eq(px_models_path(PX_PT_ANTHROPIC),
	    "/v1/models?limit=1000");
	ck_assert_str_eq(px_models_path(PX_PT_GEMINI),
	    "/models?pageSize=1000");
	ck_assert_ptr_null(px_models_path(PX_PT_AZURE));
}
END_TEST

START_TEST(t_parse_kinds)
{
	struct px_models m;

	ck_assert_int_eq(parse(PX_PT_OPENAI, "{\"object\":\"list\",\"data\":["
	    "{\"id\":\"gpt-4o\",\"object\":\"model\",\"created\":1,"
	    "\"owned_by\":\"system\"},{\"id\":\"o3\"}]}", &m), 0);
	ck_assert_int_eq(m.n, 2);
	ck_assert_str_eq(m.names[0], "gpt-4o");
	ck_assert_str_eq(m.names[1], "o3");
	px_models_free(&m);
	ck_assert_int_eq(m.n, 0);

	ck_assert_int_eq(parse(PX_PT_ANTHROPIC, "{\"data\":[{\"type\":"
	    "\"model\",\"id\":\"claude-opus-4-1-20250805\",\"display_name\":"
	    "\"Claude Opus 4.1\",\"created_at\":\"2025-08-05T00:00:00Z\"}],"
	    "\"has_more\":false,\"first_id\":\"claude-opus-4-1-20250805\","
	    "\"last_id\":\"claude-opus-4-1-20250805\"}", &m), 0);
	ck_assert_int_eq(m.n, 1);
	ck_assert_str_eq(m.names[0], "claude-opus-4-1-20250805");
	px_models_free(&m);

	/* Gemini: the "models/" prefix goes; a name without it is kept */
	ck_assert_int_eq(parse(PX_PT_GEMINI, "{\"models\":[{\"name\":"
	    "\"models/gemini-2.5-flash\",\"supportedGenerationMethods\":"
	    "[\"generateContent\"]},{\"name\":\"text-embedding-004\"}],"
	    "\"nextPageToken\":\"x\"}", &m), 0);
	ck_assert_int_eq(m.n, 2);
	ck_assert_str_eq(m.names[0], "gemini-2.5-flash");
	ck_assert_str_eq(m.names[1], "text-embedding-004");
	px_models_free(&m);

	/* an empty list is a list */
	ck_assert_int_eq(parse(PX_PT_OPENAI, "{\"data\":[]}", &m), 0);
	ck_assert_int_eq(m.n, 0);
	px_models_free(&m);
}
END_TEST

START_TEST(t_parse_bad)
{
	struct px_models m;

	ck_assert_int_eq(parse(PX_PT_OPENAI, "", &m), -1);
	ck_assert_int_eq(parse(PX_PT_OPENAI, "{\"data\":[", &m), -1);
	ck_assert_int_eq(parse(PX_PT_OPENAI, "{\"data\":{}}", &m), -1);
	ck_assert_int_eq(parse(PX_PT_OPENAI, "[]", &m), -1);
	/* the other kind's shape is not this kind's list */
	ck_assert_int_eq(parse(PX_PT_GEMINI, "{\"data\":[{\"id\":\"a\"}]}",
	    &m), -1);
	ck_assert_int_eq(parse(PX_PT_ANTHROPIC, "{\"models\":[]}", &m), -1);
	/* an error answer */
	ck_assert_int_eq(parse(PX_PT_ANTHROPIC, "{\"type\":\"error\",\"error\":"
	    "{\"type\":\"authentication_error\",\"message\":\"x\"}}", &m), -1);
	ck_assert_ptr_null(m.names);
	/* unusable entries are skipped, the rest kept */
	ck_assert_int_eq(parse(PX_PT_OPENAI, "{\"data\":[{\"id\":\"\"},"
	    "{\"id\":7},{\"name\":\"x\"},\"s\",{\"id\":\"a\\nb\"},"
	    "{\"id\":\"ok\"}]}", &m), 0);
	ck_assert_int_eq(m.n, 1);
	ck_assert_str_eq(m.names[0], "ok");
	px_models_free(&m);
}
END_TEST

/* At most PX_MODELS_MAX names are kept. */
START_TEST(t_parse_bound)
{
	struct px_models m;
	size_t cap = (size_t)(PX_MODELS_MAX + 10) * 24 + 32, n = 0;
	char *b = malloc(cap);
	int i;

	n += (size_t)snprintf(b + n, cap - n, "{\"data\":[");
	for (i = 0; i < PX_MODELS_MAX + 10; i++)
		n += (size_t)snprintf(b + n, cap - n, "%s{\"id\":\"m%d\"}",
		    i ? "," : "", i);
	snprintf(b + n, cap - n, "]}");
	ck_assert_int_eq(parse(PX_PT_OPENAI, b, &m), 0);
	ck_assert_int_eq(m.n, PX_MODELS_MAX);
	ck_assert_str_eq(m.names[PX_MODELS_MAX - 1], "m4095");
	px_models_free(&m);
	free(b);
}
END_TEST

static const char cfg_text[] =
    "{\"api_keys\": [\"sk-all\", {\"name\": \"few\", \"key\": \"sk-few\","
    " \"models\": [\"b-*\", \"alias\"]}],\n"
    " \"providers\": [\n"
    "  {\"name\": \"p0\", \"type\": \"openai\", \"base_url\": "
    "\"http://127.0.0.1:1/v1\"},\n"
    "  {\"name\": \"p1\", \"type\": \"anthropic\", \"base_url\": "
    "\"http://127.0.0.1:2\"}],\n"
    " \"models\": {\"alias\": \"p1/real\", \"b-1\": \"p0\", \"b-*\": \"p1\","
    " \"r-*\": \"p0/fixed\", \"*\": \"p0\"}}\n";

static void
write_list(struct px_config *c, const struct px_models *const *lists,
    const char *key, enum px_models_shape shape, char *out, size_t cap)
{
	struct px_arena a;
	struct jw w;
	const struct auth_key *k = NULL;

	if (key != NULL)
		k = auth_find(c->keys, (size_t)c->nkeys, key, strlen(key));
	px_arena_init(&a, 1u << 20);
	jw_init(&w, &a, 1u << 20);
	ck_assert_int_eq(px_models_write(c, lists, k, shape, &a, &w), 0);
	ck_assert_uint_lt(w.len, cap);
	memcpy(out, w.buf, w.len);
	out[w.len] = 0;
	px_arena_free(&a);
}

START_TEST(t_write_shapes)
{
	struct px_config *c = px_config_new();
	struct px_models l0, l1;
	const struct px_models *lists[2];
	char out[4096];

	ck_assert_int_eq(px_config_parse(c, "t.json", cfg_text,
	    strlen(cfg_text), err, sizeof err), 0);
	/* p0 lists a-1 (via "*": shown), b-1 (exact route: shown once, as
	 * configured), b-2 (routed to p1 by b-*: not shown as p0's), r-1
	 * (r-* renames: not shown); p1 lists b-3 (shown) and zz (routed to
	 * p0 by "*": not shown). */
	ck_assert_int_eq(parse(PX_PT_OPENAI, "{\"data\":[{\"id\":\"b-2\"},"
	    "{\"id\":\"a-1\"},{\"id\":\"b-1\"},{\"id\":\"r-1\"}]}", &l0), 0);
	ck_assert_int_eq(parse(PX_PT_ANTHROPIC, "{\"data\":[{\"id\":\"zz\"},"
	    "{\"id\":\"b-3\"}]}", &l1), 0);
	lists[0] = &l0;
	lists[1] = &l1;
	write_list(c, lists, NULL, PX_MS_OPENAI, out, sizeof out);
	ck_assert_str_eq(out, "{\"object\":\"list\",\"data\":["
	    "{\"id\":\"a-1\",\"object\":\"model\",\"created\":0,\"owned_by\":\"p0\"},"
	    "{\"id\":\"alias\",\"object\":\"model\",\"created\":0,\"owned_by\":\"p1\"},"
	    "{\"id\":\"b-1\",\"object\":\"model\",\"created\":0,\"owned_by\":\"p0\"},"
	    "{\"id\":\"b-3\",\"object\":\"model\",\"created\":0,\"owned_by\":\"p1\"}]}");
	write_list(c, lists, "sk-few", PX_MS_ANTHROPIC, out, sizeof out);
	ck_assert_str_eq(out, "{\"data\":["
	    "{\"type\":\"model\",\"id\":\"alias\",\"display_name\":\"alias\","
	    "\"created_at\":\"1970-01-01T00:00:00Z\"},"
	    "{\"type\":\"model\",\"id\":\"b-1\",\"display_name\":\"b-1\","
	    "\"created_at\":\"1970-01-01T00:00:00Z\"},"
	    "{\"type\":\"model\",\"id\":\"b-3\",\"display_name\":\"b-3\","
	    "\"created_at\":\"1970-01-01T00:00:00Z\"}],"
	    "\"has_more\":false,\"first_id\":\"alias\",\"last_id\":\"b-3\"}");
	write_list(c, lists, "sk-all", PX_MS_GEMINI, out, sizeof out);
	ck_assert_ptr_nonnull(strstr(out, "{\"models\":[{\"name\":"
	    "\"models/a-1\",\"displayName\":\"a-1\","
	    "\"supportedGenerationMethods\":[\"generateContent\","
	    "\"streamGenerateContent\",\"countTokens\"]},"));
	/* nothing cached: the configured names only; an empty list */
	write_list(c, NULL, NULL, PX_MS_OPENAI, out, sizeof out);
	ck_assert_str_eq(out, "{\"object\":\"list\",\"data\":["
	    "{\"id\":\"alias\",\"object\":\"model\",\"created\":0,\"owned_by\":\"p1\"},"
	    "{\"id\":\"b-1\",\"object\":\"model\",\"created\":0,\"owned_by\":\"p0\"}]}");
	ck_assert_int_eq(px_config_parse(c, "t.json", "{}", 2, err,
	    sizeof err), 0);
	write_list(c, NULL, NULL, PX_MS_ANTHROPIC, out, sizeof out);
	ck_assert_str_eq(out, "{\"data\":[],\"has_more\":false,"
	    "\"first_id\":null,\"last_id\":null}");
	px_models_free(&l0);
	px_models_free(&l1);
	px_config_free(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("models");
	TCase *tc = tcase_create("models");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, t_paths);
	tcase_add_test(tc, t_parse_kinds);
	tcase_add_test(tc, t_parse_bad);
	tcase_add_test(tc, t_parse_bound);
	tcase_add_test(tc, t_write_shapes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
