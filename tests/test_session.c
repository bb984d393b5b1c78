/*
 * test_session.c - conversation sessions (session.c): the history codec
 * round trip (every field of a part, nested tool results), turns appended
 * and read back in order, scope (another key's session is unknown and left
 * alone), the TTL on a fake clock, the turn and byte bounds dropping the
 * oldest turns, deletion, ids, and persistence through the store's log.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session.h"
#include "testutil.h"

static const struct px_str SC_A = { "key-a", 5 }, SC_B = { "key-b", 5 };

static struct px_str
S(const char *s)
{
	struct px_str r = { s, strlen(s) };
	return r;
}

static struct px_ses *
open_ses(size_t turns, size_t bytes, const char *path)
{
	struct px_ses_opts o;
	char err[200];
	struct px_ses *s;

	memset(&o, 0, sizeof o);
	o.store.max_bytes = 1 << 20;
	o.store.max_entries = 100;
	o.store.ttl_ms = 1000;
	o.store.path = path;
	o.max_turns = turns;
	o.max_session_bytes = bytes;
	s = px_ses_open(&o, 0, err, sizeof err);
	ck_assert_msg(s != NULL, "%s", err);
	return s;
}

/* A user message with text t. */
static struct ir_msg
umsg(struct px_arena *a, const char *t)
{
	struct ir_msg m;
	struct ir_part *p = px_arena_alloc(a, sizeof *p);

	memset(p, 0, sizeof *p);
	p->type = IR_TEXT;
	p->text = S(t);
	m.role = IR_ROLE_USER;
	m.parts = p;
	m.nparts = 1;
	return m;
}

static struct ir_part
tpart(const char *t)
{
	struct ir_part p;

	memset(&p, 0, sizeof p);
	p.type = IR_TEXT;
	p.text = S(t);
	return p;
}

/* The texts of the history, joined with '|'. */
static char *
hist(struct px_ses *s, const char *id, struct px_str sc, long long now)
{
	struct px_arena a;
	struct ir_msg *m;
	size_t n, i, j;
	static char out[4096];

	px_arena_init(&a, 0);
	if (!px_ses_get(s, id, strlen(id), sc, now, &a, &m, &n)) {
		px_arena_free(&a);
		return NULL;
	}
	out[0] = 0;
	for (i = 0; i < n; i++)
		for (j = 0; j < m[i].nparts; j++)
			snprintf(out + strlen(out), sizeof out - strlen(out),
			    "%s%c:%.*s", *out ? "|" : "",
			    m[i].role == IR_ROLE_USER ? 'u' : 'a',
			    (int)m[i].parts[j].text.n, m[i].parts[j].text.p);
	px_arena_free(&a);
	return out;
}

static void
turn(struct px_ses *s, const char *id, struct px_str sc, long long now,
    const char *q, const char *ans, int want)
{
	struct px_arena a;
	struct ir_msg m;
	struct ir_part p = tpart(ans);

	px_arena_init(&a, 0);
	m = umsg(&a, q);
	ck_assert_int_eq(px_ses_append(s, id, strlen(id), sc, now, &m, 1, &p,
	    1, &a), want);
	px_arena_free(&a);
}

START_TEST(t_codec_round_trip)
{
	struct px_arena a;
	struct ir_part inner[2], parts[3];
	struct ir_msg m[2], *back;
	struct jw w, w2;
	size_t n;
	const struct json *root;

	px_arena_init(&a, 0);
	memset(inner, 0, sizeof inner);
	memset(parts, 0, sizeof parts);
	inner[0] = tpart("result \"quoted\"\n");
	inner[1].type = IR_IMAGE;
	inner[1].media_type = S("image/png");
	inner[1].data = S("iVBORw0KGgo=");
	parts[0].type = IR_THINKING;
	parts[0].text = S("hmm");
	parts[0].signature = S("sig+/=");
	parts[0].sig_fmt = PX_FMT_ANTHROPIC;
	parts[0].item_id = S("rs_1");
	parts[1].type = IR_TOOL_CALL;
	parts[1].id = S("call_1");
	parts[1].name = S("get_weather");
	parts[1].args = S("{\"location\":\"Paris\"}");
	parts[1].cache_control = S("{\"type\":\"ephemeral\"}");
	parts[2].type = IR_TOOL_RESULT;
	parts[2].id = S("call_1");
	parts[2].is_error = 1;
	parts[2].content = inner;
	parts[2].ncontent = 2;
	m[0].role = IR_ROLE_ASSISTANT;
	m[0].parts = parts;
	m[0].nparts = 2;
	m[1].role = IR_ROLE_TOOL;
	m[1].parts = parts + 2;
	m[1].nparts = 1;
	jw_init(&w, &a, 0);
	px_ses_write_msgs(&w, m, 2);
	ck_assert_int_eq(w.err, 0);
	root = json_parse(&a, w.buf, w.len, 0, NULL);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(px_ses_read_msgs(&a, root, &back, &n), 0);
	ck_assert_uint_eq(n, 2);
	/* written again, byte for byte the same */
	jw_init(&w2, &a, 0);
	px_ses_write_msgs(&w2, back, n);
	ck_assert_uint_eq(w2.len, w.len);
	ck_assert_int_eq(memcmp(w.buf, w2.buf, w.len), 0);
	ck_assert_int_eq(back[0].parts[0].sig_fmt, PX_FMT_ANTHROPIC);
	ck_assert_int_eq(back[1].parts[0].is_error, 1);
	ck_assert_uint_eq(back[1].parts[0].ncontent, 2);
	ck_assert_str_eq(back[1].parts[0].content[0].text.p,
	    "result \"quoted\"\n");
	ck_assert_str_eq(back[1].parts[0].content[1].data.p, "iVBORw0KGgo=");
	/* malformed histories are refused */
	root = json_parse(&a, "[{\"r\":9,\"p\":[]}]", 16, 0, NULL);
	ck_assert_int_eq(px_ses_read_msgs(&a, root, &back, &n), -1);
	root = json_parse(&a, "[{\"r\":1,\"p\":[{\"y\":42}]}]", 24, 0, NULL);
	ck_assert_int_eq(px_ses_read_msgs(&a, root, &back, &n), -1);
	root = json_parse(&a, "{}", 2, 0, NULL);
	ck_assert_int_eq(px_ses_read_msgs(&a, root, &back, &n), -1);
	px_arena_free(&a);
}
END_TEST

START_TEST(t_turns_scope_ttl)
{
	struct px_ses *s = open_ses(0, 0, NULL);

	ck_assert_ptr_null(hist(s, "ses_x", SC_A, 0));
	turn(s, "ses_x", SC_A, 0, "q1", "a1", 0);
	turn(s, "ses_x", SC_A, 100, "q2", "a2", 0);
	ck_assert_str_eq(hist(s, "ses_x", SC_A, 200), "u:q1|a:a1|u:q2|a:a2");
	/* another scope: unknown, and its turn is not added */
	ck_assert_ptr_null(hist(s, "ses_x", SC_B, 200));
	turn(s, "ses_x", SC_B, 200, "evil", "x", -1);
	ck_assert_str_eq(hist(s, "ses_x", SC_A, 300), "u:q1|a:a1|u:q2|a:a2");
	ck_assert_int_eq(px_ses_del(s, "ses_x", 5, SC_B, 300), 0);
	/* the TTL (1000 ms) runs from the last turn */
	ck_assert_ptr_nonnull(hist(s, "ses_x", SC_A, 1099));
	ck_assert_ptr_null(hist(s, "ses_x", SC_A, 1101));
	/* deleted */
	turn(s, "ses_y", SC_A, 2000, "q", "a", 0);
	ck_assert_int_eq(px_ses_del(s, "ses_y", 5, SC_A, 2001), 1);
	ck_assert_ptr_null(hist(s, "ses_y", SC_A, 2002));
	ck_assert_int_eq(px_ses_del(s, "ses_y", 5, SC_A, 2003), 0);
	/* bad ids are never sessions */
	turn(s, "bad id", SC_A, 2000, "q", "a", -1);
	px_ses_close(s);
}
END_TEST

START_TEST(t_bounds)
{
	struct px_ses *s = open_ses(2, 0, NULL);
	struct px_arena a;
	char big[3000];

	turn(s, "ses_t", SC_A, 0, "q1", "a1", 0);
	turn(s, "ses_t", SC_A, 0, "q2", "a2", 0);
	turn(s, "ses_t", SC_A, 0, "q3", "a3", 0);
	ck_assert_str_eq(hist(s, "ses_t", SC_A, 0), "u:q2|a:a2|u:q3|a:a3");
	px_arena_init(&a, 0);
	ck_assert_uint_eq(px_ses_turns(s, "ses_t", 5, SC_A, 0, &a), 2);
	px_arena_free(&a);
	px_ses_close(s);

	/* bytes: the oldest turns go; a turn alone too large ends it */
	s = open_ses(100, 300, NULL);
	turn(s, "ses_b", SC_A, 0, "first-question", "first-answer", 0);
	turn(s, "ses_b", SC_A, 0, "second-question", "second-answer", 0);
	turn(s, "ses_b", SC_A, 0, "third-question", "third-answer", 0);
	turn(s, "ses_b", SC_A, 0, "fourth-question", "fourth-answer", 0);
	ck_assert_ptr_null(strstr(hist(s, "ses_b", SC_A, 0), "first"));
	ck_assert_ptr_nonnull(strstr(hist(s, "ses_b", SC_A, 0),
	    "a:fourth-answer"));
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	turn(s, "ses_b", SC_A, 0, big, "a", -1);
	ck_assert_ptr_null(hist(s, "ses_b", SC_A, 0));
	px_ses_close(s);
}
END_TEST

START_TEST(t_persist_and_ids)
{
	char dir[256], path[300];
	struct px_ses *s;
	unsigned char rnd[16];
	char id[PX_SES_ID_MAX];
	int i;

	snprintf(dir, sizeof dir, "%s/pxses.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/sessions.log", dir);
	s = open_ses(0, 0, path);
	turn(s, "ses_p", SC_A, 0, "q1", "a1", 0);
	px_ses_close(s);
	s = open_ses(0, 0, path);
	ck_assert_str_eq(hist(s, "ses_p", SC_A, 10), "u:q1|a:a1");
	px_ses_close(s);
	unlink(path);
	rmdir(dir);

	for (i = 0; i < 16; i++)
		rnd[i] = (unsigned char)(i * 17);
	px_ses_new_id(rnd, id);
	ck_assert_str_eq(id, "ses_00112233445566778899aabbccddeeff");
	ck_assert_int_eq(px_ses_id_ok(id, strlen(id)), 1);
	ck_assert_int_eq(px_ses_id_ok("", 0), 0);
	ck_assert_int_eq(px_ses_id_ok("a b", 3), 0);
	ck_assert_int_eq(px_ses_id_ok("a\r\nX: y", 7), 0);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("session");
	TCase *tc = tcase_create("session");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, t_codec_round_trip);
	tcase_add_test(tc, t_turns_scope_ttl);
	tcase_add_test(tc, t_bounds);
	tcase_add_test(tc, t_persist_and_ids);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
